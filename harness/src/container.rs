//! The container backend's entry point in the CLI: says what is missing.

use crate::exit::Failure;

/// `--backend container` before the node-twin backend is built: exit 3 when no
/// Docker engine answers (with how to get one), else "not implemented yet".
pub fn unavailable_or_unimplemented() -> Failure {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let answers = kubestall_twin::docker::engine().is_ok();
    if !answers {
        return Failure::Unavailable(format!(
            "no Docker engine answers at {host}. Start one with `eval \"$(ci/dockerd.sh)\"` \
             (installs Debian's docker.io and starts dockerd on its own socket), or set DOCKER_HOST"
        ));
    }
    Failure::not_implemented("the container backend (node twins)")
}

/// The `kubestall-twin` binary: given, or next to this executable.
pub fn twin_binary(given: Option<&std::path::Path>) -> Result<std::path::PathBuf, Failure> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().map_err(|e| Failure::Usage(e.to_string()))?;
    let beside = exe.with_file_name("kubestall-twin");
    if beside.exists() {
        Ok(beside)
    } else {
        Err(Failure::Usage(format!(
            "no kubestall-twin next to {}: build it (`cargo build --release -p kubestall-twin`) or pass --twin-binary",
            exe.display()
        )))
    }
}

/// `kubestall twin build-image`.
pub fn build_image(args: &crate::cli::BuildImageArgs) -> Result<String, Failure> {
    kubestall_twin::docker::engine().map_err(|e| Failure::Unavailable(e.to_string()))?;
    let bin = twin_binary(args.twin_binary.as_deref())?;
    let image = kubestall_twin::image::build(&bin, args.force, &mut |step| {
        eprintln!("build-image: {step}")
    })
    .map_err(|e| Failure::Unavailable(e.to_string()))?;
    if image.cached {
        eprintln!("build-image: {} is up to date (cached)", image.tag);
    } else {
        eprintln!("build-image: built {} in {:.1} s", image.tag, image.build_s);
    }
    Ok(image.tag)
}
