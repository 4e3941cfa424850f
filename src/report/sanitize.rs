//! Neutralising attacker-controlled text for terminals, logs, Markdown and HTML.

/// Removes terminal escape sequences, other control characters (tab and newline excepted) and
/// Unicode bidirectional controls, so text cannot move the cursor, recolour the terminal,
/// rewrite earlier output or reorder what is displayed.
pub fn for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        match character {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\t' | '\n' => out.push(character),
            _ if character.is_control() => {}
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => {}
            _ => out.push(character),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        // OSC (and DCS, SOS, PM, APC) run to BEL or ST.
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(next) = chars.next() {
                if next == '\u{7}' {
                    break;
                }
                if next == '\u{1b}' && chars.peek() == Some(&'\\') {
                    chars.next();
                    break;
                }
            }
        }
        _ => {}
    }
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for next in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&next) {
            break;
        }
    }
}

/// Cleans text for one line of terminal or Markdown output: [`for_terminal`], then tabs,
/// line feeds and the Unicode line and paragraph separators become spaces, so a field cannot
/// start a new row or a new Markdown block.
pub fn single_line(text: &str) -> String {
    for_terminal(text)
        .chars()
        .map(|character| match character {
            '\n' | '\t' | '\u{2028}' | '\u{2029}' => ' ',
            _ => character,
        })
        .collect()
}

/// Shortens text to at most `max_chars` characters, marking a cut with a trailing `…`.
///
/// NOTE: counts characters, not terminal columns, so wide (East Asian) characters and
/// combining marks can still misalign a column.
pub fn truncate_end(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let head: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{head}…")
}

/// Shortens text to at most `max_chars` characters by dropping its start, so the end of a
/// long path (the file name) stays visible.
pub fn truncate_start(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let tail: String = text
        .chars()
        .skip(count - max_chars.saturating_sub(1))
        .collect();
    format!("…{tail}")
}

/// Breaks the URLs that Markdown renderers, chat tools and mail clients turn into links
/// without any markup: `http://`, `https://` and `ftp://` become `hxxp://`, `hxxps://` and
/// `fxp://`, and `www.` becomes `www[.]`, the usual way security reports show hostile URLs.
pub fn defang_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(character) = rest.chars().next() {
        if starts_with_ignore_case(rest, "http://") || starts_with_ignore_case(rest, "https://") {
            // Replace the two `t`s, keeping the case of each.
            out.push(character);
            for t in rest.chars().skip(1).take(2) {
                out.push(if t == 'T' { 'X' } else { 'x' });
            }
            rest = rest.get(3..).unwrap_or_default();
        } else if starts_with_ignore_case(rest, "ftp://") {
            out.push(character);
            out.push(if rest.get(1..2) == Some("T") {
                'X'
            } else {
                'x'
            });
            rest = rest.get(2..).unwrap_or_default();
        } else if starts_with_ignore_case(rest, "www.") {
            out.push_str(rest.get(..3).unwrap_or_default());
            out.push_str("[.]");
            rest = rest.get(4..).unwrap_or_default();
        } else {
            out.push(character);
            rest = rest.get(character.len_utf8()..).unwrap_or_default();
        }
    }
    out
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    // A prefix length that is not a character boundary means a non-ASCII character, which
    // cannot match the ASCII prefix anyway.
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Escapes text for Markdown prose: headings, paragraphs, list items and GFM table cells.
///
/// The text is made a single line ([`single_line`]) and its URLs are defanged
/// ([`defang_urls`]). `<`, `>` and `&` become HTML entities, so neither raw HTML nor an
/// autolink can form. The characters that start inline markup are backslash-escaped: `\\`,
/// `` ` ``, `*`, `_`, `~`, `[`, `]`, `|` (the table-cell separator), `$` (GitHub math), `{`
/// and `}` (attribute syntax of some renderers), and `.`, which keeps linkify-style renderers
/// from turning a bare `evil.com` into a link. A zero-width space follows each `@` and `#`,
/// because in issue and pull-request comments GitHub links `@name` mentions and `#123` or
/// `owner/repo#123` references in the rendered text, where backslash escapes no longer
/// count. The remaining punctuation only has a meaning at the start of a line, so callers
/// must never start a line with this text.
pub fn markdown_text(text: &str) -> String {
    let line = defang_urls(&single_line(text));
    let mut out = String::with_capacity(line.len() * 2);
    for character in line.chars() {
        match character {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' | '#' => {
                out.push(character);
                out.push(ZERO_WIDTH_SPACE);
            }
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '|' | '$' | '{' | '}' | '.' => {
                out.push('\\');
                out.push(character);
            }
            _ => out.push(character),
        }
    }
    out
}

const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// Wraps text in a Markdown code span that the text cannot close: the fence is one backtick
/// longer than the longest run of backticks inside. The content is made a single line, since
/// a line break could end the paragraph before the span closes, and its URLs are defanged.
///
/// A code span must not be placed in a GFM table cell, where a `|` inside it still splits
/// the cell.
pub fn markdown_code(text: &str) -> String {
    let content = defang_urls(&single_line(text));
    let mut longest = 0;
    let mut run = 0;
    for character in content.chars() {
        if character == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    if content.is_empty() {
        return String::from("` `");
    }
    // CommonMark strips one space from each end when both ends have one, so padding lets
    // content start or end with a backtick, or with spaces at both ends, and still show.
    let needs_padding = content.starts_with('`')
        || content.ends_with('`')
        || (content.starts_with(' ') && content.ends_with(' '));
    if needs_padding {
        format!("{fence} {content} {fence}")
    } else {
        format!("{fence}{content}{fence}")
    }
}

/// Escapes text for an HTML text node (element content, including `<pre>`), after removing
/// control characters and bidirectional controls with [`for_terminal`]. Line breaks stay.
pub fn html_text(text: &str) -> String {
    html_escape::encode_text(&for_terminal(text)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_and_osc() {
        let text = "a\u{1b}[31mred\u{1b}[0m b\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{7} c";
        assert_eq!(for_terminal(text), "ared blink c");
    }

    #[test]
    fn strips_bidi_and_controls() {
        assert_eq!(for_terminal("x\u{202E}y\u{0008}z\r"), "xyz");
    }

    #[test]
    fn keeps_plain_text() {
        assert_eq!(for_terminal("tab\there\nnext é"), "tab\there\nnext é");
    }

    #[test]
    fn single_line_joins_lines() {
        assert_eq!(single_line("a\nb\tc\u{2028}d\r\ne"), "a b c d e");
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate_end("abcdef", 4), "abc…");
        assert_eq!(truncate_end("abcd", 4), "abcd");
        assert_eq!(truncate_start("dir/file.py", 8), "…file.py");
        assert_eq!(truncate_end("ééééé", 3), "éé…");
    }

    #[test]
    fn defang_breaks_autolinked_urls() {
        assert_eq!(
            defang_urls("http://a HTTPS://b Ftp://c www.d WWW.e"),
            "hxxp://a HXXPS://b Fxp://c www[.]d WWW[.]e"
        );
        assert_eq!(defang_urls("httpx:// é http"), "httpx:// é http");
    }

    #[test]
    fn markdown_text_escapes_links_and_html() {
        assert_eq!(markdown_text("[x](http://e)"), r"\[x\](hxxp://e)");
        assert_eq!(markdown_text("![i](y)"), r"!\[i\](y)");
        assert_eq!(
            markdown_text("<img src=x>&amp;"),
            "&lt;img src=x&gt;&amp;amp;"
        );
        assert_eq!(markdown_text("a|b\\|c"), r"a\|b\\\|c");
        assert_eq!(
            markdown_text("*a* _b_ `c` ~d~ $e$"),
            r"\*a\* \_b\_ \`c\` \~d\~ \$e\$"
        );
        assert_eq!(markdown_text("evil.com"), r"evil\.com");
    }

    #[test]
    fn markdown_text_breaks_mentions_and_lines() {
        assert_eq!(markdown_text("@octocat #1"), "@\u{200B}octocat #\u{200B}1");
        assert_eq!(markdown_text("a\n# b\n<c"), "a #\u{200B} b &lt;c");
    }

    #[test]
    fn markdown_code_fence_outlasts_backticks() {
        assert_eq!(markdown_code("eval(x)"), "`eval(x)`");
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("``x```"), "```` ``x``` ````");
        assert_eq!(markdown_code(" x "), "`  x  `");
        assert_eq!(markdown_code(""), "` `");
        assert_eq!(markdown_code("a\nb http://c"), "`a b hxxp://c`");
    }

    #[test]
    fn html_text_escapes_markup() {
        assert_eq!(
            html_text("<script>\"&'</script>"),
            "&lt;script&gt;\"&amp;'&lt;/script&gt;"
        );
        assert_eq!(html_text("a\u{202E}b\u{1b}[2Jc\nd"), "abc\nd");
    }
}
