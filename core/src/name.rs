//! Gate and event names: the one rule for text that scanners send and
//! operators read (terminals, logs, metric labels, the dashboard).

use crate::pass::{PassError, check_len};

/// Checks a name-like field (event, gate): non-empty, at most `max` bytes,
/// every character [`is_name_char`], no leading or trailing space. Gate and
/// event names come from scanners and are shown in terminals, logs, metric
/// labels and the dashboard, so nothing in them may steer a terminal.
pub fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), PassError> {
    if value.is_empty() {
        return Err(PassError::Empty { field });
    }
    check_len(field, value, max)?;
    if !value.chars().all(is_name_char) || value.starts_with(' ') || value.ends_with(' ') {
        return Err(PassError::Charset { field });
    }
    Ok(())
}

/// The characters of a gate or event name: Unicode letters and digits
/// (`Nord-Eingang`, `Café`, `東門`), the ASCII space and ASCII punctuation.
/// Everything else is refused: control characters (escape sequences, new
/// lines, tabs), formatting characters (bidirectional overrides, zero-width
/// joiners) and other symbols.
pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || c.is_ascii_punctuation()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pass::GATE_MAX_BYTES;

    #[test]
    fn names_hold_letters_digits_punctuation_and_inner_spaces_only() {
        for ok in [
            "north",
            "Gate 3",
            "Nord-Eingang",
            "Café",
            "東門",
            "a.b_c:d/e#1",
        ] {
            assert_eq!(check_name("gate", ok, GATE_MAX_BYTES), Ok(()), "{ok:?}");
        }
        let charset = Err(PassError::Charset { field: "gate" });
        for bad in [
            "\u{1b}[2J\u{1b}]0;PWNED",
            "north\n",
            "a\tb",
            "left\u{202e}thgir",
            "zero\u{200b}width",
            " north",
            "north ",
            "del\u{7f}",
            "nbsp\u{a0}",
        ] {
            assert_eq!(check_name("gate", bad, GATE_MAX_BYTES), charset, "{bad:?}");
        }
        assert_eq!(
            check_name("gate", &"é".repeat(33), GATE_MAX_BYTES),
            Err(PassError::TooLong {
                field: "gate",
                max: GATE_MAX_BYTES
            })
        );
    }
}
