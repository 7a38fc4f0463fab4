//! Reports are read by machines and browsers: the JUnit XML is checked against
//! the schema CI servers read (`ci/junit.xsd`, with xmllint) and the HTML report
//! is loaded in a real headless Chromium, which must find the timelines.

use std::path::{Path, PathBuf};
use std::process::Command;

use kubestall::outcome::{Expected, FindingRecord, Moment, RunOutcome, TimelineEntry, Verdict};
use kubestall::report::{render_junit, write_html};
use kubestall_node::{FailureMode, NodeName, Pleg};

fn node(n: &str) -> NodeName {
    NodeName::new(n).expect("valid node name")
}

fn outcome(seed: u64, verdict: Verdict) -> RunOutcome {
    let passed = verdict == Verdict::Passed;
    RunOutcome {
        scenario: "watch-stall-restart-without-cordon".into(),
        seed,
        backend: "sim",
        pleg: Pleg::Generic,
        passed,
        verdict,
        expected: Some(Expected {
            mode: FailureMode::WatchStall,
            node: node("k8s03"),
        }),
        findings: vec![FindingRecord {
            mode: FailureMode::WatchStall,
            node: node("k8s03"),
            at_s: 131.0,
            confidence: 0.95,
            evidence: vec![
                serde_json::json!({"signal": "stuck-pods", "value": "3 <bound & pending> \"quoted\""}),
            ],
            latency_s: Some(6.0),
            runbook_rule_s: Some(300.0),
            kubelet_rule_s: None,
            from_stuck_pod: true,
        }],
        detect_latency_s: Some(6.0),
        recover_s: Some(48.5),
        failures: if passed {
            vec![]
        } else {
            vec!["detected after 45.0 s, limit 30 s: <late> & \"slow\"".into()]
        },
        timeline: vec![
            TimelineEntry {
                at_s: 120.0,
                kind: Moment::Fault,
                node: Some(node("k8s03")),
                what: "restart-kubelite (no cordon)".into(),
            },
            TimelineEntry {
                at_s: 125.0,
                kind: Moment::FirstStuckPod,
                node: Some(node("k8s03")),
                what: "default/web-k8s03-47".into(),
            },
            TimelineEntry {
                at_s: 131.0,
                kind: Moment::Finding,
                node: Some(node("k8s03")),
                what: "watch-stall".into(),
            },
            TimelineEntry {
                at_s: 179.5,
                kind: Moment::Recovered,
                node: Some(node("k8s03")),
                what: "all pods Running".into(),
            },
        ],
        duration_s: 420.0,
        pods: 166,
        pods_delayed: 4,
        stall_s: Some(54.5),
        replay: format!(
            "kubestall run scenarios/watch-stall-restart-without-cordon.yaml --seed {seed}"
        ),
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kubestall-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn junit_validates_against_the_ci_schema() {
    let runs = vec![
        outcome(1, Verdict::Passed),
        outcome(2, Verdict::Failed),
        outcome(3, Verdict::FaultNotConfirmed),
    ];
    let dir = tmp("junit");
    let file = dir.join("junit.xml");
    std::fs::write(&file, render_junit(&runs)).expect("write junit");
    let out = Command::new(repo().join("ci/validate-junit.sh"))
        .arg(&file)
        .output()
        .expect("ci/validate-junit.sh runs (it needs xmllint: apt-get install libxml2-utils, as .ci/run does)");
    assert!(
        out.status.success(),
        "JUnit XML rejected:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&file).unwrap_or_default()
    );
    let xml = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        xml.contains("tests=\"3\" failures=\"1\" errors=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("--seed 2"),
        "a failure carries its replay command: {xml}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn html_report_shows_timelines_in_a_real_browser() {
    let runs = vec![outcome(1, Verdict::Passed), outcome(2, Verdict::Failed)];
    let dir = tmp("html");
    let index = write_html(&dir, &runs).expect("write report");
    let profile = dir.join("chromium-profile");
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("Chromium is needed for this test: apt-get install chromium (as .ci/run does)");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", index.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The DOM as the browser built it: SVG timelines parsed as elements, with their moments.
    assert_eq!(dom.matches("<svg class=\"timeline\"").count(), 2, "{dom}");
    assert!(dom.contains("class=\"moment finding\""), "{dom}");
    assert!(
        dom.contains("2 runs: <span class=\"pass\">1 passed</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("&lt;late&gt; &amp; \"slow\""),
        "failure text is escaped, not markup: {dom}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
