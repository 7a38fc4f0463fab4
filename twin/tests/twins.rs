//! Node twins in Docker, end to end: the runbook's own commands, unchanged,
//! against a stalled twin. Needs root, debootstrap and a Docker engine; runs
//! when KUBESTALL_CONTAINER_TESTS=1 (`.ci/run` starts dockerd and sets it).
//! Without it the test says it was skipped and why.

use std::process::Command;
use std::time::{Duration, Instant};

use kubestall_node::NodeName;
use kubestall_twin::containers::{self, ClusterSpec};
use kubestall_twin::image;

/// The runbook's check that the fix worked: every pod on k8s03 Running.
const WAIT_RUNNING: &str =
    "wait pods -A --field-selector spec.nodeName=k8s03 --for=jsonpath='{.status.phase}'=Running";

fn sh(cmd: &str, kubeconfig: &std::path::Path) -> (bool, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("sh runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_runbooks_commands_against_a_stalled_twin() {
    if !kubestall_testkit::container_tests("twins::the_runbooks_commands_against_a_stalled_twin") {
        return;
    }
    let img = image::build(
        std::path::Path::new(env!("CARGO_BIN_EXE_kubestall-twin")),
        false,
        &mut |s| kubestall_testkit::progress(&format!("image: {s}")),
    )
    .expect("node image");
    let name = format!("t{}", std::process::id());
    let nodes: Vec<NodeName> = ["k8s01", "k8s02", "k8s03"]
        .iter()
        .map(|n| NodeName::new(*n).expect("name"))
        .collect();
    let spec = ClusterSpec {
        name: name.clone(),
        nodes,
        image: img.tag.clone(),
        seed: 1,
        evented: false,
        pods_per_node: 3,
    };
    let cluster = containers::up(&spec).expect("cluster up");
    kubestall_testkit::progress(&format!("twins: cluster up in {:.1} s", cluster.up_s));
    let k = &cluster.kubeconfig;
    let ctx = &name;
    let on = |node: &str, cmd: &str| {
        format!(
            "{}docker exec kubestall-{name}-{node} sh -c \"{}\"",
            kubestall_twin::docker::host()
                .map(|h| format!("DOCKER_HOST={h} "))
                .unwrap_or_default(),
            cmd.replace('"', "\\\"").replace('$', "\\$")
        )
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Healthy first: kubelite registered, real shims for the model's pods.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, out) = sh(&on("k8s03", "pgrep -c containerd-shim"), k);
            if out.trim().parse::<u32>().unwrap_or(0) >= 3 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let (ok, nodes) = sh(&format!("kubectl --context {ctx} get nodes"), k);
        assert!(
            ok && nodes.lines().filter(|l| l.contains(" Ready ")).count() == 3,
            "{nodes}"
        );
        // Failure Mode 2, for real: restart kubelite without cordon while pods are created.
        for i in 0..12 {
            let pod = format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"web-{i}\"}},\"spec\":{{\"nodeName\":\"k8s03\",\"containers\":[{{\"name\":\"c\",\"image\":\"busybox\"}}]}}}}"
            );
            let _ = sh(
                &format!("echo '{pod}' | kubectl --context {ctx} create --validate=false -f -"),
                k,
            );
            if i == 3 {
                let (ok, out) = sh(
                    &on("k8s03", "systemctl restart snap.microk8s.daemon-kubelite"),
                    k,
                );
                assert!(ok, "{out}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        // The fix's own verification step must not pass while the stall holds.
        let (ok, out) = sh(
            &format!("kubectl --context {ctx} {WAIT_RUNNING} --timeout=30s"),
            k,
        );
        assert!(!ok, "kubectl wait passed during the stall: {out}");
        let (_, nodes) = sh(&format!("kubectl --context {ctx} get nodes"), k);
        assert!(
            nodes
                .lines()
                .any(|l| l.starts_with("k8s03") && l.contains(" Ready ")),
            "still Ready: {nodes}"
        );
        let (_, pending) = sh(
            "kubectl get pods -A --field-selector spec.nodeName=k8s03 | grep Pending",
            k,
        );
        assert!(
            pending.lines().count() >= 1,
            "pods Pending on k8s03: {pending}"
        );
        let (_, logs) = sh(
            &on(
                "k8s03",
                "journalctl -u snap.microk8s.daemon-kubelite --since '5 minutes ago' --no-pager",
            ),
            k,
        );
        assert!(logs.contains("Successfully registered node"), "{logs}");
        let (_, sched) = sh(
            &on(
                "k8s03",
                "PID=$(systemctl show snap.microk8s.daemon-kubelite --property=MainPID | cut -d= -f2); cat /proc/$PID/schedstat && sleep 3 && cat /proc/$PID/schedstat",
            ),
            k,
        );
        let samples: Vec<&str> = sched.lines().collect();
        assert_eq!(samples.len(), 2, "{sched}");
        assert_ne!(samples[0], samples[1], "mode 2: kubelite uses CPU");
        let (_, counts) = sh(
            &on(
                "k8s03",
                "pgrep -c containerd-shim && /snap/microk8s/current/bin/ctr --address /var/snap/microk8s/common/run/containerd.sock -n k8s.io tasks list | wc -l",
            ),
            k,
        );
        let c: Vec<u32> = counts
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(c.len(), 2, "{counts}");
        assert_eq!(
            c[0] + 1,
            c[1],
            "shims == tasks (+ the header): no orphan in mode 2: {counts}"
        );
        let (_, pods) = sh(&on("k8s03", "curl -sk https://127.0.0.1:10250/pods"), k);
        assert!(pods.contains("PodList"), "{pods}");
        // The fix: cordon, restart, wait Ready, uncordon.
        assert!(sh(&format!("kubectl --context {ctx} cordon k8s03"), k).0);
        assert!(
            sh(
                &on("k8s03", "systemctl restart snap.microk8s.daemon-kubelite"),
                k
            )
            .0
        );
        let (ok, out) = sh(
            &format!(
                "kubectl --context {ctx} wait node/k8s03 --for=condition=Ready --timeout=120s"
            ),
            k,
        );
        assert!(ok, "{out}");
        assert!(sh(&format!("kubectl --context {ctx} uncordon k8s03"), k).0);
        let (ok, out) = sh(
            &format!("kubectl --context {ctx} {WAIT_RUNNING} --timeout=120s"),
            k,
        );
        assert!(ok, "all pods run after the runbook's fix: {out}");
        let (_, pending) = sh(
            "kubectl get pods -A --field-selector spec.nodeName=k8s03 | grep Pending",
            k,
        );
        assert_eq!(pending.trim(), "", "all pods run after the runbook's fix");
    }));
    let removed = containers::down(&name).expect("down");
    assert!(removed.iter().any(|r| r.starts_with("container")));
    let left = kubestall_twin::docker::command()
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=kubestall.cluster={name}"),
        ])
        .output()
        .expect("docker ps");
    assert!(left.stdout.is_empty(), "no container left behind");
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
