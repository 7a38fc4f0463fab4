//! `systemctl show UNIT -p MainPID,ActiveState,ExecMainStartTimestamp,NRestarts`.

use crate::error::ParseError;
use crate::signals::{ActiveState, Pid, ServiceState};
use crate::time::Timestamp;

const WHAT: &str = "systemctl show output";

/// Parses the `KEY=VALUE` lines. `MainPID=0` means no main process; an empty or
/// `n/a` start timestamp means it never started.
pub fn parse(input: &[u8]) -> Result<ServiceState, ParseError> {
    let text = super::text(WHAT, input)?;
    let mut active = None;
    let mut main_pid = None;
    let mut started_at = None;
    let mut restarts = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| ParseError::new(WHAT, n, "expected KEY=VALUE", line))?;
        match k {
            "ActiveState" => {
                active = Some(match v {
                    "active" => ActiveState::Active,
                    "reloading" => ActiveState::Reloading,
                    "inactive" => ActiveState::Inactive,
                    "failed" => ActiveState::Failed,
                    "activating" => ActiveState::Activating,
                    "deactivating" => ActiveState::Deactivating,
                    other => {
                        return Err(ParseError::new(
                            WHAT,
                            n,
                            format!("unknown ActiveState {other:?}"),
                            line,
                        ));
                    }
                })
            }
            "MainPID" => {
                let p = v
                    .parse::<u32>()
                    .map_err(|_| ParseError::new(WHAT, n, "MainPID is not a number", line))?;
                main_pid = (p != 0).then_some(Pid(p));
            }
            "NRestarts" => {
                restarts = v
                    .parse()
                    .map_err(|_| ParseError::new(WHAT, n, "NRestarts is not a number", line))?
            }
            "ExecMainStartTimestamp" => started_at = match v.trim() {
                "" | "n/a" => None,
                t => Some(parse_systemd_time(t).ok_or_else(|| {
                    ParseError::new(
                        WHAT,
                        n,
                        "cannot read the timestamp (expected e.g. `Tue 2026-11-24 15:30:02 UTC`)",
                        line,
                    )
                })?),
            },
            _ => {}
        }
    }
    let active = active.ok_or_else(|| {
        ParseError::new(
            WHAT,
            1,
            "no ActiveState line: ask for -p MainPID,ActiveState,ExecMainStartTimestamp,NRestarts",
            text.lines().next().unwrap_or(""),
        )
    })?;
    Ok(ServiceState {
        active,
        main_pid,
        started_at,
        restarts,
    })
}

/// `Tue 2026-11-24 15:30:02 UTC` (also `GMT`, `+0200` or `+02:00` zones).
pub fn parse_systemd_time(s: &str) -> Option<Timestamp> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let (date, time, zone) = match f.as_slice() {
        [_, d, t, z] => (*d, *t, *z),
        [d, t, z] if d.contains('-') => (*d, *t, *z),
        _ => return None,
    };
    let offset = match zone {
        "UTC" | "GMT" | "Z" => "Z".to_string(),
        z if (z.starts_with('+') || z.starts_with('-')) && (z.len() == 5 || z.len() == 6) => {
            z.to_string()
        }
        _ => return None,
    };
    Timestamp::parse_rfc3339(&format!("{date}T{time}{offset}"))
}
