//! What one kubelite journal line means to the detectors.
//!
//! Lines are matched on what the runbook quotes (the imagefs signature, `pleg
//! has yet to be successful`, `pleg was last seen active`, `retrying of unary
//! invoker failed`, `Successfully registered node`) and on the kubelet's pod
//! work (`SyncLoop ADD`, `SyncPod`, PLEG events), which names the pod.

use kubestall_node::klog::KlogLine;

/// The kind of a kubelite journal line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// `"Successfully registered node"`: the last startup line.
    Registered,
    /// Another line kubelite writes while starting.
    Startup,
    /// The eviction manager's imagefs line.
    ImagefsSignature,
    /// The kubelet working on a pod (`ns/name`).
    PodWork(String),
    /// EventedPLEG's startup message (normal within about a minute).
    PlegYetToBeSuccessful,
    /// `pleg was last seen active`.
    PlegLastSeenActive,
    /// The etcd client failing against kine, with its attempt number.
    KineRetry(u32),
    /// A line of a goroutine dump (not activity of the process).
    GoroutineDump,
    /// Any other line: the process is doing something.
    Other,
}

const STARTUP: [&str; 6] = [
    "Kubelet version",
    "FLAG:",
    "Starting API server",
    "Starting kubelet main sync loop",
    "Attempting to register node",
    "Starting to listen",
];

/// Classifies one line.
pub fn classify_line(message: &str) -> LineKind {
    if message.contains("retrying of unary invoker failed") {
        return LineKind::KineRetry(attempt_of(message).unwrap_or(0));
    }
    let Some(k) = KlogLine::parse_any(message) else {
        let t = message.trim_start();
        if t.starts_with("goroutine ")
            || message.starts_with('\t')
            || t.starts_with("created by ")
            || (t.contains('(') && t.ends_with(')') && !t.contains(' '))
        {
            return LineKind::GoroutineDump;
        }
        return LineKind::Other;
    };
    let msg = k.message.as_str();
    if msg == "Successfully registered node" {
        return LineKind::Registered;
    }
    if msg.starts_with("eviction manager: failed to check if we have separate container filesystem")
    {
        return LineKind::ImagefsSignature;
    }
    if let Some(err) = k.field("err") {
        if err.contains("pleg has yet to be successful") {
            return LineKind::PlegYetToBeSuccessful;
        }
        if err.contains("pleg was last seen active") {
            return LineKind::PlegLastSeenActive;
        }
    }
    if STARTUP.iter().any(|s| msg.starts_with(s)) {
        return LineKind::Startup;
    }
    if msg.starts_with("SyncLoop") || msg.starts_with("SyncPod") {
        let pod = k.field("pod").map(str::to_string).or_else(|| {
            k.field("pods").map(|p| {
                p.trim_matches(|c| c == '[' || c == ']' || c == '"')
                    .replace("\\\"", "")
                    .to_string()
            })
        });
        if let Some(pod) = pod.filter(|p| p.contains('/')) {
            return LineKind::PodWork(pod.trim_matches('"').to_string());
        }
    }
    LineKind::Other
}

/// The `attempt` of an etcd client retry line: `"attempt":52` (zap JSON) or `attempt:52`.
pub fn attempt_of(line: &str) -> Option<u32> {
    let i = line
        .find("\"attempt\":")
        .map(|i| i + 10)
        .or_else(|| line.find("attempt:").map(|i| i + 8))?;
    let digits: String = line[i..]
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_lines() {
        assert_eq!(
            classify_line(
                r#"I0522 02:34:21.000000    4242 kubelet_node_status.go:77] "Successfully registered node" node="k8s03""#
            ),
            LineKind::Registered
        );
        assert_eq!(
            classify_line(
                r#"E0516 09:12:03.441122   18812 eviction_manager.go:292] "eviction manager: failed to check if we have separate container filesystem. Ignoring." err="no imagefs label for configured runtime""#
            ),
            LineKind::ImagefsSignature
        );
        assert_eq!(
            classify_line(
                r#"E0523 00:17:51.000000    2211 kubelet.go:2525] "Skipping pod synchronization" err="PLEG is not healthy: pleg has yet to be successful""#
            ),
            LineKind::PlegYetToBeSuccessful
        );
        assert_eq!(
            classify_line(
                r#"E0523 00:22:21.000000    2211 kubelet.go:2525] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 4m30s ago""#
            ),
            LineKind::PlegLastSeenActive
        );
        assert_eq!(
            classify_line(
                r#"{"level":"warn","logger":"etcd-client","msg":"retrying of unary invoker failed","attempt":52,"error":"rpc error"}"#
            ),
            LineKind::KineRetry(52)
        );
        assert_eq!(
            classify_line("retrying of unary invoker failed attempt:50"),
            LineKind::KineRetry(50)
        );
        assert_eq!(
            classify_line("goroutine 12104 [select, 4 minutes]:"),
            LineKind::GoroutineDump
        );
        assert_eq!(
            classify_line("k8s.io/client-go/tools/cache.handleAnyWatch(...)"),
            LineKind::GoroutineDump
        );
        assert_eq!(
            classify_line("\t.../client-go/tools/cache/reflector.go:904"),
            LineKind::GoroutineDump
        );
    }

    #[test]
    fn pod_work_names_the_pod() {
        assert_eq!(
            classify_line(
                r#"I0522 02:00:50.020000    3033 kubelet.go:2540] "SyncLoop ADD" source="api" pods="[\"default/w100\"]""#
            ),
            LineKind::PodWork("default/w100".into())
        );
        assert_eq!(
            classify_line(
                r#"I0522 02:00:50.020000    3033 kubelet.go:1759] "SyncPod enter" pod="default/w100" podUID="x""#
            ),
            LineKind::PodWork("default/w100".into())
        );
    }
}
