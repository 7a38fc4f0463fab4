//! A node's side of the twin: the process systemd runs as
//! `snap.microk8s.daemon-kubelite` (and the small hooks of the other units).
//!
//! kubelite: on start, it finds the node's real orphaned shims (pgrep and ctr,
//! exact ids) and tells the cluster twin it started; then it prints the model's
//! kubelite lines for this node to stdout (journald), runs each container the
//! model runs as a real busybox container in the node's real containerd (so
//! every pod has a real shim), and serves the kubelet's `/pods` on 10251 (stunnel
//! puts TLS in front on 10250). While the model's kubelet is blocked, the agent
//! waits in a read the cluster holds open: it uses no CPU, and its
//! `/proc/PID/schedstat` freezes for real.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kubestall_node::{KubeletRuntime, orphaned_shims, parse};
use serde_json::{Value, json};

use crate::http::{Response, call, serve};

/// Where microk8s's containerd listens and where the pod rootfs is.
pub const SOCK: &str = "/var/snap/microk8s/common/run/containerd.sock";
const ROOTFS: &str = "/var/lib/kubestall/rootfs";

fn ctr(args: &[&str], timeout: Duration) -> Option<Vec<u8>> {
    let mut child = Command::new("ctr")
        .args(["--address", SOCK, "-n", "k8s.io"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => {
                let mut out = Vec::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = std::io::Read::read_to_end(&mut o, &mut out);
                }
                return Some(out);
            }
            Ok(Some(_)) => return None,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return None,
        }
    }
}

/// The node's orphaned shims, by exact container id (none when containerd does not answer).
pub fn real_orphans() -> Vec<String> {
    let shims = Command::new("pgrep")
        .args(["-a", "containerd-shim"])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let Some(tasks) = ctr(&["tasks", "list"], Duration::from_secs(30)) else {
        return Vec::new();
    };
    match (parse::pgrep::shims(&shims), parse::ctr::parse(&tasks)) {
        (Ok(s), Ok(t)) => orphaned_shims(&s, &t, &KubeletRuntime::at(SOCK))
            .map(|s| s.container_id.to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs the kubelite agent for `node`, reaching the cluster twin at `cluster`.
pub fn kubelite(node: &str, cluster: &str) -> std::io::Result<()> {
    let orphans = real_orphans();
    let (code, started) = call(
        cluster,
        "POST",
        &format!("/twin/v1/nodes/{node}/kubelite/start"),
        Some(&json!({"pid": std::process::id(), "orphans": orphans})),
        Some(Duration::from_secs(30)),
    )?;
    if code != 200 {
        return Err(std::io::Error::other(format!(
            "the cluster twin at {cluster} refused the start of {node}: {started}"
        )));
    }
    let mut from = started.get("from").and_then(Value::as_u64).unwrap_or(0) as usize;
    // The kubelet's /pods, plain HTTP on loopback; stunnel serves it with TLS on 10250.
    let pods_cluster = cluster.to_string();
    let pods_node = node.to_string();
    std::thread::spawn(move || {
        if let Ok(l) = std::net::TcpListener::bind("127.0.0.1:10251") {
            serve(
                l,
                Arc::new(move |_| {
                    match call(
                        &pods_cluster,
                        "GET",
                        &format!("/twin/v1/nodes/{pods_node}/kubelet-pods"),
                        None,
                        Some(Duration::from_secs(10)),
                    ) {
                        Ok((200, v)) => Response::json(&v),
                        _ => Response::status_json(503, &json!({"message": "kubelet not ready"})),
                    }
                }),
            );
        }
    });
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut tried: std::collections::HashMap<String, std::time::Instant> =
        std::collections::HashMap::new();
    let stdout = std::io::stdout();
    loop {
        // No timeout: while the model's kubelet is blocked the cluster holds this read.
        let (code, v) = match call(
            cluster,
            "GET",
            &format!("/twin/v1/nodes/{node}/kubelite/next?from={from}"),
            None,
            None,
        ) {
            Ok(r) => r,
            Err(_) => {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if code != 200 {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        {
            let mut out = stdout.lock();
            for l in v
                .get("lines")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = l.as_str() {
                    let _ = writeln!(out, "{s}");
                }
            }
            let _ = out.flush();
        }
        from = v
            .get("next")
            .and_then(Value::as_u64)
            .map_or(from, |n| n as usize);
        let wanted: Vec<&str> = v
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|id| !created.contains(*id))
            .collect();
        if !wanted.is_empty() {
            // One look at what containerd runs, then a real container for each of the
            // model's that it lacks: its own shim, its own task. A container whose
            // task is gone (its shim was killed) is removed and run again, at most
            // every 10 s.
            let running: BTreeSet<String> = ctr(&["tasks", "list", "-q"], Duration::from_secs(10))
                .map(|o| {
                    String::from_utf8_lossy(&o)
                        .split_whitespace()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            for id in wanted {
                if running.contains(id) {
                    created.insert(id.to_string());
                    continue;
                }
                if tried
                    .get(id)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
                {
                    continue;
                }
                tried.insert(id.to_string(), std::time::Instant::now());
                let _ = ctr(&["containers", "rm", id], Duration::from_secs(10));
                if ctr(
                    &[
                        "run",
                        "-d",
                        "--rootfs",
                        ROOTFS,
                        id,
                        "/bin/sleep",
                        "2147483647",
                    ],
                    Duration::from_secs(30),
                )
                .is_some()
                {
                    created.insert(id.to_string());
                }
            }
        }
    }
}

/// A unit's hook: tells the cluster twin that `unit` on `node` started or stopped.
pub fn notify(node: &str, cluster: &str, unit: &str, event: &str) -> std::io::Result<()> {
    let path = match (unit, event) {
        ("kubelite", "stopped") => format!("/twin/v1/nodes/{node}/kubelite/stop"),
        (u, "stopped") => format!("/twin/v1/nodes/{node}/{u}/stopped"),
        (u, "started" | "restarted") => format!("/twin/v1/nodes/{node}/{u}/restarted"),
        ("containerd", "frozen") => format!("/twin/v1/nodes/{node}/containerd/frozen"),
        (u, e) => {
            return Err(std::io::Error::other(format!(
                "unknown event {e} of unit {u}"
            )));
        }
    };
    let (code, v) = call(
        cluster,
        "POST",
        &path,
        Some(&json!({})),
        Some(Duration::from_secs(10)),
    )?;
    if code == 200 {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("{path}: {v}")))
    }
}

/// k8s-dqlite: tells the cluster twin this node's kine endpoint restarted (which
/// resets its connection state), then serves as the node's kine until stopped.
pub fn dqlite(node: &str, cluster: &str) -> std::io::Result<()> {
    // The cluster twin may still be starting on the first node.
    for _ in 0..60 {
        if notify(node, cluster, "k8s-dqlite", "restarted").is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    loop {
        std::thread::park();
    }
}
