//! Neutralising attacker-controlled text for terminals and logs.

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
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' => {}
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
}
