//! How a simulated cluster is shaped, and the runbook's timings.

use std::time::Duration;

use kubestall_node::{NodeName, Pleg, Timestamp};

/// One node of the simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SimNodeConfig {
    /// Its name.
    pub name: NodeName,
    /// microk8s version (`1.34`).
    pub microk8s: String,
    /// containerd version (`1.7.27`); `2.1.3` changed the imagefs label surface.
    pub containerd: String,
    /// The kubelet's PLEG.
    pub pleg: Pleg,
    /// From kubelite's start to the kubelet registering the node.
    pub kubelite_startup: Duration,
    /// Typical time from the kubelet seeing a pod to the pod Running.
    pub pod_start: Duration,
    /// Pods already Running when the simulation starts.
    pub initial_pods: u32,
}

impl SimNodeConfig {
    /// A node with the runbook's defaults: microk8s 1.34, containerd 1.7.27,
    /// Generic PLEG, 5 s startup, 3 s pod start, no pods.
    pub fn new(name: NodeName) -> Self {
        SimNodeConfig {
            name,
            microk8s: "1.34".into(),
            containerd: "1.7.27".into(),
            pleg: Pleg::Generic,
            kubelite_startup: Duration::from_secs(5),
            pod_start: Duration::from_secs(3),
            initial_pods: 0,
        }
    }
}

/// The cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Master seed: every random draw of the run comes from it.
    pub seed: u64,
    /// The virtual clock's start.
    pub start: Timestamp,
    /// The nodes.
    pub nodes: Vec<SimNodeConfig>,
    /// Timings of the model.
    pub timings: Timings,
    /// Record a line per processed event (for the determinism test and for
    /// debugging); off in benchmarks.
    pub trace: bool,
}

impl SimConfig {
    /// A cluster of `nodes`, with the default start (2026-05-22T02:00:00Z) and timings.
    pub fn new(seed: u64, nodes: Vec<SimNodeConfig>) -> Self {
        SimConfig {
            seed,
            start: Timestamp::from_civil(2026, 5, 22, 2, 0, 0),
            nodes,
            timings: Timings::default(),
            trace: false,
        }
    }
}

/// The model's timings. Defaults are the runbook's and the kubelet's.
#[derive(Clone, Debug, PartialEq)]
pub struct Timings {
    /// Generic PLEG relist period.
    pub relist_period: Duration,
    /// PLEG health threshold: "threshold is 3m0s".
    pub pleg_threshold: Duration,
    /// EventedPLEG's ListPodSandboxes resync period.
    pub evented_resync: Duration,
    /// Range of the first EventedPLEG resync after a kubelet start ("clears within ~60 s").
    pub evented_first_resync: (Duration, Duration),
    /// Range of a hung ContainerStatus call's timeout against an orphaned shim.
    pub orphan_timeout: (Duration, Duration),
    /// Node status / lease heartbeat period.
    pub heartbeat: Duration,
    /// Node monitor grace: NotReady when no heartbeat for this long.
    pub node_monitor_grace: Duration,
    /// Kine corruption rule: this many kubelite starts on a node ...
    pub storm_restarts: usize,
    /// ... within this window corrupt k8s-dqlite's connection state.
    pub storm_window: Duration,
    /// A kubelite start this soon after the previous one is "rapid": the kubelet's
    /// pod cleanup of the previous run had not finished, and shims are left behind.
    pub rapid_restart: Duration,
    /// Time between the etcd client's retries against a corrupted kine.
    pub kine_retry: Duration,
    /// Range of the time between ordinary kubelite log lines on a healthy node.
    pub chatter: (Duration, Duration),
    /// A kubelite whose main process dies is restarted by systemd after this long.
    pub restart_sec: Duration,
    /// `ctr tasks list` against a frozen containerd gives up after this long.
    pub ctr_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            relist_period: Duration::from_secs(1),
            pleg_threshold: Duration::from_secs(180),
            evented_resync: Duration::from_secs(300),
            evented_first_resync: (Duration::from_secs(20), Duration::from_secs(55)),
            orphan_timeout: (Duration::from_secs(30), Duration::from_secs(60)),
            heartbeat: Duration::from_secs(10),
            node_monitor_grace: Duration::from_secs(40),
            storm_restarts: 4,
            storm_window: Duration::from_secs(300),
            rapid_restart: Duration::from_secs(120),
            kine_retry: Duration::from_secs(2),
            chatter: (Duration::from_secs(5), Duration::from_secs(30)),
            restart_sec: Duration::from_millis(100),
            ctr_timeout: Duration::from_secs(30),
        }
    }
}

/// Whether containerd `version` has the imagefs label surface of 2.1.3 and later,
/// which the kubelet's eviction manager of microk8s 1.35 cannot resolve.
pub fn changed_imagefs_labels(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (major, minor, patch) >= (2, 1, 3)
}

/// Whether containerd `version` shares shims between containers (2.0 and later).
pub fn shares_shims(version: &str) -> bool {
    version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0)
        >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(changed_imagefs_labels("2.1.3"));
        assert!(changed_imagefs_labels("2.2.0"));
        assert!(!changed_imagefs_labels("2.1.2"));
        assert!(!changed_imagefs_labels("1.7.27"));
        assert!(shares_shims("2.0.0") && !shares_shims("1.7.27"));
    }
}
