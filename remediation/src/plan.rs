//! Procedures as data: the runbook's fixes, each a list of steps.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use kubestall_node::{FailureMode, NodeName, Unit};
use serde::{Deserialize, Serialize};

/// A procedure: named after the failure mode it fixes, or `nuclear`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcedureId {
    /// The fix of a failure mode.
    Fix(FailureMode),
    /// Stop kubelite, kill every shim, restart k8s-dqlite, start kubelite.
    Nuclear,
}

impl ProcedureId {
    /// `imagefs-stall`, ..., `nuclear`.
    pub fn id(self) -> &'static str {
        match self {
            ProcedureId::Fix(m) => m.id(),
            ProcedureId::Nuclear => "nuclear",
        }
    }
}

impl FromStr for ProcedureId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "nuclear" {
            return Ok(ProcedureId::Nuclear);
        }
        s.parse::<FailureMode>()
            .map(ProcedureId::Fix)
            .map_err(|e| format!("{e}; or `nuclear`"))
    }
}

impl Serialize for ProcedureId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for ProcedureId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ProcedureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One step of a procedure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// `kubectl cordon`.
    Cordon,
    /// `kubectl uncordon`.
    Uncordon,
    /// `systemctl restart UNIT`.
    Restart {
        /// The unit.
        unit: Unit,
    },
    /// `systemctl stop UNIT`.
    Stop {
        /// The unit.
        unit: Unit,
    },
    /// `systemctl start UNIT`.
    Start {
        /// The unit.
        unit: Unit,
    },
    /// `systemctl is-active UNIT` must say active.
    VerifyActive {
        /// The unit.
        unit: Unit,
    },
    /// Kill the node's shims (its containerd's, in `k8s.io`) whose container id
    /// is exactly no task's id.
    KillOrphanedShims,
    /// Kill every shim of the node's containerd in `k8s.io` (the nuclear option);
    /// other runtimes' shims are never touched.
    KillAllShims,
    /// Kill the older instance of a lock-using service whose `/run/<app>/` is empty.
    KillLockOrphans {
        /// The service's process name.
        app: String,
    },
    /// Report lock-using services with more than one instance (after the nuclear option).
    PostIncidentCheck {
        /// The services' process names.
        apps: Vec<String>,
    },
    /// `kubectl wait node/N --for=condition=Ready`.
    WaitReady,
    /// Every pod bound to the node Running.
    WaitPodsRunning,
    /// kubelite writes log lines after its restart (runbook: within 30 s).
    WaitKubeliteLogs,
    /// Let time pass (the runbook's `sleep 10` after restarting k8s-dqlite).
    Pause {
        /// How long, in seconds.
        secs: u64,
    },
}

/// A step with its time limit and why it is there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// The step.
    pub step: Step,
    /// It fails if not done within this long.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Why, in the runbook's words.
    pub why: String,
    /// The step may run only on a cordoned node: the executor refuses it on a
    /// schedulable one (pods bound while kubelite or the runtime restarts hit the
    /// watch stall). Declared by each procedure, step by step.
    #[serde(default)]
    pub needs_cordon: bool,
}

impl PlannedStep {
    /// The same step, allowed only on a cordoned node.
    fn cordoned(mut self) -> Self {
        self.needs_cordon = true;
        self
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !(0.0..=1e7).contains(&v) {
            return Err(serde::de::Error::custom("timeout out of range"));
        }
        Ok(Duration::from_secs_f64(v))
    }
}

/// A procedure for one node: its steps in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The procedure.
    pub procedure: ProcedureId,
    /// The node.
    pub node: NodeName,
    /// The steps.
    pub steps: Vec<PlannedStep>,
    /// Steps appended if the stall persists after `steps` (the nuclear option),
    /// run only when the policy allows it.
    pub escalation: Vec<PlannedStep>,
}

impl Plan {
    /// The steps as they are carried out: the plan's steps, or, after an
    /// escalation at step `n` (1-based), the first `n` of them followed by the
    /// escalation. The live run and a resume both build their list here, so a
    /// resume replays exactly what the interrupted run was doing.
    pub fn executed_steps(&self, escalated_at: Option<usize>) -> Vec<&PlannedStep> {
        match escalated_at {
            None => self.steps.iter().collect(),
            Some(n) => self
                .steps
                .iter()
                .take(n)
                .chain(self.escalation.iter())
                .collect(),
        }
    }
}

/// What a plan is made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanContext {
    /// The node.
    pub node: NodeName,
    /// Whether kine errors (`retrying of unary invoker failed`) were seen: k8s-dqlite must be restarted.
    pub kine_errors: bool,
    /// An emergency restart for the imagefs stall, without the cordon the runbook
    /// asks for before a planned restart.
    pub emergency: bool,
    /// Lock-using services to check after the nuclear option (process names).
    pub lock_services: Vec<String>,
}

impl PlanContext {
    /// A context for `node` with the runbook's lock-using service, buildkitd.
    pub fn new(node: NodeName) -> Self {
        PlanContext {
            node,
            kine_errors: false,
            emergency: false,
            lock_services: vec!["buildkitd".into()],
        }
    }
}

fn step(step: Step, secs: u64, why: &str) -> PlannedStep {
    PlannedStep {
        step,
        timeout: Duration::from_secs(secs),
        why: why.to_string(),
        needs_cordon: false,
    }
}

/// The runbook's procedure `id` for the node in `ctx`.
pub fn plan_for(id: ProcedureId, ctx: &PlanContext) -> Plan {
    use FailureMode as M;
    let kubelite = || Unit::Kubelite;
    let mut steps = Vec::new();
    let mut escalation = Vec::new();
    match id {
        ProcedureId::Fix(M::ImagefsStall) => {
            if !ctx.emergency {
                steps.push(step(Step::Cordon, 30, "a planned restart is cordoned first, or pods scheduled during it hit the watch stall (Failure Mode 2)"));
            }
            let restart = step(
                Step::Restart { unit: kubelite() },
                60,
                "a kubelite restart clears the eviction manager's imagefs stall",
            );
            // An emergency restart is the operator's explicit choice to go uncordoned.
            steps.push(if ctx.emergency {
                restart
            } else {
                restart.cordoned()
            });
            steps.push(step(Step::WaitReady, 120, "the node returns to Ready"));
            if !ctx.emergency {
                steps.push(step(
                    Step::WaitPodsRunning,
                    120,
                    "pods begin scheduling within about 60 seconds",
                ));
                steps.push(step(Step::Uncordon, 30, "uncordon once pods are healthy"));
            }
        }
        ProcedureId::Fix(M::WatchStall) => {
            steps.push(step(
                Step::Cordon,
                30,
                "no pod may be bound between the restart and the kubelet's initial LIST",
            ));
            steps.push(
                step(
                    Step::Restart { unit: kubelite() },
                    60,
                    "the new kubelet LISTs the pre-assigned pods",
                )
                .cordoned(),
            );
            steps.push(step(
                Step::WaitReady,
                120,
                "kubectl wait node/<node> --for=condition=Ready --timeout=120s",
            ));
            steps.push(step(
                Step::WaitPodsRunning,
                180,
                "pre-assigned pods (spec.nodeName set) transition to Running",
            ));
            steps.push(step(Step::Uncordon, 30, "uncordon once pods are healthy"));
        }
        ProcedureId::Fix(M::PlegStall | M::KineExhaustion) => {
            steps.push(step(
                Step::Cordon,
                30,
                "cordon the node first if not already cordoned",
            ));
            steps.push(
                step(
                    Step::KillOrphanedShims,
                    60,
                    "shims without a running task hang the first relist",
                )
                .cordoned(),
            );
            if ctx.kine_errors || id == ProcedureId::Fix(M::KineExhaustion) {
                steps.push(
                    step(
                        Step::Restart {
                            unit: Unit::K8sDqlite,
                        },
                        60,
                        "kine connection errors: k8s-dqlite is not restarted with kubelite",
                    )
                    .cordoned(),
                );
                steps.push(step(Step::Pause { secs: 10 }, 15, "sleep 10"));
                steps.push(step(
                    Step::VerifyActive {
                        unit: Unit::K8sDqlite,
                    },
                    30,
                    "verify kine is up",
                ));
            }
            steps.push(
                step(
                    Step::Restart { unit: kubelite() },
                    60,
                    "a fresh kubelet relists without the orphans",
                )
                .cordoned(),
            );
            steps.push(step(
                Step::WaitKubeliteLogs,
                30,
                "the kubelet should produce logs within 30 seconds of restart",
            ));
            steps.push(step(Step::WaitReady, 120, "the node returns to Ready"));
            steps.push(step(
                Step::WaitPodsRunning,
                180,
                "pods on the node run again",
            ));
            steps.push(step(Step::Uncordon, 30, "uncordon once healthy"));
            escalation = nuclear_steps(ctx);
        }
        ProcedureId::Fix(M::ContainerdFreeze) => {
            steps.push(step(
                Step::Cordon,
                30,
                "no new pods while the runtime restarts",
            ));
            steps.push(
                step(
                    Step::Restart {
                        unit: Unit::Containerd,
                    },
                    60,
                    "containerd gRPC is frozen: restart containerd",
                )
                .cordoned(),
            );
            steps.push(step(
                Step::VerifyActive {
                    unit: Unit::Containerd,
                },
                30,
                "check containerd is running",
            ));
            steps.push(
                step(
                    Step::Restart { unit: kubelite() },
                    60,
                    "if restarting containerd, also restart kubelite after it recovers",
                )
                .cordoned(),
            );
            steps.push(step(Step::WaitReady, 120, "the node returns to Ready"));
            steps.push(step(
                Step::WaitPodsRunning,
                180,
                "pods on the node run again",
            ));
            steps.push(step(Step::Uncordon, 30, "uncordon once healthy"));
        }
        ProcedureId::Fix(M::OrphanLockHolder) => {
            for app in &ctx.lock_services {
                steps.push(step(Step::KillLockOrphans { app: app.clone() }, 30, "kill only the orphan: the new instance acquires the lock and completes startup"));
            }
        }
        ProcedureId::Nuclear => {
            steps.push(step(
                Step::Cordon,
                30,
                "the nuclear option disrupts every pod on the node",
            ));
            steps.extend(nuclear_steps(ctx));
        }
    }
    Plan {
        procedure: id,
        node: ctx.node.clone(),
        steps,
        escalation,
    }
}

fn nuclear_steps(ctx: &PlanContext) -> Vec<PlannedStep> {
    vec![
        step(
            Step::Stop {
                unit: Unit::Kubelite,
            },
            60,
            "stop kubelite FIRST, then kill ALL shims",
        )
        .cordoned(),
        step(
            Step::KillAllShims,
            60,
            "shim enumeration or hidden orphans keep the relist blocked",
        )
        .cordoned(),
        step(
            Step::Restart {
                unit: Unit::K8sDqlite,
            },
            60,
            "reset kine's connection state (the WAL and data are untouched)",
        )
        .cordoned(),
        step(Step::Pause { secs: 10 }, 15, "sleep 10"),
        step(
            Step::Start {
                unit: Unit::Kubelite,
            },
            60,
            "start kubelite on a clean slate",
        )
        .cordoned(),
        step(Step::WaitReady, 120, "the node returns to Ready"),
        step(
            Step::WaitPodsRunning,
            300,
            "StatefulSets, Deployments and DaemonSets recreate their pods",
        ),
        step(
            Step::PostIncidentCheck {
                apps: ctx.lock_services.clone(),
            },
            30,
            "orphaned application processes can survive and hold locks",
        ),
        step(Step::Uncordon, 30, "uncordon once healthy"),
    ]
}
