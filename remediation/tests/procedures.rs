//! The runbook's procedures, carried out on the simulator: each recovers its
//! mode within the runbook's limits over a sweep of seeds; the safety rules
//! refuse what they must; a crash after any step resumes to a healthy node.

mod common;

use std::time::Duration;

use common::{cluster, name, run, stuck};
use kubestall_node::{
    Clock, ContainerId, Control, FailureMode, NodeError, NodeName, NodeView, Observe, Pid, Pleg,
    Signal, Task, TaskStatus, Unit,
};
use kubestall_remediation::{
    AuditLog, Executor, Locks, PlanContext, ProcedureId, RemediationError, RenderOptions,
    SafetyPolicy, Step, audit, plan_for, render_dry_run,
};
use kubestall_sim::{Action, SimNode};

fn executor(allow_nuclear: bool) -> Executor {
    Executor::new(
        SafetyPolicy {
            allow_nuclear,
            ..SafetyPolicy::default()
        },
        Locks::memory(),
        "pvek8s",
    )
}

fn ctx(kine: bool) -> PlanContext {
    PlanContext {
        kine_errors: kine,
        ..PlanContext::new(name("k8s03"))
    }
}

/// Brings k8s03 into `mode` with plain faults, as the runbook describes them.
fn break_node(seed: u64, mode: FailureMode) -> SimNode {
    let pleg = if mode == FailureMode::ContainerdFreeze {
        Pleg::Evented
    } else {
        Pleg::Generic
    };
    let (sim, node) = cluster(seed, pleg, "1.7.27", Duration::from_secs(2));
    let k8s03 = name("k8s03");
    let at = |s: u64| sim.now().add(Duration::from_secs(s));
    match mode {
        FailureMode::ImagefsStall => sim.schedule(
            at(30),
            Action::UpgradeContainerd {
                node: k8s03,
                version: "2.1.3".into(),
                microk8s: "1.35".into(),
            },
        ),
        FailureMode::WatchStall => sim.schedule(
            at(30),
            Action::RestartUnit {
                node: k8s03,
                unit: Unit::Kubelite,
            },
        ),
        FailureMode::PlegStall => {
            sim.schedule(
                at(20),
                Action::LeaveOrphanShims {
                    node: k8s03.clone(),
                    count: 17,
                    shared: 0,
                },
            );
            sim.schedule(
                at(30),
                Action::Cordon {
                    node: k8s03.clone(),
                },
            );
            sim.schedule(
                at(30),
                Action::RestartUnit {
                    node: k8s03.clone(),
                    unit: Unit::Kubelite,
                },
            );
            sim.schedule(at(50), Action::Uncordon { node: k8s03 });
        }
        FailureMode::KineExhaustion => {
            sim.schedule(
                at(20),
                Action::Cordon {
                    node: k8s03.clone(),
                },
            );
            for i in 0..5 {
                sim.schedule(
                    at(30 + 30 * i),
                    Action::RestartUnit {
                        node: k8s03.clone(),
                        unit: Unit::Kubelite,
                    },
                );
            }
            sim.schedule(at(170), Action::Uncordon { node: k8s03 });
        }
        FailureMode::ContainerdFreeze => {
            sim.schedule(at(30), Action::FreezeContainerd { node: k8s03 })
        }
        FailureMode::OrphanLockHolder => {
            sim.schedule(
                at(5),
                Action::StartLockService {
                    node: k8s03.clone(),
                    app: "buildkitd".into(),
                    lock: "/var/lib/buildkit/buildkitd.lock".into(),
                },
            );
            sim.schedule(
                at(40),
                Action::StopUnit {
                    node: k8s03.clone(),
                    unit: Unit::Kubelite,
                },
            );
        }
    }
    run(node.sleep(Duration::from_secs(240)));
    if mode == FailureMode::OrphanLockHolder {
        // The nuclear option's kill of every shim leaves buildkitd running, orphaned.
        for s in run(node.shims()).expect("shims") {
            run(node.kill(s.pid, Signal::Kill)).expect("kill shim");
        }
        run(node.start(&Unit::Kubelite)).expect("start");
        run(node.sleep(Duration::from_secs(60)));
        assert_eq!(
            run(node.processes("buildkitd")).expect("pgrep").len(),
            2,
            "seed {seed}: lock holder set up"
        );
    } else if mode == FailureMode::KineExhaustion {
        let retries = run(node.journal(&Unit::Kubelite, node.now().sub(Duration::from_secs(60))))
            .expect("journal")
            .iter()
            .filter(|e| e.message.contains("retrying of unary invoker failed"))
            .count();
        assert!(retries > 10, "seed {seed}: kine corrupted");
    } else {
        assert!(stuck(&node) > 0, "seed {seed}: {mode} set up");
    }
    node
}

#[test]
fn each_procedure_recovers_its_mode_within_the_runbook_limits_across_seeds() {
    for mode in FailureMode::ALL {
        for seed in 1..=25 {
            let node = break_node(seed, mode);
            let plan = plan_for(
                ProcedureId::Fix(mode),
                &ctx(mode == FailureMode::KineExhaustion),
            );
            let mut log = AuditLog::memory();
            let start = node.now();
            let outcome = run(executor(false).execute(&node, &plan, &mut log))
                .unwrap_or_else(|e| panic!("{mode} seed {seed}: {e}"));
            let took = node.now().since(start);
            // Every step is timed on the node's clock.
            assert_eq!(outcome.steps.len(), plan.steps.len());
            assert!(outcome.steps.iter().all(|s| s.ended >= s.started));
            // The runbook: Ready within 120 s, pods within about 60 s more.
            assert!(
                took <= Duration::from_secs(180),
                "{mode} seed {seed} took {took:?}"
            );
            run(node.sleep(Duration::from_secs(20)));
            assert_eq!(stuck(&node), 0, "{mode} seed {seed}: pods run");
            assert!(
                !run(node.node()).expect("node").unschedulable,
                "{mode} seed {seed}: uncordoned"
            );
            if mode == FailureMode::OrphanLockHolder {
                assert_eq!(run(node.processes("buildkitd")).expect("pgrep").len(), 1);
            }
        }
    }
}

#[test]
fn a_persisting_pleg_stall_escalates_to_the_nuclear_option_only_when_allowed() {
    let plan = plan_for(ProcedureId::Fix(FailureMode::PlegStall), &ctx(false));
    let node = persisting_stall(false);
    let err = run(executor(false).execute(&node, &plan, &mut AuditLog::memory()))
        .expect_err("stall persists");
    assert!(err.to_string().contains("--allow-nuclear"), "{err}");
    assert!(
        run(node.node()).expect("node").unschedulable,
        "left cordoned"
    );

    let node = persisting_stall(false);
    let outcome =
        run(executor(true).execute(&node, &plan, &mut AuditLog::memory())).expect("escalates");
    assert!(outcome.escalated);
    assert!(outcome.steps.iter().any(|s| s.step == Step::KillAllShims));
    run(node.sleep(Duration::from_secs(30)));
    assert_eq!(stuck(&node), 0);
}

/// A PLEG stall (or kine exhaustion) that the ordinary fix cannot clear, so that
/// the procedure escalates to the nuclear option (shared shims hide 5 orphans).
fn persisting_stall(kine: bool) -> SimNode {
    let (sim, node) = cluster(3, Pleg::Generic, "2.1.3", Duration::from_secs(5));
    let k = name("k8s03");
    sim.apply(Action::LeaveOrphanShims {
        node: k.clone(),
        count: 12,
        shared: 5,
    })
    .expect("orphans");
    sim.apply(Action::Cordon { node: k.clone() })
        .expect("cordon");
    let restarts = if kine { 5 } else { 1 };
    for _ in 0..restarts {
        sim.apply(Action::RestartUnit {
            node: k.clone(),
            unit: Unit::Kubelite,
        })
        .expect("restart");
        run(node.sleep(Duration::from_secs(20)));
    }
    sim.apply(Action::Uncordon { node: k }).expect("uncordon");
    run(node.sleep(Duration::from_secs(60)));
    node
}

struct Case {
    what: &'static str,
    procedure: ProcedureId,
    kine: bool,
    escalates: bool,
    make: fn() -> SimNode,
}

#[test]
fn a_crash_after_any_step_of_any_procedure_resumes_to_a_healthy_uncordoned_node() {
    let cases = [
        Case {
            what: "imagefs-stall",
            procedure: ProcedureId::Fix(FailureMode::ImagefsStall),
            kine: false,
            escalates: false,
            make: || break_node(7, FailureMode::ImagefsStall),
        },
        Case {
            what: "watch-stall",
            procedure: ProcedureId::Fix(FailureMode::WatchStall),
            kine: false,
            escalates: false,
            make: || break_node(7, FailureMode::WatchStall),
        },
        Case {
            what: "pleg-stall",
            procedure: ProcedureId::Fix(FailureMode::PlegStall),
            kine: false,
            escalates: false,
            make: || break_node(7, FailureMode::PlegStall),
        },
        Case {
            what: "kine-exhaustion",
            procedure: ProcedureId::Fix(FailureMode::KineExhaustion),
            kine: true,
            escalates: false,
            make: || break_node(7, FailureMode::KineExhaustion),
        },
        Case {
            what: "containerd-freeze",
            procedure: ProcedureId::Fix(FailureMode::ContainerdFreeze),
            kine: false,
            escalates: false,
            make: || break_node(7, FailureMode::ContainerdFreeze),
        },
        Case {
            what: "orphan-lock-holder",
            procedure: ProcedureId::Fix(FailureMode::OrphanLockHolder),
            kine: false,
            escalates: false,
            make: || break_node(7, FailureMode::OrphanLockHolder),
        },
        Case {
            what: "nuclear",
            procedure: ProcedureId::Nuclear,
            kine: false,
            escalates: false,
            make: || break_node(7, FailureMode::PlegStall),
        },
        Case {
            what: "pleg-stall escalated",
            procedure: ProcedureId::Fix(FailureMode::PlegStall),
            kine: false,
            escalates: true,
            make: || persisting_stall(false),
        },
        Case {
            what: "kine-exhaustion escalated",
            procedure: ProcedureId::Fix(FailureMode::KineExhaustion),
            kine: true,
            escalates: true,
            make: || persisting_stall(true),
        },
    ];
    let policy = SafetyPolicy {
        allow_nuclear: true,
        ..SafetyPolicy::default()
    };
    for case in cases {
        let plan = plan_for(case.procedure, &ctx(case.kine));
        // The uninterrupted run: what a resumed one must end like, and how often
        // it started kubelite.
        let reference = (case.make)();
        let before = registrations(&reference);
        let outcome = run(
            Executor::new(policy.clone(), Locks::memory(), "pvek8s").execute(
                &reference,
                &plan,
                &mut AuditLog::memory(),
            ),
        )
        .unwrap_or_else(|e| panic!("{}: uninterrupted: {e}", case.what));
        assert_eq!(outcome.escalated, case.escalates, "{}", case.what);
        // Step numbers run over the executed list; an escalation's failed wait has none.
        let numbers: Vec<usize> = outcome.steps.iter().map(|s| s.number).collect();
        let steps = numbers.last().copied().unwrap_or(0);
        let starts = registrations(&reference) - before;
        for k in numbers {
            let node = (case.make)();
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("audit.jsonl");
            let locks = Locks::Files(dir.path().join("locks"));
            let mut first = Executor::new(policy.clone(), locks.clone(), "pvek8s");
            first.halt_after = Some(k);
            let mut log = AuditLog::append(&path).expect("log");
            let before = registrations(&node);
            match run(first.execute(&node, &plan, &mut log)) {
                Err(RemediationError::Halted(n)) => assert_eq!(n, k),
                Ok(_) if k == steps => {}
                other => panic!("{} step {k}: {other:?}", case.what),
            }
            // A new process reads the log and continues after the last completed step.
            let records = audit::read(&path).expect("read log");
            let second = Executor::new(policy.clone(), locks, "pvek8s");
            let mut log = AuditLog::append(&path).expect("log");
            let resumed = run(second.resume(&node, &records, &mut log))
                .unwrap_or_else(|e| panic!("{}: resume after step {k}: {e}", case.what));
            // The resumed run did exactly the steps the interrupted one had left.
            if k < steps {
                assert!(
                    resumed.steps.first().is_some_and(|s| s.number > k),
                    "{} after step {k}",
                    case.what
                );
                assert_eq!(
                    resumed.steps.last().map(|s| s.number),
                    Some(steps),
                    "{} after step {k}",
                    case.what
                );
                assert_eq!(
                    resumed.escalated, case.escalates,
                    "{} after step {k}",
                    case.what
                );
            }
            run(node.sleep(Duration::from_secs(20)));
            assert_eq!(stuck(&node), 0, "{}: after a crash at step {k}", case.what);
            let view = run(node.node()).expect("node");
            assert!(
                view.ready && !view.unschedulable,
                "{}: Ready and uncordoned after a crash at step {k}",
                case.what
            );
            assert_eq!(
                registrations(&node) - before,
                starts,
                "{}: kubelite started as often as without a crash (crash after step {k})",
                case.what
            );
        }
    }
}

fn registrations(node: &SimNode) -> usize {
    run(node.journal(&Unit::Kubelite, kubestall_node::Timestamp::EPOCH))
        .expect("journal")
        .iter()
        .filter(|e| e.message.contains("Successfully registered node"))
        .count()
}

#[test]
fn never_restarts_kubelite_on_a_schedulable_node_in_the_watch_stall_procedure() {
    let node = break_node(2, FailureMode::WatchStall);
    let mut plan = plan_for(ProcedureId::Fix(FailureMode::WatchStall), &ctx(false));
    plan.steps.retain(|s| s.step != Step::Cordon);
    let before = registrations(&node);
    let err =
        run(executor(false).execute(&node, &plan, &mut AuditLog::memory())).expect_err("refused");
    assert!(matches!(err, RemediationError::Refused { .. }), "{err}");
    assert!(
        err.to_string().contains("runs only on a cordoned node"),
        "{err}"
    );
    assert!(err.to_string().contains("cordon first"), "{err}");
    assert_eq!(registrations(&node), before, "nothing was restarted");
}

#[test]
fn the_nuclear_option_needs_an_explicit_allowance() {
    let node = break_node(2, FailureMode::PlegStall);
    let plan = plan_for(ProcedureId::Nuclear, &ctx(false));
    let shims = run(node.shims()).expect("shims").len();
    let err =
        run(executor(false).execute(&node, &plan, &mut AuditLog::memory())).expect_err("refused");
    assert!(err.to_string().contains("--allow-nuclear"), "{err}");
    assert_eq!(
        run(node.shims()).expect("shims").len(),
        shims,
        "no shim was killed"
    );
    run(executor(true).execute(&node, &plan, &mut AuditLog::memory())).expect("allowed");
}

#[test]
fn never_cordons_below_the_schedulable_minimum() {
    let node = break_node(2, FailureMode::WatchStall);
    let other = node.sim().node(&name("k8s01")).expect("k8s01");
    run(other.cordon()).expect("cordon k8s01");
    let plan = plan_for(ProcedureId::Fix(FailureMode::WatchStall), &ctx(false));
    let err =
        run(executor(false).execute(&node, &plan, &mut AuditLog::memory())).expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("would leave 1 schedulable node(s) of 3, below the minimum of 2")
            && msg.contains("k8s01"),
        "{msg}"
    );
    assert!(
        !run(node.node()).expect("node").unschedulable,
        "k8s03 was not cordoned"
    );
}

#[test]
fn one_remediation_per_node_at_a_time() {
    let node = break_node(2, FailureMode::WatchStall);
    let locks = Locks::memory();
    let _held = locks.acquire("pvek8s-k8s03").expect("first");
    let exec = Executor::new(SafetyPolicy::default(), locks, "pvek8s");
    let plan = plan_for(ProcedureId::Fix(FailureMode::WatchStall), &ctx(false));
    let err = run(exec.execute(&node, &plan, &mut AuditLog::memory())).expect_err("locked");
    assert!(err.to_string().contains("already running"), "{err}");
}

#[test]
fn a_lock_file_survives_the_process_and_a_dead_owner_is_taken_over() {
    let dir = std::env::temp_dir().join(format!("kubestall-locks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let locks = Locks::Files(dir.clone());
    let g = locks.acquire("pvek8s-k8s03").expect("take");
    assert!(
        locks.acquire("pvek8s-k8s03").is_err(),
        "held by this live process"
    );
    std::mem::forget(g); // as if the process had died without releasing it...
    std::fs::write(dir.join("pvek8s-k8s03.lock"), "4000000000\n")
        .expect("...owned by a pid that no longer exists");
    let g = locks
        .acquire("pvek8s-k8s03")
        .expect("a stale lock is taken over");
    drop(g);
    assert!(!dir.join("pvek8s-k8s03.lock").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_step_that_times_out_stops_and_leaves_the_node_cordoned() {
    let node = break_node(4, FailureMode::WatchStall);
    // k8s-dqlite down: the new kubelite can never register, so the node never comes back.
    run(node.stop(&Unit::K8sDqlite)).expect("stop dqlite");
    let plan = plan_for(ProcedureId::Fix(FailureMode::WatchStall), &ctx(false));
    let start = node.now();
    let err =
        run(executor(false).execute(&node, &plan, &mut AuditLog::memory())).expect_err("times out");
    let msg = err.to_string();
    assert!(
        msg.contains("step 3 (wait-ready) failed")
            && msg.contains("left cordoned")
            && msg.contains("kubectl --context pvek8s wait node/k8s03"),
        "{msg}"
    );
    assert!(
        node.now().since(start) >= Duration::from_secs(120)
            && node.now().since(start) < Duration::from_secs(130)
    );
    assert!(run(node.node()).expect("node").unschedulable);
}

#[test]
fn dry_runs_are_the_runbooks_commands() {
    for id in FailureMode::ALL
        .map(ProcedureId::Fix)
        .into_iter()
        .chain([ProcedureId::Nuclear])
    {
        let plan = plan_for(id, &ctx(false));
        insta::assert_snapshot!(
            format!("dry_run_{}", id.id()),
            render_dry_run(&plan, &RenderOptions::default())
        );
    }
    let plan = plan_for(ProcedureId::Fix(FailureMode::KineExhaustion), &ctx(true));
    insta::assert_snapshot!(
        "dry_run_kine_over_ssh",
        render_dry_run(
            &plan,
            &RenderOptions {
                ssh: true,
                ..RenderOptions::default()
            }
        )
    );
}

// ---- exact orphan matching, with a node whose shims and tasks are given ----

/// A shim as the test lays it out: pid, container id, namespace, containerd address.
#[derive(Clone, Debug)]
struct FakeShim {
    pid: u32,
    id: String,
    namespace: String,
    address: Option<String>,
}

/// The node's own shim: microk8s's containerd, namespace k8s.io.
fn own(pid: u32, id: &str) -> FakeShim {
    FakeShim {
        pid,
        id: id.into(),
        namespace: "k8s.io".into(),
        address: Some(kubestall_node::MICROK8S_CONTAINERD_SOCKET.into()),
    }
}

struct Fixed {
    name: NodeName,
    /// Who the machine says it is.
    hostname: String,
    shims: Vec<FakeShim>,
    /// `None`: the task list cannot be read.
    tasks: Option<Vec<String>>,
    unschedulable: bool,
    killed: std::sync::Mutex<Vec<u32>>,
    actions: std::sync::Mutex<Vec<String>>,
}

impl Fixed {
    fn new(shims: Vec<FakeShim>, tasks: Vec<String>) -> Self {
        Fixed {
            name: name("k8s03"),
            hostname: "k8s03".into(),
            shims,
            tasks: Some(tasks),
            unschedulable: true,
            killed: Default::default(),
            actions: Default::default(),
        }
    }
    fn did(&self, what: impl Into<String>) {
        self.actions.lock().expect("lock").push(what.into());
    }
}

impl Clock for Fixed {
    fn now(&self) -> kubestall_node::Timestamp {
        kubestall_node::Timestamp::EPOCH
    }
    async fn sleep(&self, _: Duration) {}
}

impl Observe for Fixed {
    fn node_name(&self) -> &NodeName {
        &self.name
    }
    fn kubelet_runtime(&self) -> kubestall_node::KubeletRuntime {
        kubestall_node::KubeletRuntime::microk8s()
    }
    async fn identity(&self) -> Result<kubestall_node::NodeIdentity, NodeError> {
        Ok(kubestall_node::NodeIdentity {
            hostname: Some(self.hostname.clone()),
            kubelet_node_name: None,
        })
    }
    async fn journal(
        &self,
        _: &Unit,
        _: kubestall_node::Timestamp,
    ) -> Result<Vec<kubestall_node::JournalEntry>, NodeError> {
        Ok(Vec::new())
    }
    async fn service(&self, _: &Unit) -> Result<kubestall_node::ServiceState, NodeError> {
        Err(NodeError::NotFound("service".into()))
    }
    async fn schedstat(&self, p: Pid) -> Result<kubestall_node::Schedstat, NodeError> {
        Err(NodeError::NoSuchProcess(p))
    }
    async fn shims(&self) -> Result<Vec<kubestall_node::ShimProcess>, NodeError> {
        let killed = self.killed.lock().expect("lock").clone();
        Ok(self
            .shims
            .iter()
            .filter(|s| !killed.contains(&s.pid))
            .map(|s| kubestall_node::ShimProcess {
                pid: Pid(s.pid),
                container_id: ContainerId::new(&s.id).expect("id"),
                namespace: s.namespace.clone(),
                address: s.address.clone(),
                started_at: None,
            })
            .collect())
    }
    async fn tasks(&self) -> Result<Vec<Task>, NodeError> {
        let Some(tasks) = &self.tasks else {
            return Err(NodeError::Timeout {
                command: "ctr tasks list".into(),
                after: Duration::from_secs(10),
            });
        };
        Ok(tasks
            .iter()
            .map(|id| Task {
                id: ContainerId::new(id).expect("id"),
                pid: Pid(1),
                status: TaskStatus::Running,
            })
            .collect())
    }
    async fn processes(&self, _: &str) -> Result<Vec<kubestall_node::ProcessInfo>, NodeError> {
        Ok(Vec::new())
    }
    async fn run_dir(&self, _: Pid, _: &str) -> Result<Vec<String>, NodeError> {
        Ok(Vec::new())
    }
    async fn node(&self) -> Result<NodeView, NodeError> {
        Ok(NodeView {
            name: self.name.clone(),
            ready: true,
            ready_reason: None,
            ready_message: None,
            unschedulable: self.unschedulable,
            heartbeat: None,
        })
    }
    async fn nodes(&self) -> Result<Vec<NodeView>, NodeError> {
        Ok(Vec::new())
    }
    async fn pods(&self) -> Result<Vec<kubestall_node::PodView>, NodeError> {
        Ok(Vec::new())
    }
    async fn kubelet_pods(&self) -> Result<Vec<kubestall_node::PodRef>, NodeError> {
        Ok(Vec::new())
    }
    async fn goroutine_dump(&self) -> Result<Option<kubestall_node::GoroutineDump>, NodeError> {
        Ok(None)
    }
}

impl Control for Fixed {
    async fn cordon(&self) -> Result<(), NodeError> {
        self.did("cordon");
        Ok(())
    }
    async fn uncordon(&self) -> Result<(), NodeError> {
        self.did("uncordon");
        Ok(())
    }
    async fn restart(&self, u: &Unit) -> Result<(), NodeError> {
        self.did(format!("restart {u}"));
        Ok(())
    }
    async fn stop(&self, u: &Unit) -> Result<(), NodeError> {
        self.did(format!("stop {u}"));
        Ok(())
    }
    async fn start(&self, u: &Unit) -> Result<(), NodeError> {
        self.did(format!("start {u}"));
        Ok(())
    }
    async fn kill(&self, pid: Pid, _: Signal) -> Result<(), NodeError> {
        self.did(format!("kill {pid}"));
        self.killed.lock().expect("lock").push(pid.0);
        Ok(())
    }
}

/// Runs only the step `step` of the pleg-stall (orphans) or nuclear (all shims) plan.
fn run_only(node: &Fixed, step: Step) -> Result<(), RemediationError> {
    let id = if step == Step::KillAllShims {
        ProcedureId::Nuclear
    } else {
        ProcedureId::Fix(FailureMode::PlegStall)
    };
    let mut plan = plan_for(id, &ctx(false));
    plan.steps.retain(|s| s.step == step);
    plan.escalation.clear();
    run(executor(true).execute(node, &plan, &mut AuditLog::memory())).map(|_| ())
}

fn killed_by(shims: Vec<FakeShim>, tasks: Vec<String>, step: Step) -> Vec<u32> {
    let node = Fixed::new(shims, tasks);
    run_only(&node, step).expect("kill step");
    let mut k = node.killed.into_inner().expect("lock");
    k.sort_unstable();
    k
}

fn kill_orphans_only(shims: Vec<(u32, String)>, tasks: Vec<String>) -> Vec<u32> {
    let shims = shims.into_iter().map(|(p, id)| own(p, &id)).collect();
    killed_by(shims, tasks, Step::KillOrphanedShims)
}

#[test]
fn a_shim_whose_id_prefixes_a_live_tasks_id_is_an_orphan_and_the_live_one_is_spared() {
    let live = "4f1d3a9c0b2e".repeat(5);
    let prefix = live[..12].to_string();
    let killed = kill_orphans_only(vec![(10, prefix), (11, live.clone())], vec![live]);
    assert_eq!(killed, vec![10]);
}

/// Where a shim in the property test comes from.
fn origin(i: usize) -> (String, Option<String>) {
    let sock = kubestall_node::MICROK8S_CONTAINERD_SOCKET;
    match i {
        0 => ("k8s.io".into(), Some(sock.into())),
        1 => ("k8s.io".into(), Some(format!("unix://{sock}"))),
        // Docker's containerd, with the same namespace and with its own.
        2 => (
            "moby".into(),
            Some("/run/containerd/containerd.sock".into()),
        ),
        3 => (
            "k8s.io".into(),
            Some("/run/containerd/containerd.sock".into()),
        ),
        // The node's containerd, another namespace (`ctr run` in default).
        4 => ("default".into(), Some(sock.into())),
        // A shim that does not say who started it.
        _ => ("k8s.io".into(), None),
    }
}

proptest::proptest! {
    #[test]
    fn exactly_the_nodes_orphans_die_and_no_other_runtimes_shim(
        ids in proptest::collection::vec("[a-f0-9]{1,6}", 1..12),
        live_mask in proptest::collection::vec(proptest::bool::ANY, 12),
        origins in proptest::collection::vec(0usize..6, 12),
        prefix_of in proptest::collection::vec(proptest::option::of(0usize..12), 12),
        nuclear in proptest::bool::ANY,
    ) {
        // Ids, some of them prefixes of others (the runbook's substring bug).
        let mut all: Vec<String> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let id = match prefix_of[i] {
                Some(j) if j < all.len() && !all[j].is_empty() => all[j][..all[j].len().div_ceil(2)].to_string(),
                _ => id.clone(),
            };
            if !all.contains(&id) { all.push(id); }
        }
        let shims: Vec<FakeShim> = all.iter().enumerate().map(|(i, id)| {
            let (namespace, address) = origin(origins[i]);
            FakeShim { pid: 100 + i as u32, id: id.clone(), namespace, address }
        }).collect();
        let mut tasks: Vec<String> = all.iter().enumerate().filter(|(i, _)| live_mask[*i]).map(|(_, id)| id.clone()).collect();
        let ours = |s: &FakeShim| origins[(s.pid - 100) as usize] <= 1;
        if tasks.is_empty() {
            // An empty task list is refused when the node has shims (tested below).
            tasks.push("ffffffffffff".into());
        }
        let expected: Vec<u32> = shims.iter()
            .filter(|s| ours(s) && (nuclear || !tasks.contains(&s.id)))
            .map(|s| s.pid).collect();
        let step = if nuclear { Step::KillAllShims } else { Step::KillOrphanedShims };
        proptest::prop_assert_eq!(killed_by(shims, tasks, step), expected);
    }
}

#[test]
fn an_unreadable_or_empty_task_list_kills_nothing() {
    let mut node = Fixed::new(vec![own(10, "aaa"), own(11, "bbb")], Vec::new());
    let err = run_only(&node, Step::KillOrphanedShims).expect_err("empty task list");
    assert!(
        err.to_string().contains("lists no task") && err.to_string().contains("what to do"),
        "{err}"
    );
    assert!(node.killed.lock().expect("lock").is_empty());
    node.tasks = None;
    let err = run_only(&node, Step::KillOrphanedShims).expect_err("no task list");
    assert!(
        err.to_string().contains("cannot list containerd tasks"),
        "{err}"
    );
    assert!(node.killed.lock().expect("lock").is_empty());
    // No shim of the node at all: an empty task list is an answer, not a doubt.
    let node = Fixed::new(
        vec![FakeShim {
            namespace: "moby".into(),
            ..own(12, "ccc")
        }],
        Vec::new(),
    );
    run_only(&node, Step::KillOrphanedShims).expect("nothing to kill");
    assert!(node.killed.lock().expect("lock").is_empty());
}

#[test]
fn a_backend_on_another_machine_is_refused_before_any_step() {
    for id in common::PROCEDURES {
        let mut node = Fixed::new(vec![own(10, "aaa")], Vec::new());
        node.hostname = "k8s02".into();
        let plan = plan_for(id.parse().expect("procedure"), &ctx(false));
        let err = run(executor(true).execute(&node, &plan, &mut AuditLog::memory()))
            .expect_err("wrong machine");
        let msg = err.to_string();
        assert!(
            matches!(err, RemediationError::WrongNode { .. }),
            "{id}: {msg}"
        );
        assert!(
            msg.contains("k8s03") && msg.contains("host k8s02") && msg.contains("--backend ssh"),
            "{msg}"
        );
        assert!(
            node.actions.lock().expect("lock").is_empty(),
            "{id}: nothing done"
        );
    }
}

#[test]
fn every_step_that_needs_a_cordon_is_refused_on_a_schedulable_node() {
    let procedures = [
        "imagefs-stall",
        "watch-stall",
        "pleg-stall",
        "kine-exhaustion",
        "containerd-freeze",
        "nuclear",
    ];
    for id in procedures {
        let plan = plan_for(id.parse().expect("procedure"), &ctx(true));
        let guarded: Vec<_> = plan
            .steps
            .iter()
            .chain(&plan.escalation)
            .filter(|s| s.needs_cordon)
            .collect();
        assert!(!guarded.is_empty(), "{id} declares its cordoned steps");
        // Every restart of kubelite or containerd needs one, in every procedure but an emergency.
        for s in plan.steps.iter().chain(&plan.escalation) {
            if let Step::Restart { unit } | Step::Start { unit } | Step::Stop { unit } = &s.step
                && matches!(unit, Unit::Kubelite | Unit::Containerd)
            {
                assert!(s.needs_cordon, "{id}: {:?}", s.step);
            }
        }
        for s in guarded {
            let mut node = Fixed::new(vec![own(10, "aaa")], vec!["aaa".into()]);
            node.unschedulable = false;
            let one = kubestall_remediation::Plan {
                steps: vec![s.clone()],
                escalation: Vec::new(),
                ..plan.clone()
            };
            let err = run(executor(true).execute(&node, &one, &mut AuditLog::memory()))
                .expect_err("schedulable node");
            assert!(
                err.to_string().contains("runs only on a cordoned node"),
                "{id}: {err}"
            );
            assert!(
                node.actions.lock().expect("lock").is_empty(),
                "{id}: {:?} not done",
                s.step
            );
        }
    }
    // The emergency imagefs restart is the one uncordoned restart, by the operator's choice.
    let mut emergency = ctx(false);
    emergency.emergency = true;
    let plan = plan_for(ProcedureId::Fix(FailureMode::ImagefsStall), &emergency);
    assert!(plan.steps.iter().all(|s| !s.needs_cordon));
}
