//! The runbook's kubectl commands against the cluster twin on loopback, with
//! the real kubectl: field selectors are answered or refused, never ignored,
//! and `kubectl wait` (the fix's own verification step) fails while the pods
//! it waits for are Pending and succeeds once they run. No Docker needed.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The cluster twin as a child process; killed (by its own pid) when dropped.
struct Twin {
    child: Child,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    url: String,
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(tag: &str) -> Twin {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_kubestall-twin"))
        .arg("cluster")
        .env("KUBESTALL_LISTEN", &addr)
        .env("KUBESTALL_CLUSTER_NODES", "k8s01,k8s03")
        .env("KUBESTALL_PODS_PER_NODE", "2")
        .spawn()
        .expect("kubestall-twin cluster starts");
    let dir = tempfile::Builder::new()
        .prefix(&format!("kubestall-{tag}-"))
        .tempdir()
        .expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let url = format!("http://{addr}");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: twin\n  cluster:\n    server: {url}\ncontexts:\n- name: twin\n  context:\n    cluster: twin\n    user: twin\ncurrent-context: twin\nusers:\n- name: twin\n  user: {{}}\n"
        ),
    )
    .expect("kubeconfig");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the twin never listened on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Twin {
        child,
        _dir: dir,
        kubeconfig,
        url,
    }
}

fn kubectl(t: &Twin, args: &[&str]) -> Output {
    Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &t.kubeconfig)
        .output()
        .expect("kubectl runs (install-deps installs kubernetes-client)")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn post(t: &Twin, path: &str) {
    let o = Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "POST",
            "-d",
            "{}",
            &format!("{}{path}", t.url),
        ])
        .output()
        .expect("curl runs");
    assert!(o.status.success(), "POST {path}: {}", text(&o));
}

fn have_kubectl(test: &str) -> bool {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok()
    {
        return true;
    }
    // CI installs kubectl; a developer's machine may not have it.
    kubestall_testkit::skip(
        test,
        "kubectl is not on the PATH (ci/install-deps.sh installs Debian's kubernetes-client)",
    );
    false
}

#[test]
fn field_selectors_are_answered_or_refused() {
    if !have_kubectl("kubectl::field_selectors_are_answered_or_refused") {
        return;
    }
    let t = start("selectors");
    let all = kubectl(&t, &["get", "pods", "-A", "-o", "name"]);
    assert!(all.status.success(), "{}", text(&all));
    let names: Vec<String> = String::from_utf8_lossy(&all.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 4, "two pods on each of two nodes: {names:?}");
    let one = names[0].trim_start_matches("pod/");
    let by_name = kubectl(
        &t,
        &[
            "get",
            "pods",
            "-A",
            "-o",
            "name",
            "--field-selector",
            &format!("metadata.name={one}"),
        ],
    );
    assert!(by_name.status.success(), "{}", text(&by_name));
    assert_eq!(
        String::from_utf8_lossy(&by_name.stdout).trim(),
        format!("pod/{one}"),
        "metadata.name selects exactly one pod"
    );
    let on_k8s03 = kubectl(
        &t,
        &[
            "get",
            "pods",
            "-A",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
            "--field-selector",
            "spec.nodeName=k8s03",
        ],
    );
    let nodes = String::from_utf8_lossy(&on_k8s03.stdout).to_string();
    assert!(
        !nodes.is_empty() && nodes.split(' ').all(|n| n == "k8s03"),
        "spec.nodeName selects only k8s03's pods: {nodes:?}"
    );
    let unknown = kubectl(
        &t,
        &["get", "pods", "-A", "--field-selector", "spec.hostname=x"],
    );
    assert!(!unknown.status.success(), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("field label not supported: spec.hostname"),
        "{}",
        text(&unknown)
    );
    let labels = kubectl(&t, &["get", "pods", "-A", "-l", "app=web"]);
    assert!(
        !labels.status.success(),
        "a label selector is refused: {}",
        text(&labels)
    );
    let node = kubectl(
        &t,
        &[
            "get",
            "nodes",
            "-o",
            "name",
            "--field-selector",
            "metadata.name=k8s03",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&node.stdout).trim(), "node/k8s03");
}

#[test]
fn kubectl_wait_fails_while_pods_are_pending_and_passes_once_they_run() {
    if !have_kubectl("kubectl::kubectl_wait_fails_while_pods_are_pending_and_passes_once_they_run")
    {
        return;
    }
    let t = start("wait");
    let wait = |timeout: &str| {
        kubectl(
            &t,
            &[
                "wait",
                "pods",
                "-A",
                "--field-selector",
                "spec.nodeName=k8s03",
                "--for=jsonpath={.status.phase}=Running",
                &format!("--timeout={timeout}"),
            ],
        )
    };
    let healthy = wait("60s");
    assert!(
        healthy.status.success(),
        "k8s03's first pods run: {}",
        text(&healthy)
    );
    // kubelite stopped: a pod bound to k8s03 is never started.
    post(&t, "/twin/v1/nodes/k8s03/kubelite/stop");
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-0","namespace":"default"},"spec":{"nodeName":"k8s03","containers":[{"name":"c","image":"busybox"}]}}"#;
    let created = Command::new("kubectl")
        .args(["create", "--validate=false", "-f", "-"])
        .env("KUBECONFIG", &t.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(pod.as_bytes())?;
            c.wait_with_output()
        })
        .expect("kubectl create");
    assert!(created.status.success(), "{}", text(&created));
    let stalled = wait("3s");
    assert!(
        !stalled.status.success(),
        "kubectl wait must not pass while web-0 is Pending: {}",
        text(&stalled)
    );
    assert!(text(&stalled).contains("web-0"), "{}", text(&stalled));
    post(&t, "/twin/v1/nodes/k8s03/kubelite/start");
    let fixed = wait("60s");
    assert!(fixed.status.success(), "{}", text(&fixed));
    let phase = kubectl(
        &t,
        &["get", "pod", "web-0", "-o", "jsonpath={.status.phase}"],
    );
    assert_eq!(String::from_utf8_lossy(&phase.stdout), "Running");
}
