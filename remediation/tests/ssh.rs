//! The SSH form of every plan, executed against a real `sshd` (Debian's
//! openssh-server) on 127.0.0.1: the far side ran exactly the planned node
//! commands, the near side only kubectl, and nothing was created locally.
//!
//! Node-side programs (`sudo`, `systemctl`, `journalctl`, `ctr`, `pgrep`, `ps`)
//! are recording stubs first on the far side's PATH (sshd's `SetEnv`): this
//! machine is no microk8s node, and the test is about what arrives there.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubestall_node::NodeName;
use kubestall_remediation::{PlanContext, RenderOptions, plan_for, render_dry_run};

/// The test's sshd, stopped by its pid; `/run/sshd` removed if the test made it.
struct Sshd(Child, bool);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if self.1 {
            let _ = std::fs::remove_dir("/run/sshd");
        }
    }
}

fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, body).expect("write stub");
    let st = Command::new("chmod")
        .arg("+x")
        .arg(path)
        .status()
        .expect("chmod");
    assert!(st.success());
}

/// A stub that records `side program args` (one word a line, then a blank line).
fn stub(dir: &Path, side: &str, name: &str, log: &Path, then: &str) {
    write_exec(
        &dir.join(name),
        &format!(
            "#!/bin/sh\n{{ echo \"{side} ${{SSH_CONNECTION:+ssh}} {name}\"; for a in \"$@\"; do echo \"$a\"; done; echo; }} >> {log}\n{then}\n",
            log = kubestall_node::transport::shell_quote(&log.to_string_lossy())
        ),
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[test]
fn the_ssh_form_runs_exactly_the_planned_commands_on_the_far_side() {
    let have = ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !have {
        kubestall_testkit::skip(
            "ssh::the_ssh_form_runs_exactly_the_planned_commands_on_the_far_side",
            "needs openssh-server and openssh-client (ci/install-deps.sh installs them)",
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let q = |p: &Path| p.to_string_lossy().into_owned();
    for k in ["host", "client"] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(t.join(k))
            .status()
            .expect("ssh-keygen");
        assert!(st.success());
    }
    std::fs::copy(t.join("client.pub"), t.join("authorized_keys")).expect("authorized_keys");
    let remote_bin = t.join("remote-bin");
    let local_bin = t.join("local-bin");
    std::fs::create_dir_all(&remote_bin).expect("dir");
    std::fs::create_dir_all(&local_bin).expect("dir");
    let log = t.join("calls.log");
    for name in ["systemctl", "journalctl", "ctr", "ps"] {
        stub(&remote_bin, "remote", name, &log, "exit 0");
    }
    // No shim or lock service runs on this pretend node.
    stub(&remote_bin, "remote", "pgrep", &log, "exit 1");
    stub(&remote_bin, "remote", "sudo", &log, "exec \"$@\"");
    stub(&local_bin, "local", "kubectl", &log, "exit 0");
    stub(&local_bin, "local", "sleep", &log, "exit 0");
    let port = free_port();
    std::fs::write(
        t.join("sshd_config"),
        format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nSetEnv PATH={}:/usr/bin:/bin\n",
            q(&t.join("host")),
            q(&t.join("authorized_keys")),
            q(&t.join("sshd.pid")),
            q(&remote_bin)
        ),
    )
    .expect("sshd_config");
    std::fs::write(
        t.join("ssh_config"),
        format!(
            "Host k8s03\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n\
             \x20 BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile {}\n  LogLevel ERROR\n",
            q(&t.join("client")),
            q(&t.join("known_hosts"))
        ),
    )
    .expect("ssh_config");
    // `ssh` as the operator's: their own config, here the test's.
    write_exec(
        &local_bin.join("ssh"),
        &format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
            q(&t.join("ssh_config"))
        ),
    );
    let made_run_sshd = !Path::new("/run/sshd").exists();
    std::fs::create_dir_all("/run/sshd").expect("sshd privilege separation dir");
    let _sshd = Sshd(
        Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(t.join("sshd_config"))
            .stderr(std::fs::File::create(t.join("sshd.log")).expect("log"))
            .spawn()
            .expect("sshd starts"),
        made_run_sshd,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let node = NodeName::new("k8s03").expect("node");
    for id in common::PROCEDURES {
        let mut ctx = PlanContext::new(node.clone());
        ctx.lock_services = vec!["my app's $(touch pwned)".into()];
        let plan = plan_for(id.parse().expect("procedure"), &ctx);
        let text = render_dry_run(
            &plan,
            &RenderOptions {
                ssh: true,
                ..RenderOptions::default()
            },
        );
        let _ = std::fs::remove_file(&log);
        let work = t.join(format!("work-{id}"));
        std::fs::create_dir_all(&work).expect("work");
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-c", &text])
            .current_dir(&work)
            .env("PATH", format!("{}:/usr/bin:/bin", q(&local_bin)))
            .stdin(Stdio::null())
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{id}: {}\nsshd: {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(t.join("sshd.log")).unwrap_or_default()
        );
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let calls: Vec<Vec<&str>> = calls
            .split("\n\n")
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.lines().collect())
            .collect();
        // Every node command ran on the far side, through sshd.
        for c in &calls {
            let head = c[0];
            let local = head.starts_with("local");
            let program = head.rsplit(' ').next().unwrap_or("");
            assert_eq!(
                local,
                matches!(program, "kubectl" | "sleep"),
                "{id}: {head} ran on the wrong side"
            );
            assert_eq!(local, !head.contains(" ssh "), "{id}: {head}");
        }
        let remote: Vec<String> = calls
            .iter()
            .filter(|c| c[0].starts_with("remote") && !c[0].ends_with("sudo"))
            .map(|c| {
                let program = c[0].rsplit(' ').next().unwrap_or("");
                std::iter::once(program)
                    .chain(c[1..].iter().copied())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        // The plan's node steps, in order, as the far side received them.
        let expected: Vec<String> = plan
            .steps
            .iter()
            .chain(&plan.escalation)
            .filter_map(|s| match &s.step {
                kubestall_remediation::Step::Restart { unit } => {
                    Some(format!("systemctl restart {}", unit.systemd_name()))
                }
                kubestall_remediation::Step::Stop { unit } => {
                    Some(format!("systemctl stop {}.service", unit.systemd_name()))
                }
                kubestall_remediation::Step::Start { unit } => {
                    Some(format!("systemctl start {}.service", unit.systemd_name()))
                }
                kubestall_remediation::Step::VerifyActive { unit } => Some(format!(
                    "systemctl is-active {}.service",
                    unit.systemd_name()
                )),
                _ => None,
            })
            .collect();
        let systemctl: Vec<&String> = remote
            .iter()
            .filter(|c| c.starts_with("systemctl"))
            .collect();
        assert_eq!(
            systemctl,
            expected.iter().collect::<Vec<_>>(),
            "{id}: systemctl calls on the far side"
        );
        if id == "orphan-lock-holder" {
            assert!(
                remote
                    .iter()
                    .any(|c| c == "pgrep -a -x my app's $(touch pwned)"),
                "{id}: the service name arrived as one word: {remote:?}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(&work).expect("work").collect();
        assert!(left.is_empty(), "{id}: created locally: {left:?}");
        assert!(!Path::new("/root/pwned").exists() && !work.join("pwned").exists());
    }
}
