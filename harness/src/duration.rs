//! Durations as people write them in scenario files: `90s`, `5m`, `1h30m`, `500ms`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration written as `1h30m`, `5m`, `90s`, `2.5s` or `500ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// From whole seconds.
    pub const fn secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }

    /// From milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }
}

/// A duration that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: write a number and a unit, such as 90s, 5m, 1h30m, 2.5s or 500ms")]
pub struct InvalidDuration(pub String);

impl FromStr for Dur {
    type Err = InvalidDuration;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidDuration(s.to_string());
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(err());
        }
        let mut total = Duration::ZERO;
        while !rest.is_empty() {
            let n = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            if n == 0 {
                return Err(err());
            }
            let value: f64 = rest[..n].parse().map_err(|_| err())?;
            rest = &rest[n..];
            let u = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit_secs = match &rest[..u] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(err()),
            };
            rest = &rest[u..];
            let secs = value * unit_secs;
            if !secs.is_finite() || secs > 1e9 {
                return Err(err());
            }
            total += Duration::from_secs_f64(secs);
        }
        Ok(Dur(total))
    }
}

impl fmt::Display for Dur {
    /// The shortest exact form: `1h30m`, `90s` is shown as `1m30s`, `500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let (h, m, s, rem) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        match (s, rem) {
            (0, 0) => Ok(()),
            (s, 0) => write!(f, "{s}s"),
            (0, r) if h == 0 && m == 0 => write!(f, "{r}ms"),
            (s, r) => write!(f, "{s}.{:03}s", r),
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ms, s, m, h), repeated: 90s, 5m, 1h30m, 2.5s, 500ms",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$",
            "examples": ["90s", "5m", "1h30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        let d = |s: &str| s.parse::<Dur>().map(|d| d.0);
        assert_eq!(d("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "5", "s", "5 minutes", "-3s", "1e9h", "5x"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn displays_round_trip() {
        for s in ["1h30m", "1m30s", "500ms", "2.500s", "0s", "3h"] {
            let d: Dur = s.parse().expect(s);
            assert_eq!(d.to_string().parse::<Dur>(), Ok(d));
        }
        assert_eq!(Dur::secs(90).to_string(), "1m30s");
    }
}
