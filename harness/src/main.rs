//! The `kubestall` binary.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kubestall::bundled;
use kubestall::cli::{Cli, Command, ListArgs, OutputFormat, TwinCommand, ValidateArgs};
use kubestall::exit::Failure;
use kubestall::scenario::{self, Scenario};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {failure}");
            ExitCode::from(failure.code())
        }
    }
}

fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::List(args) => list(args),
        Command::Validate(args) => validate(args),
        Command::Schema => {
            print!("{}", scenario::schema_json());
            Ok(())
        }
        Command::Run(args) => kubestall::commands::run_command(args),
        Command::Detect(args) => kubestall::cmd_node::detect(args),
        Command::Capture(args) => kubestall::cmd_node::capture(args),
        Command::Remediate(args) => kubestall::cmd_node::remediate(args),
        Command::Reproduce(args) => kubestall::cmd_sim::reproduce(args),
        Command::Bench(args) => kubestall::cmd_sim::bench(args),
        Command::Sweep(args) => kubestall::cmd_sim::sweep(args),
        Command::Down(args) => match args.backend {
            kubestall::cli::BackendKind::Sim => {
                println!(
                    "the simulator runs inside kubestall: a finished or interrupted run leaves nothing behind"
                );
                Ok(())
            }
            kubestall::cli::BackendKind::Container => {
                let removed = kubestall_twin::containers::down_all(None)
                    .map_err(|e| Failure::Unavailable(e.to_string()))?;
                if removed.is_empty() {
                    println!("no kubestall containers or networks found");
                }
                for r in removed {
                    println!("removed {r}");
                }
                Ok(())
            }
            other => Err(Failure::Usage(format!(
                "the {} backend is not implemented yet: it has nothing to take down",
                other.name()
            ))),
        },
        Command::Twin(TwinCommand::BuildImage(args)) => {
            let tag = kubestall::container::build_image(&args)?;
            println!("{tag}");
            Ok(())
        }
    }
}

/// Loads scenarios from paths, or the bundled ones when none are given.
fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, Failure> {
    if paths.is_empty() {
        return Ok(bundled::scenarios()?);
    }
    let mut out = Vec::new();
    for p in paths {
        for f in scenario::scenario_files(p)? {
            out.push(Scenario::load(&f)?);
        }
    }
    Ok(out)
}

fn list(args: ListArgs) -> Result<(), Failure> {
    let scenarios = load(&args.path.into_iter().collect::<Vec<_>>())?;
    match args.output {
        OutputFormat::Json => {
            let rows: Vec<_> = scenarios
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "description": s.description.trim(),
                        "pleg": s.pleg().id(),
                        "expected": s.expect.findings.iter().map(|f| serde_json::json!({"mode": f.mode, "node": f.node})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).unwrap_or_default()
            );
        }
        _ => {
            let width = scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for s in &scenarios {
                let expected = if s.expect.findings.is_empty() {
                    "healthy: nothing may be found".to_string()
                } else {
                    s.expect
                        .findings
                        .iter()
                        .map(|f| format!("{} on {}", f.mode, f.node))
                        .collect::<Vec<_>>()
                        .join(", then ")
                };
                println!("{:width$}  {:8}  {expected}", s.name, s.pleg().id());
            }
        }
    }
    Ok(())
}

fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let mut errors = Vec::new();
    let mut ok = 0;
    for p in &args.paths {
        let files = scenario::scenario_files(p)?;
        if files.is_empty() {
            errors.push(format!("{}: no *.yaml scenario files here", p.display()));
        }
        for f in files {
            match Scenario::load(&f) {
                Ok(_) => ok += 1,
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    for e in &errors {
        eprintln!("{e}\n");
    }
    if errors.is_empty() {
        println!("{ok} scenario file{} valid", if ok == 1 { "" } else { "s" });
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "{} of {} scenario files invalid",
            errors.len(),
            errors.len() + ok
        )))
    }
}
