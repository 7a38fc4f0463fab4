//! The subcommands that look at or act on one node: `detect`, `capture`, `remediate`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubestall_detectors::bundle::{self, Meta};
use kubestall_detectors::render::{render_npd, render_text};
use kubestall_detectors::{DetectReport, Finding, Verdict};
use kubestall_node::parse::journal;
use kubestall_node::{
    Clock, Cmd, FailureMode, HostNode, HostPaths, Local, NodeName, Observe, Timestamp, Unit,
};
use kubestall_remediation::{
    AuditLog, Executor, Locks, PlanContext, ProcedureId, RenderOptions, SafetyPolicy, audit,
    plan_for, render_dry_run,
};

use crate::cli::{BackendKind, CaptureArgs, DetectArgs, OutputFormat, RemediateArgs};
use crate::exit::Failure;

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unavailable(format!("cannot start an async runtime: {e}")))
}

fn node_name(s: &str) -> Result<NodeName, Failure> {
    NodeName::new(s).map_err(|e| Failure::Usage(e.to_string()))
}

/// `kubestall detect`.
pub fn detect(args: DetectArgs) -> Result<(), Failure> {
    let report: DetectReport = match (&args.bundle, &args.journal) {
        (Some(dir), _) => {
            let b = bundle::read_bundle(dir).map_err(|e| Failure::Usage(e.to_string()))?;
            bundle::classify_bundle(&b)
        }
        (None, Some(file)) => {
            let bytes = std::fs::read(file)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            let opts = journal::ReadOptions {
                year: match (args.year, journal::detect_format(&bytes)) {
                    (Some(y), _) => Some(y),
                    (None, Ok(journal::Format::Short)) => {
                        let y = short_year(file, &bytes);
                        eprintln!(
                            "{}: the short format prints no year: read from {y} on (the file's date); give --year to change it",
                            file.display()
                        );
                        Some(y)
                    }
                    (None, _) => None,
                },
            };
            bundle::classify_journal(args.node.as_deref(), &bytes, opts)
                .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?
        }
        (None, None) => {
            return Err(Failure::Usage(
                "give --bundle DIR (from `kubestall capture`) or --journal FILE (from `journalctl -o json`)".into(),
            ));
        }
    };
    print_report(&report, args.output)
}

/// The year of the first line of a `-o short` export, taken from the file's date:
/// its last line is at most a day after the file was written.
fn short_year(file: &Path, bytes: &[u8]) -> i32 {
    let written = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| Timestamp::from_micros(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
        .unwrap_or_else(Timestamp::now_wall);
    let year = written.civil().year;
    let Some(last) = journal::parse_short(bytes, year)
        .ok()
        .and_then(|e| e.last().map(|e| e.at))
    else {
        return year;
    };
    // Years crossed inside the export, and one more if its end lies after the file's date.
    let mut first = year - (last.civil().year - year);
    if last > written.add(Duration::from_secs(86_400)) {
        first -= 1;
    }
    first
}

fn print_report(report: &DetectReport, output: OutputFormat) -> Result<(), Failure> {
    match output {
        OutputFormat::Npd => {
            let (code, line) = render_npd(report);
            println!("{line}");
            let _ = std::io::stdout().flush();
            // node-problem-detector reads the exit code itself: 0 OK, 1 problem, 2 unknown.
            std::process::exit(i32::from(code));
        }
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(report).map_err(|e| Failure::Usage(e.to_string()))?
        ),
        OutputFormat::Junit => {
            return Err(Failure::Usage(
                "--output junit is for `kubestall run`; use text, json or npd".into(),
            ));
        }
        OutputFormat::Text => {
            print!("{}", render_text(report));
            for f in &report.findings {
                print_fix(f);
            }
        }
    }
    match report.verdict {
        Verdict::Healthy => Ok(()),
        Verdict::Found => Err(Failure::Expectation(format!(
            "{} finding(s) on {}",
            report.findings.len(),
            report.node
        ))),
        Verdict::CannotTell => Err(Failure::CannotTell(format!(
            "cannot tell whether {} is stalled: {} mode(s) need evidence this input lacks",
            report.node,
            report.undecided.len()
        ))),
    }
}

/// The runbook's commands for a finding, as the dry run prints them.
fn print_fix(f: &Finding) {
    let mut ctx = PlanContext::new(f.node.clone());
    ctx.kine_errors = f.kine_errors;
    let plan = plan_for(ProcedureId::Fix(f.mode), &ctx);
    println!("\n{}", render_dry_run(&plan, &RenderOptions::default()));
}

/// `kubestall capture`: the raw outputs of the runbook's commands on this machine.
pub fn capture(args: CaptureArgs) -> Result<(), Failure> {
    let name = node_name(&args.node)?;
    let stamp = Timestamp::now_wall().rfc3339().replace(':', "");
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("evidence-{name}-{stamp}")));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let paths = HostPaths {
        context: args.context.clone(),
        ..HostPaths::default()
    };
    let host = HostNode::new(name.clone(), Local, Local, paths);
    let rt = runtime()?;
    let meta = rt.block_on(capture_into(&host, &dir, &args))?;
    eprintln!(
        "wrote {} ({} files; {} command(s) failed: {})",
        dir.display(),
        meta.commands.len(),
        meta.errors.len(),
        if meta.errors.is_empty() {
            "none".to_string()
        } else {
            meta.errors.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    );
    println!("{}", dir.display());
    // Shim lists alone prove nothing: any machine running Docker has shims. A
    // capture is of a node when it holds kubelite's own evidence or the API's.
    const NODE_EVIDENCE: [&str; 5] = [
        "journal-kubelite.json",
        "service-kubelite.txt",
        "node.json",
        "pods.json",
        "kubelet-pods.json",
    ];
    let captured = NODE_EVIDENCE
        .iter()
        .filter(|f| meta.commands.contains_key(**f) && !meta.errors.contains_key(**f))
        .count();
    if captured == 0 {
        let first: Vec<String> = meta
            .errors
            .iter()
            .filter(|(f, _)| NODE_EVIDENCE.contains(&f.as_str()))
            .take(3)
            .map(|(f, e)| {
                let last: String = e.lines().last().unwrap_or("").chars().take(160).collect();
                format!("{f}: {last}")
            })
            .collect();
        return Err(Failure::Unavailable(format!(
            "captured nothing of the node: kubelite's journal and service state and the API's view all failed ({}). Run `kubestall capture` on the node itself, as root, with microk8s running (or give --context for the API calls); `kubestall detect` on this folder can only answer \"cannot tell\"",
            first.join("; ")
        )));
    }
    Ok(())
}

async fn capture_into(
    host: &HostNode<Local, Local>,
    dir: &Path,
    args: &CaptureArgs,
) -> Result<Meta, Failure> {
    let mut meta = Meta {
        node: args.node.clone(),
        context: args.context.clone(),
        containerd_address: Some(host.kubelet_runtime().address),
        ..Meta::default()
    };
    let since = Timestamp::now_wall().sub(Duration::from_secs(30 * 60));
    let save = |file: &str,
                cmd: &Cmd,
                out: Result<kubestall_node::CmdOutput, kubestall_node::NodeError>,
                meta: &mut Meta| {
        meta.commands.insert(file.to_string(), cmd.to_string());
        match out {
            // journalctl without a journal exits 0 and prints nothing: nothing was captured.
            Ok(o) if o.success() && o.stdout.iter().all(u8::is_ascii_whitespace) => {
                let stderr = String::from_utf8_lossy(&o.stderr).trim().to_string();
                meta.errors.insert(
                    file.to_string(),
                    if stderr.is_empty() {
                        "no output".to_string()
                    } else {
                        format!("no output: {stderr}")
                    },
                );
            }
            Ok(o) if o.success() => {
                let path = dir.join(file);
                if let Err(e) = std::fs::write(&path, &o.stdout) {
                    meta.errors.insert(
                        file.to_string(),
                        format!("cannot write {}: {e}", path.display()),
                    );
                }
            }
            Ok(o) => {
                meta.errors.insert(
                    file.to_string(),
                    String::from_utf8_lossy(&o.stderr).trim().to_string(),
                );
            }
            Err(e) => {
                meta.errors.insert(file.to_string(), e.to_string());
            }
        }
    };
    for (file, unit) in [
        ("journal-kubelite.json", Unit::Kubelite),
        ("journal-k8s-dqlite.json", Unit::K8sDqlite),
        ("journal-containerd.json", Unit::Containerd),
    ] {
        let c = host.journal_cmd(&unit, since);
        save(file, &c, host.run_node(&c).await, &mut meta);
    }
    for (file, unit) in [
        ("service-kubelite.txt", Unit::Kubelite),
        ("service-containerd.txt", Unit::Containerd),
    ] {
        let c = host.service_cmd(&unit);
        save(file, &c, host.run_node(&c).await, &mut meta);
    }
    let c = host.shims_cmd();
    save("shims.txt", &c, host.run_node(&c).await, &mut meta);
    let c = host.tasks_cmd();
    save("tasks.txt", &c, host.run_node(&c).await, &mut meta);
    let c = host.kubelet_pods_cmd();
    let out = host.run_node(&c).await;
    if out
        .as_ref()
        .is_ok_and(|o| kubestall_node::parse::kube::refusal(&o.stdout).is_some())
    {
        // The kubelet refuses anonymous requests: the same list through the API server.
        let c = host.kubelet_pods_proxy_cmd();
        save("kubelet-pods.json", &c, host.run_api(&c).await, &mut meta);
    } else {
        save("kubelet-pods.json", &c, out, &mut meta);
    }
    for (file, c) in [
        ("node.json", host.node_view_cmd()),
        ("nodes.json", host.nodes_cmd()),
        ("pods.json", host.pods_cmd()),
        ("events.json", host.events_cmd()),
    ] {
        let out = host.run_api(&c).await;
        save(file, &c, out, &mut meta);
    }
    // Two schedstat samples of kubelite's main process, a few seconds apart.
    match host
        .service(&Unit::Kubelite)
        .await
        .ok()
        .and_then(|s| s.main_pid)
    {
        Some(pid) => {
            for (i, file) in ["schedstat-1.txt", "schedstat-2.txt"]
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    host.sleep(Duration::from_secs(args.sample_secs.max(1)))
                        .await;
                }
                let c = host.node_cmd("cat").arg(format!("/proc/{pid}/schedstat"));
                meta.schedstat_at.push(Timestamp::now_wall().to_string());
                save(file, &c, host.run_node(&c).await, &mut meta);
            }
        }
        None => {
            meta.errors.insert(
                "schedstat-1.txt".into(),
                "kubelite has no main process (is it running?)".into(),
            );
        }
    }
    if args.goroutines {
        match host.goroutine_dump().await {
            Ok(Some(_)) => {
                let c = host.journal_cmd(
                    &Unit::Kubelite,
                    Timestamp::now_wall().sub(Duration::from_secs(10)),
                );
                if let Ok(o) = host.run_node(&c).await
                    && let Ok(entries) = kubestall_node::parse::journal::parse_json(&o.stdout)
                {
                    let text: String = entries.iter().map(|e| format!("{}\n", e.message)).collect();
                    let path = dir.join("goroutines.txt");
                    if let Err(e) = std::fs::write(&path, text) {
                        meta.errors.insert(
                            "goroutines.txt".into(),
                            format!("cannot write {}: {e}", path.display()),
                        );
                    }
                }
            }
            Ok(None) => {
                meta.errors.insert(
                    "goroutines.txt".into(),
                    "no goroutine dump in kubelite's journal after SIGUSR1".into(),
                );
            }
            Err(e) => {
                meta.errors.insert("goroutines.txt".into(), e.to_string());
            }
        }
    }
    meta.captured_at = Some(Timestamp::now_wall().to_string());
    let json = serde_json::to_string_pretty(&meta).map_err(|e| Failure::Usage(e.to_string()))?;
    std::fs::write(dir.join("meta.json"), json)
        .map_err(|e| Failure::Usage(format!("cannot write meta.json: {e}")))?;
    Ok(meta)
}

/// `kubestall remediate`.
pub fn remediate(args: RemediateArgs) -> Result<(), Failure> {
    if let Some(log) = &args.resume {
        return resume(&args, log);
    }
    let node = node_name(args.node.as_deref().unwrap_or_default())?;
    let procedure: ProcedureId = args
        .procedure
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(Failure::Usage)?;
    let mut ctx = PlanContext::new(node.clone());
    ctx.kine_errors = args.kine_errors;
    ctx.emergency = args.emergency;
    let plan = plan_for(procedure, &ctx);
    if !args.execute {
        match args.output {
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&plan).map_err(|e| Failure::Usage(e.to_string()))?
            ),
            _ => print!(
                "{}",
                render_dry_run(
                    &plan,
                    &RenderOptions {
                        context: args.context.clone(),
                        ssh: args.ssh
                    }
                )
            ),
        }
        return Ok(());
    }
    let policy = SafetyPolicy {
        allow_nuclear: args.allow_nuclear,
        min_schedulable: args.min_schedulable,
        ..SafetyPolicy::default()
    };
    match args.backend {
        BackendKind::Local => {
            let host = HostNode::new(
                node.clone(),
                Local,
                Local,
                HostPaths {
                    context: Some(args.context.clone()),
                    ..HostPaths::default()
                },
            );
            let log = args
                .audit_log
                .clone()
                .unwrap_or_else(|| default_audit_path(&node, procedure));
            let mut audit = AuditLog::append(&log).map_err(|e| Failure::Usage(e.to_string()))?;
            eprintln!("audit log: {}", log.display());
            let exec = Executor::new(
                policy,
                Locks::Files(Locks::default_dir()),
                args.context.clone(),
            );
            let outcome = runtime()?
                .block_on(exec.execute(&host, &plan, &mut audit))
                .map_err(|e| Failure::Expectation(e.to_string()))?;
            print_outcome(&outcome, args.output)
        }
        BackendKind::Sim => {
            crate::cmd_sim::remediate_on_sim(&node, procedure, &plan, policy, args.output)
        }
        other => Err(Failure::Usage(format!(
            "--execute on the {} backend is not implemented yet; use --backend local on the node itself, or --backend sim to practise",
            other.name()
        ))),
    }
}

fn default_audit_path(node: &NodeName, p: ProcedureId) -> PathBuf {
    let stamp = Timestamp::now_wall().rfc3339().replace(':', "");
    Locks::default_dir()
        .with_file_name("audit")
        .join(format!("{node}-{p}-{stamp}.jsonl"))
}

fn resume(args: &RemediateArgs, log: &Path) -> Result<(), Failure> {
    let records = audit::read(log).map_err(|e| Failure::Usage(e.to_string()))?;
    let plan = records.iter().find_map(|r| r.plan.clone()).ok_or_else(|| {
        Failure::Usage(format!(
            "{}: no plan record: not a kubestall audit log",
            log.display()
        ))
    })?;
    if !args.execute {
        let progress = audit::Progress::of(&records)
            .map_err(|e| Failure::Usage(format!("{}: {e}", log.display())))?;
        let steps = progress.steps();
        let next = steps.get(progress.done).map_or_else(
            || "nothing: every step is done".to_string(),
            |s| format!("step {} ({})", progress.done + 1, s.why),
        );
        println!(
            "# {} on {}: {} of {} steps done{}; resuming would continue with {next}.",
            plan.procedure,
            plan.node,
            progress.done,
            steps.len(),
            match progress.escalated_at {
                Some(n) => format!(" (escalated to the nuclear option after step {n})"),
                None => String::new(),
            },
        );
        print!(
            "{}",
            render_dry_run(
                &plan,
                &RenderOptions {
                    context: args.context.clone(),
                    ssh: args.ssh
                }
            )
        );
        return Ok(());
    }
    if args.backend != BackendKind::Local {
        return Err(Failure::Usage(format!(
            "resuming runs on the node itself: use --backend local (a {} cluster does not outlive the remediation that used it)",
            args.backend.name()
        )));
    }
    let host = HostNode::new(
        plan.node.clone(),
        Local,
        Local,
        HostPaths {
            context: Some(args.context.clone()),
            ..HostPaths::default()
        },
    );
    let policy = SafetyPolicy {
        allow_nuclear: args.allow_nuclear,
        min_schedulable: args.min_schedulable,
        ..SafetyPolicy::default()
    };
    let exec = Executor::new(
        policy,
        Locks::Files(Locks::default_dir()),
        args.context.clone(),
    );
    let mut audit = AuditLog::append(log).map_err(|e| Failure::Usage(e.to_string()))?;
    let outcome = runtime()?
        .block_on(exec.resume(&host, &records, &mut audit))
        .map_err(|e| Failure::Expectation(e.to_string()))?;
    print_outcome(&outcome, args.output)
}

/// Prints what a remediation did.
pub fn print_outcome(
    o: &kubestall_remediation::Outcome,
    output: OutputFormat,
) -> Result<(), Failure> {
    if output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(o).map_err(|e| Failure::Usage(e.to_string()))?
        );
        return Ok(());
    }
    println!(
        "{}: {} steps{}",
        o.procedure,
        o.steps.len(),
        if o.escalated {
            " (escalated to the nuclear option)"
        } else {
            ""
        }
    );
    for s in &o.steps {
        println!(
            "  {:>2}. {:>6.1}s  {}",
            s.number,
            s.ended.secs_since(s.started),
            s.detail
        );
    }
    Ok(())
}

/// Whether a mode id names a mode (used by `reproduce`).
pub fn parse_mode(s: &str) -> Result<FailureMode, Failure> {
    s.parse::<FailureMode>()
        .map_err(|e| Failure::Usage(e.to_string()))
}
