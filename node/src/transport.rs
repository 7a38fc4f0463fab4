//! Running a command on a node and getting its output.
//!
//! A [`Cmd`] is a program and its arguments, never a shell string: names that came
//! from users or from a node are passed as separate arguments, so nothing is ever
//! interpolated into shell code. [`Local`] runs it here with `tokio::process`;
//! other transports (`docker exec`, `nsenter`, SSH) wrap the same `Cmd`.

use std::fmt;
use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::error::NodeError;

/// How long a command may run when its caller does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A command: a program, its arguments, a timeout and optional standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    /// The program (`journalctl`).
    pub program: String,
    /// Its arguments, each passed as is.
    pub args: Vec<String>,
    /// Killed after this long.
    pub timeout: Duration,
    /// Bytes written to its standard input, if any.
    pub stdin: Option<Vec<u8>>,
}

impl Cmd {
    /// A command with no arguments and the default timeout.
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            stdin: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// This command wrapped to run through another program, e.g.
    /// `docker exec NODE` or `nsenter -t PID -a`: `prefix... program args...`.
    pub fn wrapped<I, S>(&self, prefix: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut all: Vec<String> = prefix.into_iter().map(Into::into).collect();
        let program = all.remove(0);
        all.push(self.program.clone());
        all.extend(self.args.iter().cloned());
        Cmd {
            program,
            args: all,
            timeout: self.timeout,
            stdin: self.stdin.clone(),
        }
    }
}

impl fmt::Display for Cmd {
    /// The command as a person would type it, each word quoted for a POSIX shell when needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_quote(&self.program))?;
        for a in &self.args {
            f.write_str(" ")?;
            f.write_str(&shell_quote(a))?;
        }
        Ok(())
    }
}

/// Quotes `word` for a POSIX shell, only when it needs it.
///
/// ```
/// use kubestall_node::transport::shell_quote;
/// assert_eq!(shell_quote("k8s03"), "k8s03");
/// assert_eq!(shell_quote("5 minutes ago"), "'5 minutes ago'");
/// assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
/// ```
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a finished command left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdOutput {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl CmdOutput {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// `Ok(self)` when it exited 0, else a [`NodeError::Command`] naming `cmd`.
    pub fn check(self, cmd: &Cmd) -> Result<CmdOutput, NodeError> {
        if self.success() {
            return Ok(self);
        }
        let stderr = String::from_utf8_lossy(&self.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        Err(NodeError::Command {
            command: cmd.to_string(),
            status: match self.code {
                Some(c) => format!("exit code {c}"),
                None => "a signal".to_string(),
            },
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }
}

/// Runs commands on one node.
pub trait Transport: Send + Sync {
    /// Runs `cmd` and returns its output, whatever its exit code; a timeout kills it.
    fn run(&self, cmd: &Cmd) -> impl Future<Output = Result<CmdOutput, NodeError>> + Send;

    /// Where commands run, for messages (`local`, `docker exec k8s03`).
    fn describe(&self) -> String;
}

/// Runs commands on this machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Transport for Local {
    async fn run(&self, cmd: &Cmd) -> Result<CmdOutput, NodeError> {
        let mut child = tokio::process::Command::new(&cmd.program)
            .args(&cmd.args)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| NodeError::Spawn {
                program: cmd.program.clone(),
                source,
            })?;
        if let (Some(bytes), Some(mut pipe)) = (cmd.stdin.clone(), child.stdin.take()) {
            // A child that exits without reading its input is not an error here.
            let _ = pipe.write_all(&bytes).await;
        }
        match tokio::time::timeout(cmd.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(CmdOutput {
                code: out.status.code(),
                stdout: out.stdout,
                stderr: out.stderr,
            }),
            Ok(Err(source)) => Err(NodeError::Spawn {
                program: cmd.program.clone(),
                source,
            }),
            // Dropping the future drops the child, and kill_on_drop kills it.
            Err(_) => Err(NodeError::Timeout {
                command: cmd.to_string(),
                after: cmd.timeout,
            }),
        }
    }

    fn describe(&self) -> String {
        "local".to_string()
    }
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn run(&self, cmd: &Cmd) -> impl Future<Output = Result<CmdOutput, NodeError>> + Send {
        (**self).run(cmd)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn arguments_are_never_shell_code() {
        let out = rt()
            .block_on(Local.run(&Cmd::new("echo").arg("$(id); `x` 'y'")))
            .expect("echo runs");
        assert_eq!(out.stdout_text(), "$(id); `x` 'y'\n");
    }

    #[test]
    fn timeouts_kill_the_command() {
        let err = rt()
            .block_on(
                Local.run(
                    &Cmd::new("sleep")
                        .arg("5")
                        .timeout(Duration::from_millis(50)),
                ),
            )
            .expect_err("times out");
        assert!(matches!(err, NodeError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("sleep 5"), "{err}");
    }

    #[test]
    fn failures_name_the_command_and_stderr() {
        let cmd = Cmd::new("sh").args(["-c", "echo nope >&2; exit 3"]);
        let err = rt()
            .block_on(Local.run(&cmd))
            .expect("runs")
            .check(&cmd)
            .expect_err("fails");
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo nope >&2; exit 3'` exited with exit code 3: nope"
        );
    }

    #[test]
    fn missing_programs_say_so() {
        let err = rt()
            .block_on(Local.run(&Cmd::new("kubestall-no-such-program")))
            .expect_err("no program");
        assert!(err.to_string().contains("is it installed"), "{err}");
    }

    #[test]
    fn wrapping_keeps_arguments_separate() {
        let c = Cmd::new("journalctl").args(["-u", "snap.microk8s.daemon-kubelite"]);
        let w = c.wrapped(["docker", "exec", "k8s03"]);
        assert_eq!(
            w.to_string(),
            "docker exec k8s03 journalctl -u snap.microk8s.daemon-kubelite"
        );
    }
}
