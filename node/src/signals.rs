//! The typed signals a node shows: what `Observe` returns and the parsers produce.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::{ContainerId, NodeName, PodRef};
use crate::time::Timestamp;
use crate::unit::Unit;

/// A process id on the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One journal entry (`journalctl -o json`), reduced to what the runbook reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When journald received it (`__REALTIME_TIMESTAMP`).
    pub at: Timestamp,
    /// The unit that wrote it (`_SYSTEMD_UNIT`), when known.
    pub unit: Option<Unit>,
    /// The writing process (`_PID`), when known.
    pub pid: Option<Pid>,
    /// `SYSLOG_IDENTIFIER`, when present.
    pub identifier: Option<String>,
    /// The host that wrote it (`_HOSTNAME`), when present.
    pub hostname: Option<String>,
    /// The message: for kubelite, a klog line (see [`crate::klog`]).
    pub message: String,
    /// journald's cursor, when the source has one; resumes a read exactly.
    pub cursor: Option<String>,
}

/// `/proc/PID/schedstat`: time on CPU, time waiting to run, and timeslices run.
///
/// Two identical samples a few seconds apart mean the process used no CPU at all:
/// the runbook's sign of a kubelet blocked on something (PLEG, eviction manager).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedstat {
    /// Nanoseconds spent on the CPU.
    pub on_cpu_ns: u64,
    /// Nanoseconds spent waiting on a run queue.
    pub wait_ns: u64,
    /// Number of timeslices run on this CPU.
    pub timeslices: u64,
}

impl fmt::Display for Schedstat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.on_cpu_ns, self.wait_ns, self.timeslices)
    }
}

/// A `containerd-shim-runc-v2` process (`pgrep -a containerd-shim`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimProcess {
    /// The shim's process id.
    pub pid: Pid,
    /// The container it serves (`-id`).
    pub container_id: ContainerId,
    /// containerd namespace (`-namespace`, `k8s.io` for pods).
    pub namespace: String,
    /// The socket of the containerd that started it (`-address`), when given.
    /// A shim of another containerd (Docker's, a second runtime) is never ours.
    pub address: Option<String>,
    /// When the process started, when known.
    pub started_at: Option<Timestamp>,
}

impl ShimProcess {
    /// Whether this shim serves the kubelet of the node whose runtime is `rt`:
    /// started by that containerd (`-address`) in its Kubernetes namespace.
    pub fn belongs_to(&self, rt: &KubeletRuntime) -> bool {
        self.namespace == rt.namespace
            && self
                .address
                .as_deref()
                .is_some_and(|a| same_socket(a, &rt.address))
    }
}

/// containerd prints its socket as a path or as `unix://PATH`.
fn same_socket(a: &str, b: &str) -> bool {
    let path = |s: &str| {
        s.strip_prefix("unix://")
            .unwrap_or(s)
            .trim_end_matches('/')
            .to_string()
    };
    path(a) == path(b)
}

/// The containerd socket of a microk8s node.
pub const MICROK8S_CONTAINERD_SOCKET: &str = "/var/snap/microk8s/common/run/containerd.sock";

/// The containerd namespace the kubelet's CRI uses.
pub const KUBELET_NAMESPACE: &str = "k8s.io";

/// The containerd that serves a node's kubelet, and its namespace: what makes a
/// shim or a task the node's own. Everything outside it (Docker's `moby` shims,
/// another containerd's, `ctr run` in `default`) is left alone by every step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeletRuntime {
    /// containerd's socket (`--address`).
    pub address: String,
    /// The CRI namespace (`k8s.io`).
    pub namespace: String,
}

impl KubeletRuntime {
    /// microk8s's: `/var/snap/microk8s/common/run/containerd.sock`, namespace `k8s.io`.
    pub fn microk8s() -> Self {
        KubeletRuntime::at(MICROK8S_CONTAINERD_SOCKET)
    }

    /// The containerd at `address`, namespace `k8s.io`.
    pub fn at(address: impl Into<String>) -> Self {
        KubeletRuntime {
            address: address.into(),
            namespace: KUBELET_NAMESPACE.into(),
        }
    }
}

/// Who a node says it is: what proves that a node-scoped backend acts on the
/// node it was asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The machine's hostname (`/proc/sys/kernel/hostname`).
    pub hostname: Option<String>,
    /// The kubelet's `--hostname-override`, from its args file, when set.
    pub kubelet_node_name: Option<String>,
}

impl NodeIdentity {
    /// The name the kubelet registers under: the override, else the hostname
    /// (lowercased, as the kubelet does).
    pub fn kubelet_name(&self) -> Option<String> {
        self.kubelet_node_name
            .as_deref()
            .or(self.hostname.as_deref())
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
    }

    /// Whether this is node `name`: the kubelet's node name, or the hostname
    /// (short or fully qualified), is `name`.
    pub fn is(&self, name: &NodeName) -> bool {
        let want = name.as_str();
        let short = |n: &str| n.split('.').next().unwrap_or(n).to_ascii_lowercase();
        self.kubelet_name().is_some_and(|n| n == want)
            || self
                .hostname
                .as_deref()
                .is_some_and(|h| h.trim().eq_ignore_ascii_case(want) || short(h.trim()) == want)
    }

    /// The names it goes by, for messages (`k8s02 (kubelet node k8s02)`).
    pub fn describe(&self) -> String {
        match (&self.hostname, &self.kubelet_node_name) {
            (Some(h), Some(k)) if h != k => format!("host {h} (kubelet node {k})"),
            (Some(h), _) => format!("host {h}"),
            (None, Some(k)) => format!("kubelet node {k}"),
            (None, None) => "a machine that gave no hostname".into(),
        }
    }
}

/// A containerd task's status, as `ctr tasks list` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Exited.
    Stopped,
    /// Frozen by the cgroup freezer.
    Paused,
    /// Being frozen.
    Pausing,
    /// containerd could not ask the shim (a frozen or dead shim shows this).
    Unknown,
}

impl TaskStatus {
    /// The status as `ctr` prints it (`RUNNING`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Created => "CREATED",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Stopped => "STOPPED",
            TaskStatus::Paused => "PAUSED",
            TaskStatus::Pausing => "PAUSING",
            TaskStatus::Unknown => "UNKNOWN",
        }
    }
}

/// A containerd task (`ctr -n k8s.io tasks list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's container id.
    pub id: ContainerId,
    /// The task's init process (0 when it has none).
    pub pid: Pid,
    /// Its status.
    pub status: TaskStatus,
}

/// The Kubernetes API's view of a node (`kubectl get node -o json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The node's name.
    pub name: NodeName,
    /// `status.conditions[type=Ready].status == "True"`.
    pub ready: bool,
    /// The Ready condition's reason (`KubeletReady`, `KubeletNotReady`).
    pub ready_reason: Option<String>,
    /// The Ready condition's message.
    pub ready_message: Option<String>,
    /// `spec.unschedulable`: cordoned.
    pub unschedulable: bool,
    /// The last heartbeat (`lastHeartbeatTime` of Ready, or the node lease's renew time).
    pub heartbeat: Option<Timestamp>,
}

/// A pod's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted, not all containers running.
    Pending,
    /// Bound and all containers started.
    Running,
    /// All containers exited successfully.
    Succeeded,
    /// All containers exited, at least one failed.
    Failed,
    /// The state could not be obtained.
    Unknown,
}

impl PodPhase {
    /// The phase as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

/// The Kubernetes API's view of a pod, with what the kubelet has said about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodView {
    /// Namespace and name.
    pub pod: PodRef,
    /// `spec.nodeName`, once bound.
    pub node: Option<NodeName>,
    /// `status.phase`.
    pub phase: PodPhase,
    /// `metadata.creationTimestamp`.
    pub created_at: Timestamp,
    /// When it was bound to its node (the `PodScheduled` condition), when known.
    pub scheduled_at: Option<Timestamp>,
    /// When the kubelet started it (`status.startTime`), when it has.
    pub started_at: Option<Timestamp>,
    /// How many events the kubelet has recorded for it (`source.component=kubelet`).
    pub kubelet_events: u32,
}

/// systemd's `ActiveState` of a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActiveState {
    /// Running.
    Active,
    /// Reloading its configuration.
    Reloading,
    /// Not running.
    Inactive,
    /// Failed.
    Failed,
    /// Starting.
    Activating,
    /// Stopping.
    Deactivating,
}

impl ActiveState {
    /// The state as `systemctl` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveState::Active => "active",
            ActiveState::Reloading => "reloading",
            ActiveState::Inactive => "inactive",
            ActiveState::Failed => "failed",
            ActiveState::Activating => "activating",
            ActiveState::Deactivating => "deactivating",
        }
    }
}

/// A unit's state (`systemctl show -p MainPID,ActiveState,ExecMainStartTimestamp,NRestarts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// `ActiveState`.
    pub active: ActiveState,
    /// `MainPID`, `None` when 0.
    pub main_pid: Option<Pid>,
    /// `ExecMainStartTimestamp`, `None` when empty.
    pub started_at: Option<Timestamp>,
    /// `NRestarts`: automatic restarts by systemd (not manual `systemctl restart`).
    pub restarts: u32,
}

/// A process by name (`pgrep -a NAME`), with its start time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Its process id.
    pub pid: Pid,
    /// Its command line, split at NULs as in `/proc/PID/cmdline`.
    pub cmdline: Vec<String>,
    /// When it started, when known.
    pub started_at: Option<Timestamp>,
}

/// A Go goroutine dump (SIGUSR1 to kubelite writes one to its journal).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoroutineDump {
    /// The goroutines, in the order printed.
    pub goroutines: Vec<Goroutine>,
}

/// One goroutine: `goroutine 12104 [select, 4 minutes]:` and its stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goroutine {
    /// Its id.
    pub id: u64,
    /// Its state (`select`, `chan receive`, `IO wait`, `running`, ...).
    pub state: String,
    /// How long it has been blocked, when the runtime printed it.
    pub minutes: Option<u32>,
    /// The call stack, innermost first; the last frame may be `created by ...`.
    pub frames: Vec<Frame>,
}

/// A stack frame: the function and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The function (`k8s.io/client-go/tools/cache.handleAnyWatch(...)`), or
    /// `created by X` for the creator line.
    pub function: String,
    /// `file.go:904` with the path as printed, when present.
    pub location: Option<String>,
}

impl GoroutineDump {
    /// The goroutines whose stack mentions `function` (a substring of a frame's
    /// function, e.g. `handleAnyWatch`).
    pub fn blocked_in<'a>(&'a self, function: &'a str) -> impl Iterator<Item = &'a Goroutine> + 'a {
        self.goroutines
            .iter()
            .filter(move |g| g.frames.iter().any(|f| f.function.contains(function)))
    }
}

/// The runbook's orphaned shims: shims of the node's own containerd, in its
/// Kubernetes namespace, whose container id is not the id of any task that
/// containerd lists there.
///
/// Ids are compared exactly. The runbook's shell loop uses `grep -q "$CID"`, a
/// substring match, which would call a shim live when its id is a substring of a
/// listed id (and, on the kill side, miscount); here a shim is an orphan if and
/// only if no task has exactly its id. Shims of another containerd (`-address`)
/// or another namespace (Docker's `moby`) are never orphans of this node, however
/// their ids compare: the task list says nothing about them.
///
/// ```
/// use kubestall_node::{orphaned_shims, ContainerId, KubeletRuntime, Pid, ShimProcess, Task, TaskStatus};
/// let rt = KubeletRuntime::microk8s();
/// let id = |s: &str| ContainerId::new(s).unwrap();
/// let shim = |p, s: &str, ns: &str| ShimProcess {
///     pid: Pid(p), container_id: id(s), namespace: ns.into(),
///     address: Some(rt.address.clone()), started_at: None,
/// };
/// let shims = [shim(10, "abc", "k8s.io"), shim(11, "abcdef", "k8s.io"), shim(12, "d0cker", "moby")];
/// let tasks = [Task { id: id("abcdef"), pid: Pid(20), status: TaskStatus::Running }];
/// let orphans: Vec<u32> = orphaned_shims(&shims, &tasks, &rt).map(|s| s.pid.0).collect();
/// assert_eq!(orphans, [10]); // "abc" is a prefix of a live id, and still an orphan; moby's is not ours
/// ```
pub fn orphaned_shims<'a>(
    shims: &'a [ShimProcess],
    tasks: &[Task],
    runtime: &'a KubeletRuntime,
) -> impl Iterator<Item = &'a ShimProcess> + 'a {
    let live: std::collections::HashSet<ContainerId> = tasks.iter().map(|t| t.id.clone()).collect();
    shims
        .iter()
        .filter(move |s| s.belongs_to(runtime) && !live.contains(&s.container_id))
}

/// The node's own shims: those of its containerd, in its Kubernetes namespace.
pub fn own_shims<'a>(
    shims: &'a [ShimProcess],
    runtime: &'a KubeletRuntime,
) -> impl Iterator<Item = &'a ShimProcess> + 'a {
    shims.iter().filter(move |s| s.belongs_to(runtime))
}
