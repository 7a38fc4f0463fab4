//! Time on a backend's clock, as the journal keeps it: microseconds since the Unix epoch.
//!
//! The simulator's clock is virtual and starts at a fixed date, so that its log
//! lines look like a real node's; real backends use the wall clock. Conversions to
//! the civil calendar are done here (UTC only), so no date crate is needed.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: microseconds since 1970-01-01T00:00:00Z (journald's `__REALTIME_TIMESTAMP`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// The epoch itself.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From microseconds since the epoch.
    pub const fn from_micros(us: i64) -> Self {
        Timestamp(us)
    }

    /// From whole seconds since the epoch.
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s * MICROS_PER_SEC)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch, with the fraction.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }

    /// The wall clock now.
    pub fn now_wall() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }

    /// A civil UTC date and time.
    pub fn from_civil(year: i32, month: u32, day: u32, h: u32, m: u32, s: u32) -> Self {
        let days = days_from_civil(year, month, day);
        Timestamp((days * SECS_PER_DAY + i64::from(h * 3600 + m * 60 + s)) * MICROS_PER_SEC)
    }

    /// This time plus a duration (saturating); also `t + d`.
    #[expect(
        clippy::should_implement_trait,
        reason = "std::ops::Add is implemented too; the method reads better in chains"
    )]
    pub fn add(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }

    /// This time minus a duration (saturating); also `t - d`.
    #[expect(
        clippy::should_implement_trait,
        reason = "std::ops::Sub is implemented too; the method reads better in chains"
    )]
    pub fn sub(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// Seconds from `earlier` to this time, negative if this is earlier.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / MICROS_PER_SEC as f64
    }

    /// The civil UTC fields: (year, month, day, hour, minute, second, microsecond).
    pub fn civil(self) -> Civil {
        let secs = self.0.div_euclid(MICROS_PER_SEC);
        let micros = self.0.rem_euclid(MICROS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            micros,
        }
    }

    /// RFC 3339 in UTC, as the Kubernetes API writes it: `2026-05-22T02:34:21Z`.
    pub fn rfc3339(self) -> String {
        let c = self.civil();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }

    /// `journalctl -o short-iso` in UTC: `2026-05-22T02:34:21+00:00`.
    pub fn short_iso(self) -> String {
        let c = self.civil();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }

    /// The klog header's date and time: `0523 00:17:51.123456`.
    pub fn klog(self) -> String {
        let c = self.civil();
        format!(
            "{:02}{:02} {:02}:{:02}:{:02}.{:06}",
            c.month, c.day, c.hour, c.minute, c.second, c.micros
        )
    }

    /// The argument `journalctl --since` takes for this time, exact to the second
    /// and free of time zones: `@1716345261`.
    pub fn journalctl_arg(self) -> String {
        format!("@{}", self.0.div_euclid(MICROS_PER_SEC))
    }

    /// Parses RFC 3339 as the Kubernetes API and journald write it
    /// (`2026-05-22T02:34:21Z`, `2026-05-22T02:34:21.123456+02:00`).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let year: i32 = s.get(0..4)?.parse().ok()?;
        let month: u32 = digits(s.get(5..7)?)?;
        let day: u32 = digits(s.get(8..10)?)?;
        let hour: u32 = digits(s.get(11..13)?)?;
        let minute: u32 = digits(s.get(14..16)?)?;
        let second: u32 = digits(s.get(17..19)?)?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut rest = s.get(19..)?;
        let mut micros: i64 = 0;
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let mut scale = 100_000;
            for d in frac.bytes().take(n.min(6)) {
                micros += i64::from(d - b'0') * scale;
                scale /= 10;
            }
            rest = frac.get(n..)?;
        }
        let offset_secs: i64 = match rest {
            "Z" | "z" => 0,
            _ => {
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let tz = rest.get(1..)?.replace(':', "");
                if tz.len() != 4 {
                    return None;
                }
                let oh: i64 = digits(tz.get(0..2)?)?.into();
                let om: i64 = digits(tz.get(2..4)?)?.into();
                sign * (oh * 3600 + om * 60)
            }
        };
        let t = Timestamp::from_civil(year, month, day, hour, minute, second.min(59));
        Some(Timestamp(t.0 + micros - offset_secs * MICROS_PER_SEC))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp::add(self, d)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp::sub(self, d)
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Civil UTC fields of a [`Timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i32,
    /// Month, 1-12.
    pub month: u32,
    /// Day of month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
    /// Microsecond, 0-999999.
    pub micros: u32,
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
        )
    }
}

pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_the_runbook_dates() {
        let t = Timestamp::from_civil(2026, 5, 22, 2, 34, 21);
        assert_eq!(t.rfc3339(), "2026-05-22T02:34:21Z");
        assert_eq!(t.short_iso(), "2026-05-22T02:34:21+00:00");
        assert_eq!(t.klog(), "0522 02:34:21.000000");
        assert_eq!(t.journalctl_arg(), "@1779417261");
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let t = Timestamp::parse_rfc3339("2026-05-22T04:34:21.5+02:00").expect("valid");
        assert_eq!(
            t,
            Timestamp::from_civil(2026, 5, 22, 2, 34, 21).add(Duration::from_millis(500))
        );
        assert_eq!(Timestamp::parse_rfc3339("2026-02-30T00:00:00Z"), None);
        assert_eq!(Timestamp::parse_rfc3339("not a time"), None);
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(secs in 0i64..250_000_000_000i64) {
            let t = Timestamp::from_secs(secs);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Some(t));
        }

        #[test]
        fn rfc3339_never_panics(s in ".{0,40}") {
            let _ = Timestamp::parse_rfc3339(&s);
        }
    }
}
