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
    let setup = || {
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
        sim.apply(Action::RestartUnit {
            node: k.clone(),
            unit: Unit::Kubelite,
        })
        .expect("restart");
        run(node.sleep(Duration::from_secs(20)));
        sim.apply(Action::Uncordon { node: k }).expect("uncordon");
        run(node.sleep(Duration::from_secs(60)));
        node
    };
    let plan = plan_for(ProcedureId::Fix(FailureMode::PlegStall), &ctx(false));
    let node = setup();
    let err = run(executor(false).execute(&node, &plan, &mut AuditLog::memory()))
        .expect_err("stall persists");
    assert!(err.to_string().contains("--allow-nuclear"), "{err}");
    assert!(
        run(node.node()).expect("node").unschedulable,
        "left cordoned"
    );

    let node = setup();
    let outcome =
        run(executor(true).execute(&node, &plan, &mut AuditLog::memory())).expect("escalates");
    assert!(outcome.escalated);
    assert!(outcome.steps.iter().any(|s| s.step == Step::KillAllShims));
    run(node.sleep(Duration::from_secs(30)));
    assert_eq!(stuck(&node), 0);
}

#[test]
fn a_crash_after_any_step_resumes_to_a_healthy_uncordoned_node() {
    let plan = plan_for(ProcedureId::Fix(FailureMode::WatchStall), &ctx(false));
    for k in 1..=plan.steps.len() {
        let node = break_node(7, FailureMode::WatchStall);
        let dir = std::env::temp_dir().join(format!("kubestall-crash-{}-{k}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_dir_all(&dir);
        let locks = Locks::Files(dir.join("locks"));
        let mut first = Executor::new(SafetyPolicy::default(), locks.clone(), "pvek8s");
        first.halt_after = Some(k);
        let mut log = AuditLog::append(&path).expect("log");
        let restarts_before = registrations(&node);
        match run(first.execute(&node, &plan, &mut log)) {
            Err(RemediationError::Halted(n)) => assert_eq!(n, k),
            Ok(_) if k == plan.steps.len() => {}
            other => panic!("step {k}: {other:?}"),
        }
        // A new process reads the log and continues after the last completed step.
        let records = audit::read(&path).expect("read log");
        let second = Executor::new(SafetyPolicy::default(), locks, "pvek8s");
        let mut log = AuditLog::append(&path).expect("log");
        run(second.resume(&node, &records, &mut log))
            .unwrap_or_else(|e| panic!("resume after step {k}: {e}"));
        run(node.sleep(Duration::from_secs(20)));
        assert_eq!(stuck(&node), 0, "after a crash at step {k}");
        assert!(
            !run(node.node()).expect("node").unschedulable,
            "uncordoned after a crash at step {k}"
        );
        // kubelite was restarted exactly once: nothing that must not be done twice was.
        assert_eq!(
            registrations(&node) - restarts_before,
            1,
            "one restart with a crash after step {k}"
        );
        let _ = std::fs::remove_dir_all(&dir);
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
        err.to_string()
            .contains("never restarted on a schedulable node"),
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

struct Fixed {
    name: NodeName,
    shims: Vec<(u32, String)>,
    tasks: Vec<String>,
    killed: std::sync::Mutex<Vec<u32>>,
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
            .filter(|(p, _)| !killed.contains(p))
            .map(|(p, id)| kubestall_node::ShimProcess {
                pid: Pid(*p),
                container_id: ContainerId::new(id).expect("id"),
                namespace: "k8s.io".into(),
                started_at: None,
            })
            .collect())
    }
    async fn tasks(&self) -> Result<Vec<Task>, NodeError> {
        Ok(self
            .tasks
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
        Err(NodeError::NotFound("node".into()))
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
        Ok(())
    }
    async fn uncordon(&self) -> Result<(), NodeError> {
        Ok(())
    }
    async fn restart(&self, _: &Unit) -> Result<(), NodeError> {
        Ok(())
    }
    async fn stop(&self, _: &Unit) -> Result<(), NodeError> {
        Ok(())
    }
    async fn start(&self, _: &Unit) -> Result<(), NodeError> {
        Ok(())
    }
    async fn kill(&self, pid: Pid, _: Signal) -> Result<(), NodeError> {
        self.killed.lock().expect("lock").push(pid.0);
        Ok(())
    }
}

fn kill_orphans_only(shims: Vec<(u32, String)>, tasks: Vec<String>) -> Vec<u32> {
    let node = Fixed {
        name: name("k8s03"),
        shims,
        tasks,
        killed: Default::default(),
    };
    let mut plan = plan_for(ProcedureId::Fix(FailureMode::PlegStall), &ctx(false));
    plan.steps.retain(|s| s.step == Step::KillOrphanedShims);
    plan.escalation.clear();
    run(executor(false).execute(&node, &plan, &mut AuditLog::memory())).expect("kill orphans");
    let mut k = node.killed.into_inner().expect("lock");
    k.sort_unstable();
    k
}

#[test]
fn a_shim_whose_id_prefixes_a_live_tasks_id_is_an_orphan_and_the_live_one_is_spared() {
    let live = "4f1d3a9c0b2e".repeat(5);
    let prefix = live[..12].to_string();
    let killed = kill_orphans_only(vec![(10, prefix), (11, live.clone())], vec![live]);
    assert_eq!(killed, vec![10]);
}

proptest::proptest! {
    #[test]
    fn exactly_the_orphans_are_killed(
        ids in proptest::collection::vec("[a-f0-9]{1,6}", 1..12),
        live_mask in proptest::collection::vec(proptest::bool::ANY, 12),
        prefix_of in proptest::collection::vec(proptest::option::of(0usize..12), 12),
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
        let shims: Vec<(u32, String)> = all.iter().enumerate().map(|(i, id)| (100 + i as u32, id.clone())).collect();
        let tasks: Vec<String> = all.iter().enumerate().filter(|(i, _)| live_mask[*i]).map(|(_, id)| id.clone()).collect();
        let expected: Vec<u32> = shims.iter().filter(|(_, id)| !tasks.contains(id)).map(|(p, _)| *p).collect();
        proptest::prop_assert_eq!(kill_orphans_only(shims, tasks), expected);
    }
}
