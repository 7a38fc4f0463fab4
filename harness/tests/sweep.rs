//! Every bundled scenario, 200 seeds each, under Generic and Evented PLEG, end
//! to end on the simulator: the right mode on the right node every time, nothing
//! on healthy churn, every expectation met. Prints the confusion matrix and the
//! false-finding count (`cargo test --test sweep -- --nocapture`).

use std::collections::BTreeMap;

use kubestall::cli::PlegChoice;
use kubestall::commands::run_sim_job;
use kubestall::plan::{jobs, run_parallel};
use kubestall::runner::{RunOptions, Sabotage};

const SEEDS: u64 = 200;

#[test]
fn every_mode_is_found_on_every_seed_and_nothing_on_healthy_churn() {
    let scenarios = kubestall::bundled::scenarios().expect("bundled scenarios");
    let seeds: Vec<u64> = (1..=SEEDS).collect();
    let work = jobs(&scenarios, &seeds, PlegChoice::Both, None);
    let runs = run_parallel(&work, 2, |j| run_sim_job(j, None, &RunOptions::default()));
    // expected (first mode, or healthy) x found (first mode, or nothing)
    let mut matrix: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut false_findings = 0;
    for (job, r) in work.iter().zip(&runs) {
        let expected = job
            .scenario
            .expect
            .findings
            .first()
            .map(|f| f.mode.id().to_string())
            .unwrap_or_else(|| "healthy".into());
        let found = r
            .findings
            .first()
            .map(|f| f.mode.id().to_string())
            .unwrap_or_else(|| "nothing".into());
        if job.scenario.expect.findings.is_empty() {
            false_findings += r.findings.len();
        }
        *matrix
            .entry((format!("{expected} ({})", r.pleg), found))
            .or_default() += 1;
    }
    println!(
        "\nconfusion matrix: {} runs ({SEEDS} seeds x scenarios x Generic/Evented PLEG)",
        runs.len()
    );
    for ((expected, found), n) in &matrix {
        println!("  expected {expected:32} found {found:20} {n:5}");
    }
    println!("false findings on healthy scenarios: {false_findings}");
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            format!(
                "{} seed {} {}: {}",
                r.scenario,
                r.seed,
                r.pleg,
                r.failures.join("; ")
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} runs failed:\n{}",
        failed.len(),
        failed
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(false_findings, 0);
    for (expected, found) in matrix.keys() {
        let exp = expected.split(' ').next().unwrap_or_default();
        assert!(
            exp == found || (exp == "healthy" && found == "nothing"),
            "{expected} was classified as {found}"
        );
    }
}

#[test]
fn the_same_results_whatever_the_threads_and_shards() {
    let scenarios = kubestall::bundled::scenarios().expect("bundled scenarios");
    let seeds: Vec<u64> = (1..=4).collect();
    let all = jobs(&scenarios, &seeds, PlegChoice::Both, None);
    let run = |work: &[kubestall::plan::Job], threads| {
        run_parallel(work, threads, |j| {
            serde_json::to_string(&run_sim_job(j, None, &RunOptions::default())).unwrap_or_default()
        })
    };
    let one = run(&all, 1);
    assert_eq!(one, run(&all, 2), "--jobs 1 and --jobs 2 agree");
    let mut sharded: Vec<(usize, String)> = Vec::new();
    for i in 1..=3 {
        let part = jobs(
            &scenarios,
            &seeds,
            PlegChoice::Both,
            Some(kubestall::plan::Shard { index: i, total: 3 }),
        );
        sharded.extend(part.iter().map(|j| j.index).zip(run(&part, 2)));
    }
    sharded.sort_by_key(|(i, _)| *i);
    assert_eq!(
        one,
        sharded.into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        "three shards agree with one run"
    );
}

#[test]
fn a_broken_detector_or_remediation_fails_runs_and_says_how_to_replay() {
    let scenarios = kubestall::bundled::scenarios().expect("bundled scenarios");
    let work = jobs(&scenarios, &[7], PlegChoice::Scenario, None);
    for sabotage in [Sabotage::BlindDetectors, Sabotage::NoRemediation] {
        let opts = RunOptions {
            sabotage,
            ..RunOptions::default()
        };
        let runs = run_parallel(&work, 2, |j| run_sim_job(j, None, &opts));
        let failed: Vec<_> = runs.iter().filter(|r| !r.passed).collect();
        let expecting = work
            .iter()
            .filter(|j| !j.scenario.expect.findings.is_empty())
            .count();
        assert_eq!(
            failed.len(),
            expecting,
            "{sabotage:?}: every scenario that expects a finding fails"
        );
        for r in failed {
            assert!(
                r.replay.contains("--seed 7") && r.replay.contains(&r.scenario),
                "{}",
                r.replay
            );
            assert!(!r.failures.is_empty());
        }
    }
}
