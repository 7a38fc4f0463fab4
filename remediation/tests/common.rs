//! Shared by the remediation tests: a simulated cluster and a poll-to-completion.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use kubestall_node::{Clock, NodeName, Observe, Pleg, PodPhase};
use kubestall_sim::{Action, Sim, SimConfig, SimNode, SimNodeConfig};

/// Every procedure id, as `--procedure` takes it.
pub const PROCEDURES: [&str; 7] = [
    "imagefs-stall",
    "watch-stall",
    "pleg-stall",
    "kine-exhaustion",
    "containerd-freeze",
    "orphan-lock-holder",
    "nuclear",
];

/// The simulator's futures complete at once.
pub fn run<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A node name.
pub fn name(n: &str) -> NodeName {
    NodeName::new(n).expect("node name")
}

/// Three nodes, k8s03 returned; pods aimed at k8s03 every `every` for an hour.
pub fn cluster(seed: u64, pleg: Pleg, containerd: &str, every: Duration) -> (Sim, SimNode) {
    let nodes = ["k8s01", "k8s02", "k8s03"]
        .map(|n| SimNodeConfig {
            pleg,
            containerd: containerd.into(),
            initial_pods: 20,
            ..SimNodeConfig::new(name(n))
        })
        .to_vec();
    let sim = Sim::new(SimConfig::new(seed, nodes)).expect("sim");
    let t0 = sim.now();
    let mut t = Duration::from_secs(5);
    let mut i = 0;
    while t < Duration::from_secs(3600) {
        sim.schedule(
            t0.add(t),
            Action::CreatePod {
                namespace: "default".into(),
                name: format!("web-{i}"),
                node: Some(name("k8s03")),
            },
        );
        t += every;
        i += 1;
    }
    let node = sim.node(&name("k8s03")).expect("k8s03");
    (sim, node)
}

/// Pods on the node Pending for over 20 s.
pub fn stuck(node: &SimNode) -> usize {
    let now = node.now();
    run(node.pods())
        .expect("pods")
        .iter()
        .filter(|p| {
            p.phase == PodPhase::Pending && now.since(p.created_at) > Duration::from_secs(20)
        })
        .count()
}
