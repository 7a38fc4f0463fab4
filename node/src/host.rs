//! A real node, observed and controlled with the runbook's own commands.
//!
//! `HostNode` runs `journalctl`, `systemctl`, `cat /proc/PID/schedstat`,
//! `cat /proc/PID/stat`, `getconf`, `pgrep`, `ctr`, `ls`, `kill` and `curl` on the
//! node through one [`Transport`] (local, `docker exec`, `nsenter`, SSH), and
//! `kubectl` through another (usually the operator's machine), and reads their
//! output with the parsers in [`crate::parse`].
//! Its clock is the wall clock.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::NodeError;
use crate::name::{NodeName, PodRef};
use crate::observe::{Clock, Control, Observe, Signal};
use crate::parse;
use crate::signals::{
    GoroutineDump, JournalEntry, KubeletRuntime, MICROK8S_CONTAINERD_SOCKET, NodeIdentity,
    NodeView, Pid, PodView, ProcessInfo, Schedstat, ServiceState, ShimProcess, Task,
};
use crate::time::Timestamp;
use crate::transport::{Cmd, CmdOutput, Transport};
use crate::unit::Unit;

/// Where microk8s keeps its containerd, and how to reach the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPaths {
    /// `ctr` (microk8s: `/snap/microk8s/current/bin/ctr`).
    pub ctr: String,
    /// containerd's socket.
    pub containerd_socket: String,
    /// The kubelet's args file (microk8s: `/var/snap/microk8s/current/args/kubelet`).
    pub kubelet_args: String,
    /// `kubectl`.
    pub kubectl: String,
    /// `--context`, if any.
    pub context: Option<String>,
    /// `--kubeconfig`, if any.
    pub kubeconfig: Option<String>,
    /// Prefix node commands with `sudo` (for an unprivileged SSH user).
    pub sudo: bool,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            ctr: "/snap/microk8s/current/bin/ctr".into(),
            containerd_socket: MICROK8S_CONTAINERD_SOCKET.into(),
            kubelet_args: KUBELET_ARGS.into(),
            kubectl: "kubectl".into(),
            context: None,
            kubeconfig: None,
            sudo: false,
        }
    }
}

/// microk8s's kubelet flags, one a line.
const KUBELET_ARGS: &str = "/var/snap/microk8s/current/args/kubelet";

/// The value of `--hostname-override` in a kubelet args file (`--flag=value` or
/// `--flag value`, `#` comments), if set.
fn hostname_override(args: &str) -> Option<String> {
    args.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find_map(|l| {
            let rest = l.strip_prefix("--hostname-override")?;
            let v = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' '))?;
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            (!v.is_empty()).then(|| v.to_string())
        })
}

/// A real node: node commands through `T`, kubectl through `K`.
pub struct HostNode<T: Transport, K: Transport> {
    name: NodeName,
    node: T,
    api: K,
    paths: HostPaths,
    /// The node's clock ticks per second (`getconf CLK_TCK`), once asked.
    clk_tck: OnceLock<u64>,
}

/// Clock ticks per second when `getconf CLK_TCK` gives no answer: Linux's
/// USER_HZ, 100 on every architecture microk8s runs on.
const DEFAULT_CLK_TCK: u64 = 100;

fn decode<V>(
    out: CmdOutput,
    cmd: &Cmd,
    f: impl FnOnce(&[u8]) -> Result<V, crate::ParseError>,
) -> Result<V, NodeError> {
    let out = out.check(cmd)?;
    Ok(f(&out.stdout)?)
}

impl<T: Transport, K: Transport> HostNode<T, K> {
    /// The node `name`, reached through `node` for its commands and `api` for kubectl.
    pub fn new(name: NodeName, node: T, api: K, paths: HostPaths) -> Self {
        HostNode {
            name,
            node,
            api,
            paths,
            clk_tck: OnceLock::new(),
        }
    }

    /// A node command (with `sudo` when configured).
    pub fn node_cmd(&self, program: &str) -> Cmd {
        if self.paths.sudo {
            Cmd::new("sudo").arg(program)
        } else {
            Cmd::new(program)
        }
    }

    /// A kubectl command with the configured context and kubeconfig.
    pub fn kubectl(&self) -> Cmd {
        let mut c = Cmd::new(self.paths.kubectl.clone());
        if let Some(k) = &self.paths.kubeconfig {
            c = c.arg("--kubeconfig").arg(k.clone());
        }
        if let Some(ctx) = &self.paths.context {
            c = c.arg("--context").arg(ctx.clone());
        }
        c
    }

    /// `journalctl -u UNIT --since @EPOCH -o json --no-pager`.
    pub fn journal_cmd(&self, unit: &Unit, since: Timestamp) -> Cmd {
        self.node_cmd("journalctl").args([
            "-u".to_string(),
            unit.systemd_name(),
            "--since".into(),
            since.journalctl_arg(),
            "-o".into(),
            "json".into(),
            "--no-pager".into(),
        ])
    }

    /// `env TZ=UTC systemctl show UNIT -p MainPID,ActiveState,ExecMainStartTimestamp,NRestarts`.
    ///
    /// systemctl prints timestamps in the local zone by name (`CET`, `IST`), and a
    /// name can be ambiguous; in UTC the answer reads the same on every node.
    /// (`--timestamp=unix` would too, but needs systemd 251; Ubuntu 22.04 has 249.)
    pub fn service_cmd(&self, unit: &Unit) -> Cmd {
        self.node_cmd("env").args([
            "TZ=UTC".to_string(),
            "systemctl".into(),
            "show".into(),
            unit.systemd_name(),
            "-p".into(),
            "MainPID,ActiveState,ExecMainStartTimestamp,NRestarts".into(),
        ])
    }

    /// `ctr --address SOCK -n k8s.io tasks list`.
    pub fn tasks_cmd(&self) -> Cmd {
        self.node_cmd(&self.paths.ctr.clone())
            .args([
                "--address",
                &self.paths.containerd_socket,
                "-n",
                "k8s.io",
                "tasks",
                "list",
            ])
            // A frozen containerd makes ctr hang: 10 s is an answer in itself.
            .timeout(std::time::Duration::from_secs(10))
    }

    /// `pgrep -a containerd-shim` (matches the process name, not the shell running it).
    pub fn shims_cmd(&self) -> Cmd {
        self.node_cmd("pgrep").args(["-a", "containerd-shim"])
    }

    /// `curl -sk https://127.0.0.1:10250/pods`.
    pub fn kubelet_pods_cmd(&self) -> Cmd {
        self.node_cmd("curl")
            .args(["-sk", "--max-time", "10", "https://127.0.0.1:10250/pods"])
    }

    /// `kubectl get --raw /api/v1/nodes/NODE/proxy/pods`: the kubelet's `/pods`
    /// through the API server, for a kubelet that refuses anonymous requests.
    pub fn kubelet_pods_proxy_cmd(&self) -> Cmd {
        self.kubectl().args([
            "get".to_string(),
            "--raw".into(),
            format!("/api/v1/nodes/{}/proxy/pods", self.name),
        ])
    }

    /// `kubectl get pods -A --field-selector spec.nodeName=NODE -o json`.
    pub fn pods_cmd(&self) -> Cmd {
        self.kubectl().args([
            "get".to_string(),
            "pods".into(),
            "-A".into(),
            "--field-selector".into(),
            format!("spec.nodeName={}", self.name),
            "-o".into(),
            "json".into(),
        ])
    }

    /// `kubectl get events -A --field-selector involvedObject.kind=Pod -o json`.
    pub fn events_cmd(&self) -> Cmd {
        self.kubectl().args([
            "get",
            "events",
            "-A",
            "--field-selector",
            "involvedObject.kind=Pod",
            "-o",
            "json",
        ])
    }

    /// `kubectl get nodes -o json`.
    pub fn nodes_cmd(&self) -> Cmd {
        self.kubectl().args(["get", "nodes", "-o", "json"])
    }

    /// `kubectl get node NODE -o json`.
    pub fn node_view_cmd(&self) -> Cmd {
        self.kubectl().args([
            "get".to_string(),
            "node".into(),
            self.name.to_string(),
            "-o".into(),
            "json".into(),
        ])
    }

    /// Runs a node command and returns its raw output (for evidence bundles).
    pub async fn run_node(&self, cmd: &Cmd) -> Result<CmdOutput, NodeError> {
        self.node.run(cmd).await
    }

    /// Runs a kubectl command and returns its raw output.
    pub async fn run_api(&self, cmd: &Cmd) -> Result<CmdOutput, NodeError> {
        self.api.run(cmd).await
    }

    /// The node's clock ticks per second: `getconf CLK_TCK`, 100 when it gives no answer.
    async fn clk_tck(&self) -> u64 {
        if let Some(hz) = self.clk_tck.get() {
            return *hz;
        }
        let cmd = self.node_cmd("getconf").arg("CLK_TCK");
        match self.node.run(&cmd).await {
            Ok(o) if o.success() => {
                let hz = o
                    .stdout_text()
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|hz| *hz > 0)
                    .unwrap_or(DEFAULT_CLK_TCK);
                *self.clk_tck.get_or_init(|| hz)
            }
            // Not cached: the next call asks again.
            _ => DEFAULT_CLK_TCK,
        }
    }

    /// When each process started: `/proc/PID/stat`'s start time in clock ticks
    /// since boot plus `/proc/stat`'s boot time, read with one `cat`. (The
    /// modification time of `/proc/PID` is not the start: procfs stamps the
    /// folder's inode when the kernel first makes it, on the first look, which can
    /// be long after the start, and again when it drops and remakes it.) `None`
    /// for a process that is gone.
    async fn start_times(&self, pids: &[Pid]) -> Vec<Option<Timestamp>> {
        if pids.is_empty() {
            return Vec::new();
        }
        let cmd = self
            .node_cmd("cat")
            .arg("/proc/stat")
            .args(pids.iter().map(|p| format!("/proc/{p}/stat")));
        // cat exits 1 when one process is gone; what it printed for the others stands.
        let text = match self.node.run(&cmd).await {
            Ok(o) => o.stdout_text(),
            Err(_) => String::new(),
        };
        let Ok(boot) = parse::proc_stat::boot_time(text.as_bytes()) else {
            return vec![None; pids.len()];
        };
        let hz = self.clk_tck().await;
        pids.iter()
            .map(|p| {
                let key = format!("{p} (");
                text.lines()
                    .filter(|l| l.starts_with(&key))
                    .find_map(|l| parse::proc_stat::parse(l.as_bytes()).ok())
                    .map(|s| s.started_at(boot, hz))
            })
            .collect()
    }
}

impl<T: Transport, K: Transport> Clock for HostNode<T, K> {
    fn now(&self) -> Timestamp {
        Timestamp::now_wall()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

impl<T: Transport, K: Transport> Observe for HostNode<T, K> {
    fn node_name(&self) -> &NodeName {
        &self.name
    }

    fn kubelet_runtime(&self) -> KubeletRuntime {
        KubeletRuntime::at(self.paths.containerd_socket.clone())
    }

    /// `cat /proc/sys/kernel/hostname` and the kubelet's `--hostname-override`.
    async fn identity(&self) -> Result<NodeIdentity, NodeError> {
        let cmd = self.node_cmd("cat").arg("/proc/sys/kernel/hostname");
        let out = self.node.run(&cmd).await?.check(&cmd)?;
        let hostname = Some(out.stdout_text().trim().to_string()).filter(|h| !h.is_empty());
        // No args file (not a microk8s node, or another layout): no override.
        let args = self.node_cmd("cat").arg(self.paths.kubelet_args.clone());
        let kubelet_node_name = match self.node.run(&args).await {
            Ok(o) if o.success() => hostname_override(&o.stdout_text()),
            _ => None,
        };
        Ok(NodeIdentity {
            hostname,
            kubelet_node_name,
        })
    }

    async fn journal(&self, unit: &Unit, since: Timestamp) -> Result<Vec<JournalEntry>, NodeError> {
        let cmd = self.journal_cmd(unit, since);
        let mut entries = decode(self.node.run(&cmd).await?, &cmd, parse::journal::parse_json)?;
        // `--since` is exact to the second; keep exactly what was asked for.
        entries.retain(|e| e.at >= since);
        Ok(entries)
    }

    async fn service(&self, unit: &Unit) -> Result<ServiceState, NodeError> {
        let cmd = self.service_cmd(unit);
        decode(self.node.run(&cmd).await?, &cmd, parse::systemctl::parse)
    }

    async fn schedstat(&self, pid: Pid) -> Result<Schedstat, NodeError> {
        let cmd = self.node_cmd("cat").arg(format!("/proc/{pid}/schedstat"));
        let out = self.node.run(&cmd).await?;
        if !out.success() && String::from_utf8_lossy(&out.stderr).contains("No such file") {
            return Err(NodeError::NoSuchProcess(pid));
        }
        decode(out, &cmd, parse::schedstat::parse)
    }

    async fn shims(&self) -> Result<Vec<ShimProcess>, NodeError> {
        let cmd = self.shims_cmd();
        let out = self.node.run(&cmd).await?;
        // pgrep exits 1 when nothing matches.
        if out.code == Some(1) && out.stdout.is_empty() {
            return Ok(Vec::new());
        }
        let mut shims = decode(out, &cmd, parse::pgrep::shims)?;
        let times = self
            .start_times(&shims.iter().map(|s| s.pid).collect::<Vec<_>>())
            .await;
        for (s, t) in shims.iter_mut().zip(times) {
            s.started_at = t;
        }
        Ok(shims)
    }

    async fn tasks(&self) -> Result<Vec<Task>, NodeError> {
        let cmd = self.tasks_cmd();
        decode(self.node.run(&cmd).await?, &cmd, parse::ctr::parse)
    }

    async fn processes(&self, name: &str) -> Result<Vec<ProcessInfo>, NodeError> {
        let cmd = self.node_cmd("pgrep").args(["-a", "-x", name]);
        let out = self.node.run(&cmd).await?;
        if out.code == Some(1) && out.stdout.is_empty() {
            return Ok(Vec::new());
        }
        let mut procs = decode(out, &cmd, parse::pgrep::processes)?;
        let times = self
            .start_times(&procs.iter().map(|p| p.pid).collect::<Vec<_>>())
            .await;
        for (p, t) in procs.iter_mut().zip(times) {
            p.started_at = t;
        }
        Ok(procs)
    }

    async fn run_dir(&self, pid: Pid, app: &str) -> Result<Vec<String>, NodeError> {
        if app.contains('/') || app.starts_with('.') {
            return Err(NodeError::NotFound(format!("/run/{app}")));
        }
        let cmd = self
            .node_cmd("ls")
            .args(["-A".to_string(), format!("/proc/{pid}/root/run/{app}/")]);
        let out = self.node.run(&cmd).await?;
        if !out.success() {
            // No such folder in that process's root: nothing in it.
            return if String::from_utf8_lossy(&out.stderr).contains("No such file") {
                Ok(Vec::new())
            } else {
                Err(out
                    .check(&cmd)
                    .err()
                    .unwrap_or(NodeError::NotFound(format!("/run/{app}"))))
            };
        }
        Ok(out
            .stdout_text()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    async fn node(&self) -> Result<NodeView, NodeError> {
        let cmd = self.node_view_cmd();
        decode(self.api.run(&cmd).await?, &cmd, parse::kube::node)
    }

    async fn nodes(&self) -> Result<Vec<NodeView>, NodeError> {
        let cmd = self.nodes_cmd();
        decode(self.api.run(&cmd).await?, &cmd, parse::kube::nodes)
    }

    async fn pods(&self) -> Result<Vec<PodView>, NodeError> {
        let cmd = self.pods_cmd();
        let mut pods = decode(self.api.run(&cmd).await?, &cmd, parse::kube::pods)?;
        let ev = self.events_cmd();
        if let Ok(counts) = decode(self.api.run(&ev).await?, &ev, parse::kube::kubelet_events) {
            for p in &mut pods {
                p.kubelet_events = counts.get(&p.pod).copied().unwrap_or(0);
            }
        }
        Ok(pods)
    }

    async fn kubelet_pods(&self) -> Result<Vec<PodRef>, NodeError> {
        let cmd = self.kubelet_pods_cmd();
        let out = self.node.run(&cmd).await?.check(&cmd)?;
        // A kubelet that refuses anonymous requests (401/403) is asked through the
        // API server instead, with the operator's credentials.
        if parse::kube::refusal(&out.stdout).is_some() {
            let cmd = self.kubelet_pods_proxy_cmd();
            return decode(self.api.run(&cmd).await?, &cmd, parse::kube::kubelet_pods);
        }
        Ok(parse::kube::kubelet_pods(&out.stdout)?)
    }

    async fn goroutine_dump(&self) -> Result<Option<GoroutineDump>, NodeError> {
        let Some(pid) = self.service(&Unit::Kubelite).await?.main_pid else {
            return Ok(None);
        };
        let before = self.now().sub(Duration::from_secs(1));
        self.kill(pid, Signal::Usr1).await?;
        self.sleep(Duration::from_secs(2)).await;
        let entries = self.journal(&Unit::Kubelite, before).await?;
        let text: String = entries.iter().map(|e| format!("{}\n", e.message)).collect();
        let dump = parse::goroutines::parse(text.as_bytes())?;
        Ok((!dump.goroutines.is_empty()).then_some(dump))
    }
}

impl<T: Transport, K: Transport> Control for HostNode<T, K> {
    async fn cordon(&self) -> Result<(), NodeError> {
        let cmd = self
            .kubectl()
            .args(["cordon".to_string(), self.name.to_string()]);
        self.api.run(&cmd).await?.check(&cmd).map(|_| ())
    }

    async fn uncordon(&self) -> Result<(), NodeError> {
        let cmd = self
            .kubectl()
            .args(["uncordon".to_string(), self.name.to_string()]);
        self.api.run(&cmd).await?.check(&cmd).map(|_| ())
    }

    async fn restart(&self, unit: &Unit) -> Result<(), NodeError> {
        let cmd = self
            .node_cmd("systemctl")
            .args(["restart".to_string(), unit.systemd_name()]);
        self.node.run(&cmd).await?.check(&cmd).map(|_| ())
    }

    async fn stop(&self, unit: &Unit) -> Result<(), NodeError> {
        let cmd = self
            .node_cmd("systemctl")
            .args(["stop".to_string(), unit.systemd_name()]);
        self.node.run(&cmd).await?.check(&cmd).map(|_| ())
    }

    async fn start(&self, unit: &Unit) -> Result<(), NodeError> {
        let cmd = self
            .node_cmd("systemctl")
            .args(["start".to_string(), unit.systemd_name()]);
        self.node.run(&cmd).await?.check(&cmd).map(|_| ())
    }

    async fn kill(&self, pid: Pid, signal: Signal) -> Result<(), NodeError> {
        let cmd = self.node_cmd("kill").args([
            "-s".to_string(),
            signal.name().to_string(),
            pid.to_string(),
        ]);
        let out = self.node.run(&cmd).await?;
        if !out.success() && String::from_utf8_lossy(&out.stderr).contains("No such process") {
            return Err(NodeError::NoSuchProcess(pid));
        }
        out.check(&cmd).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::hostname_override;

    #[test]
    fn reads_the_kubelets_hostname_override_in_either_form() {
        let args = "# kubelet\n--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n--hostname-override=k8s03 # set by hand\n";
        assert_eq!(hostname_override(args).as_deref(), Some("k8s03"));
        assert_eq!(
            hostname_override("--hostname-override \"k8s02\"\n").as_deref(),
            Some("k8s02")
        );
        assert_eq!(
            hostname_override("#--hostname-override=x\n--node-ip=10.0.0.3\n"),
            None
        );
        assert_eq!(hostname_override("--hostname-override=\n"), None);
    }
}
