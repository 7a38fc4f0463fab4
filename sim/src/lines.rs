//! The log lines a microk8s node writes, in their real formats.
//!
//! kubelite writes klog lines (the kubelet and apiserver share the process) and,
//! from its embedded etcd client, zap JSON lines. File names and line numbers are
//! those of the Kubernetes v1.35 sources where a line comes from there
//! (`kubelet_node_status.go:77` is the runbook's own).

use kubestall_node::Timestamp;
use kubestall_node::klog::{KlogLine, Severity};

/// kubelite's first lines at startup (before the node registers).
pub fn kubelite_startup(at: Timestamp, pid: u32, version: &str, evented: bool) -> Vec<String> {
    let gates = if evented { "EventedPLEG=true" } else { "" };
    vec![
        KlogLine::format(
            at,
            Severity::Info,
            pid,
            "server.go",
            494,
            "Kubelet version",
            &[("kubeletVersion", &format!("v{version}.0"))],
        ),
        KlogLine::format(
            at,
            Severity::Info,
            pid,
            "flags.go",
            64,
            "FLAG: --feature-gates",
            &[("value", gates)],
        ),
        KlogLine::format(
            at,
            Severity::Info,
            pid,
            "server.go",
            161,
            "Starting API server",
            &[("version", &format!("v{version}.0"))],
        ),
        KlogLine::format(
            at,
            Severity::Info,
            pid,
            "kubelet.go",
            2469,
            "Starting kubelet main sync loop",
            &[],
        ),
    ]
}

/// `"Successfully registered node" node="k8s03"`: the last startup line.
pub fn registered(at: Timestamp, pid: u32, node: &str) -> String {
    KlogLine::format(
        at,
        Severity::Info,
        pid,
        "kubelet_node_status.go",
        77,
        "Successfully registered node",
        &[("node", node)],
    )
}

/// The runbook's stall signature (also printed, harmlessly, by healthy nodes).
pub fn imagefs_signature(at: Timestamp, pid: u32) -> String {
    KlogLine::format(
        at,
        Severity::Error,
        pid,
        "eviction_manager.go",
        292,
        "eviction manager: failed to check if we have separate container filesystem. Ignoring.",
        &[("err", "no imagefs label for configured runtime")],
    )
}

/// The kubelet's sync loop receiving a pod from the API.
pub fn sync_loop_add(at: Timestamp, pid: u32, pod: &str) -> String {
    KlogLine::format(
        at,
        Severity::Info,
        pid,
        "kubelet.go",
        2540,
        "SyncLoop ADD",
        &[("source", "api"), ("pods", &format!("[\"{pod}\"]"))],
    )
}

/// A pod worker starting to sync a pod.
pub fn sync_pod_enter(at: Timestamp, pid: u32, pod: &str, uid: &str) -> String {
    KlogLine::format(
        at,
        Severity::Info,
        pid,
        "kubelet.go",
        1759,
        "SyncPod enter",
        &[("pod", pod), ("podUID", uid)],
    )
}

/// A pod worker done with a sync.
pub fn sync_pod_exit(at: Timestamp, pid: u32, pod: &str, uid: &str) -> String {
    KlogLine::format(
        at,
        Severity::Info,
        pid,
        "kubelet.go",
        1761,
        "SyncPod exit",
        &[("pod", pod), ("podUID", uid), ("isTerminal", "false")],
    )
}

/// PLEG reporting a started container.
pub fn pleg_event(at: Timestamp, pid: u32, pod: &str, uid: &str, cid: &str) -> String {
    KlogLine::format(
        at,
        Severity::Info,
        pid,
        "kubelet.go",
        2572,
        "SyncLoop (PLEG): event for pod",
        &[
            ("pod", pod),
            (
                "event",
                &format!("&PodLifecycleEvent{{ID:{uid},Type:ContainerStarted,Data:{cid}}}"),
            ),
        ],
    )
}

/// `pleg was last seen active ...`: Generic PLEG's form carries the threshold.
pub fn pleg_not_healthy(
    at: Timestamp,
    pid: u32,
    ago: std::time::Duration,
    threshold: Option<std::time::Duration>,
) -> String {
    let err = match threshold {
        Some(t) => format!(
            "PLEG is not healthy: pleg was last seen active {} ago; threshold is {}",
            go_duration(ago),
            go_duration(t)
        ),
        None => format!(
            "PLEG is not healthy: pleg was last seen active {} ago",
            go_duration(ago)
        ),
    };
    KlogLine::format(
        at,
        Severity::Error,
        pid,
        "kubelet.go",
        2525,
        "Skipping pod synchronization",
        &[("err", &err)],
    )
}

/// EventedPLEG at startup, before its first resync: normal.
pub fn pleg_yet_to_be_successful(at: Timestamp, pid: u32) -> String {
    KlogLine::format(
        at,
        Severity::Error,
        pid,
        "kubelet.go",
        2525,
        "Skipping pod synchronization",
        &[("err", "PLEG is not healthy: pleg has yet to be successful")],
    )
}

/// The etcd client inside kubelite failing against a corrupted kine (a zap JSON line).
pub fn kine_retry(at: Timestamp, attempt: u32) -> String {
    let c = at.civil();
    format!(
        "{{\"level\":\"warn\",\"ts\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\",\"logger\":\"etcd-client\",\"caller\":\"v3@v3.5.21/retry_interceptor.go:63\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"etcd-endpoints://0xc000b2c000/unix:///var/snap/microk8s/var/kubernetes/backend/kine.sock:12379\",\"attempt\":{attempt},\"error\":\"rpc error: code = DeadlineExceeded desc = context deadline exceeded\"}}",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    )
}

/// Ordinary lines a healthy kubelite writes now and then (apiserver and kubelet).
pub fn chatter(at: Timestamp, pid: u32, which: u64, node: &str) -> String {
    match which % 6 {
        0 => KlogLine::format(
            at,
            Severity::Info,
            pid,
            "controller.go",
            615,
            "quota admission added evaluator for",
            &[("resource", "leases.coordination.k8s.io")],
        ),
        1 => KlogLine::format(
            at,
            Severity::Info,
            pid,
            "alloc.go",
            330,
            "allocated clusterIPs",
            &[("service", "default/kubernetes")],
        ),
        2 => KlogLine::format(
            at,
            Severity::Info,
            pid,
            "kubelet_getters.go",
            218,
            "Pod status is inconsistent with cached status for pod, a reconciliation should be triggered",
            &[("node", node)],
        ),
        3 => KlogLine::format(
            at,
            Severity::Info,
            pid,
            "reconciler.go",
            352,
            "Reconciler: start to sync state",
            &[],
        ),
        4 => KlogLine::format(
            at,
            Severity::Info,
            pid,
            "cidrallocator.go",
            301,
            "Updated ClusterIP allocator for Service CIDR",
            &[("cidr", "10.152.183.0/24")],
        ),
        _ => KlogLine::format(
            at,
            Severity::Info,
            pid,
            "kubelet_volumes.go",
            163,
            "Cleaned up orphaned pod volumes dir",
            &[("node", node)],
        ),
    }
}

/// k8s-dqlite starting.
pub fn dqlite_start(at: Timestamp, pid: u32) -> Vec<String> {
    vec![
        KlogLine::format(
            at,
            Severity::Info,
            pid,
            "server.go",
            119,
            "Starting dqlite",
            &[("dir", "/var/snap/microk8s/current/var/kubernetes/backend")],
        ),
        KlogLine::format(
            at,
            Severity::Info,
            pid,
            "kine.go",
            88,
            "Kine listening",
            &[(
                "address",
                "unix:///var/snap/microk8s/var/kubernetes/backend/kine.sock:12379",
            )],
        ),
    ]
}

/// containerd starting.
pub fn containerd_start(at: Timestamp, version: &str) -> Vec<String> {
    let c = at.civil();
    let ts = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    );
    vec![
        format!("time=\"{ts}\" level=info msg=\"starting containerd\" revision= version={version}"),
        format!(
            "time=\"{ts}\" level=info msg=\"serving...\" address=/var/snap/microk8s/common/run/containerd.sock"
        ),
        format!("time=\"{ts}\" level=info msg=\"containerd successfully booted in 0.1s\""),
    ]
}

/// Go's `time.Duration.String()` for whole and fractional seconds: `3m0s`, `4m30.5s`, `45s`.
pub fn go_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    let (h, m, s, rem) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if rem == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{rem:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(180)), "3m0s");
        assert_eq!(go_duration(Duration::from_millis(270_500)), "4m30.5s");
        assert_eq!(go_duration(Duration::from_secs(45)), "45s");
    }

    #[test]
    fn lines_match_the_runbook() {
        let t = Timestamp::from_civil(2026, 5, 22, 2, 34, 21);
        assert!(registered(t, 4242, "k8s03").ends_with(
            r#"kubelet_node_status.go:77] "Successfully registered node" node="k8s03""#
        ));
        assert!(imagefs_signature(t, 1).contains(
            r#""eviction manager: failed to check if we have separate container filesystem. Ignoring." err="no imagefs label for configured runtime""#
        ));
        assert!(pleg_not_healthy(t, 1, Duration::from_secs(180), Some(Duration::from_secs(180)))
            .ends_with(r#""Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m0s ago; threshold is 3m0s""#));
        assert!(
            kine_retry(t, 52).contains(r#""msg":"retrying of unary invoker failed""#)
                && kine_retry(t, 52).contains(r#""attempt":52"#)
        );
    }
}
