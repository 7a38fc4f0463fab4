//! kubestall: reproduce, detect and remediate silent kubelet stalls on microk8s.
//!
//! This crate is what users run: the `kubestall` CLI, scenario files, the runner
//! that drives a backend through a scenario, and the reports. The node vocabulary
//! is `kubestall-node`; the model is `kubestall-sim`; findings come from
//! `kubestall-detectors`; fixes from `kubestall-remediation`.

pub mod backend;
pub mod block_on;
pub mod bundled;
pub mod cli;
pub mod cmd_node;
pub mod cmd_sim;
pub mod commands;
pub mod container;
pub mod container_backend;
pub mod duration;
pub mod exit;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shell;
pub mod sim_backend;
