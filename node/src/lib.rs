//! The vocabulary every kubestall backend speaks.
//!
//! A microk8s node, seen the way the runbook sees it: units (`kubelite`,
//! `k8s-dqlite`, `containerd`), journal lines, `/proc/PID/schedstat`, containerd
//! shims and tasks, and the Kubernetes API's view of nodes and pods. Backends (the
//! simulator, node twins, VMs, real nodes over SSH) implement [`Observe`] and
//! [`Control`]; detectors and remediations use nothing else.
//!
//! Real backends reach a node through a [`Transport`] and read its answers with
//! the parsers in [`parse`], each tested on output captured from the real program.

mod error;
mod host;
pub mod klog;
mod mode;
mod name;
mod observe;
pub mod parse;
mod signals;
mod time;
pub mod transport;
mod unit;

pub use error::{NodeError, ParseError};
pub use host::{HostNode, HostPaths};
pub use mode::{FailureMode, Pleg, UnknownFailureMode};
pub use name::{ContainerId, InvalidName, NodeName, PodRef};
pub use observe::{Clock, Control, Observe, Signal};
pub use signals::{
    ActiveState, Frame, Goroutine, GoroutineDump, JournalEntry, KUBELET_NAMESPACE, KubeletRuntime,
    MICROK8S_CONTAINERD_SOCKET, NodeIdentity, NodeView, Pid, PodPhase, PodView, ProcessInfo,
    Schedstat, ServiceState, ShimProcess, Task, TaskStatus, orphaned_shims, own_shims,
};
pub use time::Timestamp;
pub use transport::{Cmd, CmdOutput, Local, Transport};
pub use unit::Unit;
