//! The executor: carries out a plan through `Control`, step by step, with the
//! safety rules enforced here rather than left to the operator, every step timed
//! and written to the audit log, and a failure leaving the node cordoned.

use std::time::Duration;

use kubestall_node::{
    ActiveState, Control, NodeError, PodPhase, Schedstat, Signal, Timestamp, Unit, klog::KlogLine,
    orphaned_shims, own_shims,
};
use serde::Serialize;

use crate::audit::{AuditError, AuditLog, Event, Progress, Record};
use crate::lock::{Held, Locks};
use crate::plan::{Plan, PlannedStep, ProcedureId, Step};
use crate::render::{RenderOptions, render_step};

/// The rules the executor enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyPolicy {
    /// Schedulable nodes that must remain after a cordon; `None`: all but one.
    pub min_schedulable: Option<usize>,
    /// Allow the nuclear option: asked for directly, or as escalation of a PLEG stall.
    pub allow_nuclear: bool,
    /// How often waits look again.
    pub poll: Duration,
}

impl Default for SafetyPolicy {
    fn default() -> Self {
        SafetyPolicy {
            min_schedulable: None,
            allow_nuclear: false,
            poll: Duration::from_secs(1),
        }
    }
}

/// Why a remediation stopped.
#[derive(Debug, thiserror::Error)]
pub enum RemediationError {
    /// A safety rule refused a step. Nothing of the step was done.
    #[error("refused at step {step} ({kind}): {rule}\n  what to do: {todo}")]
    Refused {
        /// The step's number (1-based).
        step: usize,
        /// Its kind.
        kind: String,
        /// The rule and why it applies.
        rule: String,
        /// What the operator can do.
        todo: String,
    },
    /// A step failed or timed out. The node is left as it is (cordoned if it was).
    #[error(
        "step {step} ({kind}) failed: {reason}\n  the node is left cordoned (safe).\n  by hand: {command}\n  or resume: kubestall remediate --resume <audit log> --execute"
    )]
    StepFailed {
        /// The step's number (1-based).
        step: usize,
        /// Its kind.
        kind: String,
        /// What went wrong.
        reason: String,
        /// The step as commands, to do it by hand.
        command: String,
    },
    /// The backend is not on the node the plan is for. Nothing was done.
    #[error(
        "refused: the plan is for {asked}, but this backend reaches {found}; nothing was done\n  what to do: {todo}"
    )]
    WrongNode {
        /// The node the plan is for.
        asked: String,
        /// Who the machine says it is.
        found: String,
        /// How to reach the right node.
        todo: String,
    },
    /// Another remediation holds the node.
    #[error(transparent)]
    Locked(#[from] Held),
    /// The audit log could not be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The log holds nothing to resume.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// Stopped on purpose after a step (crash tests).
    #[error("halted after step {0}")]
    Halted(usize),
}

/// One step as it was carried out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepOutcome {
    /// Position (1-based) across steps and escalation.
    pub number: usize,
    /// The step.
    pub step: Step,
    /// Start, on the node's clock.
    pub started: Timestamp,
    /// End.
    pub ended: Timestamp,
    /// What it found or did.
    pub detail: String,
}

/// A procedure carried out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// The procedure.
    pub procedure: ProcedureId,
    /// Each step, in order.
    pub steps: Vec<StepOutcome>,
    /// Whether the nuclear option was used as escalation.
    pub escalated: bool,
}

/// Carries out plans.
pub struct Executor {
    /// The rules.
    pub policy: SafetyPolicy,
    /// Where the per-node lock lives.
    pub locks: Locks,
    /// The cluster's name in lock keys (its kubectl context).
    pub cluster: String,
    /// Stop after this step (1-based), as if the process died: for crash tests.
    pub halt_after: Option<usize>,
}

impl Executor {
    /// An executor with `policy`, `locks`, for cluster `cluster`.
    pub fn new(policy: SafetyPolicy, locks: Locks, cluster: impl Into<String>) -> Self {
        Executor {
            policy,
            locks,
            cluster: cluster.into(),
            halt_after: None,
        }
    }

    /// Carries out `plan` on `node`, recording to `audit`.
    pub async fn execute<C: Control>(
        &self,
        node: &C,
        plan: &Plan,
        audit: &mut AuditLog,
    ) -> Result<Outcome, RemediationError> {
        if plan.procedure == ProcedureId::Nuclear && !self.policy.allow_nuclear {
            return Err(RemediationError::Refused {
                step: 1,
                kind: "nuclear".into(),
                rule: "the nuclear option kills every shim and disrupts every pod on the node; it runs only when allowed".into(),
                todo: "pass --allow-nuclear if this is what you want".into(),
            });
        }
        audit.record(Record {
            at: node.now(),
            node: plan.node.clone(),
            event: Event::Plan,
            step: None,
            kind: None,
            detail: format!("procedure {}", plan.procedure),
            plan: Some(plan.clone()),
        })?;
        self.run(node, plan, audit, 0, None).await
    }

    /// Continues the remediation recorded in `records` after its last completed
    /// step, over the same step list the interrupted run was carrying out
    /// (escalation included).
    pub async fn resume<C: Control>(
        &self,
        node: &C,
        records: &[crate::audit::Record],
        audit: &mut AuditLog,
    ) -> Result<Outcome, RemediationError> {
        let progress = Progress::of(records).map_err(RemediationError::Resume)?;
        if &progress.plan.node != node.node_name() {
            return Err(RemediationError::Resume(format!(
                "the log is for {}, not {}",
                progress.plan.node,
                node.node_name()
            )));
        }
        if progress.finished {
            return Ok(Outcome {
                procedure: progress.plan.procedure,
                steps: Vec::new(),
                escalated: progress.escalated_at.is_some(),
            });
        }
        self.run(
            node,
            &progress.plan,
            audit,
            progress.done,
            progress.escalated_at,
        )
        .await
    }

    /// Refuses unless the machine behind `node` is the plan's node.
    async fn check_identity<C: Control>(
        &self,
        node: &C,
        plan: &Plan,
    ) -> Result<(), RemediationError> {
        let refuse = |found: String| RemediationError::WrongNode {
            asked: plan.node.to_string(),
            found,
            todo: format!(
                "run kubestall on {} itself, or reach it with a backend that goes there (`--backend ssh`, once it exists)",
                plan.node
            ),
        };
        let id = node
            .identity()
            .await
            .map_err(|e| refuse(format!("a machine whose identity could not be read ({e})")))?;
        if id.is(&plan.node) {
            Ok(())
        } else {
            Err(refuse(id.describe()))
        }
    }

    async fn run<C: Control>(
        &self,
        node: &C,
        plan: &Plan,
        audit: &mut AuditLog,
        from: usize,
        escalated_at: Option<usize>,
    ) -> Result<Outcome, RemediationError> {
        self.check_identity(node, plan).await?;
        let _guard = self
            .locks
            .acquire(&format!("{}-{}", self.cluster, plan.node))?;
        let mut outcome = Outcome {
            procedure: plan.procedure,
            steps: Vec::new(),
            escalated: escalated_at.is_some(),
        };
        let mut steps: Vec<&PlannedStep> = plan.executed_steps(escalated_at);
        let mut i = from;
        while i < steps.len() {
            let s = steps[i];
            let number = i + 1;
            let started = node.now();
            audit.record(rec(
                node.now(),
                plan,
                Event::Start,
                number,
                &s.step,
                String::new(),
            ))?;
            match self.step(node, plan, number, s).await {
                Ok(detail) => {
                    audit.record(rec(
                        node.now(),
                        plan,
                        Event::Done,
                        number,
                        &s.step,
                        detail.clone(),
                    ))?;
                    outcome.steps.push(StepOutcome {
                        number,
                        step: s.step.clone(),
                        started,
                        ended: node.now(),
                        detail,
                    });
                }
                Err(StepError::Refused(rule, todo)) => {
                    audit.record(rec(
                        node.now(),
                        plan,
                        Event::Failed,
                        number,
                        &s.step,
                        format!("refused: {rule}"),
                    ))?;
                    return Err(RemediationError::Refused {
                        step: number,
                        kind: kind(&s.step),
                        rule,
                        todo,
                    });
                }
                Err(StepError::Failed(reason)) => {
                    audit.record(rec(
                        node.now(),
                        plan,
                        Event::Failed,
                        number,
                        &s.step,
                        reason.clone(),
                    ))?;
                    let persists = matches!(
                        s.step,
                        Step::WaitKubeliteLogs | Step::WaitReady | Step::WaitPodsRunning
                    );
                    if persists && !outcome.escalated && !plan.escalation.is_empty() {
                        if !self.policy.allow_nuclear {
                            return Err(RemediationError::StepFailed {
                                step: number,
                                kind: kind(&s.step),
                                reason: format!(
                                    "{reason}; the stall persists. The runbook's next step is the nuclear option, which kubestall runs only with --allow-nuclear"
                                ),
                                command: render_step(s, plan, &RenderOptions::default())
                                    .trim_end()
                                    .to_string(),
                            });
                        }
                        audit.record(Record {
                            at: node.now(),
                            node: plan.node.clone(),
                            event: Event::Escalate,
                            step: Some(number),
                            kind: None,
                            detail: format!("{reason}: escalating to the nuclear option"),
                            plan: None,
                        })?;
                        outcome.escalated = true;
                        // The remaining ordinary steps are replaced by the nuclear option.
                        steps = plan.executed_steps(Some(number));
                        i += 1;
                        continue;
                    }
                    return Err(RemediationError::StepFailed {
                        step: number,
                        kind: kind(&s.step),
                        reason,
                        command: render_step(s, plan, &RenderOptions::default())
                            .trim_end()
                            .to_string(),
                    });
                }
            }
            if self.halt_after == Some(number) {
                return Err(RemediationError::Halted(number));
            }
            i += 1;
        }
        audit.record(Record {
            at: node.now(),
            node: plan.node.clone(),
            event: Event::Finished,
            step: None,
            kind: None,
            detail: String::new(),
            plan: None,
        })?;
        Ok(outcome)
    }

    async fn step<C: Control>(
        &self,
        node: &C,
        plan: &Plan,
        number: usize,
        s: &PlannedStep,
    ) -> Result<String, StepError> {
        let deadline = node.now().add(s.timeout);
        let fail = |e: NodeError| StepError::Failed(e.to_string());
        if s.needs_cordon {
            let v = node.node().await.map_err(fail)?;
            if !v.unschedulable {
                return Err(StepError::Refused(
                    format!(
                        "step {number} ({}) of the {} procedure runs only on a cordoned node, and {} is schedulable: pods bound while it runs would hit the watch stall",
                        kind(&s.step),
                        plan.procedure,
                        plan.node
                    ),
                    format!(
                        "cordon first: kubectl --context {} cordon {}",
                        self.cluster, plan.node
                    ),
                ));
            }
        }
        match &s.step {
            Step::Cordon => self.cordon(node).await,
            Step::Uncordon => self.uncordon(node).await,
            Step::Restart { unit } | Step::Start { unit } => {
                let started = node.now();
                if matches!(s.step, Step::Restart { .. }) {
                    node.restart(unit).await.map_err(fail)?;
                } else {
                    let st = node.service(unit).await.map_err(fail)?;
                    if st.active == ActiveState::Active {
                        return Ok(format!("{unit} already active"));
                    }
                    node.start(unit).await.map_err(fail)?;
                }
                let st = node.service(unit).await.map_err(fail)?;
                Ok(format!(
                    "{unit} {} at {} (pid {})",
                    if matches!(s.step, Step::Restart { .. }) {
                        "restarted"
                    } else {
                        "started"
                    },
                    started.rfc3339(),
                    st.main_pid.map(|p| p.0).unwrap_or(0)
                ))
            }
            Step::Stop { unit } => {
                node.stop(unit).await.map_err(fail)?;
                Ok(format!("{unit} stopped"))
            }
            Step::VerifyActive { unit } => loop {
                let st = node.service(unit).await.map_err(fail)?;
                if st.active == ActiveState::Active {
                    return Ok(format!("{unit} is active"));
                }
                if node.now() >= deadline {
                    return Err(StepError::Failed(format!(
                        "{unit} is {}",
                        st.active.as_str()
                    )));
                }
                node.sleep(self.policy.poll).await;
            },
            Step::KillOrphanedShims => kill_orphans(node).await,
            Step::KillAllShims => {
                let rt = node.kubelet_runtime();
                let shims = node.shims().await.map_err(fail)?;
                let own: Vec<_> = own_shims(&shims, &rt).collect();
                let mut killed = 0;
                for s in &own {
                    match node.kill(s.pid, Signal::Kill).await {
                        Ok(()) => killed += 1,
                        Err(NodeError::NoSuchProcess(_)) => {}
                        Err(e) => return Err(fail(e)),
                    }
                }
                Ok(format!(
                    "killed {killed} shims of {} in {}; left {} other shims alone",
                    rt.address,
                    rt.namespace,
                    shims.len() - own.len()
                ))
            }
            Step::KillLockOrphans { app } => kill_lock_orphans(node, app).await,
            Step::PostIncidentCheck { apps } => {
                let mut found = Vec::new();
                for app in apps {
                    let procs = node.processes(app).await.map_err(fail)?;
                    if procs.len() > 1 {
                        found.push(format!("{} instances of {app} (pids {}): run `kubestall remediate --node {} --procedure orphan-lock-holder`", procs.len(), procs.iter().map(|p| p.pid.to_string()).collect::<Vec<_>>().join(", "), plan.node));
                    }
                }
                Ok(if found.is_empty() {
                    "no duplicate lock-using services".into()
                } else {
                    found.join("; ")
                })
            }
            Step::WaitReady => loop {
                let v = node.node().await.map_err(fail)?;
                let svc = node.service(&Unit::Kubelite).await.map_err(fail)?;
                if v.ready && svc.active == ActiveState::Active {
                    return Ok("node Ready".into());
                }
                if node.now() >= deadline {
                    return Err(StepError::Failed(format!(
                        "node not Ready after {:?} ({})",
                        s.timeout,
                        v.ready_message.unwrap_or_default()
                    )));
                }
                node.sleep(self.policy.poll).await;
            },
            Step::WaitPodsRunning => loop {
                let pods = node.pods().await.map_err(fail)?;
                let waiting: Vec<String> = pods
                    .iter()
                    .filter(|p| p.phase == PodPhase::Pending)
                    .map(|p| p.pod.to_string())
                    .collect();
                if waiting.is_empty() {
                    return Ok(format!("all {} pods on the node Running", pods.len()));
                }
                if node.now() >= deadline {
                    return Err(StepError::Failed(format!(
                        "{} pods still Pending after {:?}: {}",
                        waiting.len(),
                        s.timeout,
                        waiting
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                node.sleep(self.policy.poll).await;
            },
            Step::WaitKubeliteLogs => self.wait_kubelite_work(node, deadline).await,
            Step::Pause { secs } => {
                node.sleep(Duration::from_secs(*secs)).await;
                Ok(format!("waited {secs} s"))
            }
        }
    }

    /// The cordon budget: never leave fewer schedulable nodes than the minimum.
    async fn cordon<C: Control>(&self, node: &C) -> Result<String, StepError> {
        let fail = |e: NodeError| StepError::Failed(e.to_string());
        let nodes = node.nodes().await.map_err(fail)?;
        let me = nodes.iter().find(|n| &n.name == node.node_name());
        if me.is_some_and(|n| n.unschedulable) {
            return Ok("already cordoned".into());
        }
        let schedulable = nodes.iter().filter(|n| !n.unschedulable).count();
        let min = self
            .policy
            .min_schedulable
            .unwrap_or(nodes.len().saturating_sub(1));
        if schedulable.saturating_sub(1) < min {
            let cordoned: Vec<String> = nodes
                .iter()
                .filter(|n| n.unschedulable)
                .map(|n| n.name.to_string())
                .collect();
            return Err(StepError::Refused(
                format!(
                    "cordoning {} would leave {} schedulable node(s) of {}, below the minimum of {min} (already cordoned: {})",
                    node.node_name(),
                    schedulable.saturating_sub(1),
                    nodes.len(),
                    if cordoned.is_empty() { "none".into() } else { cordoned.join(", ") }
                ),
                "finish the other node's remediation and uncordon it first, or lower the minimum with --min-schedulable".into(),
            ));
        }
        node.cordon().await.map_err(fail)?;
        Ok(format!(
            "cordoned; {} of {} nodes stay schedulable",
            schedulable - 1,
            nodes.len()
        ))
    }

    /// Uncordons only a node that can take pods: kubelite active and the node Ready.
    /// Anything else (a resume that lost its place, a stopped kubelite) would send
    /// pods to a node that never runs them.
    async fn uncordon<C: Control>(&self, node: &C) -> Result<String, StepError> {
        let fail = |e: NodeError| StepError::Failed(e.to_string());
        let svc = node.service(&Unit::Kubelite).await.map_err(fail)?;
        let v = node.node().await.map_err(fail)?;
        if svc.active != ActiveState::Active || !v.ready {
            return Err(StepError::Refused(
                format!(
                    "{} is not ready for pods (kubelite {}, node {}); it stays cordoned",
                    node.node_name(),
                    svc.active.as_str(),
                    if v.ready { "Ready" } else { "NotReady" }
                ),
                "find out why kubelite is not running, then uncordon by hand or resume".into(),
            ));
        }
        node.uncordon().await.map_err(fail)?;
        Ok("uncordoned".into())
    }

    /// kubelite works after its restart: a line that is not a startup line or a
    /// PLEG complaint, or CPU used across two samples.
    async fn wait_kubelite_work<C: Control>(
        &self,
        node: &C,
        deadline: Timestamp,
    ) -> Result<String, StepError> {
        let fail = |e: NodeError| StepError::Failed(e.to_string());
        let since = node
            .service(&Unit::Kubelite)
            .await
            .map_err(fail)?
            .started_at
            .unwrap_or_else(|| node.now());
        let mut first: Option<(Timestamp, Schedstat)> = None;
        loop {
            let entries = node.journal(&Unit::Kubelite, since).await.map_err(fail)?;
            let registered = entries
                .iter()
                .position(|e| e.message.contains("Successfully registered node"));
            if let Some(r) = registered {
                let work = entries[r + 1..].iter().find(|e| {
                    !e.message.contains("Skipping pod synchronization")
                        && !e.message.contains("imagefs label")
                        && KlogLine::parse(&e.message).is_some()
                });
                if let Some(w) = work {
                    return Ok(format!(
                        "kubelite logs again: {}",
                        truncate(&w.message, 160)
                    ));
                }
                if let Some(pid) = node.service(&Unit::Kubelite).await.map_err(fail)?.main_pid
                    && let Ok(s) = node.schedstat(pid).await
                {
                    match first {
                        None => first = Some((node.now(), s)),
                        Some((t0, s0))
                            if s != s0 && node.now().since(t0) >= Duration::from_secs(3) =>
                        {
                            return Ok(format!("kubelite uses CPU again (schedstat {s0} -> {s})"));
                        }
                        _ => {}
                    }
                }
            }
            if node.now() >= deadline {
                return Err(StepError::Failed("kubelite wrote nothing but its startup lines and used no CPU within 30 s of its restart".into()));
            }
            node.sleep(self.policy.poll).await;
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

enum StepError {
    Refused(String, String),
    Failed(String),
}

fn kind(s: &Step) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_default()
}

fn rec(
    at: Timestamp,
    plan: &Plan,
    event: Event,
    number: usize,
    step: &Step,
    detail: String,
) -> Record {
    Record {
        at,
        node: plan.node.clone(),
        event,
        step: Some(number),
        kind: Some(kind(step)),
        detail,
        plan: None,
    }
}

/// Kills exactly the node's shims (its containerd's, in `k8s.io`) whose container
/// id no task has, re-checking the task list right before the kills. Without a
/// task list, or with an empty one while the node has shims, it kills nothing: an
/// empty answer from a confused containerd would make every shim an orphan.
async fn kill_orphans<C: Control>(node: &C) -> Result<String, StepError> {
    let rt = node.kubelet_runtime();
    let tasks = node.tasks().await.map_err(|e| {
        StepError::Refused(
            format!("cannot list containerd tasks ({e}); refusing to kill shims without knowing which are live"),
            "check that containerd answers (`systemctl is-active snap.microk8s.daemon-containerd`), or use the nuclear option with --allow-nuclear".into(),
        )
    })?;
    let shims = node
        .shims()
        .await
        .map_err(|e| StepError::Failed(e.to_string()))?;
    let own = own_shims(&shims, &rt).count();
    if tasks.is_empty() && own > 0 {
        return Err(StepError::Refused(
            format!(
                "containerd at {} lists no task in {} while {own} of its shims run; refusing to call every shim an orphan",
                rt.address, rt.namespace
            ),
            format!(
                "look by hand: `ctr --address {} -n {} tasks list` and `pgrep -a containerd-shim`; the nuclear option (--allow-nuclear) stops kubelite before killing every shim",
                rt.address, rt.namespace
            ),
        ));
    }
    let orphans: Vec<_> = orphaned_shims(&shims, &tasks, &rt).cloned().collect();
    if orphans.is_empty() {
        return Ok(format!(
            "no orphaned shims ({own} shims of the node's containerd, {} tasks; {} other shims left alone)",
            tasks.len(),
            shims.len() - own
        ));
    }
    // Right before killing: a task may have appeared since.
    let fresh = node
        .tasks()
        .await
        .map_err(|e| StepError::Failed(format!("cannot re-list tasks before killing: {e}")))?;
    let mut killed = Vec::new();
    for s in orphans {
        if fresh.iter().any(|t| t.id == s.container_id) {
            continue;
        }
        match node.kill(s.pid, Signal::Kill).await {
            Ok(()) | Err(NodeError::NoSuchProcess(_)) => {
                killed.push(format!("{} ({})", s.pid, s.container_id.short()))
            }
            Err(e) => return Err(StepError::Failed(e.to_string())),
        }
    }
    Ok(format!(
        "killed {} orphaned shims: {}; {} other shims left alone",
        killed.len(),
        killed.join(", "),
        shims.len() - own
    ))
}

/// Kills the older instances of `app` whose `/run/<app>/` is empty while the
/// newest has its socket; nothing else.
async fn kill_lock_orphans<C: Control>(node: &C, app: &str) -> Result<String, StepError> {
    let fail = |e: NodeError| StepError::Failed(e.to_string());
    let mut procs = node.processes(app).await.map_err(fail)?;
    if procs.len() < 2 {
        return Ok(format!("{} instance(s) of {app}: no orphan", procs.len()));
    }
    procs.sort_by_key(|p| p.started_at);
    let Some(newest) = procs.pop() else {
        return Ok(String::new());
    };
    let newest_dir = node.run_dir(newest.pid, app).await.map_err(fail)?;
    if newest_dir.is_empty() {
        return Err(StepError::Failed(format!(
            "the newest {app} (pid {}) has no socket in /run/{app}/ either: cannot tell the orphan; look by hand",
            newest.pid
        )));
    }
    let mut killed = Vec::new();
    for p in procs {
        match node.run_dir(p.pid, app).await {
            Ok(d) if d.is_empty() => match node.kill(p.pid, Signal::Term).await {
                Ok(()) | Err(NodeError::NoSuchProcess(_)) => killed.push(p.pid.to_string()),
                Err(e) => return Err(fail(e)),
            },
            _ => {}
        }
    }
    Ok(format!(
        "killed orphaned {app} pid(s) {}; pid {} keeps the lock",
        killed.join(", "),
        newest.pid
    ))
}
