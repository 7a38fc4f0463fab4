//! The detectors on output captured from the real programs (journald, systemd,
//! containerd, ctr, pgrep; see `node/tests/fixtures`) and on the runbook's own
//! samples: each mode's journal classifies as that mode, a healthy EventedPLEG
//! start as nothing, and a bundle assembled from real captures as a PLEG stall.

use std::path::{Path, PathBuf};

use kubestall_detectors::Verdict;
use kubestall_detectors::bundle::{classify_bundle, classify_journal, read_bundle};
use kubestall_detectors::render::{render_npd, render_text};
use kubestall_node::parse::journal::ReadOptions;
use kubestall_node::{FailureMode, parse};

fn fixture(path: &str) -> Vec<u8> {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "node",
        "tests",
        "fixtures",
        path,
    ]
    .iter()
    .collect();
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn modes_of(path: &str) -> Vec<FailureMode> {
    let r =
        classify_journal(Some("k8s03"), &fixture(path), ReadOptions::default()).expect("parses");
    r.findings.iter().map(|f| f.mode).collect()
}

#[test]
fn journals_of_each_mode_classify_as_that_mode() {
    assert_eq!(
        modes_of("modes/mode1.json"),
        vec![FailureMode::ImagefsStall]
    );
    assert_eq!(modes_of("modes/mode3.json"), vec![FailureMode::PlegStall]);
    assert_eq!(
        modes_of("modes/kine.json"),
        vec![FailureMode::KineExhaustion]
    );
    assert_eq!(
        modes_of("modes/freeze.json"),
        vec![FailureMode::ContainerdFreeze]
    );
    assert!(
        modes_of("modes/evented-start.json").is_empty(),
        "`pleg has yet to be successful` at a start is normal"
    );
}

#[test]
fn a_journal_alone_says_what_it_could_not_see() {
    let r = classify_journal(
        Some("k8s03"),
        &fixture("modes/mode1.json"),
        ReadOptions::default(),
    )
    .expect("parses");
    let f = &r.findings[0];
    assert!(f.confidence < 0.9, "a journal alone is not certain");
    assert!(f.missing_signals.iter().any(|m| m.contains("schedstat")));
    assert_eq!(render_npd(&r).0, 1);
    // Without a name in the export or on the command line, it asks for one.
    let e = classify_journal(
        None,
        b"{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":\"x\"}\n",
        ReadOptions::default(),
    )
    .expect_err("no name");
    assert!(e.to_string().contains("--node"));
}

#[test]
fn the_runbook_goroutine_dump_in_a_journal_is_a_watch_stall() {
    let text = format!(
        "2026-05-22T02:38:21+0000 k8s03 microk8s.daemon-kubelite[2211]: I0522 02:38:20.000000    2211 controller.go:615] quota admission added evaluator for\n{}",
        String::from_utf8_lossy(&fixture("runbook/goroutine-dump.txt"))
            .lines()
            .map(|l| format!(
                "2026-05-22T02:38:21+0000 k8s03 microk8s.daemon-kubelite[2211]: {l}\n"
            ))
            .collect::<String>()
    );
    let r = classify_journal(None, text.as_bytes(), ReadOptions::default()).expect("parses");
    assert_eq!(
        r.findings.iter().map(|f| f.mode).collect::<Vec<_>>(),
        vec![FailureMode::WatchStall]
    );
}

/// An evidence bundle assembled from real captures: the mode-3 journal from
/// journald, a real orphaned shim (pgrep and ctr after containerd lost its task),
/// the runbook's identical schedstat samples, and the API's view of a pod bound
/// a minute after the kubelet registered.
fn pleg_bundle(dir: &Path) {
    pleg_bundle_with(dir, &[]);
}

/// The same bundle with more kubelite lines, each `secs` after the kubelet
/// registered, written as journald wrote the fixture's own kubelite lines.
fn pleg_bundle_with(dir: &Path, extra: &[(u64, &str)]) {
    let mut journal = fixture("modes/mode3.json");
    let entries = parse::journal::parse_json(&journal).expect("journal");
    let kubelite: Vec<_> = entries
        .iter()
        .filter(|e| e.identifier.as_deref() == Some("microk8s.daemon-kubelite"))
        .collect();
    let pid = kubelite[0].pid.expect("pid").0;
    let started = kubelite[0].at;
    let registered = kubelite.last().expect("lines").at;
    if !extra.is_empty() {
        let text = String::from_utf8_lossy(&journal).into_owned();
        let last = text
            .lines()
            .rfind(|l| l.contains("\"SYSLOG_IDENTIFIER\":\"microk8s.daemon-kubelite\""))
            .expect("a kubelite line");
        let mut more = text.clone();
        for (secs, message) in extra {
            let mut v: serde_json::Value = serde_json::from_str(last).expect("json line");
            let at = registered.add(std::time::Duration::from_secs(*secs));
            v["MESSAGE"] = (*message).into();
            v["__REALTIME_TIMESTAMP"] = at.as_micros().to_string().into();
            if let Some(o) = v.as_object_mut() {
                o.remove("__CURSOR");
            }
            more.push_str(&format!("{v}\n"));
        }
        journal = more.into_bytes();
    }
    let bound = registered.add(std::time::Duration::from_secs(60));
    let t1 = registered.add(std::time::Duration::from_secs(120));
    let t2 = t1.add(std::time::Duration::from_secs(3));
    let w = |f: &str, b: &[u8]| std::fs::write(dir.join(f), b).expect("write");
    std::fs::create_dir_all(dir).expect("dir");
    w(
        "meta.json",
        serde_json::json!({"node": "k8s03", "schedstat_at": [t1.to_string(), t2.to_string()],
            // The fixtures were captured from a containerd under a temporary root.
            "containerd_address": CAPTURED_CONTAINERD})
        .to_string()
        .as_bytes(),
    );
    w("journal-kubelite.json", &journal);
    let c = started.civil();
    w(
        "service-kubelite.txt",
        format!("MainPID={pid}\nNRestarts=0\nExecMainStartTimestamp=Tue {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC\nActiveState=active\n", c.year, c.month, c.day, c.hour, c.minute, c.second).as_bytes(),
    );
    w("schedstat-1.txt", &fixture("runbook/schedstat-1.txt"));
    w("schedstat-2.txt", &fixture("runbook/schedstat-2.txt"));
    w("shims.txt", &fixture("pgrep/shims-orphan.txt"));
    w("tasks.txt", &fixture("ctr/tasks-list-orphan.txt"));
    w(
        "node.json",
        serde_json::json!({"kind": "Node", "metadata": {"name": "k8s03"}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": t1.rfc3339()}]}}).to_string().as_bytes(),
    );
    w(
        "pods.json",
        serde_json::json!({"kind": "List", "items": [{"metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": bound.rfc3339()}, "spec": {"nodeName": "k8s03"}, "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": bound.rfc3339()}]}}]}).to_string().as_bytes(),
    );
    w("events.json", &fixture("kube/events.json"));
    w("kubelet-pods.json", &fixture("kube/kubelet-pods.json"));
}

/// The socket of the containerd the shim and task fixtures were captured from.
const CAPTURED_CONTAINERD: &str =
    "/tmp/kubestall-capture.sF6nmS/var/snap/microk8s/common/run/containerd.sock";

/// Generic PLEG prints `pleg was last seen active ...; threshold is 3m0s` while its
/// relist hangs on orphaned shims (kubelet.go, upstream). That is the PLEG stall,
/// and only that: never a second `containerd-freeze` finding, whose fix (restart
/// containerd) would leave the orphans in place.
#[test]
fn generic_pleg_unhealthy_lines_on_a_pleg_stall_are_no_containerd_freeze() {
    let dir = tempfile::tempdir().expect("temp dir");
    let line = "E0522 02:38:21.000000    2211 kubelet.go:2525] \"Skipping pod synchronization\" err=\"PLEG is not healthy: pleg was last seen active 4m30s ago; threshold is 3m0s\"";
    pleg_bundle_with(dir.path(), &[(100, line), (110, line)]);
    let b = read_bundle(dir.path()).expect("bundle");
    let r = classify_bundle(&b);
    assert_eq!(
        r.findings.iter().map(|f| f.mode).collect::<Vec<_>>(),
        vec![FailureMode::PlegStall],
        "{r:#?}"
    );
}

#[test]
fn a_bundle_of_real_captures_is_a_pleg_stall_with_one_exact_orphan() {
    let dir = std::env::temp_dir().join(format!("kubestall-bundle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pleg_bundle(&dir);
    let b = read_bundle(&dir).expect("bundle");
    let r = classify_bundle(&b);
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    let f = &r.findings[0];
    assert_eq!(f.mode, FailureMode::PlegStall);
    let shims = f
        .evidence
        .iter()
        .find(|e| e.signal == "shims")
        .expect("shim evidence");
    assert!(
        shims.value.starts_with(&format!(
            "3 shims of {CAPTURED_CONTAINERD} in k8s.io, 2 running tasks, 1 orphaned"
        )),
        "{}",
        shims.value
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.signal == "schedstat" && e.value.contains("195398181 57385342 625"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bundle_without_meta_is_refused_with_what_to_add() {
    let dir = std::env::temp_dir().join(format!("kubestall-nometa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let e = read_bundle(&dir).expect_err("no meta");
    assert!(
        e.to_string().contains("meta.json") && e.to_string().contains("\"node\""),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_healthy_looking_journal_alone_cannot_rule_out_the_pod_stalls() {
    // A watch-stalled kubelet logs as a healthy one does: from its journal alone,
    // modes 1-3 cannot be ruled out, and the answer says what would decide.
    let r = classify_journal(
        Some("k8s03"),
        &fixture("modes/evented-start.json"),
        ReadOptions::default(),
    )
    .expect("parses");
    assert!(r.findings.is_empty());
    assert_eq!(r.verdict, Verdict::CannotTell);
    let watch = r
        .undecided
        .iter()
        .find(|u| u.mode == FailureMode::WatchStall)
        .expect("mode 2 is undecided");
    assert!(watch.needs.iter().any(|n| n.contains("pods.json")));
    assert!(watch.needs.iter().any(|n| n.contains("kubelet-pods.json")));
    // The journal rules out what the kubelet would have printed.
    assert!(
        !r.undecided
            .iter()
            .any(|u| u.mode == FailureMode::KineExhaustion)
    );
    let (code, line) = render_npd(&r);
    assert_eq!(code, 2, "node-problem-detector's Unknown");
    assert!(line.starts_with("Unknown on k8s03"), "{line}");
    assert!(render_text(&r).contains("cannot tell"));
}

#[test]
fn a_bundle_with_nothing_but_its_name_cannot_tell_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("meta.json"), r#"{"node": "k8s03"}"#).expect("meta");
    let r = classify_bundle(&read_bundle(dir.path()).expect("reads"));
    assert_eq!(r.verdict, Verdict::CannotTell);
    assert_eq!(r.undecided.len(), 5, "{:?}", r.undecided);
    assert!(r.missing_signals.iter().any(|m| m == "pods.json"));
}

#[test]
fn a_full_bundle_of_a_healthy_node_is_healthy() {
    let dir = tempfile::tempdir().expect("temp dir");
    pleg_bundle(dir.path());
    // The same node once its pod ran: nothing Pending on it.
    let pods = std::fs::read_to_string(dir.path().join("pods.json")).expect("pods");
    std::fs::write(
        dir.path().join("pods.json"),
        pods.replace("\"Pending\"", "\"Running\""),
    )
    .expect("pods");
    let r = classify_bundle(&read_bundle(dir.path()).expect("reads"));
    assert_eq!(r.verdict, Verdict::Healthy, "{r:#?}");
    assert!(render_text(&r).contains("healthy on this evidence"));
}

#[test]
fn the_kubelets_json_log_lines_classify_as_its_text_lines_do() {
    use kubestall_detectors::{LineKind, classify_line};
    let lines = fixture("journal/kubelet-json.txt");
    let kinds: Vec<LineKind> = String::from_utf8_lossy(&lines)
        .lines()
        .map(classify_line)
        .collect();
    assert_eq!(
        kinds,
        [
            LineKind::Startup,
            LineKind::Registered,
            LineKind::ImagefsSignature,
            LineKind::PodWork("default/web-1".into()),
            LineKind::PlegYetToBeSuccessful,
            LineKind::PlegLastSeenActive,
        ]
    );
    // The same lines as journald stored them (`-o json`, MESSAGE holds the JSON).
    let r = classify_journal(
        Some("k8s03"),
        &fixture("journal/kubelet-json.json"),
        ReadOptions::default(),
    )
    .expect("parses");
    assert_eq!(
        r.findings.iter().map(|f| f.mode).collect::<Vec<_>>(),
        [FailureMode::PlegStall],
        "Generic PLEG's `threshold is` line"
    );
}
