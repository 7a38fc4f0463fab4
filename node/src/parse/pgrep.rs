//! `pgrep -a NAME`: `PID COMMAND LINE` per process.

use crate::error::ParseError;
use crate::name::ContainerId;
use crate::signals::{Pid, ProcessInfo, ShimProcess};

const WHAT: &str = "pgrep -a output";

/// Parses `pgrep -a` lines into processes (without start times).
pub fn processes(input: &[u8]) -> Result<Vec<ProcessInfo>, ParseError> {
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
        out.push(ProcessInfo {
            pid: Pid(pid),
            cmdline: cmd.split_whitespace().map(str::to_string).collect(),
            started_at: None,
        });
    }
    Ok(out)
}

/// Parses `pgrep -a containerd-shim` into shims: the container id of `-id` and
/// the namespace of `-namespace`. Processes that are not shims (a shell whose
/// command line mentions the pattern) are skipped; a shim without `-id` is an error.
pub fn shims(input: &[u8]) -> Result<Vec<ShimProcess>, ParseError> {
    let mut out = Vec::new();
    let text = super::text(WHAT, input)?;
    for (p, (n, line)) in processes(input)?.into_iter().zip(
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty()),
    ) {
        let is_shim = p.cmdline.first().is_some_and(|c| {
            c.rsplit('/')
                .next()
                .is_some_and(|b| b.starts_with("containerd-shim"))
        });
        if !is_shim {
            continue;
        }
        let arg = |flag: &str| {
            p.cmdline
                .iter()
                .position(|a| a == flag)
                .and_then(|i| p.cmdline.get(i + 1))
        };
        let id = arg("-id")
            .ok_or_else(|| ParseError::new(WHAT, n + 1, "a shim without `-id ID`", line))?;
        let container_id = ContainerId::new(id.as_str())
            .map_err(|e| ParseError::new(WHAT, n + 1, e.to_string(), line))?;
        out.push(ShimProcess {
            pid: p.pid,
            container_id,
            namespace: arg("-namespace")
                .cloned()
                .unwrap_or_else(|| "default".into()),
            started_at: None,
        });
    }
    Ok(out)
}
