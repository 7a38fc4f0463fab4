//! `/proc/PID/schedstat`: `on-cpu-ns wait-ns timeslices`.

use crate::error::ParseError;
use crate::signals::Schedstat;

const WHAT: &str = "/proc/PID/schedstat";

/// Parses one schedstat line.
///
/// ```
/// let s = kubestall_node::parse::schedstat::parse(b"195398181 57385342 625\n").unwrap();
/// assert_eq!((s.on_cpu_ns, s.wait_ns, s.timeslices), (195398181, 57385342, 625));
/// ```
pub fn parse(input: &[u8]) -> Result<Schedstat, ParseError> {
    let text = super::text(WHAT, input)?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| ParseError::new(WHAT, 1, "empty", ""))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() != 3 {
        return Err(ParseError::new(
            WHAT,
            1,
            format!("expected 3 numbers, found {}", fields.len()),
            line,
        ));
    }
    let n = |i: usize| {
        fields[i]
            .parse::<u64>()
            .map_err(|_| ParseError::new(WHAT, 1, format!("field {} is not a number", i + 1), line))
    };
    Ok(Schedstat {
        on_cpu_ns: n(0)?,
        wait_ns: n(1)?,
        timeslices: n(2)?,
    })
}
