//! The cluster twin: the simulator's model driven by the wall clock, serving the
//! Kubernetes API subset the runbook's kubectl needs and the node agents'
//! protocol. It runs on the first node; every node's kubelite and k8s-dqlite
//! units talk to it over the cluster's network.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kubestall_node::{NodeName, NodeView, Observe, PodPhase, PodView, Timestamp, Unit};
use kubestall_sim::{Action, Sim, SimConfig, SimNode, SimNodeConfig};
use serde_json::{Value, json};

use crate::http::{Request, Response, serve};
use crate::selector::{self, FieldSelector, Refused};

/// How the cluster is shaped.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The nodes, in order.
    pub nodes: Vec<SimNodeConfig>,
    /// The model's seed.
    pub seed: u64,
    /// Where to listen (`0.0.0.0:16443`).
    pub listen: String,
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

struct Twin {
    sim: Sim,
}

impl Twin {
    fn node(&self, name: &str) -> Option<SimNode> {
        NodeName::new(name).ok().and_then(|n| self.sim.node(&n))
    }
}

/// Runs the cluster twin until the process ends.
pub fn run(cfg: ClusterConfig) -> std::io::Result<()> {
    let mut sc = SimConfig::new(cfg.seed, cfg.nodes.clone());
    sc.start = Timestamp::now_wall();
    let sim = Sim::new(sc).map_err(|e| std::io::Error::other(e.to_string()))?;
    // The model follows the wall clock.
    let driver = sim.clone();
    std::thread::spawn(move || {
        let t0 = driver.now();
        let w0 = Instant::now();
        loop {
            driver.run_until(t0.add(w0.elapsed()));
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let twin = Arc::new(Twin { sim });
    let listener = std::net::TcpListener::bind(&cfg.listen)?;
    eprintln!(
        "cluster twin: {} nodes, seed {}, serving on {}",
        cfg.nodes.len(),
        cfg.seed,
        cfg.listen
    );
    serve(listener, Arc::new(move |r: &Request| handle(&twin, r)));
    Ok(())
}

/// Logs an action the model refused: the twin's caller gets its answer either
/// way, but the refusal is in the twin's journal, not lost.
fn applied(r: Result<(), kubestall_sim::SimError>) {
    if let Err(e) = r {
        eprintln!("kubestall-twin: the model refused an action: {e}");
    }
}

fn not_found(what: &str) -> Response {
    Response::status_json(
        404,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("{what} not found"), "reason": "NotFound", "code": 404}),
    )
}

fn handle(t: &Twin, r: &Request) -> Response {
    let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    match (r.method.as_str(), parts.as_slice()) {
        ("GET", ["version"]) => Response::json(
            &json!({"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64"}),
        ),
        ("GET", ["api"]) => Response::json(
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:16443"}]}),
        ),
        ("GET", ["apis"]) => {
            Response::json(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
        }
        ("GET", ["api", "v1"]) => Response::json(&json!({
        "kind": "APIResourceList", "groupVersion": "v1",
        "resources": [
            {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node", "verbs": ["get", "list", "watch", "patch", "update"], "shortNames": ["no"]},
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": ["create", "get", "list", "watch"], "shortNames": ["po"]},
            {"name": "events", "singularName": "event", "namespaced": true, "kind": "Event", "verbs": ["get", "list"], "shortNames": ["ev"]}
        ]})),
        ("GET", ["api", "v1", "nodes"]) => {
            let sel = match selectors(r, NODE_FIELDS) {
                Ok(s) => s,
                Err(e) => return bad_request(&e),
            };
            let sim = t.sim.clone();
            let nodes = move || -> Vec<NodeView> {
                let Some(n) = sim.nodes().into_iter().next() else {
                    return Vec::new();
                };
                block(n.nodes())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|v| sel.matches(|f| node_field(v, f)))
                    .collect()
            };
            if watching(r) {
                return watch(r, "Node", move || nodes().iter().map(node_json).collect());
            }
            let shown = nodes();
            if wants_table(r) {
                return Response::json(&node_table(&shown.iter().collect::<Vec<_>>()));
            }
            let items: Vec<Value> = shown.iter().map(node_json).collect();
            Response::json(
                &json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        ("GET", ["api", "v1", "nodes", name]) => match t.node(name) {
            Some(n) if wants_table(r) => Response::json(&node_table(&[
                &block(n.node()).unwrap_or_else(|_| unreachable_view(&n))
            ])),
            Some(n) => Response::json(&node_json(
                &block(n.node()).unwrap_or_else(|_| unreachable_view(&n)),
            )),
            None => not_found(&format!("nodes \"{name}\"")),
        },
        ("PATCH" | "PUT", ["api", "v1", "nodes", name]) => {
            let Some(n) = t.node(name) else {
                return not_found(&format!("nodes \"{name}\""));
            };
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            if let Some(u) = body.pointer("/spec/unschedulable") {
                let cordon = u.as_bool().unwrap_or(false);
                let a = if cordon {
                    Action::Cordon {
                        node: n.node_name().clone(),
                    }
                } else {
                    Action::Uncordon {
                        node: n.node_name().clone(),
                    }
                };
                applied(t.sim.apply(a));
            }
            Response::json(&node_json(
                &block(n.node()).unwrap_or_else(|_| unreachable_view(&n)),
            ))
        }
        ("GET", ["api", "v1", "pods"]) | ("GET", ["api", "v1", "namespaces", _, "pods"]) => {
            let ns = (parts.len() == 5).then(|| parts[3].to_string());
            let sel = match selectors(r, POD_FIELDS) {
                Ok(s) => s,
                Err(e) => return bad_request(&e),
            };
            let sim = t.sim.clone();
            let pods = move || -> Vec<PodView> {
                sim.pods()
                    .into_iter()
                    .filter(|p| ns.as_deref().is_none_or(|n| p.pod.namespace == n))
                    .filter(|p| sel.matches(|f| pod_field(p, f)))
                    .collect()
            };
            if watching(r) {
                return watch(r, "Pod", move || pods().iter().map(pod_json).collect());
            }
            let shown = pods();
            if wants_table(r) {
                return Response::json(&pod_table(&shown.iter().collect::<Vec<_>>(), t.sim.now()));
            }
            let items: Vec<Value> = shown.iter().map(pod_json).collect();
            Response::json(
                &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => {
            let found = t
                .sim
                .pods()
                .into_iter()
                .find(|p| p.pod.namespace == *ns && p.pod.name == *name);
            match found {
                Some(p) if wants_table(r) => Response::json(&pod_table(&[&p], t.sim.now())),
                Some(p) => Response::json(&pod_json(&p)),
                None => not_found(&format!("pods \"{name}\"")),
            }
        }
        ("POST", ["api", "v1", "namespaces", ns, "pods"]) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let Some(name) = body.pointer("/metadata/name").and_then(Value::as_str) else {
                return Response::status_json(
                    422,
                    &json!({"kind": "Status", "status": "Failure", "message": "metadata.name is required", "code": 422}),
                );
            };
            let node = body
                .pointer("/spec/nodeName")
                .or_else(|| body.pointer("/spec/nodeSelector/kubernetes.io~1hostname"))
                .and_then(Value::as_str)
                .and_then(|n| NodeName::new(n).ok());
            match t.sim.apply(Action::CreatePod {
                namespace: ns.to_string(),
                name: name.to_string(),
                node,
            }) {
                Ok(()) => Response::status_json(201, &body),
                Err(e) => Response::status_json(
                    409,
                    &json!({"kind": "Status", "status": "Failure", "message": e.to_string(), "reason": "AlreadyExists", "code": 409}),
                ),
            }
        }
        ("GET", ["api", "v1", "events"]) | ("GET", ["api", "v1", "namespaces", _, "events"]) => {
            let items: Vec<Value> = t
                .sim
                .pods()
                .iter()
                .filter(|p| p.kubelet_events > 0)
                .map(|p| json!({
                    "kind": "Event", "apiVersion": "v1",
                    "metadata": {"name": format!("{}.kubestall", p.pod.name), "namespace": p.pod.namespace},
                    "involvedObject": {"kind": "Pod", "name": p.pod.name, "namespace": p.pod.namespace},
                    "reason": if p.phase == PodPhase::Running { "Started" } else { "Pulled" },
                    "source": {"component": "kubelet", "host": p.node.as_ref().map(|n| n.to_string()).unwrap_or_default()},
                    "count": p.kubelet_events, "type": "Normal"
                }))
                .collect();
            Response::json(
                &json!({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        // ---- the node agents' protocol ----
        ("POST", ["twin", "v1", "nodes", name, "kubelite", "start"]) => {
            let Some(n) = t.node(name) else {
                return not_found(name);
            };
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let ids: Vec<String> = body
                .get("orphans")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            // Every start says which orphans exist, also when there are none any more.
            applied(t.sim.apply(Action::AdoptOrphans {
                node: n.node_name().clone(),
                ids,
            }));
            let (_, from) = t.sim.kubelite_lines(n.node_name(), usize::MAX);
            applied(t.sim.apply(Action::RestartUnit {
                node: n.node_name().clone(),
                unit: Unit::Kubelite,
            }));
            Response::json(&json!({"from": from}))
        }
        ("POST", ["twin", "v1", "nodes", name, "kubelite", "stop"]) => {
            let Some(n) = t.node(name) else {
                return not_found(name);
            };
            applied(t.sim.apply(Action::StopUnit {
                node: n.node_name().clone(),
                unit: Unit::Kubelite,
            }));
            Response::json(&json!({}))
        }
        ("POST", ["twin", "v1", "nodes", name, unit, "restarted"]) => {
            let Some(n) = t.node(name) else {
                return not_found(name);
            };
            let Ok(u) = unit.parse::<Unit>() else {
                return not_found(unit);
            };
            applied(t.sim.apply(Action::RestartUnit {
                node: n.node_name().clone(),
                unit: u,
            }));
            Response::json(&json!({}))
        }
        ("POST", ["twin", "v1", "nodes", name, unit, "stopped"]) => {
            let Some(n) = t.node(name) else {
                return not_found(name);
            };
            let Ok(u) = unit.parse::<Unit>() else {
                return not_found(unit);
            };
            applied(t.sim.apply(Action::StopUnit {
                node: n.node_name().clone(),
                unit: u,
            }));
            Response::json(&json!({}))
        }
        ("POST", ["twin", "v1", "nodes", name, "containerd", "frozen"]) => {
            let Some(n) = t.node(name) else {
                return not_found(name);
            };
            applied(t.sim.apply(Action::FreezeContainerd {
                node: n.node_name().clone(),
            }));
            Response::json(&json!({}))
        }
        ("POST", ["twin", "v1", "nodes", name, "upgrade"]) => {
            let Some(n) = t.node(name) else {
                return not_found(name);
            };
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let version = body
                .get("containerd")
                .and_then(Value::as_str)
                .unwrap_or("2.1.3")
                .to_string();
            let microk8s = body
                .get("microk8s")
                .and_then(Value::as_str)
                .unwrap_or("1.35")
                .to_string();
            // The imagefs label surface changes with the new containerd; the next
            // kubelite start (the real restart the injector performs) meets it.
            applied(t.sim.apply(Action::SetVersions {
                node: n.node_name().clone(),
                containerd: version,
                microk8s,
            }));

            Response::json(&json!({}))
        }
        ("GET", ["twin", "v1", "nodes", name, "kubelite", "next"]) => next(t, name, r),
        // `kubectl get --raw /api/v1/nodes/NODE/proxy/pods` reaches the same view.
        ("GET", ["twin", "v1", "nodes", name, "kubelet-pods"])
        | ("GET", ["api", "v1", "nodes", name, "proxy", "pods"]) => {
            let Some(n) = t.node(name) else {
                return not_found(name);
            };
            let items: Vec<Value> = block(n.kubelet_pods())
                .unwrap_or_default()
                .iter()
                .map(|p| json!({"metadata": {"namespace": p.namespace, "name": p.name}}))
                .collect();
            Response::json(
                &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}),
            )
        }
        _ => Response::status_json(
            404,
            &json!({"kind": "Status", "status": "Failure", "message": format!("the node twin does not serve {} {}", r.method, r.path), "reason": "NotFound", "code": 404}),
        ),
    }
}

/// The agent's long poll: new kubelite lines and the containers to run. While
/// the model's kubelet is blocked and has nothing to say, the request is held,
/// so the agent sits in a read and uses no CPU, as a blocked kubelet does.
fn next(t: &Twin, name: &str, r: &Request) -> Response {
    let Ok(node) = NodeName::new(name) else {
        return not_found(name);
    };
    let from: usize = r
        .query
        .get("from")
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    let start = Instant::now();
    loop {
        let (lines, next) = t.sim.kubelite_lines(&node, from);
        let blocked = t.sim.kubelite_blocked(&node);
        if !lines.is_empty() || (!blocked && start.elapsed() >= Duration::from_millis(200)) {
            return Response::json(
                &json!({"lines": lines, "next": next, "blocked": blocked, "containers": t.sim.running_containers(&node)}),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// kubectl asks for server-side printing (`as=Table`) when it lists for people.
fn wants_table(r: &Request) -> bool {
    r.headers
        .get("accept")
        .is_some_and(|a| a.contains("as=Table"))
}

fn age(now: Timestamp, then: Timestamp) -> String {
    let s = now.since(then).as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn table(columns: &[(&str, &str)], rows: Vec<Value>) -> Value {
    let defs: Vec<Value> = columns.iter().map(|(n, t)| json!({"name": n, "type": t, "format": if *n == "Name" { "name" } else { "" }, "description": "", "priority": 0})).collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "1"}, "columnDefinitions": defs, "rows": rows})
}

fn node_table(views: &[&NodeView]) -> Value {
    let now = Timestamp::now_wall();
    let rows = views
        .iter()
        .map(|v| {
            let mut status = if v.ready { "Ready".to_string() } else { "NotReady".to_string() };
            if v.unschedulable {
                status.push_str(",SchedulingDisabled");
            }
            let created = Timestamp::parse_rfc3339("2026-05-01T00:00:00Z").unwrap_or_default();
            json!({"cells": [v.name.as_str(), status, "<none>", age(now, created), "v1.35.0"],
                   "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": v.name.as_str(), "resourceVersion": "1"}}})
        })
        .collect();
    table(
        &[
            ("Name", "string"),
            ("Status", "string"),
            ("Roles", "string"),
            ("Age", "string"),
            ("Version", "string"),
        ],
        rows,
    )
}

fn pod_table(pods: &[&PodView], now: Timestamp) -> Value {
    let rows = pods
        .iter()
        .map(|p| {
            let ready = if p.phase == PodPhase::Running { "1/1" } else { "0/1" };
            json!({"cells": [p.pod.name, ready, p.phase.as_str(), 0, age(now, p.created_at)],
                   "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": p.pod.name, "namespace": p.pod.namespace, "resourceVersion": "1"}}})
        })
        .collect();
    table(
        &[
            ("Name", "string"),
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "integer"),
            ("Age", "string"),
        ],
        rows,
    )
}

fn unreachable_view(n: &SimNode) -> NodeView {
    NodeView {
        name: n.node_name().clone(),
        ready: false,
        ready_reason: None,
        ready_message: None,
        unschedulable: false,
        heartbeat: None,
    }
}

fn node_json(v: &NodeView) -> Value {
    let mut spec = json!({});
    if v.unschedulable {
        spec = json!({"unschedulable": true, "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]});
    }
    let hb = v.heartbeat.map(|h| h.rfc3339());
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": v.name.as_str(), "labels": {"kubernetes.io/hostname": v.name.as_str()}, "resourceVersion": "1", "creationTimestamp": "2026-05-01T00:00:00Z"},
        "spec": spec,
        "status": {
            "conditions": [{
                "type": "Ready", "status": if v.ready { "True" } else { "False" },
                "reason": v.ready_reason, "message": v.ready_message,
                "lastHeartbeatTime": hb, "lastTransitionTime": hb
            }],
            "nodeInfo": {"kubeletVersion": "v1.35.0", "containerRuntimeVersion": "containerd://1.6.20"}
        }
    })
}

fn pod_json(p: &PodView) -> Value {
    let mut conditions = Vec::new();
    if let Some(s) = p.scheduled_at {
        conditions.push(
            json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": s.rfc3339()}),
        );
    }
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": p.pod.name, "namespace": p.pod.namespace, "creationTimestamp": p.created_at.rfc3339(), "resourceVersion": "1"},
        "spec": {"nodeName": p.node.as_ref().map(|n| n.to_string()), "containers": [{"name": "app", "image": "busybox"}]},
        "status": {
            "phase": p.phase.as_str(),
            "conditions": conditions,
            "startTime": p.started_at.map(|s| s.rfc3339()),
            "containerStatuses": [{"name": "app", "ready": p.phase == PodPhase::Running, "restartCount": 0, "image": "busybox", "imageID": ""}]
        }
    })
}

const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "status.phase",
];

fn node_field(v: &NodeView, field: &str) -> String {
    match field {
        "metadata.name" => v.name.to_string(),
        "spec.unschedulable" => v.unschedulable.to_string(),
        _ => String::new(),
    }
}

fn pod_field(p: &PodView, field: &str) -> String {
    match field {
        "metadata.name" => p.pod.name.clone(),
        "metadata.namespace" => p.pod.namespace.clone(),
        "spec.nodeName" => p.node.as_ref().map(|n| n.to_string()).unwrap_or_default(),
        "status.phase" => p.phase.as_str().to_string(),
        _ => String::new(),
    }
}

/// The request's field selector over `fields`; label selectors are refused.
fn selectors(r: &Request, fields: &[&str]) -> Result<FieldSelector, Refused> {
    selector::no_labels(r.query.get("labelSelector"))?;
    FieldSelector::parse(
        r.query
            .get("fieldSelector")
            .map(String::as_str)
            .unwrap_or(""),
        fields,
    )
}

fn bad_request(e: &Refused) -> Response {
    Response::status_json(
        400,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": e.to_string(), "reason": "BadRequest", "code": 400}),
    )
}

fn watching(r: &Request) -> bool {
    r.query
        .get("watch")
        .is_some_and(|w| w == "true" || w == "1")
}

fn object_key(o: &Value) -> String {
    let m = &o["metadata"];
    format!(
        "{}/{}",
        m["namespace"].as_str().unwrap_or(""),
        m["name"].as_str().unwrap_or("")
    )
}

/// A watch as the API server streams it: one `{"type", "object"}` line per
/// change of the selected objects (`ADDED`, `MODIFIED`, `DELETED`), until
/// `timeoutSeconds`. Where it starts follows the request: `sendInitialEvents`
/// (client-go's watch-list) gets every object as `ADDED`, then the bookmark
/// that ends the initial events; no `resourceVersion` (or `0`) gets every
/// object as `ADDED`; a `resourceVersion` from a list gets the objects as they
/// are now as `MODIFIED` (the twin keeps no history, and a change between the
/// list and the watch must not be lost), then their changes.
fn watch(
    r: &Request,
    kind: &'static str,
    objects: impl Fn() -> Vec<Value> + Send + 'static,
) -> Response {
    let timeout = r
        .query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(300)
        .min(1800);
    let initial_events = r
        .query
        .get("sendInitialEvents")
        .is_some_and(|v| v == "true");
    let from_list = !initial_events
        && r.query
            .get("resourceVersion")
            .is_some_and(|v| !v.is_empty() && v != "0");
    Response::Stream(Box::new(move |send| {
        let start = Instant::now();
        let mut known: std::collections::BTreeMap<String, Value> = Default::default();
        let mut first = true;
        let mut emit = |kind: &str, object: &Value| {
            send(format!("{}\n", json!({"type": kind, "object": object})).as_bytes())
        };
        while start.elapsed() < Duration::from_secs(timeout) {
            let now: std::collections::BTreeMap<String, Value> =
                objects().into_iter().map(|o| (object_key(&o), o)).collect();
            for (key, o) in &now {
                let event = match known.get(key) {
                    None if first && from_list => "MODIFIED",
                    None => "ADDED",
                    Some(old) if old != o => "MODIFIED",
                    Some(_) => continue,
                };
                if !emit(event, o) {
                    return;
                }
            }
            for (key, o) in &known {
                if !now.contains_key(key) && !emit("DELETED", o) {
                    return;
                }
            }
            if first && initial_events {
                let end = json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1", "annotations": {"k8s.io/initial-events-end": "true"}}});
                if !emit("BOOKMARK", &end) {
                    return;
                }
            }
            first = false;
            known = now;
            std::thread::sleep(Duration::from_millis(250));
        }
    }))
}
