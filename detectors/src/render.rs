//! Findings for people and for node-problem-detector.

use std::fmt::Write as _;

use crate::finding::DetectReport;
use crate::verdict::Verdict;

/// What was found, with its evidence and where each signal came from.
pub fn render_text(r: &DetectReport) -> String {
    let mut out = String::new();
    match r.verdict {
        Verdict::Healthy => {
            let _ = writeln!(
                out,
                "{}: healthy on this evidence: no stall found, and it would have shown each one",
                r.node
            );
        }
        Verdict::CannotTell => {
            let _ = writeln!(
                out,
                "{}: cannot tell: no stall found, but this evidence cannot rule out {}",
                r.node,
                if r.undecided.len() == 1 {
                    "this mode"
                } else {
                    "these modes"
                }
            );
        }
        Verdict::Found => {}
    }
    for u in &r.undecided {
        if r.verdict == Verdict::Found {
            break;
        }
        let _ = writeln!(out, "  - {} ({})", u.mode, u.mode.title());
        for n in &u.needs {
            let _ = writeln!(out, "      needs: {n}");
        }
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
        let _ = writeln!(out, "  not available:");
        for m in &r.missing_signals {
            let _ = writeln!(out, "    - {m}");
        }
    }
    out
}

/// node-problem-detector's custom plugin protocol: exit 0 OK, 1 problem, 2 unknown
/// (what "cannot tell" is), and one line, kept short: npd cuts it at its
/// `max_output_length`.
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
        None if r.verdict == Verdict::CannotTell => (
            2,
            format!(
                "Unknown on {}: cannot rule out {} from this evidence",
                r.node,
                r.undecided
                    .iter()
                    .map(|u| u.mode.id())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        None => (0, format!("kubelet on {} is processing pods", r.node)),
    }
}
