//! Findings for people and for node-problem-detector.

use std::fmt::Write as _;

use crate::finding::DetectReport;

/// What was found, with its evidence and where each signal came from.
pub fn render_text(r: &DetectReport) -> String {
    let mut out = String::new();
    if r.findings.is_empty() {
        let _ = writeln!(out, "{}: no stall found", r.node);
    }
    for f in &r.findings {
        let _ = writeln!(
            out,
            "{}: {} ({:.0}% sure)",
            f.node,
            f.mode.title(),
            f.confidence * 100.0
        );
        for e in &f.evidence {
            let _ = writeln!(
                out,
                "  - {}: {}\n      from: {}",
                e.signal, e.value, e.source
            );
        }
        if !f.missing_signals.is_empty() {
            let _ = writeln!(out, "  not available: {}", f.missing_signals.join("; "));
        }
        let _ = writeln!(
            out,
            "  fix: kubestall remediate --node {} --procedure {}{}",
            f.node,
            f.procedure,
            if f.kine_errors {
                "   (kine errors seen: k8s-dqlite is restarted too)"
            } else {
                ""
            }
        );
    }
    if !r.missing_signals.is_empty() && r.findings.is_empty() {
        let _ = writeln!(out, "  not available: {}", r.missing_signals.join("; "));
    }
    out
}

/// node-problem-detector's custom plugin protocol: exit 0 OK, 1 problem, 2 unknown,
/// and one line of at most 80 characters is not required but kept short.
pub fn render_npd(r: &DetectReport) -> (u8, String) {
    match r.findings.first() {
        Some(f) => (
            1,
            format!(
                "KubeletStall {} on {}: {}",
                f.mode,
                f.node,
                f.evidence.first().map(|e| e.value.as_str()).unwrap_or("")
            ),
        ),
        None if r
            .missing_signals
            .iter()
            .any(|m| m.contains("kubelite journal")) =>
        {
            (2, format!("cannot tell: {}", r.missing_signals.join("; ")))
        }
        None => (0, format!("kubelet on {} is processing pods", r.node)),
    }
}
