//! `--plot FILE.svg`: throughput over time (offered vs decided per second)
//! and latency over time (p50, p99, max per second), hand-written SVG.

use crate::report::{Point, Report};
use std::fmt::Write as _;

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 260.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_TOP: f64 = 56.0;
const GAP: f64 = 70.0;
const TICKS: usize = 4;

struct Line<'a> {
    label: &'a str,
    color: &'a str,
    value: fn(&Point) -> f64,
}

/// The throughput panel's lines, scans per second.
const THROUGHPUT: [Line<'static>; 3] = [
    Line {
        label: "offered",
        color: "#999999",
        value: |p| p.offered as f64,
    },
    Line {
        label: "decided",
        color: "#1f77b4",
        value: |p| p.decided as f64,
    },
    Line {
        label: "errors",
        color: "#d62728",
        value: |p| p.errors as f64,
    },
];

/// The latency panel's lines, ms from the due time.
const LATENCY: [Line<'static>; 3] = [
    Line {
        label: "p50",
        color: "#2ca02c",
        value: |p| p.p50_ms,
    },
    Line {
        label: "p99",
        color: "#ff7f0e",
        value: |p| p.p99_ms,
    },
    Line {
        label: "max",
        color: "#d62728",
        value: |p| p.max_ms,
    },
];

/// The chart of a report.
pub fn plot(report: &Report) -> String {
    let height = MARGIN_TOP + 2.0 * PANEL_HEIGHT + GAP + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = format!(
        "scangate-load {} · {} · {:.0} scans/s achieved of {:.0} offered · p99 {:.2} ms · check {}",
        report.run.run_id,
        report.run.profile,
        report.scans_per_s,
        report.offered_per_s,
        report.p99_ms,
        report.verdict
    );
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN_LEFT}" y="20" font-size="14">{}</text>"#,
        escape(&title)
    );
    let series = &report.series;
    panel(&mut s, series, MARGIN_TOP, "scans per second", &THROUGHPUT);
    let latency_top = MARGIN_TOP + PANEL_HEIGHT + GAP;
    panel(
        &mut s,
        series,
        latency_top,
        "latency from due time, ms",
        &LATENCY,
    );
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, series: &[Point], top: f64, title: &str, lines: &[Line<'_>]) {
    let plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let bottom = top + PANEL_HEIGHT;
    let n = series.len().max(2) as f64 - 1.0;
    let max = series
        .iter()
        .flat_map(|p| lines.iter().map(move |l| (l.value)(p)))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;
    let x = |t: usize| MARGIN_LEFT + plot_w * t as f64 / n;
    let y = |v: f64| bottom - PANEL_HEIGHT * v / max;
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN_LEFT}" y="{}">{}</text>"#,
        top - 8.0,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<rect x="{MARGIN_LEFT}" y="{top}" width="{plot_w}" height="{PANEL_HEIGHT}" fill="none" stroke="#cccccc"/>"##
    );
    for i in 0..=TICKS {
        let v = max * i as f64 / TICKS as f64;
        let _ = writeln!(
            s,
            r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{y0:.1}" y2="{y0:.1}" stroke="#eeeeee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - MARGIN_RIGHT,
            MARGIN_LEFT - 6.0,
            y(v) + 4.0,
            short(v),
            y0 = y(v),
        );
    }
    let last = series.len().saturating_sub(1);
    for t in [0, last / 2, last] {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{t} s</text>"#,
            x(t),
            bottom + 16.0
        );
    }
    for (i, l) in lines.iter().enumerate() {
        let points: Vec<String> = series
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.t), y((l.value)(p))))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            l.color,
            points.join(" ")
        );
        let lx = WIDTH - MARGIN_RIGHT - 90.0 * (lines.len() - i) as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="3" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            top - 14.0,
            l.color,
            lx + 16.0,
            top - 8.0,
            l.label
        );
    }
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1_000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunInfo;
    use crate::stats::{Answer, Recorder};
    use scangate_core::Decision;

    #[test]
    fn plots_both_panels() {
        let mut rec = Recorder::default();
        for i in 0..30u64 {
            rec.record(
                crate::mix::ScanKind::First,
                i * 100_000,
                i * 100_000 + 500,
                &Answer::Decided(Decision::Granted),
            );
        }
        let run = RunInfo {
            run_id: "r<1>".into(),
            target: "t".into(),
            profile: "constant".into(),
            window_s: 3.0,
            devices: 1,
            gates: 1,
            depth: 1,
            mix: "first=1".into(),
            passes: 1,
            peak_offered_per_s: 10.0,
        };
        let svg = plot(&Report::new(run, &rec, None));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 6);
        assert!(svg.contains("r&lt;1&gt;"));
    }
}
