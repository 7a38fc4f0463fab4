//! The container backend's entry point in the CLI: says what is missing.

use crate::exit::Failure;

/// `--backend container` before the node-twin backend is built: exit 3 when no
/// Docker engine answers (with how to get one), else "not implemented yet".
pub fn unavailable_or_unimplemented() -> Failure {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let answers = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !answers {
        return Failure::Unavailable(format!(
            "no Docker engine answers at {host}. Start one with `eval \"$(ci/dockerd.sh)\"` \
             (installs Debian's docker.io and starts dockerd on its own socket), or set DOCKER_HOST"
        ));
    }
    Failure::not_implemented("the container backend (node twins)")
}
