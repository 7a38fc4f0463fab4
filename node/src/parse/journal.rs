//! The journal exports people have: `journalctl -o json` (one JSON object per
//! line), `-o short-iso`, the default `-o short` (and `short-precise`), and the
//! kubelet's own JSON log lines (`--logging-format=json`, as `journalctl -o cat`
//! or a log file prints them). [`parse_any`] tells them apart and refuses what is
//! none of them (an empty file, a binary journal file) saying what it reads.

use serde_json::Value;

use crate::error::ParseError;
use crate::signals::{JournalEntry, Pid};
use crate::time::Timestamp;
use crate::unit::Unit;

const JSON: &str = "journalctl -o json output";
const SHORT: &str = "journalctl -o short-iso output";
const SHORT_DEFAULT: &str = "journalctl -o short output";
const KUBELET_JSON: &str = "kubelet JSON log output";
const ANY: &str = "journal export";

/// What [`parse_any`] reads, for error messages.
pub const FORMATS: &str = "`journalctl -u snap.microk8s.daemon-kubelite -o json` (best: it carries the unit and pid), `-o short-iso`, the default `-o short` (its year comes from --year or the file's date), or the kubelet's JSON log lines (`--logging-format=json`)";

/// How to read an export whose format leaves something out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// The year of the first entry of a `-o short` export, which prints none.
    pub year: Option<i32>,
}

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
    parse_text(
        input,
        SHORT,
        "expected `TIME HOST IDENT[PID]: MESSAGE`",
        |line| {
            let (ts, rest) = line.split_once(' ')?;
            Some((parse_iso(ts)?, rest))
        },
    )
}

/// The text formats: a line is `STAMP HOST IDENT[PID]: MESSAGE`, where `stamp`
/// reads the time at the start of a line and returns what follows it. Marker lines
/// are skipped; an indented line continues the entry before it.
fn parse_text(
    input: &[u8],
    what: &'static str,
    expected: &str,
    mut stamp: impl FnMut(&str) -> Option<(Timestamp, &str)>,
) -> Result<Vec<JournalEntry>, ParseError> {
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
                    what,
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
        let Some((at, rest)) = stamp(line) else {
            let message = if line.split(' ').count() < 3 {
                expected.to_string()
            } else {
                format!("cannot read the time ({expected})")
            };
            return Err(ParseError::new(what, n, message, line));
        };
        let Some((host, rest)) = rest.split_once(' ') else {
            return Err(ParseError::new(what, n, expected, line));
        };
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

/// The export formats [`parse_any`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `journalctl -o json`.
    Json,
    /// `journalctl -o short-iso` (or `short-iso-precise`).
    ShortIso,
    /// `journalctl -o short` (or `short-precise`): `Dec 03 06:02:35 host ident[pid]: msg`.
    Short,
    /// The kubelet's JSON log lines.
    KubeletJson,
}

/// Which format `input` is in, from its first line that is not blank or a marker.
pub fn detect_format(input: &[u8]) -> Result<Format, ParseError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::new(
            ANY,
            1,
            format!("the file is empty; this reads {FORMATS}"),
            "",
        ));
    }
    if input.starts_with(b"LPKSHHRH") {
        return Err(ParseError::new(
            ANY,
            1,
            "this is a binary journal file: export it with `journalctl --file FILE -u snap.microk8s.daemon-kubelite -o json > kubelite.json`",
            "",
        ));
    }
    let head = &input[..input.len().min(64 * 1024)];
    // Text exports are UTF-8 (journalctl prints `[N blob data]` for other bytes): a
    // NUL, or many bytes that are not UTF-8, is binary.
    let invalid = String::from_utf8_lossy(head)
        .chars()
        .filter(|c| *c == char::REPLACEMENT_CHARACTER)
        .count();
    if head.contains(&0) || (invalid > 8 && invalid * 100 > head.len()) {
        return Err(ParseError::new(
            ANY,
            1,
            format!("this is binary data, not text; this reads {FORMATS}"),
            "",
        ));
    }
    let text = String::from_utf8_lossy(head);
    let (n, first) = text
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty() && !(l.starts_with("-- ") && l.ends_with(" --")))
        .map(|(i, l)| (i + 1, l))
        .ok_or_else(|| {
            ParseError::new(
                ANY,
                1,
                format!("the export holds no entries (journalctl printed only markers such as `-- No entries --`); this reads {FORMATS}"),
                text.lines().next().unwrap_or(""),
            )
        })?;
    if first.starts_with('{') {
        if first.contains("\"__REALTIME_TIMESTAMP\"") {
            return Ok(Format::Json);
        }
        if crate::klog::KlogLine::parse_json(first).is_some() {
            return Ok(Format::KubeletJson);
        }
        return Err(ParseError::new(
            ANY,
            n,
            format!(
                "a JSON line that is neither a journal entry (no __REALTIME_TIMESTAMP) nor a kubelet log line (no numeric ts and msg); this reads {FORMATS}"
            ),
            first,
        ));
    }
    if first
        .split(' ')
        .next()
        .is_some_and(|t| parse_iso(t).is_some())
    {
        return Ok(Format::ShortIso);
    }
    if short_stamp(first).is_some() {
        return Ok(Format::Short);
    }
    Err(ParseError::new(
        ANY,
        n,
        format!("not a format this reads; it reads {FORMATS}"),
        first,
    ))
}

/// Parses any of the formats of [`detect_format`].
pub fn parse_any(input: &[u8]) -> Result<Vec<JournalEntry>, ParseError> {
    parse_with(input, ReadOptions::default())
}

/// [`parse_any`] with what a format leaves out.
pub fn parse_with(input: &[u8], opts: ReadOptions) -> Result<Vec<JournalEntry>, ParseError> {
    match detect_format(input)? {
        Format::Json => parse_json(input),
        Format::ShortIso => parse_short_iso(input),
        Format::Short => match opts.year {
            Some(y) => parse_short(input, y),
            None => Err(ParseError::new(
                SHORT_DEFAULT,
                1,
                "the default short format prints no year: give the year of its first line (--year YYYY) or export with `journalctl -o short-iso` or `-o json`",
                "",
            )),
        },
        Format::KubeletJson => parse_kubelet_json(input),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Dec 03 06:02:35` or `Dec 03 06:02:35.123456` at the start of `line`: (month,
/// day, h, m, s, micros) and the rest after the following space.
fn short_stamp(line: &str) -> Option<((u32, u32, u32, u32, u32, u32), &str)> {
    let month = MONTHS.iter().position(|m| line.starts_with(m))? as u32 + 1;
    let rest = line.get(4..)?;
    let (day, rest) = rest.trim_start().split_once(' ')?;
    let (clock, rest) = rest.split_once(' ')?;
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut it = hms.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, sec) = (it.next()??, it.next()??, it.next()??);
    let day: u32 = day.parse().ok()?;
    let micros = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        digits.parse().ok()?
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(((month, day, h, m, sec, micros), rest))
}

/// Parses `journalctl -o short`: `Dec 03 06:02:35 host ident[pid]: message`, the
/// first entry in `year`; a month earlier than the last entry's starts the next
/// year. Times are read as UTC (export with `journalctl --utc` for exact times).
pub fn parse_short(input: &[u8], year: i32) -> Result<Vec<JournalEntry>, ParseError> {
    let mut year = year;
    let mut last_month = 0;
    parse_text(
        input,
        SHORT_DEFAULT,
        "expected `Mon DD HH:MM:SS HOST IDENT[PID]: MESSAGE`",
        |line| {
            let ((month, day, h, m, sec, micros), rest) = short_stamp(line)?;
            if month < last_month {
                year += 1;
            }
            last_month = month;
            let at = Timestamp::from_civil(year, month, day, h, m, sec).as_micros();
            Some((Timestamp::from_micros(at + i64::from(micros)), rest))
        },
    )
}

/// Parses the kubelet's JSON log lines (one object a line); the entries carry no
/// unit, host or pid, and the identifier `kubelite`.
pub fn parse_kubelet_json(input: &[u8]) -> Result<Vec<JournalEntry>, ParseError> {
    let text = String::from_utf8_lossy(input);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if crate::klog::KlogLine::parse_json(line).is_none() {
            return Err(ParseError::new(
                KUBELET_JSON,
                i + 1,
                "not a kubelet JSON log line (an object with a numeric ts and a msg)",
                line,
            ));
        }
        let at = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("ts").and_then(crate::klog::json_ts))
            .unwrap_or_default();
        out.push(JournalEntry {
            at,
            unit: None,
            pid: None,
            identifier: Some("kubelite".to_string()),
            hostname: None,
            message: line.to_string(),
            cursor: None,
        });
    }
    Ok(out)
}
