//! The baselines detection latency is judged against: when the runbook's manual
//! rules, and the kubelet's own PLEG threshold, would have flagged the same stall.
//!
//! - Failure Mode 1: "no output in last 5 minutes is the key sign".
//! - Failure Mode 3: "only startup lines ... and then nothing, even after 10+ minutes".
//! - Kine exhaustion: "attempt:50+ means kine connections are exhausted".
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
        FailureMode::KineExhaustion => kine_attempt_50(f).map(|at| Baseline {
            rule: "`retrying of unary invoker` at attempt:50+",
            fires_at: at.max(first_stuck),
        }),
        FailureMode::PlegStall => Some(Baseline {
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

/// When the etcd client's retries reach attempt 50, the runbook's sign that kine's
/// connections are exhausted: the line's time when one was seen, else projected from
/// the retry rate seen so far (attempts rise by one per retry interval).
pub fn kine_attempt_50(f: &Finding) -> Option<Timestamp> {
    const ATTEMPT: u32 = 50;
    let r = &f.kine_retries;
    if let Some(&(at, _)) = r.iter().find(|&&(_, n)| n >= ATTEMPT) {
        return Some(at);
    }
    let (&(t0, a0), &(t1, a1)) = (r.first()?, r.last()?);
    if a1 <= a0 || t1 <= t0 {
        return None;
    }
    let per_attempt = t1.secs_since(t0) / f64::from(a1 - a0);
    Some(t1.add(Duration::from_secs_f64(
        per_attempt * f64::from(ATTEMPT - a1),
    )))
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

#[cfg(test)]
mod tests {
    use super::*;
    use kubestall_node::NodeName;

    fn kine(retries: &[(i64, u32)]) -> Finding {
        Finding {
            node: NodeName::new("k8s03").expect("valid name"),
            mode: FailureMode::KineExhaustion,
            confidence: 0.95,
            evidence: Vec::new(),
            at: Timestamp::from_secs(1_000),
            procedure: "kine-exhaustion",
            missing_signals: Vec::new(),
            kine_errors: true,
            silent_since: None,
            pleg_since: None,
            kine_retries: retries
                .iter()
                .map(|&(t, a)| (Timestamp::from_secs(t), a))
                .collect(),
        }
    }

    #[test]
    fn attempt_50_is_the_line_that_shows_it_or_projected_from_the_retry_rate() {
        // Seen: the first line at attempt 50 or more.
        let seen = kine(&[(900, 48), (902, 49), (904, 50), (906, 51)]);
        assert_eq!(kine_attempt_50(&seen), Some(Timestamp::from_secs(904)));
        // Not yet: attempts 0..4 two seconds apart reach 50 at 900 + 2 * 50.
        let early = kine(&[(900, 0), (902, 1), (904, 2), (906, 3), (908, 4)]);
        assert_eq!(kine_attempt_50(&early), Some(Timestamp::from_secs(1_000)));
        let b = runbook_rule(&early, Timestamp::from_secs(950)).expect("a rule for kine");
        assert_eq!(b.fires_at, Timestamp::from_secs(1_000));
        // No rate to project from.
        assert_eq!(kine_attempt_50(&kine(&[(900, 3)])), None);
        assert_eq!(kine_attempt_50(&kine(&[])), None);
    }
}
