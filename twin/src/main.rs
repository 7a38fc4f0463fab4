//! `kubestall-twin`: a microk8s node's kubelite and k8s-dqlite, and the cluster
//! model behind them, for node-twin containers. systemd runs it as the units
//! microk8s has; its settings come from `/etc/kubestall/twin.env`.
//!
//! ```text
//! kubestall-twin cluster            the model and the Kubernetes API (first node)
//! kubestall-twin kubelite           snap.microk8s.daemon-kubelite
//! kubestall-twin dqlite             snap.microk8s.daemon-k8s-dqlite
//! kubestall-twin notify UNIT EVENT  unit hooks (ExecStopPost=..., ExecStartPost=...)
//! ```

use std::process::ExitCode;

use kubestall_node::{NodeName, Pleg};
use kubestall_sim::SimNodeConfig;
use kubestall_twin::{agent, cluster};

fn env(key: &str) -> Result<String, String> {
    std::env::var(key).map_err(|_| format!("{key} is not set (it comes from /etc/kubestall/twin.env, written by the container backend)"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("cluster") => run_cluster(),
        Some("kubelite") => env("KUBESTALL_NODE")
            .and_then(|n| env("KUBESTALL_CLUSTER").map(|c| (n, c)))
            .and_then(|(n, c)| agent::kubelite(&n, &c).map_err(|e| e.to_string())),
        Some("dqlite") => env("KUBESTALL_NODE")
            .and_then(|n| env("KUBESTALL_CLUSTER").map(|c| (n, c)))
            .and_then(|(n, c)| agent::dqlite(&n, &c).map_err(|e| e.to_string())),
        Some("notify") if args.len() == 3 => env("KUBESTALL_NODE")
            .and_then(|n| env("KUBESTALL_CLUSTER").map(|c| (n, c)))
            .and_then(|(n, c)| {
                agent::notify(&n, &c, &args[1], &args[2]).map_err(|e| e.to_string())
            }),
        _ => Err("usage: kubestall-twin cluster | kubelite | dqlite | notify UNIT EVENT".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubestall-twin: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_cluster() -> Result<(), String> {
    let names = env("KUBESTALL_CLUSTER_NODES")?;
    let seed: u64 = std::env::var("KUBESTALL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let pleg = if std::env::var("KUBESTALL_EVENTED_PLEG").is_ok_and(|v| v == "true") {
        Pleg::Evented
    } else {
        Pleg::Generic
    };
    let pods: u32 = std::env::var("KUBESTALL_PODS_PER_NODE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut nodes = Vec::new();
    for n in names.split(',').filter(|n| !n.is_empty()) {
        let name = NodeName::new(n).map_err(|e| e.to_string())?;
        nodes.push(SimNodeConfig {
            pleg,
            initial_pods: pods,
            ..SimNodeConfig::new(name)
        });
    }
    let listen = std::env::var("KUBESTALL_LISTEN").unwrap_or_else(|_| "0.0.0.0:16443".into());
    cluster::run(cluster::ClusterConfig {
        nodes,
        seed,
        listen,
    })
    .map_err(|e| e.to_string())
}
