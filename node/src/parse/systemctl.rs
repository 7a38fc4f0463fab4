//! `systemctl show UNIT -p MainPID,ActiveState,ExecMainStartTimestamp,NRestarts`.

use crate::error::ParseError;
use crate::signals::{ActiveState, Pid, ServiceState};
use crate::time::Timestamp;

const WHAT: &str = "systemctl show output";

/// Parses the `KEY=VALUE` lines. `MainPID=0` means no main process; an empty,
/// `n/a` or `0` start timestamp means it never started. The timestamp may be in
/// any zone [`systemd_time`] can resolve, or `@SECONDS` (`--timestamp=unix`).
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
            "ExecMainStartTimestamp" => {
                started_at = match v.trim() {
                    "" | "n/a" | "0" => None,
                    t => Some(systemd_time(t).map_err(|m| ParseError::new(WHAT, n, m, line))?),
                }
            }
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

/// A systemd timestamp as `systemctl show` prints it: `Tue 2026-11-24 15:30:02 UTC`,
/// in another zone (`CET`, `+0530`, `-03`), or, with `--timestamp=unix`,
/// `@1733123456` (seconds since the epoch). `None` when it cannot be read; see
/// [`systemd_time`] for why.
///
/// ```
/// use kubestall_node::parse::systemctl::parse_systemd_time;
/// let utc = parse_systemd_time("Wed 2026-12-02 07:01:14 UTC");
/// assert_eq!(parse_systemd_time("Wed 2026-12-02 08:01:14 CET"), utc);
/// assert_eq!(parse_systemd_time("@1796194874"), utc);
/// ```
pub fn parse_systemd_time(s: &str) -> Option<Timestamp> {
    systemd_time(s).ok()
}

/// [`parse_systemd_time`], or what is wrong with `s`. A zone name whose offset
/// is ambiguous (`IST` is +05:30, +01:00 or +02:00) or unknown needs the tz data
/// of the node that printed it: the error says to ask for UTC or epoch seconds.
pub fn systemd_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Some(secs) = s.strip_prefix('@') {
        // `--timestamp=unix`: whole seconds (systemd 251 and later).
        return secs
            .parse::<i64>()
            .ok()
            .filter(|t| t.unsigned_abs() < 1 << 40)
            .map(Timestamp::from_secs)
            .ok_or_else(|| format!("{s:?} is not `@SECONDS` since the epoch"));
    }
    let f: Vec<&str> = s.split_whitespace().collect();
    let (date, time, zone) = match f.as_slice() {
        [_, d, t, z] => (*d, *t, *z),
        [d, t, z] if d.contains('-') => (*d, *t, *z),
        _ => {
            return Err(
                "cannot read the timestamp (expected e.g. `Tue 2026-11-24 15:30:02 UTC` or `@1733123456`)"
                    .into(),
            );
        }
    };
    let offset = zone_offset(zone).ok_or_else(|| {
        format!(
            "the time zone {zone:?} cannot be resolved without the node's tz data; \
             run `TZ=UTC systemctl show ...` or `systemctl show --timestamp=unix ...`"
        )
    })?;
    Timestamp::parse_rfc3339(&format!("{date}T{time}{offset}"))
        .ok_or_else(|| format!("cannot read the date and time {date:?} {time:?}"))
}

/// The RFC 3339 offset of a zone as systemd prints it (`%Z`): UTC, a numeric
/// offset (`+05`, `+0530`, `+05:30`, as tz data names zones without an
/// abbreviation), or an abbreviation that means one offset only. The table is
/// every abbreviation in Debian's tzdata 2025b for 2026, less the ambiguous ones
/// (CDT, CST, IST, PST), as listed by `TZ=ZONE date +'%Z %z'` over all zones.
fn zone_offset(zone: &str) -> Option<String> {
    const NAMED: &[(&str, &str)] = &[
        ("UTC", "Z"),
        ("GMT", "Z"),
        ("Z", "Z"),
        ("WET", "+00:00"),
        ("WEST", "+01:00"),
        ("BST", "+01:00"),
        ("CET", "+01:00"),
        ("MET", "+01:00"),
        ("WAT", "+01:00"),
        ("CEST", "+02:00"),
        ("MEST", "+02:00"),
        ("EET", "+02:00"),
        ("CAT", "+02:00"),
        ("SAST", "+02:00"),
        ("EEST", "+03:00"),
        ("EAT", "+03:00"),
        ("IDT", "+03:00"),
        ("MSK", "+03:00"),
        ("PKT", "+05:00"),
        ("WIB", "+07:00"),
        ("AWST", "+08:00"),
        ("HKT", "+08:00"),
        ("WITA", "+08:00"),
        ("JST", "+09:00"),
        ("KST", "+09:00"),
        ("WIT", "+09:00"),
        ("ACST", "+09:30"),
        ("AEST", "+10:00"),
        ("ChST", "+10:00"),
        ("ACDT", "+10:30"),
        ("AEDT", "+11:00"),
        ("NZST", "+12:00"),
        ("NZDT", "+13:00"),
        ("NDT", "-02:30"),
        ("ADT", "-03:00"),
        ("NST", "-03:30"),
        ("AST", "-04:00"),
        ("EDT", "-04:00"),
        ("EST", "-05:00"),
        ("MDT", "-06:00"),
        ("MST", "-07:00"),
        ("PDT", "-07:00"),
        ("AKDT", "-08:00"),
        ("AKST", "-09:00"),
        ("HDT", "-09:00"),
        ("HST", "-10:00"),
        ("SST", "-11:00"),
    ];
    if let Some((_, o)) = NAMED.iter().find(|(n, _)| *n == zone) {
        return Some((*o).to_string());
    }
    let (sign, digits) = (zone.get(..1)?, zone.get(1..)?);
    if sign != "+" && sign != "-" {
        return None;
    }
    let digits = digits.replace(':', "");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.len() {
        2 => Some(format!("{sign}{digits}:00")),
        4 => Some(format!("{sign}{}:{}", &digits[..2], &digits[2..])),
        _ => None,
    }
}
