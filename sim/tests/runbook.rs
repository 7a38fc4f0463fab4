//! The runbook, told to the simulator: each test builds a cluster, breaks it the
//! way the runbook says nodes break, and checks the signals the runbook reads,
//! through the same `Observe`/`Control` a real node offers. Then it applies the
//! runbook's fix, and only that fix heals.

use std::future::Future;
use std::time::Duration;

use kubestall_node::{
    Clock, Control, FailureMode, NodeName, Observe, Pid, Pleg, PodPhase, Signal, Unit,
    klog::KlogLine, orphaned_shims,
};
use kubestall_sim::{Action, Sim, SimConfig, SimNode, SimNodeConfig};

/// The simulator's futures are ready at once; poll them to completion.
fn run<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn name(n: &str) -> NodeName {
    NodeName::new(n).expect("node name")
}

struct World {
    sim: Sim,
    node: SimNode,
    k8s03: NodeName,
    next_pod: u32,
}

fn cluster(seed: u64, pleg: Pleg, containerd: &str, pods: u32) -> World {
    let nodes = ["k8s01", "k8s02", "k8s03"]
        .into_iter()
        .map(|n| {
            let mut c = SimNodeConfig::new(name(n));
            c.pleg = pleg;
            c.containerd = containerd.into();
            c.initial_pods = pods;
            c
        })
        .collect();
    let sim = Sim::new(SimConfig::new(seed, nodes)).expect("sim");
    let k8s03 = name("k8s03");
    let node = sim.node(&k8s03).expect("k8s03");
    World {
        sim,
        node,
        k8s03,
        next_pod: 0,
    }
}

impl World {
    /// Pods for k8s03, one every `every`, for `span`, starting now.
    fn schedule_pods(&mut self, every: Duration, span: Duration) {
        let start = self.sim.now();
        let mut t = Duration::ZERO;
        while t < span {
            self.sim.schedule(
                start.add(t),
                Action::CreatePod {
                    namespace: "default".into(),
                    name: format!("web-{}", self.next_pod),
                    node: Some(self.k8s03.clone()),
                },
            );
            self.next_pod += 1;
            t += every;
        }
    }

    fn sleep(&self, secs: u64) {
        run(self.node.sleep(Duration::from_secs(secs)));
    }

    /// Pods bound to k8s03, Pending, and older than any healthy start takes.
    fn pending(&self) -> usize {
        let now = self.sim.now();
        run(self.node.pods())
            .expect("pods")
            .iter()
            .filter(|p| {
                p.phase == PodPhase::Pending && now.since(p.created_at) > Duration::from_secs(20)
            })
            .count()
    }

    fn ready(&self) -> bool {
        run(self.node.node()).expect("node").ready
    }

    fn kubelite_lines_since(&self, secs: u64) -> Vec<String> {
        let since = self.sim.now().sub(Duration::from_secs(secs));
        run(self.node.journal(&Unit::Kubelite, since))
            .expect("journal")
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    fn kubelite_pid(&self) -> Pid {
        run(self.node.service(&Unit::Kubelite))
            .expect("service")
            .main_pid
            .expect("kubelite runs")
    }

    /// The runbook's schedstat check: two samples 3 s apart.
    fn schedstat_frozen(&self) -> bool {
        let pid = self.kubelite_pid();
        let a = run(self.node.schedstat(pid)).expect("schedstat");
        self.sleep(3);
        let b = run(self.node.schedstat(pid)).expect("schedstat");
        a == b
    }

    fn orphans(&self) -> usize {
        let shims = run(self.node.shims()).expect("shims");
        let tasks = run(self.node.tasks()).expect("tasks");
        orphaned_shims(&shims, &tasks, &self.node.kubelet_runtime()).count()
    }

    fn kill_orphans(&self) -> usize {
        let shims = run(self.node.shims()).expect("shims");
        let tasks = run(self.node.tasks()).expect("tasks");
        let pids: Vec<Pid> = orphaned_shims(&shims, &tasks, &self.node.kubelet_runtime())
            .map(|s| s.pid)
            .collect();
        for p in &pids {
            run(self.node.kill(*p, Signal::Kill)).expect("kill");
        }
        pids.len()
    }

    fn cordon_restart_uncordon(&self) {
        run(self.node.cordon()).expect("cordon");
        run(self.node.restart(&Unit::Kubelite)).expect("restart");
        let mut waited = 0;
        while !self.ready()
            || run(self.node.service(&Unit::Kubelite)).expect("svc").active
                != kubestall_node::ActiveState::Active
        {
            self.sleep(1);
            waited += 1;
            assert!(waited <= 120, "node not Ready within 120 s");
        }
        self.sleep(10);
        run(self.node.uncordon()).expect("uncordon");
    }
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn mode2_restart_without_cordon_strands_pods_bound_in_the_window() {
    let mut w = cluster(11, Pleg::Generic, "1.7.27", 10);
    w.schedule_pods(Duration::from_secs(1), Duration::from_secs(180));
    w.sleep(30);
    assert_eq!(w.pending(), 0, "healthy before the restart");
    run(w.node.restart(&Unit::Kubelite)).expect("restart");
    w.sleep(240);

    // Ready, heartbeating, pods Pending.
    assert!(w.ready());
    assert!(w.pending() > 0);
    // kubelite logs are active, but nothing about the stuck pods.
    let lines = w.kubelite_lines_since(300);
    assert!(has(&lines, "Successfully registered node"));
    assert!(
        w.kubelite_lines_since(120).len() > 2,
        "kubelite keeps logging"
    );
    let stuck: Vec<String> = run(w.node.pods())
        .expect("pods")
        .into_iter()
        .filter(|p| p.phase == PodPhase::Pending)
        .map(|p| p.pod.to_string())
        .collect();
    for pod in &stuck {
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("SyncPod") && l.contains(pod.as_str())),
            "no SyncPod for {pod}"
        );
    }
    // /pods shows only the pods from before the restart.
    let known = run(w.node.kubelet_pods()).expect("/pods");
    assert!(
        stuck
            .iter()
            .all(|p| !known.iter().any(|k| &k.to_string() == p))
    );
    // schedstat moves: the process is not blocked.
    assert!(!w.schedstat_frozen());
    // The goroutine dump: handleAnyWatch blocked in select for minutes.
    let dump = run(w.node.goroutine_dump())
        .expect("dump")
        .expect("kubelite runs");
    let watch = dump
        .blocked_in("handleAnyWatch")
        .next()
        .expect("handleAnyWatch goroutine");
    assert_eq!(watch.state, "select");
    assert!(watch.minutes.unwrap_or(0) >= 3, "{watch:?}");
    // ...written to the journal as the runbook greps it.
    assert!(has(&w.kubelite_lines_since(1), "handleAnyWatch"));

    // Nothing heals on its own.
    w.sleep(600);
    assert!(w.pending() > 0, "the watch stays empty: no self-healing");

    // The runbook's fix: cordon, restart, wait Ready, uncordon.
    w.cordon_restart_uncordon();
    w.sleep(60);
    assert_eq!(
        w.pending(),
        0,
        "pre-assigned pods appear in the initial LIST and run"
    );
}

#[test]
fn mode2_cordoned_restart_is_safe_and_uncordoned_restart_recreates_the_stall() {
    let mut w = cluster(12, Pleg::Generic, "1.7.27", 10);
    w.schedule_pods(Duration::from_millis(500), Duration::from_secs(900));
    w.sleep(60);
    w.cordon_restart_uncordon();
    w.sleep(60);
    assert_eq!(
        w.pending(),
        0,
        "cordon before restart: no pod is bound in the window"
    );
    run(w.node.restart(&Unit::Kubelite)).expect("restart without cordon");
    w.sleep(60);
    assert!(
        w.pending() > 0,
        "restart without cordon: the stall comes back"
    );
}

#[test]
fn mode1_imagefs_stall_after_containerd_upgrade() {
    let mut w = cluster(13, Pleg::Generic, "1.7.27", 10);
    w.schedule_pods(Duration::from_secs(5), Duration::from_secs(600));
    w.sleep(30);
    w.sim
        .apply(Action::UpgradeContainerd {
            node: w.k8s03.clone(),
            version: "2.1.3".into(),
            microk8s: "1.35".into(),
        })
        .expect("upgrade");
    w.sleep(60);
    let lines = w.kubelite_lines_since(90);
    let sig = lines
        .iter()
        .filter_map(|l| KlogLine::parse(l))
        .find(|l| {
            l.message.starts_with(
                "eviction manager: failed to check if we have separate container filesystem",
            )
        })
        .expect("stall signature at startup");
    assert_eq!(
        sig.field("err"),
        Some("no imagefs label for configured runtime")
    );
    w.sleep(300);
    assert!(w.ready(), "still heartbeating");
    assert!(w.pending() > 0, "pods Pending");
    assert!(
        w.kubelite_lines_since(300).is_empty(),
        "no kubelite output in the last 5 minutes"
    );
    assert!(w.schedstat_frozen(), "zero CPU");
    assert_eq!(w.orphans(), 0, "no orphan excess");
    // A kubelite restart clears it; pods schedule within about 60 s.
    w.cordon_restart_uncordon();
    w.sleep(50);
    assert_eq!(w.pending(), 0);
}

#[test]
fn mode1_signature_alone_on_a_healthy_node_is_harmless() {
    // Healthy containerd nodes print the same line at some starts; nothing stalls.
    let mut printed = 0;
    for seed in 0..20 {
        let mut w = cluster(seed, Pleg::Generic, "1.7.27", 5);
        w.schedule_pods(Duration::from_secs(2), Duration::from_secs(120));
        w.cordon_restart_uncordon();
        w.sleep(120);
        if has(
            &w.kubelite_lines_since(200),
            "no imagefs label for configured runtime",
        ) {
            printed += 1;
        }
        assert_eq!(w.pending(), 0, "seed {seed}");
        assert!(!w.schedstat_frozen(), "seed {seed}");
    }
    assert!(
        printed > 0 && printed < 20,
        "printed at some starts only: {printed}/20"
    );
}

#[test]
fn mode3_orphaned_shims_hang_generic_pleg() {
    let mut w = cluster(14, Pleg::Generic, "1.7.27", 27);
    w.sim
        .apply(Action::LeaveOrphanShims {
            node: w.k8s03.clone(),
            count: 17,
            shared: 0,
        })
        .expect("orphans");
    assert_eq!(w.orphans(), 17, "44 shims, 27 running tasks");
    w.cordon_restart_uncordon();
    w.schedule_pods(Duration::from_secs(10), Duration::from_secs(600));
    w.sleep(120);
    // Only startup lines, ending with the registration, then silence.
    let lines = w.kubelite_lines_since(150);
    assert!(
        lines.last().is_some_and(
            |l| l.contains("Successfully registered node") || l.contains("no imagefs label")
        ),
        "{lines:#?}"
    );
    assert!(w.kubelite_lines_since(100).is_empty());
    assert!(w.schedstat_frozen());
    assert!(w.pending() > 0);
    // After 3 minutes without a completed relist: PLEG unhealthy, KubeletNotReady.
    w.sleep(70);
    let lines = w.kubelite_lines_since(80);
    assert!(
        has(
            &lines,
            r#"err="PLEG is not healthy: pleg was last seen active 3m0s ago; threshold is 3m0s""#
        ),
        "{lines:#?}"
    );
    let view = run(w.node.node()).expect("node");
    assert!(!view.ready);
    assert_eq!(view.ready_reason.as_deref(), Some("KubeletNotReady"));

    // The fix: kill the orphans (exactly), restart kubelite.
    assert_eq!(w.kill_orphans(), 17);
    w.cordon_restart_uncordon();
    w.sleep(60);
    assert_eq!(w.pending(), 0);
    assert!(!w.schedstat_frozen());
}

#[test]
fn evented_pleg_startup_message_is_normal_and_orphans_delay_only_their_pods() {
    let mut w = cluster(15, Pleg::Evented, "1.7.27", 27);
    w.sim
        .apply(Action::LeaveOrphanShims {
            node: w.k8s03.clone(),
            count: 17,
            shared: 0,
        })
        .expect("orphans");
    w.cordon_restart_uncordon();
    w.schedule_pods(Duration::from_secs(10), Duration::from_secs(300));
    let lines = w.kubelite_lines_since(200);
    assert!(
        has(&lines, "pleg has yet to be successful"),
        "normal at every start"
    );
    w.sleep(120);
    assert!(
        !has(&w.kubelite_lines_since(30), "pleg has yet to be successful"),
        "clears within about 60 s"
    );
    assert!(!has(
        &w.kubelite_lines_since(300),
        "pleg was last seen active"
    ));
    assert!(!w.schedstat_frozen(), "no node-wide stall");
    w.sleep(120);
    assert_eq!(
        w.pending(),
        0,
        "every pod runs; an orphan only delays its own"
    );
}

#[test]
fn evented_pleg_containerd_freeze_needs_containerd_then_kubelite() {
    let mut w = cluster(16, Pleg::Evented, "1.7.27", 10);
    w.schedule_pods(Duration::from_secs(5), Duration::from_secs(900));
    w.sleep(60);
    w.sim
        .apply(Action::FreezeContainerd {
            node: w.k8s03.clone(),
        })
        .expect("freeze");
    w.sleep(60);
    assert!(w.pending() > 0);
    assert!(
        run(w.node.tasks()).is_err(),
        "ctr tasks list times out against a frozen containerd"
    );
    w.sleep(240);
    assert!(
        has(&w.kubelite_lines_since(240), "pleg was last seen active"),
        "abnormal under EventedPLEG"
    );
    // containerd alone is not enough: the kubelet's event stream is gone.
    run(w.node.restart(&Unit::Containerd)).expect("restart containerd");
    w.sleep(60);
    assert!(w.pending() > 0);
    w.cordon_restart_uncordon();
    w.sleep(60);
    assert_eq!(w.pending(), 0);
}

#[test]
fn kine_corrupts_after_a_restart_storm_until_k8s_dqlite_restarts() {
    let mut w = cluster(17, Pleg::Generic, "1.7.27", 20);
    w.schedule_pods(Duration::from_secs(10), Duration::from_secs(900));
    for _ in 0..5 {
        run(w.node.restart(&Unit::Kubelite)).expect("restart");
        w.sleep(40);
    }
    w.sleep(120);
    let attempts: Vec<u64> = w
        .kubelite_lines_since(150)
        .iter()
        .filter(|l| l.contains("retrying of unary invoker failed"))
        .filter_map(|l| serde_attempt(l))
        .collect();
    assert!(
        attempts.len() > 10 && attempts.windows(2).all(|p| p[1] > p[0]),
        "rising attempt:N {attempts:?}"
    );
    assert!(w.pending() > 0);
    // k8s-dqlite is a separate service: restarting kubelite alone does not help.
    w.cordon_restart_uncordon_kine_blocked();
    // Restarting k8s-dqlite on its own clears it; the data is intact.
    run(w.node.restart(&Unit::K8sDqlite)).expect("restart k8s-dqlite");
    w.kill_orphans();
    w.cordon_restart_uncordon();
    w.sleep(120);
    assert_eq!(w.pending(), 0);
}

impl World {
    fn cordon_restart_uncordon_kine_blocked(&self) {
        run(self.node.cordon()).expect("cordon");
        run(self.node.restart(&Unit::Kubelite)).expect("restart");
        self.sleep(60);
        assert!(has(
            &self.kubelite_lines_since(50),
            "retrying of unary invoker failed"
        ));
        assert!(
            !self.ready(),
            "the kubelet cannot post status through a broken kine"
        );
        run(self.node.uncordon()).expect("uncordon");
    }
}

fn serde_attempt(line: &str) -> Option<u64> {
    let rest = line.split("\"attempt\":").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn nuclear_option_clears_hidden_orphans_and_can_leave_a_lock_holder() {
    let mut w = cluster(18, Pleg::Generic, "2.1.3", 20);
    w.sim
        .apply(Action::StartLockService {
            node: w.k8s03.clone(),
            app: "buildkitd".into(),
            lock: "/var/lib/buildkit/buildkitd.lock".into(),
        })
        .expect("buildkitd");
    w.sleep(30);
    w.sim
        .apply(Action::LeaveOrphanShims {
            node: w.k8s03.clone(),
            count: 20,
            shared: 6,
        })
        .expect("orphans");
    w.cordon_restart_uncordon();
    w.schedule_pods(Duration::from_secs(10), Duration::from_secs(300));
    w.sleep(60);
    assert!(w.schedstat_frozen());
    // Killing the visible orphans and restarting kubelite does not unblock the relist:
    // orphans behind shared shims are found by no id comparison.
    assert_eq!(w.kill_orphans(), 14);
    w.cordon_restart_uncordon();
    w.sleep(60);
    assert!(
        w.schedstat_frozen() && w.pending() > 0,
        "the stall persists"
    );
    // The nuclear option: stop kubelite, kill all shims, restart k8s-dqlite, start kubelite.
    let n = &w.node;
    run(n.stop(&Unit::Kubelite)).expect("stop");
    for s in run(n.shims()).expect("shims") {
        run(n.kill(s.pid, Signal::Kill)).expect("kill shim");
    }
    run(n.restart(&Unit::K8sDqlite)).expect("restart dqlite");
    w.sleep(10);
    run(n.start(&Unit::Kubelite)).expect("start");
    w.sleep(90);
    assert_eq!(w.pending(), 0, "all pods restart");
    // Post-incident: two buildkitd, the older an orphan with an empty /run/buildkitd/.
    let mut bk = run(n.processes("buildkitd")).expect("pgrep");
    assert_eq!(bk.len(), 2, "{bk:?}");
    bk.sort_by_key(|p| p.started_at);
    assert!(
        run(n.run_dir(bk[0].pid, "buildkitd"))
            .expect("ls")
            .is_empty()
    );
    assert_eq!(
        run(n.run_dir(bk[1].pid, "buildkitd")).expect("ls"),
        vec!["buildkitd.sock".to_string()]
    );
    let frozen = |pid| {
        let a = run(n.schedstat(pid)).expect("schedstat");
        w.sleep(3);
        a == run(n.schedstat(pid)).expect("schedstat")
    };
    assert!(frozen(bk[1].pid), "the new instance blocks on the lock");
    run(n.kill(bk[0].pid, Signal::Kill)).expect("kill the orphan only");
    assert!(
        !frozen(bk[1].pid),
        "the new instance takes the lock and runs"
    );
}

#[test]
fn same_seed_same_trace_byte_for_byte() {
    let trace = |seed| {
        let nodes = ["k8s01", "k8s02", "k8s03"]
            .map(|n| SimNodeConfig {
                initial_pods: 10,
                ..SimNodeConfig::new(name(n))
            })
            .to_vec();
        let mut cfg = SimConfig::new(seed, nodes);
        cfg.trace = true;
        let sim = Sim::new(cfg).expect("sim");
        let node = sim.node(&name("k8s03")).expect("node");
        for i in 0..100 {
            sim.schedule(
                sim.now().add(Duration::from_secs(i * 2)),
                Action::CreatePod {
                    namespace: "default".into(),
                    name: format!("p{i}"),
                    node: Some(name("k8s03")),
                },
            );
        }
        sim.schedule(
            sim.now().add(Duration::from_secs(60)),
            Action::RestartUnit {
                node: name("k8s03"),
                unit: Unit::Kubelite,
            },
        );
        sim.schedule(
            sim.now().add(Duration::from_secs(30)),
            Action::LeaveOrphanShims {
                node: name("k8s03"),
                count: 3,
                shared: 0,
            },
        );
        run(node.sleep(Duration::from_secs(3600)));
        (sim.trace(), sim.journal_dump())
    };
    let a = trace(5);
    assert!(a.0.lines().count() > 500);
    assert_eq!(a, trace(5));
    assert_ne!(a, trace(6));
}

#[test]
fn failure_modes_cover_the_runbook() {
    // Every mode id has a test above; this guards the list against a new mode
    // being added without one.
    assert_eq!(FailureMode::ALL.len(), 6);
}
