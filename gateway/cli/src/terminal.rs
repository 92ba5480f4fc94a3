//! Stored text made safe to print on an operator's terminal: gate names,
//! devices, reasons, displays and server messages reach the CLI from scanners
//! and other operators, and a raw escape sequence in them would clear the
//! screen, retitle the window or forge output. Every human-readable line the
//! CLI prints from stored text goes through [`Shown`]; `--json` output needs
//! nothing (JSON escapes control characters itself).

use std::fmt;

/// Text shown with every control character (`char::is_control`: C0, DEL,
/// C1) and every bidirectional or zero-width formatting character written as
/// its Rust escape (`\u{1b}`, `\n`, `\u{202e}`), everything else as is.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.chars() {
            if c.is_control() || is_format_control(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// The formatting characters that reorder or hide text on a terminal:
/// zero-width ones, bidirectional marks, embeddings, overrides and
/// isolates, and the byte-order mark.
/// An error and its causes, outermost first, joined by ": ", leaving out a
/// cause whose text is already in what comes before it (many errors print
/// their source in their own message too, and would say it twice).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

fn is_format_control(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::{Shown, error_chain};

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::other("disk gone");
        let e = anyhow::Error::new(io).context("cannot open X: disk gone");
        assert_eq!(error_chain(&e), "cannot open X: disk gone");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_chain(&e), "outer: inner");
    }

    #[test]
    fn controls_are_escaped_and_the_rest_is_kept() {
        let shown = Shown("\u{1b}[2J\u{1b}]0;PWNED\u{7}\nCafé\u{202e}").to_string();
        assert_eq!(shown, "\\u{1b}[2J\\u{1b}]0;PWNED\\u{7}\\nCafé\\u{202e}");
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(
            Shown("Gate 3: north/east").to_string(),
            "Gate 3: north/east"
        );
    }
}
