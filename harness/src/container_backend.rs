//! The container backend: a scenario's cluster as node twins in Docker.
//!
//! The nodes are reached the way a production node is: `HostNode` running the
//! runbook's commands inside each node (nsenter) and kubectl against the
//! cluster's API. Workload and faults happen at their wall-clock times on a
//! thread of their own, as real actions: kubectl creates pods, `systemctl
//! restart` restarts kubelite, containerd really loses tasks (orphaned shims)
//! and really stops answering (SIGSTOP). The containerd 2.1.3 imagefs label
//! error has no real counterpart here (Debian ships containerd 1.6): the
//! injector sets the twin's eviction-manager switch (`/twin/v1/.../upgrade`) and
//! then restarts containerd and kubelite for real, as a snap refresh would; the
//! report says so.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kubestall_node::{HostNode, HostPaths, Local, NodeName, PodView};
use kubestall_twin::containers::{self, Cluster, ClusterSpec, Nsenter};
use kubestall_twin::http::call;
use serde_json::json;

use crate::backend::{Backend, BackendError, Event, Leftovers, Timed};
use crate::scenario::{FaultSpec, Scenario};

/// A twin node as the runner sees it.
pub type TwinNode = Arc<HostNode<Nsenter, Local>>;

/// Runs scenarios on node twins.
pub struct ContainerBackend {
    image: String,
    name: String,
    cluster: Option<Cluster>,
    stop: Arc<AtomicBool>,
    timeline: Option<std::thread::JoinHandle<Vec<String>>>,
    /// What the injectors could not do (reported as failures).
    pub notes: Vec<String>,
    /// Leave the cluster running at `down` (`--keep`); `kubestall down` removes it.
    pub keep: bool,
    /// Nested shims (containerd namespace `k8s.io`) seen on the host before `up`:
    /// any other one still there after `down` leaked.
    shims_before: std::collections::BTreeSet<u32>,
}

impl ContainerBackend {
    /// A backend using the node image `image`; clusters are named `name`.
    pub fn new(image: String, name: String) -> Self {
        ContainerBackend {
            image,
            name,
            cluster: None,
            stop: Arc::new(AtomicBool::new(false)),
            timeline: None,
            notes: Vec::new(),
            keep: false,
            shims_before: Default::default(),
        }
    }

    /// The cluster, once up.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }
}

impl Backend for ContainerBackend {
    type Node = TwinNode;

    fn name(&self) -> &'static str {
        "container"
    }

    async fn up(&mut self, s: &Scenario, seed: u64) -> Result<Vec<TwinNode>, BackendError> {
        let spec = ClusterSpec {
            name: self.name.clone(),
            nodes: s.cluster.nodes.clone(),
            image: self.image.clone(),
            seed,
            evented: s.cluster.feature_gates.evented_pleg,
            pods_per_node: s.cluster.pods_per_node,
        };
        self.shims_before = nested_shims();
        let cluster = containers::up(&spec).map_err(|e| BackendError::Failed(e.to_string()))?;
        eprintln!(
            "    {} node twins up in {:.1} s (kubeconfig {})",
            cluster.nodes.len(),
            cluster.up_s,
            cluster.kubeconfig.display()
        );
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| {
                let paths = HostPaths {
                    context: Some(cluster.name.clone()),
                    kubeconfig: Some(cluster.kubeconfig.display().to_string()),
                    ..HostPaths::default()
                };
                Arc::new(HostNode::new(
                    n.node.clone(),
                    Nsenter { pid: n.pid },
                    Local,
                    paths,
                ))
            })
            .collect();
        self.cluster = Some(cluster);
        Ok(nodes)
    }

    async fn start(&mut self, events: Vec<Timed>) -> Result<(), BackendError> {
        let cluster = self
            .cluster
            .clone()
            .ok_or_else(|| BackendError::Failed("start before up".into()))?;
        let stop = self.stop.clone();
        self.timeline = Some(std::thread::spawn(move || fire(&cluster, events, &stop)));
        Ok(())
    }

    async fn all_pods(&self) -> Result<Vec<PodView>, BackendError> {
        let c = self
            .cluster
            .as_ref()
            .ok_or_else(|| BackendError::Failed("no cluster".into()))?;
        let (code, v) = call(
            &c.api,
            "GET",
            "/api/v1/pods",
            None,
            Some(Duration::from_secs(10)),
        )
        .map_err(|e| BackendError::Failed(e.to_string()))?;
        if code != 200 {
            return Err(BackendError::Failed(format!("GET /api/v1/pods: {code}")));
        }
        kubestall_node::parse::kube::pods(v.to_string().as_bytes())
            .map_err(|e| BackendError::Failed(e.to_string()))
    }

    async fn down(&mut self) -> Result<Leftovers, BackendError> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.timeline.take()
            && let Ok(notes) = t.join()
        {
            self.notes.extend(notes);
        }
        if self.keep {
            if let Some(c) = &self.cluster {
                eprintln!(
                    "kept: cluster {} (kubeconfig {}); look with: docker exec -it {} bash; remove with: kubestall down --backend container",
                    c.name,
                    c.kubeconfig.display(),
                    c.nodes
                        .last()
                        .map(|n| n.container.as_str())
                        .unwrap_or_default()
                );
            }
            return Ok(Leftovers::default());
        }
        containers::down(&self.name).map_err(|e| BackendError::Failed(e.to_string()))?;
        self.cluster = None;
        Ok(leftovers(&self.name, &self.shims_before))
    }
}

/// The host's nested shims: those serving containerd namespace `k8s.io`, which only
/// a node twin's containerd runs (Docker's own shims serve `moby`).
pub fn nested_shims() -> std::collections::BTreeSet<u32> {
    let out = Command::new("pgrep")
        .args(["-a", "containerd-shim"])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    kubestall_node::parse::pgrep::shims(&out)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.namespace == "k8s.io")
        .map(|s| s.pid.0)
        .collect()
}

/// What a removed cluster left behind: its containers, its networks, and nested
/// shims that were not there before it came up.
pub fn leftovers(cluster: &str, shims_before: &std::collections::BTreeSet<u32>) -> Leftovers {
    let filter = format!("label={}={cluster}", containers::LABEL);
    let list = |args: &[&str], what: &str| -> Vec<String> {
        match kubestall_twin::docker::docker(args) {
            Ok(out) => out
                .split_whitespace()
                .map(|c| format!("{what} {c}"))
                .collect(),
            Err(e) => vec![format!("{what}s unknown: {e}")],
        }
    };
    let mut left = list(&["ps", "-aq", "--filter", &filter], "container");
    left.extend(list(
        &["network", "ls", "-q", "--filter", &filter],
        "network",
    ));
    // A removed node's processes die with its PID namespace, but not all at once:
    // wait for each new shim by pid (gone, or a zombie for someone to reap), and
    // for one that does not go, say what it is waiting on.
    for pid in nested_shims().difference(shims_before) {
        if let Some(state) = outlives(*pid, Duration::from_secs(60)) {
            left.push(format!(
                "nested containerd-shim pid {pid}, alive 60 s after its node was removed: {state}"
            ));
        }
    }
    Leftovers(left)
}

/// `None` once `pid` has exited (or is a zombie) within `limit`; otherwise its
/// state, kernel wait channel, parent and cgroup, from /proc.
fn outlives(pid: u32, limit: Duration) -> Option<String> {
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let deadline = std::time::Instant::now() + limit;
    loop {
        let stat = match std::fs::read_to_string(proc.join("stat")) {
            Ok(s) => s,
            Err(_) => return None,
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        if fields.first() == Some(&"Z") {
            return None;
        }
        if std::time::Instant::now() >= deadline {
            let read = |f: &str| {
                std::fs::read_to_string(proc.join(f))
                    .map(|s| s.trim().replace('\n', " "))
                    .unwrap_or_else(|e| format!("? ({e})"))
            };
            return Some(format!(
                "state {}, wchan {}, ppid {}, cgroup {}",
                fields.first().unwrap_or(&"?"),
                read("wchan"),
                fields.get(1).unwrap_or(&"?"),
                read("cgroup")
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `argv` inside `node` (nsenter), returning stdout, or why it failed.
fn on(c: &Cluster, node: &NodeName, argv: &[&str]) -> Result<String, String> {
    let n = c
        .nodes
        .iter()
        .find(|n| &n.node == node)
        .ok_or_else(|| format!("no node {node}"))?;
    let out = Command::new("nsenter")
        .args(["-t", &n.pid.to_string(), "-a"])
        .args(argv)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn api(c: &Cluster, method: &str, path: &str, body: serde_json::Value) -> Result<(), String> {
    match call(
        &c.api,
        method,
        path,
        Some(&body),
        Some(Duration::from_secs(10)),
    ) {
        Ok((200 | 201, _)) => Ok(()),
        Ok((code, v)) => Err(format!("{method} {path}: {code} {v}")),
        Err(e) => Err(format!("{method} {path}: {e}")),
    }
}

fn ready(c: &Cluster, node: &NodeName) -> bool {
    call(
        &c.api,
        "GET",
        &format!("/api/v1/nodes/{node}"),
        None,
        Some(Duration::from_secs(5)),
    )
    .ok()
    .and_then(|(_, v)| {
        v.pointer("/status/conditions/0/status")
            .and_then(|s| s.as_str())
            .map(|s| s == "True")
    })
    .unwrap_or(false)
}

fn cordon(c: &Cluster, node: &NodeName, on_off: bool) -> Result<(), String> {
    api(
        c,
        "PATCH",
        &format!("/api/v1/nodes/{node}"),
        json!({"spec": {"unschedulable": on_off}}),
    )
}

/// The runbook's cordoned restart, or a bare one.
fn restart_kubelite(c: &Cluster, node: &NodeName, with_cordon: bool) -> Result<(), String> {
    if with_cordon {
        cordon(c, node, true)?;
    }
    on(
        c,
        node,
        &["systemctl", "restart", "snap.microk8s.daemon-kubelite"],
    )?;
    if with_cordon {
        std::thread::sleep(Duration::from_secs(1));
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ready(c, node) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
        }
        // kubectl wait returns at Ready; the runbook then checks pods before uncordoning.
        std::thread::sleep(Duration::from_secs(10));
        cordon(c, node, false)?;
    }
    Ok(())
}

/// Real orphaned shims: stop containerd, remove `count` tasks' bundle folders,
/// start containerd (NODE-TWIN-FACTS, method 1). The shims and their workloads live on.
fn orphan_shims(c: &Cluster, node: &NodeName, count: u32) -> Result<(), String> {
    let tasks = on(
        c,
        node,
        &[
            "/snap/microk8s/current/bin/ctr",
            "--address",
            "/var/snap/microk8s/common/run/containerd.sock",
            "-n",
            "k8s.io",
            "tasks",
            "list",
            "-q",
        ],
    )?;
    let ids: Vec<&str> = tasks.split_whitespace().take(count as usize).collect();
    if ids.len() < count as usize {
        return Err(format!(
            "only {} running tasks on {node} to orphan, {count} asked",
            ids.len()
        ));
    }
    on(
        c,
        node,
        &["systemctl", "stop", "snap.microk8s.daemon-containerd"],
    )?;
    for id in &ids {
        let bundle = format!(
            "/var/snap/microk8s/common/run/containerd/io.containerd.runtime.v2.task/k8s.io/{id}"
        );
        // The rootfs is mounted only while the task runs; anything else is worth saying.
        if let Err(e) = on(c, node, &["umount", &format!("{bundle}/rootfs")])
            && !e.contains("not mounted")
            && !e.contains("no mount point")
        {
            eprintln!("orphan-shims on {node}: umount {bundle}/rootfs: {e}");
        }
        on(c, node, &["rm", "-rf", &bundle])?;
    }
    on(
        c,
        node,
        &["systemctl", "start", "snap.microk8s.daemon-containerd"],
    )?;
    Ok(())
}

/// Fires every event at its offset from now; returns what could not be done.
fn fire(c: &Cluster, events: Vec<Timed>, stop: &AtomicBool) -> Vec<String> {
    let t0 = Instant::now();
    let mut notes = Vec::new();
    let mut workers = Vec::new();
    for Timed { at, event } in events {
        while t0.elapsed() < at {
            if stop.load(Ordering::SeqCst) {
                return notes;
            }
            std::thread::sleep(
                at.saturating_sub(t0.elapsed())
                    .min(Duration::from_millis(100)),
            );
        }
        match event {
            Event::CreatePod { pod, node } => {
                let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod.name, "namespace": pod.namespace},
                                  "spec": {"nodeSelector": {"kubernetes.io/hostname": node.as_str()}, "containers": [{"name": "app", "image": "busybox"}]}});
                if let Err(e) = api(
                    c,
                    "POST",
                    &format!("/api/v1/namespaces/{}/pods", pod.namespace),
                    body,
                ) {
                    notes.push(format!("creating {pod}: {e}"));
                }
            }
            // Faults that take a while run on their own thread, so pods keep coming.
            Event::Fault(f) => {
                let c = c.clone();
                workers.push(std::thread::spawn(move || inject(&c, &f)));
            }
        }
    }
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            notes.push(e);
        }
    }
    notes
}

fn inject(c: &Cluster, f: &FaultSpec) -> Result<(), String> {
    match f {
        FaultSpec::RestartKubelite { node, cordon, .. } => restart_kubelite(c, node, *cordon),
        FaultSpec::UpgradeContainerd {
            node,
            version,
            microk8s,
            ..
        } => {
            // containerd 2.1.3 is not in Debian: set the twin's eviction-manager
            // switch, then restart as a snap refresh does.
            api(
                c,
                "POST",
                &format!("/twin/v1/nodes/{node}/upgrade"),
                json!({"containerd": version, "microk8s": microk8s}),
            )?;
            on(
                c,
                node,
                &["systemctl", "restart", "snap.microk8s.daemon-containerd"],
            )?;
            on(
                c,
                node,
                &["systemctl", "restart", "snap.microk8s.daemon-kubelite"],
            )
            .map(|_| ())
        }
        FaultSpec::RestartStorm {
            node,
            restarts,
            interval,
            cordon,
            ..
        } => {
            if *cordon {
                self::cordon(c, node, true)?;
            }
            for i in 0..*restarts {
                if i > 0 {
                    std::thread::sleep(interval.0);
                }
                on(
                    c,
                    node,
                    &["systemctl", "restart", "snap.microk8s.daemon-kubelite"],
                )?;
            }
            if *cordon {
                std::thread::sleep(Duration::from_secs(15));
                self::cordon(c, node, false)?;
            }
            Ok(())
        }
        FaultSpec::OrphanShims {
            node,
            count,
            shared,
            ..
        } => {
            if *shared > 0 {
                return Err("orphans behind shared shims need containerd 2.x; the twin runs Debian's containerd 1.6".into());
            }
            orphan_shims(c, node, *count)
        }
        FaultSpec::RestartK8sDqlite { node, .. } => on(
            c,
            node,
            &["systemctl", "restart", "snap.microk8s.daemon-k8s-dqlite"],
        )
        .map(|_| ()),
        FaultSpec::FreezeContainerd { node, .. } => {
            let pid = on(
                c,
                node,
                &[
                    "systemctl",
                    "show",
                    "snap.microk8s.daemon-containerd",
                    "-P",
                    "MainPID",
                ],
            )?;
            on(c, node, &["kill", "-STOP", pid.trim()])?;
            api(
                c,
                "POST",
                &format!("/twin/v1/nodes/{node}/containerd/frozen"),
                json!({}),
            )
        }
        FaultSpec::LockService { .. } => {
            Err("lock-service is not supported on the container backend yet".into())
        }
    }
}
