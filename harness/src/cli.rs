//! The `kubestall` command line: what each subcommand takes, with examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reproduce, detect and remediate silent kubelet stalls on microk8s.
///
/// A node shows `Ready: True` and heartbeats while pods assigned to it stay
/// `Pending` forever. kubestall brings up microk8s-shaped nodes, injects each of
/// the runbook's failure modes, checks that its detectors find them and its
/// remediations recover the node in time, and measures how fast.
#[derive(Debug, Parser)]
#[command(
    name = "kubestall",
    version,
    propagate_version = true,
    after_help = "\
Examples:
  kubestall run                              run every bundled scenario on the simulator
  kubestall run --seeds 100 --jobs 2         ... with 100 seeds each, on 2 threads
  kubestall run scenarios/watch-stall-restart-without-cordon.yaml --pleg both
  kubestall list                             the bundled scenarios
  kubestall validate scenarios/              check scenario files
  kubestall detect --bundle ./evidence-k8s03 classify an evidence bundle
  kubestall remediate --node k8s03 --procedure watch-stall
                                             print the runbook's fix as commands (dry run)
  kubestall reproduce watch-stall            put a simulated node into the stall and explore it

Exit codes: 0 all expectations met (detect: healthy on this evidence); 1 an
expectation missed (detect: a stall found); 2 invalid input or usage; 3 backend
unavailable; 4 detect cannot tell (the evidence cannot rule out some modes)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios end to end: bring up, inject, detect, remediate, check, report.
    #[command(after_help = "\
Examples:
  kubestall run                                  every bundled scenario, seed 1, simulator
  kubestall run scenarios/pleg-stall-orphaned-shims.yaml --seed 42
  kubestall run --seeds 1000 --jobs 2            a thousand seeds of each scenario
  kubestall run --seeds 1000 --shard 1/4         the first quarter of that work (CI matrix)
  kubestall run --pleg both                      Generic and Evented PLEG side by side
  kubestall run --output junit > junit.xml       for CI servers
  kubestall run --report ./report                HTML report with timelines")]
    Run(RunArgs),
    /// List the bundled scenarios (or those under a folder).
    #[command(
        after_help = "Examples:\n  kubestall list\n  kubestall list scenarios/ --output json"
    )]
    List(ListArgs),
    /// Check scenario files: every error with file:line:col and what to change.
    #[command(
        after_help = "Examples:\n  kubestall validate scenarios/\n  kubestall validate my-incident.yaml"
    )]
    Validate(ValidateArgs),
    /// Classify a node's state: from an evidence bundle, a journal export, or live.
    #[command(after_help = "\
Examples:
  kubestall detect --bundle ./evidence-k8s03           a folder written by `kubestall capture`
  kubestall detect --journal kubelite.json             from `journalctl -o json` alone
  kubestall detect --journal kubelite.txt --year 2026  from the default `journalctl` output
  kubestall detect --bundle ./evidence-k8s03 --output npd
                                                       as a node-problem-detector plugin

Answers: 0 healthy on this evidence; 1 a stall found; 4 cannot tell (the evidence
lacks what some mode needs: a journal alone cannot rule out modes 1-3, whose sign
is pods Pending on the node; the answer names the missing evidence). With
--output npd: 0 OK, 1 problem, 2 Unknown, as node-problem-detector reads them.")]
    Detect(DetectArgs),
    /// Write an evidence bundle: the raw outputs of the runbook's commands on a node.
    #[command(
        after_help = "Examples:\n  kubestall capture --node k8s03 --out ./evidence-k8s03 --context pvek8s   (as root, on k8s03)\n\nExits 3 when it captured nothing (not a microk8s node, or not root)."
    )]
    Capture(CaptureArgs),
    /// Carry out (or, by default, print) the runbook's procedure for a failure mode.
    #[command(after_help = "\
Examples:
  kubestall remediate --node k8s03 --procedure watch-stall          dry run: the exact commands
  kubestall remediate --node k8s03 --procedure pleg-stall --execute
  kubestall remediate --resume /var/lib/kubestall/audit/k8s03-....jsonl --execute")]
    Remediate(RemediateArgs),
    /// Put a cluster into a stall and keep it there for investigation.
    #[command(after_help = "\
Examples:
  kubestall reproduce watch-stall                 an interactive shell on the simulated node
  kubestall reproduce fm2 --backend container --keep")]
    Reproduce(ReproduceArgs),
    /// Measure detection latency and recovery time per mode over many seeds.
    #[command(
        after_help = "Examples:\n  kubestall bench --seeds 200\n  kubestall bench --detectors --output json"
    )]
    Bench(BenchArgs),
    /// Vary a sweepable timing and show where the stall appears.
    #[command(
        after_help = "Examples:\n  kubestall sweep scenarios/watch-stall-restart-without-cordon.yaml"
    )]
    Sweep(SweepArgs),
    /// Remove whatever a crashed or interrupted run left behind.
    #[command(after_help = "Examples:\n  kubestall down\n  kubestall down --backend container")]
    Down(DownArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Node twins for the container backend.
    #[command(subcommand)]
    Twin(TwinCommand),
}

/// `kubestall twin ...`
#[derive(Debug, Subcommand)]
pub enum TwinCommand {
    /// Build the node image (cached by the hash of its inputs).
    BuildImage(BuildImageArgs),
}

/// Arguments of `twin build-image`.
#[derive(Debug, Args)]
pub struct BuildImageArgs {
    /// Rebuild even when the cached image matches.
    #[arg(long)]
    pub force: bool,
    /// The kubestall-twin binary to put in the image (default: next to this kubestall).
    #[arg(long)]
    pub twin_binary: Option<PathBuf>,
}

/// Where a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendKind {
    /// The deterministic simulator (virtual time; no containers).
    #[default]
    Sim,
    /// Node twins in Docker containers.
    Container,
    /// Node images booted in QEMU.
    Vm,
    /// Real nodes over SSH.
    Ssh,
    /// This machine is the node (commands run here; kubectl with --context).
    Local,
}

impl BackendKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Sim => "sim",
            BackendKind::Container => "container",
            BackendKind::Vm => "vm",
            BackendKind::Ssh => "ssh",
            BackendKind::Local => "local",
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML (run).
    Junit,
    /// node-problem-detector plugin: exit 0 OK, 1 problem, 2 unknown; one line (detect).
    Npd,
}

/// Which PLEG to run scenarios with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlegChoice {
    /// As each scenario's feature gates say.
    #[default]
    Scenario,
    /// Generic PLEG (1 s relist) everywhere.
    Generic,
    /// EventedPLEG everywhere.
    Evented,
    /// Each scenario twice, side by side.
    Both,
}

/// Flags shared by commands that run scenarios.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Where to run.
    #[arg(long, value_enum, default_value_t)]
    pub backend: BackendKind,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders (default: the bundled scenarios).
    pub scenarios: Vec<PathBuf>,
    /// Flags shared with other commands.
    #[command(flatten)]
    pub common: Common,
    /// The seed of a single run (replays a failure exactly).
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Run each scenario with seeds 1..=N.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Worker threads (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard I of N (1-based), e.g. `--shard 2/4`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Only the scenario with this name (repeatable).
    #[arg(long = "scenario")]
    pub only: Vec<String>,
    /// Which PLEG the kubelets run.
    #[arg(long, value_enum, default_value_t)]
    pub pleg: PlegChoice,
    /// Write an HTML report (timelines, latency histograms) into this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Keep the cluster after the run (container backend).
    #[arg(long)]
    pub keep: bool,
}

/// Arguments of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// A folder or file of scenarios (default: the bundled ones).
    pub path: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or folders to check.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// An evidence bundle written by `kubestall capture` (or by hand; see the README).
    #[arg(long, conflicts_with = "journal")]
    pub bundle: Option<PathBuf>,
    /// A journal export alone: `journalctl -o json` (best), `-o short-iso`, the
    /// default `-o short`, or the kubelet's JSON log lines. Without pods from the
    /// API it cannot rule out the pod stalls (modes 1-3): the answer is then
    /// "cannot tell" (exit 4) unless a stall is found.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// The year of the first line of a `-o short` journal export, which prints none
    /// (default: from the file's date).
    #[arg(long, requires = "journal")]
    pub year: Option<i32>,
    /// The node's name, when the input does not say.
    #[arg(long)]
    pub node: Option<String>,
    /// Output format: text, json or npd.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The node to capture (its Kubernetes name). The commands run on this machine.
    #[arg(long)]
    pub node: String,
    /// The folder to write (default: ./evidence-NODE-TIME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// kubectl context for the API calls.
    #[arg(long)]
    pub context: Option<String>,
    /// Also ask kubelite for a goroutine dump (sends it SIGUSR1).
    #[arg(long)]
    pub goroutines: bool,
    /// Seconds between the two schedstat samples.
    #[arg(long, default_value_t = 3)]
    pub sample_secs: u64,
}

/// Arguments of `remediate`.
#[derive(Debug, Args)]
pub struct RemediateArgs {
    /// The node to fix.
    #[arg(long, required_unless_present = "resume")]
    pub node: Option<String>,
    /// The failure-mode id it fixes (imagefs-stall, watch-stall, pleg-stall,
    /// kine-exhaustion, containerd-freeze, orphan-lock-holder) or `nuclear`.
    #[arg(long, required_unless_present = "resume")]
    pub procedure: Option<String>,
    /// Act. Without it, the plan is printed as commands and nothing is touched.
    #[arg(long)]
    pub execute: bool,
    /// kubectl context (the runbook uses pvek8s).
    #[arg(long, default_value = "pvek8s")]
    pub context: String,
    /// Continue a remediation from its audit log.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Allow the nuclear option (kill every shim on the node).
    #[arg(long)]
    pub allow_nuclear: bool,
    /// Print node commands as `ssh NODE "..."` (dry run).
    #[arg(long)]
    pub ssh: bool,
    /// The audit log to write (default: /var/lib/kubestall/audit/NODE-PROCEDURE-TIME.jsonl).
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// Schedulable nodes that must remain after a cordon (default: all but one).
    #[arg(long)]
    pub min_schedulable: Option<usize>,
    /// The imagefs-stall fix as an emergency restart, without the cordon a planned restart gets.
    #[arg(long)]
    pub emergency: bool,
    /// k8s-dqlite showed kine errors: restart it too (pleg-stall).
    #[arg(long)]
    pub kine_errors: bool,
    /// Where to run.
    #[arg(long, value_enum, default_value_t)]
    pub backend: BackendKind,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The failure mode (an id such as watch-stall, or fm1/fm2/fm3).
    pub mode: String,
    /// Where to run.
    #[arg(long, value_enum, default_value_t)]
    pub backend: BackendKind,
    /// The seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Leave the cluster running after this command exits (container backend).
    #[arg(long)]
    pub keep: bool,
    /// Run these runbook commands against the stalled node and exit, instead of a shell.
    #[arg(long = "exec")]
    pub exec: Vec<String>,
}

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seeds per scenario.
    #[arg(long, default_value_t = 200)]
    pub seeds: u64,
    /// Worker threads.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Also measure the detectors themselves: poll cost and journal scanning against grep.
    #[arg(long)]
    pub detectors: bool,
    /// Size of the journal file for the grep comparison, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub journal_mib: u64,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The scenario file with a sweepable timing.
    pub scenario: PathBuf,
    /// The seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Arguments of `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Which backend's leftovers to remove.
    #[arg(long, value_enum, default_value_t)]
    pub backend: BackendKind,
}
