//! What can be done to the simulated cluster: the workload, the faults, and the
//! runbook's own actions. An action is a value, so a fault schedule can be
//! printed, stored and replayed.

use kubestall_node::{NodeName, Pid, Signal, Unit};

/// One thing done to the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create a pod; with `node`, node affinity lets only that node take it.
    CreatePod {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The only node it may run on.
        node: Option<NodeName>,
    },
    /// `kubectl cordon`.
    Cordon {
        /// The node.
        node: NodeName,
    },
    /// `kubectl uncordon`.
    Uncordon {
        /// The node.
        node: NodeName,
    },
    /// `systemctl restart UNIT`.
    RestartUnit {
        /// The node.
        node: NodeName,
        /// The unit.
        unit: Unit,
    },
    /// `systemctl stop UNIT`.
    StopUnit {
        /// The node.
        node: NodeName,
        /// The unit.
        unit: Unit,
    },
    /// `systemctl start UNIT`.
    StartUnit {
        /// The node.
        node: NodeName,
        /// The unit.
        unit: Unit,
    },
    /// `kill -s SIGNAL PID`.
    Kill {
        /// The node.
        node: NodeName,
        /// The process.
        pid: Pid,
        /// The signal.
        signal: Signal,
    },
    /// A snap refresh to a new containerd (and microk8s): services restart; with
    /// containerd 2.1.3 the next kubelite start stalls in the eviction manager.
    UpgradeContainerd {
        /// The node.
        node: NodeName,
        /// The new containerd version.
        version: String,
        /// The new microk8s version.
        microk8s: String,
    },
    /// The node now runs these versions; the services are restarted by whoever
    /// upgraded (a node twin's real restarts). The next kubelite start meets
    /// containerd's imagefs labels as `UpgradeContainerd` would.
    SetVersions {
        /// The node.
        node: NodeName,
        /// containerd's version.
        containerd: String,
        /// microk8s's version.
        microk8s: String,
    },
    /// Leave orphaned shims: containers exited, shim processes alive. `shared` of
    /// them sit behind a live container's shim (containerd 2.x shim sharing), so
    /// no id comparison finds them.
    LeaveOrphanShims {
        /// The node.
        node: NodeName,
        /// How many.
        count: u32,
        /// How many of those share a live container's shim.
        shared: u32,
    },
    /// The node's orphaned shims are exactly these (a node twin read them from its
    /// real containerd, by exact id): the model adopts them, with timeouts drawn
    /// from the seed, and forgets orphans that are gone.
    AdoptOrphans {
        /// The node.
        node: NodeName,
        /// Their container ids.
        ids: Vec<String>,
    },
    /// containerd's gRPC service stops answering.
    FreezeContainerd {
        /// The node.
        node: NodeName,
    },
    /// Run a lock-using application (buildkitd) in a pod on the node.
    StartLockService {
        /// The node.
        node: NodeName,
        /// The program.
        app: String,
        /// Its lock file.
        lock: String,
    },
}
