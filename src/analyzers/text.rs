//! Text helpers shared by the analyzers: line numbers and Markdown code regions.
//!
//! The Markdown scan is a single pass over lines with no recursion, so deeply nested lists or
//! quotes cost no more than flat text.

use crate::rules::Context;
use crate::skill::FileKind;

/// Byte offsets of line starts, for turning a match offset into a 1-based line number.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, byte)| *byte == b'\n')
                .map(|(index, _)| index + 1),
        );
        LineIndex { starts }
    }

    /// The 1-based line of `offset`.
    pub fn line(&self, offset: usize) -> u32 {
        let index = match self.starts.binary_search(&offset) {
            Ok(index) => index,
            Err(index) => index.saturating_sub(1),
        };
        u32::try_from(index + 1).unwrap_or(u32::MAX)
    }
}

/// Which parts of a file are code and which are prose.
pub struct Regions {
    /// Sorted, non-overlapping byte ranges of code; everything else is prose.
    code: Vec<(usize, usize)>,
    all: Option<Context>,
}

impl Regions {
    pub fn of(kind: FileKind, text: &str) -> Regions {
        if kind == FileKind::Markdown {
            Regions {
                code: fenced_blocks(text),
                all: None,
            }
        } else if kind.is_code() || kind == FileKind::Html {
            Regions {
                code: Vec::new(),
                all: Some(Context::Code),
            }
        } else {
            Regions {
                code: Vec::new(),
                all: Some(Context::Prose),
            }
        }
    }

    /// The context of the whole text, when it has only one.
    pub fn uniform(&self) -> Option<Context> {
        self.all
    }

    pub fn context_at(&self, offset: usize) -> Context {
        if let Some(context) = self.all {
            return context;
        }
        let index = self.code.partition_point(|(start, _)| *start <= offset);
        match index.checked_sub(1).and_then(|index| self.code.get(index)) {
            Some((_, end)) if offset < *end => Context::Code,
            _ => Context::Prose,
        }
    }
}

/// Byte ranges of fenced code blocks (``` or ~~~, three or more), fence lines included. An
/// unclosed fence runs to the end of the file, as CommonMark renders it.
fn fenced_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, char, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start_matches([' ', '\t', '>']);
        let fence_char = trimmed
            .chars()
            .next()
            .filter(|character| *character == '`' || *character == '~');
        if let Some(character) = fence_char {
            let run = trimmed
                .chars()
                .take_while(|next| *next == character)
                .count();
            if run >= 3 {
                match open {
                    None => open = Some((offset, character, run)),
                    Some((start, open_char, open_run))
                        if open_char == character && run >= open_run =>
                    {
                        blocks.push((start, offset + line.len()));
                        open = None;
                    }
                    Some(_) => {}
                }
            }
        }
        offset += line.len();
    }
    if let Some((start, _, _)) = open {
        blocks.push((start, text.len()));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers() {
        let index = LineIndex::new("a\nbb\nccc");
        assert_eq!(index.line(0), 1);
        assert_eq!(index.line(2), 2);
        assert_eq!(index.line(5), 3);
        assert_eq!(index.line(100), 3);
    }

    #[test]
    fn markdown_fences() {
        let text = "prose\n```sh\ncurl x\n```\nmore prose\n~~~~\ncode\n";
        let regions = Regions::of(FileKind::Markdown, text);
        let curl = text.find("curl").unwrap_or(0);
        let more = text.find("more").unwrap_or(0);
        let tail = text.find("code\n").unwrap_or(0);
        assert_eq!(regions.context_at(0), Context::Prose);
        assert_eq!(regions.context_at(curl), Context::Code);
        assert_eq!(regions.context_at(more), Context::Prose);
        assert_eq!(regions.context_at(tail), Context::Code);
    }

    #[test]
    fn nested_quotes_are_linear() {
        let text = format!("{}text\n", ">".repeat(200_000));
        let regions = Regions::of(FileKind::Markdown, &text);
        assert_eq!(regions.context_at(10), Context::Prose);
    }

    #[test]
    fn code_file_is_code() {
        let regions = Regions::of(FileKind::Python, "x = 1\n");
        assert_eq!(regions.context_at(0), Context::Code);
        let regions = Regions::of(FileKind::Config, "x: 1\n");
        assert_eq!(regions.context_at(0), Context::Prose);
    }
}
