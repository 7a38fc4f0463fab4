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

/// Label every container and network of a kubestall cluster carries.
pub const CLUSTER_LABEL: &str = "kubestall.cluster";

/// `kubestall down --backend container`: removes every container and network
/// labelled as kubestall's, whatever run left them. Returns what was removed.
pub fn down() -> Result<Vec<String>, Failure> {
    let docker = |args: &[&str]| -> Result<String, Failure> {
        let out = std::process::Command::new("docker")
            .args(args)
            .output()
            .map_err(|e| Failure::Unavailable(format!("cannot run docker ({e}); install it with `ci/dockerd.sh`")))?;
        if !out.status.success() {
            return Err(Failure::Unavailable(format!(
                "`docker {}` failed: {}; is a Docker engine running? `eval \"$(ci/dockerd.sh)\"` starts one",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let filter = format!("label={CLUSTER_LABEL}");
    let mut removed = Vec::new();
    for id in docker(&["ps", "-aq", "--filter", &filter])?.split_whitespace() {
        // Kill, not stop: nested tasks that ignore SIGTERM make `docker stop` wait its full timeout.
        docker(&["rm", "-f", "-v", id])?;
        removed.push(format!("container {id}"));
    }
    for id in docker(&["network", "ls", "-q", "--filter", &filter])?.split_whitespace() {
        docker(&["network", "rm", id])?;
        removed.push(format!("network {id}"));
    }
    Ok(removed)
}
