//! On a real host: the orphan kill and the nuclear kill, through `HostNode` on
//! the local machine, kill exactly the node's own shims and leave every other
//! runtime's alone.
//!
//! The "node" is a private containerd (Debian's) with its own root, state and
//! socket in a temporary folder. Next to its tasks run a task of the same
//! containerd in another namespace and a task of a second private containerd in
//! `k8s.io`; any shims Docker or node containers have on the machine are there too
//! (pgrep sees them all). Real orphans are made as on a real node: containerd is
//! stopped, a task's state folder removed, containerd started again.
//!
//! Needs root, containerd, ctr, runc and busybox (`ci/install-deps.sh`); when
//! `KUBESTALL_CONTAINER_TESTS` is set (as `.ci/run` sets it) their absence fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubestall_node::{HostNode, HostPaths, Local, NodeName};
use kubestall_remediation::{
    AuditLog, Executor, Locks, PlanContext, ProcedureId, SafetyPolicy, Step, plan_for,
};

/// A private containerd and what it started.
struct Containerd {
    dir: PathBuf,
    child: Option<Child>,
}

impl Containerd {
    fn socket(&self) -> String {
        self.dir.join("c.sock").to_string_lossy().into_owned()
    }

    fn start(dir: &Path) -> Containerd {
        std::fs::create_dir_all(dir).expect("containerd dir");
        std::fs::write(
            dir.join("config.toml"),
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .expect("config");
        let mut c = Containerd {
            dir: dir.to_path_buf(),
            child: None,
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let d = &self.dir;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--state")
            .arg(d.join("state"))
            .arg("--address")
            .arg(d.join("c.sock"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("containerd.log")).expect("log"))
            .spawn()
            .expect("containerd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.ctr(&["version"]).0 {
            assert!(
                Instant::now() < deadline,
                "containerd at {} did not answer",
                self.socket()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix_kill(c.id(), "TERM");
            let _ = c.wait();
        }
    }

    fn ctr(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("ctr runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Starts `id` in `ns` from the busybox rootfs, in a cgroup under `parent`.
    fn run(&self, ns: &str, id: &str, rootfs: &Path, parent: &str) {
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args([
                "-n",
                ns,
                "run",
                "-d",
                "--cgroup",
                &format!("{parent}/{name}-{ns}-{id}"),
                // runc's state and the IO fifos in the test's folder, not /run/containerd.
                "--runc-root",
                &self.dir.join("runc").to_string_lossy(),
                "--fifo-dir",
                &self.dir.join("fifo").to_string_lossy(),
                "--rootfs",
                &rootfs.to_string_lossy(),
                id,
                "/bin/busybox",
                "sleep",
                "600",
            ])
            .output()
            .expect("ctr runs");
        assert!(
            out.status.success(),
            "ctr run {id} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The pid of the task `id`'s workload.
    fn task_pid(&self, ns: &str, id: &str) -> u32 {
        let (_, out) = self.ctr(&["-n", ns, "tasks", "list"]);
        out.lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(id)).then(|| w.next().and_then(|p| p.parse().ok()))?
            })
            .expect("task pid")
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill -s SIG PID`, without a shell and without the signal-by-name of pkill.
fn nix_kill(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The shim serving task `id` of the containerd at `sock`, by its command line.
fn shim_of(sock: &str, id: &str) -> u32 {
    let out = Command::new("pgrep")
        .args(["-a", "containerd-shim"])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let arg = |f: &str| {
                w.iter()
                    .position(|a| *a == f)
                    .and_then(|i| w.get(i + 1))
                    .copied()
            };
            arg("-id") == Some(id) && arg("-address") == Some(sock)
        })
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no shim for {id} of {sock}"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("rootfs");
    for d in ["proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("rootfs dir");
    }
    let bb = Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .expect("busybox");
    let bb = String::from_utf8_lossy(&bb.stdout).trim().to_string();
    std::fs::copy(&bb, root.join("bin/busybox")).expect("copy busybox");
    root
}

#[test]
fn orphan_and_nuclear_kills_spare_every_shim_that_is_not_the_nodes() {
    const TEST: &str =
        "real_shims::orphan_and_nuclear_kills_spare_every_shim_that_is_not_the_nodes";
    let root = nix_is_root();
    let tools = [
        "containerd",
        "ctr",
        "runc",
        "busybox",
        "containerd-shim-runc-v2",
    ];
    if !root || !tools.iter().all(|t| have(t)) {
        kubestall_testkit::skip(
            TEST,
            &format!("needs root and {tools:?} (ci/install-deps.sh installs them)"),
        );
        return;
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let Ok(node) = NodeName::new(hostname.trim().to_ascii_lowercase()) else {
        kubestall_testkit::skip(
            TEST,
            &format!("this host's name {hostname:?} is not a valid node name"),
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let rootfs = busybox_rootfs(tmp.path());
    let parent = format!("kubestall-shimtest-{}", std::process::id());
    // Declared before the containerds, so dropped after them, also on a panic.
    let cleanup = Cleanup {
        address_prefix: tmp.path().to_string_lossy().into_owned(),
        parent: parent.clone(),
        workloads: Default::default(),
        // containerd 1.x binds every shim's socket under /run/containerd/s, whatever
        // --state says, and other containerds (Docker's) do too.
        sockets_before: socket_files(),
        run_existed: Path::new(SHIM_SOCKETS).exists(),
    };
    let mut mine = Containerd::start(&tmp.path().join("node"));
    let other = Containerd::start(&tmp.path().join("other"));
    let sock = mine.socket();

    for id in ["live1", "orphan1", "orphan2"] {
        mine.run("k8s.io", id, &rootfs, &parent);
    }
    mine.run("default", "elsewhere", &rootfs, &parent);
    other.run("k8s.io", "orphan1", &rootfs, &parent); // same id, other containerd
    // Workloads outlive a killed shim (they are reparented): remembered for cleanup.
    for (c, ns, id) in [
        (&mine, "k8s.io", "live1"),
        (&mine, "k8s.io", "orphan1"),
        (&mine, "k8s.io", "orphan2"),
        (&mine, "default", "elsewhere"),
        (&other, "k8s.io", "orphan1"),
    ] {
        cleanup.workloads.borrow_mut().push(c.task_pid(ns, id));
    }
    let shim = |id: &str| shim_of(&sock, id);
    let (live, o1, o2, elsewhere) = (
        shim("live1"),
        shim("orphan1"),
        shim("orphan2"),
        shim("elsewhere"),
    );
    let theirs = shim_of(&other.socket(), "orphan1");

    // Real orphans: containerd stopped, their task state removed, containerd started.
    mine.stop();
    for id in ["orphan1", "orphan2"] {
        let state = tmp
            .path()
            .join("node/state/io.containerd.runtime.v2.task/k8s.io")
            .join(id);
        std::fs::remove_dir_all(&state).expect("remove task state");
    }
    mine.spawn();
    let (_, tasks) = mine.ctr(&["-n", "k8s.io", "tasks", "list"]);
    assert!(
        tasks.contains("live1") && !tasks.contains("orphan1"),
        "{tasks}"
    );

    // Docker's shims on this machine (CI runs a Docker engine): none may die.
    let moby: Vec<u32> = String::from_utf8_lossy(
        &Command::new("pgrep")
            .args(["-a", "containerd-shim"])
            .output()
            .expect("pgrep")
            .stdout,
    )
    .lines()
    .filter(|l| l.contains("-namespace moby"))
    .filter_map(|l| l.split_whitespace().next()?.parse().ok())
    .collect();
    let host = HostNode::new(
        node.clone(),
        Local,
        Local,
        HostPaths {
            ctr: "ctr".into(),
            containerd_socket: sock.clone(),
            ..HostPaths::default()
        },
    );
    let kill = |step: Step| {
        let procedure = if step == Step::KillAllShims {
            ProcedureId::Nuclear
        } else {
            ProcedureId::Fix(kubestall_node::FailureMode::PlegStall)
        };
        let mut plan = plan_for(procedure, &PlanContext::new(node.clone()));
        plan.steps.retain(|s| s.step == step);
        plan.escalation.clear();
        // No API server here: the cordon rule is tested on the simulator.
        plan.steps.iter_mut().for_each(|s| s.needs_cordon = false);
        let exec = Executor::new(
            SafetyPolicy {
                allow_nuclear: true,
                ..SafetyPolicy::default()
            },
            Locks::memory(),
            "shimtest",
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(exec.execute(&host, &plan, &mut AuditLog::memory()))
            .expect("kill step")
    };
    let wait_dead = |pid: u32| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        !alive(pid)
    };

    // The executor's own account: exactly these kill calls were made, whatever
    // else (Docker's shims, node containers') runs on this machine.
    let outcome = kill(Step::KillOrphanedShims);
    let detail = &outcome.steps[0].detail;
    assert!(
        detail.starts_with(&format!(
            "killed 2 orphaned shims: {o1} (orphan1), {o2} (orphan2);"
        )) || detail.starts_with(&format!(
            "killed 2 orphaned shims: {o2} (orphan2), {o1} (orphan1);"
        )),
        "{detail}"
    );
    assert!(
        wait_dead(o1) && wait_dead(o2),
        "the node's orphans died: {outcome:?}"
    );
    for (what, pid) in [
        ("live shim", live),
        ("other namespace", elsewhere),
        ("other containerd", theirs),
    ] {
        assert!(
            alive(pid),
            "{what} (pid {pid}) is alive after the orphan kill"
        );
    }
    for pid in &moby {
        assert!(
            alive(*pid),
            "Docker's shim {pid} is alive after the orphan kill"
        );
    }
    let outcome = kill(Step::KillAllShims);
    let detail = &outcome.steps[0].detail;
    assert!(
        detail.starts_with(&format!("killed 1 shims of {sock} in k8s.io")),
        "{detail}"
    );
    assert!(
        wait_dead(live),
        "the node's live shim died in the nuclear kill"
    );
    for (what, pid) in [("other namespace", elsewhere), ("other containerd", theirs)] {
        assert!(
            alive(pid),
            "{what} (pid {pid}) is alive after the nuclear kill"
        );
    }
    for pid in &moby {
        assert!(
            alive(*pid),
            "Docker's shim {pid} is alive after the nuclear kill"
        );
    }
}

/// Leaves nothing behind, whatever happened: every shim of the test's own
/// containerds (by the socket path in its command line) and that shim's
/// workload, then the cgroups the test made.
struct Cleanup {
    address_prefix: String,
    parent: String,
    workloads: std::cell::RefCell<Vec<u32>>,
    sockets_before: Vec<PathBuf>,
    run_existed: bool,
}

/// Where containerd 1.x shims bind their sockets.
const SHIM_SOCKETS: &str = "/run/containerd/s";

fn socket_files() -> Vec<PathBuf> {
    std::fs::read_dir(SHIM_SOCKETS)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = Command::new("pgrep")
            .args(["-a", "containerd-shim"])
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for line in text
            .lines()
            .filter(|l| l.contains(&format!("-address {}", self.address_prefix)))
        {
            let Some(pid) = line.split_whitespace().next() else {
                continue;
            };
            let children = Command::new("pgrep").args(["-P", pid]).output();
            let children = children
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for c in children
                .lines()
                .filter_map(|c| c.trim().parse::<u32>().ok())
            {
                nix_kill(c, "KILL");
            }
            if let Ok(p) = pid.parse::<u32>() {
                nix_kill(p, "KILL");
            }
        }
        for pid in self.workloads.borrow().iter() {
            nix_kill(*pid, "KILL");
        }
        std::thread::sleep(Duration::from_millis(300));
        remove_cgroups(&self.parent);
        // The sockets of the shims this test killed: new since it began, and bound
        // by no live process (/proc/net/unix lists every bound path). Nothing else.
        let bound = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
        for f in socket_files() {
            let path = f.to_string_lossy();
            if !self.sockets_before.contains(&f) && !bound.contains(path.as_ref()) {
                let _ = std::fs::remove_file(&f);
            }
        }
        if !self.run_existed {
            // Only if empty: another containerd may have started to use them meanwhile.
            let _ = std::fs::remove_dir(SHIM_SOCKETS);
            let _ = std::fs::remove_dir("/run/containerd");
        }
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Removes `parent` (and the leaves runc left) under every cgroup hierarchy.
fn remove_cgroups(parent: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let p = h.path().join(parent);
        if let Ok(leaves) = std::fs::read_dir(&p) {
            for l in leaves.flatten().filter(|l| l.path().is_dir()) {
                let _ = std::fs::remove_dir(l.path());
            }
        }
        let _ = std::fs::remove_dir(&p);
    }
}
