//! Scenario files: what cluster to bring up, what workload to run, which faults to
//! inject when, and what must then be true.
//!
//! A scenario is YAML (`scenarios/*.yaml`) checked against these types: unknown
//! keys are errors, every error names the file, line and column, and a JSON Schema
//! generated from the types is committed at `scenarios/schema.json`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use kubestall_node::{FailureMode, NodeName, Pleg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Dur;

/// One scenario: a story from the runbook, told to a backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short id: lowercase letters, digits and `-` (used in reports and `--scenario`).
    pub name: String,
    /// What the scenario shows, in the runbook's words.
    pub description: String,
    /// The cluster to bring up.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Pods created over time, each aimed at one node.
    #[serde(default)]
    pub workload: Vec<WorkloadSpec>,
    /// Faults, each at a time from the start of the run.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// What kubestall does when it finds something.
    #[serde(default)]
    pub remediation: RemediationSpec,
    /// What must be true.
    #[serde(default)]
    pub expect: Expectations,
    /// The run ends at this time (backend clock) even if not everything happened.
    #[serde(default = "defaults::duration")]
    pub duration: Dur,
}

/// The cluster: nodes, versions, feature gates, and how pods behave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Node names (RFC 1123). The runbook's cluster: k8s01, k8s02, k8s03.
    #[serde(default = "defaults::nodes")]
    pub nodes: Vec<NodeName>,
    /// microk8s version before any upgrade fault.
    #[serde(default = "defaults::microk8s")]
    pub microk8s: String,
    /// containerd version before any upgrade fault (microk8s 1.34 ships 1.7.x).
    #[serde(default = "defaults::containerd")]
    pub containerd: String,
    /// kubelet feature gates, as `--feature-gates` takes them.
    #[serde(default)]
    pub feature_gates: FeatureGates,
    /// Pods already running on each node when the run starts.
    #[serde(default = "defaults::pods_per_node")]
    pub pods_per_node: u32,
    /// Typical time from the kubelet seeing a pod to the pod Running.
    #[serde(default = "defaults::pod_start")]
    pub pod_start: Dur,
    /// How long a kubelite start takes until the node registers.
    #[serde(default = "defaults::kubelite_startup")]
    pub kubelite_startup: Dur,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            nodes: defaults::nodes(),
            microk8s: defaults::microk8s(),
            containerd: defaults::containerd(),
            feature_gates: FeatureGates::default(),
            pods_per_node: defaults::pods_per_node(),
            pod_start: defaults::pod_start(),
            kubelite_startup: defaults::kubelite_startup(),
        }
    }
}

/// kubelet feature gates kubestall models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureGates {
    /// `EventedPLEG=true`: CRI events and a 300 s resync instead of the 1 s relist.
    #[serde(rename = "EventedPLEG", default)]
    pub evented_pleg: bool,
}

impl ClusterSpec {
    /// The PLEG the kubelets run.
    pub fn pleg(&self) -> Pleg {
        if self.feature_gates.evented_pleg {
            Pleg::Evented
        } else {
            Pleg::Generic
        }
    }
}

/// Pods created at a steady rate, pinned to one node (by node affinity, so the
/// scheduler binds them only there, and only while it is Ready and schedulable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The node the pods are for.
    pub node: NodeName,
    /// One pod every this long.
    pub every: Dur,
    /// The first pod at this time.
    #[serde(default)]
    pub from: Dur,
    /// No pods after this time.
    pub until: Dur,
    /// Namespace of the pods.
    #[serde(default = "defaults::namespace")]
    pub namespace: String,
    /// Pod names are `PREFIX-N`.
    #[serde(default = "defaults::prefix")]
    pub prefix: String,
}

/// A timing a scenario lets `kubestall sweep` vary: from, to, by step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// The first value.
    pub from: Dur,
    /// The last value (inclusive).
    pub to: Dur,
    /// The step.
    pub step: Dur,
}

/// A fault, written as a one-key map: `- restart-kubelite: { at: 2m, node: k8s03 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Upgrade containerd (a snap refresh to microk8s 1.35 brings containerd 2.1.3,
    /// whose imagefs label surface the kubelet's eviction manager cannot resolve).
    /// Restarts the node's services as a refresh does.
    UpgradeContainerd {
        /// When.
        at: Dur,
        /// Where.
        node: NodeName,
        /// The new containerd version.
        #[serde(default = "defaults::upgraded_containerd")]
        version: String,
        /// The new microk8s version.
        #[serde(default = "defaults::upgraded_microk8s")]
        microk8s: String,
    },
    /// `systemctl restart snap.microk8s.daemon-kubelite`, cordoned first or not.
    RestartKubelite {
        /// When.
        at: Dur,
        /// Where.
        node: NodeName,
        /// Cordon before and uncordon after the node is Ready again (the runbook's procedure).
        #[serde(default)]
        cordon: bool,
        /// Let `kubestall sweep` vary `at` over this range.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sweep: Option<Sweep>,
    },
    /// Several kubelite restarts in a row (an incident-recovery session).
    RestartStorm {
        /// When the first restart happens.
        at: Dur,
        /// Where.
        node: NodeName,
        /// How many restarts.
        restarts: u32,
        /// Time between restarts.
        interval: Dur,
        /// Cordon for the storm and uncordon after the last restart, as an
        /// incident-recovery session following the runbook does.
        #[serde(default = "defaults::yes")]
        cordon: bool,
    },
    /// Shims whose containers have exited but whose processes live on.
    OrphanShims {
        /// When.
        at: Dur,
        /// Where.
        node: NodeName,
        /// How many.
        count: u32,
        /// How many of them sit behind a live container's shim (containerd 2.x
        /// shim sharing), where no comparison of ids finds them.
        #[serde(default)]
        shared: u32,
    },
    /// `systemctl restart snap.microk8s.daemon-k8s-dqlite` (healthy on its own).
    RestartK8sDqlite {
        /// When.
        at: Dur,
        /// Where.
        node: NodeName,
    },
    /// containerd's gRPC server stops answering (the whole runtime service).
    FreezeContainerd {
        /// When.
        at: Dur,
        /// Where.
        node: NodeName,
    },
    /// Run a lock-using service in a pod (buildkitd with its lock file), so that an
    /// abrupt kill of its container can leave an orphan holding the lock.
    LockService {
        /// When.
        at: Dur,
        /// Where.
        node: NodeName,
        /// The program.
        #[serde(default = "defaults::lock_app")]
        app: String,
        /// The lock file it holds.
        #[serde(default = "defaults::lock_file")]
        lock: String,
    },
}

impl FaultSpec {
    /// When the fault happens.
    pub fn at(&self) -> Dur {
        match self {
            FaultSpec::UpgradeContainerd { at, .. }
            | FaultSpec::RestartKubelite { at, .. }
            | FaultSpec::RestartStorm { at, .. }
            | FaultSpec::OrphanShims { at, .. }
            | FaultSpec::RestartK8sDqlite { at, .. }
            | FaultSpec::FreezeContainerd { at, .. }
            | FaultSpec::LockService { at, .. } => *at,
        }
    }

    /// Where the fault happens.
    pub fn node(&self) -> &NodeName {
        match self {
            FaultSpec::UpgradeContainerd { node, .. }
            | FaultSpec::RestartKubelite { node, .. }
            | FaultSpec::RestartStorm { node, .. }
            | FaultSpec::OrphanShims { node, .. }
            | FaultSpec::RestartK8sDqlite { node, .. }
            | FaultSpec::FreezeContainerd { node, .. }
            | FaultSpec::LockService { node, .. } => node,
        }
    }

    /// The fault's key in the file (`restart-kubelite`).
    pub fn kind(&self) -> &'static str {
        match self {
            FaultSpec::UpgradeContainerd { .. } => "upgrade-containerd",
            FaultSpec::RestartKubelite { .. } => "restart-kubelite",
            FaultSpec::RestartStorm { .. } => "restart-storm",
            FaultSpec::OrphanShims { .. } => "orphan-shims",
            FaultSpec::RestartK8sDqlite { .. } => "restart-k8s-dqlite",
            FaultSpec::FreezeContainerd { .. } => "freeze-containerd",
            FaultSpec::LockService { .. } => "lock-service",
        }
    }

    /// A copy happening at `at` instead.
    pub fn at_time(&self, at: Dur) -> FaultSpec {
        let mut f = self.clone();
        match &mut f {
            FaultSpec::UpgradeContainerd { at: a, .. }
            | FaultSpec::RestartKubelite { at: a, .. }
            | FaultSpec::RestartStorm { at: a, .. }
            | FaultSpec::OrphanShims { at: a, .. }
            | FaultSpec::RestartK8sDqlite { at: a, .. }
            | FaultSpec::FreezeContainerd { at: a, .. }
            | FaultSpec::LockService { at: a, .. } => *a = at,
        }
        f
    }
}

/// What kubestall does once a detector finds something.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemediationSpec {
    /// Only detect; never act.
    #[serde(default)]
    pub detect_only: bool,
    /// Let a PLEG stall that persists escalate to the nuclear option
    /// (stop kubelite, kill all shims, restart k8s-dqlite, start kubelite).
    #[serde(default)]
    pub allow_nuclear: bool,
    /// Fix an imagefs stall with an emergency restart, without cordoning first:
    /// the runbook warns this re-creates the watch stall for pods scheduled meanwhile.
    #[serde(default)]
    pub emergency_restart: bool,
}

/// What must be true at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Findings that must be made, in order. Empty: the node must stay healthy
    /// and nothing may be found.
    #[serde(default)]
    pub findings: Vec<ExpectedFinding>,
    /// Every pod must be Running this long after the last fault (or after the
    /// last remediation, when there is one).
    #[serde(default = "defaults::pods_running_within")]
    pub pods_running_within: Dur,
    /// Any finding not listed above fails the run.
    #[serde(default = "defaults::yes")]
    pub no_other_findings: bool,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            findings: Vec::new(),
            pods_running_within: defaults::pods_running_within(),
            no_other_findings: true,
        }
    }
}

/// A finding that must be made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    /// The failure mode.
    pub mode: FailureMode,
    /// The node.
    pub node: NodeName,
    /// Found at most this long after the first stuck pod (or after the fault,
    /// when no pod gets stuck).
    #[serde(default = "defaults::detect_within")]
    pub detect_within: Dur,
    /// Every pod on the node Running at most this long after the finding.
    #[serde(default = "defaults::recover_within")]
    pub recover_within: Dur,
    /// Expected only when the kubelets run this PLEG (`generic` or `evented`);
    /// under the other, the scenario expects it not to happen. Lets one scenario
    /// be judged under both (`kubestall run --pleg both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pleg: Option<Pleg>,
}

/// Defaults, from the runbook where it gives a number.
mod defaults {
    use super::*;

    pub fn nodes() -> Vec<NodeName> {
        ["k8s01", "k8s02", "k8s03"]
            .into_iter()
            .filter_map(|n| NodeName::new(n).ok())
            .collect()
    }
    pub fn microk8s() -> String {
        "1.34".into()
    }
    pub fn containerd() -> String {
        "1.7.27".into()
    }
    pub fn upgraded_containerd() -> String {
        "2.1.3".into()
    }
    pub fn upgraded_microk8s() -> String {
        "1.35".into()
    }
    pub fn pods_per_node() -> u32 {
        10
    }
    pub fn pod_start() -> Dur {
        Dur::secs(3)
    }
    pub fn kubelite_startup() -> Dur {
        Dur::secs(5)
    }
    pub fn namespace() -> String {
        "default".into()
    }
    pub fn prefix() -> String {
        "web".into()
    }
    pub fn lock_app() -> String {
        "buildkitd".into()
    }
    pub fn lock_file() -> String {
        "/var/lib/buildkit/buildkitd.lock".into()
    }
    pub fn duration() -> Dur {
        Dur::secs(20 * 60)
    }
    /// Detection target of the detectors issue: at most 30 s from the first stuck pod.
    pub fn detect_within() -> Dur {
        Dur::secs(30)
    }
    /// The runbook: node Ready within 120 s, then pods schedule within about 60 s.
    pub fn recover_within() -> Dur {
        Dur::secs(180)
    }
    pub fn pods_running_within() -> Dur {
        Dur::secs(5 * 60)
    }
    pub fn yes() -> bool {
        true
    }
}

/// A scenario file that could not be read or is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error("{}", .0)]
    Invalid(Box<Invalid>),
}

/// Where a scenario file is wrong, what is wrong, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
    /// What is wrong.
    pub message: String,
    /// What to change.
    pub hint: Option<String>,
    /// The offending line of the file.
    pub source_line: Option<String>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let (Some(text), Some(line)) = (&self.source_line, self.line) {
            let gutter = line.to_string().len();
            write!(f, "\n{:gutter$} |\n{line} | {text}", "")?;
            if let Some(col) = self.column {
                let pad = (col as usize).saturating_sub(1);
                write!(f, "\n{:gutter$} | {:pad$}^", "", "")?;
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  help: {hint}")?;
        }
        Ok(())
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses and checks scenario text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let invalid =
            |line: Option<u32>, column: Option<u32>, message: String, hint: Option<String>| {
                let source_line = line
                    .and_then(|l| text.lines().nth(l as usize - 1))
                    .map(str::to_string);
                ScenarioError::Invalid(Box::new(Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message,
                    hint,
                    source_line,
                }))
            };
        let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| {
            let loc = e.location();
            let message = plain_message(&e);
            let hint = hint_for(&message);
            invalid(
                loc.and_then(|l| u32::try_from(l.line()).ok()),
                loc.and_then(|l| u32::try_from(l.column()).ok()),
                message,
                hint,
            )
        })?;
        scenario.check().map_err(|(needle, message, hint)| {
            let (line, column) = locate(text, &needle);
            invalid(line, column, message, Some(hint))
        })?;
        Ok(scenario)
    }

    /// Checks what the types cannot: references between parts of the file.
    /// On failure: a text to find in the file, the message and the hint.
    fn check(&self) -> Result<(), (String, String, String)> {
        let slug = !self.name.is_empty()
            && self.name.len() <= 63
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug {
            return Err((
                format!("name: {}", self.name),
                format!("scenario name {:?} is not an id", self.name),
                "use lowercase letters, digits and `-`, e.g. `watch-stall-restart-without-cordon`"
                    .into(),
            ));
        }
        let nodes: BTreeSet<&NodeName> = self.cluster.nodes.iter().collect();
        if nodes.is_empty() {
            return Err((
                "nodes:".into(),
                "the cluster has no nodes".into(),
                "list at least one node, e.g. `nodes: [k8s01, k8s02, k8s03]`".into(),
            ));
        }
        if nodes.len() != self.cluster.nodes.len() {
            return Err((
                "nodes:".into(),
                "a node is listed twice in cluster.nodes".into(),
                "give each node once".into(),
            ));
        }
        let known = |n: &NodeName, what: &str| -> Result<(), (String, String, String)> {
            if nodes.contains(n) {
                Ok(())
            } else {
                Err((
                    n.to_string(),
                    format!("{what} names node \"{n}\", which is not in cluster.nodes"),
                    format!(
                        "use one of: {}",
                        self.cluster
                            .nodes
                            .iter()
                            .map(|n| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        };
        for w in &self.workload {
            known(&w.node, "a workload")?;
            if w.every.0.is_zero() {
                return Err((
                    "every:".into(),
                    "a workload's `every` is zero".into(),
                    "give the time between pods, e.g. `every: 2s`".into(),
                ));
            }
            if w.until <= w.from {
                return Err((
                    "until:".into(),
                    format!(
                        "a workload ends ({}) before it starts ({})",
                        w.until, w.from
                    ),
                    "make `until` later than `from`".into(),
                ));
            }
        }
        for f in &self.faults {
            known(f.node(), &format!("fault {}", f.kind()))?;
            if f.at() > self.duration {
                return Err((
                    f.kind().into(),
                    format!(
                        "fault {} at {} is after the run ends ({})",
                        f.kind(),
                        f.at(),
                        self.duration
                    ),
                    "move the fault earlier or raise `duration`".into(),
                ));
            }
            if let FaultSpec::RestartKubelite { sweep: Some(s), .. } = f
                && (s.step.0.is_zero() || s.to < s.from)
            {
                return Err((
                    "sweep:".into(),
                    "a sweep needs from <= to and a step above zero".into(),
                    "e.g. `sweep: { from: 50s, to: 70s, step: 1s }`".into(),
                ));
            }
        }
        for e in &self.expect.findings {
            known(&e.node, &format!("expected finding {}", e.mode))?;
        }
        Ok(())
    }

    /// The PLEG the scenario's kubelets run.
    pub fn pleg(&self) -> Pleg {
        self.cluster.pleg()
    }

    /// The same scenario with EventedPLEG set as given, and the expectations that
    /// hold under that PLEG.
    pub fn with_pleg(&self, pleg: Pleg) -> Scenario {
        let mut s = self.clone();
        s.cluster.feature_gates.evented_pleg = pleg == Pleg::Evented;
        s.expect
            .findings
            .retain(|f| f.pleg.is_none_or(|p| p == pleg));
        s
    }
}

/// serde-saphyr's message without its own rendering of the location (we render it).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or_default();
    let msg = first.strip_prefix("error: ").unwrap_or(first);
    // "line 2 column 1: unknown field ..." -> "unknown field ..."
    match msg.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// A hint for serde's messages: the closest known key or variant to a typo.
fn hint_for(message: &str) -> Option<String> {
    for kind in ["unknown field", "unknown variant"] {
        let Some(rest) = message.strip_prefix(kind) else {
            continue;
        };
        let got = rest.split('`').nth(1)?;
        let expected: Vec<&str> = rest
            .split_once("expected one of ")
            .or_else(|| rest.split_once("expected "))
            .map(|(_, list)| list.split(", ").map(|s| s.trim_matches('`')).collect())
            .unwrap_or_default();
        let best = expected
            .iter()
            .map(|cand| (edit_distance(got, cand), *cand))
            .min()
            .filter(|(d, cand)| *d <= 2.max(cand.len() / 3));
        let noun = if kind == "unknown field" {
            "key"
        } else {
            "value"
        };
        return Some(match best {
            Some((_, cand)) => format!("did you mean `{cand}`?"),
            None if !expected.is_empty() => {
                format!("a valid {noun} here is one of: {}", expected.join(", "))
            }
            None => "see `kubestall schema` for what is allowed here".into(),
        });
    }
    // Our own messages (durations, names) already say what a valid value looks like.
    if message.contains("such as") {
        return None;
    }
    if message == "expected string scalar" {
        return Some("this key takes a single value (a string, duration or name), not a list or map; see `kubestall schema`".into());
    }
    if message.starts_with("invalid") || message.contains("expected") {
        return Some("see `kubestall schema` for the type each key takes".into());
    }
    None
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The first line and column where `needle` appears outside a comment.
fn locate(text: &str, needle: &str) -> (Option<u32>, Option<u32>) {
    for (i, line) in text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        if let Some(col) = code.find(needle) {
            return (Some(i as u32 + 1), Some(col as u32 + 1));
        }
    }
    (None, None)
}

/// The JSON Schema of scenario files, as committed at `scenarios/schema.json`.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The scenario files under `path` (a file, or a folder searched for `*.yaml`/`*.yml`), sorted.
pub fn scenario_files(path: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path).map_err(|source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}
