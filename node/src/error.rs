//! Errors of observing and controlling a node.

use std::time::Duration;

/// Output that did not parse: which line, what was expected, and the line itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}, line {line}: {message}: {text:?}")]
pub struct ParseError {
    /// What was being parsed (`pgrep -a containerd-shim output`).
    pub what: &'static str,
    /// 1-based line number in the input.
    pub line: usize,
    /// What was wrong.
    pub message: String,
    /// The offending line, cut to 200 characters.
    pub text: String,
}

impl ParseError {
    /// An error at `line` (1-based) of `text`.
    pub fn new(what: &'static str, line: usize, message: impl Into<String>, text: &str) -> Self {
        let mut end = text.len().min(200);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        ParseError {
            what,
            line,
            message: message.into(),
            text: text[..end].to_string(),
        }
    }
}

/// Why a node could not be observed or controlled.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The program could not be started at all.
    #[error("could not run `{program}`: {source}; is it installed and on PATH?")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("`{command}` exited with {status}: {stderr}")]
    Command {
        /// The command as a shell would show it.
        command: String,
        /// Its exit status (`signal 9` when killed).
        status: String,
        /// The last lines of its standard error.
        stderr: String,
    },
    /// The command did not finish in time and was killed.
    #[error("`{command}` did not finish within {after:?} and was killed")]
    Timeout {
        /// The command as a shell would show it.
        command: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The command's output did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The backend cannot do this at all.
    #[error("{operation} is not supported on the {backend} backend")]
    NotSupported {
        /// The backend (`sim`, `container`, `ssh`, `local`).
        backend: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// A process that was asked about does not exist (any more).
    #[error("no process with pid {0}")]
    NoSuchProcess(crate::Pid),
    /// The Kubernetes API refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Api(String),
    /// Something the request named does not exist.
    #[error("{0} not found")]
    NotFound(String),
}
