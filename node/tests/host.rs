//! `HostNode` runs the runbook's real commands, each an argument vector (names are
//! single arguments, never shell code), and reads them with the parsers; tested
//! with a transport that answers from captured fixtures and records what it ran.

use std::sync::Mutex;

use kubestall_node::{
    ActiveState, Cmd, CmdOutput, Control, HostNode, HostPaths, NodeError, NodeName, Observe, Pid,
    Signal, Timestamp, Transport, Unit,
};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

#[derive(Default)]
struct Recorder {
    ran: Mutex<Vec<Vec<String>>>,
}

impl Transport for Recorder {
    async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, NodeError> {
        let mut argv = vec![cmd.program.clone()];
        argv.extend(cmd.args.iter().cloned());
        self.ran.lock().expect("lock").push(argv.clone());
        let ok = |stdout: Vec<u8>| {
            Ok(CmdOutput {
                code: Some(0),
                stdout,
                stderr: Vec::new(),
            })
        };
        match (argv[0].as_str(), argv.get(1).map(String::as_str)) {
            ("journalctl", _) => ok(fixture("journal/kubelite.json")),
            ("env", Some("TZ=UTC")) if argv.get(3).map(String::as_str) == Some("show") => {
                ok(fixture("systemctl/active.txt"))
            }
            ("systemctl", _) => ok(Vec::new()),
            ("pgrep", _) if argv.contains(&"containerd-shim".to_string()) => {
                ok(fixture("pgrep/shims.txt"))
            }
            ("getconf", _) => ok(b"100\n".to_vec()),
            // `cat /proc/stat /proc/PID/stat...`: the captured boot time, and the
            // captured shim's stat line under each pid asked for.
            ("cat", Some("/proc/stat")) => {
                let mut out = fixture("proc/stat.txt");
                let shim = String::from_utf8(fixture("proc/shim-stat.txt")).expect("utf-8");
                let (_, rest) = shim.split_once(' ').expect("pid");
                for p in &argv[2..] {
                    let pid = p.trim_start_matches("/proc/").trim_end_matches("/stat");
                    out.extend_from_slice(format!("{pid} {rest}").as_bytes());
                }
                ok(out)
            }
            (p, _) if p.ends_with("ctr") => ok(fixture("ctr/tasks-list.txt")),
            ("cat", _) if argv[1] == "/proc/999/schedstat" => Ok(CmdOutput {
                code: Some(1),
                stdout: Vec::new(),
                stderr: b"cat: /proc/999/schedstat: No such file or directory\n".to_vec(),
            }),
            ("cat", _) => ok(fixture("schedstat/shim-sample-1.txt")),
            // A kubelet refusing anonymous requests, and the API server's proxy to it.
            ("curl", _) => ok(fixture("kube/kubelet-unauthorized.txt")),
            ("kubectl", _) if argv.contains(&"--raw".to_string()) => {
                ok(fixture("kube/kubelet-pods.json"))
            }
            ("kubectl", _) if argv.contains(&"pods".to_string()) => ok(fixture("kube/pods.json")),
            ("kubectl", _) if argv.contains(&"events".to_string()) => {
                ok(fixture("kube/events.json"))
            }
            ("kubectl", _) if argv.contains(&"nodes".to_string()) => ok(fixture("kube/nodes.json")),
            ("kubectl", _) => ok(Vec::new()),
            ("kill", _) => ok(Vec::new()),
            _ => Ok(CmdOutput {
                code: Some(127),
                stdout: Vec::new(),
                stderr: b"not found".to_vec(),
            }),
        }
    }
    fn describe(&self) -> String {
        "recorder".into()
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
        .block_on(f)
}

#[test]
fn observes_with_the_runbooks_commands() {
    let paths = HostPaths {
        context: Some("pvek8s".into()),
        ..HostPaths::default()
    };
    let on_node = std::sync::Arc::new(Recorder::default());
    let api = std::sync::Arc::new(Recorder::default());
    let node = HostNode::new(
        NodeName::new("k8s03").expect("name"),
        on_node.clone(),
        api.clone(),
        paths,
    );
    block(async {
        let since = Timestamp::from_secs(1_700_000_000);
        let j = node.journal(&Unit::Kubelite, since).await.expect("journal");
        assert!(!j.is_empty());
        let s = node.service(&Unit::Kubelite).await.expect("service");
        assert_eq!(s.active, ActiveState::Active);
        let shims = node.shims().await.expect("shims");
        assert_eq!(shims.len(), 3);
        // btime 1796194248 plus 60848 ticks at 100 per second.
        let started = Timestamp::from_micros(1_796_194_248_000_000 + 608_480_000);
        assert!(
            shims.iter().all(|s| s.started_at == Some(started)),
            "{shims:?}"
        );
        assert_eq!(node.shims().await.expect("shims again").len(), 3);
        assert_eq!(node.tasks().await.expect("tasks").len(), 3);
        assert!(matches!(
            node.schedstat(Pid(999)).await,
            Err(NodeError::NoSuchProcess(Pid(999)))
        ));
        let pods = node.pods().await.expect("pods");
        assert_eq!(
            pods.iter()
                .find(|p| p.pod.name == "buildkitd-0")
                .map(|p| p.kubelet_events),
            Some(3)
        );
        let seen = node
            .kubelet_pods()
            .await
            .expect("kubelet pods through the proxy");
        assert_eq!(
            seen,
            kubestall_node::parse::kube::kubelet_pods(&fixture("kube/kubelet-pods.json"))
                .expect("fixture parses")
        );
        node.cordon().await.expect("cordon");
        node.kill(Pid(42), Signal::Kill).await.expect("kill");
        node.restart(&Unit::Kubelite).await.expect("restart");
    });
    let ran = on_node.ran.lock().expect("lock").clone();
    let said = api.ran.lock().expect("lock").clone();
    let has = |v: &[Vec<String>], want: &[&str]| {
        v.iter()
            .any(|c| c.iter().map(String::as_str).eq(want.iter().copied()))
    };
    assert!(
        has(
            &ran,
            &[
                "journalctl",
                "-u",
                "snap.microk8s.daemon-kubelite",
                "--since",
                "@1700000000",
                "-o",
                "json",
                "--no-pager"
            ]
        ),
        "{ran:?}"
    );
    assert!(has(
        &ran,
        &[
            "/snap/microk8s/current/bin/ctr",
            "--address",
            "/var/snap/microk8s/common/run/containerd.sock",
            "-n",
            "k8s.io",
            "tasks",
            "list"
        ]
    ));
    assert!(has(&ran, &["kill", "-s", "KILL", "42"]));
    assert!(
        has(
            &ran,
            &[
                "env",
                "TZ=UTC",
                "systemctl",
                "show",
                "snap.microk8s.daemon-kubelite",
                "-p",
                "MainPID,ActiveState,ExecMainStartTimestamp,NRestarts"
            ]
        ),
        "systemctl prints times in UTC: {ran:?}"
    );
    assert_eq!(
        ran.iter().filter(|c| c[0] == "getconf").count(),
        1,
        "CLK_TCK is asked once"
    );
    assert!(has(
        &ran,
        &["systemctl", "restart", "snap.microk8s.daemon-kubelite"]
    ));
    assert!(
        has(
            &said,
            &[
                "kubectl",
                "--context",
                "pvek8s",
                "get",
                "--raw",
                "/api/v1/nodes/k8s03/proxy/pods"
            ]
        ),
        "a 401 from the kubelet is retried through the API server: {said:?}"
    );
    assert!(
        has(
            &said,
            &["kubectl", "--context", "pvek8s", "cordon", "k8s03"]
        ),
        "{said:?}"
    );
    assert!(has(
        &said,
        &[
            "kubectl",
            "--context",
            "pvek8s",
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=k8s03",
            "-o",
            "json"
        ]
    ));
    assert!(
        !said.iter().any(|c| c[0] != "kubectl"),
        "kubectl runs through the API transport only"
    );
}

#[test]
fn the_node_name_is_one_argument() {
    let node = HostNode::new(
        NodeName::new("k8s03").expect("name"),
        Recorder::default(),
        Recorder::default(),
        HostPaths {
            context: Some("pvek8s".into()),
            ..HostPaths::default()
        },
    );
    let c = node.pods_cmd();
    assert_eq!(
        c.to_string(),
        "kubectl --context pvek8s get pods -A --field-selector spec.nodeName=k8s03 -o json"
    );
    assert!(c.args.iter().any(|a| a == "spec.nodeName=k8s03"));
}
