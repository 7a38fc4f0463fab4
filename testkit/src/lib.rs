//! What kubestall's tests share: skips that are reported, never hidden as passes,
//! and progress lines that show while a long test runs.
//!
//! libtest captures what a passing test prints with `print!`/`eprint!` and shows
//! nothing of it, so a test that returns early would look like a pass. Here:
//!
//! - [`skip`] says why on the real standard error (written past the capture) and
//!   appends `TEST<TAB>REASON` to the file `$KUBESTALL_SKIP_LOG`, which `.ci/run`
//!   counts and lists by name. Where `KUBESTALL_REQUIRE_ALL=1` (`.ci/run` sets it:
//!   CI has root, Docker and every tool the tests need) a skip is a failure.
//! - [`progress`] writes one line to the real standard error at once, so a
//!   15-minute test shows each step as it happens.

use std::io::Write as _;

/// Whether every test must run here (`KUBESTALL_REQUIRE_ALL=1`).
pub fn required() -> bool {
    std::env::var("KUBESTALL_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Skips the calling test, `test` by name, for `reason` (what is missing and how
/// to get it). Panics instead where every test must run. Call it, then return.
pub fn skip(test: &str, reason: &str) {
    assert!(
        !required(),
        "{test} cannot run here, but KUBESTALL_REQUIRE_ALL=1 says it must: {reason}"
    );
    progress(&format!("SKIPPED {test}: {reason}"));
    if let Some(log) = std::env::var_os("KUBESTALL_SKIP_LOG") {
        record(std::path::Path::new(&log), test, reason);
    }
}

/// Appends the skip to `log`; a skip that cannot be recorded fails the test.
fn record(log: &std::path::Path, test: &str, reason: &str) {
    {
        let line = format!("{test}\t{}\n", reason.replace(['\n', '\t'], " "));
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!("{test}: cannot record the skip in {}: {e}", log.display());
        }
    }
}

/// Whether the tests that need root and a Docker engine run: when
/// `KUBESTALL_CONTAINER_TESTS=1` (`.ci/run` starts dockerd and sets it). Otherwise
/// the test `test` is [`skip`]ped with how to run it.
pub fn container_tests(test: &str) -> bool {
    if std::env::var("KUBESTALL_CONTAINER_TESTS").is_ok_and(|v| v == "1") {
        return true;
    }
    skip(
        test,
        "needs root and a Docker engine: run it with KUBESTALL_CONTAINER_TESTS=1 after `eval \"$(ci/dockerd.sh)\"` (as .ci/run does)",
    );
    false
}

/// One line on the process's standard error now, not captured by the test runner.
pub fn progress(line: &str) {
    // `std::io::stderr()` writes straight to fd 2: libtest's capture only takes
    // the print macros.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_recorded_by_name_and_reason() {
        let dir = std::env::temp_dir().join(format!("kubestall-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("skips.tsv");
        record(&log, "testkit::example", "needs\ta thing");
        record(&log, "testkit::other", "needs more");
        let text = std::fs::read_to_string(&log).expect("skip log");
        assert_eq!(
            text,
            "testkit::example\tneeds a thing\ntestkit::other\tneeds more\n"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
