//! Simulator-backed subcommands: `reproduce`, `bench`, `sweep`, and practising a
//! remediation (`remediate --backend sim --execute`).

use std::io::{BufRead, IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use kubestall_detectors::{DetectorConfig, Finding, NodeMonitor};
use kubestall_node::{Clock, FailureMode, NodeName, Observe, Pleg, PodPhase};
use kubestall_remediation::{AuditLog, Executor, Locks, Plan, ProcedureId, SafetyPolicy};
use kubestall_sim::SimNode;
use serde::Serialize;

use crate::backend::{Backend, timeline};
use crate::block_on::block_on;
use crate::bundled;
use crate::cli::{BackendKind, BenchArgs, OutputFormat, PlegChoice, ReproduceArgs, SweepArgs};
use crate::commands::run_sim_job;
use crate::exit::Failure;
use crate::outcome::RunOutcome;
use crate::plan::{default_jobs, jobs, run_parallel};
use crate::report::percentile;
use crate::runner::RunOptions;
use crate::scenario::{FaultSpec, Scenario};
use crate::shell::{Shell, suggested_commands};
use crate::sim_backend::SimBackend;

/// The bundled scenario that shows `mode` (the first whose first expected finding it is).
fn scenario_for(mode: FailureMode) -> Result<Scenario, Failure> {
    bundled::scenarios()?
        .into_iter()
        .find(|s| s.expect.findings.iter().any(|f| f.mode == mode))
        .ok_or_else(|| Failure::Usage(format!("no bundled scenario shows {mode}")))
}

/// A simulated cluster brought into `mode`, kept there: its backend, nodes and the finding.
pub struct Stalled {
    /// The backend (owns the model).
    pub backend: SimBackend,
    /// The nodes.
    pub nodes: Vec<SimNode>,
    /// What the detectors found.
    pub finding: Finding,
    /// When the cluster came up.
    pub started: kubestall_node::Timestamp,
    /// The scenario used.
    pub scenario: Scenario,
}

/// Runs the scenario for `mode` with detection only, until its finding.
pub fn stall_on_sim(mode: FailureMode, seed: u64) -> Result<Stalled, Failure> {
    let mut scenario = scenario_for(mode)?;
    scenario.remediation.detect_only = true;
    let mut backend = SimBackend::new();
    block_on(async {
        let nodes = backend
            .up(&scenario, seed)
            .await
            .map_err(|e| Failure::Usage(e.to_string()))?;
        let started = nodes[0].now();
        backend
            .start(timeline(&scenario))
            .await
            .map_err(|e| Failure::Usage(e.to_string()))?;
        // Up to the expected finding: earlier expected findings are fixed on the way,
        // as the scenario does (the orphan lock holder only exists after the nuclear option).
        let cfg = DetectorConfig {
            pleg: Some(scenario.pleg()),
            ..DetectorConfig::default()
        };
        let mut monitors: Vec<NodeMonitor> = nodes
            .iter()
            .map(|n| NodeMonitor::new(n.node_name().clone(), cfg.clone()))
            .collect();
        let end = started.add(scenario.duration.0);
        while nodes[0].now() < end {
            for (i, n) in nodes.iter().enumerate() {
                for f in monitors[i]
                    .poll(n)
                    .await
                    .map_err(|e| Failure::Usage(e.to_string()))?
                {
                    if f.mode == mode {
                        return Ok(Stalled {
                            backend,
                            nodes: nodes.clone(),
                            finding: f,
                            started,
                            scenario,
                        });
                    }
                    let plan = kubestall_remediation::plan_for(
                        ProcedureId::Fix(f.mode),
                        &kubestall_remediation::PlanContext::new(f.node.clone()),
                    );
                    let exec = Executor::new(
                        SafetyPolicy {
                            allow_nuclear: true,
                            ..SafetyPolicy::default()
                        },
                        Locks::memory(),
                        "sim",
                    );
                    if let Err(e) = exec.execute(n, &plan, &mut AuditLog::memory()).await {
                        eprintln!(
                            "reproduce: preparing {mode}: {} on {}: {e}",
                            plan.procedure, plan.node
                        );
                    }
                }
            }
            nodes[0].sleep(Duration::from_secs(1)).await;
        }
        Err(Failure::Usage(format!(
            "the simulator did not reach {mode} with seed {seed}; try another --seed"
        )))
    })
}

/// `kubestall reproduce MODE`.
pub fn reproduce(args: ReproduceArgs) -> Result<(), Failure> {
    let mode = crate::cmd_node::parse_mode(&args.mode)?;
    match args.backend {
        BackendKind::Sim => {}
        BackendKind::Container => return crate::container::reproduce(mode, &args),
        other => {
            return Err(Failure::Usage(format!(
                "reproduce runs on --backend sim (or container); {} is not implemented yet",
                other.name()
            )));
        }
    }
    if args.keep {
        return Err(Failure::Usage("--keep leaves a cluster running, which a simulation cannot outlive; use --backend container --keep".into()));
    }
    let s = stall_on_sim(mode, args.seed)?;
    let idx = s
        .nodes
        .iter()
        .position(|n| n.node_name() == &s.finding.node)
        .unwrap_or(0);
    let mut shell = Shell::new(&s.nodes, idx, s.started);
    let now = s.nodes[idx].now();
    eprintln!(
        "{} reproduced on {} (simulated, scenario {}, seed {}), found {:.0} s into the run.\nThe cluster is frozen in that state; `sleep N` lets time pass. Try:",
        mode.title(),
        s.finding.node,
        s.scenario.name,
        args.seed,
        now.secs_since(s.started)
    );
    for c in suggested_commands(mode, &s.finding.node) {
        eprintln!("  {c}");
    }
    if !args.exec.is_empty() {
        for line in &args.exec {
            println!("$ {line}");
            match block_on(shell.run(line)) {
                Ok(out) => print!("{out}"),
                Err(e) => println!("{e}"),
            }
        }
        return Ok(());
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    eprintln!("Type `exit` to leave.");
    loop {
        if interactive {
            eprint!(
                "{}$ ",
                shell
                    .node()
                    .map(|n| n.node_name().to_string())
                    .unwrap_or_default()
            );
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        if stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Usage(e.to_string()))?
            == 0
        {
            break;
        }
        let line = line.trim();
        if line == "exit" || line == "quit" {
            break;
        }
        match block_on(shell.run(line)) {
            Ok(out) => print!("{out}"),
            Err(e) => println!("{e}"),
        }
    }
    Ok(())
}

/// `kubestall remediate --backend sim --execute`: practise a procedure on a simulated stall.
pub fn remediate_on_sim(
    node: &NodeName,
    procedure: ProcedureId,
    plan: &Plan,
    policy: SafetyPolicy,
    output: OutputFormat,
) -> Result<(), Failure> {
    let mode = match procedure {
        ProcedureId::Fix(m) => m,
        ProcedureId::Nuclear => FailureMode::PlegStall,
    };
    let s = stall_on_sim(mode, 1)?;
    if &s.finding.node != node {
        return Err(Failure::Usage(format!(
            "the simulated {mode} is on {}; run with --node {}",
            s.finding.node, s.finding.node
        )));
    }
    let n = s
        .nodes
        .iter()
        .find(|n| n.node_name() == node)
        .ok_or_else(|| Failure::Usage(format!("no simulated node {node}")))?;
    eprintln!("{mode} reproduced on simulated {node}; carrying out {procedure}:");
    let exec = Executor::new(policy, Locks::memory(), "sim");
    let outcome = block_on(exec.execute(n, plan, &mut AuditLog::memory()))
        .map_err(|e| Failure::Expectation(e.to_string()))?;
    crate::cmd_node::print_outcome(&outcome, output)?;
    let pending = block_on(n.pods())
        .map(|p| p.iter().filter(|p| p.phase == PodPhase::Pending).count())
        .unwrap_or(0);
    eprintln!("afterwards: {pending} pod(s) Pending on {node}");
    Ok(())
}

/// Latency statistics of one mode under one PLEG.
#[derive(Clone, Debug, Serialize)]
pub struct ModeStats {
    /// The failure mode.
    pub mode: FailureMode,
    /// `generic` or `evented`.
    pub pleg: Pleg,
    /// Findings measured.
    pub n: usize,
    /// Detection latency from the first stuck pod (or the fault), seconds.
    pub detect_p50_s: Option<f64>,
    /// p95.
    pub detect_p95_s: Option<f64>,
    /// p99.
    pub detect_p99_s: Option<f64>,
    /// Max.
    pub detect_max_s: Option<f64>,
    /// Recovery, from the finding to every stuck pod Running: p50.
    pub recover_p50_s: Option<f64>,
    /// p95.
    pub recover_p95_s: Option<f64>,
    /// Max.
    pub recover_max_s: Option<f64>,
    /// The runbook's manual rule on the same runs: median latency.
    pub runbook_rule_p50_s: Option<f64>,
    /// How many times faster than the runbook's rule (median of ratios).
    pub vs_runbook_rule: Option<f64>,
    /// The kubelet's 3-minute PLEG threshold on the same runs: median latency.
    pub kubelet_rule_p50_s: Option<f64>,
    /// How many times faster than the kubelet's own threshold.
    pub vs_kubelet_rule: Option<f64>,
}

/// `kubestall bench`'s result.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Seeds per scenario and PLEG.
    pub seeds: u64,
    /// Runs made.
    pub runs: usize,
    /// Runs that failed an expectation.
    pub failed_runs: usize,
    /// Findings on healthy scenarios (must be 0).
    pub false_findings: usize,
    /// Per mode and PLEG.
    pub modes: Vec<ModeStats>,
    /// Wall time of all runs.
    pub wall_s: f64,
    /// `--detectors`: the detectors themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detectors: Option<DetectorBench>,
}

/// `kubestall bench --detectors`.
#[derive(Clone, Debug, Serialize)]
pub struct DetectorBench {
    /// CPU cost of one poll of a 100-pod simulated node, microseconds (mean of many).
    pub poll_100_pods_us: f64,
    /// Journal file scanned, MiB.
    pub journal_mib: u64,
    /// kubestall's scan, seconds.
    pub scan_s: f64,
    /// GNU grep with the runbook's pattern, seconds.
    pub grep_s: Option<f64>,
    /// grep time / kubestall time (above 1: kubestall is faster).
    pub speedup_vs_grep: Option<f64>,
    /// Both counted the same lines.
    pub same_count: Option<bool>,
}

/// `kubestall bench`.
pub fn bench(args: BenchArgs) -> Result<(), Failure> {
    let scenarios = bundled::scenarios()?;
    let seeds: Vec<u64> = (1..=args.seeds.max(1)).collect();
    let work = jobs(&scenarios, &seeds, PlegChoice::Both, None);
    let start = Instant::now();
    let opts = RunOptions::default();
    let runs = run_parallel(&work, args.jobs.unwrap_or_else(default_jobs), |j| {
        run_sim_job(j, None, &opts)
    });
    let wall = start.elapsed().as_secs_f64();
    let mut report = summarize(&runs, args.seeds, wall);
    if args.detectors {
        report.detectors = Some(detector_bench(args.journal_mib)?);
    }
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Usage(e.to_string()))?
        ),
        _ => print!("{}", render_bench(&report)),
    }
    if report.failed_runs > 0 || report.false_findings > 0 {
        return Err(Failure::Expectation(format!(
            "{} run(s) failed, {} false finding(s)",
            report.failed_runs, report.false_findings
        )));
    }
    Ok(())
}

fn summarize(runs: &[RunOutcome], seeds: u64, wall: f64) -> BenchReport {
    let false_findings = runs
        .iter()
        .filter(|r| r.expected.is_none())
        .map(|r| r.findings.len())
        .sum();
    let mut modes = Vec::new();
    for mode in FailureMode::ALL {
        for pleg in [Pleg::Generic, Pleg::Evented] {
            let found: Vec<(&RunOutcome, &crate::outcome::FindingRecord)> = runs
                .iter()
                .filter(|r| r.pleg == pleg)
                .flat_map(|r| {
                    r.findings
                        .iter()
                        .filter(|f| f.mode == mode)
                        .map(move |f| (r, f))
                })
                .collect();
            if found.is_empty() {
                continue;
            }
            let lat: Vec<f64> = found.iter().filter_map(|(_, f)| f.latency_s).collect();
            let rec: Vec<f64> = runs
                .iter()
                .filter(|r| r.pleg == pleg && r.expected.as_ref().is_some_and(|e| e.mode == mode))
                .filter_map(|r| r.recover_s)
                .collect();
            let rb: Vec<f64> = found.iter().filter_map(|(_, f)| f.runbook_rule_s).collect();
            let kb: Vec<f64> = found.iter().filter_map(|(_, f)| f.kubelet_rule_s).collect();
            let ratio = |base: fn(&crate::outcome::FindingRecord) -> Option<f64>| {
                let r: Vec<f64> = found
                    .iter()
                    .filter_map(|(_, f)| Some(base(f)? / f.latency_s?.max(0.5)))
                    .collect();
                percentile(&r, 50.0)
            };
            modes.push(ModeStats {
                mode,
                pleg,
                n: lat.len(),
                detect_p50_s: percentile(&lat, 50.0),
                detect_p95_s: percentile(&lat, 95.0),
                detect_p99_s: percentile(&lat, 99.0),
                detect_max_s: percentile(&lat, 100.0),
                recover_p50_s: percentile(&rec, 50.0),
                recover_p95_s: percentile(&rec, 95.0),
                recover_max_s: percentile(&rec, 100.0),
                runbook_rule_p50_s: percentile(&rb, 50.0),
                vs_runbook_rule: ratio(|f| f.runbook_rule_s),
                kubelet_rule_p50_s: percentile(&kb, 50.0),
                vs_kubelet_rule: ratio(|f| f.kubelet_rule_s),
            });
        }
    }
    BenchReport {
        seeds,
        runs: runs.len(),
        failed_runs: runs.iter().filter(|r| !r.passed).count(),
        false_findings,
        modes,
        wall_s: wall,
        detectors: None,
    }
}

fn s(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

fn x(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0}x")).unwrap_or_else(|| "-".into())
}

/// The bench table.
pub fn render_bench(r: &BenchReport) -> String {
    let mut out = format!(
        "kubestall bench: {} runs ({} seeds x bundled scenarios x Generic and Evented PLEG) in {:.1} s; {} failed; {} false finding(s) on healthy scenarios\n\n",
        r.runs, r.seeds, r.wall_s, r.failed_runs, r.false_findings
    );
    out.push_str(&format!(
        "{:18} {:8} {:>5}  {:>7} {:>7} {:>7} {:>7}  {:>8} {:>8} {:>8}  {:>9} {:>6}  {:>9} {:>6}\n",
        "mode",
        "pleg",
        "n",
        "det p50",
        "p95",
        "p99",
        "max",
        "rec p50",
        "p95",
        "max",
        "runbook",
        "vs",
        "kubelet",
        "vs"
    ));
    for m in &r.modes {
        out.push_str(&format!(
            "{:18} {:8} {:>5}  {:>7} {:>7} {:>7} {:>7}  {:>8} {:>8} {:>8}  {:>9} {:>6}  {:>9} {:>6}\n",
            m.mode.id(),
            m.pleg.id(),
            m.n,
            s(m.detect_p50_s),
            s(m.detect_p95_s),
            s(m.detect_p99_s),
            s(m.detect_max_s),
            s(m.recover_p50_s),
            s(m.recover_p95_s),
            s(m.recover_max_s),
            s(m.runbook_rule_p50_s),
            x(m.vs_runbook_rule),
            s(m.kubelet_rule_p50_s),
            x(m.vs_kubelet_rule),
        ));
    }
    out.push_str("\nTimes in seconds of simulated time. det: detection latency from the first stuck pod (from the fault where no pod is stuck); rec: from the finding to every stuck pod Running; runbook: when the runbook's manual rule (5 min silence, mode 1; 10 min, mode 3; pods Pending 5 min, mode 2; `attempt:50+`, kine) would fire; kubelet: its 3-minute PLEG threshold; vs: how many times sooner kubestall finds it.\n");
    if let Some(d) = &r.detectors {
        out.push_str(&format!(
            "\ndetectors: one poll of a 100-pod node costs {:.1} us of CPU; scanning a {} MiB journal for the runbook's pattern: kubestall {:.2} s, GNU grep {} ({}, same count: {})\n",
            d.poll_100_pods_us,
            d.journal_mib,
            d.scan_s,
            d.grep_s.map(|g| format!("{g:.2} s")).unwrap_or_else(|| "not available".into()),
            d.speedup_vs_grep.map(|r| format!("{r:.1}x as fast")).unwrap_or_else(|| "-".into()),
            d.same_count.map(|b| b.to_string()).unwrap_or_else(|| "-".into())
        ));
    }
    out
}

/// The detectors' own costs: a poll of a 100-pod node, and journal scanning against grep.
pub fn detector_bench(journal_mib: u64) -> Result<DetectorBench, Failure> {
    use kubestall_sim::{Sim, SimConfig, SimNodeConfig};
    let name = NodeName::new("k8s03").map_err(|e| Failure::Usage(e.to_string()))?;
    let sim = Sim::new(SimConfig::new(
        1,
        vec![SimNodeConfig {
            initial_pods: 100,
            ..SimNodeConfig::new(name.clone())
        }],
    ))
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let node = sim
        .node(&name)
        .ok_or_else(|| Failure::Usage("no node".into()))?;
    let mut monitor = NodeMonitor::new(name, DetectorConfig::default());
    let polls = 2000;
    let start = Instant::now();
    for _ in 0..polls {
        let _ = block_on(monitor.poll(&node));
        sim.run_for(Duration::from_secs(1));
    }
    let poll_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(polls);
    let path = std::env::temp_dir().join(format!(
        "kubestall-bench-journal-{}.log",
        std::process::id()
    ));
    eprintln!(
        "writing a {journal_mib} MiB journal to {} ...",
        path.display()
    );
    kubestall_detectors::scan::write_sample_journal(&path, journal_mib << 20)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    // Warm the page cache so both read from memory.
    let _ = kubestall_detectors::scan::time_scan(&path);
    let ours =
        kubestall_detectors::scan::time_scan(&path).map_err(|e| Failure::Usage(e.to_string()))?;
    let grep = kubestall_detectors::scan::time_grep(&path).ok();
    let _ = std::fs::remove_file(&path);
    Ok(DetectorBench {
        poll_100_pods_us: poll_us,
        journal_mib,
        scan_s: ours.took.as_secs_f64(),
        grep_s: grep.map(|g| g.took.as_secs_f64()),
        speedup_vs_grep: grep.map(|g| g.took.as_secs_f64() / ours.took.as_secs_f64().max(1e-9)),
        same_count: grep.map(|g| g.lines == ours.lines),
    })
}

/// One point of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    /// When the restart happened, seconds from the start.
    pub restart_at_s: f64,
    /// Seconds since the last pod was created for the node.
    pub since_last_pod_s: f64,
    /// Pods bound to the node and never processed.
    pub stranded_pods: usize,
    /// What the detectors found.
    pub found: Vec<FailureMode>,
}

/// `kubestall sweep FILE`.
pub fn sweep(args: SweepArgs) -> Result<(), Failure> {
    let s = Scenario::load(&args.scenario)?;
    let (i, sw, node) = s
        .faults
        .iter()
        .enumerate()
        .find_map(|(i, f)| match f {
            FaultSpec::RestartKubelite { sweep: Some(sw), node, .. } => Some((i, *sw, node.clone())),
            _ => None,
        })
        .ok_or_else(|| Failure::Usage(format!("{}: no sweepable timing; add `sweep: {{ from: 1m50s, to: 2m10s, step: 500ms }}` to a restart-kubelite fault", args.scenario.display())))?;
    let mut points = Vec::new();
    let mut t = sw.from.0;
    while t <= sw.to.0 {
        let mut variant = s.clone();
        variant.faults[i] = s.faults[i].at_time(crate::duration::Dur(t));
        variant.remediation.detect_only = true;
        let outcome = run_sim_job(
            &crate::plan::Job {
                index: 0,
                scenario: variant.clone(),
                seed: args.seed,
            },
            Some(&args.scenario),
            &RunOptions::default(),
        );
        let stranded = stranded(&variant, args.seed, t, &node);
        let since_last = variant
            .workload
            .iter()
            .filter(|w| w.node == node && w.from.0 <= t)
            .map(|w| {
                let k = (t - w.from.0).as_secs_f64() / w.every.0.as_secs_f64();
                (t - w.from.0).as_secs_f64() - k.floor() * w.every.0.as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        points.push(SweepPoint {
            restart_at_s: t.as_secs_f64(),
            since_last_pod_s: since_last,
            stranded_pods: stranded,
            found: outcome.findings.iter().map(|f| f.mode).collect(),
        });
        t += sw.step.0;
    }
    if args.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&points).map_err(|e| Failure::Usage(e.to_string()))?
        );
        return Ok(());
    }
    println!(
        "{}: kubelite restart on {node} without cordon, swept from {} to {} by {} (seed {})\n",
        s.name, sw.from, sw.to, sw.step, args.seed
    );
    println!(
        "{:>10}  {:>15}  {:>8}  found",
        "restart", "after last pod", "stranded"
    );
    for p in &points {
        println!(
            "{:>9.1}s  {:>14.1}s  {:>8}  {}  {}",
            p.restart_at_s,
            p.since_last_pod_s,
            p.stranded_pods,
            "#".repeat(p.stranded_pods.min(40)),
            if p.found.is_empty() {
                "nothing".to_string()
            } else {
                p.found
                    .iter()
                    .map(|m| m.id())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    println!(
        "\nA pod bound between the apiserver coming up and the kubelet's initial LIST is stranded, and so is every pod after it: the watch stays open and empty."
    );
    Ok(())
}

/// Pods bound to `node` and still Pending two minutes after a restart at `at`, in the model itself.
fn stranded(s: &Scenario, seed: u64, at: Duration, node: &NodeName) -> usize {
    let mut b = SimBackend::new();
    block_on(async {
        let Ok(nodes) = b.up(s, seed).await else {
            return 0;
        };
        let t0 = nodes[0].now();
        if b.start(timeline(s)).await.is_err() {
            return 0;
        }
        nodes[0].sleep(at + Duration::from_secs(120)).await;
        let now = nodes[0].now();
        b.all_pods()
            .await
            .map(|p| {
                p.iter()
                    .filter(|p| p.node.as_ref() == Some(node) && p.phase == PodPhase::Pending)
                    .filter(|p| {
                        p.scheduled_at.is_some_and(|b| {
                            b >= t0.add(at) && now.since(b) > Duration::from_secs(20)
                        })
                    })
                    .count()
            })
            .unwrap_or(0)
    })
}
