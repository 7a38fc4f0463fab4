//! The two traits every backend implements, and its clock.
//!
//! Detectors take `impl Observe`; remediations take `impl Control`. Neither knows
//! whether the node is the simulator, a twin container, a VM or a production node
//! over SSH. Waiting ("until Ready, at most 120 s") is built from [`Observe`] and
//! [`Clock::sleep`] by the caller, so it works the same on every backend and, on the
//! simulator, costs no wall time at all.

use std::future::Future;
use std::time::Duration;

use crate::error::NodeError;
use crate::name::NodeName;
use crate::name::PodRef;
use crate::signals::{
    GoroutineDump, JournalEntry, KubeletRuntime, NodeIdentity, NodeView, Pid, PodView, ProcessInfo,
    Schedstat, ServiceState, ShimProcess, Task,
};
use crate::time::Timestamp;
use crate::unit::Unit;

/// Time as a backend keeps it: virtual on the simulator, the wall clock elsewhere.
pub trait Clock: Send + Sync {
    /// Now, on this backend's clock.
    fn now(&self) -> Timestamp;

    /// Lets `d` pass on this backend's clock. On the simulator this runs the model
    /// forward; it returns at once in wall time.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// What the runbook reads of a node.
pub trait Observe: Clock {
    /// The node's name.
    fn node_name(&self) -> &NodeName;

    /// The containerd that serves this node's kubelet: which shims and tasks are
    /// the node's own (see [`crate::orphaned_shims`]).
    fn kubelet_runtime(&self) -> KubeletRuntime;

    /// Who the machine behind this backend says it is: its hostname and the
    /// kubelet's node name. Remediation checks it before any step, so that a
    /// node-scoped backend never acts on a machine it was not aimed at.
    fn identity(&self) -> impl Future<Output = Result<NodeIdentity, NodeError>> + Send;

    /// `journalctl -u UNIT --since T -o json`: entries at or after `since`, oldest first.
    fn journal(
        &self,
        unit: &Unit,
        since: Timestamp,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, NodeError>> + Send;

    /// `systemctl show UNIT -p MainPID,ActiveState,ExecMainStartTimestamp,NRestarts`.
    fn service(&self, unit: &Unit) -> impl Future<Output = Result<ServiceState, NodeError>> + Send;

    /// `cat /proc/PID/schedstat`.
    fn schedstat(&self, pid: Pid) -> impl Future<Output = Result<Schedstat, NodeError>> + Send;

    /// `pgrep -a containerd-shim`, run on the node: every shim on the machine with
    /// its container id, namespace and containerd address, the node's own and others'.
    fn shims(&self) -> impl Future<Output = Result<Vec<ShimProcess>, NodeError>> + Send;

    /// `ctr --address SOCK -n k8s.io tasks list`.
    fn tasks(&self) -> impl Future<Output = Result<Vec<Task>, NodeError>> + Send;

    /// `pgrep -a NAME` with start times: processes whose name is exactly `name`.
    fn processes(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<ProcessInfo>, NodeError>> + Send;

    /// `ls /proc/PID/root/run/APP/`: the entries of a process's own `/run/APP`.
    fn run_dir(
        &self,
        pid: Pid,
        app: &str,
    ) -> impl Future<Output = Result<Vec<String>, NodeError>> + Send;

    /// This node as the Kubernetes API shows it (`kubectl get node NAME`).
    fn node(&self) -> impl Future<Output = Result<NodeView, NodeError>> + Send;

    /// Every node of the cluster (`kubectl get nodes`); remediation's cordon
    /// budget needs to know how many stay schedulable.
    fn nodes(&self) -> impl Future<Output = Result<Vec<NodeView>, NodeError>> + Send;

    /// Pods bound to this node (`kubectl get pods -A --field-selector spec.nodeName=NAME`).
    fn pods(&self) -> impl Future<Output = Result<Vec<PodView>, NodeError>> + Send;

    /// The pods the kubelet itself knows (`curl -sk https://127.0.0.1:10250/pods`).
    fn kubelet_pods(&self) -> impl Future<Output = Result<Vec<PodRef>, NodeError>> + Send;

    /// Asks kubelite for a goroutine dump (SIGUSR1) and reads it from its journal.
    /// `Ok(None)` when the backend has none to give.
    fn goroutine_dump(
        &self,
    ) -> impl Future<Output = Result<Option<GoroutineDump>, NodeError>> + Send;
}

/// A signal to send to a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    /// SIGKILL (9): the runbook's `kill -9`.
    Kill,
    /// SIGTERM (15).
    Term,
    /// SIGUSR1 (10): kubelite writes a goroutine dump.
    Usr1,
    /// SIGSTOP (19): freezes a process (a frozen shim).
    Stop,
    /// SIGCONT (18).
    Cont,
}

impl Signal {
    /// The name `kill -s` takes (`KILL`).
    pub fn name(self) -> &'static str {
        match self {
            Signal::Kill => "KILL",
            Signal::Term => "TERM",
            Signal::Usr1 => "USR1",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// What the runbook does to a node.
pub trait Control: Observe {
    /// `kubectl cordon NODE`: mark it unschedulable.
    fn cordon(&self) -> impl Future<Output = Result<(), NodeError>> + Send;

    /// `kubectl uncordon NODE`.
    fn uncordon(&self) -> impl Future<Output = Result<(), NodeError>> + Send;

    /// `systemctl restart UNIT`.
    fn restart(&self, unit: &Unit) -> impl Future<Output = Result<(), NodeError>> + Send;

    /// `systemctl stop UNIT`.
    fn stop(&self, unit: &Unit) -> impl Future<Output = Result<(), NodeError>> + Send;

    /// `systemctl start UNIT`.
    fn start(&self, unit: &Unit) -> impl Future<Output = Result<(), NodeError>> + Send;

    /// `kill -s SIGNAL PID`. A process that is already gone is `NoSuchProcess`.
    fn kill(&self, pid: Pid, signal: Signal) -> impl Future<Output = Result<(), NodeError>> + Send;
}

// A shared node is the same node: backends hand out `Arc`s of nodes that cannot be cloned.
impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        (**self).sleep(d)
    }
}

impl<T: Observe + ?Sized> Observe for std::sync::Arc<T> {
    fn node_name(&self) -> &NodeName {
        (**self).node_name()
    }
    fn kubelet_runtime(&self) -> KubeletRuntime {
        (**self).kubelet_runtime()
    }
    fn identity(&self) -> impl Future<Output = Result<NodeIdentity, NodeError>> + Send {
        (**self).identity()
    }
    fn journal(
        &self,
        unit: &Unit,
        since: Timestamp,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, NodeError>> + Send {
        (**self).journal(unit, since)
    }
    fn service(&self, unit: &Unit) -> impl Future<Output = Result<ServiceState, NodeError>> + Send {
        (**self).service(unit)
    }
    fn schedstat(&self, pid: Pid) -> impl Future<Output = Result<Schedstat, NodeError>> + Send {
        (**self).schedstat(pid)
    }
    fn shims(&self) -> impl Future<Output = Result<Vec<ShimProcess>, NodeError>> + Send {
        (**self).shims()
    }
    fn tasks(&self) -> impl Future<Output = Result<Vec<Task>, NodeError>> + Send {
        (**self).tasks()
    }
    fn processes(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<ProcessInfo>, NodeError>> + Send {
        (**self).processes(name)
    }
    fn run_dir(
        &self,
        pid: Pid,
        app: &str,
    ) -> impl Future<Output = Result<Vec<String>, NodeError>> + Send {
        (**self).run_dir(pid, app)
    }
    fn node(&self) -> impl Future<Output = Result<NodeView, NodeError>> + Send {
        (**self).node()
    }
    fn nodes(&self) -> impl Future<Output = Result<Vec<NodeView>, NodeError>> + Send {
        (**self).nodes()
    }
    fn pods(&self) -> impl Future<Output = Result<Vec<PodView>, NodeError>> + Send {
        (**self).pods()
    }
    fn kubelet_pods(&self) -> impl Future<Output = Result<Vec<PodRef>, NodeError>> + Send {
        (**self).kubelet_pods()
    }
    fn goroutine_dump(
        &self,
    ) -> impl Future<Output = Result<Option<GoroutineDump>, NodeError>> + Send {
        (**self).goroutine_dump()
    }
}

impl<T: Control + ?Sized> Control for std::sync::Arc<T> {
    fn cordon(&self) -> impl Future<Output = Result<(), NodeError>> + Send {
        (**self).cordon()
    }
    fn uncordon(&self) -> impl Future<Output = Result<(), NodeError>> + Send {
        (**self).uncordon()
    }
    fn restart(&self, unit: &Unit) -> impl Future<Output = Result<(), NodeError>> + Send {
        (**self).restart(unit)
    }
    fn stop(&self, unit: &Unit) -> impl Future<Output = Result<(), NodeError>> + Send {
        (**self).stop(unit)
    }
    fn start(&self, unit: &Unit) -> impl Future<Output = Result<(), NodeError>> + Send {
        (**self).start(unit)
    }
    fn kill(&self, pid: Pid, signal: Signal) -> impl Future<Output = Result<(), NodeError>> + Send {
        (**self).kill(pid, signal)
    }
}
