//! The subcommands that run scenarios: `run`, `bench`, `sweep`.

use std::io::Write as _;
use std::path::PathBuf;

use crate::block_on::block_on;
use crate::bundled;
use crate::cli::{BackendKind, OutputFormat, PlegChoice, RunArgs};
use crate::exit::Failure;
use crate::outcome::{RunOutcome, RunReport, Summary};
use crate::plan::{Job, Shard, default_jobs, jobs, run_parallel};
use crate::report::{render_junit, render_table, write_html};
use crate::runner::{RunOptions, run};
use crate::scenario::{self, Scenario};
use crate::sim_backend::SimBackend;

/// Loads scenarios from paths, or the bundled ones when none are given; keeps
/// the file each came from (for replay commands).
pub fn load(paths: &[PathBuf]) -> Result<Vec<(Scenario, Option<PathBuf>)>, Failure> {
    if paths.is_empty() {
        return Ok(bundled::scenarios()?
            .into_iter()
            .map(|s| (s, None))
            .collect());
    }
    let mut out = Vec::new();
    for p in paths {
        let files = scenario::scenario_files(p)?;
        if files.is_empty() {
            return Err(Failure::Usage(format!(
                "{}: no *.yaml scenario files here",
                p.display()
            )));
        }
        for f in files {
            out.push((Scenario::load(&f)?, Some(f)));
        }
    }
    Ok(out)
}

/// The command that replays one run.
pub fn replay_command(
    file: Option<&PathBuf>,
    name: &str,
    backend: BackendKind,
    pleg: kubestall_node::Pleg,
) -> String {
    let target = match file {
        Some(f) => f.display().to_string(),
        None => format!("--scenario {name}"),
    };
    let backend = if backend == BackendKind::Sim {
        String::new()
    } else {
        format!(" --backend {}", backend.name())
    };
    format!("kubestall run {target}{backend} --pleg {}", pleg.id())
}

/// Runs one job on the simulator.
pub fn run_sim_job(job: &Job, file: Option<&PathBuf>, opts: &RunOptions) -> RunOutcome {
    let mut o = opts.clone();
    o.replay = replay_command(
        file,
        &job.scenario.name,
        BackendKind::Sim,
        job.scenario.pleg(),
    );
    let mut backend = SimBackend::new();
    block_on(run(&mut backend, &job.scenario, job.seed, &o))
}

/// `kubestall run`.
pub fn run_command(args: RunArgs) -> Result<(), Failure> {
    let loaded = load(&args.scenarios)?;
    let loaded: Vec<(Scenario, Option<PathBuf>)> = if args.only.is_empty() {
        loaded
    } else {
        let unknown: Vec<&String> = args
            .only
            .iter()
            .filter(|n| !loaded.iter().any(|(s, _)| &s.name == *n))
            .collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = loaded.iter().map(|(s, _)| s.name.as_str()).collect();
            return Err(Failure::Usage(format!(
                "no scenario named {}; known: {}",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                names.join(", ")
            )));
        }
        loaded
            .into_iter()
            .filter(|(s, _)| args.only.contains(&s.name))
            .collect()
    };
    let seeds: Vec<u64> = match (args.seed, args.seeds) {
        (Some(s), _) => vec![s],
        (None, Some(0)) => return Err(Failure::Usage("--seeds must be at least 1".into())),
        (None, Some(n)) => (1..=n).collect(),
        (None, None) => vec![1],
    };
    let shard = args.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    match args.common.backend {
        BackendKind::Sim => {}
        BackendKind::Container => return run_containers(&args, &loaded, &seeds, shard),
        BackendKind::Vm | BackendKind::Ssh | BackendKind::Local => {
            return Err(Failure::Usage(format!(
                "the {} backend is not implemented yet; scenarios run on --backend sim (and --backend container with a Docker engine)",
                args.common.backend.name()
            )));
        }
    }
    let scenarios: Vec<Scenario> = loaded.iter().map(|(s, _)| s.clone()).collect();
    let work = jobs(&scenarios, &seeds, args.pleg, shard);
    let files: Vec<Option<PathBuf>> = loaded.iter().map(|(_, f)| f.clone()).collect();
    let file_of = |name: &str| {
        scenarios
            .iter()
            .position(|s| s.name == name)
            .and_then(|i| files[i].as_ref())
    };
    let threads = args.jobs.unwrap_or_else(default_jobs);
    let opts = RunOptions::default();
    let runs = run_parallel(&work, threads, |job| {
        run_sim_job(job, file_of(&job.scenario.name), &opts)
    });
    emit(&runs, args.common.output, args.pleg)?;
    if let Some(dir) = &args.report {
        let path = write_html(dir, &runs).map_err(|e| {
            Failure::Usage(format!("cannot write the report to {}: {e}", dir.display()))
        })?;
        eprintln!("report: {}", path.display());
    }
    let s = Summary::of(&runs);
    if s.failed > 0 {
        return Err(Failure::Expectation(format!(
            "{} of {} runs failed",
            s.failed, s.runs
        )));
    }
    Ok(())
}

/// `kubestall run --backend container`: each run on a fresh cluster of node twins,
/// one after another (they are real processes; two clusters would share 2 cores).
fn run_containers(
    args: &RunArgs,
    loaded: &[(Scenario, Option<PathBuf>)],
    seeds: &[u64],
    shard: Option<Shard>,
) -> Result<(), Failure> {
    kubestall_twin::docker::engine().map_err(|e| Failure::Unavailable(e.to_string()))?;
    let image = crate::container::build_image(&crate::cli::BuildImageArgs {
        force: false,
        twin_binary: None,
    })?;
    let scenarios: Vec<Scenario> = loaded.iter().map(|(s, _)| s.clone()).collect();
    let work = jobs(&scenarios, seeds, args.pleg, shard);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unavailable(e.to_string()))?;
    let mut runs = Vec::new();
    for (i, job) in work.iter().enumerate() {
        let file = loaded
            .iter()
            .find(|(s, _)| s.name == job.scenario.name)
            .and_then(|(_, f)| f.as_ref());
        let opts = RunOptions {
            poll: std::time::Duration::from_secs(2),
            quiet: std::time::Duration::from_secs(30),
            replay: replay_command(
                file,
                &job.scenario.name,
                BackendKind::Container,
                job.scenario.pleg(),
            ),
            ..RunOptions::default()
        };
        eprintln!(
            "[{}/{}] {} (seed {}) on node twins ...",
            i + 1,
            work.len(),
            job.scenario.name,
            job.seed
        );
        let mut backend =
            crate::container_backend::ContainerBackend::new(image.clone(), "pvek8s".into());
        backend.keep = args.keep && i + 1 == work.len();
        let outcome = rt.block_on(async {
            tokio::select! {
                o = run(&mut backend, &job.scenario, job.seed, &opts) => Some(o),
                _ = tokio::signal::ctrl_c() => None,
            }
        });
        match outcome {
            Some(o) => {
                eprintln!(
                    "    {} in {:.0} s of wall time",
                    if o.passed { "passed" } else { "FAILED" },
                    o.duration_s
                );
                runs.push(o);
            }
            None => {
                let removed = kubestall_twin::containers::down("pvek8s").unwrap_or_default();
                return Err(Failure::Usage(format!(
                    "interrupted; removed {} leftover(s)",
                    removed.len()
                )));
            }
        }
    }
    emit(&runs, args.common.output, args.pleg)?;
    if let Some(dir) = &args.report {
        let path = write_html(dir, &runs).map_err(|e| {
            Failure::Usage(format!("cannot write the report to {}: {e}", dir.display()))
        })?;
        eprintln!("report: {}", path.display());
    }
    let s = Summary::of(&runs);
    if s.failed > 0 {
        return Err(Failure::Expectation(format!(
            "{} of {} runs failed",
            s.failed, s.runs
        )));
    }
    Ok(())
}

/// Prints runs in the chosen format.
pub fn emit(runs: &[RunOutcome], output: OutputFormat, pleg: PlegChoice) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let text = match output {
        OutputFormat::Json => {
            let report = RunReport {
                runs,
                summary: Summary::of(runs),
            };
            let mut s =
                serde_json::to_string_pretty(&report).map_err(|e| Failure::Usage(e.to_string()))?;
            s.push('\n');
            s
        }
        OutputFormat::Junit => render_junit(runs),
        OutputFormat::Text => {
            let mut t = render_table(runs);
            if pleg == PlegChoice::Both {
                t.push('\n');
                t.push_str(&crate::report::render_pleg_comparison(runs));
            }
            t
        }
        OutputFormat::Npd => {
            return Err(Failure::Usage(
                "--output npd is for `kubestall detect`; use text, json or junit".into(),
            ));
        }
    };
    let _ = stdout.write_all(text.as_bytes());
    Ok(())
}
