//! A deterministic, sans-IO model of a microk8s cluster, and its virtual-time driver.
//!
//! The model ([`world`]) is plain state machines: kubelite (apiserver + scheduler +
//! kubelet, restarting together), the kubelet's pod source, PLEG and eviction
//! manager, containerd with its shims and tasks, k8s-dqlite, systemd units and
//! journald. It takes events and `now`, and produces journal lines, API changes
//! and process state. [`Sim`] drives it on an event queue in virtual time: an hour
//! of cluster time runs in milliseconds, and a seed replays a run byte for byte.
//!
//! Each node is a [`SimNode`], which implements `Observe` and `Control`, so the
//! detectors and remediations use it exactly as they use a real node.
//!
//! ```
//! use std::time::Duration;
//! use kubestall_node::{Clock, Control, NodeName, Observe, PodPhase, Unit};
//! use kubestall_sim::{Action, Sim, SimConfig, SimNodeConfig};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! let k8s03 = NodeName::new("k8s03").unwrap();
//! let sim = Sim::new(SimConfig::new(7, vec![SimNodeConfig::new(k8s03.clone())])).unwrap();
//! let node = sim.node(&k8s03).unwrap();
//!
//! // Restart kubelite without cordoning while pods are scheduled to the node.
//! block_on(node.restart(&Unit::Kubelite)).unwrap();
//! for i in 0..10 {
//!     sim.schedule(sim.now().add(Duration::from_millis(500 * i)), Action::CreatePod {
//!         namespace: "default".into(), name: format!("web-{i}"), node: Some(k8s03.clone()),
//!     });
//! }
//! block_on(node.sleep(Duration::from_secs(120)));
//!
//! // The runbook's signature: Ready, yet pods bound during the restart stay Pending.
//! let view = block_on(node.node()).unwrap();
//! let pending = block_on(node.pods()).unwrap().into_iter().filter(|p| p.phase == PodPhase::Pending).count();
//! assert!(view.ready && pending > 0);
//! ```

mod action;
mod config;
mod lines;
mod rng;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kubestall_node::{
    ActiveState, Clock, Control, GoroutineDump, JournalEntry, KubeletRuntime, NodeError,
    NodeIdentity, NodeName, NodeView, Observe, Pid, PodRef, PodView, ProcessInfo, Schedstat,
    ServiceState, ShimProcess, Signal, Task, TaskStatus, Timestamp, Unit,
};

pub use action::Action;
pub use config::{SimConfig, SimNodeConfig, Timings, changed_imagefs_labels, shares_shims};
pub use lines::go_duration;
pub use rng::Rng;

use world::{Cstate, Phase, UnitKind, World};

/// Why the simulator refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No node by that name.
    #[error("no node named {0} in the simulated cluster")]
    NoSuchNode(NodeName),
    /// The unit is not one the model runs.
    #[error("unit {0} is not modelled; the simulator runs kubelite, k8s-dqlite and containerd")]
    NoSuchUnit(Unit),
    /// No process with that pid on the node.
    #[error("no process with pid {0}")]
    NoSuchProcess(Pid),
    /// A pod by that name exists.
    #[error("pod {0} already exists")]
    PodExists(PodRef),
    /// The configuration or action does not make sense.
    #[error("{0}")]
    Invalid(String),
}

/// A simulated cluster: a cheap handle, shared by its nodes.
#[derive(Clone)]
pub struct Sim {
    world: Arc<Mutex<World>>,
    names: Arc<Vec<NodeName>>,
}

impl Sim {
    /// Builds the cluster, each node up for a day with its initial pods Running.
    pub fn new(cfg: SimConfig) -> Result<Sim, SimError> {
        if cfg.nodes.is_empty() {
            return Err(SimError::Invalid(
                "a simulated cluster needs at least one node".into(),
            ));
        }
        let mut names: Vec<NodeName> = cfg.nodes.iter().map(|n| n.name.clone()).collect();
        names.sort();
        names.dedup();
        if names.len() != cfg.nodes.len() {
            return Err(SimError::Invalid("node names must be unique".into()));
        }
        let names = cfg.nodes.iter().map(|n| n.name.clone()).collect();
        Ok(Sim {
            world: Arc::new(Mutex::new(World::new(&cfg))),
            names: Arc::new(names),
        })
    }

    fn w(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock leaves the model as it was at the panic;
        // reading it is still meaningful for reports.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Now, on the virtual clock.
    pub fn now(&self) -> Timestamp {
        self.w().now
    }

    /// The node named `name`.
    pub fn node(&self, name: &NodeName) -> Option<SimNode> {
        let idx = self.names.iter().position(|n| n == name)?;
        Some(SimNode {
            sim: self.clone(),
            idx,
            name: name.clone(),
        })
    }

    /// Every node, in configuration order.
    pub fn nodes(&self) -> Vec<SimNode> {
        self.names
            .iter()
            .enumerate()
            .map(|(idx, name)| SimNode {
                sim: self.clone(),
                idx,
                name: name.clone(),
            })
            .collect()
    }

    /// Does `action` now.
    pub fn apply(&self, action: Action) -> Result<(), SimError> {
        self.w().apply(action)
    }

    /// Queues `action` to happen at `at` (at once if `at` has passed).
    pub fn schedule(&self, at: Timestamp, action: Action) {
        self.w().push(at, world::Ev::Action(action));
    }

    /// Runs the model up to `t`.
    pub fn run_until(&self, t: Timestamp) {
        self.w().run_until(t);
    }

    /// Runs the model for `d`.
    pub fn run_for(&self, d: Duration) {
        let mut w = self.w();
        let t = w.now.add(d);
        w.run_until(t);
    }

    /// Every pod in the cluster, bound or not.
    pub fn pods(&self) -> Vec<PodView> {
        let w = self.w();
        w.pods.iter().map(|p| pod_view(&w, p)).collect()
    }

    /// The scheduled actions the model refused so far: when, what, and why.
    pub fn rejected(&self) -> Vec<(Timestamp, String)> {
        self.w().rejected.clone()
    }

    /// The event trace (one line per processed event), when `SimConfig::trace` is on.
    pub fn trace(&self) -> String {
        self.w().trace.clone().unwrap_or_default()
    }

    /// Every journal line of every node, in order: a second fingerprint of a run.
    pub fn journal_dump(&self) -> String {
        let w = self.w();
        let mut out = String::new();
        for n in &w.nodes {
            for j in &n.journal {
                for e in j {
                    out.push_str(&format!("{} {} {}\n", e.at.as_micros(), n.name, e.message));
                }
            }
        }
        out
    }

    /// The messages of `node`'s kubelite journal from position `from` on, and the
    /// position after them (a real-time driver prints them as they come).
    pub fn kubelite_lines(&self, node: &NodeName, from: usize) -> (Vec<String>, usize) {
        let w = self.w();
        let Ok(n) = w.node_index(node) else {
            return (Vec::new(), from);
        };
        let j = &w.nodes[n].journal[UnitKind::Kubelite as usize];
        let from = from.min(j.len());
        (
            j[from..].iter().map(|e| e.message.clone()).collect(),
            j.len(),
        )
    }

    /// Whether `node`'s kubelet is blocked so that it uses no CPU (the eviction
    /// manager's stall, Generic PLEG's hung relist), or is not running.
    pub fn kubelite_blocked(&self, node: &NodeName) -> bool {
        let w = self.w();
        let Ok(n) = w.node_index(node) else {
            return true;
        };
        let nd = &w.nodes[n];
        nd.kl.phase == Phase::Down
            || nd.kl.eviction_stalled
            || (nd.kl.relisting && nd.cfg.pleg == kubestall_node::Pleg::Generic)
    }

    /// The containers the model runs on `node` (with a running task), by id.
    pub fn running_containers(&self, node: &NodeName) -> Vec<String> {
        let w = self.w();
        let Ok(n) = w.node_index(node) else {
            return Vec::new();
        };
        w.nodes[n]
            .containers
            .iter()
            .filter(|(_, c)| c.task_pid.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Events processed so far (for benchmarks).
    pub fn events_processed(&self) -> u64 {
        self.w().events
    }
}

fn pod_view(w: &World, p: &world::Pod) -> PodView {
    PodView {
        pod: p.r.clone(),
        node: p.node.map(|n| w.nodes[n].name.clone()),
        phase: p.phase,
        created_at: p.created,
        scheduled_at: p.scheduled_at,
        started_at: p.started_at,
        kubelet_events: p.kubelet_events,
    }
}

/// One node of a [`Sim`]: `Observe + Control + Clock`.
#[derive(Clone)]
pub struct SimNode {
    sim: Sim,
    idx: usize,
    name: NodeName,
}

impl SimNode {
    /// The cluster this node belongs to.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    fn unit(u: &Unit) -> Result<UnitKind, NodeError> {
        UnitKind::of(u).ok_or(NodeError::NotSupported {
            backend: "sim",
            operation: "a unit other than kubelite, k8s-dqlite or containerd",
        })
    }

    fn act(&self, a: Action) -> Result<(), NodeError> {
        self.sim.apply(a).map_err(|e| match e {
            SimError::NoSuchProcess(p) => NodeError::NoSuchProcess(p),
            other => NodeError::Api(other.to_string()),
        })
    }
}

impl Clock for SimNode {
    fn now(&self) -> Timestamp {
        self.sim.now()
    }

    async fn sleep(&self, d: Duration) {
        self.sim.run_for(d);
    }
}

impl Observe for SimNode {
    fn node_name(&self) -> &NodeName {
        &self.name
    }

    fn kubelet_runtime(&self) -> KubeletRuntime {
        KubeletRuntime::microk8s()
    }

    /// A simulated node is the node it was made as.
    async fn identity(&self) -> Result<NodeIdentity, NodeError> {
        Ok(NodeIdentity {
            hostname: Some(self.name.to_string()),
            kubelet_node_name: None,
        })
    }

    async fn journal(&self, unit: &Unit, since: Timestamp) -> Result<Vec<JournalEntry>, NodeError> {
        let Some(u) = UnitKind::of(unit) else {
            return Ok(Vec::new());
        };
        let w = self.sim.w();
        let j = &w.nodes[self.idx].journal[u as usize];
        let from = j.partition_point(|e| e.at < since);
        Ok(j[from..].to_vec())
    }

    async fn service(&self, unit: &Unit) -> Result<ServiceState, NodeError> {
        let u = Self::unit(unit)?;
        let w = self.sim.w();
        let s = w.service(self.idx, u);
        let node = &w.nodes[self.idx];
        let active = match (u, s.pid) {
            (_, None) => ActiveState::Inactive,
            (UnitKind::Kubelite, Some(_)) if node.kl.phase == Phase::Starting => {
                ActiveState::Activating
            }
            _ => ActiveState::Active,
        };
        Ok(ServiceState {
            active,
            main_pid: s.pid.map(Pid),
            started_at: s.started_at,
            restarts: s.restarts,
        })
    }

    async fn schedstat(&self, pid: Pid) -> Result<Schedstat, NodeError> {
        let w = self.sim.w();
        w.nodes[self.idx]
            .procs
            .get(&pid.0)
            .map(|p| p.schedstat(w.now))
            .ok_or(NodeError::NoSuchProcess(pid))
    }

    async fn shims(&self) -> Result<Vec<ShimProcess>, NodeError> {
        let w = self.sim.w();
        let node = &w.nodes[self.idx];
        Ok(node
            .containers
            .iter()
            .filter_map(|(id, c)| {
                let pid = c.shim_pid?;
                let started_at = node.procs.get(&pid).map(|p| p.started_at);
                Some(ShimProcess {
                    pid: Pid(pid),
                    container_id: World::container_id(id)?,
                    namespace: "k8s.io".into(),
                    address: Some(kubestall_node::MICROK8S_CONTAINERD_SOCKET.into()),
                    started_at,
                })
            })
            .collect())
    }

    async fn tasks(&self) -> Result<Vec<Task>, NodeError> {
        let w = self.sim.w();
        let node = &w.nodes[self.idx];
        let cmd =
            "ctr --address /var/snap/microk8s/common/run/containerd.sock -n k8s.io tasks list";
        match node.containerd {
            Cstate::Frozen => {
                return Err(NodeError::Timeout {
                    command: cmd.into(),
                    after: w.t.ctr_timeout,
                });
            }
            Cstate::Down => {
                return Err(NodeError::Command {
                    command: cmd.into(),
                    status: "exit code 1".into(),
                    stderr: "ctr: failed to dial \"/var/snap/microk8s/common/run/containerd.sock\": connection refused".into(),
                });
            }
            Cstate::Up => {}
        }
        Ok(node
            .containers
            .iter()
            .filter_map(|(id, c)| {
                Some(Task {
                    id: World::container_id(id)?,
                    pid: Pid(c.task_pid?),
                    status: TaskStatus::Running,
                })
            })
            .collect())
    }

    async fn processes(&self, name: &str) -> Result<Vec<ProcessInfo>, NodeError> {
        let w = self.sim.w();
        Ok(w.nodes[self.idx]
            .procs
            .iter()
            .filter(|(_, p)| p.name == name)
            .map(|(pid, p)| ProcessInfo {
                pid: Pid(*pid),
                cmdline: p.cmdline.clone(),
                started_at: Some(p.started_at),
            })
            .collect())
    }

    async fn run_dir(&self, pid: Pid, app: &str) -> Result<Vec<String>, NodeError> {
        let w = self.sim.w();
        let node = &w.nodes[self.idx];
        if !node.procs.contains_key(&pid.0) {
            return Err(NodeError::NoSuchProcess(pid));
        }
        Ok(node
            .lock_apps
            .iter()
            .find(|l| l.pid == pid.0 && l.app == app)
            .map(|l| l.run_dir.clone())
            .unwrap_or_default())
    }

    async fn node(&self) -> Result<NodeView, NodeError> {
        let w = self.sim.w();
        Ok(node_view(&w, self.idx))
    }

    async fn nodes(&self) -> Result<Vec<NodeView>, NodeError> {
        let w = self.sim.w();
        Ok((0..w.nodes.len()).map(|i| node_view(&w, i)).collect())
    }

    async fn pods(&self) -> Result<Vec<PodView>, NodeError> {
        let w = self.sim.w();
        Ok(w.nodes[self.idx]
            .bound
            .iter()
            .map(|&p| pod_view(&w, &w.pods[p]))
            .collect())
    }

    async fn kubelet_pods(&self) -> Result<Vec<PodRef>, NodeError> {
        let w = self.sim.w();
        let kl = &w.nodes[self.idx].kl;
        if kl.phase != Phase::Running {
            return Err(NodeError::Command {
                command: "curl -sk https://127.0.0.1:10250/pods".into(),
                status: "exit code 7".into(),
                stderr: "curl: (7) Failed to connect to 127.0.0.1 port 10250: Connection refused"
                    .into(),
            });
        }
        Ok(kl.known.iter().map(|&p| w.pods[p].r.clone()).collect())
    }

    async fn goroutine_dump(&self) -> Result<Option<GoroutineDump>, NodeError> {
        Ok(self.sim.w().dump(self.idx))
    }
}

fn node_view(w: &World, i: usize) -> NodeView {
    let n = &w.nodes[i];
    let ready = n.ready(w.now, w.t.node_monitor_grace);
    let (reason, message) = match (&n.not_ready, ready) {
        (Some((r, m)), _) => (r.clone(), m.clone()),
        (None, true) => (
            "KubeletReady".into(),
            "kubelet is posting ready status".into(),
        ),
        (None, false) => (
            "NodeStatusUnknown".into(),
            "Kubelet stopped posting node status.".into(),
        ),
    };
    NodeView {
        name: n.name.clone(),
        ready,
        ready_reason: Some(reason),
        ready_message: Some(message),
        unschedulable: n.unschedulable,
        heartbeat: n.heartbeat,
    }
}

impl Control for SimNode {
    async fn cordon(&self) -> Result<(), NodeError> {
        self.act(Action::Cordon {
            node: self.name.clone(),
        })
    }

    async fn uncordon(&self) -> Result<(), NodeError> {
        self.act(Action::Uncordon {
            node: self.name.clone(),
        })
    }

    async fn restart(&self, unit: &Unit) -> Result<(), NodeError> {
        Self::unit(unit)?;
        self.act(Action::RestartUnit {
            node: self.name.clone(),
            unit: unit.clone(),
        })
    }

    async fn stop(&self, unit: &Unit) -> Result<(), NodeError> {
        Self::unit(unit)?;
        self.act(Action::StopUnit {
            node: self.name.clone(),
            unit: unit.clone(),
        })
    }

    async fn start(&self, unit: &Unit) -> Result<(), NodeError> {
        Self::unit(unit)?;
        self.act(Action::StartUnit {
            node: self.name.clone(),
            unit: unit.clone(),
        })
    }

    async fn kill(&self, pid: Pid, signal: Signal) -> Result<(), NodeError> {
        self.act(Action::Kill {
            node: self.name.clone(),
            pid,
            signal,
        })
    }
}
