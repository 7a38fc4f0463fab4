//! Offline evidence bundles: a folder of the raw outputs of the runbook's
//! commands, written by `kubestall capture` or by hand, and classified by the same
//! detectors that watch live nodes.
//!
//! Layout (every file optional but `meta.json`; what is missing is reported):
//!
//! | file | command |
//! | --- | --- |
//! | `meta.json` | `{"node": "k8s03", "captured_at": "...", "schedstat_at": ["...", "..."]}` |
//! | `journal-kubelite.json` | `journalctl -u snap.microk8s.daemon-kubelite --since '30 minutes ago' -o json` |
//! | `journal-k8s-dqlite.json`, `journal-containerd.json` | the same for those units |
//! | `service-kubelite.txt` | `systemctl show snap.microk8s.daemon-kubelite -p MainPID,ActiveState,ExecMainStartTimestamp,NRestarts` |
//! | `service-containerd.txt` | the same for containerd |
//! | `schedstat-1.txt`, `schedstat-2.txt` | `cat /proc/$PID/schedstat`, a few seconds apart (times in `meta.json`) |
//! | `shims.txt` | `pgrep -a containerd-shim` |
//! | `tasks.txt` | `ctr --address /var/snap/microk8s/common/run/containerd.sock -n k8s.io tasks list` |
//! | `kubelet-pods.json` | `curl -sk https://127.0.0.1:10250/pods` (or `kubectl get --raw /api/v1/nodes/NODE/proxy/pods`) |
//! | `node.json`, `nodes.json` | `kubectl get node NODE -o json`, `kubectl get nodes -o json` |
//! | `pods.json`, `events.json` | `kubectl get pods -A --field-selector spec.nodeName=NODE -o json`, `kubectl get events -A -o json` |
//! | `goroutines.txt` | optional: the kubelite journal after `kill -SIGUSR1` |

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use kubestall_node::parse::{ctr, goroutines, journal, kube, pgrep, schedstat, systemctl};
use kubestall_node::{
    Clock, GoroutineDump, JournalEntry, NodeError, NodeName, NodeView, Observe, Pid, PodRef,
    PodView, ProcessInfo, Schedstat, ServiceState, ShimProcess, Task, Timestamp, Unit,
};
use serde::{Deserialize, Serialize};

use crate::finding::{DetectReport, Evidence, Finding};
use crate::monitor::{DetectorConfig, NodeMonitor};
use crate::signals::{LineKind, classify_line};
use crate::verdict::{self, Coverage};

/// `meta.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The node's name.
    pub node: String,
    /// When the bundle was captured (RFC 3339).
    #[serde(default)]
    pub captured_at: Option<String>,
    /// When each schedstat sample was read (RFC 3339).
    #[serde(default)]
    pub schedstat_at: Vec<String>,
    /// kubectl context used.
    #[serde(default)]
    pub context: Option<String>,
    /// The commands that produced each file.
    #[serde(default)]
    pub commands: std::collections::BTreeMap<String, String>,
    /// Commands that failed while capturing, with their error.
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, String>,
    /// The socket of the containerd whose tasks `tasks.txt` lists: the shims of
    /// that containerd (in `k8s.io`) are the node's own. microk8s's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containerd_address: Option<String>,
}

/// A bundle read from disk.
#[derive(Debug)]
pub struct Bundle {
    /// Its folder.
    pub dir: PathBuf,
    /// `meta.json`.
    pub meta: Meta,
    node: NodeName,
    journal: Vec<JournalEntry>,
    service: Option<ServiceState>,
    samples: Vec<(Timestamp, Schedstat)>,
    shims: Option<Vec<ShimProcess>>,
    tasks: Option<Vec<Task>>,
    kubelet_pods: Option<Vec<PodRef>>,
    node_view: Option<NodeView>,
    nodes: Option<Vec<NodeView>>,
    pods: Option<Vec<PodView>>,
    dump: Option<GoroutineDump>,
    /// Files that were missing or did not parse.
    pub missing: Vec<String>,
}

/// The bundle could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// No `meta.json`, or not valid.
    #[error("{path}: {message}")]
    Meta {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn read(dir: &Path, file: &str, missing: &mut Vec<String>) -> Option<Vec<u8>> {
    match std::fs::read(dir.join(file)) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => {
            missing.push(format!("{file} (empty)"));
            None
        }
        Ok(b) => Some(b),
        Err(_) => {
            missing.push(file.to_string());
            None
        }
    }
}

fn parsed<T>(
    file: &str,
    bytes: Option<Vec<u8>>,
    f: impl Fn(&[u8]) -> Result<T, kubestall_node::ParseError>,
    missing: &mut Vec<String>,
) -> Option<T> {
    let b = bytes?;
    match f(&b) {
        Ok(v) => Some(v),
        Err(e) => {
            missing.push(format!("{file} ({e})"));
            None
        }
    }
}

/// Reads a bundle folder.
pub fn read_bundle(dir: &Path) -> Result<Bundle, BundleError> {
    let meta_path = dir.join("meta.json");
    let meta: Meta = std::fs::read(&meta_path)
        .map_err(|e| BundleError::Meta {
            path: meta_path.clone(),
            message: format!("{e}; a bundle needs meta.json with at least {{\"node\": \"NAME\"}}"),
        })
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| BundleError::Meta {
                path: meta_path.clone(),
                message: e.to_string(),
            })
        })?;
    let node = NodeName::new(meta.node.clone()).map_err(|e| BundleError::Meta {
        path: meta_path.clone(),
        message: e.to_string(),
    })?;
    let mut missing = Vec::new();
    let m = &mut missing;
    let mut journal_entries = Vec::new();
    for f in [
        "journal-kubelite.json",
        "journal-k8s-dqlite.json",
        "journal-containerd.json",
    ] {
        if let Some(mut j) = parsed(f, read(dir, f, m), journal::parse_any, m) {
            let unit = match f {
                "journal-kubelite.json" => Unit::Kubelite,
                "journal-k8s-dqlite.json" => Unit::K8sDqlite,
                _ => Unit::Containerd,
            };
            // The file was written with `journalctl -u UNIT`: everything in it is that unit's.
            for e in &mut j {
                e.unit = Some(unit.clone());
            }
            journal_entries.extend(j);
        }
    }
    journal_entries.sort_by_key(|e| e.at);
    let service = parsed(
        "service-kubelite.txt",
        read(dir, "service-kubelite.txt", m),
        systemctl::parse,
        m,
    );
    let times: Vec<Option<Timestamp>> = meta
        .schedstat_at
        .iter()
        .map(|t| Timestamp::parse_rfc3339(t))
        .collect();
    let mut samples = Vec::new();
    for (i, f) in ["schedstat-1.txt", "schedstat-2.txt"]
        .into_iter()
        .enumerate()
    {
        if let Some(s) = parsed(f, read(dir, f, m), schedstat::parse, m) {
            match times.get(i).copied().flatten() {
                Some(t) => samples.push((t, s)),
                None => m.push(format!("the time of {f} (meta.json schedstat_at)")),
            }
        }
    }
    let shims = parsed("shims.txt", read(dir, "shims.txt", m), pgrep::shims, m);
    let tasks = parsed("tasks.txt", read(dir, "tasks.txt", m), ctr::parse, m);
    let kubelet_pods = parsed(
        "kubelet-pods.json",
        read(dir, "kubelet-pods.json", m),
        kube::kubelet_pods,
        m,
    );
    let node_view = parsed("node.json", read(dir, "node.json", m), kube::node, m);
    let nodes = parsed("nodes.json", read(dir, "nodes.json", m), kube::nodes, m);
    let mut pods = parsed("pods.json", read(dir, "pods.json", m), kube::pods, m);
    if let (Some(p), Some(ev)) = (
        pods.as_mut(),
        parsed(
            "events.json",
            read(dir, "events.json", m),
            kube::kubelet_events,
            m,
        ),
    ) {
        for pod in p.iter_mut() {
            pod.kubelet_events = ev.get(&pod.pod).copied().unwrap_or(0);
        }
    }
    let dump = std::fs::read(dir.join("goroutines.txt"))
        .ok()
        .and_then(|b| goroutines::parse(&b).ok());
    Ok(Bundle {
        dir: dir.to_path_buf(),
        meta,
        node,
        journal: journal_entries,
        service,
        samples,
        shims,
        tasks,
        kubelet_pods,
        node_view,
        nodes,
        pods,
        dump,
        missing,
    })
}

/// A bundle seen as a node, at the time of one of its schedstat samples.
struct Snapshot<'a> {
    b: &'a Bundle,
    at: Mutex<usize>,
}

impl Snapshot<'_> {
    fn idx(&self) -> usize {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn absent(what: &'static str) -> NodeError {
        NodeError::NotSupported {
            backend: "bundle",
            operation: what,
        }
    }
}

impl Clock for Snapshot<'_> {
    fn now(&self) -> Timestamp {
        let i = self.idx();
        self.b
            .samples
            .get(i)
            .map(|s| s.0)
            .or_else(|| {
                self.b
                    .meta
                    .captured_at
                    .as_deref()
                    .and_then(Timestamp::parse_rfc3339)
            })
            .or_else(|| self.b.journal.last().map(|e| e.at))
            .unwrap_or_default()
    }
    async fn sleep(&self, _: Duration) {}
}

impl Observe for Snapshot<'_> {
    fn node_name(&self) -> &NodeName {
        &self.b.node
    }
    /// The containerd whose tasks the bundle lists: shims are judged against it.
    fn kubelet_runtime(&self) -> kubestall_node::KubeletRuntime {
        match &self.b.meta.containerd_address {
            Some(a) => kubestall_node::KubeletRuntime::at(a.clone()),
            None => kubestall_node::KubeletRuntime::microk8s(),
        }
    }
    /// A bundle is evidence, not a machine: it proves no identity.
    async fn identity(&self) -> Result<kubestall_node::NodeIdentity, NodeError> {
        Err(Self::absent(
            "the node's identity (a bundle cannot be acted on)",
        ))
    }
    async fn journal(&self, unit: &Unit, since: Timestamp) -> Result<Vec<JournalEntry>, NodeError> {
        let now = self.now();
        Ok(self
            .b
            .journal
            .iter()
            .filter(|e| e.unit.as_ref() == Some(unit) && e.at >= since && e.at <= now)
            .cloned()
            .collect())
    }
    async fn service(&self, unit: &Unit) -> Result<ServiceState, NodeError> {
        match unit {
            Unit::Kubelite => self
                .b
                .service
                .clone()
                .ok_or(Self::absent("service-kubelite.txt")),
            _ => Err(Self::absent("service state of that unit")),
        }
    }
    async fn schedstat(&self, pid: Pid) -> Result<Schedstat, NodeError> {
        self.b
            .samples
            .get(self.idx())
            .map(|s| s.1)
            .ok_or(NodeError::NoSuchProcess(pid))
    }
    async fn shims(&self) -> Result<Vec<ShimProcess>, NodeError> {
        self.b.shims.clone().ok_or(Self::absent("shims.txt"))
    }
    async fn tasks(&self) -> Result<Vec<Task>, NodeError> {
        self.b.tasks.clone().ok_or(Self::absent("tasks.txt"))
    }
    async fn processes(&self, _: &str) -> Result<Vec<ProcessInfo>, NodeError> {
        Err(Self::absent("process lists"))
    }
    async fn run_dir(&self, _: Pid, _: &str) -> Result<Vec<String>, NodeError> {
        Err(Self::absent("/proc/PID/root/run"))
    }
    async fn node(&self) -> Result<NodeView, NodeError> {
        self.b.node_view.clone().ok_or(Self::absent("node.json"))
    }
    async fn nodes(&self) -> Result<Vec<NodeView>, NodeError> {
        self.b.nodes.clone().ok_or(Self::absent("nodes.json"))
    }
    async fn pods(&self) -> Result<Vec<PodView>, NodeError> {
        self.b.pods.clone().ok_or(Self::absent("pods.json"))
    }
    async fn kubelet_pods(&self) -> Result<Vec<PodRef>, NodeError> {
        self.b
            .kubelet_pods
            .clone()
            .ok_or(Self::absent("kubelet-pods.json"))
    }
    async fn goroutine_dump(&self) -> Result<Option<GoroutineDump>, NodeError> {
        Ok(self.b.dump.clone())
    }
}

fn poll_now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

impl Bundle {
    /// The signals this bundle holds, for the verdict; `stuck` is filled by the caller.
    fn coverage(&self) -> Coverage {
        Coverage {
            kubelite_journal: self.journal.iter().any(|e| e.unit == Some(Unit::Kubelite)),
            pods: self.pods.is_some() && self.node_view.is_some(),
            stuck: 0,
            kubelet_pods: self.kubelet_pods.is_some(),
            schedstat: self.samples.len() >= 2,
            shims_and_tasks: self.shims.is_some() && self.tasks.is_some(),
            service: self.service.is_some(),
        }
    }
}

fn modes(findings: &[Finding]) -> Vec<kubestall_node::FailureMode> {
    findings.iter().map(|f| f.mode).collect()
}

/// Classifies a bundle: the live detectors, polled once per schedstat sample.
/// Without the API's view (`node.json`, `pods.json`) it falls back to the journal.
/// The verdict says "cannot tell" for every mode the bundle could not rule out.
pub fn classify_bundle(b: &Bundle) -> DetectReport {
    let mut coverage = b.coverage();
    if b.node_view.is_none() || b.pods.is_none() || b.service.is_none() {
        let kubelite: Vec<JournalEntry> = b
            .journal
            .iter()
            .filter(|e| e.unit == Some(Unit::Kubelite))
            .cloned()
            .collect();
        let (findings, mut missing) = classify_journal_entries(&b.node, &kubelite);
        missing.extend(b.missing.iter().cloned());
        missing.sort();
        missing.dedup();
        let undecided = verdict::undecided(&coverage, &modes(&findings), b.node.as_str());
        return DetectReport::new(b.node.to_string(), findings, undecided, missing);
    }
    let snap = Snapshot {
        b,
        at: Mutex::new(0),
    };
    let cfg = DetectorConfig {
        goroutine_dump: b.dump.is_some(),
        ..DetectorConfig::default()
    };
    let mut monitor = NodeMonitor::new(b.node.clone(), cfg);
    let mut findings = Vec::new();
    let polls = b.samples.len().max(1);
    for i in 0..polls {
        *snap.at.lock().unwrap_or_else(|p| p.into_inner()) = i;
        match poll_now(monitor.poll(&snap)) {
            Ok(f) => findings.extend(f),
            Err(e) => {
                let mut missing = b.missing.clone();
                missing.push(e.to_string());
                let undecided = verdict::undecided(&Coverage::default(), &[], b.node.as_str());
                return DetectReport::new(b.node.to_string(), Vec::new(), undecided, missing);
            }
        }
    }
    for f in &mut findings {
        f.missing_signals.extend(b.missing.iter().cloned());
    }
    if let Some(pods) = &b.pods {
        coverage.stuck = monitor.stuck_pods(pods, snap.now()).len();
    }
    let undecided = verdict::undecided(&coverage, &modes(&findings), b.node.as_str());
    DetectReport::new(b.node.to_string(), findings, undecided, b.missing.clone())
}

/// Classifies a journal export alone (any format [`journal::parse_with`] reads,
/// any units). With no pods, schedstat or shims, the findings say what was missing
/// and carry a lower confidence, and the pod stalls cannot be ruled out.
pub fn classify_journal(
    node: Option<&str>,
    bytes: &[u8],
    opts: journal::ReadOptions,
) -> Result<DetectReport, kubestall_node::ParseError> {
    let entries = journal::parse_with(bytes, opts)?;
    let given = node
        .map(str::to_string)
        .or_else(|| entries.iter().find_map(|e| e.hostname.clone()));
    let name = given
        .as_deref()
        .and_then(|n| NodeName::new(n).ok())
        .ok_or_else(|| {
            kubestall_node::ParseError::new(
                "journal export",
                1,
                "no valid node name in the export (_HOSTNAME); give one with --node NAME",
                given.as_deref().unwrap_or(""),
            )
        })?;
    // A short-iso export carries no unit; kubelite's lines are told by their identifier.
    let kubelite: Vec<JournalEntry> = entries
        .into_iter()
        .filter(|e| {
            e.unit == Some(Unit::Kubelite)
                || e.identifier
                    .as_deref()
                    .is_some_and(|i| i.contains("kubelite"))
        })
        .collect();
    let coverage = Coverage {
        kubelite_journal: !kubelite.is_empty(),
        ..Coverage::default()
    };
    let (findings, missing) = classify_journal_entries(&name, &kubelite);
    let undecided = verdict::undecided(&coverage, &modes(&findings), name.as_str());
    Ok(DetectReport::new(
        name.to_string(),
        findings,
        undecided,
        missing,
    ))
}

/// The journal's findings, and the signals a journal alone lacks.
fn classify_journal_entries(
    node: &NodeName,
    entries: &[JournalEntry],
) -> (Vec<Finding>, Vec<String>) {
    let missing_all = vec![
        "pods and their events (kubectl)".to_string(),
        "schedstat samples".into(),
        "shim and task counts".into(),
        "the kubelet's /pods".into(),
    ];
    let src = "journalctl -u snap.microk8s.daemon-kubelite".to_string();
    // The last kubelite run: from its last start (its pid changes, or a startup line).
    let last_pid = entries.iter().rev().find_map(|e| e.pid);
    let run: Vec<&JournalEntry> = entries
        .iter()
        .filter(|e| last_pid.is_none() || e.pid == last_pid)
        .collect();
    let kinds: Vec<(Timestamp, LineKind, &str)> = run
        .iter()
        .map(|e| (e.at, classify_line(&e.message), e.message.as_str()))
        .collect();
    let mut findings = Vec::new();
    let base =
        |mode, confidence: f64, at: Timestamp, evidence: Vec<Evidence>, missing: Vec<String>| {
            Finding {
                node: node.clone(),
                mode,
                confidence,
                evidence,
                at,
                procedure: kubestall_node::FailureMode::id(mode),
                missing_signals: missing,
                kine_errors: false,
                silent_since: None,
                pleg_since: None,
                kine_retries: Vec::new(),
            }
        };
    let Some(end) = kinds.last().map(|k| k.0) else {
        return (findings, vec!["kubelite journal entries".into()]);
    };
    let attempts: Vec<u32> = kinds
        .iter()
        .filter_map(|(_, k, _)| {
            if let LineKind::KineRetry(a) = k {
                Some(*a)
            } else {
                None
            }
        })
        .collect();
    if attempts.len() >= 5 && attempts.windows(2).filter(|w| w[1] > w[0]).count() + 1 >= 5 {
        let max = attempts.iter().max().copied().unwrap_or(0);
        let mut f = base(
            kubestall_node::FailureMode::KineExhaustion,
            0.8,
            end,
            vec![Evidence::new(
                "journal",
                format!(
                    "{} `retrying of unary invoker failed` lines, attempt up to {max}",
                    attempts.len()
                ),
                format!("{src} | grep 'retrying of unary invoker'"),
            )],
            missing_all.clone(),
        );
        f.kine_errors = true;
        findings.push(f);
    }
    if let Some((at, _, line)) = kinds
        .iter()
        .rev()
        .find(|(_, k, _)| *k == LineKind::PlegLastSeenActive)
    {
        let generic = line.contains("threshold is");
        let mode = if generic {
            kubestall_node::FailureMode::PlegStall
        } else {
            kubestall_node::FailureMode::ContainerdFreeze
        };
        findings.push(base(
            mode,
            0.7,
            *at,
            vec![Evidence::new("journal-line", line.to_string(), src.clone())],
            missing_all.clone(),
        ));
    }
    let registered = kinds
        .iter()
        .rposition(|(_, k, _)| *k == LineKind::Registered);
    let activity_after = |i: usize| {
        kinds[i + 1..]
            .iter()
            .any(|(_, k, _)| matches!(k, LineKind::Other | LineKind::PodWork(_)))
    };
    if let Some(i) = kinds
        .iter()
        .rposition(|(_, k, _)| *k == LineKind::ImagefsSignature)
        && !activity_after(i)
        && findings.is_empty()
    {
        let (at, _, line) = kinds[i];
        findings.push(base(
            kubestall_node::FailureMode::ImagefsStall,
            0.5,
            at,
            vec![
                Evidence::new("journal-line", line.to_string(), format!("{src} | grep -i \"imagefs\\|eviction manager\"")),
                Evidence::new("journal", format!("no kubelite output after it, to the end of the export ({})", end.rfc3339()), src.clone()),
            ],
            [missing_all.clone(), vec!["how long the export runs past the signature (a healthy node prints the same line at startup)".into()]].concat(),
        ));
    }
    if let Some(r) = registered
        && findings.is_empty()
        && !activity_after(r)
        && kinds[r + 1..]
            .iter()
            .all(|(_, k, _)| matches!(k, LineKind::GoroutineDump | LineKind::Startup))
    {
        findings.push(base(
            kubestall_node::FailureMode::PlegStall,
            0.35,
            kinds[r].0,
            vec![Evidence::new(
                "journal",
                "only startup lines, ending with \"Successfully registered node\", then silence to the end of the export".to_string(),
                format!("{src} -n 5 --no-pager"),
            )],
            [missing_all.clone(), vec!["how long the silence lasted (the export does not say when it was taken)".into()]].concat(),
        ));
    }
    let text: String = run.iter().map(|e| format!("{}\n", e.message)).collect();
    if let Ok(d) = goroutines::parse(text.as_bytes())
        && let Some(g) = d
            .blocked_in("handleAnyWatch")
            .find(|g| g.minutes.unwrap_or(0) >= 1)
        && findings.is_empty()
    {
        findings.push(base(
            kubestall_node::FailureMode::WatchStall,
            0.5,
            end,
            vec![Evidence::new(
                "goroutine-dump",
                format!(
                    "goroutine {} [{}, {} minutes] in handleAnyWatch",
                    g.id,
                    g.state,
                    g.minutes.unwrap_or(0)
                ),
                format!("{src} | grep -A5 handleAnyWatch"),
            )],
            missing_all.clone(),
        ));
    }
    (findings, missing_all)
}
