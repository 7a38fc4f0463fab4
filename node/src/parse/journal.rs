//! `journalctl -o json` (one JSON object per line) and `journalctl -o short-iso`.

use serde_json::Value;

use crate::error::ParseError;
use crate::signals::{JournalEntry, Pid};
use crate::time::Timestamp;
use crate::unit::Unit;

const JSON: &str = "journalctl -o json output";
const SHORT: &str = "journalctl -o short-iso output";

/// One field of a journal entry as `journalctl -o json` writes it: a string; an
/// array of byte values when the value is not valid UTF-8 (or has control
/// characters); an array of those when the field appears more than once in the
/// entry; or null when it is too large to show. Duplicates keep the last value,
/// as a later assignment wins; bytes are decoded lossily.
fn field(entry: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    let Some(v) = entry.get(name) else {
        return Ok(None);
    };
    match v {
        Value::Array(items) if items.iter().all(Value::is_number) => bytes(items).map(Some),
        Value::Array(items) => match items.last() {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(b)) => bytes(b).map(Some),
            Some(Value::Null) => Ok(None),
            Some(other) => Err(format!("{name} holds {other}, not a string or bytes")),
        },
        Value::String(s) => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        other => Err(format!("{name} is {other}, not a string or bytes")),
    }
}

fn bytes(items: &[Value]) -> Result<String, String> {
    let b = items
        .iter()
        .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or("an array of bytes holds a value that is not a byte")?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// Parses `journalctl -o json`. Entries without a message are kept with an empty one.
pub fn parse_json(input: &[u8]) -> Result<Vec<JournalEntry>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in input.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let show = || String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
        let raw: serde_json::Map<String, Value> = serde_json::from_slice(line).map_err(|e| {
            ParseError::new(
                JSON,
                i + 1,
                format!("not a journal JSON object: {e}"),
                &show(),
            )
        })?;
        let get =
            |name: &str| field(&raw, name).map_err(|m| ParseError::new(JSON, i + 1, m, &show()));
        let at = get("__REALTIME_TIMESTAMP")?
            .and_then(|t| t.parse::<i64>().ok())
            .map(Timestamp::from_micros)
            .ok_or_else(|| ParseError::new(JSON, i + 1, "no __REALTIME_TIMESTAMP", &show()))?;
        out.push(JournalEntry {
            at,
            unit: get("_SYSTEMD_UNIT")?.and_then(|u| u.parse::<Unit>().ok()),
            pid: get("_PID")?.and_then(|p| p.parse().ok()).map(Pid),
            identifier: get("SYSLOG_IDENTIFIER")?,
            hostname: get("_HOSTNAME")?,
            message: get("MESSAGE")?.unwrap_or_default(),
            cursor: get("__CURSOR")?,
        });
    }
    Ok(out)
}

/// Parses `journalctl -o short-iso`: `2026-05-22T02:34:21+0000 host ident[pid]: message`.
/// Marker lines (`-- No entries --`, `-- Boot ... --`) are skipped; the unit is not
/// in this format, so entries carry none. journalctl prints each further line of a
/// multi-line message indented to where the message starts: such a line (one that
/// starts with whitespace) continues the entry before it, with the indent removed.
pub fn parse_short_iso(input: &[u8]) -> Result<Vec<JournalEntry>, ParseError> {
    let text = String::from_utf8_lossy(input);
    let mut out: Vec<JournalEntry> = Vec::new();
    // Where the message starts on the last entry's first line, in characters.
    let mut indent = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || (line.starts_with("-- ") && line.ends_with(" --")) {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some(last) = out.last_mut() else {
                return Err(ParseError::new(
                    SHORT,
                    n,
                    "an indented continuation line before any entry",
                    line,
                ));
            };
            let spaces = line.bytes().take_while(|b| *b == b' ').count();
            let rest = if spaces >= indent {
                &line[indent..]
            } else {
                line.trim_start()
            };
            last.message.push('\n');
            last.message.push_str(rest);
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let (Some(ts), Some(host), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::new(
                SHORT,
                n,
                "expected `TIME HOST IDENT[PID]: MESSAGE`",
                line,
            ));
        };
        let at =
            parse_iso(ts).ok_or_else(|| ParseError::new(SHORT, n, "cannot read the time", line))?;
        let (ident, message) = rest
            .split_once(": ")
            .unwrap_or((rest.trim_end_matches(':'), ""));
        indent = line.len() - message.len();
        let (identifier, pid) = match ident.split_once('[') {
            Some((name, p)) => (
                name.to_string(),
                p.trim_end_matches(']').parse::<u32>().ok().map(Pid),
            ),
            None => (ident.to_string(), None),
        };
        out.push(JournalEntry {
            at,
            unit: None,
            pid,
            identifier: Some(identifier),
            hostname: Some(host.to_string()),
            message: message.to_string(),
            cursor: None,
        });
    }
    Ok(out)
}

/// `2026-05-22T02:34:21+0000`, `...+00:00`, with optional fraction.
fn parse_iso(s: &str) -> Option<Timestamp> {
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Some(t);
    }
    // +0000 -> +00:00
    let cut = s.len().checked_sub(5)?;
    if !s.is_char_boundary(cut) {
        return None;
    }
    let (head, tz) = s.split_at(cut);
    if (tz.starts_with('+') || tz.starts_with('-'))
        && tz.bytes().skip(1).all(|b| b.is_ascii_digit())
    {
        return Timestamp::parse_rfc3339(&format!("{head}{}:{}", tz.get(..3)?, tz.get(3..)?));
    }
    None
}

/// Parses either format: JSON when the first non-blank byte is `{`.
pub fn parse_any(input: &[u8]) -> Result<Vec<JournalEntry>, ParseError> {
    match input.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => parse_json(input),
        _ => parse_short_iso(input),
    }
}
