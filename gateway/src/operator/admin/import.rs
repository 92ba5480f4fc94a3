//! `POST /v1/passes/import`: CSV with a header row, one pass a physical
//! line, and a report that accounts for every line.
//!
//! The rule: every record ends on its own line. A quoted field may hold
//! commas and doubled quotes (`""`), but not a line break; a quote left open
//! at the end of a line rejects that line ("does not close on this line")
//! and the next line is read as a record of its own, so an unterminated
//! quote can never swallow the lines after it. Each non-blank data line is
//! then imported or rejected with its line number, the column at fault
//! where there is one, and the problem; blank lines are counted
//! (`blank_lines`). So `imported + rejected_count + blank_lines` is the
//! number of lines after the header.

use super::card_csv::{CARD_COLUMNS, card_of};
use super::passes::NewPasses;
use crate::operator::api::{
    self, ApiError, ErrorBody, ISSUE_MAX, ImportReport, IssueRequest, Rejected,
};
use crate::operator::journal::OperatorAction;
use crate::operator::state::AppState;
use crate::operator::state::Who;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use scangate_core::{Kind, Pass};

/// Most data rows one CSV import may hold: the same bound as one issue
/// request ([`ISSUE_MAX`]), so one import is one store insert.
pub const IMPORT_ROWS_MAX: usize = ISSUE_MAX as usize;
/// Most rejected rows reported in detail (the count is always exact).
pub const IMPORT_REJECTS_REPORTED_MAX: usize = 1_000;

/// The columns an import understands; `event` is required.
pub const IMPORT_COLUMNS: [&str; 9] = [
    "event",
    "kind",
    "max_uses",
    "valid_from",
    "valid_until",
    "gates",
    "display",
    "dynamic_ttl_s",
    "zones",
];

/// The physical lines of `body` with their 1-based numbers, without their
/// `\n` or `\r\n`; a final line break does not start another line. A UTF-8
/// byte order mark before the header is dropped.
fn lines(body: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let empty = body.is_empty();
    body.split(|b| *b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(n, line)| (n as u64 + 1, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// The index of the field in which a quote opens and does not close before
/// the end of `line`, if one does (`""` inside a quoted field is a quote).
fn unclosed_quote(line: &[u8]) -> Option<usize> {
    let (mut quoted, mut field, mut opened) = (false, 0, 0);
    for &b in line {
        match b {
            b'"' => {
                quoted = !quoted;
                if quoted {
                    opened = field;
                }
            }
            b',' if !quoted => field += 1,
            _ => {}
        }
    }
    quoted.then_some(opened)
}

/// Splits lines into fields (quoted fields may hold commas and `""`). One
/// per import: building the CSV reader's state machine costs more than
/// reading a line with it. Its buffers grow to the longest line read (the
/// body is at most 4 MiB) and its number of fields.
struct Splitter {
    core: csv_core::Reader,
    /// The unescaped fields, and where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Splitter {
    fn new() -> Splitter {
        Splitter {
            core: csv_core::ReaderBuilder::new()
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
            out: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The fields of `line` (without its line break), the line read as the
    /// whole input: the reader takes the line, then the end of the input
    /// ends the record. Unescaped, the fields hold no more bytes than the
    /// line, and there is at most one field per comma and one more; the
    /// buffers have a place to spare (the reader stops at a full one before
    /// it looks at the next byte), so neither fills.
    fn split(&mut self, line: &[u8]) -> Result<Vec<&str>, String> {
        let commas = line.iter().filter(|b| **b == b',').count();
        self.out.resize(line.len() + 1, 0);
        self.ends.resize(commas + 2, 0);
        self.core.reset();
        let (mut read, mut written, mut count) = (0, 0, 0);
        // The line, then an empty input: the end. The reader counts the
        // ends from the record's start, across calls.
        for _ in 0..2 {
            let (result, r, w, c) = self.core.read_record(
                &line[read..],
                &mut self.out[written..],
                &mut self.ends[count..],
            );
            (read, written, count) = (read + r, written + w, count + c);
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::Record => return self.fields(count),
                other => return Err(format!("not a CSV record ({other:?})")),
            }
        }
        Err("not a CSV record (no end)".into())
    }

    /// The first `count` fields read, as text.
    fn fields(&self, count: usize) -> Result<Vec<&str>, String> {
        let mut start = 0;
        self.ends[..count]
            .iter()
            .enumerate()
            .map(|(i, &end)| {
                let field = &self.out[start..end];
                start = end;
                std::str::from_utf8(field).map_err(|e| format!("field {} is not UTF-8: {e}", i + 1))
            })
            .collect()
    }
}

/// The fields of one line. `columns` names them (and says how many there
/// must be); the header line has none yet.
fn fields<'s>(
    splitter: &'s mut Splitter,
    line: &[u8],
    columns: Option<&[String]>,
) -> Result<Vec<&'s str>, ApiError> {
    let name = |i: usize| match columns {
        Some(columns) => columns.get(i).map_or("line", String::as_str),
        None => "header",
    };
    if let Some(i) = unclosed_quote(line) {
        return Err(ApiError::invalid(
            name(i),
            "a quote opens in this field and does not close on this line: every record \
             must end on its own line (line breaks inside a field are not imported)",
        ));
    }
    let what = if columns.is_some() { "line" } else { "header" };
    let record = splitter
        .split(line)
        .map_err(|e| ApiError::invalid(what, e))?;
    if let Some(columns) = columns
        && record.len() != columns.len()
    {
        return Err(ApiError::invalid(
            "line",
            format!(
                "{} fields, but the header names {} columns",
                record.len(),
                columns.len()
            ),
        ));
    }
    Ok(record)
}

/// The columns the header line names, checked.
fn header(splitter: &mut Splitter, line: Option<(u64, &[u8])>) -> Result<Vec<String>, ApiError> {
    let missing = || ApiError::invalid("header", "the first line must name the columns");
    let (_, line) = line.ok_or_else(missing)?;
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(missing());
    }
    let columns: Vec<String> = fields(splitter, line, None)?
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if let Some(unknown) = columns
        .iter()
        .find(|c| !IMPORT_COLUMNS.contains(&c.as_str()) && !CARD_COLUMNS.contains(&c.as_str()))
    {
        return Err(ApiError::invalid(
            "header",
            format!(
                "unknown column {unknown:?}; columns are {}, {}",
                IMPORT_COLUMNS.join(", "),
                CARD_COLUMNS.join(", ")
            ),
        ));
    }
    if !columns.iter().any(|c| c == "event") {
        return Err(ApiError::invalid(
            "header",
            "the column `event` is required",
        ));
    }
    Ok(columns)
}

/// One CSV row as an issue request (`gates` separated by `;`, `max_uses`
/// empty for 1 or `unlimited`).
fn row_spec(columns: &[String], record: &[&str], now: i64) -> Result<IssueRequest, ApiError> {
    let mut spec = IssueRequest {
        event: String::new(),
        kind: Kind::Ticket,
        max_uses: None,
        unlimited: false,
        valid_from: None,
        valid_until: None,
        gates: Vec::new(),
        display: None,
        count: Some(1),
        dynamic_ttl_s: None,
        card: None,
        zones: Vec::new(),
    };
    let mut card_cells = Vec::new();
    for (name, value) in columns.iter().zip(record.iter()) {
        let value = value.trim();
        let some = || (!value.is_empty()).then(|| value.to_owned());
        match name.as_str() {
            "event" => spec.event = value.to_owned(),
            "kind" if !value.is_empty() => {
                spec.kind = value
                    .parse()
                    .map_err(|e: String| ApiError::invalid("kind", e))?
            }
            "max_uses" if value == "unlimited" => spec.unlimited = true,
            "max_uses" if !value.is_empty() => {
                spec.max_uses = Some(value.parse().map_err(|_| {
                    ApiError::invalid(
                        "max_uses",
                        format!("{value:?} is not a whole number or `unlimited`"),
                    )
                })?)
            }
            "valid_from" => spec.valid_from = some(),
            "valid_until" => spec.valid_until = some(),
            "gates" => spec.gates = names(value),
            "display" => spec.display = some(),
            "zones" => spec.zones = names(value),
            "dynamic_ttl_s" if !value.is_empty() => {
                spec.dynamic_ttl_s = Some(value.parse().map_err(|_| {
                    ApiError::invalid(
                        "dynamic_ttl_s",
                        format!("{value:?} is not a whole number of seconds"),
                    )
                })?)
            }
            card if CARD_COLUMNS.contains(&card) => card_cells.push((card, value)),
            _ => {}
        }
    }
    spec.card = card_of(&card_cells, now)?.map(Box::new);
    Ok(spec)
}

/// A cell of `;`-separated names (gates, zones), blanks dropped.
fn names(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What a body holds: the passes of its valid lines, and an account of the
/// others.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The passes of the valid lines, in order.
    pub passes: Vec<Pass>,
    /// The first [`IMPORT_REJECTS_REPORTED_MAX`] rejected lines.
    pub rejected: Vec<Rejected>,
    /// Every rejected line.
    pub rejected_count: usize,
    /// Lines of white space alone.
    pub blank_lines: usize,
}

/// Reads every line of `body` ([the rule](self)), as the import does
/// before the store (the fuzz target `csv_import` calls it too).
pub fn parse(body: &[u8], now: i64) -> Result<Parsed, ApiError> {
    let mut lines = lines(body);
    let mut splitter = Splitter::new();
    let columns = header(&mut splitter, lines.next())?;
    let (mut parsed, mut rows) = (Parsed::default(), 0usize);
    for (line, bytes) in lines {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            parsed.blank_lines += 1;
            continue;
        }
        rows += 1;
        if rows > IMPORT_ROWS_MAX {
            return Err(ApiError::too_large(format!(
                "at most {IMPORT_ROWS_MAX} rows per import; split the file"
            )));
        }
        let outcome = fields(&mut splitter, bytes, Some(&columns))
            .and_then(|r| row_spec(&columns, &r, now))
            .and_then(|s| api::build_passes(&s, now));
        match outcome {
            Ok(built) => parsed.passes.extend(built),
            Err(e) => {
                parsed.rejected_count += 1;
                if parsed.rejected.len() < IMPORT_REJECTS_REPORTED_MAX {
                    parsed.rejected.push(Rejected {
                        line,
                        field: e.field,
                        problem: e.message,
                    });
                }
            }
        }
    }
    Ok(parsed)
}

/// `POST /v1/passes/import`: CSV with a header row, one record a line;
/// valid lines are imported, the others reported line by line.
#[utoipa::path(
    post,
    path = "/v1/passes/import",
    operation_id = "import_passes",
    tag = "passes",
    request_body(
        description = "CSV with a header row: `event` (required), `kind`, `max_uses` (a number or \
            `unlimited`), `valid_from`, `valid_until`, `gates` (`;`-separated), `display`, \
            `dynamic_ttl_s`. One record a line: a quoted field may hold commas and `\"\"`, not a \
            line break, and a line whose quote does not close is rejected on its own. \
            At most 10 000 rows; body at most 4 MiB.",
        content_type = "text/csv",
        content = String,
    ),
    responses(
        (status = 201, description = "Some lines imported; the report lists the rejected ones", body = ImportReport),
        (status = 200, description = "Nothing imported; the report says why", body = ImportReport),
        (status = 400, description = "The header row is missing or names an unknown column", body = ErrorBody),
        (status = 409, description = "A pass id already exists", body = ErrorBody),
        (status = 413, description = "Over 10 000 rows, or the body is over 4 MiB", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn import(
    State(state): State<AppState>,
    who: Who,
    body: Bytes,
) -> Result<(StatusCode, Json<ImportReport>), ApiError> {
    let now = crate::now_ms();
    let Parsed {
        passes,
        rejected,
        rejected_count,
        blank_lines,
    } = parse(&body, now)?;
    let (status, passes) = if passes.is_empty() {
        (StatusCode::OK, Vec::new())
    } else {
        let batch = NewPasses {
            now,
            who: who.0.name,
            action: OperatorAction::PassesImport,
            detail: format!(
                "{} CSV lines imported, {rejected_count} rejected",
                passes.len()
            ),
            done: "imported",
        };
        (StatusCode::CREATED, batch.store(&state, passes).await?)
    };
    Ok((
        status,
        Json(ImportReport {
            imported: passes.len(),
            rejected_count,
            blank_lines,
            passes,
            rejected,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(csv: &str) -> Parsed {
        parse(csv.as_bytes(), 0).expect("a header")
    }

    #[test]
    fn an_unterminated_quote_rejects_its_line_and_swallows_none_after_it() {
        let got = report("event,display\ncsv-q,\"abc\ncsv-q2,def\n");
        assert_eq!(got.passes.len(), 1);
        assert_eq!(got.passes[0].event, "csv-q2");
        assert_eq!(got.rejected_count, 1);
        let r = &got.rejected[0];
        assert_eq!((r.line, r.field.as_deref()), (2, Some("display")));
        assert!(
            r.problem.contains("does not close on this line"),
            "{}",
            r.problem
        );
    }

    #[test]
    fn every_line_is_imported_rejected_or_counted_blank() {
        let csv = "event,display,gates\r\n\
                   a,\"Row 4, seat \"\"B\"\"\",n;s\r\n\
                   \r\n\
                   b,\"two\n\
                   lines\",x\n\
                   c,too,many,fields\n\
                   d,\"ok\",\n";
        let got = report(csv);
        let lines_after_header = 6;
        assert_eq!(
            got.passes.len() + got.rejected_count + got.blank_lines,
            lines_after_header
        );
        assert_eq!(got.blank_lines, 1);
        let events: Vec<&str> = got.passes.iter().map(|p| p.event.as_str()).collect();
        assert_eq!(events, ["a", "d"]);
        assert_eq!(got.passes[0].display.as_deref(), Some("Row 4, seat \"B\""));
        let at: Vec<(u64, Option<&str>)> = got
            .rejected
            .iter()
            .map(|r| (r.line, r.field.as_deref()))
            .collect();
        // The field that opened the quote; the orphan second half (its
        // quote, again); the line with too many fields.
        assert_eq!(
            at,
            [(4, Some("display")), (5, Some("event")), (6, Some("line"))]
        );
    }

    #[test]
    fn a_header_is_required_and_checked() {
        for csv in ["", "\n", "\u{feff}\n"] {
            let e = parse(csv.as_bytes(), 0).expect_err("no header");
            assert_eq!(e.field.as_deref(), Some("header"), "{csv:?}");
        }
        let e = parse(b"event,\"display\n", 0).expect_err("open quote");
        assert_eq!(e.field.as_deref(), Some("header"));
        let got = report("\u{feff}Event\nfest\n");
        assert_eq!(got.passes.len(), 1);
    }
}
