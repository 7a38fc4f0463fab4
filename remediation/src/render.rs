//! The dry run: a plan as the exact commands a person would type, in the
//! runbook's own forms.

use std::fmt::Write as _;

use kubestall_node::transport::shell_quote;
use kubestall_node::{KUBELET_NAMESPACE, MICROK8S_CONTAINERD_SOCKET, Unit};

use crate::plan::{Plan, Step};

/// How node commands are written: on the node with `sudo`, or over `ssh`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// kubectl context (the runbook's cluster is `pvek8s`).
    pub context: String,
    /// Run node commands as `ssh <node> '...'`, the remote script quoted as one word.
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

/// microk8s's ctr.
const CTR: &str = "/snap/microk8s/current/bin/ctr";

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

/// A node command (or script) as it is typed: on the node itself, or over ssh
/// with the whole script quoted as one word, so that the local shell passes it
/// through untouched and the node's shell reads exactly `cmd`.
fn on_node(cmd: &str, node: &str, opts: &RenderOptions) -> String {
    if opts.ssh {
        format!("ssh {} {}\n", shell_quote(node), shell_quote(cmd))
    } else {
        format!("{cmd}\n")
    }
}

/// A multi-line script: over ssh, one quoted word; on the node, in a subshell, so
/// that its `exit` on refusal leaves the operator's shell open.
fn script_on_node(script: &str, node: &str, opts: &RenderOptions) -> String {
    if opts.ssh {
        on_node(script, node, opts)
    } else {
        format!("(\n{script}\n)\n")
    }
}

/// The loop head over the node's own shims: every containerd-shim process whose
/// `-address` is the node's containerd and whose `-namespace` is the kubelet's;
/// Docker's and any other runtime's shims are skipped. Sets `PID` and `CID`.
fn own_shims_loop() -> String {
    format!(
        "SOCK={sock}\n\
         for PID in $(pgrep -f '^[^ ]*containerd-shim' 2>/dev/null); do\n\
         \x20 ARGS=$(sudo cat /proc/$PID/cmdline 2>/dev/null | tr '\\0' '\\n')\n\
         \x20 # Only this node's shims: its containerd (-address), the kubelet's namespace.\n\
         \x20 [ \"$(printf '%s\\n' \"$ARGS\" | grep -A1 -x -e -address | sed -n 2p)\" = \"$SOCK\" ] || continue\n\
         \x20 [ \"$(printf '%s\\n' \"$ARGS\" | grep -A1 -x -e -namespace | sed -n 2p)\" = {ns} ] || continue\n\
         \x20 CID=$(printf '%s\\n' \"$ARGS\" | grep -A1 -x -e -id | sed -n 2p)",
        sock = shell_quote(MICROK8S_CONTAINERD_SOCKET),
        ns = shell_quote(KUBELET_NAMESPACE),
    )
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
    // Node names are RFC 1123 labels: nothing in them needs quoting.
    let node = plan.node.as_str();
    let ctx = &shell_quote(&opts.context);
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
                "TASKS=$(sudo {CTR} --address {sock} -n {ns} tasks list) || {{ echo 'cannot list containerd tasks: refusing to kill shims' >&2; exit 1; }}\n\
                 RUNNING=$(printf '%s\\n' \"$TASKS\" | awk 'NR>1 {{print $1}}')\n\
                 KILLED=0\n\
                 {loop}\n\
                 \x20 if [ -z \"$RUNNING\" ]; then echo 'containerd lists no task while its shims run: refusing to call every shim an orphan' >&2; exit 1; fi\n\
                 \x20 # Exact, whole-line match (-x -F): the runbook's `grep -q \"$CID\"` also matches\n\
                 \x20 # any task id that merely contains $CID, confusing ids that prefix one another.\n\
                 \x20 if [ -n \"$CID\" ] && ! printf '%s\\n' \"$RUNNING\" | grep -qxF -e \"$CID\"; then\n\
                 \x20   sudo kill -9 \"$PID\" 2>/dev/null && KILLED=$((KILLED+1))\n\
                 \x20 fi\n\
                 done\n\
                 echo \"Killed $KILLED orphaned shims\"",
                sock = shell_quote(MICROK8S_CONTAINERD_SOCKET),
                ns = shell_quote(KUBELET_NAMESPACE),
                loop = own_shims_loop(),
            );
            let mut s = script_on_node(&script, node, opts);
            s.push_str(&on_node("pgrep -c containerd-shim", node, opts));
            s
        }
        Step::KillAllShims => script_on_node(
            &format!(
                "{loop}\n\
                 \x20 sudo kill -9 \"$PID\" 2>/dev/null\n\
                 done",
                loop = own_shims_loop()
            ),
            node,
            opts,
        ),
        Step::KillLockOrphans { app } => {
            let app_q = shell_quote(app);
            let run = shell_quote(&format!("/run/{app}/"));
            let mut s = on_node(&format!("sudo pgrep -a -x {app_q}"), node, opts);
            s.push_str(&format!("# The older instances are orphans when their /run/{app}/ is empty while the newest has its socket.\n"));
            let script = format!(
                "PIDS=$(ps -o pid= --sort=start_time -C {app_q})\n\
                 NEWEST=$(printf '%s\\n' $PIDS | tail -n 1)\n\
                 [ -n \"$(printf '%s\\n' $PIDS | sed -n 2p)\" ] || {{ echo 'one instance of '{app_q}': no orphan'; exit 0; }}\n\
                 [ -n \"$(sudo ls -A /proc/$NEWEST/root{run} 2>/dev/null)\" ] || {{ echo 'the newest '{app_q}' has no socket either: cannot tell the orphan; look by hand' >&2; exit 1; }}\n\
                 for PID in $PIDS; do\n\
                 \x20 [ \"$PID\" = \"$NEWEST\" ] && continue\n\
                 \x20 sudo stat /proc/$PID | grep Modify\n\
                 \x20 if [ -z \"$(sudo ls -A /proc/$PID/root{run} 2>/dev/null)\" ]; then sudo kill \"$PID\"; fi\n\
                 done"
            );
            s.push_str(&script_on_node(&script, node, opts));
            s
        }
        Step::PostIncidentCheck { apps } => apps
            .iter()
            .map(|a| on_node(&format!("sudo pgrep -a -x {}", shell_quote(a)), node, opts))
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
