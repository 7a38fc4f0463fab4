//! Rendered plans are correct shell: `bash -n` accepts every one, and the SSH
//! form hands each node script to `ssh` as exactly one word, with nothing run or
//! created on the local side but the kubectl calls.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use kubestall_node::NodeName;
use kubestall_remediation::{
    Plan, PlanContext, ProcedureId, RenderOptions, plan_for, render_dry_run,
};

/// Every plan kubestall can render: each procedure, with and without kine
/// errors, as an emergency, and with a lock-using service whose name a shell
/// would split or expand.
fn every_plan() -> Vec<Plan> {
    let node = NodeName::new("k8s03").expect("node name");
    let mut plans = Vec::new();
    for id in common::PROCEDURES {
        let id: ProcedureId = id.parse().expect("procedure");
        for (kine, emergency) in [(false, false), (true, false), (false, true)] {
            let mut ctx = PlanContext::new(node.clone());
            ctx.kine_errors = kine;
            ctx.emergency = emergency;
            ctx.lock_services = vec!["buildkitd".into(), "my app's $(touch pwned) `x`".into()];
            plans.push(plan_for(id, &ctx));
        }
    }
    plans
}

fn options() -> [RenderOptions; 3] {
    [
        RenderOptions::default(),
        RenderOptions {
            ssh: true,
            ..RenderOptions::default()
        },
        RenderOptions {
            context: "prod cluster's".into(),
            ssh: true,
        },
    ]
}

fn bash(script: &str, cwd: &Path, args: &[&str]) -> std::process::Output {
    let mut child = Command::new("bash")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), script.as_bytes())
        .expect("write script");
    child.wait_with_output().expect("bash ends")
}

#[test]
fn bash_reads_every_rendered_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    for plan in every_plan() {
        for opts in options() {
            let text = render_dry_run(&plan, &opts);
            let out = bash(&text, dir.path(), &["-n"]);
            assert!(
                out.status.success(),
                "bash -n refused the {} plan (ssh: {}): {}\n{text}",
                plan.procedure,
                opts.ssh,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Runs the SSH form with `ssh`, `kubectl` and `sleep` as shell functions that
/// record their arguments (one per line, NUL-free), then checks what reached
/// each and that nothing else ran or was created here.
#[test]
fn the_ssh_form_passes_each_node_script_to_ssh_as_one_word() {
    for plan in every_plan() {
        let opts = RenderOptions {
            ssh: true,
            ..RenderOptions::default()
        };
        let text = render_dry_run(&plan, &opts);
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("calls");
        let work = dir.path().join("work");
        std::fs::create_dir(&work).expect("work dir");
        let prelude = format!(
            "set -u\nLOG={log}\nrecord() {{ printf '%s\\0' \"$#\" \"$@\" >>\"$LOG\"; }}\n\
             ssh() {{ record ssh \"$@\"; }}\nkubectl() {{ record kubectl \"$@\"; }}\nsleep() {{ record sleep \"$@\"; }}\n\
             command_not_found_handle() {{ printf '%s\\n' \"$1\" >>\"$LOG.local\"; return 127; }}\n",
            log = kubestall_node::transport::shell_quote(&log.to_string_lossy())
        );
        // Only these may run locally; PATH is emptied so that any other command is
        // caught by the handler (builtins such as printf still run).
        let out = bash(
            &format!("{prelude}PATH=/nonexistent\n{text}"),
            &work,
            &["--noprofile", "--norc"],
        );
        assert!(
            out.status.success(),
            "{} over ssh: {}",
            plan.procedure,
            String::from_utf8_lossy(&out.stderr)
        );
        let local = dir.path().join("calls.local");
        assert!(
            !local.exists(),
            "{}: ran locally: {}",
            plan.procedure,
            std::fs::read_to_string(&local).unwrap_or_default()
        );
        let calls = parse_calls(&std::fs::read_to_string(&log).unwrap_or_default());
        let ssh: Vec<&Vec<String>> = calls.iter().filter(|c| c[0] == "ssh").collect();
        assert!(!ssh.is_empty() || plan.steps.iter().all(|s| !touches_node(&s.step)));
        for c in &ssh {
            assert_eq!(c.len(), 3, "ssh NODE SCRIPT, as three words: {c:?}");
            assert_eq!(c[1], "k8s03");
            // The node's shell reads the script as it was written.
            let check = bash(&c[2], dir.path(), &["-n"]);
            assert!(check.status.success(), "remote script: {}", c[2]);
        }
        if plan.procedure.to_string() == "orphan-lock-holder" {
            assert!(
                ssh.iter()
                    .any(|c| c[2].contains("'my app'\\''s $(touch pwned) `x`'")),
                "the lock service's name reaches the node quoted: {ssh:?}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(&work).expect("work").collect();
        assert!(
            left.is_empty(),
            "{}: files created locally: {left:?}",
            plan.procedure
        );
    }
}

fn touches_node(step: &kubestall_remediation::Step) -> bool {
    use kubestall_remediation::Step as S;
    !matches!(
        step,
        S::Cordon | S::Uncordon | S::WaitReady | S::WaitPodsRunning | S::Pause { .. }
    )
}

/// The log: per call, its word count and its words, each ended by a NUL.
fn parse_calls(log: &str) -> Vec<Vec<String>> {
    let mut words = log.split('\0');
    let mut out = Vec::new();
    while let Some(n) = words.next().filter(|w| !w.is_empty()) {
        let n: usize = n.parse().expect("count");
        out.push(
            (0..n)
                .map(|_| words.next().expect("word").to_string())
                .collect(),
        );
    }
    out
}
