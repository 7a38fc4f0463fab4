//! What one run of one scenario produced: the record every report is made from.
//!
//! Times are seconds since the run started, on the backend's clock (virtual on
//! the simulator, wall time elsewhere). The JSON shape of [`RunOutcome`] and
//! [`Summary`] is a contract scripts and CI depend on: fields may be added, never
//! changed in meaning.

use kubestall_node::{FailureMode, NodeName, Pleg};
use serde::Serialize;

/// The expected finding a run is judged by (the first of the scenario's list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// The failure mode.
    pub mode: FailureMode,
    /// The node.
    pub node: NodeName,
}

/// A finding as a run records it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindingRecord {
    /// The failure mode.
    pub mode: FailureMode,
    /// The node.
    pub node: NodeName,
    /// When it became certain.
    pub at_s: f64,
    /// How sure the detector is, 0 to 1.
    pub confidence: f64,
    /// Each signal with its value and source.
    pub evidence: Vec<serde_json::Value>,
    /// Seconds from the first stuck pod (or the fault) to this finding.
    pub latency_s: Option<f64>,
    /// Seconds from the first stuck pod to when the runbook's manual rule would
    /// have flagged the same stall (5 min of silence for mode 1, 10 min for mode 3).
    pub runbook_rule_s: Option<f64>,
    /// Seconds from the first stuck pod to the kubelet's own PLEG threshold (3 min).
    pub kubelet_rule_s: Option<f64>,
    /// Whether a pod was stuck (latency measured from it) or not (from the fault).
    pub from_stuck_pod: bool,
}

/// What kind of moment a timeline entry marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Moment {
    /// A fault was injected.
    Fault,
    /// A fault's effect was confirmed on the node.
    FaultConfirmed,
    /// The first pod bound to a node and not processed.
    FirstStuckPod,
    /// A detector's finding.
    Finding,
    /// A remediation step started.
    StepStarted,
    /// A remediation step ended.
    StepEnded,
    /// Every pod on the node Running again.
    Recovered,
}

/// One moment of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Seconds since the run started.
    pub at_s: f64,
    /// What kind of moment.
    pub kind: Moment,
    /// The node, when it concerns one.
    pub node: Option<NodeName>,
    /// What happened, for people.
    pub what: String,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every expectation met.
    Passed,
    /// An expectation missed.
    Failed,
    /// A fault did not take effect, so detection was not tested: not a missed detection.
    FaultNotConfirmed,
    /// The backend could not run it.
    Error,
}

/// One scenario run with one seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunOutcome {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The backend (`sim`, `container`, ...).
    pub backend: &'static str,
    /// `generic` or `evented`.
    pub pleg: Pleg,
    /// Every expectation met.
    pub passed: bool,
    /// How it ended, in more detail than `passed`.
    pub verdict: Verdict,
    /// The first expected finding; `null` for a healthy scenario.
    pub expected: Option<Expected>,
    /// Every finding, in order.
    pub findings: Vec<FindingRecord>,
    /// Seconds from the first stuck pod to the first expected finding; `null` if
    /// none (a finding's own `latency_s` is measured from the fault when no pod got
    /// stuck).
    pub detect_latency_s: Option<f64>,
    /// Seconds from the first expected finding to all the node's pods Running; `null` if none.
    pub recover_s: Option<f64>,
    /// What went wrong, one line each.
    pub failures: Vec<String>,
    /// Every moment of the run, in order.
    pub timeline: Vec<TimelineEntry>,
    /// How long the run lasted on the backend's clock.
    pub duration_s: f64,
    /// Pods created during the run.
    pub pods: u32,
    /// Pods that waited more than twice the scenario's pod start time plus 10 s
    /// between binding and starting (or never started).
    pub pods_delayed: u32,
    /// Seconds from the first stuck pod to the last stuck pod starting; `null` if none.
    pub stall_s: Option<f64>,
    /// The command that replays this run exactly.
    pub replay: String,
}

/// Totals over all runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Runs.
    pub runs: usize,
    /// Runs that passed.
    pub passed: usize,
    /// Runs that did not.
    pub failed: usize,
}

impl Summary {
    /// Totals of `runs`.
    pub fn of(runs: &[RunOutcome]) -> Summary {
        let passed = runs.iter().filter(|r| r.passed).count();
        Summary {
            runs: runs.len(),
            passed,
            failed: runs.len() - passed,
        }
    }
}

/// `kubestall run --output json`: `{"runs": [...], "summary": {...}}`.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport<'a> {
    /// Every run.
    pub runs: &'a [RunOutcome],
    /// Totals.
    pub summary: Summary,
}
