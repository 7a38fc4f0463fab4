//! Parsers of the real outputs the runbook reads.
//!
//! Each takes the bytes a command printed and returns a typed value, or a
//! [`ParseError`](crate::ParseError) that names the line. None panics on any
//! input: each has a property test over arbitrary bytes and a `cargo fuzz`
//! target (`node/fuzz`). Fixtures captured from the real programs live in
//! `node/tests/fixtures/`, with the scripts that captured them.

pub mod ctr;
pub mod goroutines;
pub mod journal;
pub mod kube;
pub mod pgrep;
pub mod proc_stat;
pub mod schedstat;
pub mod systemctl;

use crate::error::ParseError;

/// The input as text, or an error naming the first line that is not UTF-8.
pub(crate) fn text<'a>(what: &'static str, input: &'a [u8]) -> Result<&'a str, ParseError> {
    std::str::from_utf8(input).map_err(|e| {
        let line = input[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        ParseError::new(
            what,
            line,
            "not UTF-8",
            &String::from_utf8_lossy(&input[..e.valid_up_to().min(200)]),
        )
    })
}
