//! Text for a terminal: names and values come from files that anyone may
//! have written, so control characters in them are shown escaped (`\x1b`,
//! `\n`, `\0`) instead of moving the cursor, clearing the screen or
//! forging a line of output. The JSON report needs none of this: JSON
//! escapes them itself.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0, DEL, C1) and every Unicode
/// bidirectional override or line separator escaped. Backslashes are left
/// alone, so escaping twice changes nothing.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if needs_escape(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_once() {
        assert_eq!(escape_controls("plain — text"), "plain — text");
        assert_eq!(
            escape_controls("a\x1b[2Jb\nc\0d\x7f\u{202e}"),
            "a\\x1b[2Jb\\nc\\0d\\x7f\\u{202e}"
        );
        let once = escape_controls("x\ny").into_owned();
        assert_eq!(escape_controls(&once), once);
    }
}
