//! What a detector reports: a failure mode on a node, with the evidence that made
//! it certain and the procedure that fixes it.

use kubestall_node::{FailureMode, NodeName, Timestamp};
use serde::Serialize;

use crate::verdict::{Undecided, Verdict};

/// One signal and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    /// The signal (`journal`, `schedstat`, `shims`, `stuck-pods`, `kubelet-pods`, ...).
    pub signal: &'static str,
    /// Its value, for people.
    pub value: String,
    /// Where it was read: the command or API a person would use.
    pub source: String,
}

impl Evidence {
    pub(crate) fn new(
        signal: &'static str,
        value: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Evidence {
            signal,
            value: value.into(),
            source: source.into(),
        }
    }
}

/// A failure mode found on a node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The node.
    pub node: NodeName,
    /// The failure mode.
    pub mode: FailureMode,
    /// How sure, 0 to 1.
    pub confidence: f64,
    /// Each signal with its value and source.
    pub evidence: Vec<Evidence>,
    /// When the evidence became sufficient, on the node's clock.
    pub at: Timestamp,
    /// The procedure that fixes it (`kubestall remediate --procedure ...`).
    pub procedure: &'static str,
    /// Signals that could not be read, so were not used.
    pub missing_signals: Vec<String>,
    /// Whether k8s-dqlite must be restarted as part of the fix (kine errors seen).
    pub kine_errors: bool,
    /// Since when kubelite has been silent, when that is part of the evidence
    /// (for the runbook's manual "N minutes of silence" baselines).
    #[serde(skip)]
    pub silent_since: Option<Timestamp>,
    /// Since when PLEG has not completed a relist or resync, when known.
    #[serde(skip)]
    pub pleg_since: Option<Timestamp>,
    /// The etcd client's `retrying of unary invoker failed` lines seen, as (time,
    /// attempt), oldest first (for the runbook's "attempt:50+" baseline).
    #[serde(skip)]
    pub kine_retries: Vec<(Timestamp, u32)>,
}

/// A node's findings: `kubestall detect --output json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectReport {
    /// The node.
    pub node: String,
    /// `found`, `healthy` or `cannot-tell`: what the findings and `undecided` mean.
    pub verdict: Verdict,
    /// What was found.
    pub findings: Vec<Finding>,
    /// Modes the evidence could not rule out, and what would decide each. Empty
    /// and no findings: healthy, on this evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<Undecided>,
    /// Signals the input did not have (for a bundle or journal: what was missing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_signals: Vec<String>,
}

impl DetectReport {
    /// A report whose verdict follows from what was found and what is undecided.
    pub fn new(
        node: String,
        findings: Vec<Finding>,
        undecided: Vec<Undecided>,
        missing_signals: Vec<String>,
    ) -> Self {
        let verdict = if !findings.is_empty() {
            Verdict::Found
        } else if undecided.is_empty() {
            Verdict::Healthy
        } else {
            Verdict::CannotTell
        };
        DetectReport {
            node,
            verdict,
            findings,
            undecided,
            missing_signals,
        }
    }
}
