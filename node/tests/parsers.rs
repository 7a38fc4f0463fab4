//! Every parser on output captured from the real program (see `fixtures/*/README.md`
//! and the capture scripts), on the runbook's own samples, and on arbitrary bytes.

use std::path::PathBuf;

use kubestall_node::parse::proc_stat::{self, ProcState};
use kubestall_node::parse::{ctr, goroutines, journal, kube, pgrep, schedstat, systemctl};
use kubestall_node::{
    ActiveState, KubeletRuntime, PodPhase, PodRef, TaskStatus, Timestamp, Unit, orphaned_shims,
};
use proptest::prelude::*;

fn fixture(path: &str) -> Vec<u8> {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", path]
        .iter()
        .collect();
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn ctr_tasks_list_from_containerd() {
    let tasks = ctr::parse(&fixture("ctr/tasks-list.txt")).expect("parses");
    assert_eq!(tasks.len(), 3);
    assert!(
        tasks
            .iter()
            .all(|t| t.status == TaskStatus::Running && t.pid.0 > 0 && t.id.as_str().len() == 64)
    );
    let frozen = ctr::parse(&fixture("ctr/tasks-list-frozen.txt")).expect("parses");
    let unknown: Vec<_> = frozen
        .iter()
        .filter(|t| t.status == TaskStatus::Unknown)
        .collect();
    assert_eq!(unknown.len(), 1, "the frozen shim's task");
    assert_eq!(unknown[0].pid.0, 0);
}

#[test]
fn ctr_errors_name_the_line() {
    let e = ctr::parse(b"TASK PID STATUS\nabc 12 RUNNING\nnot a row\n").expect_err("bad row");
    assert_eq!(e.line, 3);
    assert!(
        ctr::parse(b"ctr: failed to dial\n")
            .expect_err("no header")
            .message
            .contains("header")
    );
}

#[test]
fn pgrep_shims_from_containerd() {
    let shims = pgrep::shims(&fixture("pgrep/shims.txt")).expect("parses");
    assert_eq!(shims.len(), 3);
    assert!(shims.iter().all(|s| s.namespace == "k8s.io"));
    // The same containers as ctr lists: no orphan.
    let tasks = ctr::parse(&fixture("ctr/tasks-list.txt")).expect("parses");
    // The capture ran containerd under a temporary root: that socket is the node's.
    let rt = KubeletRuntime::at(
        "/tmp/kubestall-capture.sF6nmS/var/snap/microk8s/common/run/containerd.sock",
    );
    assert!(shims.iter().all(|s| s.belongs_to(&rt)));
    assert_eq!(orphaned_shims(&shims, &tasks, &rt).count(), 0);
    // Judged against another containerd, none of them is the node's, so none is an
    // orphan even with no task listed at all.
    let other = KubeletRuntime::microk8s();
    assert_eq!(orphaned_shims(&shims, &[], &other).count(), 0);
    // A shell whose command line mentions the pattern is not a shim.
    let mixed = b"900 bash -c pgrep -af containerd-shim\n644 /usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id abc -address /run/x.sock\n";
    assert_eq!(pgrep::shims(mixed).expect("parses").len(), 1);
    assert_eq!(
        pgrep::shims(b"12 containerd-shim-runc-v2 -namespace k8s.io\n")
            .expect_err("no -id")
            .line,
        1
    );
}

#[test]
fn schedstat_from_proc_and_the_runbook() {
    let a = schedstat::parse(&fixture("schedstat/shim-sample-1.txt")).expect("parses");
    let b = schedstat::parse(&fixture("schedstat/shim-sample-2.txt")).expect("parses");
    assert!(a.on_cpu_ns > 0 && a.timeslices > 0);
    assert_eq!(a, b, "an idle shim used no CPU in 3 s");
    let r1 = schedstat::parse(&fixture("runbook/schedstat-1.txt")).expect("parses");
    assert_eq!(
        (r1.on_cpu_ns, r1.wait_ns, r1.timeslices),
        (195_398_181, 57_385_342, 625)
    );
    assert_eq!(
        r1,
        schedstat::parse(&fixture("runbook/schedstat-2.txt")).expect("parses")
    );
    assert!(schedstat::parse(b"1 2\n").is_err());
}

#[test]
fn goroutine_dump_from_the_runbook() {
    let d = goroutines::parse(&fixture("runbook/goroutine-dump.txt")).expect("parses");
    let g = d
        .blocked_in("handleAnyWatch")
        .next()
        .expect("handleAnyWatch");
    assert_eq!(
        (g.id, g.state.as_str(), g.minutes),
        (12104, "select", Some(4))
    );
    assert_eq!(g.frames.len(), 2);
    assert_eq!(
        g.frames[1].location.as_deref(),
        Some("k8s.io/kubernetes/pkg/kubelet/config/apiserver.go:67")
    );
}

#[test]
fn goroutine_dump_from_containerd() {
    let d = goroutines::parse(&fixture("goroutines/containerd-usr1.txt")).expect("parses");
    assert!(d.goroutines.len() > 10);
    assert!(
        d.goroutines
            .iter()
            .any(|g| g.state == "running" && g.frames[0].function.contains("dumpStacks"))
    );
    assert!(
        d.goroutines
            .iter()
            .all(|g| g.frames.iter().all(|f| f.location.is_some()))
    );
    let main = d
        .goroutines
        .iter()
        .find(|g| g.id == 1)
        .expect("goroutine 1");
    assert_eq!(main.state, "chan receive");
}

#[test]
fn goroutine_dump_inside_journal_lines() {
    let text = "May 22 02:38:21 k8s03 microk8s.daemon-kubelite[4242]: goroutine 12104 [select, 4 minutes]:\n\
                May 22 02:38:21 k8s03 microk8s.daemon-kubelite[4242]: k8s.io/client-go/tools/cache.handleAnyWatch(...)\n\
                May 22 02:38:21 k8s03 microk8s.daemon-kubelite[4242]: \t.../client-go/tools/cache/reflector.go:904\n";
    let d = goroutines::parse(text.as_bytes()).expect("parses");
    assert_eq!(d.blocked_in("handleAnyWatch").count(), 1);
}

#[test]
fn kube_json() {
    let pods = kube::pods(&fixture("kube/pods.json")).expect("parses");
    assert_eq!(pods.len(), 3);
    let web = &pods[0];
    assert_eq!(web.pod, PodRef::new("default", "web-7d9c6b5f8-x2k4p"));
    assert_eq!(
        (web.phase, web.node.as_ref().map(|n| n.as_str())),
        (PodPhase::Pending, Some("k8s03"))
    );
    assert_eq!(
        web.scheduled_at,
        Timestamp::parse_rfc3339("2026-05-22T02:33:59Z")
    );
    assert_eq!(
        pods[1].started_at,
        Timestamp::parse_rfc3339("2026-05-21T19:02:12Z")
    );
    assert!(pods[2].node.is_none() && pods[2].scheduled_at.is_none());
    let nodes = kube::nodes(&fixture("kube/nodes.json")).expect("parses");
    assert!(nodes[0].ready && !nodes[0].unschedulable);
    assert!(!nodes[1].ready && nodes[1].unschedulable);
    assert_eq!(nodes[1].ready_reason.as_deref(), Some("KubeletNotReady"));
    let events = kube::kubelet_events(&fixture("kube/events.json")).expect("parses");
    assert_eq!(
        events.get(&PodRef::new("buildkit", "buildkitd-0")),
        Some(&3)
    );
    assert_eq!(
        events.get(&PodRef::new("default", "web-7d9c6b5f8-x2k4p")),
        None,
        "the scheduler's event is not the kubelet's"
    );
    assert_eq!(
        kube::kubelet_pods(&fixture("kube/kubelet-pods.json")).expect("parses"),
        vec![PodRef::new("buildkit", "buildkitd-0")]
    );
    let e = kube::pods(b"{\n  \"items\": [\n    {\"metadata\": 5}\n  ]\n}").expect_err("bad");
    assert_eq!(e.line, 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = ctr::parse(&bytes);
        let _ = pgrep::shims(&bytes);
        let _ = pgrep::processes(&bytes);
        let _ = schedstat::parse(&bytes);
        let _ = systemctl::parse(&bytes);
        let _ = journal::parse_json(&bytes);
        let _ = journal::parse_short_iso(&bytes);
        let _ = journal::parse_short(&bytes, 2026);
        let _ = journal::parse_kubelet_json(&bytes);
        let _ = journal::parse_with(&bytes, journal::ReadOptions { year: Some(2026) });
        let _ = kubestall_node::klog::KlogLine::parse_json(&String::from_utf8_lossy(&bytes));
        let _ = goroutines::parse(&bytes);
        let _ = kube::pods(&bytes);
        let _ = kube::nodes(&bytes);
        let _ = kube::node(&bytes);
        let _ = kube::kubelet_events(&bytes);
        let _ = kube::kubelet_pods(&bytes);
        let _ = pgrep::defunct(&bytes);
        let _ = proc_stat::parse(&bytes);
        let _ = proc_stat::boot_time(&bytes);
    }

    #[test]
    fn no_parser_panics_on_valid_lines_mixed_with_garbage(garbage in "\\PC{0,80}", pick in 0usize..12) {
        let valid: [&[u8]; 12] = [
            b"Dec 03 06:16:54 k8s03 microk8s.daemon-kubelite[89]: x\n",
            b"{\"ts\":1796278614264.19,\"caller\":\"a.go:1\",\"msg\":\"m\",\"v\":0}\n",
            b"TASK PID STATUS\n",
            b"644 /usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id abc -address x\n",
            b"ActiveState=active\nMainPID=12\n",
            b"{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":\"m\"}\n",
            b"2026-05-22T02:34:21+0000 k8s03 kubelite[1]: x\n",
            b"goroutine 1 [running]:\nmain.main()\n\tmain.go:1\n",
            b"goroutine 1 gp=0xc000002380 m=nil [select, 12 minutes, locked to thread]:\n",
            b"86 [containerd-shim] <defunct>\n",
            b"81 (a) b (c) S 1 0 0 0 -1 4194304 126 0 0 0 0 0 0 0 20 0 1 0 60965 2990080\nbtime 1\n",
            b"ExecMainStartTimestamp=@1796194874\nExecMainStartTimestamp=Wed 2026-12-02 08:01:14 CET\n",
        ];
        let mut input = valid[pick].to_vec();
        input.extend_from_slice(garbage.as_bytes());
        input.extend_from_slice(valid[pick]);
        let _ = ctr::parse(&input);
        let _ = pgrep::shims(&input);
        let _ = systemctl::parse(&input);
        let _ = journal::parse_any(&input);
        let _ = goroutines::parse(&input);
        let _ = journal::parse_short_iso(&input);
        let _ = journal::parse_with(&input, journal::ReadOptions { year: Some(2026) });
        let _ = pgrep::processes(&input);
        let _ = pgrep::defunct(&input);
        let _ = proc_stat::parse(&input);
        let _ = proc_stat::boot_time(&input);
        let _ = kube::kubelet_pods(&input);
    }
}

#[test]
fn systemd_time_forms() {
    let t = systemctl::parse_systemd_time("Tue 2026-11-24 15:30:02 UTC").expect("utc");
    assert_eq!(t.rfc3339(), "2026-11-24T15:30:02Z");
    assert_eq!(
        systemctl::parse_systemd_time("Tue 2026-11-24 17:30:02 +0200"),
        Some(t)
    );
    assert_eq!(
        systemctl::parse_systemd_time("Tue 2026-11-24 16:30:02 CET"),
        Some(t),
        "a zone name with one meaning"
    );
    assert_eq!(
        systemctl::parse_systemd_time("Tue 2026-11-24 15:30:02 IST"),
        None,
        "IST is +05:30, +01:00 or +02:00: not guessed"
    );
    let s = systemctl::parse(
        b"MainPID=0\nActiveState=inactive\nExecMainStartTimestamp=\nNRestarts=0\n",
    )
    .expect("inactive");
    assert_eq!(
        (s.active, s.main_pid, s.started_at),
        (ActiveState::Inactive, None, None)
    );
    assert!(systemctl::parse(b"MainPID=x\nActiveState=active\n").is_err());
}

#[test]
fn journal_units_and_pids_from_json() {
    let j = journal::parse_json(b"{\"__REALTIME_TIMESTAMP\":\"1779417261000000\",\"_SYSTEMD_UNIT\":\"snap.microk8s.daemon-kubelite.service\",\"_PID\":\"4242\",\"MESSAGE\":[104,105,255]}\n").expect("parses");
    assert_eq!(j[0].unit, Some(Unit::Kubelite));
    assert_eq!(j[0].pid.map(|p| p.0), Some(4242));
    assert_eq!(j[0].at, Timestamp::from_secs(1_779_417_261));
    assert!(
        j[0].message.starts_with("hi"),
        "a byte-array MESSAGE is decoded"
    );
    assert_eq!(
        journal::parse_json(b"{\"MESSAGE\":\"x\"}\n")
            .expect_err("no time")
            .line,
        1
    );
}

#[test]
fn journal_json_from_journalctl() {
    let j = journal::parse_json(&fixture("journal/kubelite.json")).expect("parses");
    assert_eq!(j.len(), 7);
    let kubelite: Vec<_> = j
        .iter()
        .filter(|e| e.unit == Some(Unit::Kubelite))
        .collect();
    assert!(kubelite.len() >= 6);
    assert!(kubelite.iter().all(
        |e| e.identifier.as_deref() == Some("microk8s.daemon-kubelite")
            && e.pid.is_some()
            && e.cursor.is_some()
    ));
    assert!(
        j.iter()
            .any(|e| e.message.contains("Successfully registered node"))
    );
    assert!(j.iter().any(|e| e.message.contains("\"attempt\":52")));
    // journald stored the line with a control character as an array of bytes.
    assert!(j.iter().any(|e| e.message == "binary \u{1} line"));
    assert!(j.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn journal_short_iso_from_journalctl() {
    let j = journal::parse_short_iso(&fixture("journal/kubelite-short-iso.txt")).expect("parses");
    let json = journal::parse_json(&fixture("journal/kubelite.json")).expect("parses");
    assert_eq!(j.len(), json.len());
    // Same entries, to the second (short-iso has no fraction).
    for (a, b) in j.iter().zip(&json) {
        assert_eq!(a.at.as_micros() / 1_000_000, b.at.as_micros() / 1_000_000);
        assert_eq!(a.pid, b.pid);
    }
    assert_eq!(j[1].hostname.as_deref(), Some("k8s03"));
    assert!(
        journal::parse_short_iso(&fixture("journal/empty.txt"))
            .expect("parses")
            .is_empty(),
        "-- No entries --"
    );
    assert_eq!(
        journal::parse_any(&fixture("journal/kubelite.json"))
            .expect("json")
            .len(),
        7
    );
}

#[test]
fn systemctl_show_from_systemd() {
    let a = systemctl::parse(&fixture("systemctl/active.txt")).expect("parses");
    assert_eq!(a.active, ActiveState::Active);
    assert!(a.main_pid.is_some() && a.started_at.is_some());
    let f = systemctl::parse(&fixture("systemctl/failed.txt")).expect("parses");
    assert_eq!((f.active, f.main_pid), (ActiveState::Failed, None));
    let i = systemctl::parse(&fixture("systemctl/inactive.txt")).expect("parses");
    assert_eq!(
        (i.active, i.main_pid, i.started_at),
        (ActiveState::Inactive, None, None)
    );
}

#[test]
fn pgrep_processes_from_a_node() {
    let p = pgrep::processes(&fixture("pgrep/sleep.txt")).expect("parses");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].cmdline, vec!["sleep".to_string(), "3600".into()]);
}

#[test]
fn kubelet_pods_null_items_and_refusals() {
    assert_eq!(
        kube::kubelet_pods(&fixture("kube/kubelet-pods-none.json")).expect("items: null"),
        vec![]
    );
    assert!(
        kube::pods(b"{\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"},\"status\":{\"conditions\":null}}]}")
            .expect("conditions: null")
            .len()
            == 1
    );
    let e = kube::kubelet_pods(&fixture("kube/kubelet-unauthorized.txt")).expect_err("401");
    assert_eq!((e.line, e.text.as_str()), (1, "Unauthorized"));
    assert!(e.message.contains("unauthorized"), "{e}");
    assert!(e.message.contains("client certificate"), "{e}");
    assert!(e.message.contains("/proxy/pods"), "{e}");
    assert_eq!(
        kube::refusal(&fixture("kube/kubelet-unauthorized.txt")),
        Some(401)
    );
    assert_eq!(
        kube::refusal(&fixture("kube/kubelet-forbidden.txt")),
        Some(403)
    );
    assert_eq!(kube::refusal(&fixture("kube/kubelet-pods.json")), None);
    assert!(
        !e.message.contains("expected value"),
        "not a JSON syntax error: {e}"
    );
    let e = kube::kubelet_pods(&fixture("kube/kubelet-forbidden.txt")).expect_err("403");
    assert!(e.message.contains("forbidden"), "{e}");
    assert!(e.text.contains("subresource=proxy"), "{e}");
    // Through kubectl the hint is about kubectl's credentials, not the kubelet's.
    let e = kube::pods(b"Unauthorized\n").expect_err("401");
    assert!(e.message.contains("kubeconfig"), "{e}");
}

#[test]
fn journal_json_duplicate_fields_bytes_and_newlines_from_journald() {
    let j = journal::parse_json(&fixture("journal/edges.json")).expect("parses");
    assert_eq!(j.len(), 3);
    assert_eq!(
        j[0].message, "second value",
        "a field given twice: the last one"
    );
    assert_eq!(j[1].message, "not \u{fffd} UTF-8", "bytes decoded lossily");
    assert_eq!(
        j[2].message,
        "panic: first line\n\tsecond line\n  third line"
    );
    assert!(
        j.iter()
            .all(|e| e.identifier.as_deref() == Some("kubestall-edges") && e.pid.is_some())
    );
    // Any field may be an array; a value that is neither string nor bytes is named.
    let dup = journal::parse_json(
        b"{\"__REALTIME_TIMESTAMP\":[\"1\",\"2\"],\"_PID\":[\"7\",\"8\"],\"MESSAGE\":[[104,105],\"x\",[111,107]]}\n",
    )
    .expect("parses");
    assert_eq!(
        (dup[0].at, dup[0].pid.map(|p| p.0), dup[0].message.as_str()),
        (Timestamp::from_micros(2), Some(8), "ok")
    );
    let e = journal::parse_json(
        b"{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":\"a\"}\n{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":{\"x\":1}}\n",
    )
    .expect_err("an object");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("MESSAGE"), "{e}");
    assert_eq!(
        journal::parse_json(b"{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":[104,300]}\n")
            .expect_err("not a byte")
            .line,
        1
    );
}

#[test]
fn journal_short_iso_continuation_lines_from_journalctl() {
    let j = journal::parse_short_iso(&fixture("journal/edges-short-iso.txt")).expect("parses");
    let json = journal::parse_json(&fixture("journal/edges.json")).expect("parses");
    assert_eq!(
        j.len(),
        3,
        "continuation lines belong to the entry before them"
    );
    assert_eq!(j[0].message, "second value");
    assert_eq!(
        j[1].message, "[11B blob data]",
        "journalctl's stand-in for bytes"
    );
    // journalctl indents each further line to the message column (a tab becomes
    // spaces); with the indent removed, the lines read as the message's lines.
    let lines: Vec<&str> = j[2].message.lines().map(str::trim).collect();
    let want: Vec<&str> = json[2].message.lines().map(str::trim).collect();
    assert_eq!(lines, want);
    assert_eq!(
        j[2].message.lines().nth(2),
        Some("  third line"),
        "indent past the column is the message's own"
    );
    let e = journal::parse_short_iso(b"  orphan continuation\n").expect_err("nothing to continue");
    assert_eq!(e.line, 1);
}

#[test]
fn pgrep_zombie_shims_and_lookalikes_from_procps() {
    let text = fixture("pgrep/shims-zombie.txt");
    let shims = pgrep::shims(&text).expect("parses");
    assert_eq!(shims.len(), 1, "only the live shim: {shims:?}");
    assert_eq!(shims[0].namespace, "k8s.io");
    assert_eq!(shims[0].container_id.as_str().len(), 64);
    let zombies = pgrep::defunct(&text).expect("parses");
    assert_eq!(zombies.len(), 1);
    let procs = pgrep::processes(&text).expect("parses");
    assert_eq!(procs.len(), 2, "the zombie is not a running process");
    assert!(!procs.iter().any(|p| zombies.contains(&p.pid)));
    // What pgrep's substring match lets in besides shims.
    let mixed = b"10 /usr/local/bin/containerd-shim-exporter --port 9100\n\
        11 [containerd-shim]\n\
        12 /usr/bin/containerd-shim-runc-v2 -namespace k8s.io -address /run/c.sock -publish-binary /usr/bin/containerd -id abc start\n\
        13 /usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id abc -address /run/c.sock\n\
        14 containerd-shim -namespace moby -workdir /var/lib/containerd/io.containerd.runtime.v1.linux/moby/def -address /run/c.sock -containerd-binary /usr/bin/containerd\n\
        15 /opt/kata/bin/containerd-shim-kata-v2 -namespace k8s.io -id ghi -address /run/c.sock\n";
    let shims = pgrep::shims(mixed).expect("parses");
    let got: Vec<(u32, &str)> = shims
        .iter()
        .map(|s| (s.pid.0, s.container_id.as_str()))
        .collect();
    assert_eq!(got, [(13, "abc"), (14, "def"), (15, "ghi")]);
    for (name, shim) in [
        ("/usr/bin/containerd-shim-runc-v2", true),
        ("containerd-shim", true),
        ("containerd-shim-runsc-v1", true),
        ("containerd-shim-exporter", false),
        ("containerd-shim-v2", false),
        ("my-containerd-shim", false),
        ("containerd-shimmy", false),
    ] {
        assert_eq!(pgrep::is_shim_binary(name), shim, "{name}");
    }
}

#[test]
fn systemctl_show_in_other_zones_and_epoch_seconds_from_systemd() {
    let utc = systemctl::parse(&fixture("systemctl/active-utc.txt")).expect("utc");
    let started = utc.started_at.expect("started");
    for f in [
        "systemctl/active-cet.txt",
        "systemctl/active-est.txt",
        "systemctl/active-unix.txt",
    ] {
        let s = systemctl::parse(&fixture(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(s.started_at, Some(started), "{f}");
        assert_eq!((s.active, s.main_pid), (utc.active, utc.main_pid), "{f}");
    }
    let e = systemctl::parse(&fixture("systemctl/active-ist.txt")).expect_err("IST is ambiguous");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("TZ=UTC systemctl show"), "{e}");
    assert!(e.message.contains("--timestamp=unix"), "{e}");
    let i = systemctl::parse(&fixture("systemctl/inactive-unix.txt")).expect("never started");
    assert_eq!((i.active, i.started_at), (ActiveState::Inactive, None));
    let na = systemctl::parse(b"ActiveState=inactive\nExecMainStartTimestamp=n/a\n").expect("n/a");
    assert_eq!(na.started_at, None);
    for (zone, t) in [
        ("+0530", "Wed 2026-12-02 12:31:14 +0530"),
        ("+05:30", "Wed 2026-12-02 12:31:14 +05:30"),
        ("-03", "Wed 2026-12-02 04:01:14 -03"),
        ("no weekday", "2026-12-02 07:01:14 UTC"),
    ] {
        assert_eq!(
            systemctl::parse_systemd_time(t),
            systemctl::parse_systemd_time("@1796194874"),
            "{zone}"
        );
    }
    assert!(systemctl::systemd_time("@12x").is_err());
    assert!(systemctl::systemd_time("@99999999999999999999").is_err());
}

#[test]
fn goroutine_header_variants() {
    let d = goroutines::parse(
        b"goroutine 1 gp=0xc000002380 m=nil [select, 12 minutes]:\nmain.main()\n\tmain.go:1 +0x1\n\n\
goroutine 2 [select, 12 minutes, locked to thread]:\nmain.a()\n\tmain.go:2\n\n\
goroutine 3 [chan receive (nil chan)]:\nmain.b()\n\tmain.go:3\n\n\
goroutine 4 [sync.Mutex.Lock, 1 minutes]:\nmain.c()\n\tmain.go:4\n\n\
goroutine 5 [syscall]:\nsyscall.Syscall()\n\tsyscall.go:5\n\n\
goroutine 6 gp=0xc0000b9180 m=5 mp=0xc0000a4008 [syscall, 3 minutes, locked to thread]:\nmain.d()\n\tmain.go:6\n\n\
goroutine 7 [running]:\n\tgoroutine running on other thread; stack unavailable\n\n\
goroutine 8 [running]:\ngoroutine running on other thread; stack unavailable\n",
    )
    .expect("parses");
    let got: Vec<(u64, &str, Option<u32>)> = d
        .goroutines
        .iter()
        .map(|g| (g.id, g.state.as_str(), g.minutes))
        .collect();
    assert_eq!(
        got,
        [
            (1, "select", Some(12)),
            (2, "select", Some(12)),
            (3, "chan receive (nil chan)", None),
            (4, "sync.Mutex.Lock", Some(1)),
            (5, "syscall", None),
            (6, "syscall", Some(3)),
            (7, "running", None),
            (8, "running", None),
        ]
    );
    for bad in [
        &b"goroutine x [running]:\n"[..],
        b"goroutine 1 running:\n",
        b"goroutine 1 []:\n",
    ] {
        assert_eq!(goroutines::parse(bad).expect_err("bad header").line, 1);
    }
}

#[test]
fn goroutine_dump_from_go_1_24() {
    let d = goroutines::parse(&fixture("goroutines/docker-go1.24-sigquit.txt")).expect("parses");
    assert!(d.goroutines.len() > 10);
    let main = d
        .goroutines
        .iter()
        .find(|g| g.id == 1)
        .expect("goroutine 1");
    assert_eq!(main.state, "select");
    assert!(
        main.frames
            .iter()
            .any(|f| f.function.starts_with("main.main"))
    );
    assert!(
        d.goroutines
            .iter()
            .any(|g| g.state == "select" && g.frames.len() > 1 && g.id == 9),
        "`[select, locked to thread]`"
    );
    assert!(d.goroutines.iter().any(|g| g.state == "syscall"));
    assert!(
        d.goroutines
            .iter()
            .all(|g| !g.frames.iter().any(|f| f.function.starts_with("rax"))),
        "the register dump after the stacks is not a frame"
    );
}

#[test]
fn proc_stat_from_the_kernel() {
    let shim = proc_stat::parse(&fixture("proc/shim-stat.txt")).expect("parses");
    assert_eq!(
        (shim.comm.as_str(), shim.state, shim.ppid),
        ("containerd-shim", ProcState::Sleeping, 1)
    );
    let boot = proc_stat::boot_time(&fixture("proc/stat.txt")).expect("btime");
    let hz: u64 = String::from_utf8_lossy(&fixture("proc/clk-tck.txt"))
        .trim()
        .parse()
        .expect("CLK_TCK");
    let started = shim.started_at(boot, hz);
    // `ps -o lstart` (TZ=UTC) printed the same second.
    let lstart = String::from_utf8_lossy(&fixture("proc/shim-lstart.txt")).into_owned();
    let c = started.civil();
    let hms = format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second);
    assert!(lstart.contains(&hms), "{lstart:?} vs {hms}");
    assert!(lstart.trim().ends_with(&c.year.to_string()));
    let odd = proc_stat::parse(&fixture("proc/parens-stat.txt")).expect("parses");
    assert_eq!(odd.comm, "a) b (c", "the name runs to the last `)`");
    assert_eq!(odd.state, ProcState::Sleeping);
    assert!(odd.start_ticks > shim.start_ticks);
    let z = proc_stat::parse(&fixture("proc/zombie-stat.txt")).expect("parses");
    assert_eq!(
        (z.comm.as_str(), z.state),
        ("containerd-shim", ProcState::Zombie)
    );
    for bad in [
        &b"12 (x S 1\n"[..],
        b"12 (x) S 1 2 3\n",
        b"x (y) S 1 0 0 0 -1 4194304 126 0 0 0 0 0 0 0 20 0 1 0 60965 2990080\n",
        b"12 (y) SS 1 0 0 0 -1 4194304 126 0 0 0 0 0 0 0 20 0 1 0 60965 2990080\n",
        b"12 (y) S 1 0 0 0 -1 4194304 126 0 0 0 0 0 0 0 20 0 1 0 -5 2990080\n",
        b"",
    ] {
        assert_eq!(proc_stat::parse(bad).expect_err("bad stat").line, 1);
    }
    assert!(proc_stat::boot_time(b"cpu 1 2\n").is_err());
    assert_eq!(
        proc_stat::boot_time(b"cpu 1\nbtime x\n")
            .expect_err("x")
            .line,
        2
    );
}

/// The errors an operator reads when a node answers in a form the parsers refuse.
#[test]
fn error_messages_people_read() {
    insta::assert_snapshot!(
        "kubelet_pods_unauthorized",
        kube::kubelet_pods(&fixture("kube/kubelet-unauthorized.txt"))
            .expect_err("401")
            .to_string()
    );
    insta::assert_snapshot!(
        "kubelet_pods_forbidden",
        kube::kubelet_pods(&fixture("kube/kubelet-forbidden.txt"))
            .expect_err("403")
            .to_string()
    );
    insta::assert_snapshot!(
        "systemctl_ambiguous_zone",
        systemctl::parse(&fixture("systemctl/active-ist.txt"))
            .expect_err("IST")
            .to_string()
    );
    insta::assert_snapshot!(
        "journal_field_not_a_string",
        journal::parse_json(b"{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":{\"x\":1}}\n")
            .expect_err("object")
            .to_string()
    );
    insta::assert_snapshot!(
        "proc_stat_too_few_fields",
        proc_stat::parse(b"12 (x) S 1 2 3\n")
            .expect_err("short")
            .to_string()
    );
}

#[test]
fn journal_default_short_format_from_journalctl() {
    let short = fixture("journal/kubelite-short.txt");
    assert_eq!(
        journal::detect_format(&short).expect("known"),
        journal::Format::Short
    );
    let e = journal::parse_any(&short).expect_err("no year");
    assert!(e.message.contains("--year"), "{e}");
    let j = journal::parse_with(&short, journal::ReadOptions { year: Some(2026) }).expect("parses");
    assert_eq!(j.len(), 6);
    assert_eq!(j[1].at, Timestamp::from_civil(2026, 12, 3, 6, 16, 54));
    assert_eq!(j[1].pid.map(|p| p.0), Some(89));
    assert_eq!(j[1].identifier.as_deref(), Some("microk8s.daemon-kubelite"));
    assert_eq!(j[1].hostname.as_deref(), Some("k8s03"));
    assert!(
        j[3].message
            .ends_with("err=\"no imagefs label for configured runtime\"")
    );
    // A message that starts with spaces is its own entry, not a continuation.
    assert_eq!(j[5].message, "  an indented second line");
    let precise = journal::parse_with(
        &fixture("journal/kubelite-short-precise.txt"),
        journal::ReadOptions { year: Some(2026) },
    )
    .expect("parses");
    assert_eq!(precise.len(), 6);
    assert_eq!(
        precise[1].at.as_micros() % 1_000_000,
        256_054,
        "short-precise keeps the microseconds"
    );
    // The year turns over where the month goes back.
    let turn = journal::parse_short(
        b"Dec 31 23:59:59 k8s03 kubelite[1]: a\nJan 01 00:00:01 k8s03 kubelite[1]: b\n",
        2025,
    )
    .expect("parses");
    assert_eq!(turn[1].at, Timestamp::from_civil(2026, 1, 1, 0, 0, 1));
}

#[test]
fn kubelet_json_log_lines_from_the_kubelets_logging_code() {
    let lines = fixture("journal/kubelet-json.txt");
    assert_eq!(
        journal::detect_format(&lines).expect("known"),
        journal::Format::KubeletJson
    );
    let j = journal::parse_any(&lines).expect("parses");
    assert_eq!(j.len(), 6);
    // `ts` is milliseconds since the epoch: the same instants journald recorded.
    let json = journal::parse_json(&fixture("journal/kubelet-json.json")).expect("parses");
    let logged: Vec<_> = json.iter().filter(|e| e.message.starts_with('{')).collect();
    assert_eq!(logged.len(), 6);
    for (a, b) in j.iter().zip(&logged) {
        assert_eq!(a.message, b.message);
        let apart = (a.at.as_micros() - b.at.as_micros()).abs();
        assert!(apart < 1_000_000, "{} vs {}", a.at, b.at);
    }
    let k = kubestall_node::klog::KlogLine::parse_json(&j[2].message).expect("a kubelet line");
    assert_eq!(
        k.field("err"),
        Some("no imagefs label for configured runtime")
    );
    assert_eq!(k.file, "main.go");
    let add = kubestall_node::klog::KlogLine::parse_json(&j[3].message).expect("a kubelet line");
    assert_eq!(add.field("pods"), Some("[\"default/web-1\"]"));
    let reg = kubestall_node::klog::KlogLine::parse_json(&j[1].message).expect("a kubelet line");
    assert_eq!(reg.field("node"), Some("k8s03"));
}

#[test]
fn empty_and_binary_journals_are_refused_with_the_formats_read() {
    for input in [&b""[..], b"\n\n", &fixture("journal/empty.txt")] {
        let e = journal::parse_any(input).expect_err("nothing to read");
        assert!(e.message.contains("-o json"), "{e}");
    }
    let e = journal::parse_any(b"LPKSHHRH\x00\x00\x00\x01binary journal").expect_err("binary");
    assert!(e.message.contains("journalctl --file"), "{e}");
    let e = journal::parse_any(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0]).expect_err("binary");
    assert!(e.message.contains("binary"), "{e}");
    let e = journal::parse_any(b"hello world\n").expect_err("not a journal");
    assert!(e.message.contains("short-iso"), "{e}");
}
