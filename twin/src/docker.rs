//! The Docker engine, driven through Debian's `docker` CLI.
//!
//! The CLI negotiates the API version with whatever engine answers (Debian's
//! 20.10 speaks API 1.41 at most), costs no dependencies, and every call is an
//! argument vector: names never pass through a shell.

use std::process::{Command, Stdio};

/// A Docker call that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DockerError {
    /// No engine answers: how to get one.
    #[error(
        "no Docker engine answers ({0}). Start one with `eval \"$(ci/dockerd.sh)\"` (it installs Debian's docker.io and runs dockerd on its own socket), or set DOCKER_HOST"
    )]
    Unavailable(String),
    /// A call failed.
    #[error("`docker {command}` failed: {stderr}")]
    Failed {
        /// The arguments.
        command: String,
        /// Its standard error.
        stderr: String,
    },
}

/// The engine to talk to: `$DOCKER_HOST`, else the default socket, else the one
/// `ci/dockerd.sh` starts (`/run/kubestall/docker.sock`).
pub fn host() -> Option<String> {
    if let Ok(h) = std::env::var("DOCKER_HOST") {
        return Some(h);
    }
    if std::path::Path::new("/var/run/docker.sock").exists() {
        return None;
    }
    std::path::Path::new("/run/kubestall/docker.sock")
        .exists()
        .then(|| "unix:///run/kubestall/docker.sock".to_string())
}

/// A `docker` command aimed at [`host`].
pub fn command() -> Command {
    let mut c = Command::new("docker");
    if let Some(h) = host() {
        c.env("DOCKER_HOST", h);
    }
    c
}

/// Runs `docker ARGS` and returns its standard output.
pub fn docker(args: &[&str]) -> Result<String, DockerError> {
    let out = command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DockerError::Unavailable(format!("cannot run docker: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(DockerError::Failed {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Whether an engine answers; the error says how to get one.
pub fn engine() -> Result<String, DockerError> {
    docker(&["version", "--format", "{{.Server.Version}}"])
        .map(|v| v.trim().to_string())
        .map_err(|e| DockerError::Unavailable(e.to_string()))
}
