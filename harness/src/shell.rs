//! The runbook's commands, run against any node through `Observe` and `Control`.
//!
//! `kubestall reproduce` on the simulator opens a prompt where an operator types
//! what the runbook says (`kubectl get nodes`, `journalctl -u ... --since '5
//! minutes ago'`, `pgrep -c containerd-shim`, `cat /proc/$PID/schedstat`,
//! `kubectl --context pvek8s cordon k8s03`, `sudo systemctl restart ...`) and gets
//! what a real node would print. Pipes into `grep`, `wc -l`, `tail`, `head` and
//! `cut`, `$(...)` substitution, `VAR=...` assignments, `&&` and `sleep N`
//! (which lets time pass on the node's clock) work as in a shell.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use kubestall_node::{Control, FailureMode, NodeName, PodPhase, Signal, Timestamp, Unit};

/// The node a shell runs against, and the cluster it can reach for `kubectl`.
pub struct Shell<'a, N: Control> {
    nodes: &'a [N],
    current: usize,
    vars: BTreeMap<String, String>,
    started: Timestamp,
}

/// A command the shell cannot run, with what to type instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShellError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ShellError> {
    Err(ShellError(msg.into()))
}

impl<'a, N: Control> Shell<'a, N> {
    /// A shell on `nodes[current]`; `started` is when the cluster came up (for AGE columns).
    pub fn new(nodes: &'a [N], current: usize, started: Timestamp) -> Self {
        Shell {
            nodes,
            current: current.min(nodes.len().saturating_sub(1)),
            vars: BTreeMap::new(),
            started,
        }
    }

    /// The node commands run on.
    pub fn node(&self) -> Option<&N> {
        self.nodes.get(self.current)
    }

    /// Runs one line; returns what it printed.
    pub async fn run(&mut self, line: &str) -> Result<String, ShellError> {
        let mut out = String::new();
        for part in split_and(line) {
            out.push_str(&Box::pin(self.run_pipeline(part.trim())).await?);
        }
        Ok(out)
    }

    async fn run_pipeline(&mut self, line: &str) -> Result<String, ShellError> {
        if line.is_empty() {
            return Ok(String::new());
        }
        // VAR=$(...) or VAR=value
        if let Some((name, value)) = line.split_once('=')
            && !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            let value = Box::pin(self.expand(value.trim())).await?;
            self.vars.insert(name.to_string(), value.trim().to_string());
            return Ok(String::new());
        }
        let expanded = Box::pin(self.expand(line)).await?;
        let stages: Vec<&str> = split_pipes(&expanded);
        let first = words(stages[0])?;
        let mut text = self.command(&first).await?;
        for stage in &stages[1..] {
            text = filter(&words(stage)?, &text)?;
        }
        Ok(text)
    }

    /// Expands `$VAR` and `$(command)`.
    async fn expand(&mut self, s: &str) -> Result<String, ShellError> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(inner) = after.strip_prefix('(') {
                let close =
                    matching_paren(inner).ok_or_else(|| ShellError("unclosed $(".into()))?;
                let value = Box::pin(self.run(&inner[..close])).await?;
                out.push_str(value.trim_end_matches('\n'));
                rest = &inner[close + 1..];
            } else {
                let n = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                let name = &after[..n];
                out.push_str(self.vars.get(name).map(String::as_str).unwrap_or(""));
                rest = &after[n..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    async fn command(&mut self, argv: &[String]) -> Result<String, ShellError> {
        let mut argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        // `ssh NODE "..."` runs on that node; `sudo` changes nothing here.
        if argv.first() == Some(&"ssh") && argv.len() >= 3 {
            let target = argv[1];
            let Some(i) = self
                .nodes
                .iter()
                .position(|n| n.node_name().as_str() == target)
            else {
                return err(format!("ssh: no node named {target}"));
            };
            let saved = self.current;
            self.current = i;
            let inner = argv[2..].join(" ");
            let r = Box::pin(self.run(&inner)).await;
            self.current = saved;
            return r;
        }
        while argv.first() == Some(&"sudo") {
            argv.remove(0);
        }
        let Some(&program) = argv.first() else {
            return Ok(String::new());
        };
        let program = program.rsplit('/').next().unwrap_or(program);
        let args = &argv[1..];
        match program {
            "kubectl" => self.kubectl(args).await,
            "journalctl" => self.journalctl(args).await,
            "systemctl" => self.systemctl(args).await,
            "snap" => self.snap(args).await,
            "pgrep" => self.pgrep(args).await,
            "ctr" => self.ctr(args).await,
            "cat" => self.cat(args).await,
            "ls" => self.ls(args).await,
            "kill" => self.kill(args).await,
            "curl" => self.curl(args).await,
            "sleep" => {
                let secs: f64 = args
                    .first()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ShellError("sleep: give seconds, e.g. sleep 3".into()))?;
                self.here()?
                    .sleep(Duration::from_secs_f64(secs.clamp(0.0, 86_400.0)))
                    .await;
                Ok(String::new())
            }
            "echo" => Ok(format!("{}\n", args.join(" "))),
            "date" => Ok(format!("{}\n", self.here()?.now().rfc3339())),
            other => err(format!(
                "{other}: not available here. Try: kubectl, journalctl, systemctl, pgrep, ctr, cat /proc/PID/schedstat, ls, kill, curl, sleep"
            )),
        }
    }

    fn here(&self) -> Result<&N, ShellError> {
        self.node().ok_or_else(|| ShellError("no node".into()))
    }

    fn by_name(&self, name: &str) -> Result<&N, ShellError> {
        self.nodes
            .iter()
            .find(|n| n.node_name().as_str() == name)
            .ok_or_else(|| {
                ShellError(format!(
                    "Error from server (NotFound): nodes \"{name}\" not found"
                ))
            })
    }

    async fn kubectl(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let mut pos = Vec::new();
        let mut selector = None;
        let mut all_ns = false;
        let mut i = 0;
        while i < args.len() {
            let a = args[i];
            match a {
                "--context" | "-n" | "--namespace" | "--kubeconfig" | "--timeout" | "--for"
                | "-o" => i += 1,
                "-A" | "--all-namespaces" => all_ns = true,
                "--field-selector" => {
                    selector = args.get(i + 1).copied();
                    i += 1;
                }
                "-w" | "--watch" => {
                    return err(
                        "kubectl -w: watching is not available in this shell; run the command again after `sleep N`",
                    );
                }
                _ if a.starts_with("--field-selector=") => {
                    selector = a.split_once('=').map(|x| x.1)
                }
                _ if a.starts_with("--for=")
                    || a.starts_with("--timeout=")
                    || a.starts_with("--context=") => {}
                _ if a.starts_with('-') => {}
                _ => pos.push(a),
            }
            i += 1;
        }
        let _ = all_ns;
        match pos.as_slice() {
            ["get", "nodes" | "node" | "no"] => self.kubectl_get_nodes().await,
            ["get", "pods" | "pod" | "po"] => {
                let node = selector
                    .and_then(|s| s.strip_prefix("spec.nodeName="))
                    .map(str::to_string);
                self.kubectl_get_pods(node.as_deref()).await
            }
            ["cordon", name] | ["uncordon", name] => {
                let n = self.by_name(name)?;
                let r = if pos[0] == "cordon" {
                    n.cordon().await
                } else {
                    n.uncordon().await
                };
                r.map_err(|e| ShellError(e.to_string()))?;
                Ok(format!("node/{name} {}ed\n", pos[0]))
            }
            ["wait", target] => {
                let name = target
                    .strip_prefix("node/")
                    .ok_or_else(|| ShellError("kubectl wait: give node/NAME".into()))?;
                let timeout = args
                    .iter()
                    .find_map(|a| a.strip_prefix("--timeout="))
                    .and_then(|t| t.trim_end_matches('s').parse::<u64>().ok())
                    .unwrap_or(30);
                let n = self.by_name(name)?;
                let deadline = n.now().add(Duration::from_secs(timeout));
                loop {
                    let view = n.node().await.map_err(|e| ShellError(e.to_string()))?;
                    if view.ready {
                        return Ok(format!("node/{name} condition met\n"));
                    }
                    if n.now() >= deadline {
                        return err(format!(
                            "error: timed out waiting for the condition on nodes/{name}"
                        ));
                    }
                    n.sleep(Duration::from_secs(1)).await;
                }
            }
            _ => err(
                "kubectl: this shell knows get nodes, get pods [-A] [--field-selector spec.nodeName=N], cordon, uncordon, wait node/N --for=condition=Ready --timeout=120s",
            ),
        }
    }

    async fn kubectl_get_nodes(&self) -> Result<String, ShellError> {
        let views = self
            .here()?
            .nodes()
            .await
            .map_err(|e| ShellError(e.to_string()))?;
        let now = self.here()?.now();
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                let mut status = if v.ready {
                    "Ready".to_string()
                } else {
                    "NotReady".to_string()
                };
                if v.unschedulable {
                    status.push_str(",SchedulingDisabled");
                }
                vec![
                    v.name.to_string(),
                    status,
                    "<none>".into(),
                    age(now.since(self.started)),
                ]
            })
            .collect();
        Ok(table(&["NAME", "STATUS", "ROLES", "AGE"], &rows))
    }

    async fn kubectl_get_pods(&self, node: Option<&str>) -> Result<String, ShellError> {
        let now = self.here()?.now();
        let mut rows = Vec::new();
        for n in self.nodes {
            if node.is_some_and(|want| n.node_name().as_str() != want) {
                continue;
            }
            for p in n.pods().await.map_err(|e| ShellError(e.to_string()))? {
                let ready = if p.phase == PodPhase::Running {
                    "1/1"
                } else {
                    "0/1"
                };
                rows.push(vec![
                    p.pod.namespace.clone(),
                    p.pod.name.clone(),
                    ready.into(),
                    p.phase.as_str().into(),
                    "0".into(),
                    age(now.since(p.created_at)),
                ]);
            }
        }
        if rows.is_empty() {
            return Ok("No resources found\n".into());
        }
        Ok(table(
            &["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            &rows,
        ))
    }

    async fn journalctl(&self, args: &[&str]) -> Result<String, ShellError> {
        let node = self.here()?;
        let now = node.now();
        let mut unit = None;
        let mut since = Timestamp::EPOCH;
        let mut last_n = None;
        let mut i = 0;
        while i < args.len() {
            match args[i] {
                "-u" | "--unit" => {
                    unit = args.get(i + 1).copied();
                    i += 1;
                }
                "--since" | "-S" => {
                    let s = args.get(i + 1).copied().unwrap_or_default();
                    since = parse_since(s, now).ok_or_else(|| {
                        ShellError(format!(
                            "journalctl: cannot read --since {s:?}; try '5 minutes ago'"
                        ))
                    })?;
                    i += 1;
                }
                "-n" | "--lines" => {
                    last_n = args.get(i + 1).and_then(|s| s.parse::<usize>().ok());
                    i += 1;
                }
                "-f" | "--follow" => {
                    return err(
                        "journalctl -f: following is not available here; use --since and `sleep N`",
                    );
                }
                a if a.starts_with("--since=") => {
                    since = parse_since(&a[8..], now)
                        .ok_or_else(|| ShellError(format!("journalctl: cannot read {a}")))?;
                }
                _ => {}
            }
            i += 1;
        }
        let unit: Unit = unit
            .ok_or_else(|| {
                ShellError("journalctl: give a unit, e.g. -u snap.microk8s.daemon-kubelite".into())
            })?
            .parse()
            .map_err(|e: kubestall_node::InvalidName| ShellError(e.to_string()))?;
        let entries = node
            .journal(&unit, since)
            .await
            .map_err(|e| ShellError(e.to_string()))?;
        let skip = last_n.map(|n| entries.len().saturating_sub(n)).unwrap_or(0);
        let mut out = String::new();
        if entries.is_empty() {
            out.push_str("-- No entries --\n");
        }
        for e in &entries[skip..] {
            let c = e.at.civil();
            let _ = writeln!(
                out,
                "{} {:02} {:02}:{:02}:{:02} {} {}[{}]: {}",
                MONTHS[(c.month as usize).saturating_sub(1) % 12],
                c.day,
                c.hour,
                c.minute,
                c.second,
                e.hostname.as_deref().unwrap_or(node.node_name().as_str()),
                e.identifier.as_deref().unwrap_or(unit.syslog_identifier()),
                e.pid.map(|p| p.0).unwrap_or(0),
                e.message
            );
        }
        Ok(out)
    }

    async fn systemctl(&self, args: &[&str]) -> Result<String, ShellError> {
        let node = self.here()?;
        let verb = args.first().copied().unwrap_or_default();
        let unit_arg = args.iter().skip(1).find(|a| !a.starts_with('-')).copied();
        let unit = || -> Result<Unit, ShellError> {
            unit_arg
                .ok_or_else(|| ShellError(format!("systemctl {verb}: give a unit")))?
                .parse()
                .map_err(|e: kubestall_node::InvalidName| ShellError(e.to_string()))
        };
        let e = |e: kubestall_node::NodeError| ShellError(e.to_string());
        match verb {
            "restart" => node
                .restart(&unit()?)
                .await
                .map(|_| String::new())
                .map_err(e),
            "stop" => node.stop(&unit()?).await.map(|_| String::new()).map_err(e),
            "start" => node.start(&unit()?).await.map(|_| String::new()).map_err(e),
            "is-active" => {
                let s = node.service(&unit()?).await.map_err(e)?;
                Ok(format!("{}\n", s.active.as_str()))
            }
            "show" => {
                let s = node.service(&unit()?).await.map_err(e)?;
                let props: Vec<&str> = args
                    .iter()
                    .filter_map(|a| {
                        a.strip_prefix("--property=")
                            .or_else(|| a.strip_prefix("-p"))
                    })
                    .flat_map(|p| p.split(','))
                    .filter(|p| !p.is_empty())
                    .collect();
                let all = [
                    "MainPID",
                    "ActiveState",
                    "ExecMainStartTimestamp",
                    "NRestarts",
                ];
                let mut out = String::new();
                for p in if props.is_empty() {
                    all.to_vec()
                } else {
                    props
                } {
                    let v = match p {
                        "MainPID" => s.main_pid.map(|p| p.0).unwrap_or(0).to_string(),
                        "ActiveState" => s.active.as_str().to_string(),
                        "ExecMainStartTimestamp" => {
                            s.started_at.map(systemd_time).unwrap_or_default()
                        }
                        "NRestarts" => s.restarts.to_string(),
                        other => {
                            return err(format!(
                                "systemctl show: this shell knows MainPID, ActiveState, ExecMainStartTimestamp, NRestarts, not {other}"
                            ));
                        }
                    };
                    let _ = writeln!(out, "{p}={v}");
                }
                Ok(out)
            }
            _ => err("systemctl: this shell knows restart, stop, start, is-active, show"),
        }
    }

    /// `snap restart microk8s.daemon-containerd`, as the runbook writes it.
    async fn snap(&self, args: &[&str]) -> Result<String, ShellError> {
        match args {
            ["restart", svc] => {
                let unit: Unit = format!("snap.{svc}")
                    .parse()
                    .map_err(|e: kubestall_node::InvalidName| ShellError(e.to_string()))?;
                self.here()?
                    .restart(&unit)
                    .await
                    .map_err(|e| ShellError(e.to_string()))?;
                Ok("Restarted.\n".to_string())
            }
            _ => err("snap: this shell knows `snap restart microk8s.daemon-NAME`"),
        }
    }

    async fn pgrep(&self, args: &[&str]) -> Result<String, ShellError> {
        let node = self.here()?;
        let count = args.contains(&"-c");
        let list = args.contains(&"-a");
        let pattern = args
            .iter()
            .rev()
            .find(|a| !a.starts_with('-'))
            .copied()
            .unwrap_or_default();
        let e = |e: kubestall_node::NodeError| ShellError(e.to_string());
        let lines: Vec<(u32, String)> = if pattern.contains("containerd-shim") {
            node.shims()
                .await
                .map_err(e)?
                .into_iter()
                .map(|s| {
                    (
                        s.pid.0,
                        format!(
                            "/usr/bin/containerd-shim-runc-v2 -namespace {} -id {} -address /var/snap/microk8s/common/run/containerd.sock",
                            s.namespace, s.container_id
                        ),
                    )
                })
                .collect()
        } else if pattern.contains("kubelite") {
            let s = node.service(&Unit::Kubelite).await.map_err(e)?;
            s.main_pid
                .map(|p| (p.0, "/snap/microk8s/current/kubelite".to_string()))
                .into_iter()
                .collect()
        } else {
            node.processes(pattern)
                .await
                .map_err(e)?
                .into_iter()
                .map(|p| (p.pid.0, p.cmdline.join(" ")))
                .collect()
        };
        if count {
            return Ok(format!("{}\n", lines.len()));
        }
        Ok(lines
            .iter()
            .map(|(pid, cmd)| {
                if list {
                    format!("{pid} {cmd}\n")
                } else {
                    format!("{pid}\n")
                }
            })
            .collect())
    }

    async fn ctr(&self, args: &[&str]) -> Result<String, ShellError> {
        let pos: Vec<&str> = {
            let mut v = Vec::new();
            let mut i = 0;
            while i < args.len() {
                match args[i] {
                    "--address" | "-a" | "-n" | "--namespace" => i += 1,
                    a if a.starts_with('-') => {}
                    a => v.push(a),
                }
                i += 1;
            }
            v
        };
        if !matches!(pos.as_slice(), ["tasks" | "t" | "task", "list" | "ls"]) {
            return err("ctr: this shell knows `ctr --address SOCK -n k8s.io tasks list`");
        }
        let tasks = self
            .here()?
            .tasks()
            .await
            .map_err(|e| ShellError(e.to_string()))?;
        let rows: Vec<Vec<String>> = tasks
            .iter()
            .map(|t| {
                vec![
                    t.id.to_string(),
                    t.pid.0.to_string(),
                    t.status.as_str().to_string(),
                ]
            })
            .collect();
        Ok(table(&["TASK", "PID", "STATUS"], &rows))
    }

    async fn cat(&self, args: &[&str]) -> Result<String, ShellError> {
        let path = args.first().copied().unwrap_or_default();
        let pid = path
            .strip_prefix("/proc/")
            .and_then(|r| r.strip_suffix("/schedstat"))
            .and_then(|p| p.parse::<u32>().ok());
        match pid {
            Some(pid) => {
                let s = self
                    .here()?
                    .schedstat(kubestall_node::Pid(pid))
                    .await
                    .map_err(|e| ShellError(format!("cat: {path}: {e}")))?;
                Ok(format!("{s}\n"))
            }
            None => err(format!("cat: {path}: this shell reads /proc/PID/schedstat")),
        }
    }

    async fn ls(&self, args: &[&str]) -> Result<String, ShellError> {
        let path = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .copied()
            .unwrap_or_default();
        let parsed = path.strip_prefix("/proc/").and_then(|r| {
            let (pid, rest) = r.split_once('/')?;
            let app = rest.strip_prefix("root/run/")?.trim_end_matches('/');
            Some((pid.parse::<u32>().ok()?, app))
        });
        let Some((pid, app)) = parsed else {
            return err("ls: this shell lists /proc/PID/root/run/APP/");
        };
        let entries = self
            .here()?
            .run_dir(kubestall_node::Pid(pid), app)
            .await
            .map_err(|e| ShellError(format!("ls: {path}: {e}")))?;
        Ok(entries.iter().map(|e| format!("{e}\n")).collect())
    }

    async fn kill(&self, args: &[&str]) -> Result<String, ShellError> {
        let mut signal = Signal::Term;
        let mut pids = Vec::new();
        let mut i = 0;
        while i < args.len() {
            match args[i] {
                "-9" | "-KILL" | "-SIGKILL" => signal = Signal::Kill,
                "-SIGUSR1" | "-USR1" | "-10" => signal = Signal::Usr1,
                "-STOP" | "-SIGSTOP" => signal = Signal::Stop,
                "-CONT" | "-SIGCONT" => signal = Signal::Cont,
                "-s" => {
                    signal = match args.get(i + 1).copied() {
                        Some("KILL" | "9") => Signal::Kill,
                        Some("USR1") => Signal::Usr1,
                        Some("STOP") => Signal::Stop,
                        Some("CONT") => Signal::Cont,
                        _ => Signal::Term,
                    };
                    i += 1;
                }
                a => pids.extend(a.split_whitespace().filter_map(|p| p.parse::<u32>().ok())),
            }
            i += 1;
        }
        if pids.is_empty() {
            return err("kill: give a PID");
        }
        for pid in pids {
            self.here()?
                .kill(kubestall_node::Pid(pid), signal)
                .await
                .map_err(|e| ShellError(format!("kill: ({pid}) - {e}")))?;
        }
        Ok(String::new())
    }

    async fn curl(&self, args: &[&str]) -> Result<String, ShellError> {
        if !args.iter().any(|a| a.ends_with(":10250/pods")) {
            return err("curl: this shell serves the kubelet's https://127.0.0.1:10250/pods");
        }
        let pods = self
            .here()?
            .kubelet_pods()
            .await
            .map_err(|e| ShellError(e.to_string()))?;
        let items: Vec<serde_json::Value> = pods
            .iter()
            .map(|p| serde_json::json!({"metadata": {"namespace": p.namespace, "name": p.name}}))
            .collect();
        Ok(format!(
            "{}\n",
            serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
        ))
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn systemd_time(t: Timestamp) -> String {
    let c = t.civil();
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let day = DAYS[(t.as_micros().div_euclid(86_400_000_000).rem_euclid(7)) as usize];
    format!(
        "{day} {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `--since` values the runbook uses: `5 minutes ago`, `1 minute ago`, `24 hours ago`, `@EPOCH`.
fn parse_since(s: &str, now: Timestamp) -> Option<Timestamp> {
    if let Some(epoch) = s.strip_prefix('@') {
        return epoch.parse::<i64>().ok().map(Timestamp::from_secs);
    }
    let mut w = s.split_whitespace();
    let n: u64 = w.next()?.parse().ok()?;
    let unit = w.next()?;
    if w.next() != Some("ago") {
        return None;
    }
    let secs = match unit.trim_end_matches('s') {
        "second" | "sec" => n,
        "minute" | "min" => n * 60,
        "hour" => n * 3600,
        "day" => n * 86_400,
        _ => return None,
    };
    Some(now.sub(Duration::from_secs(secs)))
}

fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

/// kubectl-style columns: left-aligned, three spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.len());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:w$}   ", w = widths[i]);
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// Splits at `&&` outside quotes and `$(...)`.
fn split_and(line: &str) -> Vec<&str> {
    split_outside(line, "&&")
}

fn split_pipes(line: &str) -> Vec<&str> {
    split_outside(line, "|")
}

fn split_outside<'s>(line: &'s str, sep: &str) -> Vec<&'s str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let c = bytes[i] as char;
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, _) if depth == 0 && line[i..].starts_with(sep) => {
                // `||` is not a pipe.
                if sep == "|" && line[i + 1..].starts_with('|') {
                    i += 2;
                    continue;
                }
                parts.push(&line[start..i]);
                start = i + sep.len();
                i = start;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&line[start..]);
    parts
}

fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits a command into words as a POSIX shell would (quotes, backslashes).
pub fn words(s: &str) -> Result<Vec<String>, ShellError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return err("unclosed '"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash escapes only $ ` " \\.
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return err("unclosed \""),
                        },
                        Some(c) => cur.push(c),
                        None => return err("unclosed \""),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// A pipeline stage after the first: grep, wc -l, tail, head, cut, tr (no-op forms).
fn filter(argv: &[String], input: &str) -> Result<String, ShellError> {
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    match args.first().copied() {
        Some("grep") => {
            let (mut ignore, mut invert, mut count, mut after) = (false, false, false, 0usize);
            let mut pattern = None;
            let mut i = 1;
            while i < args.len() {
                match args[i] {
                    "-A" => {
                        after = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(0);
                        i += 1;
                    }
                    "-E" | "-q" => {}
                    a if a.starts_with("-A") && a.len() > 2 => {
                        after = a[2..].parse().unwrap_or(0);
                    }
                    flags if flags.starts_with('-') && pattern.is_none() => {
                        ignore |= flags.contains('i');
                        invert |= flags.contains('v');
                        count |= flags.contains('c');
                    }
                    p if pattern.is_none() => pattern = Some(p),
                    _ => {}
                }
                i += 1;
            }
            let pattern = pattern.ok_or_else(|| ShellError("grep: give a pattern".into()))?;
            let alts: Vec<String> = pattern
                .split("\\|")
                .flat_map(|p| p.split('|'))
                .map(|p| {
                    if ignore {
                        p.to_lowercase()
                    } else {
                        p.to_string()
                    }
                })
                .collect();
            let lines: Vec<&str> = input.lines().collect();
            let mut keep = vec![false; lines.len()];
            for (i, l) in lines.iter().enumerate() {
                let hay = if ignore {
                    l.to_lowercase()
                } else {
                    l.to_string()
                };
                let hit = alts.iter().any(|a| hay.contains(a.as_str())) != invert;
                if hit {
                    for k in keep.iter_mut().skip(i).take(after + 1) {
                        *k = true;
                    }
                }
            }
            if count {
                return Ok(format!("{}\n", keep.iter().filter(|k| **k).count()));
            }
            Ok(lines
                .iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(l, _)| format!("{l}\n"))
                .collect())
        }
        Some("wc") if args.get(1) == Some(&"-l") => Ok(format!("{}\n", input.lines().count())),
        Some("tail" | "head") => {
            let n = args
                .iter()
                .skip(1)
                .find_map(|a| {
                    a.trim_start_matches("-n")
                        .trim_start_matches('-')
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(10);
            let lines: Vec<&str> = input.lines().collect();
            let slice = if args[0] == "tail" {
                &lines[lines.len().saturating_sub(n)..]
            } else {
                &lines[..n.min(lines.len())]
            };
            Ok(slice.iter().map(|l| format!("{l}\n")).collect())
        }
        Some("cut") => {
            let delim = args
                .iter()
                .find_map(|a| a.strip_prefix("-d"))
                .and_then(|d| d.chars().next())
                .unwrap_or('\t');
            let field: usize = args
                .iter()
                .find_map(|a| a.strip_prefix("-f"))
                .and_then(|f| f.parse().ok())
                .unwrap_or(1);
            Ok(input
                .lines()
                .map(|l| {
                    format!(
                        "{}\n",
                        l.split(delim).nth(field.saturating_sub(1)).unwrap_or("")
                    )
                })
                .collect())
        }
        Some("awk") if args.get(1) == Some(&"NR>1 {print $1}") => Ok(input
            .lines()
            .skip(1)
            .map(|l| format!("{}\n", l.split_whitespace().next().unwrap_or("")))
            .collect()),
        Some("python3") => {
            // The runbook's /pods one-liner prints "namespace name" per item.
            let v: serde_json::Value =
                serde_json::from_str(input).map_err(|e| ShellError(format!("python3: {e}")))?;
            Ok(v["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|p| {
                            format!(
                                "{} {}\n",
                                p["metadata"]["namespace"].as_str().unwrap_or(""),
                                p["metadata"]["name"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default())
        }
        Some(other) => err(format!(
            "{other}: this shell pipes into grep, wc -l, tail, head, cut, awk 'NR>1 {{print $1}}' and the runbook's python3 one-liner"
        )),
        None => Ok(input.to_string()),
    }
}

/// What to look at first in a reproduced stall, in the runbook's words.
pub fn suggested_commands(mode: FailureMode, node: &NodeName) -> Vec<String> {
    let n = node.as_str();
    let mut v = vec![
        "kubectl get nodes".to_string(),
        format!("kubectl get pods -A --field-selector spec.nodeName={n} | grep Pending"),
        "journalctl -u snap.microk8s.daemon-kubelite --since '5 minutes ago'".to_string(),
    ];
    match mode {
        FailureMode::ImagefsStall => v.push(
            "journalctl -u snap.microk8s.daemon-kubelite --since '30 minutes ago' | grep -i \"imagefs\\|eviction manager\"".into(),
        ),
        FailureMode::WatchStall => {
            v.push("curl -sk https://127.0.0.1:10250/pods | python3 -c \"...\"".into());
            v.push("kill -SIGUSR1 $(systemctl show snap.microk8s.daemon-kubelite --property=MainPID | cut -d= -f2)".into());
            v.push("journalctl -u snap.microk8s.daemon-kubelite | grep -A5 handleAnyWatch".into());
        }
        FailureMode::PlegStall | FailureMode::KineExhaustion => {
            v.push("PID=$(systemctl show snap.microk8s.daemon-kubelite --property=MainPID | cut -d= -f2)".into());
            v.push("cat /proc/$PID/schedstat && sleep 3 && cat /proc/$PID/schedstat".into());
            v.push("pgrep -c containerd-shim && ctr --address /var/snap/microk8s/common/run/containerd.sock -n k8s.io tasks list | wc -l".into());
            v.push("journalctl -u snap.microk8s.daemon-kubelite --since '5 minutes ago' | grep 'retrying of unary invoker'".into());
        }
        FailureMode::ContainerdFreeze => {
            v.push("journalctl -u snap.microk8s.daemon-kubelite --since '5 minutes ago' | grep 'pleg was last seen active'".into());
            v.push("systemctl is-active snap.microk8s.daemon-containerd".into());
        }
        FailureMode::OrphanLockHolder => v.push("pgrep -a buildkitd".into()),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_shell_quoting() {
        assert_eq!(
            words(r#"journalctl -u snap.microk8s.daemon-kubelite --since '5 minutes ago'"#).ok(),
            Some(vec![
                "journalctl".into(),
                "-u".into(),
                "snap.microk8s.daemon-kubelite".into(),
                "--since".into(),
                "5 minutes ago".into()
            ])
        );
        assert_eq!(
            words(r#"grep -i "imagefs\|eviction manager""#)
                .ok()
                .map(|w| w[2].clone()),
            Some(r"imagefs\|eviction manager".into())
        );
        assert!(words("echo 'unclosed").is_err());
    }

    #[test]
    fn pipes_split_outside_quotes_and_substitutions() {
        assert_eq!(
            split_pipes("a | grep 'x|y' | wc -l"),
            vec!["a ", " grep 'x|y' ", " wc -l"]
        );
        assert_eq!(
            split_pipes("kill $(pgrep a | head -1)"),
            vec!["kill $(pgrep a | head -1)"]
        );
        assert_eq!(split_and("cat x && sleep 3 && cat x").len(), 3);
    }

    #[test]
    fn filters_behave_like_coreutils() {
        let text = "I0522 startup\nE0522 eviction manager: failed\nI0522 Imagefs ok\n";
        let grep = |a: &[&str]| filter(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>(), text);
        assert_eq!(
            grep(&["grep", "-i", "imagefs\\|eviction manager"])
                .ok()
                .map(|s| s.lines().count()),
            Some(2)
        );
        assert_eq!(grep(&["grep", "-c", "I0522"]).ok(), Some("2\n".into()));
        assert_eq!(grep(&["wc", "-l"]).ok(), Some("3\n".into()));
        assert_eq!(
            grep(&["tail", "-1"]).ok(),
            Some("I0522 Imagefs ok\n".into())
        );
        assert_eq!(
            grep(&["grep", "-A1", "startup"])
                .ok()
                .map(|s| s.lines().count()),
            Some(2)
        );
    }

    #[test]
    fn since_reads_the_runbook_forms() {
        let now = Timestamp::from_civil(2026, 5, 22, 2, 34, 21);
        assert_eq!(
            parse_since("5 minutes ago", now),
            Some(now.sub(Duration::from_secs(300)))
        );
        assert_eq!(
            parse_since("1 minute ago", now),
            Some(now.sub(Duration::from_secs(60)))
        );
        assert_eq!(
            parse_since("24 hours ago", now),
            Some(now.sub(Duration::from_secs(86_400)))
        );
        assert_eq!(parse_since("@1779417261", now), Some(now));
        assert_eq!(parse_since("yesterday-ish", now), None);
    }
}
