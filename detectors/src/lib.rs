//! Signals to findings: one detector per failure mode of the runbook, and the
//! classifier of its quick-reference table.
//!
//! The same code runs against every backend: [`NodeMonitor::poll`] takes any
//! `Observe`. Offline, [`bundle`] classifies an evidence bundle or a journal
//! export. Nothing here knows a scenario: only signals.

pub mod baseline;
pub mod bundle;
mod finding;
mod monitor;
pub mod render;
pub mod scan;
mod signals;
pub mod verdict;

pub use finding::{DetectReport, Evidence, Finding};
pub use monitor::{DetectError, DetectorConfig, NodeMonitor, orphan_pid};
pub use signals::{LineKind, attempt_of, classify_line};
pub use verdict::{Coverage, Undecided, Verdict};
