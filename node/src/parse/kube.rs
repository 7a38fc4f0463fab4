//! The Kubernetes API's JSON as `kubectl get ... -o json` and the kubelet's
//! `/pods` print it: PodList, Node, NodeList, EventList. Only the fields the
//! runbook reads are modelled.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::ParseError;
use crate::name::{NodeName, PodRef};
use crate::signals::{NodeView, PodPhase, PodView};
use crate::time::Timestamp;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    name: String,
    namespace: String,
    #[serde(rename = "creationTimestamp")]
    creation: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    reason: Option<String>,
    message: Option<String>,
    #[serde(rename = "lastTransitionTime")]
    transition: Option<String>,
    #[serde(rename = "lastHeartbeatTime")]
    heartbeat: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodSpec {
    #[serde(rename = "nodeName")]
    node_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodStatus {
    phase: Option<String>,
    #[serde(rename = "startTime")]
    start_time: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    conditions: Vec<Condition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Pod {
    metadata: Meta,
    spec: PodSpec,
    status: PodStatus,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct List<T> {
    // The kubelet's `/pods` encodes a node without pods as `"items": null`.
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    items: Vec<T>,
}

/// Go's encoding/json writes a nil slice as `null`: read it as an empty list.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeSpec {
    unschedulable: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeStatus {
    #[serde(deserialize_with = "null_as_empty")]
    conditions: Vec<Condition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Node {
    metadata: Meta,
    spec: NodeSpec,
    status: NodeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ObjectRef {
    kind: String,
    name: String,
    namespace: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Source {
    component: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Event {
    #[serde(rename = "involvedObject")]
    involved: ObjectRef,
    source: Source,
    #[serde(rename = "reportingComponent")]
    reporting: String,
    count: Option<u32>,
}

const KUBELET_PODS: &str = "kubelet /pods JSON";

/// What to do when the kubelet refuses `/pods`.
const KUBELET_AUTH_HINT: &str = "the kubelet refuses this client: ask through the \
     API server (`kubectl get --raw /api/v1/nodes/NODE/proxy/pods`, which kubestall does \
     itself), or pass curl the client certificate the API server uses for kubelets \
     (`--kubelet-client-certificate` and `--kubelet-client-key` in \
     /var/snap/microk8s/current/args/kube-apiserver)";

/// What to do when the API server refuses a request.
const API_AUTH_HINT: &str = "check the kubeconfig and context kubectl uses";

/// A plain-text answer where JSON was expected: the kubelet and the API server
/// answer 401 with `Unauthorized` and 403 with `Forbidden (user=..., ...)`, and
/// curl prints that body as if it were the document. Say so instead of reporting
/// a JSON syntax error at column 1.
fn refused(what: &'static str, input: &[u8]) -> Option<ParseError> {
    let status = refusal(input)?;
    let text = String::from_utf8_lossy(input);
    let first = text.trim_start().lines().next().unwrap_or("").trim_end();
    let line = text
        .lines()
        .position(|l| !l.trim().is_empty())
        .map_or(1, |i| i + 1);
    let hint = if what == KUBELET_PODS {
        KUBELET_AUTH_HINT
    } else {
        API_AUTH_HINT
    };
    let message = match status {
        401 => format!("the request was unauthorized (HTTP 401): {hint}"),
        _ => format!("the request was forbidden (HTTP 403): {hint}"),
    };
    Some(ParseError::new(what, line, message, first))
}

/// The HTTP status of a plain-text refusal where JSON was expected: 401 for
/// `Unauthorized`, 403 for `Forbidden (user=..., ...)`, as the kubelet and the API
/// server write them; `None` for anything else.
pub fn refusal(input: &[u8]) -> Option<u16> {
    let first = input
        .trim_ascii_start()
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default()
        .trim_ascii_end();
    if first == b"Unauthorized" || first.starts_with(b"Unauthorized:") {
        Some(401)
    } else if first.starts_with(b"Forbidden") {
        Some(403)
    } else {
        None
    }
}

fn json<'a, T: Deserialize<'a>>(what: &'static str, input: &'a [u8]) -> Result<T, ParseError> {
    if let Some(e) = refused(what, input) {
        return Err(e);
    }
    serde_json::from_slice(input).map_err(|e| {
        let text = String::from_utf8_lossy(input);
        let line = e.line().max(1);
        ParseError::new(
            what,
            line,
            e.to_string(),
            text.lines().nth(line - 1).unwrap_or(""),
        )
    })
}

fn time(s: &Option<String>) -> Option<Timestamp> {
    s.as_deref().and_then(Timestamp::parse_rfc3339)
}

/// `kubectl get pods -o json` (a PodList) into the pods' views. `kubelet_events`
/// is 0: pods do not carry their events; fill it from [`kubelet_events`].
pub fn pods(input: &[u8]) -> Result<Vec<PodView>, ParseError> {
    const WHAT: &str = "PodList JSON";
    let list: List<Pod> = json(WHAT, input)?;
    list.items
        .into_iter()
        .map(|p| {
            let node = match p.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
                Some(n) => {
                    Some(NodeName::new(n).map_err(|e| ParseError::new(WHAT, 1, e.to_string(), n))?)
                }
                None => None,
            };
            let phase = match p.status.phase.as_deref() {
                Some("Running") => PodPhase::Running,
                Some("Succeeded") => PodPhase::Succeeded,
                Some("Failed") => PodPhase::Failed,
                Some("Unknown") => PodPhase::Unknown,
                _ => PodPhase::Pending,
            };
            let scheduled_at = p
                .status
                .conditions
                .iter()
                .find(|c| c.kind == "PodScheduled" && c.status == "True")
                .and_then(|c| time(&c.transition));
            Ok(PodView {
                pod: PodRef::new(p.metadata.namespace, p.metadata.name),
                node,
                phase,
                created_at: time(&p.metadata.creation).unwrap_or_default(),
                scheduled_at,
                started_at: time(&p.status.start_time),
                kubelet_events: 0,
            })
        })
        .collect()
}

/// The kubelet's `/pods` (a PodList): which pods the kubelet knows.
pub fn kubelet_pods(input: &[u8]) -> Result<Vec<PodRef>, ParseError> {
    let list: List<Pod> = json(KUBELET_PODS, input)?;
    Ok(list
        .items
        .into_iter()
        .map(|p| PodRef::new(p.metadata.namespace, p.metadata.name))
        .collect())
}

fn node_view(n: Node) -> Result<NodeView, ParseError> {
    let name = NodeName::new(n.metadata.name.clone())
        .map_err(|e| ParseError::new("Node JSON", 1, e.to_string(), &n.metadata.name))?;
    let ready = n.status.conditions.iter().find(|c| c.kind == "Ready");
    Ok(NodeView {
        name,
        ready: ready.is_some_and(|c| c.status == "True"),
        ready_reason: ready.and_then(|c| c.reason.clone()),
        ready_message: ready.and_then(|c| c.message.clone()),
        unschedulable: n.spec.unschedulable,
        heartbeat: ready.and_then(|c| time(&c.heartbeat)),
    })
}

/// `kubectl get node NAME -o json`.
pub fn node(input: &[u8]) -> Result<NodeView, ParseError> {
    node_view(json("Node JSON", input)?)
}

/// `kubectl get nodes -o json`.
pub fn nodes(input: &[u8]) -> Result<Vec<NodeView>, ParseError> {
    let list: List<Node> = json("NodeList JSON", input)?;
    list.items.into_iter().map(node_view).collect()
}

/// `kubectl get events -A -o json`: how many events the kubelet recorded per pod.
pub fn kubelet_events(input: &[u8]) -> Result<BTreeMap<PodRef, u32>, ParseError> {
    let list: List<Event> = json("EventList JSON", input)?;
    let mut out = BTreeMap::new();
    for e in list.items {
        if e.involved.kind != "Pod" || (e.source.component != "kubelet" && e.reporting != "kubelet")
        {
            continue;
        }
        *out.entry(PodRef::new(e.involved.namespace, e.involved.name))
            .or_default() += e.count.unwrap_or(1).max(1);
    }
    Ok(out)
}
