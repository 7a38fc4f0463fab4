//! A Go goroutine dump, as SIGUSR1 (containerd, the runbook's kubelite) or
//! SIGQUIT writes it: `goroutine N [state, M minutes]:` then function lines,
//! each followed by a tab-indented `file:line +0x..`, and `created by ...`.
//! Go 1.23 and later write `goroutine N gp=0x.. m=nil [state]:` when tracebacks
//! are verbose (GOTRACEBACK=system, a runtime crash); the extra words are skipped.

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
        if line
            .trim_start()
            .starts_with("goroutine running on other thread")
        {
            // A goroutine on another thread during a crash: its header came first, no frames follow.
            continue;
        }
        if let Some(rest) = line.strip_prefix("goroutine ") {
            if let Some(g) = current.take() {
                dump.goroutines.push(g);
            }
            let (id, state, minutes) =
                header(rest).map_err(|m| ParseError::new(WHAT, i + 1, m, raw))?;
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

/// The rest of a header after `goroutine `: `ID [STATE]:`, where Go 1.23 and
/// later may put `gp=0x.. m=ID mp=0x..` (or `m=nil`) before the brackets, and the
/// brackets hold the wait reason (`chan receive (nil chan)`, `sync.Mutex.Lock`),
/// then optionally `, N minutes`, `, locked to thread` and later additions.
fn header(rest: &str) -> Result<(u64, String, Option<u32>), &'static str> {
    let (id, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let id = id
        .parse::<u64>()
        .map_err(|_| "goroutine id is not a number")?;
    let open = tail.find('[').ok_or("expected `[state]` after the id")?;
    let close = tail
        .rfind(']')
        .filter(|c| *c > open)
        .ok_or("expected `[state]` after the id")?;
    let inner = &tail[open + 1..close];
    let mut parts = inner.split(", ");
    let state = parts.next().unwrap_or_default().trim().to_string();
    if state.is_empty() {
        return Err("an empty goroutine state");
    }
    let minutes = parts.find_map(|p| {
        p.strip_suffix(" minutes")
            .or_else(|| p.strip_suffix(" minute"))
            .and_then(|m| m.trim().parse().ok())
    });
    Ok((id, state, minutes))
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
