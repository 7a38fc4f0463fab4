//! `NodeMonitor`: the streaming detector of one node.
//!
//! It keeps what it has seen across polls (journal position, schedstat samples,
//! the kubelite run it is watching, pod start latencies) and reports a finding as
//! soon as the runbook's signals for a mode are all there, not after a fixed
//! window. A poll reads only what is new, and the costly signals (shims, tasks,
//! `/pods`, lock holders) only when pods are stuck or a start just happened.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use kubestall_node::{
    FailureMode, NodeError, NodeName, Observe, Pid, Pleg, PodPhase, PodRef, PodView, Schedstat,
    Timestamp, Unit, orphaned_shims, own_shims,
};

use crate::finding::{Evidence, Finding};
use crate::signals::{LineKind, classify_line};

/// Thresholds of the detectors. Defaults follow the runbook and the kubelet.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// A pod counts as stuck only after at least this long Pending.
    pub min_stuck_age: Duration,
    /// ... and after this many times the node's recent p90 pod start latency.
    pub stuck_factor: f64,
    /// Used until the node has shown enough pod starts to learn from.
    pub default_stuck_age: Duration,
    /// Two identical schedstat samples at least this far apart mean zero CPU (runbook: 3 s).
    pub schedstat_window: Duration,
    /// "pleg has yet to be successful" within this long of a start is normal (runbook: ~60 s).
    pub evented_startup_grace: Duration,
    /// Rising `retrying of unary invoker failed` attempts that make kine exhaustion certain.
    pub kine_attempts: u32,
    /// Lock-using services to check after a restart: (process name, lock file).
    pub lock_services: Vec<(String, String)>,
    /// Ask kubelite for a goroutine dump (SIGUSR1) to confirm a watch stall.
    pub goroutine_dump: bool,
    /// The kubelet's PLEG, when known (EventedPLEG changes what is normal).
    pub pleg: Option<Pleg>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_stuck_age: Duration::from_secs(6),
            stuck_factor: 2.0,
            default_stuck_age: Duration::from_secs(20),
            schedstat_window: Duration::from_secs(3),
            evented_startup_grace: Duration::from_secs(90),
            kine_attempts: 5,
            lock_services: vec![(
                "buildkitd".into(),
                "/var/lib/buildkit/buildkitd.lock".into(),
            )],
            goroutine_dump: false,
            pleg: None,
        }
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A signal the detectors cannot do without could not be read.
    #[error("reading {signal} on {node}: {source}")]
    Observe {
        /// The node.
        node: NodeName,
        /// The signal.
        signal: &'static str,
        /// Why.
        #[source]
        source: NodeError,
    },
}

/// What the monitor knows about the kubelite run it watches (one process lifetime).
#[derive(Clone, Debug, Default)]
struct Run {
    pid: Option<Pid>,
    started_at: Option<Timestamp>,
    /// The node was schedulable around the start (no cordon): the mode-2 precondition.
    schedulable_at_start: Option<bool>,
    registered_at: Option<Timestamp>,
    imagefs_line: Option<(Timestamp, String)>,
    /// The last line that shows the process doing work (not a startup line).
    last_activity: Option<Timestamp>,
    pods_mentioned: BTreeSet<String>,
    /// `retrying of unary invoker failed` lines: (time, attempt).
    kine_attempts: Vec<(Timestamp, u32)>,
    kine_line: Option<String>,
    pleg_yet: Option<(Timestamp, String)>,
    pleg_last_seen: Option<(Timestamp, String)>,
    samples: VecDeque<(Timestamp, Schedstat)>,
    reported: BTreeSet<FailureMode>,
    lock_checked: bool,
    /// kubelite started with `--feature-gates=EventedPLEG=true`.
    evented: bool,
}

/// The streaming detector of one node.
pub struct NodeMonitor {
    node: NodeName,
    cfg: DetectorConfig,
    journal_from: Option<Timestamp>,
    journal_seen_at_last: usize,
    run: Run,
    last_unschedulable: Option<bool>,
    latencies: VecDeque<Duration>,
    seen_running: BTreeSet<PodRef>,
    lock_reported: BTreeSet<Pid>,
}

impl NodeMonitor {
    /// A monitor for `node`.
    pub fn new(node: NodeName, cfg: DetectorConfig) -> Self {
        NodeMonitor {
            node,
            cfg,
            journal_from: None,
            journal_seen_at_last: 0,
            run: Run::default(),
            last_unschedulable: None,
            latencies: VecDeque::new(),
            seen_running: BTreeSet::new(),
            lock_reported: BTreeSet::new(),
        }
    }

    /// The node watched.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    fn err(&self, signal: &'static str) -> impl FnOnce(NodeError) -> DetectError + '_ {
        move |source| DetectError::Observe {
            node: self.node.clone(),
            signal,
            source,
        }
    }

    /// One poll: reads what is new and returns findings that became certain now.
    pub async fn poll<O: Observe>(&mut self, node: &O) -> Result<Vec<Finding>, DetectError> {
        let now = node.now();
        let view = node.node().await.map_err(self.err("node"))?;
        let svc = node
            .service(&Unit::Kubelite)
            .await
            .map_err(self.err("kubelite service"))?;

        // A new kubelite process: everything learned about the last one is history.
        if svc.main_pid != self.run.pid || svc.started_at != self.run.started_at {
            let schedulable = match (self.last_unschedulable, view.unschedulable) {
                (Some(before), now_u) => !(before || now_u),
                (None, now_u) => !now_u,
            };
            self.run = Run {
                pid: svc.main_pid,
                started_at: svc.started_at,
                schedulable_at_start: Some(schedulable),
                ..Run::default()
            };
            if self.journal_from.is_none() {
                self.journal_from = svc.started_at;
            }
        }
        self.last_unschedulable = Some(view.unschedulable);

        self.read_journal(node, now).await?;
        if let Some(pid) = self.run.pid {
            match node.schedstat(pid).await {
                Ok(s) => {
                    self.run.samples.push_back((now, s));
                    while self.run.samples.len() > 8 {
                        self.run.samples.pop_front();
                    }
                }
                Err(NodeError::NoSuchProcess(_)) => {}
                Err(e) => return Err(self.err("schedstat")(e)),
            }
        }

        let pods = node.pods().await.map_err(self.err("pods"))?;
        self.learn_latencies(&pods);
        let stuck = self.stuck_pods(&pods, now);

        let mut found = Vec::new();
        if let Some(f) = self.kine(now) {
            found.push(f);
        }
        if !stuck.is_empty() {
            found.extend(self.classify_stuck(node, now, &stuck).await);
        }
        // Generic PLEG prints `pleg was last seen active` too, when its relist hangs on
        // orphaned shims: that is the PLEG stall already found, not a frozen containerd
        // (whose fix, a containerd restart, would not help).
        let pleg_stall_found = found
            .iter()
            .any(|f| matches!(f.mode, FailureMode::PlegStall | FailureMode::KineExhaustion))
            || self.run.reported.contains(&FailureMode::PlegStall)
            || self.run.reported.contains(&FailureMode::KineExhaustion);
        if self.pleg() == Pleg::Evented
            && !pleg_stall_found
            && let Some(f) = self.containerd_freeze_by_pleg(now)
        {
            found.push(f);
        }
        found.extend(self.lock_holders(node, now).await);
        found.retain(|f| {
            self.run.reported.insert(f.mode) || f.mode == FailureMode::OrphanLockHolder
        });
        Ok(found)
    }

    async fn read_journal<O: Observe>(
        &mut self,
        node: &O,
        now: Timestamp,
    ) -> Result<(), DetectError> {
        let since = self.journal_from.or(self.run.started_at).unwrap_or(now);
        let entries = node
            .journal(&Unit::Kubelite, since)
            .await
            .map_err(self.err("kubelite journal"))?;
        // Entries at exactly `since` were seen last time (as many as we counted).
        let skip = if Some(since) == self.journal_from {
            self.journal_seen_at_last
        } else {
            0
        };
        let mut last_at = since;
        let mut at_last = if skip > 0 { skip } else { 0 };
        for (i, e) in entries.iter().enumerate() {
            if i < skip && e.at == since {
                continue;
            }
            if e.at > last_at {
                last_at = e.at;
                at_last = 0;
            }
            at_last += 1;
            // Lines of an earlier process (a restart between polls) carry its pid.
            if let (Some(pid), Some(line_pid)) = (self.run.pid, e.pid)
                && pid != line_pid
            {
                continue;
            }
            self.observe_line(e.at, &e.message);
        }
        self.journal_from = Some(last_at);
        self.journal_seen_at_last = at_last;
        Ok(())
    }

    fn observe_line(&mut self, at: Timestamp, message: &str) {
        let run = &mut self.run;
        match classify_line(message) {
            LineKind::Registered => run.registered_at = Some(at),
            LineKind::Startup => {
                if message.contains("EventedPLEG=true") {
                    run.evented = true;
                }
            }
            LineKind::ImagefsSignature => run.imagefs_line = Some((at, message.to_string())),
            LineKind::PodWork(pod) => {
                run.pods_mentioned.insert(pod);
                run.last_activity = Some(at);
            }
            LineKind::PlegYetToBeSuccessful => run.pleg_yet = Some((at, message.to_string())),
            LineKind::PlegLastSeenActive => run.pleg_last_seen = Some((at, message.to_string())),
            LineKind::KineRetry(attempt) => {
                run.kine_attempts.push((at, attempt));
                run.kine_line = Some(message.to_string());
            }
            LineKind::GoroutineDump => {}
            LineKind::Other => run.last_activity = Some(at),
        }
    }

    fn learn_latencies(&mut self, pods: &[PodView]) {
        for p in pods {
            if p.phase != PodPhase::Running || self.seen_running.contains(&p.pod) {
                continue;
            }
            self.seen_running.insert(p.pod.clone());
            // Learn only from pods bound and started under the same kubelite run: a
            // pod that waited out a stall (and started after a restart) is no sample
            // of how long this node takes.
            let same_run = self
                .run
                .started_at
                .is_none_or(|st| p.scheduled_at.is_some_and(|s| s >= st));
            if let (Some(s), Some(r)) = (p.scheduled_at, p.started_at)
                && r > s
                && same_run
            {
                self.latencies.push_back(r.since(s));
                if self.latencies.len() > 64 {
                    self.latencies.pop_front();
                }
            }
        }
    }

    /// How long a pod may be Pending on this node before it counts as stuck:
    /// learned from the node's own recent starts.
    pub fn stuck_threshold(&self) -> Duration {
        if self.latencies.len() < 3 {
            return self.cfg.default_stuck_age;
        }
        let mut v: Vec<Duration> = self.latencies.iter().copied().collect();
        v.sort();
        let p90 = v[((v.len() * 9).div_ceil(10)).clamp(1, v.len()) - 1];
        p90.mul_f64(self.cfg.stuck_factor)
            .max(self.cfg.min_stuck_age)
    }

    pub(crate) fn stuck_pods<'a>(&self, pods: &'a [PodView], now: Timestamp) -> Vec<&'a PodView> {
        let threshold = self.stuck_threshold();
        pods.iter()
            .filter(|p| p.phase == PodPhase::Pending && p.node.as_ref() == Some(&self.node))
            .filter(|p| p.scheduled_at.is_some_and(|s| now.since(s) >= threshold))
            // No kubelet event for it (or only from an earlier kubelite run).
            .filter(|p| {
                p.kubelet_events == 0
                    || self
                        .run
                        .started_at
                        .is_some_and(|s| p.scheduled_at.is_some_and(|b| b < s))
            })
            .collect()
    }

    fn frozen(&self) -> Option<(Timestamp, Schedstat, Timestamp)> {
        let (last_t, last) = *self.run.samples.back()?;
        let mut first_t = last_t;
        for (t, s) in self.run.samples.iter().rev() {
            if *s != last {
                break;
            }
            first_t = *t;
        }
        (last_t.since(first_t) >= self.cfg.schedstat_window).then_some((first_t, last, last_t))
    }

    fn moving(&self) -> bool {
        let s = &self.run.samples;
        s.len() >= 2 && s.back().map(|b| b.1) != s.get(s.len() - 2).map(|b| b.1)
    }

    fn base(
        &self,
        mode: FailureMode,
        at: Timestamp,
        confidence: f64,
        evidence: Vec<Evidence>,
    ) -> Finding {
        Finding {
            node: self.node.clone(),
            mode,
            confidence,
            evidence,
            at,
            procedure: mode.id(),
            missing_signals: Vec::new(),
            kine_errors: !self.run.kine_attempts.is_empty(),
            silent_since: self
                .run
                .registered_at
                .map(|r| self.run.last_activity.map_or(r, |a| a.max(r))),
            pleg_since: None,
            kine_retries: self.run.kine_attempts.clone(),
        }
    }

    /// The PLEG: as configured, else as kubelite's feature-gate line says.
    fn pleg(&self) -> Pleg {
        self.cfg.pleg.unwrap_or(if self.run.evented {
            Pleg::Evented
        } else {
            Pleg::Generic
        })
    }

    fn journal_source(&self) -> String {
        "journalctl -u snap.microk8s.daemon-kubelite".to_string()
    }

    fn kine(&self, now: Timestamp) -> Option<Finding> {
        let a: Vec<u32> = self.run.kine_attempts.iter().map(|&(_, n)| n).collect();
        let rising = a.windows(2).filter(|w| w[1] > w[0]).count();
        if a.len() < self.cfg.kine_attempts as usize || rising + 1 < self.cfg.kine_attempts as usize
        {
            return None;
        }
        let max = a.iter().max().copied().unwrap_or(0);
        let mut ev = vec![Evidence::new(
            "journal",
            format!(
                "{} `retrying of unary invoker failed` lines since kubelite started, attempt up to {max}",
                a.len()
            ),
            format!(
                "{} --since '5 minutes ago' | grep 'retrying of unary invoker'",
                self.journal_source()
            ),
        )];
        if let Some(l) = &self.run.kine_line {
            ev.push(Evidence::new(
                "journal-line",
                l.clone(),
                self.journal_source(),
            ));
        }
        let mut f = self.base(FailureMode::KineExhaustion, now, 0.95, ev);
        f.kine_errors = true;
        Some(f)
    }

    async fn classify_stuck<O: Observe>(
        &mut self,
        node: &O,
        now: Timestamp,
        stuck: &[&PodView],
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.run.kine_attempts.is_empty() {
            // Kine errors explain stuck pods; `kine()` reports once they are certain.
            return out;
        }
        let registered = self.run.registered_at;
        let stuck_ev = Evidence::new(
            "stuck-pods",
            format!(
                "{} pod(s) bound to {} and Pending past {:.0?} with no kubelet event: {}",
                stuck.len(),
                self.node,
                self.stuck_threshold(),
                stuck
                    .iter()
                    .take(5)
                    .map(|p| p.pod.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "kubectl get pods -A --field-selector spec.nodeName={} | grep Pending",
                self.node
            ),
        );
        let frozen = self.frozen();
        let tasks = node.tasks().await;
        // containerd not answering at all: the runtime, not the kubelet, is frozen.
        if let Err(NodeError::Timeout { command, after }) = &tasks {
            let containerd = node.service(&Unit::Containerd).await.ok();
            let ev = vec![
                stuck_ev.clone(),
                Evidence::new(
                    "containerd",
                    format!("`ctr tasks list` did not answer within {after:?}"),
                    command.clone(),
                ),
                Evidence::new(
                    "containerd-service",
                    containerd
                        .map(|s| s.active.as_str().to_string())
                        .unwrap_or_else(|| "unknown".into()),
                    "systemctl is-active snap.microk8s.daemon-containerd",
                ),
            ];
            out.push(self.base(FailureMode::ContainerdFreeze, now, 0.9, ev));
            return out;
        }
        let Some(registered) = registered else {
            return out;
        };
        let silent_since = self
            .run
            .last_activity
            .map_or(registered, |a| a.max(registered));
        let silence = now.since(silent_since);
        if let Some((t0, s, t1)) = frozen {
            // The kubelet is blocked: mode 1 (eviction manager) or mode 3 (PLEG).
            let shims = node.shims().await;
            let (orphans, shim_ev) = match (&shims, &tasks) {
                (Ok(sh), Ok(tk)) => {
                    let rt = node.kubelet_runtime();
                    let orphans: Vec<String> = orphaned_shims(sh, tk, &rt)
                        .map(|s| s.container_id.short().to_string())
                        .collect();
                    let ev = Evidence::new(
                        "shims",
                        format!(
                            "{} shims of {} in {}, {} running tasks, {} orphaned (by exact container id){}",
                            own_shims(sh, &rt).count(),
                            rt.address,
                            rt.namespace,
                            tk.len(),
                            orphans.len(),
                            if orphans.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    ": {}",
                                    orphans
                                        .iter()
                                        .take(5)
                                        .cloned()
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        ),
                        "pgrep -a containerd-shim; ctr --address /var/snap/microk8s/common/run/containerd.sock -n k8s.io tasks list",
                    );
                    (Some(orphans.len()), ev)
                }
                _ => (
                    None,
                    Evidence::new(
                        "shims",
                        "could not be read",
                        "pgrep -a containerd-shim; ctr ... tasks list",
                    ),
                ),
            };
            let sched_ev = Evidence::new(
                "schedstat",
                format!(
                    "kubelite pid {} schedstat unchanged for {:.0?}: {s}",
                    self.run.pid.map(|p| p.0).unwrap_or(0),
                    t1.since(t0)
                ),
                format!(
                    "cat /proc/{}/schedstat",
                    self.run.pid.map(|p| p.0).unwrap_or(0)
                ),
            );
            let silence_ev = Evidence::new(
                "journal",
                format!(
                    "no kubelite output for {:.0?} after its startup lines",
                    silence
                ),
                format!("{} --since '5 minutes ago'", self.journal_source()),
            );
            let imagefs = self.run.imagefs_line.clone();
            match (imagefs, orphans) {
                (Some((at, line)), Some(0)) if silence >= self.cfg.schedstat_window => {
                    let mut ev = vec![
                        stuck_ev,
                        Evidence::new(
                            "journal-line",
                            line,
                            format!(
                                "{} | grep -i \"imagefs\\|eviction manager\"",
                                self.journal_source()
                            ),
                        ),
                        silence_ev,
                        sched_ev,
                        shim_ev,
                    ];
                    ev[1].value = format!("{} (at {})", ev[1].value, at.rfc3339());
                    out.push(self.base(FailureMode::ImagefsStall, now, 0.95, ev));
                }
                (_, orphans) if self.pleg() == Pleg::Generic => {
                    let (confidence, mut missing) = match orphans {
                        Some(n) if n > 0 => (0.95, Vec::new()),
                        Some(_) => (0.7, vec!["orphaned shims: none visible by id (containerd 2.x shim sharing can hide them)".to_string()]),
                        None => (0.75, vec!["shim and task counts".to_string()]),
                    };
                    let mut f = self.base(
                        FailureMode::PlegStall,
                        now,
                        confidence,
                        vec![stuck_ev, silence_ev, sched_ev, shim_ev],
                    );
                    f.missing_signals.append(&mut missing);
                    out.push(f);
                }
                _ => {}
            }
            return out;
        }
        // Mode 2: the kubelet works (logs, CPU), but the stuck pods never reached it.
        let started = self.run.started_at.unwrap_or(registered);
        // Stuck pods bound after the restart that the kubelet never mentioned (no SyncPod).
        let after_restart: Vec<&&PodView> = stuck
            .iter()
            .filter(|p| p.scheduled_at.is_some_and(|s| s >= started))
            .filter(|p| !self.run.pods_mentioned.contains(&p.pod.to_string()))
            .collect();
        // Pods bound in the restart window: after the start, before the kubelet's LIST
        // could have seen them (a few seconds after it registered).
        let window_end = registered.add(Duration::from_secs(10));
        let in_window = after_restart
            .iter()
            .any(|p| p.scheduled_at.is_some_and(|s| s <= window_end));
        let active = self
            .run
            .last_activity
            .is_some_and(|a| now.since(a) < Duration::from_secs(120))
            || self.moving();
        if self.run.schedulable_at_start == Some(true) && in_window && active {
            let known = node.kubelet_pods().await;
            let absent: Vec<String> = match &known {
                Ok(k) => after_restart
                    .iter()
                    .filter(|p| !k.contains(&p.pod))
                    .map(|p| p.pod.to_string())
                    .collect(),
                Err(_) => Vec::new(),
            };
            if known.is_ok() && absent.is_empty() {
                return out;
            }
            let mut ev = vec![
                stuck_ev,
                Evidence::new(
                    "restart",
                    format!(
                        "kubelite (pid {}) started at {} while {} was schedulable (no cordon)",
                        self.run.pid.map(|p| p.0).unwrap_or(0),
                        started.rfc3339(),
                        self.node
                    ),
                    "systemctl show snap.microk8s.daemon-kubelite -p MainPID,ExecMainStartTimestamp; kubectl get node",
                ),
                Evidence::new(
                    "journal",
                    format!(
                        "kubelite logs active (last line {} ago); no SyncPod for the stuck pods",
                        self.run
                            .last_activity
                            .map(|a| format!("{:.0?}", now.since(a)))
                            .unwrap_or_else(|| "-".into())
                    ),
                    format!("{} --since '5 minutes ago'", self.journal_source()),
                ),
            ];
            let mut missing = Vec::new();
            match &known {
                Ok(k) => ev.push(Evidence::new(
                    "kubelet-pods",
                    format!(
                        "the kubelet's /pods lists {} pods and none of the {} stuck: {}",
                        k.len(),
                        absent.len(),
                        absent
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "curl -sk https://127.0.0.1:10250/pods",
                )),
                Err(_) => missing.push("the kubelet's /pods".to_string()),
            }
            let mut confidence = if known.is_ok() { 0.9 } else { 0.75 };
            if self.cfg.goroutine_dump {
                match node.goroutine_dump().await {
                    Ok(Some(d)) => {
                        if let Some(g) = d.blocked_in("handleAnyWatch").next() {
                            ev.push(Evidence::new(
                                "goroutine-dump",
                                format!("goroutine {} [{}{}] in handleAnyWatch", g.id, g.state, g.minutes.map(|m| format!(", {m} minutes")).unwrap_or_default()),
                                "kill -SIGUSR1 <kubelite pid>; journalctl -u snap.microk8s.daemon-kubelite | grep -A5 handleAnyWatch",
                            ));
                            confidence = 0.97;
                        }
                    }
                    _ => missing.push("goroutine dump".to_string()),
                }
            }
            let mut f = self.base(FailureMode::WatchStall, now, confidence, ev);
            f.missing_signals = missing;
            out.push(f);
        }
        out
    }

    /// EventedPLEG's abnormal message, or its startup message long past the grace.
    fn containerd_freeze_by_pleg(&self, now: Timestamp) -> Option<Finding> {
        let started = self.run.started_at?;
        let line = match (&self.run.pleg_last_seen, &self.run.pleg_yet) {
            (Some((_, l)), _) => l.clone(),
            (None, Some((at, l))) if at.since(started) > self.cfg.evented_startup_grace => {
                l.clone()
            }
            _ => return None,
        };
        let ev = vec![Evidence::new(
            "journal-line",
            line,
            format!(
                "{} --since '5 minutes ago' | grep 'pleg was last seen active'",
                self.journal_source()
            ),
        )];
        Some(self.base(FailureMode::ContainerdFreeze, now, 0.9, ev))
    }

    /// The post-incident check: two instances of a lock-using service, the older
    /// one started before the current kubelite run with an empty `/run/<app>/`.
    async fn lock_holders<O: Observe>(&mut self, node: &O, now: Timestamp) -> Vec<Finding> {
        let mut out = Vec::new();
        let Some(started) = self.run.started_at else {
            return out;
        };
        if self.run.lock_checked
            && self
                .run
                .registered_at
                .is_some_and(|r| now.since(r) > Duration::from_secs(300))
        {
            return out;
        }
        for (app, lock) in self.cfg.lock_services.clone() {
            let Ok(mut procs) = node.processes(&app).await else {
                continue;
            };
            if procs.len() < 2 {
                continue;
            }
            procs.sort_by_key(|p| p.started_at);
            let newest = procs.last().map(|p| p.pid);
            let mut dirs = BTreeMap::new();
            for p in &procs {
                if let Ok(d) = node.run_dir(p.pid, &app).await {
                    dirs.insert(p.pid, d);
                }
            }
            let newest_has_socket = newest
                .and_then(|n| dirs.get(&n))
                .is_some_and(|d| !d.is_empty());
            for p in &procs[..procs.len() - 1] {
                let older = p.started_at.is_some_and(|s| s < started);
                let empty = dirs.get(&p.pid).is_some_and(|d| d.is_empty());
                if older && empty && newest_has_socket && self.lock_reported.insert(p.pid) {
                    let ev = vec![
                        Evidence::new(
                            "processes",
                            format!(
                                "{} instances of {app}: pids {}",
                                procs.len(),
                                procs
                                    .iter()
                                    .map(|p| p.pid.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            format!("pgrep -a {app}"),
                        ),
                        Evidence::new(
                            "orphan",
                            format!(
                                "pid {} started {} (before kubelite's start at {}); /run/{app}/ is empty; it holds {lock}",
                                p.pid,
                                p.started_at.map(|s| s.rfc3339()).unwrap_or_default(),
                                started.rfc3339()
                            ),
                            format!("stat /proc/{0}; ls /proc/{0}/root/run/{app}/", p.pid),
                        ),
                        Evidence::new(
                            "current",
                            format!(
                                "pid {} has the live socket in /run/{app}/",
                                newest.map(|n| n.0).unwrap_or(0)
                            ),
                            format!(
                                "ls /proc/{}/root/run/{app}/",
                                newest.map(|n| n.0).unwrap_or(0)
                            ),
                        ),
                    ];
                    out.push(self.base(FailureMode::OrphanLockHolder, now, 0.9, ev));
                }
            }
        }
        self.run.lock_checked = true;
        out
    }
}

/// The pid of the orphaned lock holder a finding names (for the remediation).
pub fn orphan_pid(f: &Finding) -> Option<Pid> {
    let e = f.evidence.iter().find(|e| e.signal == "orphan")?;
    let rest = e.value.strip_prefix("pid ")?;
    rest.split_whitespace().next()?.parse().ok().map(Pid)
}
