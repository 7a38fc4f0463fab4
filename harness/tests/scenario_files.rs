//! Scenario files: bad ones are rejected with file:line:col and a hint (pinned by
//! snapshots, since people read them), and the committed schema is current.

use std::path::Path;

use kubestall::scenario::{Scenario, schema_json};

fn error_of(text: &str) -> String {
    match Scenario::parse(Path::new("scenarios/bad.yaml"), text) {
        Ok(s) => panic!("accepted an invalid scenario: {s:?}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = "\
name: watch-stall
description: restart without cordon
faults:
  - restart-kubelite: { at: 2m, node: k8s03 }
expect:
  findings:
    - mode: watch-stall
      node: k8s03
";

#[test]
fn a_good_file_parses_with_the_runbook_defaults() {
    let s = Scenario::parse(Path::new("good.yaml"), GOOD).expect("valid");
    assert_eq!(s.cluster.nodes.len(), 3);
    assert_eq!(s.expect.findings[0].detect_within.to_string(), "30s");
    assert_eq!(s.expect.findings[0].recover_within.to_string(), "3m");
    assert!(s.expect.no_other_findings);
}

#[test]
fn typo_in_a_key() {
    insta::assert_snapshot!(error_of(&GOOD.replace("node: k8s03 }", "nod: k8s03 }")));
}

#[test]
fn typo_in_a_nested_key() {
    insta::assert_snapshot!(error_of(&GOOD.replace("description:", "descripton:")));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(error_of(&GOOD.replace("at: 2m", "at: [2m]")));
}

#[test]
fn bad_duration() {
    insta::assert_snapshot!(error_of(&GOOD.replace("at: 2m", "at: 2 minutes")));
}

#[test]
fn unknown_failure_mode() {
    insta::assert_snapshot!(error_of(
        &GOOD.replace("mode: watch-stall", "mode: watch-stal")
    ));
}

#[test]
fn unknown_fault() {
    insta::assert_snapshot!(error_of(
        &GOOD.replace("restart-kubelite:", "restart-kubelet:")
    ));
}

#[test]
fn node_not_in_the_cluster() {
    insta::assert_snapshot!(error_of(&GOOD.replace("node: k8s03 }", "node: k8s04 }")));
}

#[test]
fn invalid_node_name() {
    insta::assert_snapshot!(error_of(&GOOD.replace("node: k8s03 }", "node: K8S03 }")));
}

#[test]
fn not_yaml() {
    insta::assert_snapshot!(error_of("name: [unclosed\n"));
}

#[test]
fn committed_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != schema_json() {
        if std::env::var_os("KUBESTALL_BLESS").is_some() {
            std::fs::write(&path, schema_json()).expect("write schema");
        } else {
            panic!(
                "scenarios/schema.json is stale: run `KUBESTALL_BLESS=1 cargo test -p kubestall --test scenario_files` \
                 or `cargo run -- schema > scenarios/schema.json`"
            );
        }
    }
}
