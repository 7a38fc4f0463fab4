//! The model: a microk8s cluster as plain state machines, with no IO and no clock
//! of its own. Time comes in as the `now` of each event; work comes out as
//! journal lines, API changes and process state.
//!
//! Each failure mode emerges from a mechanism, never from a scenario's name:
//! - the eviction manager stalls on the first kubelite start after containerd
//!   changed its imagefs labels (mode 1);
//! - the kubelet's pod source LISTs from the apiserver's snapshot taken when it
//!   came up and WATCHes from the revision when the LIST completes; a bind in
//!   between is in neither, and the watch, opened past binds it never saw, stays
//!   empty (mode 2);
//! - Generic PLEG's first relist calls ContainerStatus on every container, and a
//!   call to an orphaned shim hangs until its timeout (mode 3); rapid restarts
//!   leave orphans behind;
//! - k8s-dqlite's connection state corrupts after a restart storm (kine);
//! - EventedPLEG stops hearing from a frozen containerd;
//! - killing a shim does not kill its container's processes (lock holders).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use kubestall_node::{
    ContainerId, Frame, Goroutine, GoroutineDump, JournalEntry, NodeName, Pid, Pleg, PodPhase,
    PodRef, Timestamp, Unit,
};

use crate::action::Action;
use crate::config::{SimConfig, SimNodeConfig, Timings, changed_imagefs_labels, shares_shims};
use crate::lines;
use crate::rng::Rng;

/// CPU a busy process uses, in nanoseconds per second of time (2% of a core).
const KUBELITE_CPU_NS_PER_S: u64 = 20_000_000;
const DAEMON_CPU_NS_PER_S: u64 = 5_000_000;
const SHIM_CPU_NS_PER_S: u64 = 200_000;
/// The scheduler binds a pod this long after it can.
const BIND_LATENCY: Duration = Duration::from_millis(20);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Action(Action),
    Bind(usize),
    ApiUp(usize, u64),
    KubeletReady(usize, u64),
    Heartbeat(usize, u64),
    Chatter(usize, u64),
    RelistDone(usize, u64),
    PlegUnhealthy(usize, u64),
    EventedStartupCheck(usize, u64),
    EventedResync(usize, u64),
    SyncPod(usize, u64, usize),
    PodStarted(usize, u64, usize),
    KineRetry(usize, u64, u32),
    SystemdRestart(usize, UnitKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum UnitKind {
    Kubelite,
    Dqlite,
    Containerd,
}

impl UnitKind {
    pub(crate) fn of(u: &Unit) -> Option<UnitKind> {
        match u {
            Unit::Kubelite => Some(UnitKind::Kubelite),
            Unit::K8sDqlite => Some(UnitKind::Dqlite),
            Unit::Containerd => Some(UnitKind::Containerd),
            Unit::Other(_) => None,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
    fn unit(self) -> Unit {
        match self {
            UnitKind::Kubelite => Unit::Kubelite,
            UnitKind::Dqlite => Unit::K8sDqlite,
            UnitKind::Containerd => Unit::Containerd,
        }
    }
}

struct Queued {
    at: Timestamp,
    seq: u64,
    ev: Ev,
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// A pod in the API.
pub(crate) struct Pod {
    pub r: PodRef,
    pub uid: String,
    pub target: Option<usize>,
    pub node: Option<usize>,
    pub phase: PodPhase,
    pub created: Timestamp,
    pub scheduled_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub bound_rv: u64,
    pub kubelet_events: u32,
    pub container: Option<String>,
    pub lock_app: Option<(String, String)>,
}

/// A process on a node, with the CPU it has used.
pub(crate) struct Proc {
    pub name: String,
    pub cmdline: Vec<String>,
    pub started_at: Timestamp,
    cpu_ns: u64,
    busy_since: Option<Timestamp>,
    rate: u64,
}

impl Proc {
    fn cpu(&self, now: Timestamp) -> u64 {
        self.cpu_ns
            + self
                .busy_since
                .map(|s| (now.since(s).as_micros() as u64).saturating_mul(self.rate) / 1_000_000)
                .unwrap_or(0)
    }
    fn set_busy(&mut self, now: Timestamp, busy: bool) {
        self.cpu_ns = self.cpu(now);
        self.busy_since = busy.then_some(now);
    }
    pub fn schedstat(&self, now: Timestamp) -> kubestall_node::Schedstat {
        let cpu = self.cpu(now);
        kubestall_node::Schedstat {
            on_cpu_ns: cpu,
            wait_ns: cpu / 7,
            timeslices: cpu / 250_000 + 1,
        }
    }
}

/// A container known to containerd on a node.
pub(crate) struct Ctr {
    pub pod: Option<usize>,
    /// The shim process serving it; `None` when it shares another container's shim.
    pub shim_pid: Option<u32>,
    /// The container whose shim it shares (containerd 2.x shim sharing).
    pub host: Option<String>,
    /// The task's init pid while it runs; `None` once exited.
    pub task_pid: Option<u32>,
    /// An exited container whose shim still lives: ContainerStatus on it hangs this long.
    pub hung: Option<Duration>,
}

/// A lock-using application process (buildkitd) inside a container.
pub(crate) struct LockApp {
    pub pid: u32,
    pub app: String,
    pub lock: String,
    pub container: Option<String>,
    pub run_dir: Vec<String>,
    pub holds_lock: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Down,
    Starting,
    Running,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cstate {
    Up,
    Frozen,
    Down,
}

pub(crate) struct Kubelite {
    pub run: u64,
    pub pid: Option<u32>,
    pub phase: Phase,
    pub started_at: Timestamp,
    ready_at: Timestamp,
    pub kine_attempt: Option<u32>,
    api_up: bool,
    snapshot_rv: u64,
    watch_rv: u64,
    pub watching: bool,
    pub watch_wedged: bool,
    pub last_watch_event: Timestamp,
    pub known: BTreeSet<usize>,
    pub eviction_stalled: bool,
    pub pleg_ok: bool,
    pub relisting: bool,
    pub pleg_last_active: Timestamp,
    pub stream_broken: bool,
    in_flight: BTreeSet<usize>,
    /// Pods this run of the kubelet has started syncing.
    synced: u32,
}

impl Kubelite {
    fn down(run: u64, now: Timestamp) -> Kubelite {
        Kubelite {
            run,
            pid: None,
            phase: Phase::Down,
            started_at: now,
            ready_at: now,
            kine_attempt: None,
            api_up: false,
            snapshot_rv: 0,
            watch_rv: 0,
            watching: false,
            watch_wedged: false,
            last_watch_event: now,
            known: BTreeSet::new(),
            eviction_stalled: false,
            pleg_ok: false,
            relisting: false,
            pleg_last_active: now,
            stream_broken: false,
            in_flight: BTreeSet::new(),
            synced: 0,
        }
    }

    /// Whether the kubelet's sync loop is blocked so that the process uses no CPU.
    fn blocked(&self, pleg: Pleg) -> bool {
        self.eviction_stalled || (self.relisting && pleg == Pleg::Generic)
    }
}

pub(crate) struct Service {
    pub pid: Option<u32>,
    pub started_at: Option<Timestamp>,
    pub restarts: u32,
}

pub(crate) struct Node {
    pub name: NodeName,
    pub cfg: SimNodeConfig,
    rng: Rng,
    pub unschedulable: bool,
    pub heartbeat: Option<Timestamp>,
    pub not_ready: Option<(String, String)>,
    pub bound: Vec<usize>,
    waiting: Vec<usize>,
    next_pid: u32,
    pub procs: BTreeMap<u32, Proc>,
    pub kl: Kubelite,
    kubelite_starts: VecDeque<Timestamp>,
    pub kubelite_svc: Service,
    imagefs_pending: bool,
    pub containerd: Cstate,
    pub containerd_svc: Service,
    pub containers: BTreeMap<String, Ctr>,
    pub dqlite_svc: Service,
    pub dqlite_corrupted: bool,
    pub journal: [Vec<JournalEntry>; 3],
    pub lock_apps: Vec<LockApp>,
}

impl Node {
    pub fn ready(&self, now: Timestamp, grace: Duration) -> bool {
        self.not_ready.is_none() && self.heartbeat.is_some_and(|h| now.since(h) <= grace)
    }

    fn alloc_pid(&mut self) -> u32 {
        self.next_pid += self.rng.range(1, 40) as u32;
        self.next_pid
    }

    fn spawn(&mut self, now: Timestamp, name: &str, cmdline: Vec<String>, rate: u64) -> u32 {
        let pid = self.alloc_pid();
        self.procs.insert(
            pid,
            Proc {
                name: name.to_string(),
                cmdline,
                started_at: now,
                cpu_ns: 0,
                busy_since: Some(now),
                rate,
            },
        );
        pid
    }

    fn set_busy(&mut self, now: Timestamp, pid: Option<u32>, busy: bool) {
        if let Some(p) = pid.and_then(|p| self.procs.get_mut(&p)) {
            p.set_busy(now, busy);
        }
    }

    fn log(&mut self, now: Timestamp, unit: UnitKind, pid: Option<u32>, message: String) {
        let u = unit.unit();
        self.journal[unit.index()].push(JournalEntry {
            at: now,
            identifier: Some(u.syslog_identifier().to_string()),
            unit: Some(u),
            pid: pid.map(Pid),
            hostname: Some(self.name.to_string()),
            message,
            cursor: None,
        });
    }

    /// Pods whose containers have an orphaned shim hanging on them (EventedPLEG delays those).
    fn hung_for_pod(&self, pod: usize) -> Option<Duration> {
        self.containers
            .values()
            .filter(|c| c.pod == Some(pod))
            .filter_map(|c| c.hung)
            .max()
    }

    /// Seconds the first Generic relist takes: one ContainerStatus per container, orphans hang.
    fn relist_cost(&self) -> Duration {
        self.containers.values().filter_map(|c| c.hung).sum()
    }
}

/// The whole cluster and its event queue.
pub(crate) struct World {
    pub now: Timestamp,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    pub t: Timings,
    pub rv: u64,
    pub pods: Vec<Pod>,
    pub pod_by_ref: HashMap<PodRef, usize>,
    pub nodes: Vec<Node>,
    pub trace: Option<String>,
    pub events: u64,
    /// Scheduled actions the model refused, with when and why: a scenario that
    /// asks for something impossible must say so, not be silently ignored.
    pub rejected: Vec<(Timestamp, String)>,
}

fn go_version(microk8s: &str) -> String {
    microk8s.to_string()
}

impl World {
    pub fn new(cfg: &SimConfig) -> World {
        let now = cfg.start;
        let mut w = World {
            now,
            seq: 0,
            queue: BinaryHeap::new(),
            t: cfg.timings.clone(),
            rv: 1000,
            pods: Vec::new(),
            pod_by_ref: HashMap::new(),
            nodes: Vec::new(),
            trace: cfg.trace.then(String::new),
            events: 0,
            rejected: Vec::new(),
        };
        for nc in &cfg.nodes {
            let mut rng = Rng::new(cfg.seed, &format!("node/{}", nc.name));
            let base_pid = rng.range(800, 3000) as u32;
            let node = Node {
                name: nc.name.clone(),
                cfg: nc.clone(),
                rng,
                unschedulable: false,
                heartbeat: Some(now),
                not_ready: None,
                bound: Vec::new(),
                waiting: Vec::new(),
                next_pid: base_pid,
                procs: BTreeMap::new(),
                kl: Kubelite::down(0, now),
                kubelite_starts: VecDeque::new(),
                kubelite_svc: Service {
                    pid: None,
                    started_at: None,
                    restarts: 0,
                },
                imagefs_pending: false,
                containerd: Cstate::Up,
                containerd_svc: Service {
                    pid: None,
                    started_at: None,
                    restarts: 0,
                },
                containers: BTreeMap::new(),
                dqlite_svc: Service {
                    pid: None,
                    started_at: None,
                    restarts: 0,
                },
                dqlite_corrupted: false,
                journal: [Vec::new(), Vec::new(), Vec::new()],
                lock_apps: Vec::new(),
            };
            w.nodes.push(node);
        }
        for n in 0..w.nodes.len() {
            w.boot_steady(n);
        }
        w
    }

    /// A node that has been up for a while: services started a day ago, pods Running.
    fn boot_steady(&mut self, n: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        let age = Duration::from_secs(29 * 3600 + node.rng.range(0, 3600));
        let since = now.sub(age);
        let dq = node.spawn(
            since,
            "k8s-dqlite",
            vec![
                "/snap/microk8s/current/bin/k8s-dqlite".into(),
                "--storage-dir=/var/snap/microk8s/current/var/kubernetes/backend/".into(),
            ],
            DAEMON_CPU_NS_PER_S,
        );
        node.dqlite_svc = Service {
            pid: Some(dq),
            started_at: Some(since),
            restarts: 0,
        };
        let cd = node.spawn(
            since,
            "containerd",
            containerd_cmdline(),
            DAEMON_CPU_NS_PER_S,
        );
        node.containerd_svc = Service {
            pid: Some(cd),
            started_at: Some(since),
            restarts: 0,
        };
        let kl_since = now.sub(Duration::from_secs(node.rng.range(3600, 20 * 3600)));
        let kl = node.spawn(
            kl_since,
            "kubelite",
            vec!["/snap/microk8s/current/kubelite".into()],
            KUBELITE_CPU_NS_PER_S,
        );
        node.kubelite_svc = Service {
            pid: Some(kl),
            started_at: Some(kl_since),
            restarts: 0,
        };
        // Backdate the CPU each has used, so schedstat looks like a long-running process.
        for pid in [dq, cd, kl] {
            if let Some(p) = node.procs.get_mut(&pid) {
                p.started_at = if pid == kl { kl_since } else { since };
                p.cpu_ns = now.since(p.started_at).as_secs() * p.rate;
                p.busy_since = Some(now);
            }
        }
        node.kl = Kubelite::down(1, now);
        node.kl.pid = Some(kl);
        node.kl.phase = Phase::Running;
        node.kl.started_at = kl_since;
        node.kl.ready_at = kl_since;
        node.kl.watching = true;
        node.kl.pleg_ok = true;
        node.kl.api_up = true;
        node.kl.last_watch_event = now;
        node.kubelite_starts.push_back(kl_since);
        let initial = node.cfg.initial_pods;
        let name = node.name.to_string();
        for i in 0..initial {
            let p = self.add_pod(
                PodRef::new("default", format!("app-{name}-{i}")),
                Some(n),
                since,
            );
            self.pods[p].node = Some(n);
            self.pods[p].scheduled_at = Some(since);
            self.pods[p].started_at = Some(since);
            self.pods[p].phase = PodPhase::Running;
            self.pods[p].kubelet_events = 3;
            self.rv += 1;
            self.pods[p].bound_rv = self.rv;
            self.nodes[n].bound.push(p);
            self.nodes[n].kl.known.insert(p);
            self.run_container(n, p, since);
        }
        let run = self.nodes[n].kl.run;
        let hb = self.nodes[n].rng.duration(Duration::ZERO, self.t.heartbeat);
        self.push(now.add(hb), Ev::Heartbeat(n, run));
        let ch = self.nodes[n]
            .rng
            .duration(self.t.chatter.0, self.t.chatter.1);
        self.push(now.add(ch), Ev::Chatter(n, run));
        if self.nodes[n].cfg.pleg == Pleg::Evented {
            let r = self.nodes[n]
                .rng
                .duration(Duration::ZERO, self.t.evented_resync);
            self.push(now.add(r), Ev::EventedResync(n, run));
        }
    }

    fn add_pod(&mut self, r: PodRef, target: Option<usize>, created: Timestamp) -> usize {
        let idx = self.pods.len();
        let uid = {
            let h = match target {
                Some(n) => self.nodes[n].rng.hex_id(),
                None => format!("{:064x}", idx),
            };
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        };
        self.pod_by_ref.insert(r.clone(), idx);
        self.pods.push(Pod {
            r,
            uid,
            target,
            node: None,
            phase: PodPhase::Pending,
            created,
            scheduled_at: None,
            started_at: None,
            bound_rv: 0,
            kubelet_events: 0,
            container: None,
            lock_app: None,
        });
        idx
    }

    /// Creates a running container (shim, task) for pod `p` on node `n`.
    fn run_container(&mut self, n: usize, p: usize, at: Timestamp) -> String {
        let node = &mut self.nodes[n];
        let id = node.rng.hex_id();
        let shim = node.spawn(
            at,
            "containerd-shim-runc-v2",
            shim_cmdline(&id),
            SHIM_CPU_NS_PER_S,
        );
        let task = node.alloc_pid();
        node.containers.insert(
            id.clone(),
            Ctr {
                pod: Some(p),
                shim_pid: Some(shim),
                host: None,
                task_pid: Some(task),
                hung: None,
            },
        );
        self.pods[p].container = Some(id.clone());
        id
    }

    pub fn push(&mut self, at: Timestamp, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at: at.max(self.now),
            seq: self.seq,
            ev,
        }));
    }

    /// Processes every event up to and including `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Timestamp) {
        while let Some(Reverse(q)) = self.queue.peek() {
            if q.at > until {
                break;
            }
            let Some(Reverse(q)) = self.queue.pop() else {
                break;
            };
            self.now = q.at;
            self.events += 1;
            if let Some(tr) = self.trace.as_mut() {
                let _ = writeln!(tr, "{} {:?}", q.at.as_micros(), q.ev);
            }
            self.handle(q.ev);
        }
        if until > self.now {
            self.now = until;
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Action(a) => {
                let what = format!("{a:?}");
                if let Err(e) = self.apply(a) {
                    self.rejected.push((self.now, format!("{what}: {e}")));
                }
            }
            Ev::Bind(p) => self.bind(p),
            Ev::ApiUp(n, g) if self.live(n, g) => self.api_up(n),
            Ev::KubeletReady(n, g) if self.live(n, g) => self.kubelet_ready(n),
            Ev::Heartbeat(n, g) if self.live(n, g) => self.heartbeat(n),
            Ev::Chatter(n, g) if self.live(n, g) => self.chatter(n),
            Ev::RelistDone(n, g) if self.live(n, g) => self.relist_done(n),
            Ev::PlegUnhealthy(n, g) if self.live(n, g) => self.pleg_unhealthy(n),
            Ev::EventedStartupCheck(n, g) if self.live(n, g) => self.evented_startup_check(n),
            Ev::EventedResync(n, g) if self.live(n, g) => self.evented_resync(n),
            Ev::SyncPod(n, g, p) if self.live(n, g) => self.sync_pod(n, p),
            Ev::PodStarted(n, g, p) if self.live(n, g) => self.pod_started(n, p),
            Ev::KineRetry(n, g, a) if self.live(n, g) => self.kine_retry(n, a),
            Ev::SystemdRestart(n, u) => self.start_unit(n, u),
            // An event of a kubelite that has since stopped.
            _ => {}
        }
    }

    fn live(&self, n: usize, run: u64) -> bool {
        let kl = &self.nodes[n].kl;
        kl.run == run && kl.phase != Phase::Down
    }

    // ---- actions (faults, workload, Control) ----

    pub fn apply(&mut self, a: Action) -> Result<(), crate::SimError> {
        let now = self.now;
        match a {
            Action::CreatePod {
                namespace,
                name,
                node,
            } => {
                let r = PodRef::new(namespace, name);
                if self.pod_by_ref.contains_key(&r) {
                    return Err(crate::SimError::PodExists(r));
                }
                let target = match &node {
                    Some(n) => Some(self.node_index(n)?),
                    None => None,
                };
                let p = self.add_pod(r, target, now);
                self.try_bind(p);
            }
            Action::Cordon { node } => {
                let n = self.node_index(&node)?;
                self.nodes[n].unschedulable = true;
                self.rv += 1;
            }
            Action::Uncordon { node } => {
                let n = self.node_index(&node)?;
                self.nodes[n].unschedulable = false;
                self.rv += 1;
                self.retry_binds(n);
            }
            Action::RestartUnit { node, unit } => {
                let n = self.node_index(&node)?;
                let u =
                    UnitKind::of(&unit).ok_or_else(|| crate::SimError::NoSuchUnit(unit.clone()))?;
                self.stop_unit(n, u);
                self.start_unit(n, u);
            }
            Action::StopUnit { node, unit } => {
                let n = self.node_index(&node)?;
                let u =
                    UnitKind::of(&unit).ok_or_else(|| crate::SimError::NoSuchUnit(unit.clone()))?;
                self.stop_unit(n, u);
            }
            Action::StartUnit { node, unit } => {
                let n = self.node_index(&node)?;
                let u =
                    UnitKind::of(&unit).ok_or_else(|| crate::SimError::NoSuchUnit(unit.clone()))?;
                if self.service(n, u).pid.is_none() {
                    self.start_unit(n, u);
                }
            }
            Action::Kill { node, pid, signal } => {
                let n = self.node_index(&node)?;
                self.kill(n, pid.0, signal)?;
            }
            Action::UpgradeContainerd {
                node,
                version,
                microk8s,
            } => {
                let n = self.node_index(&node)?;
                // A snap refresh: the services stop, the new revision starts them.
                self.stop_unit(n, UnitKind::Kubelite);
                self.stop_unit(n, UnitKind::Containerd);
                self.nodes[n].cfg.containerd = version.clone();
                self.nodes[n].cfg.microk8s = microk8s;
                self.nodes[n].imagefs_pending = changed_imagefs_labels(&version);
                self.start_unit(n, UnitKind::Containerd);
                self.start_unit(n, UnitKind::Kubelite);
            }
            Action::LeaveOrphanShims {
                node,
                count,
                shared,
            } => {
                let n = self.node_index(&node)?;
                if shared > 0 && !shares_shims(&self.nodes[n].cfg.containerd) {
                    return Err(crate::SimError::Invalid(format!(
                        "shared orphans need containerd 2.x shim sharing; {} runs containerd {}",
                        node, self.nodes[n].cfg.containerd
                    )));
                }
                for i in 0..count {
                    self.leave_orphan(n, i < shared);
                }
            }
            Action::AdoptOrphans { node, ids } => {
                // The node's orphans are exactly these (a twin read them from its real
                // containerd): the model's other orphans are gone, running containers
                // among them lost their task, and new ones appear.
                let n = self.node_index(&node)?;
                let t = self.t.clone();
                let wanted: BTreeSet<&String> = ids.iter().collect();
                let node_ref = &mut self.nodes[n];
                node_ref.containers.retain(|id, c| {
                    c.task_pid.is_some() || c.hung.is_none() || wanted.contains(id)
                });
                let mut lost_pods = Vec::new();
                for id in &ids {
                    if ContainerId::new(id.as_str()).is_err() {
                        continue;
                    }
                    let hung = Some(
                        node_ref
                            .rng
                            .duration(t.orphan_timeout.0, t.orphan_timeout.1),
                    );
                    match node_ref.containers.get_mut(id) {
                        Some(c) if c.task_pid.is_some() => {
                            c.task_pid = None;
                            c.hung = hung;
                            lost_pods.extend(c.pod);
                        }
                        Some(_) => {}
                        None => {
                            let shim =
                                node_ref.spawn(now, "containerd-shim-runc-v2", shim_cmdline(id), 0);
                            node_ref.containers.insert(
                                id.clone(),
                                Ctr {
                                    pod: None,
                                    shim_pid: Some(shim),
                                    host: None,
                                    task_pid: None,
                                    hung,
                                },
                            );
                        }
                    }
                }
                for p in lost_pods {
                    if self.pods[p]
                        .container
                        .as_deref()
                        .is_some_and(|c| wanted.contains(&c.to_string()))
                    {
                        self.pods[p].container = None;
                    }
                }
            }
            Action::SetVersions {
                node,
                containerd,
                microk8s,
            } => {
                let n = self.node_index(&node)?;
                let was = changed_imagefs_labels(&self.nodes[n].cfg.containerd);
                self.nodes[n].imagefs_pending = changed_imagefs_labels(&containerd) && !was;
                self.nodes[n].cfg.containerd = containerd;
                self.nodes[n].cfg.microk8s = microk8s;
            }
            Action::FreezeContainerd { node } => {
                let n = self.node_index(&node)?;
                self.freeze_containerd(n);
            }
            Action::StartLockService { node, app, lock } => {
                let n = self.node_index(&node)?;
                let r = PodRef::new("buildkit", format!("{app}-{node}"));
                if self.pod_by_ref.contains_key(&r) {
                    return Err(crate::SimError::PodExists(r));
                }
                let p = self.add_pod(r, Some(n), now);
                self.pods[p].lock_app = Some((app, lock));
                self.try_bind(p);
            }
        }
        Ok(())
    }

    pub fn node_index(&self, name: &NodeName) -> Result<usize, crate::SimError> {
        self.nodes
            .iter()
            .position(|n| &n.name == name)
            .ok_or_else(|| crate::SimError::NoSuchNode(name.clone()))
    }

    pub fn service(&self, n: usize, u: UnitKind) -> &Service {
        let node = &self.nodes[n];
        match u {
            UnitKind::Kubelite => &node.kubelite_svc,
            UnitKind::Dqlite => &node.dqlite_svc,
            UnitKind::Containerd => &node.containerd_svc,
        }
    }

    fn stop_unit(&mut self, n: usize, u: UnitKind) {
        let now = self.now;
        match u {
            UnitKind::Kubelite => self.stop_kubelite(n),
            UnitKind::Dqlite => {
                let node = &mut self.nodes[n];
                if let Some(pid) = node.dqlite_svc.pid.take() {
                    node.procs.remove(&pid);
                }
            }
            UnitKind::Containerd => {
                let node = &mut self.nodes[n];
                // KillMode=process: only containerd itself stops; its shims live on.
                if let Some(pid) = node.containerd_svc.pid.take() {
                    node.procs.remove(&pid);
                }
                node.containerd = Cstate::Down;
                let _ = now;
            }
        }
    }

    fn start_unit(&mut self, n: usize, u: UnitKind) {
        let now = self.now;
        match u {
            UnitKind::Kubelite => self.start_kubelite(n),
            UnitKind::Dqlite => {
                let node = &mut self.nodes[n];
                if node.dqlite_svc.pid.is_some() {
                    return;
                }
                let pid = node.spawn(
                    now,
                    "k8s-dqlite",
                    vec!["/snap/microk8s/current/bin/k8s-dqlite".into()],
                    DAEMON_CPU_NS_PER_S,
                );
                node.dqlite_svc.pid = Some(pid);
                node.dqlite_svc.started_at = Some(now);
                // Restarting k8s-dqlite resets its connection state; the data is untouched.
                node.dqlite_corrupted = false;
                node.kubelite_starts.clear();
                for l in lines::dqlite_start(now, pid) {
                    node.log(now, UnitKind::Dqlite, Some(pid), l);
                }
            }
            UnitKind::Containerd => {
                let node = &mut self.nodes[n];
                if node.containerd_svc.pid.is_some() && node.containerd != Cstate::Down {
                    return;
                }
                let pid = node.spawn(now, "containerd", containerd_cmdline(), DAEMON_CPU_NS_PER_S);
                node.containerd_svc.pid = Some(pid);
                node.containerd_svc.started_at = Some(now);
                node.containerd = Cstate::Up;
                let version = node.cfg.containerd.clone();
                for l in lines::containerd_start(now, &version) {
                    node.log(now, UnitKind::Containerd, Some(pid), l);
                }
                // The kubelet's CRI event stream does not survive a containerd restart:
                // EventedPLEG stays deaf until kubelite restarts too.
                if node.kl.phase != Phase::Down && node.cfg.pleg == Pleg::Evented {
                    node.kl.stream_broken = true;
                }
            }
        }
    }

    fn stop_kubelite(&mut self, n: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        let Some(pid) = node.kubelite_svc.pid.take() else {
            return;
        };
        node.procs.remove(&pid);
        // Pods the kubelet was in the middle of starting: their sandboxes exit with
        // the kubelet, but their shims are not cleaned up.
        // Several kubelite starts in a short session, and this kubelet was working on
        // pods when it was stopped: the sandboxes it was starting exit with it, and its
        // cleanup of earlier runs' exited sandboxes never finished. Their shims stay
        // (the runbook's zombies after rapid restarts).
        let churn = node.kubelite_starts.len() >= 3 && node.kl.synced > 0;
        let mut orphaned: Vec<usize> = Vec::new();
        if churn {
            orphaned.extend(
                node.kl
                    .in_flight
                    .iter()
                    .copied()
                    .filter(|_| node.rng.chance(0.5)),
            );
            for _ in 0..node.rng.range(1, 2) {
                if node.bound.is_empty() {
                    break;
                }
                let i = node.rng.range(0, node.bound.len() as u64 - 1) as usize;
                orphaned.push(node.bound[i]);
            }
        }
        for p in orphaned {
            {
                let id = node.rng.hex_id();
                let shim = node.spawn(now, "containerd-shim-runc-v2", shim_cmdline(&id), 0);
                let hung = node
                    .rng
                    .duration(self.t.orphan_timeout.0, self.t.orphan_timeout.1);
                node.containers.insert(
                    id,
                    Ctr {
                        pod: Some(p),
                        shim_pid: Some(shim),
                        host: None,
                        task_pid: None,
                        hung: Some(hung),
                    },
                );
            }
        }
        let run = node.kl.run;
        node.kl = Kubelite::down(run, now);
        node.kl.pid = None;
    }

    fn start_kubelite(&mut self, n: usize) {
        let now = self.now;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        if node.kubelite_svc.pid.is_some() {
            return;
        }
        node.kubelite_starts.push_back(now);
        while node
            .kubelite_starts
            .front()
            .is_some_and(|&s| now.since(s) > t.storm_window)
        {
            node.kubelite_starts.pop_front();
        }
        if node.kubelite_starts.len() >= t.storm_restarts {
            node.dqlite_corrupted = true;
        }
        let run = node.kl.run + 1;
        let pid = node.spawn(
            now,
            "kubelite",
            vec!["/snap/microk8s/current/kubelite".into()],
            KUBELITE_CPU_NS_PER_S,
        );
        node.kubelite_svc.pid = Some(pid);
        node.kubelite_svc.started_at = Some(now);
        node.kl = Kubelite::down(run, now);
        node.kl.pid = Some(pid);
        node.kl.phase = Phase::Starting;
        node.kl.started_at = now;
        let startup = node.cfg.kubelite_startup;
        node.kl.ready_at = now.add(startup);
        let evented = node.cfg.pleg == Pleg::Evented;
        let version = go_version(&node.cfg.microk8s);
        for l in lines::kubelite_startup(now, pid, &version, evented) {
            node.log(now, UnitKind::Kubelite, Some(pid), l);
        }
        self.push(now.add(startup.mul_f64(0.4)), Ev::ApiUp(n, run));
        self.push(now.add(startup), Ev::KubeletReady(n, run));
    }

    fn api_up(&mut self, n: usize) {
        let now = self.now;
        let rv = self.rv;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        node.kl.api_up = true;
        if node.dqlite_corrupted || node.dqlite_svc.pid.is_none() {
            node.kl.kine_attempt = Some(0);
            let run = node.kl.run;
            self.push(now.add(t.kine_retry), Ev::KineRetry(n, run, 0));
        } else {
            node.kl.snapshot_rv = rv;
        }
    }

    fn kine_retry(&mut self, n: usize, attempt: u32) {
        let now = self.now;
        let rv = self.rv;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        if !node.dqlite_corrupted && node.dqlite_svc.pid.is_some() {
            // k8s-dqlite was restarted: the client gets through.
            node.kl.kine_attempt = None;
            node.kl.snapshot_rv = rv;
            if now >= node.kl.ready_at && node.kl.phase == Phase::Starting {
                self.kubelet_ready(n);
            }
            return;
        }
        let pid = node.kl.pid;
        node.log(
            now,
            UnitKind::Kubelite,
            pid,
            lines::kine_retry(now, attempt),
        );
        node.kl.kine_attempt = Some(attempt);
        let run = node.kl.run;
        let jitter = node.rng.duration(Duration::ZERO, t.kine_retry / 2);
        self.push(
            now.add(t.kine_retry + jitter),
            Ev::KineRetry(n, run, attempt + 1),
        );
    }

    fn kubelet_ready(&mut self, n: usize) {
        let now = self.now;
        let rv = self.rv;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        if node.kl.kine_attempt.is_some() || node.kl.phase != Phase::Starting {
            return;
        }
        let pid = node.kl.pid;
        let pidn = pid.unwrap_or(0);
        let name = node.name.to_string();
        node.log(
            now,
            UnitKind::Kubelite,
            pid,
            lines::registered(now, pidn, &name),
        );
        node.kl.phase = Phase::Running;
        node.heartbeat = Some(now);
        node.not_ready = None;
        // The pod source: LIST from the snapshot the apiserver had when it came up,
        // WATCH from now. Binds in between are in neither.
        let snapshot = node.kl.snapshot_rv;
        let mut listed = Vec::new();
        let mut lost = 0;
        for &p in &node.bound {
            let brv = self.pods[p].bound_rv;
            if brv <= snapshot {
                listed.push(p);
            } else if brv <= rv {
                lost += 1;
            }
        }
        node.kl.watch_rv = rv;
        node.kl.watching = true;
        node.kl.watch_wedged = lost > 0;
        node.kl.last_watch_event = now;
        node.kl.known = listed.iter().copied().collect();
        // The eviction manager: with containerd's new imagefs labels the first start
        // stalls; healthy containerd nodes print the same line and carry on.
        let print = node.imagefs_pending
            || changed_imagefs_labels(&node.cfg.containerd)
            || node.rng.chance(0.5);
        if print {
            node.log(
                now,
                UnitKind::Kubelite,
                pid,
                lines::imagefs_signature(now, pidn),
            );
        }
        let run = node.kl.run;
        self.push(now.add(t.heartbeat), Ev::Heartbeat(n, run));
        let ch = self.nodes[n].rng.duration(t.chatter.0, t.chatter.1);
        self.push(now.add(ch), Ev::Chatter(n, run));
        let node = &mut self.nodes[n];
        if node.imagefs_pending {
            node.imagefs_pending = false;
            node.kl.eviction_stalled = true;
            node.set_busy(now, pid, false);
            self.retry_binds(n);
            return;
        }
        match node.cfg.pleg {
            Pleg::Generic => {
                let cost = if node.containerd == Cstate::Up {
                    node.relist_cost()
                } else {
                    t.pleg_threshold * 100
                };
                node.kl.pleg_last_active = now;
                if cost.is_zero() {
                    node.kl.pleg_ok = true;
                } else {
                    node.kl.relisting = true;
                    node.set_busy(now, pid, false);
                    if node.containerd == Cstate::Up {
                        self.push(now.add(cost), Ev::RelistDone(n, run));
                    }
                    self.push(now.add(t.pleg_threshold), Ev::PlegUnhealthy(n, run));
                }
            }
            Pleg::Evented => {
                node.kl.pleg_last_active = now;
                let first = node
                    .rng
                    .duration(t.evented_first_resync.0, t.evented_first_resync.1);
                self.push(now, Ev::EventedStartupCheck(n, run));
                self.push(now.add(first), Ev::EventedResync(n, run));
            }
        }
        self.retry_binds(n);
        self.sync_known(n);
    }

    fn heartbeat(&mut self, n: usize) {
        let now = self.now;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        if node.kl.kine_attempt.is_some() {
            return;
        }
        let was_ready = node.ready(now, t.node_monitor_grace);
        node.heartbeat = Some(now);
        let run = node.kl.run;
        self.push(now.add(t.heartbeat), Ev::Heartbeat(n, run));
        if !was_ready {
            self.retry_binds(n);
        }
    }

    fn chatter(&mut self, n: usize) {
        let now = self.now;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        let pleg = node.cfg.pleg;
        if !node.kl.blocked(pleg) && node.kl.kine_attempt.is_none() {
            let which = node.rng.next_u64();
            let name = node.name.to_string();
            let pid = node.kl.pid;
            node.log(
                now,
                UnitKind::Kubelite,
                pid,
                lines::chatter(now, pid.unwrap_or(0), which, &name),
            );
        }
        let run = node.kl.run;
        let next = node.rng.duration(t.chatter.0, t.chatter.1);
        self.push(now.add(next), Ev::Chatter(n, run));
    }

    fn relist_done(&mut self, n: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        if !node.kl.relisting {
            return;
        }
        node.kl.relisting = false;
        node.kl.pleg_ok = true;
        node.kl.pleg_last_active = now;
        let pid = node.kl.pid;
        if !node.kl.eviction_stalled {
            node.set_busy(now, pid, true);
        }
        node.not_ready = None;
        self.retry_binds(n);
        self.sync_known(n);
    }

    fn pleg_unhealthy(&mut self, n: usize) {
        let now = self.now;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        let stalled = match node.cfg.pleg {
            Pleg::Generic => node.kl.relisting,
            Pleg::Evented => node.kl.stream_broken || node.containerd != Cstate::Up,
        };
        if !stalled || node.kl.phase != Phase::Running {
            return;
        }
        let ago = now.since(node.kl.pleg_last_active);
        if ago < t.pleg_threshold {
            let run = node.kl.run;
            let at = node.kl.pleg_last_active.add(t.pleg_threshold);
            self.push(at, Ev::PlegUnhealthy(n, run));
            return;
        }
        let threshold = (node.cfg.pleg == Pleg::Generic).then_some(t.pleg_threshold);
        let pid = node.kl.pid;
        let line = lines::pleg_not_healthy(now, pid.unwrap_or(0), ago, threshold);
        let msg = kubestall_node::klog::KlogLine::parse(&line)
            .and_then(|l| l.field("err").map(str::to_string))
            .unwrap_or_default();
        node.log(now, UnitKind::Kubelite, pid, line);
        node.not_ready = Some(("KubeletNotReady".into(), msg));
        let run = node.kl.run;
        self.push(now.add(Duration::from_secs(30)), Ev::PlegUnhealthy(n, run));
    }

    fn evented_startup_check(&mut self, n: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        if node.kl.pleg_ok || node.kl.phase != Phase::Running {
            return;
        }
        let pid = node.kl.pid;
        node.log(
            now,
            UnitKind::Kubelite,
            pid,
            lines::pleg_yet_to_be_successful(now, pid.unwrap_or(0)),
        );
        let run = node.kl.run;
        let next = node
            .rng
            .duration(Duration::from_secs(5), Duration::from_secs(10));
        self.push(now.add(next), Ev::EventedStartupCheck(n, run));
    }

    fn evented_resync(&mut self, n: usize) {
        let now = self.now;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        let run = node.kl.run;
        if node.kl.phase != Phase::Running {
            return;
        }
        if node.containerd != Cstate::Up || node.kl.stream_broken {
            // ListPodSandboxes does not answer: nothing is learned, and PLEG's health
            // check will notice once the threshold passes.
            self.push(now.add(t.pleg_threshold), Ev::PlegUnhealthy(n, run));
            return;
        }
        let first = !node.kl.pleg_ok;
        node.kl.pleg_ok = true;
        node.kl.pleg_last_active = now;
        self.push(now.add(t.evented_resync), Ev::EventedResync(n, run));
        if first {
            self.retry_binds(n);
            self.sync_known(n);
        }
    }

    /// Starts every pod the kubelet knows that is not Running and not being started.
    fn sync_known(&mut self, n: usize) {
        let known: Vec<usize> = self.nodes[n].kl.known.iter().copied().collect();
        for p in known {
            // Pods not yet started, and Running pods whose container died (their shim
            // was killed): restartPolicy Always.
            let needs = self.pods[p].phase != PodPhase::Running || self.pods[p].container.is_none();
            if needs && !self.nodes[n].kl.in_flight.contains(&p) {
                self.begin_sync(n, p);
            }
        }
    }

    /// A pod reaches the kubelet's sync loop.
    fn kubelet_add(&mut self, n: usize, p: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        node.kl.known.insert(p);
        node.kl.last_watch_event = now;
        let pleg = node.cfg.pleg;
        if node.kl.blocked(pleg) {
            return;
        }
        let pid = node.kl.pid;
        let pod = self.pods[p].r.to_string();
        node.log(
            now,
            UnitKind::Kubelite,
            pid,
            lines::sync_loop_add(now, pid.unwrap_or(0), &pod),
        );
        if node.kl.pleg_ok {
            self.begin_sync(n, p);
        }
    }

    fn begin_sync(&mut self, n: usize, p: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        if node.kl.eviction_stalled || !node.kl.pleg_ok || node.kl.in_flight.contains(&p) {
            return;
        }
        node.kl.in_flight.insert(p);
        let run = node.kl.run;
        // EventedPLEG: an orphaned shim of this pod's old sandbox delays only this pod.
        let delay = match node.cfg.pleg {
            Pleg::Evented => node.hung_for_pod(p).unwrap_or_default(),
            Pleg::Generic => Duration::ZERO,
        };
        self.push(now.add(delay), Ev::SyncPod(n, run, p));
    }

    fn sync_pod(&mut self, n: usize, p: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        if node.containerd != Cstate::Up {
            // RunPodSandbox would hang: the pod waits for the next full sync.
            node.kl.in_flight.remove(&p);
            return;
        }
        let pid = node.kl.pid;
        let pod = self.pods[p].r.to_string();
        let uid = self.pods[p].uid.clone();
        node.log(
            now,
            UnitKind::Kubelite,
            pid,
            lines::sync_pod_enter(now, pid.unwrap_or(0), &pod, &uid),
        );
        self.pods[p].kubelet_events += 1;
        node.kl.synced += 1;
        let base = node.cfg.pod_start;
        let jitter = 0.6 + node.rng.unit();
        let run = node.kl.run;
        self.push(now.add(base.mul_f64(jitter)), Ev::PodStarted(n, run, p));
    }

    fn pod_started(&mut self, n: usize, p: usize) {
        let now = self.now;
        if !self.nodes[n].kl.in_flight.remove(&p) {
            return;
        }
        if self.nodes[n].containerd != Cstate::Up || self.nodes[n].kl.eviction_stalled {
            return;
        }
        let cid = self.run_container(n, p, now);
        let pod = &mut self.pods[p];
        pod.phase = PodPhase::Running;
        pod.started_at.get_or_insert(now);
        pod.kubelet_events += 2;
        let (r, uid) = (pod.r.to_string(), pod.uid.clone());
        if let Some((app, lock)) = pod.lock_app.clone() {
            self.start_lock_app(n, p, app, lock, cid.clone());
        }
        let node = &mut self.nodes[n];
        node.kl.pleg_last_active = now;
        let pid = node.kl.pid;
        node.log(
            now,
            UnitKind::Kubelite,
            pid,
            lines::pleg_event(now, pid.unwrap_or(0), &r, &uid, &cid),
        );
        node.log(
            now,
            UnitKind::Kubelite,
            pid,
            lines::sync_pod_exit(now, pid.unwrap_or(0), &r, &uid),
        );
    }

    fn start_lock_app(
        &mut self,
        n: usize,
        _p: usize,
        app: String,
        lock: String,
        container: String,
    ) {
        let now = self.now;
        let node = &mut self.nodes[n];
        let free = !node
            .lock_apps
            .iter()
            .any(|l| l.lock == lock && l.holds_lock);
        let pid = node.spawn(
            now,
            &app,
            vec![
                format!("/usr/bin/{app}"),
                "--addr".into(),
                format!("unix:///run/{app}/{app}.sock"),
            ],
            if free { DAEMON_CPU_NS_PER_S } else { 0 },
        );
        node.lock_apps.push(LockApp {
            pid,
            app: app.clone(),
            lock,
            container: Some(container),
            // The new instance creates its socket before it takes the lock.
            run_dir: vec![format!("{app}.sock")],
            holds_lock: free,
        });
    }

    // ---- scheduling ----

    fn try_bind(&mut self, p: usize) {
        let now = self.now;
        let grace = self.t.node_monitor_grace;
        let Some(n) = self.pods[p].target.or_else(|| self.pick_node(now)) else {
            return;
        };
        let node = &self.nodes[n];
        if node.ready(now, grace) && !node.unschedulable {
            self.push(now.add(BIND_LATENCY), Ev::Bind(p));
        } else if !self.nodes[n].waiting.contains(&p) {
            self.nodes[n].waiting.push(p);
        }
    }

    fn pick_node(&self, now: Timestamp) -> Option<usize> {
        let grace = self.t.node_monitor_grace;
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].ready(now, grace) && !self.nodes[i].unschedulable)
            .min_by_key(|&i| self.nodes[i].bound.len())
    }

    fn retry_binds(&mut self, n: usize) {
        let waiting = std::mem::take(&mut self.nodes[n].waiting);
        for p in waiting {
            if self.pods[p].node.is_none() {
                self.try_bind(p);
            }
        }
    }

    fn bind(&mut self, p: usize) {
        let now = self.now;
        let grace = self.t.node_monitor_grace;
        if self.pods[p].node.is_some() {
            return;
        }
        let Some(n) = self.pods[p].target else { return };
        {
            let node = &self.nodes[n];
            if !node.ready(now, grace) || node.unschedulable {
                self.nodes[n].waiting.push(p);
                return;
            }
        }
        self.rv += 1;
        let pod = &mut self.pods[p];
        pod.node = Some(n);
        pod.bound_rv = self.rv;
        pod.scheduled_at = Some(now);
        self.nodes[n].bound.push(p);
        let kl = &self.nodes[n].kl;
        if kl.phase == Phase::Running
            && kl.watching
            && !kl.watch_wedged
            && kl.kine_attempt.is_none()
        {
            self.kubelet_add(n, p);
        }
    }

    // ---- containerd, shims, processes ----

    fn leave_orphan(&mut self, n: usize, shared: bool) {
        let now = self.now;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        let pods = node.bound.clone();
        let pod =
            (!pods.is_empty()).then(|| pods[node.rng.range(0, pods.len() as u64 - 1) as usize]);
        let id = node.rng.hex_id();
        let hung = Some(node.rng.duration(t.orphan_timeout.0, t.orphan_timeout.1));
        let host = if shared {
            let live: Vec<String> = node
                .containers
                .iter()
                .filter(|(_, c)| c.task_pid.is_some() && c.shim_pid.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            (!live.is_empty())
                .then(|| live[node.rng.range(0, live.len() as u64 - 1) as usize].clone())
        } else {
            None
        };
        let shim_pid = if host.is_some() {
            None
        } else {
            Some(node.spawn(now, "containerd-shim-runc-v2", shim_cmdline(&id), 0))
        };
        node.containers.insert(
            id,
            Ctr {
                pod,
                shim_pid,
                host,
                task_pid: None,
                hung,
            },
        );
    }

    fn freeze_containerd(&mut self, n: usize) {
        let now = self.now;
        let t = self.t.clone();
        let node = &mut self.nodes[n];
        node.containerd = Cstate::Frozen;
        let pid = node.containerd_svc.pid;
        node.set_busy(now, pid, false);
        if node.kl.phase == Phase::Running {
            let run = node.kl.run;
            let last = node.kl.pleg_last_active.max(now);
            node.kl.pleg_last_active = last;
            self.push(last.add(t.pleg_threshold), Ev::PlegUnhealthy(n, run));
        }
    }

    fn kill(
        &mut self,
        n: usize,
        pid: u32,
        signal: kubestall_node::Signal,
    ) -> Result<(), crate::SimError> {
        use kubestall_node::Signal;
        let now = self.now;
        let node = &mut self.nodes[n];
        if !node.procs.contains_key(&pid) {
            return Err(crate::SimError::NoSuchProcess(Pid(pid)));
        }
        let is = |s: &Service| s.pid == Some(pid);
        let unit = if is(&node.kubelite_svc) {
            Some(UnitKind::Kubelite)
        } else if is(&node.containerd_svc) {
            Some(UnitKind::Containerd)
        } else if is(&node.dqlite_svc) {
            Some(UnitKind::Dqlite)
        } else {
            None
        };
        match (signal, unit) {
            (Signal::Usr1, Some(UnitKind::Kubelite)) => {
                self.goroutine_dump(n);
                Ok(())
            }
            (Signal::Usr1, _) => Ok(()),
            (Signal::Stop, Some(UnitKind::Containerd)) => {
                self.freeze_containerd(n);
                Ok(())
            }
            (Signal::Cont, Some(UnitKind::Containerd)) => {
                let node = &mut self.nodes[n];
                if node.containerd == Cstate::Frozen {
                    node.containerd = Cstate::Up;
                    node.set_busy(now, Some(pid), true);
                }
                Ok(())
            }
            (Signal::Stop | Signal::Cont, _) => Ok(()),
            (Signal::Kill | Signal::Term, Some(u)) => {
                self.stop_unit(n, u);
                let svc = match u {
                    UnitKind::Kubelite => &mut self.nodes[n].kubelite_svc,
                    UnitKind::Dqlite => &mut self.nodes[n].dqlite_svc,
                    UnitKind::Containerd => &mut self.nodes[n].containerd_svc,
                };
                // Restart=always: systemd brings the unit back.
                svc.restarts += 1;
                let at = now.add(self.t.restart_sec);
                self.push(at, Ev::SystemdRestart(n, u));
                Ok(())
            }
            (Signal::Kill | Signal::Term, None) => {
                self.kill_process(n, pid);
                Ok(())
            }
        }
    }

    fn kill_process(&mut self, n: usize, pid: u32) {
        let node = &mut self.nodes[n];
        node.procs.remove(&pid);
        if let Some(i) = node.lock_apps.iter().position(|l| l.pid == pid) {
            let gone = node.lock_apps.remove(i);
            // The lock is free: an instance waiting on it takes it and finishes starting.
            if gone.holds_lock
                && let Some(next) = node.lock_apps.iter_mut().find(|l| l.lock == gone.lock)
            {
                next.holds_lock = true;
                let npid = next.pid;
                node.set_busy(self.now, Some(npid), true);
                if let Some(p) = node.procs.get_mut(&npid) {
                    p.rate = DAEMON_CPU_NS_PER_S;
                    p.set_busy(self.now, true);
                }
            }
            return;
        }
        // A shim: the containers it served lose their task; their processes live on.
        let served: Vec<String> = node
            .containers
            .iter()
            .filter(|(_, c)| c.shim_pid == Some(pid))
            .map(|(k, _)| k.clone())
            .collect();
        let mut hosted: Vec<String> = Vec::new();
        for id in &served {
            hosted.extend(
                node.containers
                    .iter()
                    .filter(|(_, c)| c.host.as_deref() == Some(id))
                    .map(|(k, _)| k.clone()),
            );
        }
        let mut restart = Vec::new();
        for id in served.iter().chain(hosted.iter()) {
            if let Some(c) = node.containers.remove(id)
                && c.task_pid.is_some()
                && let Some(p) = c.pod
            {
                restart.push(p);
            }
            for l in node
                .lock_apps
                .iter_mut()
                .filter(|l| l.container.as_deref() == Some(id))
            {
                // The application survives its container as an orphan; its /run is gone.
                l.container = None;
                l.run_dir.clear();
            }
        }
        for p in restart {
            if self.pods[p]
                .container
                .as_deref()
                .is_some_and(|c| served.iter().any(|s| s == c))
            {
                self.pods[p].container = None;
            }
            // The kubelet restarts the container when it next syncs (restartPolicy Always).
            let kl = &self.nodes[n].kl;
            if kl.phase == Phase::Running && kl.pleg_ok && !kl.eviction_stalled {
                self.begin_sync(n, p);
            }
        }
    }

    fn goroutine_dump(&mut self, n: usize) -> GoroutineDump {
        let now = self.now;
        let node = &mut self.nodes[n];
        let pid = node.kl.pid;
        let watch_minutes = (now.since(node.kl.last_watch_event).as_secs() / 60) as u32;
        let relist_minutes = (now.since(node.kl.pleg_last_active).as_secs() / 60) as u32;
        let mut dump = GoroutineDump::default();
        let frame = |f: &str, l: &str| Frame {
            function: f.to_string(),
            location: Some(l.to_string()),
        };
        dump.goroutines.push(Goroutine {
            id: 1,
            state: "chan receive".into(),
            minutes: None,
            frames: vec![frame(
                "main.main()",
                "/build/microk8s/kubelite/main.go:32 +0x1d",
            )],
        });
        if node.kl.watching {
            dump.goroutines.push(Goroutine {
                id: 12104,
                state: "select".into(),
                minutes: (watch_minutes > 0).then_some(watch_minutes),
                frames: vec![
                    frame("k8s.io/client-go/tools/cache.handleAnyWatch(...)", "/build/kubernetes/staging/src/k8s.io/client-go/tools/cache/reflector.go:904 +0x145"),
                    frame("k8s.io/client-go/tools/cache.(*Reflector).watch(...)", "/build/kubernetes/staging/src/k8s.io/client-go/tools/cache/reflector.go:486 +0x3f1"),
                    frame("created by k8s.io/kubernetes/pkg/kubelet/config.newSourceApiserverFromLW in goroutine 1", "k8s.io/kubernetes/pkg/kubelet/config/apiserver.go:67 +0x2a5"),
                ],
            });
        }
        if node.kl.relisting {
            dump.goroutines.push(Goroutine {
                id: 3312,
                state: "select".into(),
                minutes: (relist_minutes > 0).then_some(relist_minutes),
                frames: vec![
                    frame(
                        "google.golang.org/grpc.(*ClientConn).Invoke(...)",
                        "/build/vendor/google.golang.org/grpc/call.go:35 +0x8b",
                    ),
                    frame(
                        "k8s.io/kubernetes/pkg/kubelet/pleg.(*GenericPLEG).Relist(...)",
                        "/build/kubernetes/pkg/kubelet/pleg/generic.go:255 +0x1c5",
                    ),
                ],
            });
        }
        let mut text = String::new();
        for g in &dump.goroutines {
            let state = match g.minutes {
                Some(m) => format!("{}, {m} minutes", g.state),
                None => g.state.clone(),
            };
            let _ = writeln!(text, "goroutine {} [{state}]:", g.id);
            for f in &g.frames {
                let _ = writeln!(text, "{}", f.function);
                if let Some(l) = &f.location {
                    let _ = writeln!(text, "\t{l}");
                }
            }
            text.push('\n');
        }
        for line in text.lines() {
            node.log(now, UnitKind::Kubelite, pid, line.to_string());
        }
        dump
    }

    pub fn dump(&mut self, n: usize) -> Option<GoroutineDump> {
        (self.nodes[n].kl.phase != Phase::Down).then(|| self.goroutine_dump(n))
    }

    pub fn container_id(id: &str) -> Option<ContainerId> {
        ContainerId::new(id).ok()
    }
}

fn containerd_cmdline() -> Vec<String> {
    [
        "/snap/microk8s/current/bin/containerd",
        "--config",
        "/var/snap/microk8s/current/args/containerd.toml",
        "--root",
        "/var/snap/microk8s/common/var/lib/containerd",
        "--state",
        "/var/snap/microk8s/common/run/containerd",
        "--address",
        "/var/snap/microk8s/common/run/containerd.sock",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

pub(crate) fn shim_cmdline(id: &str) -> Vec<String> {
    vec![
        "/snap/microk8s/current/bin/containerd-shim-runc-v2".into(),
        "-namespace".into(),
        "k8s.io".into(),
        "-id".into(),
        id.into(),
        "-address".into(),
        "/var/snap/microk8s/common/run/containerd.sock".into(),
    ]
}
