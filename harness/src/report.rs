//! Reports of runs: a table for people, JUnit XML for CI servers, and a
//! self-contained HTML page with a timeline per run and latency histograms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::outcome::{Moment, RunOutcome, Summary, Verdict};

/// The final table: one row per run (or per scenario when there are many seeds).
pub fn render_table(runs: &[RunOutcome]) -> String {
    let mut out = String::new();
    let groups = group_by_scenario(runs);
    let many = runs.len() > groups.len();
    let width = groups.keys().map(|k| k.0.len()).max().unwrap_or(8).max(8);
    if many {
        let _ = writeln!(
            out,
            "{:width$}  {:8}  {:>6}  {:>6}  {:>10}  {:>10}  {:>10}",
            "scenario", "pleg", "runs", "failed", "detect p50", "detect p95", "recover p95"
        );
        for ((name, pleg), rs) in &groups {
            let failed = rs.iter().filter(|r| !r.passed).count();
            let det: Vec<f64> = rs.iter().filter_map(|r| r.detect_latency_s).collect();
            let rec: Vec<f64> = rs.iter().filter_map(|r| r.recover_s).collect();
            let _ = writeln!(
                out,
                "{:width$}  {:8}  {:>6}  {:>6}  {:>10}  {:>10}  {:>10}",
                name,
                pleg,
                rs.len(),
                failed,
                secs(percentile(&det, 50.0)),
                secs(percentile(&det, 95.0)),
                secs(percentile(&rec, 95.0)),
            );
        }
    } else {
        let _ = writeln!(
            out,
            "{:width$}  {:8}  {:6}  {:22}  {:>8}  {:>8}",
            "scenario", "pleg", "result", "found", "detect", "recover"
        );
        for r in runs {
            let found = if r.findings.is_empty() {
                "nothing".to_string()
            } else {
                r.findings
                    .iter()
                    .map(|f| f.mode.id())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "{:width$}  {:8}  {:6}  {:22}  {:>8}  {:>8}",
                r.scenario,
                r.pleg.id(),
                verdict_word(r.verdict),
                found,
                // Where no pod got stuck, the finding's latency from the fault.
                secs(
                    r.detect_latency_s
                        .or_else(|| r.findings.first().and_then(|f| f.latency_s))
                ),
                secs(r.recover_s),
            );
        }
    }
    let s = Summary::of(runs);
    let _ = writeln!(
        out,
        "\n{} runs: {} passed, {} failed",
        s.runs, s.passed, s.failed
    );
    for r in runs.iter().filter(|r| !r.passed) {
        let _ = writeln!(
            out,
            "\nFAILED {} (seed {}, {} PLEG):",
            r.scenario, r.seed, r.pleg
        );
        for f in &r.failures {
            let _ = writeln!(out, "  - {f}");
        }
        let _ = writeln!(out, "  replay: {}", r.replay);
    }
    out
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "pass",
        Verdict::Failed => "FAIL",
        Verdict::FaultNotConfirmed => "NOFLT",
        Verdict::Error => "ERROR",
    }
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into())
}

/// The `p`th percentile (nearest rank) of `xs`; `None` when empty.
pub fn percentile(xs: &[f64], p: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

fn group_by_scenario(runs: &[RunOutcome]) -> BTreeMap<(String, &'static str), Vec<&RunOutcome>> {
    let mut groups: BTreeMap<(String, &'static str), Vec<&RunOutcome>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((r.scenario.clone(), r.pleg.id()))
            .or_default()
            .push(r);
    }
    groups
}

/// Escapes text for XML and HTML attribute and element content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per scenario, one `<testcase>` per seed and PLEG.
/// A missed expectation is a `<failure>`; a fault that did not take effect or a
/// backend error is an `<error>`, so CI tells a missed detection from a broken setup.
pub fn render_junit(runs: &[RunOutcome]) -> String {
    let groups = group_by_scenario(runs);
    let total_time: f64 = runs.iter().map(|r| r.duration_s).sum();
    let failures = runs.iter().filter(|r| r.verdict == Verdict::Failed).count();
    let errors = runs
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::FaultNotConfirmed | Verdict::Error))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kubestall\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total_time:.3}\">",
        runs.len()
    );
    for (id, ((name, pleg), rs)) in groups.iter().enumerate() {
        let f = rs.iter().filter(|r| r.verdict == Verdict::Failed).count();
        let e = rs
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::FaultNotConfirmed | Verdict::Error))
            .count();
        let time: f64 = rs.iter().map(|r| r.duration_s).sum();
        let backend = rs.first().map(|r| r.backend).unwrap_or("sim");
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" id=\"{id}\" package=\"kubestall.{backend}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" skipped=\"0\" time=\"{time:.3}\">",
            xml_escape(&format!("{name} ({pleg})")),
            rs.len()
        );
        for r in rs {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"kubestall.{}.{}\" time=\"{:.3}\"",
                xml_escape(&format!("{} seed={} pleg={}", r.scenario, r.seed, r.pleg)),
                r.backend,
                xml_escape(&r.scenario),
                r.duration_s
            );
            let body = failure_body(r);
            match r.verdict {
                Verdict::Passed => out.push_str("/>\n"),
                Verdict::Failed => {
                    let _ = write!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>\n",
                        xml_escape(r.failures.first().map(String::as_str).unwrap_or("failed")),
                        xml_escape(&body)
                    );
                }
                Verdict::FaultNotConfirmed | Verdict::Error => {
                    let kind = if r.verdict == Verdict::Error {
                        "error"
                    } else {
                        "fault-not-confirmed"
                    };
                    let _ = write!(
                        out,
                        ">\n      <error message=\"{}\" type=\"{kind}\">{}</error>\n    </testcase>\n",
                        xml_escape(r.failures.first().map(String::as_str).unwrap_or(kind)),
                        xml_escape(&body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn failure_body(r: &RunOutcome) -> String {
    let mut s = String::new();
    for f in &r.failures {
        let _ = writeln!(s, "{f}");
    }
    let _ = writeln!(s, "replay: {}", r.replay);
    s
}

const MOMENT_COLORS: [(Moment, &str, &str); 7] = [
    (Moment::Fault, "#d62728", "fault"),
    (Moment::FaultConfirmed, "#ff9896", "fault confirmed"),
    (Moment::FirstStuckPod, "#9467bd", "first stuck pod"),
    (Moment::Finding, "#1f77b4", "finding"),
    (Moment::StepStarted, "#2ca02c", "remediation step"),
    (Moment::StepEnded, "#98df8a", "step ended"),
    (Moment::Recovered, "#17becf", "recovered"),
];

fn color(kind: Moment) -> &'static str {
    MOMENT_COLORS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, c, _)| *c)
        .unwrap_or("#7f7f7f")
}

/// An SVG timeline of one run: a tick per moment, labelled, on a time axis.
pub fn timeline_svg(r: &RunOutcome) -> String {
    let w = 900.0;
    let left = 10.0;
    let span = r.duration_s.max(1.0);
    let x = |t: f64| left + (t / span).clamp(0.0, 1.0) * (w - 2.0 * left);
    let rows = r.timeline.len().max(1) as f64;
    let h = 40.0 + rows * 16.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"timeline of {}\">",
        xml_escape(&r.scenario)
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"20\" x2=\"{}\" y2=\"20\" stroke=\"#333\"/>",
        w - left
    );
    let step = nice_step(span);
    let mut t = 0.0;
    while t <= span {
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" y1=\"16\" x2=\"{0:.1}\" y2=\"24\" stroke=\"#333\"/><text x=\"{0:.1}\" y=\"12\" font-size=\"10\" text-anchor=\"middle\">{1}</text>",
            x(t),
            fmt_clock(t)
        );
        t += step;
    }
    for (i, e) in r.timeline.iter().enumerate() {
        let y = 40.0 + i as f64 * 16.0;
        let cx = x(e.at_s);
        let anchor = if cx > w * 0.6 { "end" } else { "start" };
        let dx = if anchor == "end" { -6.0 } else { 6.0 };
        let _ = write!(
            s,
            "<g class=\"moment {kind}\"><line x1=\"{cx:.1}\" y1=\"20\" x2=\"{cx:.1}\" y2=\"{y:.1}\" stroke=\"{c}\" stroke-dasharray=\"2,2\"/><circle cx=\"{cx:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{c}\"/><text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"11\" text-anchor=\"{anchor}\">{label}</text></g>",
            kind = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            c = color(e.kind),
            tx = cx + dx,
            ty = y + 4.0,
            label = xml_escape(&format!("{} {}", fmt_clock(e.at_s), e.what)),
        );
    }
    s.push_str("</svg>");
    s
}

fn nice_step(span: f64) -> f64 {
    [10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]
        .into_iter()
        .find(|s| span / s <= 12.0)
        .unwrap_or(7200.0)
}

fn fmt_clock(t: f64) -> String {
    let t = t.max(0.0) as u64;
    format!("{}:{:02}", t / 60, t % 60)
}

/// An SVG histogram of `values` (seconds).
pub fn histogram_svg(title: &str, values: &[f64]) -> String {
    let (w, h) = (420.0, 160.0);
    let mut s = format!(
        "<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        xml_escape(title)
    );
    let _ = write!(
        s,
        "<text x=\"4\" y=\"14\" font-size=\"12\">{}</text>",
        xml_escape(title)
    );
    if values.is_empty() {
        s.push_str("<text x=\"4\" y=\"40\" font-size=\"11\">no values</text></svg>");
        return s;
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let bins = 20usize;
    let mut counts = vec![0usize; bins];
    for v in values {
        let b = ((v / max) * bins as f64).floor() as usize;
        counts[b.min(bins - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bw = (w - 20.0) / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let bh = (*c as f64 / top) * (h - 50.0);
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#1f77b4\"><title>{c}</title></rect>",
            10.0 + i as f64 * bw,
            h - 25.0 - bh,
            bw - 1.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"10\" y=\"{}\" font-size=\"10\">0 s</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{max:.1} s</text>",
        h - 10.0,
        w - 10.0,
        h - 10.0
    );
    s.push_str("</svg>");
    s
}

/// Writes `index.html` into `dir`: a summary, latency histograms per mode, and a
/// timeline per run (every failing run, and the first run of each scenario).
/// Everything is inline: it opens from disk in a browser without a server.
pub fn write_html(dir: &Path, runs: &[RunOutcome]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("index.html");
    std::fs::write(&path, render_html(runs))?;
    Ok(path)
}

/// The HTML report as a string.
pub fn render_html(runs: &[RunOutcome]) -> String {
    let s = Summary::of(runs);
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kubestall report</title>\n<style>\
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.pass{color:#2ca02c}.fail{color:#d62728}\
section.run{margin:1.5em 0;padding:0.5em 1em;border-left:4px solid #ccc}section.run.failed{border-color:#d62728}\
code{background:#f4f4f4;padding:2px 4px}.hists{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>\n",
    );
    let _ = writeln!(
        h,
        "<h1>kubestall report</h1><p id=\"summary\">{} runs: <span class=\"pass\">{} passed</span>, <span class=\"{}\">{} failed</span></p>",
        s.runs,
        s.passed,
        if s.failed > 0 { "fail" } else { "pass" },
        s.failed
    );
    h.push_str("<h2>Scenarios</h2><table><tr><th>scenario</th><th>PLEG</th><th>runs</th><th>failed</th><th>detect p50</th><th>detect p95</th><th>recover p95</th></tr>\n");
    let groups = group_by_scenario(runs);
    for ((name, pleg), rs) in &groups {
        let det: Vec<f64> = rs.iter().filter_map(|r| r.detect_latency_s).collect();
        let rec: Vec<f64> = rs.iter().filter_map(|r| r.recover_s).collect();
        let failed = rs.iter().filter(|r| !r.passed).count();
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#{id}\">{}</a></td><td>{pleg}</td><td>{}</td><td class=\"{}\">{failed}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            xml_escape(name),
            rs.len(),
            if failed > 0 { "fail" } else { "pass" },
            secs(percentile(&det, 50.0)),
            secs(percentile(&det, 95.0)),
            secs(percentile(&rec, 95.0)),
            id = xml_escape(&format!("{name}-{pleg}")),
        );
    }
    h.push_str("</table>\n<h2>Detection latency by failure mode</h2><div class=\"hists\">\n");
    let mut by_mode: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for f in &r.findings {
            if let Some(l) = f.latency_s {
                by_mode.entry(f.mode.id()).or_default().push(l);
            }
        }
    }
    for (mode, vals) in &by_mode {
        h.push_str(&histogram_svg(
            &format!("{mode}: detection latency (s), n={}", vals.len()),
            vals,
        ));
        h.push('\n');
    }
    h.push_str("</div>\n<h2>Timelines</h2>\n<p>");
    for (_, c, label) in MOMENT_COLORS {
        let _ = write!(
            h,
            "<span style=\"color:{c}\">&#9679;</span> {label} &nbsp; "
        );
    }
    h.push_str("</p>\n");
    for ((name, pleg), rs) in &groups {
        let _ = writeln!(
            h,
            "<h3 id=\"{}\">{} ({pleg} PLEG)</h3>",
            xml_escape(&format!("{name}-{pleg}")),
            xml_escape(name)
        );
        let shown = rs
            .iter()
            .enumerate()
            .filter(|(i, r)| *i == 0 || !r.passed)
            .take(20);
        for (_, r) in shown {
            let _ = writeln!(
                h,
                "<section class=\"run{}\" data-scenario=\"{}\" data-seed=\"{}\"><p><b>seed {}</b>: {}{}</p>{}<p>replay: <code>{}</code></p></section>",
                if r.passed { "" } else { " failed" },
                xml_escape(&r.scenario),
                r.seed,
                r.seed,
                if r.passed {
                    "<span class=\"pass\">passed</span>"
                } else {
                    "<span class=\"fail\">failed</span>"
                },
                r.failures
                    .iter()
                    .map(|f| format!("<br>&bull; {}", xml_escape(f)))
                    .collect::<String>(),
                timeline_svg(r),
                xml_escape(&r.replay)
            );
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// `--pleg both`: each scenario under Generic and Evented PLEG, side by side.
pub fn render_pleg_comparison(runs: &[RunOutcome]) -> String {
    let mut by: BTreeMap<String, [Vec<&RunOutcome>; 2]> = BTreeMap::new();
    for r in runs {
        let slot = usize::from(r.pleg == kubestall_node::Pleg::Evented);
        by.entry(r.scenario.clone()).or_default()[slot].push(r);
    }
    let width = by.keys().map(String::len).max().unwrap_or(8).max(8);
    let short = |m: &str| -> String {
        match m {
            "imagefs-stall" => "fm1",
            "watch-stall" => "fm2",
            "pleg-stall" => "fm3",
            "kine-exhaustion" => "kine",
            "containerd-freeze" => "freeze",
            "orphan-lock-holder" => "lock",
            other => other,
        }
        .to_string()
    };
    let found = |rs: &[&RunOutcome]| {
        let mut modes: Vec<String> = rs
            .iter()
            .flat_map(|r| r.findings.iter().map(|f| short(f.mode.id())))
            .collect();
        modes.sort();
        modes.dedup();
        if modes.is_empty() {
            "-".to_string()
        } else {
            modes.join("+")
        }
    };
    let med = |rs: &[&RunOutcome], f: &dyn Fn(&RunOutcome) -> Option<f64>| -> String {
        percentile(&rs.iter().filter_map(|r| f(r)).collect::<Vec<_>>(), 50.0)
            .map(|x| format!("{x:.0}"))
            .unwrap_or_else(|| "-".into())
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Generic vs Evented PLEG: medians over seeds (g | e); times in seconds; fm1/fm2/fm3 are the runbook's failure modes"
    );
    let _ = writeln!(
        out,
        "{:width$}  {:>17}  {:>11}  {:>11}  {:>11}  {:>11}",
        "scenario", "found", "pods delayed", "stall", "detect", "recover"
    );
    for (name, [g, e]) in &by {
        let pair = |f: &dyn Fn(&[&RunOutcome]) -> String| format!("{} | {}", f(g), f(e));
        let _ = writeln!(
            out,
            "{:width$}  {:>17}  {:>11}  {:>11}  {:>11}  {:>11}",
            name,
            pair(&|rs| found(rs)),
            pair(&|rs| med(rs, &|r| Some(f64::from(r.pods_delayed)))),
            pair(&|rs| med(rs, &|r| r.stall_s)),
            pair(&|rs| med(rs, &|r| r.detect_latency_s)),
            pair(&|rs| med(rs, &|r| r.recover_s)),
        );
    }
    out
}
