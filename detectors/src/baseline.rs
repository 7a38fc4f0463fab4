//! The baselines detection latency is judged against: when the runbook's manual
//! rules, and the kubelet's own PLEG threshold, would have flagged the same stall.
//!
//! - Failure Mode 1: "no output in last 5 minutes is the key sign".
//! - Failure Mode 3: "only startup lines ... and then nothing, even after 10+ minutes".
//! - The kubelet: Generic PLEG unhealthy after 3 minutes without a relist.
//! - Failure Mode 2 has no time rule in the runbook; its check is a person
//!   noticing pods Pending, taken as the runbook's 5-minute window.

use std::time::Duration;

use kubestall_node::{FailureMode, Timestamp};

use crate::finding::Finding;

/// A baseline rule and when it would have fired.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// The rule, in words.
    pub rule: &'static str,
    /// When it fires.
    pub fires_at: Timestamp,
}

/// The runbook's manual rule for `f`'s mode, given when the first pod got stuck.
pub fn runbook_rule(f: &Finding, first_stuck: Timestamp) -> Option<Baseline> {
    let silent = f
        .silent_since
        .unwrap_or(first_stuck)
        .max(first_stuck.sub(Duration::from_secs(3600)));
    match f.mode {
        FailureMode::ImagefsStall => Some(Baseline {
            rule: "5 minutes of kubelite log silence",
            fires_at: silent.add(Duration::from_secs(300)).max(first_stuck),
        }),
        FailureMode::PlegStall | FailureMode::KineExhaustion => Some(Baseline {
            rule: "10 minutes with only startup lines",
            fires_at: silent.add(Duration::from_secs(600)).max(first_stuck),
        }),
        FailureMode::WatchStall => Some(Baseline {
            rule: "pods Pending for 5 minutes",
            fires_at: first_stuck.add(Duration::from_secs(300)),
        }),
        FailureMode::ContainerdFreeze | FailureMode::OrphanLockHolder => None,
    }
}

/// The kubelet's own signal: PLEG unhealthy 3 minutes after its last relist
/// (Generic PLEG; EventedPLEG's freeze likewise reports after 3 minutes).
pub fn kubelet_rule(f: &Finding, first_stuck: Timestamp) -> Option<Baseline> {
    match f.mode {
        FailureMode::PlegStall | FailureMode::ContainerdFreeze | FailureMode::KineExhaustion => {
            let start = f.pleg_since.unwrap_or(first_stuck);
            Some(Baseline {
                rule: "kubelet: PLEG not healthy after 3m0s",
                fires_at: start.add(Duration::from_secs(180)).max(first_stuck),
            })
        }
        _ => None,
    }
}
