//! The dry run: a plan as the exact commands a person would type, in the
//! runbook's own forms.

use std::fmt::Write as _;

use kubestall_node::Unit;

use crate::plan::{Plan, Step};

/// How node commands are written: on the node with `sudo`, or over `ssh`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// kubectl context (the runbook's cluster is `pvek8s`).
    pub context: String,
    /// Wrap node commands in `ssh <node> "..."`.
    pub ssh: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            context: "pvek8s".into(),
            ssh: false,
        }
    }
}

const CTR: &str = "/snap/microk8s/current/bin/ctr --address /var/snap/microk8s/common/run/containerd.sock -n k8s.io";

/// The plan as commands, one block per step, each with its reason.
pub fn render_dry_run(plan: &Plan, opts: &RenderOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# kubestall remediate --node {} --procedure {}  (dry run: nothing was changed)\n# Run these, or add --execute to let kubestall run them with its safety checks.",
        plan.node, plan.procedure
    );
    let mut n = 0;
    for s in &plan.steps {
        n += 1;
        let _ = writeln!(out, "\n# Step {n}: {}", s.why);
        out.push_str(&commands(&s.step, s.timeout, plan, opts));
    }
    if !plan.escalation.is_empty() {
        let _ = writeln!(
            out,
            "\n# If the stall persists (no kubelite logs within 30 s of the restart): the nuclear option.\n# kubestall escalates only with --allow-nuclear."
        );
        for s in &plan.escalation {
            n += 1;
            let _ = writeln!(out, "\n# Step {n}: {}", s.why);
            out.push_str(&commands(&s.step, s.timeout, plan, opts));
        }
    }
    out
}

fn on_node(cmd: &str, node: &str, opts: &RenderOptions) -> String {
    if opts.ssh {
        format!(
            "ssh {node} \"{}\"\n",
            cmd.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        )
    } else {
        format!("{cmd}\n")
    }
}

fn unit_name(u: &Unit) -> String {
    u.systemd_name()
}

/// One planned step as commands.
pub fn render_step(step: &crate::plan::PlannedStep, plan: &Plan, opts: &RenderOptions) -> String {
    commands(&step.step, step.timeout, plan, opts)
}

fn commands(
    step: &Step,
    timeout: std::time::Duration,
    plan: &Plan,
    opts: &RenderOptions,
) -> String {
    let t = timeout.as_secs();
    let node = plan.node.as_str();
    let ctx = &opts.context;
    match step {
        Step::Cordon => format!("kubectl --context {ctx} cordon {node}\n"),
        Step::Uncordon => format!("kubectl --context {ctx} uncordon {node}\n"),
        Step::Restart { unit } => on_node(
            &format!("sudo systemctl restart {}", unit_name(unit)),
            node,
            opts,
        ),
        Step::Stop { unit } => on_node(
            &format!("sudo systemctl stop {}.service", unit_name(unit)),
            node,
            opts,
        ),
        Step::Start { unit } => on_node(
            &format!("sudo systemctl start {}.service", unit_name(unit)),
            node,
            opts,
        ),
        Step::VerifyActive { unit } => on_node(
            &format!("sudo systemctl is-active {}.service", unit_name(unit)),
            node,
            opts,
        ),
        Step::KillOrphanedShims => {
            let script = format!(
                "RUNNING=$(sudo {CTR} tasks list 2>/dev/null | awk 'NR>1 {{print $1}}')\n\
                 KILLED=0\n\
                 for PID in $(pgrep -f '^[^ ]*containerd-shim' 2>/dev/null); do\n\
                 \x20 CID=$(sudo cat /proc/$PID/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -A1 '^-id$' | tail -1)\n\
                 \x20 # Exact, whole-line match (-x -F): the runbook's `grep -q \"$CID\"` also matches\n\
                 \x20 # any task id that merely contains $CID, confusing ids that prefix one another.\n\
                 \x20 if [ -n \"$CID\" ] && ! printf '%s\\n' \"$RUNNING\" | grep -qxF \"$CID\"; then\n\
                 \x20   sudo kill -9 $PID 2>/dev/null && KILLED=$((KILLED+1))\n\
                 \x20 fi\n\
                 done\n\
                 echo \"Killed $KILLED orphaned shims\""
            );
            let mut s = if opts.ssh {
                format!("ssh {node} '\n{script}\n'\n")
            } else {
                format!("{script}\n")
            };
            s.push_str(&on_node("pgrep -c containerd-shim", node, opts));
            s
        }
        Step::KillAllShims => on_node(
            "for PID in $(pgrep -f '^[^ ]*containerd-shim' 2>/dev/null); do sudo kill -9 $PID 2>/dev/null; done",
            node,
            opts,
        ),
        Step::KillLockOrphans { app } => {
            let mut s = on_node(&format!("sudo pgrep -a {app}"), node, opts);
            s.push_str(&format!("# The older instance is the orphan: its /proc Modify time predates the restart and its /run/{app}/ is empty.\n"));
            s.push_str(&on_node(
                "sudo stat /proc/<older-PID> | grep Modify",
                node,
                opts,
            ));
            s.push_str(&on_node(
                &format!("sudo ls /proc/<older-PID>/root/run/{app}/"),
                node,
                opts,
            ));
            s.push_str(&on_node(
                &format!("sudo ls /proc/<newer-PID>/root/run/{app}/"),
                node,
                opts,
            ));
            s.push_str(&on_node("sudo kill <older-PID>", node, opts));
            s
        }
        Step::PostIncidentCheck { apps } => apps
            .iter()
            .map(|a| on_node(&format!("sudo pgrep -a {a}"), node, opts))
            .collect(),
        Step::WaitReady => format!(
            "kubectl --context {ctx} wait node/{node} --for=condition=Ready --timeout=120s\n"
        ),
        Step::WaitPodsRunning => format!(
            "kubectl --context {ctx} wait pods -A --field-selector spec.nodeName={node} --for=jsonpath='{{.status.phase}}'=Running --timeout={t}s\n"
        ),
        Step::WaitKubeliteLogs => on_node(
            "sudo journalctl -u snap.microk8s.daemon-kubelite --since '1 minute ago' | grep -v '^--' | tail -10",
            node,
            opts,
        ),
        Step::Pause { secs } => format!("sleep {secs}\n"),
    }
}
