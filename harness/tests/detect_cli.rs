//! `kubestall detect` and `capture` as a user runs them: every verdict has its own
//! exit code, and "healthy" is never said on evidence that could not show a stall.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kubestall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubestall"))
        .args(args)
        .output()
        .expect("kubestall runs")
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node/tests/fixtures")
        .join(path)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn an_empty_bundle_cannot_tell_with_its_own_exit_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("meta.json"), r#"{"node":"k8s03"}"#).expect("meta");
    let d = dir.path().to_str().expect("utf-8 path");
    let o = kubestall(&["detect", "--bundle", d]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("k8s03: cannot tell"), "{out}");
    assert!(out.contains("needs: the pods bound to the node"), "{out}");
    let o = kubestall(&["detect", "--bundle", d, "--output", "json"]);
    assert_eq!(o.status.code(), Some(4));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["verdict"], "cannot-tell");
    assert_eq!(json["undecided"].as_array().map(Vec::len), Some(5));
}

#[test]
fn a_journal_alone_of_a_healthy_looking_kubelet_is_cannot_tell_and_npd_unknown() {
    let j = fixture("modes/evented-start.json");
    let j = j.to_str().expect("utf-8 path");
    let o = kubestall(&["detect", "--journal", j, "--node", "k8s03"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("watch-stall"));
    let o = kubestall(&[
        "detect",
        "--journal",
        j,
        "--node",
        "k8s03",
        "--output",
        "npd",
    ]);
    assert_eq!(o.status.code(), Some(2), "npd's Unknown: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Unknown on k8s03"));
    // A stall the journal does show is found (exit 1), whatever else is undecided.
    let o = kubestall(&[
        "detect",
        "--journal",
        fixture("modes/mode1.json").to_str().expect("utf-8"),
        "--node",
        "k8s03",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn journals_in_every_format_people_have_are_read() {
    for (file, extra) in [
        ("journal/kubelite.json", &[][..]),
        ("journal/kubelite-short-iso.txt", &[]),
        ("journal/kubelite-short.txt", &["--year", "2026"]),
        ("journal/kubelite-short.txt", &[]),
        ("journal/kubelet-json.txt", &["--node", "k8s03"]),
    ] {
        let f = fixture(file);
        let mut args = vec!["detect", "--journal", f.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        let o = kubestall(&args);
        assert!(
            matches!(o.status.code(), Some(1 | 4)),
            "{file} {extra:?}: {}",
            text(&o)
        );
    }
}

#[test]
fn empty_and_binary_journals_are_refused_saying_what_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").expect("write");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_kubestall"));
    for f in [&empty, &binary] {
        let o = kubestall(&["detect", "--journal", f.to_str().expect("utf-8")]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("-o short-iso") && err.contains("-o json"),
            "{err}"
        );
        assert!(err.len() < 1_000, "a message, not the file: {err}");
    }
}

#[test]
fn capture_on_a_machine_that_is_not_a_node_fails_and_its_bundle_cannot_tell() {
    if Path::new("/var/snap/microk8s").exists() {
        kubestall_testkit::skip(
            "detect_cli::capture_on_a_machine_that_is_not_a_node_fails_and_its_bundle_cannot_tell",
            "this machine is a microk8s node: capture would find something",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("evidence-k8s03");
    let out = out.to_str().expect("utf-8");
    let o = kubestall(&[
        "capture",
        "--node",
        "k8s03",
        "--out",
        out,
        "--sample-secs",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("captured nothing"));
    let o = kubestall(&["detect", "--bundle", out]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
}
