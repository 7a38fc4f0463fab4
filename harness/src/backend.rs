//! Backends: where a scenario's cluster runs. Every backend offers the same nodes
//! (`Observe + Control`), so nothing above this trait knows which one it talks to.

use std::future::Future;
use std::time::Duration;

use kubestall_node::{Control, NodeName, PodRef, PodView};

use crate::scenario::{FaultSpec, Scenario};

/// Something that happens at a time after the run starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A pod is created, aimed at `node` (node affinity: only that node may take it).
    CreatePod {
        /// The pod.
        pod: PodRef,
        /// Its node.
        node: NodeName,
    },
    /// A fault is injected.
    Fault(FaultSpec),
}

/// An [`Event`] and its offset from the start of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    /// Offset from the start of the run.
    pub at: Duration,
    /// What happens.
    pub event: Event,
}

/// The scenario's workload and faults as one list, ordered by time (faults first
/// at equal times, so a restart "at 2m" precedes the pod created at 2m).
pub fn timeline(s: &Scenario) -> Vec<Timed> {
    let mut out = Vec::new();
    for w in &s.workload {
        let mut t = w.from.0;
        let mut n = 0u32;
        while t <= w.until.0 {
            out.push(Timed {
                at: t,
                event: Event::CreatePod {
                    pod: PodRef::new(w.namespace.clone(), format!("{}-{}-{n}", w.prefix, w.node)),
                    node: w.node.clone(),
                },
            });
            n += 1;
            t += w.every.0;
        }
    }
    for f in &s.faults {
        out.push(Timed {
            at: f.at().0,
            event: Event::Fault(f.clone()),
        });
    }
    out.sort_by_key(|t| (t.at, matches!(t.event, Event::CreatePod { .. })));
    out
}

/// Why a backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot run here; the message says how to get it (exit code 3).
    #[error("{0}")]
    Unavailable(String),
    /// The backend cannot do this at all.
    #[error("{what} is not supported on the {backend} backend")]
    NotSupported {
        /// The backend.
        backend: &'static str,
        /// What was asked.
        what: String,
    },
    /// Something failed while it ran.
    #[error("{0}")]
    Failed(String),
}

impl From<kubestall_node::NodeError> for BackendError {
    fn from(e: kubestall_node::NodeError) -> Self {
        BackendError::Failed(e.to_string())
    }
}

/// What tearing down left behind; empty when nothing leaked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers(pub Vec<String>);

/// A place a scenario's cluster runs.
pub trait Backend: Send {
    /// The node handle.
    type Node: Control + Clone + Send + Sync + 'static;

    /// `sim`, `container`, `vm`, `ssh`.
    fn name(&self) -> &'static str;

    /// Brings up the scenario's cluster; returns its nodes in the scenario's order.
    fn up(
        &mut self,
        scenario: &Scenario,
        seed: u64,
    ) -> impl Future<Output = Result<Vec<Self::Node>, BackendError>> + Send;

    /// Arranges for each event to happen at its offset from now, while the caller
    /// goes on observing and remediating (the simulator queues them in its model;
    /// real backends fire them from a task of their own).
    fn start(
        &mut self,
        events: Vec<Timed>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Every pod in the cluster, bound or not: the ground truth expectations are checked against.
    fn all_pods(&self) -> impl Future<Output = Result<Vec<PodView>, BackendError>> + Send;

    /// Tears everything down. Always called, also after errors and on Ctrl-C.
    fn down(&mut self) -> impl Future<Output = Result<Leftovers, BackendError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_orders_faults_before_pods_at_the_same_time() {
        let s = crate::bundled::scenarios()
            .expect("bundled")
            .into_iter()
            .find(|s| s.name == "watch-stall-restart-without-cordon")
            .expect("scenario");
        let t = timeline(&s);
        let restart = t
            .iter()
            .position(|e| matches!(e.event, Event::Fault(_)))
            .expect("a fault");
        assert_eq!(t[restart].at, Duration::from_secs(117));
        assert!(
            t[..restart]
                .iter()
                .all(|e| e.at < Duration::from_secs(117) || matches!(e.event, Event::Fault(_)))
        );
        assert!(t.windows(2).all(|w| w[0].at <= w[1].at));
        let pods = t
            .iter()
            .filter(|e| matches!(e.event, Event::CreatePod { .. }))
            .count();
        assert_eq!(pods, (360 - 30) / 10 + 1);
    }
}
