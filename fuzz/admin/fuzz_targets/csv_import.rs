//! Feeds arbitrary bytes to the CSV import (`POST /v1/passes/import`) as the
//! handler reads it before the store. Must never panic, and must keep the
//! import's rule: every line after the header is imported, rejected or
//! counted blank (`imported + rejected_count + blank_lines` = lines after
//! the header); at most `IMPORT_REJECTS_REPORTED_MAX` rejections are
//! detailed, each on a line that exists; every imported pass is valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scangate_gateway::operator::admin::import::{IMPORT_REJECTS_REPORTED_MAX, parse};

/// A fixed clock: 2026-12-06T00:00:00Z.
const NOW_MS: i64 = 1_796_515_200_000;

/// Physical lines as the import counts them: a byte order mark dropped, a
/// final line break starting no line.
fn physical_lines(body: &[u8]) -> usize {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    if body.is_empty() {
        0
    } else {
        body.split(|b| *b == b'\n').count()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse(data, NOW_MS) else {
        return;
    };
    let after_header = physical_lines(data) - 1;
    let accounted = parsed.passes.len() + parsed.rejected_count + parsed.blank_lines;
    assert_eq!(accounted, after_header, "a line is unaccounted for");
    assert_eq!(
        parsed.rejected.len(),
        parsed.rejected_count.min(IMPORT_REJECTS_REPORTED_MAX)
    );
    for r in &parsed.rejected {
        assert!(
            (2..=after_header as u64 + 1).contains(&r.line),
            "line {}",
            r.line
        );
    }
    for pass in &parsed.passes {
        assert!(
            pass.validate().is_ok(),
            "an invalid pass was imported: {pass:?}"
        );
    }
});
