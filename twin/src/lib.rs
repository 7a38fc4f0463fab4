//! The node twin: microk8s-shaped nodes in containers, where everything but the
//! Kubernetes logic is real (systemd, journald, containerd, runc, shims), and
//! the Kubernetes logic is the simulator's model driven by the wall clock.
//!
//! - [`image`] builds the node image from Debian's packages (debootstrap, then
//!   `docker import`), cached by the hash of its inputs.
//! - [`cluster`] is the model in real time, serving the Kubernetes API subset
//!   the runbook's kubectl needs and the node agents' protocol.
//! - [`agent`] is what systemd runs on each node as kubelite and k8s-dqlite.
//! - [`docker`] drives the Docker engine through its CLI.

pub mod agent;
pub mod cluster;
pub mod containers;
pub mod docker;
pub mod http;
pub mod image;
pub mod selector;
