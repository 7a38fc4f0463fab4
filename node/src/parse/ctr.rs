//! `ctr --address SOCK -n k8s.io tasks list`: a header, then `ID PID STATUS` rows.

use crate::error::ParseError;
use crate::name::ContainerId;
use crate::signals::{Pid, Task, TaskStatus};

const WHAT: &str = "ctr tasks list";

/// Parses the task list. A frozen shim's task shows `0 UNKNOWN`.
pub fn parse(input: &[u8]) -> Result<Vec<Task>, ParseError> {
    let text = super::text(WHAT, input)?;
    let mut out = Vec::new();
    let mut header = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if !header {
            if f.first() != Some(&"TASK") {
                return Err(ParseError::new(
                    WHAT,
                    n,
                    "expected the header `TASK PID STATUS`",
                    line,
                ));
            }
            header = true;
            continue;
        }
        if f.len() != 3 {
            return Err(ParseError::new(
                WHAT,
                n,
                format!("expected 3 columns, found {}", f.len()),
                line,
            ));
        }
        let id =
            ContainerId::new(f[0]).map_err(|e| ParseError::new(WHAT, n, e.to_string(), line))?;
        let pid = f[1]
            .parse::<u32>()
            .map_err(|_| ParseError::new(WHAT, n, "PID is not a number", line))?;
        let status = match f[2] {
            "CREATED" => TaskStatus::Created,
            "RUNNING" => TaskStatus::Running,
            "STOPPED" => TaskStatus::Stopped,
            "PAUSED" => TaskStatus::Paused,
            "PAUSING" => TaskStatus::Pausing,
            "UNKNOWN" => TaskStatus::Unknown,
            other => {
                return Err(ParseError::new(
                    WHAT,
                    n,
                    format!("unknown status {other:?}"),
                    line,
                ));
            }
        };
        out.push(Task {
            id,
            pid: Pid(pid),
            status,
        });
    }
    if !header {
        return Err(ParseError::new(
            WHAT,
            1,
            "no header: is this `ctr tasks list` output?",
            text.lines().next().unwrap_or(""),
        ));
    }
    Ok(out)
}
