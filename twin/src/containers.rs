//! A cluster of node twins in Docker: a network, one container per node, the
//! flags that let systemd and a nested runc work on this kind of machine, the
//! Kubernetes API published on 127.0.0.1, a kubeconfig, and a teardown that
//! leaves nothing behind. Everything carries the label `kubestall.cluster=NAME`,
//! so `kubestall down` finds what an interrupted run left.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kubestall_node::{Cmd, CmdOutput, NodeError, NodeName, Transport};

use crate::docker::{DockerError, docker};

/// The label on every container and network of a cluster.
pub const LABEL: &str = "kubestall.cluster";

/// Where clusters keep their host-side files.
pub fn state_dir() -> PathBuf {
    std::env::var_os("KUBESTALL_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/kubestall"))
        .join("clusters")
}

/// How to bring a cluster up.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The cluster's name (also the kubectl context).
    pub name: String,
    /// Its nodes; the first runs the cluster twin.
    pub nodes: Vec<NodeName>,
    /// The node image tag.
    pub image: String,
    /// The model's seed.
    pub seed: u64,
    /// EventedPLEG on.
    pub evented: bool,
    /// Pods running on each node at the start.
    pub pods_per_node: u32,
}

/// One node container.
#[derive(Clone, Debug)]
pub struct NodeContainer {
    /// The node's name.
    pub node: NodeName,
    /// The container's name.
    pub container: String,
    /// The container's init pid on the host (for nsenter).
    pub pid: u32,
}

/// A running cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Its name.
    pub name: String,
    /// Its nodes.
    pub nodes: Vec<NodeContainer>,
    /// The Kubernetes API on the host: `127.0.0.1:PORT`.
    pub api: String,
    /// The kubeconfig written for it (context = the cluster's name).
    pub kubeconfig: PathBuf,
    /// Seconds it took to come up.
    pub up_s: f64,
}

/// Why a cluster could not come up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Docker failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// A node did not boot.
    #[error("node {node} did not boot: {why}")]
    Boot {
        /// The node.
        node: String,
        /// What it showed.
        why: String,
    },
    /// Host files.
    #[error("{0}")]
    Io(String),
}

fn container_name(cluster: &str, node: &NodeName) -> String {
    format!("kubestall-{cluster}-{node}")
}

/// Brings the cluster up. On failure, whatever was made is removed.
pub fn up(spec: &ClusterSpec) -> Result<Cluster, ClusterError> {
    let start = Instant::now();
    let r = up_inner(spec, start);
    if r.is_err() {
        let _ = down(&spec.name);
    }
    r
}

fn up_inner(spec: &ClusterSpec, start: Instant) -> Result<Cluster, ClusterError> {
    let label = format!("{LABEL}={}", spec.name);
    let network = format!("kubestall-{}", spec.name);
    docker(&["network", "create", "--label", &label, &network])?;
    let dir = state_dir().join(&spec.name);
    let io = |e: std::io::Error| ClusterError::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let first = spec
        .nodes
        .first()
        .cloned()
        .ok_or_else(|| ClusterError::Io("a cluster needs a node".into()))?;
    let mut nodes = Vec::new();
    for node in &spec.nodes {
        let ndir = dir.join(node.as_str());
        std::fs::create_dir_all(ndir.join("containerd")).map_err(io)?;
        let env = format!(
            "KUBESTALL_NODE={node}\nKUBESTALL_CLUSTER={first}:16443\nKUBESTALL_CLUSTER_NODES={}\nKUBESTALL_SEED={}\nKUBESTALL_EVENTED_PLEG={}\nKUBESTALL_PODS_PER_NODE={}\n",
            spec.nodes
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(","),
            spec.seed,
            spec.evented,
            spec.pods_per_node
        );
        std::fs::write(ndir.join("twin.env"), env).map_err(io)?;
        let leader = ndir.join("leader");
        if node == &first {
            std::fs::write(&leader, "").map_err(io)?;
        }
        let name = container_name(&spec.name, node);
        let mut args: Vec<String> = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--hostname",
            node.as_str(),
            "--network",
            &network,
            "--network-alias",
            node.as_str(),
            "--label",
            &label,
            // systemd as PID 1 with a nested runc, without --privileged (refused here):
            "--cap-add",
            "ALL",
            "--cap-drop",
            "SYS_RESOURCE",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--security-opt",
            "systempaths=unconfined",
            "--device-cgroup-rule",
            "a *:* rwm",
            "--cgroupns=private",
            "--stop-signal",
            "SIGRTMIN+3",
            "--tmpfs",
            "/run:exec",
            "--tmpfs",
            "/run/lock",
            "--tmpfs",
            "/tmp:exec",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.push("-v".into());
        args.push(format!(
            "{}:/var/snap/microk8s/common/var/lib/containerd",
            ndir.join("containerd").display()
        ));
        args.push("-v".into());
        args.push(format!(
            "{}:/etc/kubestall/twin.env:ro",
            ndir.join("twin.env").display()
        ));
        if node == &first {
            args.push("-v".into());
            args.push(format!("{}:/etc/kubestall/leader:ro", leader.display()));
            args.push("-p".into());
            args.push("127.0.0.1::16443".into());
        }
        args.push(spec.image.clone());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&a)?;
        let pid: u32 = docker(&["inspect", "-f", "{{.State.Pid}}", &name])?
            .trim()
            .parse()
            .unwrap_or(0);
        nodes.push(NodeContainer {
            node: node.clone(),
            container: name,
            pid,
        });
    }
    for n in &nodes {
        wait_booted(n)?;
    }
    let port = docker(&["port", &nodes[0].container, "16443/tcp"])?;
    let api = port
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .replace("0.0.0.0", "127.0.0.1");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {n}\n  cluster:\n    server: http://{api}\ncontexts:\n- name: {n}\n  context:\n    cluster: {n}\n    user: {n}-admin\ncurrent-context: {n}\nusers:\n- name: {n}-admin\n  user: {{}}\n",
            n = spec.name
        ),
    )
    .map_err(io)?;
    // The API answers once the cluster twin runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while crate::http::call(&api, "GET", "/version", None, Some(Duration::from_secs(2))).is_err() {
        if Instant::now() > deadline {
            return Err(ClusterError::Boot {
                node: first.to_string(),
                why: format!("the Kubernetes API at {api} did not answer within 60 s"),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(Cluster {
        name: spec.name.clone(),
        nodes,
        api,
        kubeconfig,
        up_s: start.elapsed().as_secs_f64(),
    })
}

fn wait_booted(n: &NodeContainer) -> Result<(), ClusterError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = docker(&["exec", &n.container, "systemctl", "is-system-running"])
            .unwrap_or_else(|e| match e {
                DockerError::Failed { stderr, .. } => stderr,
                other => other.to_string(),
            });
        let s = state.trim();
        if s == "running" || s == "degraded" {
            return Ok(());
        }
        if Instant::now() > deadline {
            let failed = docker(&["exec", &n.container, "systemctl", "--failed", "--no-legend"])
                .unwrap_or_default();
            return Err(ClusterError::Boot {
                node: n.node.to_string(),
                why: format!("systemd says {s:?}; failed units: {}", failed.trim()),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Removes every container and network labelled with `cluster` (all clusters when `None`)
/// and their host files. Returns what it removed.
pub fn down_all(cluster: Option<&str>) -> Result<Vec<String>, DockerError> {
    let filter = match cluster {
        Some(c) => format!("label={LABEL}={c}"),
        None => format!("label={LABEL}"),
    };
    let mut removed = Vec::new();
    let names = docker(&[
        "ps",
        "-a",
        "--filter",
        &filter,
        "--format",
        "{{.Names}} {{.Label \"kubestall.cluster\"}}",
    ])?;
    let mut clusters = std::collections::BTreeSet::new();
    for line in names.lines() {
        let mut f = line.split_whitespace();
        let (Some(name), c) = (f.next(), f.next()) else {
            continue;
        };
        // Kill, not stop: nested tasks ignoring SIGTERM would make `docker stop` wait out its timeout.
        docker(&["rm", "-f", "-v", name])?;
        removed.push(format!("container {name}"));
        if let Some(c) = c {
            clusters.insert(c.to_string());
        }
    }
    for id in docker(&[
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Name}}",
    ])?
    .split_whitespace()
    {
        docker(&["network", "rm", id])?;
        removed.push(format!("network {id}"));
    }
    if let Some(c) = cluster {
        clusters.insert(c.to_string());
    }
    for c in clusters {
        let d = state_dir().join(&c);
        if d.exists() && std::fs::remove_dir_all(&d).is_ok() {
            removed.push(format!("files {}", d.display()));
        }
    }
    Ok(removed)
}

/// Removes one cluster.
pub fn down(cluster: &str) -> Result<Vec<String>, DockerError> {
    down_all(Some(cluster))
}

/// Commands on a node, run inside it with `nsenter` (about 6 ms a call; needs root),
/// so `pgrep` sees only that node's processes.
#[derive(Clone, Debug)]
pub struct Nsenter {
    /// The container's init pid on the host.
    pub pid: u32,
}

impl Transport for Nsenter {
    async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, NodeError> {
        let wrapped = cmd.wrapped([
            "nsenter".to_string(),
            "-t".into(),
            self.pid.to_string(),
            "-a".into(),
        ]);
        kubestall_node::Local.run(&wrapped).await
    }

    fn describe(&self) -> String {
        format!("nsenter -t {} -a", self.pid)
    }
}

/// Commands on a node through `docker exec` (no root needed; about 47 ms a call).
#[derive(Clone, Debug)]
pub struct DockerExec {
    /// The container.
    pub container: String,
}

impl Transport for DockerExec {
    async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, NodeError> {
        let mut wrapped =
            cmd.wrapped(["docker".to_string(), "exec".into(), self.container.clone()]);
        if let Some(h) = crate::docker::host() {
            wrapped = wrapped.wrapped(["env".to_string(), format!("DOCKER_HOST={h}")]);
        }
        kubestall_node::Local.run(&wrapped).await
    }

    fn describe(&self) -> String {
        format!("docker exec {}", self.container)
    }
}
