//! The simulator backend: a scenario's cluster as a `kubestall-sim` model.
//! Workload and faults are queued in the model's own event queue, so they keep
//! happening, to the microsecond, while the runner observes and remediates.

use std::time::Duration;

use kubestall_node::{PodView, Unit};
use kubestall_sim::{Action, Sim, SimConfig, SimNode, SimNodeConfig};

use crate::backend::{Backend, BackendError, Event, Leftovers, Timed};
use crate::scenario::{FaultSpec, Scenario};

/// Runs scenarios on the simulator.
#[derive(Default)]
pub struct SimBackend {
    sim: Option<Sim>,
    startup: Duration,
}

impl SimBackend {
    /// A backend with no cluster yet.
    pub fn new() -> Self {
        SimBackend::default()
    }

    /// The running simulation, once `up`.
    pub fn sim(&self) -> Option<&Sim> {
        self.sim.as_ref()
    }
}

impl Backend for SimBackend {
    type Node = SimNode;

    fn name(&self) -> &'static str {
        "sim"
    }

    async fn up(&mut self, s: &Scenario, seed: u64) -> Result<Vec<SimNode>, BackendError> {
        let c = &s.cluster;
        let nodes = c
            .nodes
            .iter()
            .map(|n| SimNodeConfig {
                name: n.clone(),
                microk8s: c.microk8s.clone(),
                containerd: c.containerd.clone(),
                pleg: c.pleg(),
                kubelite_startup: c.kubelite_startup.0,
                pod_start: c.pod_start.0,
                initial_pods: c.pods_per_node,
            })
            .collect();
        let sim = Sim::new(SimConfig::new(seed, nodes))
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        let nodes = sim.nodes();
        self.startup = c.kubelite_startup.0;
        self.sim = Some(sim);
        Ok(nodes)
    }

    async fn start(&mut self, events: Vec<Timed>) -> Result<(), BackendError> {
        let sim = self
            .sim
            .as_ref()
            .ok_or_else(|| BackendError::Failed("start before up".into()))?;
        let t0 = sim.now();
        // The runbook's cordoned restart: cordon, restart, uncordon once the node is
        // Ready again (kubelite's startup, plus the time `kubectl wait` takes to see it).
        let settle = self.startup + Duration::from_secs(15);
        for Timed { at, event } in events {
            let t = t0.add(at);
            match event {
                Event::CreatePod { pod, node } => sim.schedule(
                    t,
                    Action::CreatePod {
                        namespace: pod.namespace,
                        name: pod.name,
                        node: Some(node),
                    },
                ),
                Event::Fault(f) => match f {
                    FaultSpec::UpgradeContainerd {
                        node,
                        version,
                        microk8s,
                        ..
                    } => sim.schedule(
                        t,
                        Action::UpgradeContainerd {
                            node,
                            version,
                            microk8s,
                        },
                    ),
                    FaultSpec::RestartKubelite { node, cordon, .. } => {
                        if cordon {
                            sim.schedule(t, Action::Cordon { node: node.clone() });
                        }
                        sim.schedule(
                            t,
                            Action::RestartUnit {
                                node: node.clone(),
                                unit: Unit::Kubelite,
                            },
                        );
                        if cordon {
                            sim.schedule(t.add(settle), Action::Uncordon { node });
                        }
                    }
                    FaultSpec::RestartStorm {
                        node,
                        restarts,
                        interval,
                        cordon,
                        ..
                    } => {
                        if cordon {
                            sim.schedule(t, Action::Cordon { node: node.clone() });
                        }
                        for i in 0..restarts {
                            sim.schedule(
                                t.add(interval.0 * i),
                                Action::RestartUnit {
                                    node: node.clone(),
                                    unit: Unit::Kubelite,
                                },
                            );
                        }
                        if cordon {
                            let end = t.add(interval.0 * restarts.saturating_sub(1)).add(settle);
                            sim.schedule(end, Action::Uncordon { node });
                        }
                    }
                    FaultSpec::OrphanShims {
                        node,
                        count,
                        shared,
                        ..
                    } => sim.schedule(
                        t,
                        Action::LeaveOrphanShims {
                            node,
                            count,
                            shared,
                        },
                    ),
                    FaultSpec::RestartK8sDqlite { node, .. } => sim.schedule(
                        t,
                        Action::RestartUnit {
                            node,
                            unit: Unit::K8sDqlite,
                        },
                    ),
                    FaultSpec::FreezeContainerd { node, .. } => {
                        sim.schedule(t, Action::FreezeContainerd { node })
                    }
                    FaultSpec::LockService {
                        node, app, lock, ..
                    } => sim.schedule(t, Action::StartLockService { node, app, lock }),
                },
            }
        }
        Ok(())
    }

    async fn all_pods(&self) -> Result<Vec<PodView>, BackendError> {
        Ok(self.sim.as_ref().map(Sim::pods).unwrap_or_default())
    }

    async fn down(&mut self) -> Result<Leftovers, BackendError> {
        // Nothing outside this process: dropping the model is the whole teardown.
        // A scheduled fault or workload event the model refused is reported here,
        // at the end of the run, rather than lost.
        let rejected = self.sim.take().map(|s| s.rejected()).unwrap_or_default();
        if rejected.is_empty() {
            Ok(Leftovers::default())
        } else {
            Err(BackendError::Failed(format!(
                "the model refused {} scheduled action(s): {}",
                rejected.len(),
                rejected
                    .iter()
                    .map(|(at, what)| format!("{what} (at {})", at.rfc3339()))
                    .collect::<Vec<_>>()
                    .join("; ")
            )))
        }
    }
}
