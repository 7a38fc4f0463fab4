//! `pgrep -a NAME`: `PID COMMAND LINE` per process.
//!
//! procps prints a process without a command line as its name in brackets, and a
//! zombie (an exited process its parent has not reaped) as `[NAME] <defunct>`:
//! `86 [containerd-shim] <defunct>`. A zombie runs nothing, holds no memory and
//! ignores every signal, so it is neither a running process nor a live shim; the
//! runbook's orphaned shims are live ones. [`defunct`] lists zombies for reports.

use crate::error::ParseError;
use crate::name::ContainerId;
use crate::signals::{Pid, ProcessInfo, ShimProcess};

const WHAT: &str = "pgrep -a output";

/// One `pgrep -a` line.
struct Line<'a> {
    pid: Pid,
    /// The command line; empty for a process without one (`[kthreadd]`).
    cmdline: Vec<&'a str>,
    /// A zombie: `PID [NAME] <defunct>`.
    defunct: bool,
}

fn lines(input: &[u8]) -> Result<Vec<(usize, &str, Line<'_>)>, ParseError> {
    let text = super::text(WHAT, input)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (pid, cmd) = line
            .trim_start()
            .split_once(' ')
            .unwrap_or((line.trim(), ""));
        let pid = pid
            .parse::<u32>()
            .map_err(|_| ParseError::new(WHAT, i + 1, "expected `PID COMMAND`", line))?;
        let cmd = cmd.trim();
        let defunct = cmd.ends_with("<defunct>");
        let no_cmdline = defunct || (cmd.starts_with('[') && cmd.ends_with(']'));
        out.push((
            i + 1,
            line,
            Line {
                pid: Pid(pid),
                cmdline: if no_cmdline {
                    Vec::new()
                } else {
                    cmd.split_whitespace().collect()
                },
                defunct,
            },
        ));
    }
    Ok(out)
}

/// Parses `pgrep -a` lines into running processes (without start times).
/// Zombies (`[NAME] <defunct>`) are left out; a process without a command line
/// (`[kthreadd]`) has an empty one.
pub fn processes(input: &[u8]) -> Result<Vec<ProcessInfo>, ParseError> {
    Ok(lines(input)?
        .into_iter()
        .filter(|(_, _, l)| !l.defunct)
        .map(|(_, _, l)| ProcessInfo {
            pid: l.pid,
            cmdline: l.cmdline.into_iter().map(str::to_string).collect(),
            started_at: None,
        })
        .collect())
}

/// The zombies in `pgrep -a` output (`PID [NAME] <defunct>`): exited processes
/// that their parent has not reaped.
pub fn defunct(input: &[u8]) -> Result<Vec<Pid>, ParseError> {
    Ok(lines(input)?
        .into_iter()
        .filter(|(_, _, l)| l.defunct)
        .map(|(_, _, l)| l.pid)
        .collect())
}

/// Whether `program` is a containerd shim binary: `containerd-shim` (the v1
/// shim) or `containerd-shim-RUNTIME-vN` (`containerd-shim-runc-v2`,
/// `containerd-shim-kata-v2`). pgrep matches any process whose name merely
/// contains the pattern (`containerd-shim-exporter`); those are not shims.
pub fn is_shim_binary(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    let Some(rest) = base.strip_prefix("containerd-shim") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some((runtime, version)) = rest.strip_prefix('-').and_then(|r| r.rsplit_once("-v")) else {
        return false;
    };
    !runtime.is_empty() && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `pgrep -a containerd-shim` into live shims: the container id of `-id`
/// (for the v1 `containerd-shim`, the last folder of `-workdir`) and the namespace
/// of `-namespace`. Left out, as they serve no container: processes that are not
/// shim binaries (a shell whose command line mentions the pattern, a program
/// named `containerd-shim-exporter`), zombie shims (see [`defunct`]), and the
/// short-lived `start` and `delete` invocations containerd makes of a shim binary.
/// A shim binary serving without `-id` is an error.
pub fn shims(input: &[u8]) -> Result<Vec<ShimProcess>, ParseError> {
    let mut out = Vec::new();
    for (n, line, p) in lines(input)? {
        if p.defunct || !p.cmdline.first().is_some_and(|c| is_shim_binary(c)) {
            continue;
        }
        if matches!(p.cmdline.last(), Some(&"start") | Some(&"delete")) {
            continue;
        }
        let arg = |flag: &str| {
            p.cmdline
                .iter()
                .position(|a| *a == flag)
                .and_then(|i| p.cmdline.get(i + 1))
                .copied()
        };
        let id = arg("-id")
            .or_else(|| arg("-workdir").and_then(|w| w.trim_end_matches('/').rsplit('/').next()))
            .ok_or_else(|| ParseError::new(WHAT, n, "a shim without `-id ID`", line))?;
        let container_id =
            ContainerId::new(id).map_err(|e| ParseError::new(WHAT, n, e.to_string(), line))?;
        out.push(ShimProcess {
            pid: p.pid,
            container_id,
            namespace: arg("-namespace").unwrap_or("default").to_string(),
            address: arg("-address").map(str::to_string),
            started_at: None,
        });
    }
    Ok(out)
}
