//! klog, the kubelet's log line format, written and read.
//!
//! ```text
//! E0523 00:17:51.123456   12345 kubelet.go:2525] "Skipping pod synchronization" err="PLEG is not healthy: pleg has yet to be successful"
//! ```
//!
//! A header (severity, month and day, time, thread id, `file:line]`), then either a
//! structured message (a Go-quoted string followed by `key=value` pairs, values
//! quoted when they are strings) or free text. The simulator and the node twin
//! write lines with [`KlogLine::format`]; detectors read them with [`KlogLine::parse`].

use std::fmt::Write as _;

use crate::time::Timestamp;

/// klog severity, the header's first letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `I`
    Info,
    /// `W`
    Warning,
    /// `E`
    Error,
    /// `F`
    Fatal,
}

impl Severity {
    fn letter(self) -> char {
        match self {
            Severity::Info => 'I',
            Severity::Warning => 'W',
            Severity::Error => 'E',
            Severity::Fatal => 'F',
        }
    }

    fn from_letter(c: u8) -> Option<Self> {
        Some(match c {
            b'I' => Severity::Info,
            b'W' => Severity::Warning,
            b'E' => Severity::Error,
            b'F' => Severity::Fatal,
            _ => return None,
        })
    }
}

/// A parsed klog line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KlogLine {
    /// Severity.
    pub severity: Severity,
    /// `MMDD hh:mm:ss.uuuuuu` exactly as printed (klog omits the year).
    pub stamp: String,
    /// The thread id klog prints (the process id on Linux for the main thread).
    pub thread: u32,
    /// Source file, e.g. `kubelet.go`.
    pub file: String,
    /// Source line.
    pub line: u32,
    /// The message: the quoted text of a structured line, unquoted, or the free text.
    pub message: String,
    /// Structured `key=value` pairs, values unquoted, in order.
    pub fields: Vec<(String, String)>,
}

impl KlogLine {
    /// Formats a structured klog line as the kubelet writes it.
    ///
    /// ```
    /// use kubestall_node::{klog::{KlogLine, Severity}, Timestamp};
    /// let t = Timestamp::from_civil(2026, 5, 22, 2, 34, 21);
    /// let line = KlogLine::format(t, Severity::Info, 4242, "kubelet_node_status.go", 77,
    ///     "Successfully registered node", &[("node", "k8s03")]);
    /// assert_eq!(line, r#"I0522 02:34:21.000000    4242 kubelet_node_status.go:77] "Successfully registered node" node="k8s03""#);
    /// ```
    pub fn format(
        at: Timestamp,
        severity: Severity,
        thread: u32,
        file: &str,
        line: u32,
        message: &str,
        fields: &[(&str, &str)],
    ) -> String {
        let mut out = String::with_capacity(96 + message.len());
        let _ = write!(
            out,
            "{}{} {:>7} {}:{}] ",
            severity.letter(),
            at.klog(),
            thread,
            file,
            line
        );
        go_quote_into(&mut out, message);
        for (k, v) in fields {
            out.push(' ');
            out.push_str(k);
            out.push('=');
            go_quote_into(&mut out, v);
        }
        out
    }

    /// Parses a klog line; `None` when it has no klog header (a Go panic trace,
    /// an etcd client JSON line, a goroutine dump line).
    pub fn parse(s: &str) -> Option<KlogLine> {
        let b = s.as_bytes();
        let severity = Severity::from_letter(*b.first()?)?;
        // "E0523 00:17:51.123456"
        let stamp = s.get(1..21)?;
        let sb = stamp.as_bytes();
        if sb[4] != b' ' || sb[7] != b':' || sb[10] != b':' || sb[13] != b'.' {
            return None;
        }
        let rest = s.get(21..)?.trim_start();
        let (thread, rest) = rest.split_once(' ')?;
        let thread: u32 = thread.parse().ok()?;
        let (loc, rest) = rest
            .split_once("] ")
            .or_else(|| rest.strip_suffix(']').map(|l| (l, "")))?;
        let (file, line) = loc.rsplit_once(':')?;
        let line: u32 = line.parse().ok()?;
        let (message, fields) = if rest.starts_with('"') {
            match go_unquote(rest) {
                Some((msg, tail)) => (msg, parse_fields(tail)),
                None => (rest.to_string(), Vec::new()),
            }
        } else {
            (rest.to_string(), Vec::new())
        };
        Some(KlogLine {
            severity,
            stamp: stamp.to_string(),
            thread,
            file: file.to_string(),
            line,
            message,
            fields,
        })
    }

    /// Parses a line of the kubelet's JSON logging format (`--logging-format=json`,
    /// component-base's zap encoder): `{"ts":1764745355.12,"caller":"kubelet/kubelet.go:2525",
    /// "msg":"Skipping pod synchronization","err":"PLEG is not healthy: ..."}`. `ts` is
    /// seconds since the epoch; `v` is there for info lines and `err` for errors.
    /// The thread is not in this format (0). `None` for any other JSON (the etcd
    /// client's zap lines carry `ts` as a string and are not kubelet lines).
    pub fn parse_json(s: &str) -> Option<KlogLine> {
        if !s.trim_start().starts_with('{') {
            return None;
        }
        let serde_json::Value::Object(map) = serde_json::from_str(s.trim()).ok()? else {
            return None;
        };
        let at = json_ts(map.get("ts")?)?;
        let message = map.get("msg")?.as_str()?.to_string();
        let (file, line) = map
            .get("caller")
            .and_then(|c| c.as_str())
            .and_then(|c| c.rsplit_once(':'))
            .map(|(f, l)| {
                let f = f.rsplit('/').next().unwrap_or(f);
                (f.to_string(), l.parse().unwrap_or(0))
            })
            .unwrap_or_default();
        let severity = if map.contains_key("err") {
            Severity::Error
        } else {
            Severity::Info
        };
        let fields = map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "ts" | "caller" | "msg" | "v"))
            .map(|(k, v)| (k.clone(), json_value(v)))
            .collect();
        Some(KlogLine {
            severity,
            stamp: at.klog(),
            thread: 0,
            file,
            line,
            message,
            fields,
        })
    }

    /// A klog text line or a kubelet JSON log line, whichever `s` is.
    pub fn parse_any(s: &str) -> Option<KlogLine> {
        KlogLine::parse(s).or_else(|| KlogLine::parse_json(s))
    }

    /// The value of field `key`, if present.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The time of a kubelet JSON line: `ts` in milliseconds since the epoch, as
/// component-base writes it (Kubernetes' own docs show seconds, from older
/// releases: a value below 1e11 is read as seconds).
pub fn json_ts(ts: &serde_json::Value) -> Option<Timestamp> {
    let ts = ts.as_f64()?;
    let micros = if ts.abs() >= 1e11 { ts * 1e3 } else { ts * 1e6 };
    Some(Timestamp::from_micros(micros.round() as i64))
}

/// A JSON value as klog's text format prints it: strings bare, object references
/// (`{"name":"web-1","namespace":"default"}`) as `default/web-1`, lists of them
/// as `["default/web-1"]`, anything else as JSON.
fn json_value(v: &serde_json::Value) -> String {
    use serde_json::Value;
    fn object_ref(v: &Value) -> Option<String> {
        let o = v.as_object()?;
        let name = o.get("name")?.as_str()?;
        if o.keys().any(|k| k != "name" && k != "namespace") {
            return None;
        }
        Some(match o.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
            _ => name.to_string(),
        })
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => match items.iter().map(object_ref).collect::<Option<Vec<_>>>() {
            Some(refs) => {
                let mut out = String::from("[");
                for (i, r) in refs.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    go_quote_into(&mut out, r);
                }
                out.push(']');
                out
            }
            None => v.to_string(),
        },
        other => object_ref(other).unwrap_or_else(|| other.to_string()),
    }
}

fn parse_fields(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        let Some((key, after)) = s.split_once('=') else {
            break;
        };
        if key.is_empty() || key.contains(' ') {
            break;
        }
        if after.starts_with('"') {
            match go_unquote(after) {
                Some((v, tail)) => {
                    out.push((key.to_string(), v));
                    s = tail;
                }
                None => break,
            }
        } else if after.starts_with('<') {
            // Multi-line values (`key=<`) are not followed here.
            break;
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            out.push((key.to_string(), after[..end].to_string()));
            s = &after[end..];
        }
    }
    out
}

/// Appends `s` quoted as Go's `%q` does for printable text.
pub fn go_quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads a Go-quoted string at the start of `s`; returns it and what follows.
fn go_unquote(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'x' => {
                    let hi = chars.next()?.1.to_digit(16)?;
                    let lo = chars.next()?.1.to_digit(16)?;
                    out.push(char::from_u32(hi * 16 + lo)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_runbook_pleg_line() {
        let l = KlogLine::parse(r#"E0523 00:17:51.000000    2211 kubelet.go:2525] "Skipping pod synchronization" err="PLEG is not healthy: pleg has yet to be successful""#)
            .expect("klog");
        assert_eq!(l.severity, Severity::Error);
        assert_eq!(l.file, "kubelet.go");
        assert_eq!(l.line, 2525);
        assert_eq!(l.message, "Skipping pod synchronization");
        assert_eq!(
            l.field("err"),
            Some("PLEG is not healthy: pleg has yet to be successful")
        );
    }

    #[test]
    fn parses_the_imagefs_signature() {
        let l = KlogLine::parse(r#"E0516 09:12:03.441122   18812 eviction_manager.go:292] "eviction manager: failed to check if we have separate container filesystem. Ignoring." err="no imagefs label for configured runtime""#)
            .expect("klog");
        assert_eq!(
            l.message,
            "eviction manager: failed to check if we have separate container filesystem. Ignoring."
        );
        assert_eq!(
            l.field("err"),
            Some("no imagefs label for configured runtime")
        );
    }

    #[test]
    fn free_text_and_bare_values() {
        let l = KlogLine::parse("I0522 02:34:21.000000       7 server.go:1] Version: v1.35.0")
            .expect("klog");
        assert_eq!(l.message, "Version: v1.35.0");
        let l = KlogLine::parse(r#"I0522 02:34:21.000000       7 a.go:1] "m" n=3 ok=true"#)
            .expect("klog");
        assert_eq!(l.field("n"), Some("3"));
        assert_eq!(l.field("ok"), Some("true"));
        assert!(KlogLine::parse("goroutine 1 [running]:").is_none());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(msg in "\\PC{0,40}", v in "\\PC{0,20}", thread in 0u32..10_000_000) {
            let t = Timestamp::from_civil(2026, 5, 22, 2, 34, 21);
            let line = KlogLine::format(t, Severity::Warning, thread, "x.go", 9, &msg, &[("k", &v)]);
            let p = KlogLine::parse(&line).expect("own output parses");
            prop_assert_eq!(&p.message, &msg);
            prop_assert_eq!(p.field("k"), Some(v.as_str()));
            prop_assert_eq!(p.thread, thread);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,120}") {
            let _ = KlogLine::parse(&s);
        }
    }
}
