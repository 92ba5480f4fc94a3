//! What the holder page says, in the holder's words, and the page itself:
//! `holder.html` with its placeholders filled (every value HTML-escaped).
//! No token appears in it except inside the QR code's drawing.

use scangate_core::{Kind, Pass, Status};

const PAGE_HTML: &str = include_str!("../../../assets/holder.html");

/// The pass's state as the holder reads it: a short headline and whether
/// it opens the gate now (the page colours it).
pub fn status_words(pass: &Pass, now_ms: i64) -> (&'static str, bool) {
    match pass.status {
        Status::Revoked => ("Cancelled: this pass no longer opens the gate", false),
        Status::Suspended => ("On hold: this pass does not open the gate for now", false),
        Status::Active => {
            if pass.max_uses.is_some_and(|max| pass.uses >= max) {
                ("Used: every entry of this pass has been used", false)
            } else if pass.valid_until_ms.is_some_and(|until| now_ms > until) {
                ("Ended: this pass's time is over", false)
            } else if pass.valid_from_ms.is_some_and(|from| now_ms < from) {
                (
                    "Not yet: this pass opens the gate from the time below",
                    true,
                )
            } else {
                ("Valid: show this code at the gate", true)
            }
        }
    }
}

/// A time as people read it: `2026-07-01 10:00 UTC`.
fn when(ms: i64) -> String {
    let t = crate::operator::api::rfc3339(ms);
    match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => t,
    }
}

/// The pass's validity as lines: its time window and its entries.
pub fn validity_lines(pass: &Pass) -> Vec<String> {
    let mut lines = Vec::new();
    match (pass.valid_from_ms, pass.valid_until_ms) {
        (Some(from), Some(until)) => {
            lines.push(format!("From {} until {}", when(from), when(until)))
        }
        (Some(from), None) => lines.push(format!("From {}", when(from))),
        (None, Some(until)) => lines.push(format!("Until {}", when(until))),
        (None, None) => lines.push("No time limit".to_owned()),
    }
    lines.push(match pass.max_uses {
        Some(1) if pass.uses == 0 => "One entry".to_owned(),
        Some(max) => format!("Entries used: {} of {max}", pass.uses),
        None => "Unlimited entries".to_owned(),
    });
    if !pass.gates.is_empty() {
        lines.push(format!("Gates: {}", pass.gates.join(", ")));
    }
    lines
}

/// What a scan of a card share shows the guard: today the display payload
/// as one line. The hook for structured, consented fields (name, company,
/// ...: each shown with what the holder chose to share) is here: return one
/// `(label, value)` per shared field.
pub fn shared_fields(pass: &Pass) -> Vec<(&'static str, String)> {
    if pass.kind != Kind::CardShare {
        return Vec::new();
    }
    match pass.display.as_deref() {
        Some(text) if !text.is_empty() => vec![("Shown", text.to_owned())],
        _ => vec![("Shown", "nothing: this card shares no details".to_owned())],
    }
}

/// Text made safe for HTML content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One freshly drawn code: its SVG and, for a dynamic pass, when it stops
/// working (Unix ms).
pub struct Code {
    /// The QR code, an `<svg>` element (no XML declaration).
    pub svg: String,
    /// When the token inside stops working; `None` for a static pass.
    pub expires_at_ms: Option<i64>,
}

/// The whole page for `pass` with `code`, rendered at `now_ms`.
pub fn render(pass: &Pass, code: &Code, now_ms: i64) -> String {
    let (status, opens) = status_words(pass, now_ms);
    let li = |lines: Vec<String>| -> String {
        lines
            .iter()
            .map(|l| format!("<li>{}</li>", escape(l)))
            .collect()
    };
    let shared = shared_fields(pass);
    let shared_html: String = shared
        .iter()
        .map(|(label, value)| format!("<dt>{}</dt><dd>{}</dd>", escape(label), escape(value)))
        .collect();
    let expires = code
        .expires_at_ms
        .map_or_else(String::new, |ms| ms.to_string());
    PAGE_HTML
        .replace("{{event}}", &escape(&pass.event))
        .replace("{{kind}}", kind_words(pass.kind))
        .replace("{{status}}", &escape(status))
        .replace("{{state}}", if opens { "ok" } else { "no" })
        .replace("{{validity}}", &li(validity_lines(pass)))
        .replace(
            "{{shared_hidden}}",
            if shared.is_empty() { "hidden" } else { "" },
        )
        .replace("{{shared}}", &shared_html)
        .replace(
            "{{dynamic}}",
            if code.expires_at_ms.is_some() {
                "true"
            } else {
                "false"
            },
        )
        .replace("{{expires_at_ms}}", &expires)
        .replace("{{now_ms}}", &now_ms.to_string())
        .replace("{{qr}}", &code.svg)
}

fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::Ticket => "Ticket",
        Kind::Pass => "Pass",
        Kind::AccessCode => "Access code",
        Kind::CardShare => "Business card",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::PassId;

    fn pass() -> Pass {
        let mut p = scangate_core::testing::pass(PassId([1; 16]), Some(1));
        p.event = "<fest & co>".into();
        p
    }

    #[test]
    fn the_page_escapes_what_the_pass_holds() {
        let mut p = pass();
        p.kind = Kind::CardShare;
        p.display = Some("Ada \"<b>\"".into());
        let code = Code {
            svg: "<svg></svg>".into(),
            expires_at_ms: Some(42),
        };
        let html = render(&p, &code, 0);
        assert!(html.contains("&lt;fest &amp; co&gt;"), "{html}");
        assert!(html.contains("Ada &quot;&lt;b&gt;&quot;"), "{html}");
        assert!(!html.contains("{{"), "every placeholder filled");
        assert!(html.contains(r#"data-expires-at="42""#), "{html}");
    }

    #[test]
    fn status_and_entries_in_words() {
        let mut p = pass();
        p.max_uses = Some(3);
        p.uses = 3;
        assert!(status_words(&p, 0).0.starts_with("Used"));
        p.uses = 1;
        assert!(status_words(&p, 0).1);
        assert!(validity_lines(&p).contains(&"Entries used: 1 of 3".to_owned()));
        p.status = Status::Revoked;
        assert!(!status_words(&p, 0).1);
        p.status = Status::Active;
        p.valid_until_ms = Some(1_782_900_000_000);
        assert!(status_words(&p, 1_782_900_000_001).0.starts_with("Ended"));
        assert_eq!(validity_lines(&p)[0], "Until 2026-07-01 10:00 UTC");
        assert!(shared_fields(&p).is_empty(), "not a card share");
    }
}
