//! A Go goroutine dump, as SIGUSR1 (containerd, the runbook's kubelite) or
//! SIGQUIT writes it: `goroutine N [state, M minutes]:` then function lines,
//! each followed by a tab-indented `file:line +0x..`, and `created by ...`.

use crate::error::ParseError;
use crate::signals::{Frame, Goroutine, GoroutineDump};

const WHAT: &str = "goroutine dump";

/// Parses a dump. Lines may carry a journal prefix (`... kubelite[123]: `) and
/// the dump may be framed by containerd's `=== BEGIN/END goroutine stack dump ===`.
pub fn parse(input: &[u8]) -> Result<GoroutineDump, ParseError> {
    let text = String::from_utf8_lossy(input);
    let mut dump = GoroutineDump::default();
    let mut current: Option<Goroutine> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_journal_prefix(raw);
        if line.contains("goroutine stack dump ===") || line.trim().is_empty() {
            if let Some(g) = current.take() {
                dump.goroutines.push(g);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("goroutine ") {
            if let Some(g) = current.take() {
                dump.goroutines.push(g);
            }
            let (id, state) = rest.split_once(' ').ok_or_else(|| {
                ParseError::new(WHAT, i + 1, "expected `goroutine N [state]:`", raw)
            })?;
            let id = id
                .parse::<u64>()
                .map_err(|_| ParseError::new(WHAT, i + 1, "goroutine id is not a number", raw))?;
            let inner = state
                .trim_end_matches(':')
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .ok_or_else(|| {
                    ParseError::new(WHAT, i + 1, "expected `[state]` after the id", raw)
                })?;
            let mut parts = inner.split(", ");
            let state = parts.next().unwrap_or_default().to_string();
            let minutes = parts.find_map(|p| {
                p.strip_suffix(" minutes")
                    .or_else(|| p.strip_suffix(" minute"))
                    .and_then(|m| m.parse().ok())
            });
            current = Some(Goroutine {
                id,
                state,
                minutes,
                frames: Vec::new(),
            });
            continue;
        }
        let Some(g) = current.as_mut() else {
            // Text before the first goroutine (a log line, a header): not part of the dump.
            continue;
        };
        if line.starts_with('\t') || line.starts_with("    ") {
            match g.frames.last_mut() {
                Some(f) if f.location.is_none() => f.location = Some(line.trim().to_string()),
                _ => {
                    return Err(ParseError::new(
                        WHAT,
                        i + 1,
                        "a location line without a function line before it",
                        raw,
                    ));
                }
            }
        } else {
            g.frames.push(Frame {
                function: line.trim().to_string(),
                location: None,
            });
        }
    }
    if let Some(g) = current.take() {
        dump.goroutines.push(g);
    }
    Ok(dump)
}

fn strip_journal_prefix(line: &str) -> &str {
    // `May 22 02:34:21 k8s03 microk8s.daemon-kubelite[4242]: goroutine ...`
    match line.find("]: ") {
        Some(i)
            if line[..i].contains('[')
                && line
                    .as_bytes()
                    .first()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && !line.starts_with("goroutine") =>
        {
            &line[i + 3..]
        }
        _ => line,
    }
}
