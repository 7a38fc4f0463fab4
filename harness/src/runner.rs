//! The runner: one scenario, one seed, end to end on any backend.
//!
//! Bring the cluster up, hand the backend the timeline (workload and faults),
//! then poll every node with the detectors on the backend's clock; the first
//! finding on a node triggers its remediation (unless the scenario only
//! detects). Afterwards every expectation is checked against what happened and
//! against the backend's ground truth (every pod's binding and start times).

use std::collections::BTreeMap;
use std::time::Duration;

use kubestall_detectors::{DetectorConfig, Finding, NodeMonitor, baseline};
use kubestall_node::{
    Clock, Control, FailureMode, NodeError, NodeName, Observe, PodView, Timestamp, Unit,
    orphaned_shims,
};
use kubestall_remediation::{
    AuditLog, Executor, Locks, PlanContext, ProcedureId, SafetyPolicy, plan_for,
};

use crate::backend::{Backend, Event, timeline};
use crate::outcome::{Expected, FindingRecord, Moment, RunOutcome, TimelineEntry, Verdict};
use crate::scenario::{FaultSpec, Scenario};

/// How a run is carried out.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Time between detector polls, on the backend's clock.
    pub poll: Duration,
    /// After the last event, finding or remediation, keep watching this long for
    /// anything else (a late false finding must not escape).
    pub quiet: Duration,
    /// Remediations allowed per node before the runner gives up on it.
    pub max_remediations: usize,
    /// The command that replays this run, without `--seed` (added per run).
    pub replay: String,
    /// Break the detectors on purpose (for testing that a broken detector fails runs).
    pub sabotage: Sabotage,
    /// End the run as soon as every expected finding is in and every scheduled
    /// event has happened (`reproduce`: the stall is there, stop watching it).
    pub stop_when_found: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            poll: Duration::from_secs(1),
            quiet: Duration::from_secs(150),
            max_remediations: 4,
            replay: "kubestall run".into(),
            sabotage: Sabotage::None,
            stop_when_found: false,
        }
    }
}

/// A deliberate defect, so tests can prove a broken part makes runs fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sabotage {
    /// Everything works.
    #[default]
    None,
    /// Findings are dropped: the detectors see nothing.
    BlindDetectors,
    /// Remediation runs nothing.
    NoRemediation,
}

struct Remediation {
    node: NodeName,
    started: Timestamp,
    ended: Timestamp,
}

struct FaultState {
    spec: FaultSpec,
    at: Timestamp,
    /// When it acts on the node (a restart storm acts once per restart).
    acts: Vec<Timestamp>,
    confirmed: Option<Timestamp>,
}

/// Runs `scenario` with `seed` on `backend`, always tearing the cluster down.
pub async fn run<B: Backend>(
    backend: &mut B,
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
) -> RunOutcome {
    let mut out = RunOutcome {
        scenario: scenario.name.clone(),
        seed,
        backend: backend.name(),
        pleg: scenario.pleg(),
        passed: false,
        verdict: Verdict::Error,
        expected: scenario.expect.findings.first().map(|e| Expected {
            mode: e.mode,
            node: e.node.clone(),
        }),
        findings: Vec::new(),
        detect_latency_s: None,
        recover_s: None,
        failures: Vec::new(),
        timeline: Vec::new(),
        duration_s: 0.0,
        pods: 0,
        pods_delayed: 0,
        stall_s: None,
        replay: format!("{} --seed {seed}", opts.replay),
    };
    match backend.up(scenario, seed).await {
        Ok(nodes) => drive(backend, &nodes, scenario, opts, &mut out).await,
        Err(e) => out
            .failures
            .push(format!("backend could not start the cluster: {e}")),
    }
    match backend.down().await {
        Ok(left) if !left.0.is_empty() => {
            out.failures
                .push(format!("cleanup leaked: {}", left.0.join(", ")));
            out.verdict = Verdict::Error;
        }
        Ok(_) => {}
        Err(e) => {
            out.failures.push(format!("teardown: {e}"));
            out.verdict = Verdict::Error;
        }
    }
    out.passed = out.verdict == Verdict::Passed && out.failures.is_empty();
    out
}

async fn drive<B: Backend>(
    backend: &mut B,
    nodes: &[B::Node],
    s: &Scenario,
    opts: &RunOptions,
    out: &mut RunOutcome,
) {
    let Some(clock) = nodes.first().cloned() else {
        out.failures.push("the backend brought up no nodes".into());
        return;
    };
    let t0 = clock.now();
    let rel = |t: Timestamp| t.secs_since(t0);
    let events = timeline(s);
    let last_event = events.iter().map(|e| e.at).max().unwrap_or_default();
    out.pods = events
        .iter()
        .filter(|e| matches!(e.event, Event::CreatePod { .. }))
        .count() as u32;
    let mut faults: Vec<FaultState> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Fault(f) => {
                let at = t0.add(e.at);
                let acts = match f {
                    FaultSpec::RestartStorm {
                        restarts, interval, ..
                    } => (0..*restarts).map(|i| at.add(interval.0 * i)).collect(),
                    _ => vec![at],
                };
                Some(FaultState {
                    spec: f.clone(),
                    at,
                    acts,
                    confirmed: None,
                })
            }
            Event::CreatePod { .. } => None,
        })
        .collect();
    if let Err(e) = backend.start(events).await {
        out.failures
            .push(format!("backend could not start the timeline: {e}"));
        return;
    }
    let cfg = DetectorConfig {
        pleg: Some(s.pleg()),
        ..DetectorConfig::default()
    };
    let mut monitors: Vec<NodeMonitor> = nodes
        .iter()
        .map(|n| NodeMonitor::new(n.node_name().clone(), cfg.clone()))
        .collect();
    let mut findings: Vec<Finding> = Vec::new();
    let mut remediations: Vec<Remediation> = Vec::new();
    let mut remediation_count: BTreeMap<NodeName, usize> = BTreeMap::new();
    let locks = Locks::memory();
    let end = t0.add(s.duration.0);
    let mut last_change = t0.add(last_event);
    let mut all_pods: Vec<PodView> = Vec::new();

    loop {
        let now = clock.now();
        confirm_faults(nodes, s, &mut faults, now, out, t0).await;
        for (i, node) in nodes.iter().enumerate() {
            let new = match monitors[i].poll(node).await {
                Ok(f) => f,
                Err(e) => {
                    out.failures.push(format!(
                        "detectors could not read {}: {e}",
                        node.node_name()
                    ));
                    Vec::new()
                }
            };
            let new = if opts.sabotage == Sabotage::BlindDetectors {
                Vec::new()
            } else {
                new
            };
            for f in new {
                out.timeline.push(TimelineEntry {
                    at_s: rel(f.at),
                    kind: Moment::Finding,
                    node: Some(f.node.clone()),
                    what: format!("{} ({:.0}% sure)", f.mode, f.confidence * 100.0),
                });
                last_change = last_change.max(f.at);
                findings.push(f.clone());
                if s.remediation.detect_only || opts.sabotage == Sabotage::NoRemediation {
                    continue;
                }
                let count = remediation_count.entry(f.node.clone()).or_default();
                if *count >= opts.max_remediations {
                    continue;
                }
                *count += 1;
                let started = node.now();
                remediate(node, &f, s, &locks, out, t0).await;
                remediations.push(Remediation {
                    node: f.node.clone(),
                    started,
                    ended: node.now(),
                });
                last_change = last_change.max(node.now());
            }
        }
        all_pods = match backend.all_pods().await {
            Ok(p) => p,
            Err(e) => {
                out.failures.push(format!("could not list pods: {e}"));
                break;
            }
        };
        let now = clock.now();
        if now >= end {
            break;
        }
        let expected_found = matched(&s.expect.findings, &findings)
            .iter()
            .all(Option::is_some);
        let settled = all_pods
            .iter()
            .all(|p| p.phase == kubestall_node::PodPhase::Running);
        if now >= t0.add(last_event)
            && expected_found
            && (opts.stop_when_found || settled && now.since(last_change) >= opts.quiet)
        {
            break;
        }
        clock.sleep(opts.poll).await;
    }
    out.duration_s = rel(clock.now());
    evaluate(s, t0, &faults, &findings, &remediations, &all_pods, out);
}

/// Checks, once the fault's time has passed, that it took effect, through the
/// same `Observe` every backend offers.
async fn confirm_faults<N: Control>(
    nodes: &[N],
    s: &Scenario,
    faults: &mut [FaultState],
    now: Timestamp,
    out: &mut RunOutcome,
    t0: Timestamp,
) {
    for f in faults
        .iter_mut()
        .filter(|f| f.confirmed.is_none() && f.at <= now)
    {
        if !out.timeline.iter().any(|e| {
            e.kind == Moment::Fault
                && (e.at_s - f.at.secs_since(t0)).abs() < 1e-9
                && e.what.starts_with(f.spec.kind())
        }) {
            out.timeline.push(TimelineEntry {
                at_s: f.at.secs_since(t0),
                kind: Moment::Fault,
                node: Some(f.spec.node().clone()),
                what: describe(&f.spec),
            });
        }
        let Some(node) = nodes.iter().find(|n| n.node_name() == f.spec.node()) else {
            continue;
        };
        let ok = match &f.spec {
            FaultSpec::UpgradeContainerd { .. } => {
                node.journal(&Unit::Kubelite, f.at).await.is_ok_and(|j| {
                    j.iter().any(|e| {
                        e.message
                            .contains("no imagefs label for configured runtime")
                    })
                })
            }
            FaultSpec::RestartKubelite { cordon, .. } => {
                let restarted = started_since(node, &Unit::Kubelite, f.at).await;
                let scheduling = *cordon
                    || s.workload.iter().any(|w| {
                        &w.node == f.spec.node()
                            && w.from.0 <= f.at.since(t0)
                            && f.at.since(t0) <= w.until.0
                    });
                restarted && scheduling
            }
            FaultSpec::RestartStorm {
                restarts, interval, ..
            } => {
                started_since(
                    node,
                    &Unit::Kubelite,
                    f.at.add(interval.0 * restarts.saturating_sub(1)),
                )
                .await
            }
            FaultSpec::OrphanShims { count, shared, .. } => {
                match (node.shims().await, node.tasks().await) {
                    (Ok(sh), Ok(tk)) => {
                        orphaned_shims(&sh, &tk, &node.kubelet_runtime()).count()
                            >= (count - shared.min(count)) as usize
                    }
                    _ => false,
                }
            }
            FaultSpec::RestartK8sDqlite { .. } => started_since(node, &Unit::K8sDqlite, f.at).await,
            FaultSpec::FreezeContainerd { .. } => {
                matches!(node.tasks().await, Err(NodeError::Timeout { .. }))
            }
            FaultSpec::LockService { app, .. } => {
                node.processes(app).await.is_ok_and(|p| !p.is_empty())
            }
        };
        if ok {
            f.confirmed = Some(now);
            out.timeline.push(TimelineEntry {
                at_s: now.secs_since(t0),
                kind: Moment::FaultConfirmed,
                node: Some(f.spec.node().clone()),
                what: format!("{} took effect", f.spec.kind()),
            });
        }
    }
}

async fn started_since<N: Control>(node: &N, unit: &Unit, t: Timestamp) -> bool {
    // systemd start timestamps are whole seconds, and an injector on a real
    // backend acts a moment after the time it was given.
    let t = t.sub(Duration::from_secs(2));
    node.service(unit)
        .await
        .is_ok_and(|s| s.started_at.is_some_and(|st| st >= t))
}

fn describe(f: &FaultSpec) -> String {
    match f {
        FaultSpec::UpgradeContainerd {
            version, microk8s, ..
        } => format!("upgrade-containerd to {version} (microk8s {microk8s})"),
        FaultSpec::RestartKubelite { cordon, .. } => format!(
            "restart-kubelite ({})",
            if *cordon { "cordoned" } else { "no cordon" }
        ),
        FaultSpec::RestartStorm {
            restarts, interval, ..
        } => format!("restart-storm: {restarts} restarts every {interval}"),
        FaultSpec::OrphanShims { count, shared, .. } => {
            format!("orphan-shims: {count} ({shared} behind shared shims)")
        }
        FaultSpec::RestartK8sDqlite { .. } => "restart-k8s-dqlite".into(),
        FaultSpec::FreezeContainerd { .. } => "freeze-containerd".into(),
        FaultSpec::LockService { app, .. } => format!("lock-service {app}"),
    }
}

/// Carries out the procedure for `f` with the same executor `kubestall remediate` uses.
async fn remediate<N: Control>(
    node: &N,
    f: &Finding,
    s: &Scenario,
    locks: &Locks,
    out: &mut RunOutcome,
    t0: Timestamp,
) {
    let mut ctx = PlanContext::new(f.node.clone());
    ctx.kine_errors = f.kine_errors;
    ctx.emergency = s.remediation.emergency_restart && f.mode == FailureMode::ImagefsStall;
    let plan = plan_for(ProcedureId::Fix(f.mode), &ctx);
    let policy = SafetyPolicy {
        allow_nuclear: s.remediation.allow_nuclear,
        ..SafetyPolicy::default()
    };
    let exec = Executor::new(policy, locks.clone(), format!("{}-{}", s.name, out.seed));
    let mut audit = AuditLog::memory();
    let result = exec.execute(node, &plan, &mut audit).await;
    for r in audit.records() {
        let kind = match r.event {
            kubestall_remediation::audit::Event::Start => Moment::StepStarted,
            kubestall_remediation::audit::Event::Done
            | kubestall_remediation::audit::Event::Failed => Moment::StepEnded,
            _ => continue,
        };
        let what = format!(
            "{} {}{}",
            r.kind.clone().unwrap_or_default(),
            if r.event == kubestall_remediation::audit::Event::Failed {
                "FAILED "
            } else {
                ""
            },
            r.detail
        );
        out.timeline.push(TimelineEntry {
            at_s: r.at.secs_since(t0),
            kind,
            node: Some(f.node.clone()),
            what: what.trim().to_string(),
        });
    }
    if let Err(e) = result {
        out.failures.push(format!(
            "remediation {} on {} failed: {e}",
            plan.procedure, f.node
        ));
    }
}

fn st_or(stuck: Option<Timestamp>, boundary: Timestamp) -> Timestamp {
    stuck.unwrap_or(boundary)
}

/// Which actual finding each expected one matched, in order.
fn matched(
    expected: &[crate::scenario::ExpectedFinding],
    actual: &[Finding],
) -> Vec<Option<usize>> {
    let mut next = 0;
    expected
        .iter()
        .map(|e| {
            let hit = actual
                .iter()
                .enumerate()
                .skip(next)
                .find(|(_, f)| f.mode == e.mode && f.node == e.node)
                .map(|(i, _)| i);
            if let Some(i) = hit {
                next = i + 1;
            }
            hit
        })
        .collect()
}

fn evaluate(
    s: &Scenario,
    t0: Timestamp,
    faults: &[FaultState],
    findings: &[Finding],
    remediations: &[Remediation],
    pods: &[PodView],
    out: &mut RunOutcome,
) {
    let rel = |t: Timestamp| t.secs_since(t0);
    // Latency of each finding from the first stuck pod: bound to its node after the
    // last fault or remediation there, and not started when the finding was made.
    let origin = |f: &Finding| -> (Option<Timestamp>, Timestamp) {
        let boundary = faults
            .iter()
            .filter(|x| x.spec.node() == &f.node)
            .flat_map(|x| x.acts.iter().copied())
            .filter(|t| *t <= f.at)
            .chain(
                remediations
                    .iter()
                    .filter(|r| r.node == f.node && r.started < f.at && r.ended <= f.at)
                    .map(|r| r.ended),
            )
            .max()
            .unwrap_or(t0);
        let first_stuck = pods
            .iter()
            .filter(|p| p.node.as_ref() == Some(&f.node))
            .filter(|p| p.scheduled_at.is_some_and(|b| b >= boundary && b <= f.at))
            .filter(|p| p.started_at.is_none_or(|r| r > f.at))
            .filter_map(|p| p.scheduled_at)
            .min();
        (first_stuck, boundary)
    };
    for f in findings {
        let (stuck, boundary) = origin(f);
        if let Some(st) = stuck
            && !out
                .timeline
                .iter()
                .any(|e| e.kind == Moment::FirstStuckPod && (e.at_s - rel(st)).abs() < 1e-9)
        {
            out.timeline.push(TimelineEntry {
                at_s: rel(st),
                kind: Moment::FirstStuckPod,
                node: Some(f.node.clone()),
                what: "first stuck pod bound".into(),
            });
        }
        out.findings.push(FindingRecord {
            mode: f.mode,
            node: f.node.clone(),
            at_s: rel(f.at),
            confidence: f.confidence,
            evidence: f
                .evidence
                .iter()
                .filter_map(|e| serde_json::to_value(e).ok())
                .collect(),
            latency_s: Some(f.at.secs_since(stuck.unwrap_or(boundary))),
            // Measured from the same origin as the finding's latency.
            runbook_rule_s: baseline::runbook_rule(f, st_or(stuck, boundary))
                .map(|b| b.fires_at.secs_since(st_or(stuck, boundary))),
            kubelet_rule_s: baseline::kubelet_rule(f, st_or(stuck, boundary))
                .map(|b| b.fires_at.secs_since(st_or(stuck, boundary))),
            from_stuck_pod: stuck.is_some(),
        });
    }
    let unconfirmed: Vec<String> = faults
        .iter()
        .filter(|f| f.confirmed.is_none())
        .map(|f| {
            format!(
                "fault {} on {} at {:.0} s did not take effect",
                f.spec.kind(),
                f.spec.node(),
                rel(f.at)
            )
        })
        .collect();

    let hits = matched(&s.expect.findings, findings);
    let mut failures = Vec::new();
    for (e, hit) in s.expect.findings.iter().zip(&hits) {
        let Some(i) = *hit else {
            let seen: Vec<String> = findings
                .iter()
                .map(|f| format!("{} on {}", f.mode, f.node))
                .collect();
            failures.push(format!(
                "expected {} on {}: not found (found: {})",
                e.mode,
                e.node,
                if seen.is_empty() {
                    "nothing".into()
                } else {
                    seen.join(", ")
                }
            ));
            continue;
        };
        let f = &findings[i];
        let (stuck, boundary) = origin(f);
        let latency = f.at.since(stuck.unwrap_or(boundary));
        if latency > e.detect_within.0 {
            failures.push(format!(
                "{} on {} detected {:.1} s after the {}, limit {}",
                e.mode,
                e.node,
                latency.as_secs_f64(),
                if stuck.is_some() {
                    "first stuck pod"
                } else {
                    "fault"
                },
                e.detect_within
            ));
        }
        if i == hits.iter().flatten().copied().next().unwrap_or(usize::MAX) {
            // The JSON contract: from the first stuck pod, null when no pod got stuck
            // (each finding's `latency_s` falls back to the fault).
            out.detect_latency_s = stuck.map(|st| f.at.secs_since(st));
        }
        if !s.remediation.detect_only {
            // Recovered when every pod that was stuck at the finding runs, and the
            // remediation that followed it is done.
            let rem_end = remediations
                .iter()
                .filter(|r| r.node == f.node && r.started >= f.at)
                .map(|r| r.ended)
                .min();
            let stuck_at_f: Vec<&PodView> = pods
                .iter()
                .filter(|p| {
                    p.node.as_ref() == Some(&f.node)
                        && p.scheduled_at.is_some_and(|b| b <= f.at)
                        && p.started_at.is_none_or(|r| r > f.at)
                })
                .collect();
            let never: Vec<String> = stuck_at_f
                .iter()
                .filter(|p| p.started_at.is_none())
                .map(|p| p.pod.to_string())
                .collect();
            if !never.is_empty() {
                failures.push(format!(
                    "{} on {}: {} stuck pod(s) never started: {}",
                    e.mode,
                    e.node,
                    never.len(),
                    never.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                ));
            } else if let Some(end) = rem_end {
                let recovered = stuck_at_f
                    .iter()
                    .filter_map(|p| p.started_at)
                    .max()
                    .unwrap_or(end)
                    .max(end);
                let took = recovered.since(f.at);
                if hits.iter().flatten().next() == Some(&i) {
                    out.recover_s = Some(took.as_secs_f64());
                }
                out.timeline.push(TimelineEntry {
                    at_s: rel(recovered),
                    kind: Moment::Recovered,
                    node: Some(f.node.clone()),
                    what: format!("{} recovered", f.node),
                });
                if took > e.recover_within.0 {
                    failures.push(format!(
                        "{} on {} recovered {:.1} s after the finding, limit {}",
                        e.mode,
                        e.node,
                        took.as_secs_f64(),
                        e.recover_within
                    ));
                }
            } else {
                failures.push(format!(
                    "{} on {}: no remediation followed the finding",
                    e.mode, e.node
                ));
            }
        }
    }
    if s.expect.no_other_findings {
        let used: Vec<usize> = hits.iter().flatten().copied().collect();
        for (i, f) in findings
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
        {
            let _ = i;
            failures.push(format!(
                "unexpected finding: {} on {} at {:.0} s ({})",
                f.mode,
                f.node,
                rel(f.at),
                f.evidence
                    .first()
                    .map(|e| e.value.clone())
                    .unwrap_or_default()
            ));
        }
    }
    // Every pod Running in time: within the limit of its creation, or of the last
    // fault or remediation when it was created before that.
    let last = faults
        .iter()
        .flat_map(|f| f.acts.iter().copied())
        .chain(remediations.iter().map(|r| r.ended))
        .max()
        .unwrap_or(t0);
    let end = t0.add(Duration::from_secs_f64(out.duration_s.max(0.0)));
    let limit = s.expect.pods_running_within.0;
    let late: Vec<String> = pods
        .iter()
        .filter(|p| {
            let deadline = p.created_at.max(last).add(limit);
            match p.started_at {
                Some(r) => r > deadline,
                None => true,
            }
        })
        .map(|p| p.pod.to_string())
        .collect();
    if !late.is_empty() {
        failures.push(format!(
            "{} pod(s) not Running within {} of their creation or of the last fault or remediation (run ended at {:.0} s): {}",
            late.len(),
            s.expect.pods_running_within,
            rel(end),
            late.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    // How the stall looked from the pods' side: pods that waited well past the
    // scenario's ordinary start time.
    let slow = s.cluster.pod_start.0 * 2 + Duration::from_secs(10);
    let delayed: Vec<&PodView> = pods
        .iter()
        .filter(|p| {
            p.scheduled_at
                .is_some_and(|b| p.started_at.is_none_or(|r| r.since(b) > slow))
        })
        .collect();
    out.pods_delayed = delayed.len() as u32;
    let first = delayed.iter().filter_map(|p| p.scheduled_at).min();
    let last = delayed.iter().map(|p| p.started_at.unwrap_or(end)).max();
    out.stall_s = first.zip(last).map(|(a, b)| b.secs_since(a));
    out.timeline.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    out.verdict = if !unconfirmed.is_empty() {
        out.failures.extend(unconfirmed);
        Verdict::FaultNotConfirmed
    } else if failures.is_empty() && out.failures.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Failed
    };
    out.failures.extend(failures);
}
