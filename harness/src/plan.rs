//! Which runs to make: scenarios × PLEG variants × seeds, optionally one shard of
//! them, run across worker threads. The order of results never depends on the
//! number of threads or shards, so `--jobs 1` and `--jobs 2` print the same.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kubestall_node::Pleg;

use crate::cli::PlegChoice;
use crate::exit::Failure;
use crate::scenario::Scenario;

/// One run to make.
#[derive(Clone, Debug)]
pub struct Job {
    /// Position in the full, unsharded list (results are sorted by it).
    pub index: usize,
    /// The scenario, with the PLEG of this run applied.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
}

/// `--shard I/N`: the I-th of N (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1..=total.
    pub index: usize,
    /// How many shards.
    pub total: usize,
}

impl std::str::FromStr for Shard {
    type Err = Failure;
    fn from_str(s: &str) -> Result<Self, Failure> {
        let bad = || {
            Failure::Usage(format!(
                "invalid --shard {s:?}: write I/N with 1 <= I <= N, e.g. --shard 2/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, total): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }
}

/// The PLEG variants of a scenario under a `--pleg` choice.
pub fn pleg_variants(s: &Scenario, choice: PlegChoice) -> Vec<Pleg> {
    match choice {
        PlegChoice::Scenario => vec![s.pleg()],
        PlegChoice::Generic => vec![Pleg::Generic],
        PlegChoice::Evented => vec![Pleg::Evented],
        PlegChoice::Both => vec![Pleg::Generic, Pleg::Evented],
    }
}

/// Every run, in a fixed order (scenario, PLEG, seed), then the shard's part of it.
/// Shards take every N-th run, so each gets a mix of scenarios.
pub fn jobs(
    scenarios: &[Scenario],
    seeds: &[u64],
    choice: PlegChoice,
    shard: Option<Shard>,
) -> Vec<Job> {
    let mut all = Vec::new();
    for s in scenarios {
        for pleg in pleg_variants(s, choice) {
            for &seed in seeds {
                all.push(Job {
                    index: all.len(),
                    scenario: s.with_pleg(pleg),
                    seed,
                });
            }
        }
    }
    match shard {
        Some(sh) => all
            .into_iter()
            .filter(|j| j.index % sh.total == sh.index - 1)
            .collect(),
        None => all,
    }
}

/// Runs `f` on every job across `threads` threads; results come back in job order.
/// Shows a progress line on a terminal when there is more than a handful of jobs.
pub fn run_parallel<T: Send>(jobs: &[Job], threads: usize, f: impl Fn(&Job) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, T)>> = Mutex::new(Vec::with_capacity(jobs.len()));
    let show = std::io::stderr().is_terminal() && jobs.len() > 8;
    let threads = threads.clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let out = f(job);
                    if let Ok(mut r) = results.lock() {
                        r.push((i, out));
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if show && (n.is_multiple_of(16) || n == jobs.len()) {
                        progress(n, jobs.len());
                    }
                }
            });
        }
    });
    if show {
        eprintln!();
    }
    let mut r = results.into_inner().unwrap_or_else(|p| p.into_inner());
    r.sort_by_key(|(i, _)| *i);
    r.into_iter().map(|(_, t)| t).collect()
}

fn progress(done: usize, total: usize) {
    let width = 30;
    let filled = done * width / total.max(1);
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{}{}] {done}/{total} runs",
        "#".repeat(filled),
        "-".repeat(width - filled)
    );
    let _ = err.flush();
}

/// Worker threads by default: the machine's CPUs.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_work() {
        let scenarios = crate::bundled::scenarios().expect("bundled scenarios parse");
        let seeds: Vec<u64> = (1..=7).collect();
        let all = jobs(&scenarios, &seeds, PlegChoice::Both, None);
        let mut union: Vec<usize> = (1..=3)
            .flat_map(|i| {
                jobs(
                    &scenarios,
                    &seeds,
                    PlegChoice::Both,
                    Some(Shard { index: i, total: 3 }),
                )
            })
            .map(|j| j.index)
            .collect();
        union.sort_unstable();
        assert_eq!(union, (0..all.len()).collect::<Vec<_>>());
    }

    #[test]
    fn parallel_results_keep_job_order() {
        let scenarios = crate::bundled::scenarios().expect("bundled scenarios parse");
        let all = jobs(&scenarios, &[1, 2, 3], PlegChoice::Scenario, None);
        let one = run_parallel(&all, 1, |j| (j.scenario.name.clone(), j.seed));
        let two = run_parallel(&all, 2, |j| (j.scenario.name.clone(), j.seed));
        assert_eq!(one, two);
    }

    #[test]
    fn bad_shards_are_refused() {
        for s in ["0/3", "4/3", "x", "1/0", "2"] {
            assert!(s.parse::<Shard>().is_err(), "{s}");
        }
        assert_eq!(
            "2/4".parse::<Shard>().ok(),
            Some(Shard { index: 2, total: 4 })
        );
    }
}
