//! What a verdict rests on: "healthy" only when the evidence could have shown each
//! stall and did not; "cannot tell" when a mode needs signals the input lacks.
//!
//! Every stall of modes 1 to 3 is, by definition, pods bound to the node and
//! Pending with no kubelet event: without the API's view of the node's pods none
//! of them can be ruled out, whatever the journal says (mode 2 prints nothing at
//! all). Kine exhaustion and EventedPLEG's containerd freeze are printed by the
//! kubelet, so the kubelite journal rules them out.

use kubestall_node::FailureMode;
use serde::Serialize;

/// The signals an offline classification had.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// kubelite's journal, with at least one entry.
    pub kubelite_journal: bool,
    /// The API's pods bound to the node (`pods.json`) and the node (`node.json`).
    pub pods: bool,
    /// How many of those pods are stuck (Pending past the threshold, no kubelet event).
    pub stuck: usize,
    /// The kubelet's own pod list (`/pods`).
    pub kubelet_pods: bool,
    /// Two schedstat samples of kubelite's main process.
    pub schedstat: bool,
    /// Shim processes and containerd's task list.
    pub shims_and_tasks: bool,
    /// kubelite's service state (pid, start time, restarts).
    pub service: bool,
}

/// A mode the evidence cannot rule out, and what would decide it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Undecided {
    /// The mode.
    pub mode: FailureMode,
    /// The evidence that would decide, each with the command that gives it.
    pub needs: Vec<String>,
}

/// The answer of `detect`: exit 1, 0 and 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A stall was found.
    Found,
    /// No stall, on evidence that would have shown each one.
    Healthy,
    /// No stall found, but the evidence cannot rule out some modes.
    CannotTell,
}

const PODS: &str = "the pods bound to the node (pods.json: `kubectl get pods -A --field-selector spec.nodeName=NODE -o json`, and node.json)";
const JOURNAL: &str = "kubelite's journal (journal-kubelite.json: `journalctl -u snap.microk8s.daemon-kubelite --since '30 minutes ago' -o json`)";
const KUBELET_PODS: &str = "the kubelet's own pod list (kubelet-pods.json: `kubectl get --raw /api/v1/nodes/NODE/proxy/pods`)";
const SCHEDSTAT: &str = "two samples of kubelite's /proc/PID/schedstat a few seconds apart (schedstat-1.txt, schedstat-2.txt)";
const SHIMS: &str = "shim processes and containerd's tasks (shims.txt: `pgrep -a containerd-shim`; tasks.txt: `ctr -n k8s.io tasks list`)";
const SERVICE: &str = "kubelite's service state (service-kubelite.txt: `systemctl show snap.microk8s.daemon-kubelite`)";

/// The modes that `found` does not cover and `c` cannot rule out.
pub fn undecided(c: &Coverage, found: &[FailureMode], node: &str) -> Vec<Undecided> {
    let mut out = undecided_modes(c, found);
    for u in &mut out {
        for n in &mut u.needs {
            *n = n.replace("NODE", node);
        }
    }
    out
}

fn undecided_modes(c: &Coverage, found: &[FailureMode]) -> Vec<Undecided> {
    let mut out = Vec::new();
    let stall_found = found.iter().any(|m| {
        matches!(
            m,
            FailureMode::ImagefsStall
                | FailureMode::WatchStall
                | FailureMode::PlegStall
                | FailureMode::KineExhaustion
                | FailureMode::ContainerdFreeze
        )
    });
    // Stuck pods explained by a finding need no other reading.
    if !stall_found && (!c.pods || c.stuck > 0) {
        let mut push = |mode, specific: &[(bool, &str)]| {
            let mut needs: Vec<String> = Vec::new();
            if !c.pods {
                needs.push(PODS.to_string());
            }
            needs.extend(
                specific
                    .iter()
                    .filter(|(have, _)| !have)
                    .map(|(_, what)| (*what).to_string()),
            );
            if needs.is_empty() {
                needs.push(format!(
                    "{} pod(s) are stuck, but no signal of this mode is there: a goroutine dump (`kubestall capture --goroutines`) shows where the kubelet waits",
                    c.stuck
                ));
            }
            out.push(Undecided { mode, needs });
        };
        push(
            FailureMode::ImagefsStall,
            &[
                (c.kubelite_journal, JOURNAL),
                (c.schedstat, SCHEDSTAT),
                (c.service, SERVICE),
            ],
        );
        push(
            FailureMode::WatchStall,
            &[
                (c.service, SERVICE),
                (c.kubelite_journal, JOURNAL),
                (c.kubelet_pods, KUBELET_PODS),
            ],
        );
        push(
            FailureMode::PlegStall,
            &[
                (c.kubelite_journal, JOURNAL),
                (c.schedstat, SCHEDSTAT),
                (c.shims_and_tasks, SHIMS),
            ],
        );
    }
    if !c.kubelite_journal {
        for mode in [FailureMode::KineExhaustion, FailureMode::ContainerdFreeze] {
            if !found.contains(&mode) {
                out.push(Undecided {
                    mode,
                    needs: vec![JOURNAL.to_string()],
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Coverage {
        Coverage {
            kubelite_journal: true,
            pods: true,
            stuck: 0,
            kubelet_pods: true,
            schedstat: true,
            shims_and_tasks: true,
            service: true,
        }
    }

    #[test]
    fn full_evidence_without_stuck_pods_decides_every_mode() {
        assert!(undecided(&all(), &[], "k8s03").is_empty());
    }

    #[test]
    fn a_journal_alone_cannot_rule_out_the_pod_stalls() {
        let c = Coverage {
            kubelite_journal: true,
            ..Coverage::default()
        };
        let modes: Vec<FailureMode> = undecided(&c, &[], "k8s03").iter().map(|u| u.mode).collect();
        assert_eq!(
            modes,
            [
                FailureMode::ImagefsStall,
                FailureMode::WatchStall,
                FailureMode::PlegStall
            ]
        );
        let watch = &undecided(&c, &[], "k8s03")[1];
        assert!(watch.needs.iter().any(|n| n.contains("pods.json")));
        assert!(watch.needs.iter().any(|n| n.contains("kubelet-pods.json")));
    }

    #[test]
    fn nothing_at_all_leaves_every_stall_undecided() {
        let modes: Vec<FailureMode> = undecided(&Coverage::default(), &[], "k8s03")
            .iter()
            .map(|u| u.mode)
            .collect();
        assert_eq!(modes.len(), 5);
    }

    #[test]
    fn stuck_pods_no_signal_explains_are_not_health() {
        let c = Coverage { stuck: 3, ..all() };
        let u = undecided(&c, &[], "k8s03");
        assert_eq!(u.len(), 3);
        assert!(u[0].needs[0].contains("3 pod(s) are stuck"));
    }

    #[test]
    fn a_finding_explains_the_stuck_pods() {
        let c = Coverage { stuck: 3, ..all() };
        assert!(undecided(&c, &[FailureMode::PlegStall], "k8s03").is_empty());
    }
}
