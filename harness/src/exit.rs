//! Exit codes, as documented in `kubestall --help`: the contract scripts rely on.

use std::fmt;

/// How a command ended, mapped to a process exit code.
#[derive(Debug)]
pub enum Failure {
    /// 1: an expectation was missed (or `detect` found a problem).
    Expectation(String),
    /// 2: invalid input or usage.
    Usage(String),
    /// 3: the backend is unavailable; the message says how to get it.
    Unavailable(String),
    /// 4: `detect` found no stall but its evidence cannot rule some out.
    CannotTell(String),
}

impl Failure {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Expectation(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Unavailable(_) => 3,
            Failure::CannotTell(_) => 4,
        }
    }

    /// "not implemented yet" for a part a later issue fills: exit 2, never a fake result.
    pub fn not_implemented(what: &str) -> Failure {
        Failure::Usage(format!("{what} is not implemented yet"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Expectation(m)
            | Failure::Usage(m)
            | Failure::Unavailable(m)
            | Failure::CannotTell(m) => f.write_str(m),
        }
    }
}

impl From<crate::scenario::ScenarioError> for Failure {
    fn from(e: crate::scenario::ScenarioError) -> Self {
        Failure::Usage(e.to_string())
    }
}
