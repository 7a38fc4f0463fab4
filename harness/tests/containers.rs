//! `kubestall run --backend container`, end to end: every scenario in
//! `twin/scenarios/` (modes 1, 2 and 3, kine corruption, the EventedPLEG
//! containerd freeze, and the cordoned restart that must stay healthy) on a
//! fresh three-node cluster of node twins, with real faults, detected and
//! recovered within the scenario's limits in wall time; the HTML report shows
//! each run's timeline; afterwards no node container, network or nested shim is
//! left. Needs root and a Docker engine: runs when KUBESTALL_CONTAINER_TESTS=1
//! (`.ci/run` starts dockerd and sets it), otherwise it says it was skipped and
//! why. Prints the figures (`cargo test -p kubestall --test containers --
//! --nocapture`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate sits in the workspace")
        .to_path_buf()
}

#[test]
fn twin_scenarios_are_detected_and_recovered_on_node_twins() {
    if !kubestall_testkit::container_tests(
        "containers::twin_scenarios_are_detected_and_recovered_on_node_twins",
    ) {
        return;
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_kubestall"));
    assert!(
        exe.with_file_name("kubestall-twin").exists(),
        "kubestall-twin must sit next to {}: build the workspace (`cargo test --workspace` does)",
        exe.display()
    );
    let shims_before = kubestall::container_backend::nested_shims();
    let report = std::env::temp_dir().join(format!("kubestall-containers-{}", std::process::id()));
    let out = Command::new(&exe)
        .arg("run")
        .arg(workspace().join("twin/scenarios"))
        .args(["--backend", "container", "--output", "json", "--report"])
        .arg(&report)
        // Its per-scenario progress shows as it happens, not only on failure.
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("kubestall runs");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kubestall run printed no JSON report ({e}); exit {:?}",
            out.status.code()
        )
    });
    let runs = json["runs"].as_array().expect("runs");
    let mut scenarios: Vec<&str> = runs.iter().filter_map(|r| r["scenario"].as_str()).collect();
    scenarios.sort_unstable();
    assert_eq!(
        scenarios,
        [
            "twin-containerd-freeze",
            "twin-cordoned-restart",
            "twin-imagefs-stall",
            "twin-kine-corruption",
            "twin-pleg-stall",
            "twin-watch-stall"
        ]
    );
    kubestall_testkit::progress(&format!(
        "\n{:24} {:16} {:>9} {:>9} {:>8}",
        "scenario (node twins)", "found", "detect s", "recover s", "wall s"
    ));
    for r in runs {
        let found = r["findings"][0]["mode"].as_str().unwrap_or("nothing");
        let secs = |k: &str| r[k].as_f64().map_or("-".into(), |v| format!("{v:.1}"));
        kubestall_testkit::progress(&format!(
            "{:24} {:16} {:>9} {:>9} {:>8}",
            r["scenario"].as_str().unwrap_or_default(),
            found,
            r["findings"][0]["latency_s"]
                .as_f64()
                .map_or("-".into(), |v| format!("{v:.1}")),
            secs("recover_s"),
            secs("duration_s")
        ));
    }
    for r in runs {
        let name = r["scenario"].as_str().unwrap_or_default();
        assert!(
            r["passed"].as_bool() == Some(true),
            "{name} failed: {}",
            r["failures"]
        );
        match r["expected"]["mode"].as_str() {
            Some(mode) => {
                assert_eq!(r["findings"][0]["mode"].as_str(), Some(mode), "{name}");
                assert_eq!(r["findings"][0]["node"].as_str(), Some("k8s03"), "{name}");
                assert!(r["findings"][0]["latency_s"].as_f64().is_some(), "{name}");
                assert!(r["recover_s"].as_f64().is_some(), "{name}");
            }
            None => assert_eq!(r["findings"].as_array().map(Vec::len), Some(0), "{name}"),
        }
        let kinds: Vec<&str> = r["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert!(kinds.contains(&"fault"), "{name}: timeline {kinds:?}");
    }
    assert!(out.status.success(), "kubestall run exited {}", out.status);
    let html = std::fs::read_to_string(report.join("index.html")).expect("the report");
    for name in scenarios {
        assert!(
            html.contains(&format!("timeline of {name}")),
            "{name} timeline in the report"
        );
    }
    let _ = std::fs::remove_dir_all(&report);
    // Nothing left behind: no node container, no network, no nested shim.
    let left = kubestall::container_backend::leftovers("pvek8s", &shims_before);
    assert_eq!(left.0, Vec::<String>::new(), "left behind after the run");
}
