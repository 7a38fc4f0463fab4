//! The failure modes of the runbook, by their stable ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A failure mode the runbook describes. Its id (`imagefs-stall`, ...) is the
/// contract used in scenario files, JSON output and JUnit names.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FailureMode {
    /// Mode 1: the eviction manager cannot resolve the imagefs label (containerd 2.1.3)
    /// and silently drops pod lifecycle operations.
    ImagefsStall,
    /// Mode 2: pods bound between a kubelite restart and the kubelet's initial LIST
    /// land in the watch stream's past and are never processed.
    WatchStall,
    /// Mode 3: orphaned containerd shims hang Generic PLEG's first relist.
    PlegStall,
    /// k8s-dqlite's connection state corrupted by a restart storm: every new
    /// kubelite's etcd client retries (`retrying of unary invoker failed`).
    KineExhaustion,
    /// EventedPLEG: a full containerd gRPC freeze stalls the event stream
    /// (`pleg was last seen active`).
    ContainerdFreeze,
    /// After the nuclear option: an application process from a killed container
    /// survives and holds a lock the new instance waits on.
    OrphanLockHolder,
}

impl FailureMode {
    /// Every mode, in the runbook's order.
    pub const ALL: [FailureMode; 6] = [
        FailureMode::ImagefsStall,
        FailureMode::WatchStall,
        FailureMode::PlegStall,
        FailureMode::KineExhaustion,
        FailureMode::ContainerdFreeze,
        FailureMode::OrphanLockHolder,
    ];

    /// The stable id: `imagefs-stall`, `watch-stall`, ...
    pub fn id(self) -> &'static str {
        match self {
            FailureMode::ImagefsStall => "imagefs-stall",
            FailureMode::WatchStall => "watch-stall",
            FailureMode::PlegStall => "pleg-stall",
            FailureMode::KineExhaustion => "kine-exhaustion",
            FailureMode::ContainerdFreeze => "containerd-freeze",
            FailureMode::OrphanLockHolder => "orphan-lock-holder",
        }
    }

    /// A one-line title, as the runbook names the mode.
    pub fn title(self) -> &'static str {
        match self {
            FailureMode::ImagefsStall => "Failure Mode 1: eviction manager imagefs stall",
            FailureMode::WatchStall => {
                "Failure Mode 2: pod watch goroutine stall after a kubelite restart"
            }
            FailureMode::PlegStall => "Failure Mode 3: PLEG stall from orphaned containerd shims",
            FailureMode::KineExhaustion => {
                "Failure Mode 3 (kine): k8s-dqlite connection exhaustion"
            }
            FailureMode::ContainerdFreeze => "EventedPLEG: containerd gRPC freeze",
            FailureMode::OrphanLockHolder => "Post-incident: orphaned lock holder",
        }
    }

    /// Short aliases people type: `fm1`, `fm2`, `fm3`.
    fn alias(s: &str) -> Option<FailureMode> {
        Some(match s {
            "fm1" | "mode1" | "1" => FailureMode::ImagefsStall,
            "fm2" | "mode2" | "2" => FailureMode::WatchStall,
            "fm3" | "mode3" | "3" => FailureMode::PlegStall,
            _ => return None,
        })
    }
}

/// A failure-mode id that is not one of [`FailureMode::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown failure mode {0:?}; known: imagefs-stall (fm1), watch-stall (fm2), pleg-stall (fm3), kine-exhaustion, containerd-freeze, orphan-lock-holder"
)]
pub struct UnknownFailureMode(pub String);

impl FromStr for FailureMode {
    type Err = UnknownFailureMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureMode::ALL
            .into_iter()
            .find(|m| m.id() == s)
            .or_else(|| FailureMode::alias(s))
            .ok_or_else(|| UnknownFailureMode(s.to_string()))
    }
}

impl fmt::Display for FailureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Which pod lifecycle event generator the kubelet runs.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Pleg {
    /// The 1-second polling `relist()` (the default before EventedPLEG).
    #[default]
    Generic,
    /// `--feature-gates=EventedPLEG=true`: CRI events plus a 300 s resync.
    Evented,
}

impl Pleg {
    /// `generic` or `evented`.
    pub fn id(self) -> &'static str {
        match self {
            Pleg::Generic => "generic",
            Pleg::Evented => "evented",
        }
    }
}

impl fmt::Display for Pleg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_serde_and_fromstr() {
        for m in FailureMode::ALL {
            assert_eq!(m.id().parse::<FailureMode>(), Ok(m));
            assert_eq!(
                serde_json::to_string(&m).ok(),
                Some(format!("\"{}\"", m.id()))
            );
        }
        assert_eq!("fm2".parse::<FailureMode>(), Ok(FailureMode::WatchStall));
        assert!("pleg".parse::<FailureMode>().is_err());
    }
}
