//! The node image: Debian's packages (debootstrap), microk8s's layout, the
//! twin binary, imported into Docker. Tagged with the hash of its inputs, so it
//! is built once and rebuilt only when the recipe, the package list or the
//! twin binary change.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::docker::{DockerError, docker};

/// The recipe, compiled in: the image is reproducible from the binary alone.
const PACKAGES: &str = include_str!("../image/packages.txt");
const NODE_INIT: &str = include_str!("../image/bin/node-init");
const SETUP_NODE: &str = include_str!("../image/bin/setup-node");
const CONTAINERD_TOML: &str = include_str!("../image/containerd.toml");
const UNITS: [(&str, &str); 5] = [
    (
        "kubestall-twin-cluster.service",
        include_str!("../image/units/kubestall-twin-cluster.service"),
    ),
    (
        "snap.microk8s.daemon-containerd.service",
        include_str!("../image/units/snap.microk8s.daemon-containerd.service"),
    ),
    (
        "snap.microk8s.daemon-k8s-dqlite.service",
        include_str!("../image/units/snap.microk8s.daemon-k8s-dqlite.service"),
    ),
    (
        "snap.microk8s.daemon-kubelite.service",
        include_str!("../image/units/snap.microk8s.daemon-kubelite.service"),
    ),
    (
        "kubestall-kubelet-tls.service",
        include_str!("../image/units/kubestall-kubelet-tls.service"),
    ),
];
/// Bump when the way the image is assembled changes.
const RECIPE_VERSION: u32 = 1;

/// Why the image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Docker failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// A build step failed.
    #[error("{step}: {message}")]
    Step {
        /// The step.
        step: &'static str,
        /// What failed and what to do.
        message: String,
    },
}

/// A built (or found) image.
#[derive(Clone, Debug)]
pub struct Image {
    /// `kubestall-node:HASH`.
    pub tag: String,
    /// Whether it was already there.
    pub cached: bool,
    /// Seconds the build took (0 when cached).
    pub build_s: f64,
}

fn recipe_hash() -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    RECIPE_VERSION.hash(&mut h);
    PACKAGES.hash(&mut h);
    NODE_INIT.hash(&mut h);
    SETUP_NODE.hash(&mut h);
    CONTAINERD_TOML.hash(&mut h);
    UNITS.hash(&mut h);
    h.finish()
}

/// The base image's tag: Debian and microk8s's layout, the hash of the recipe.
pub fn base_tag() -> String {
    format!("kubestall-node-base:{:016x}", recipe_hash())
}

/// The node image's tag for a twin binary: the hash of every input.
pub fn tag_for(twin_binary: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    recipe_hash().hash(&mut h);
    twin_binary.hash(&mut h);
    format!("kubestall-node:{:016x}", h.finish())
}

/// Builds the image unless one with the same inputs exists (`force` rebuilds).
/// Needs root (debootstrap, chroot) and a Docker engine. `progress` hears each step.
pub fn build(
    twin_binary: &Path,
    force: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Image, ImageError> {
    let bin = std::fs::read(twin_binary).map_err(|e| ImageError::Step {
        step: "read the twin binary",
        message: format!(
            "{}: {e}; build it with `cargo build --release -p kubestall-twin`",
            twin_binary.display()
        ),
    })?;
    let tag = tag_for(&bin);
    if !force && docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).is_ok() {
        return Ok(Image {
            tag,
            cached: true,
            build_s: 0.0,
        });
    }
    let start = Instant::now();
    let base = base_tag();
    if force || docker(&["image", "inspect", "--format", "{{.Id}}", &base]).is_err() {
        build_base(&base, progress)?;
    }
    // The twin binary is a layer of its own: a code change rebuilds in seconds.
    progress(&format!("adding the twin binary: {tag}"));
    let name = format!("kubestall-build-{}", std::process::id());
    let _ = docker(&["rm", "-f", &name]);
    docker(&[
        "create",
        "--name",
        &name,
        &base,
        "/usr/local/sbin/node-init",
    ])?;
    let bin_path = twin_binary.display().to_string();
    let result = docker(&[
        "cp",
        &bin_path,
        &format!("{name}:/usr/local/bin/kubestall-twin"),
    ])
    .and_then(|_| {
        docker(&[
            "commit",
            "--change",
            "CMD [\"/usr/local/sbin/node-init\"]",
            "--change",
            "LABEL kubestall.image=node",
            &name,
            &tag,
        ])
    });
    let _ = docker(&["rm", "-f", &name]);
    result?;
    Ok(Image {
        tag,
        cached: false,
        build_s: start.elapsed().as_secs_f64(),
    })
}

/// Debian bookworm by debootstrap, microk8s's layout, imported as `base`.
fn build_base(base: &str, progress: &mut dyn FnMut(&str)) -> Result<(), ImageError> {
    let work = tempdir()?;
    let rootfs = work.join("rootfs");
    let packages: Vec<&str> = PACKAGES
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    let mirror = std::env::var("KUBESTALL_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let cache = PathBuf::from("/var/cache/kubestall-debootstrap");
    let _ = std::fs::create_dir_all(&cache);
    progress(&format!(
        "debootstrap bookworm with {} packages (cached debs in {})",
        packages.len(),
        cache.display()
    ));
    run(
        "debootstrap",
        Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={}", packages.join(",")))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg("bookworm")
            .arg(&rootfs)
            .arg(&mirror),
    )
    .inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&work);
    })?;
    progress("microk8s layout and units");
    let w = |rel: &str, content: &[u8], mode: u32| -> Result<(), ImageError> {
        let p = rootfs.join(rel.trim_start_matches('/'));
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| step_err("write the recipe", e))?;
        }
        std::fs::write(&p, content).map_err(|e| step_err("write the recipe", e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| step_err("write the recipe", e))
    };
    w("/usr/local/sbin/node-init", NODE_INIT.as_bytes(), 0o755)?;
    w("/tmp/setup-node", SETUP_NODE.as_bytes(), 0o755)?;
    w(
        "/var/snap/microk8s/current/args/containerd.toml",
        CONTAINERD_TOML.as_bytes(),
        0o644,
    )?;
    for (name, text) in UNITS {
        w(
            &format!("/etc/systemd/system/{name}"),
            text.as_bytes(),
            0o644,
        )?;
    }
    run(
        "setup-node",
        Command::new("chroot")
            .arg(&rootfs)
            .arg("/bin/sh")
            .arg("/tmp/setup-node"),
    )?;
    let _ = std::fs::remove_file(rootfs.join("tmp/setup-node"));
    progress(&format!("docker import as {base}"));
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-c")
        .arg(".")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| step_err("tar the rootfs", e))?;
    let import = crate::docker::command()
        .args([
            "import",
            "-c",
            "CMD [\"/usr/local/sbin/node-init\"]",
            "-",
            base,
        ])
        .stdin(tar.stdout.take().ok_or_else(|| ImageError::Step {
            step: "tar the rootfs",
            message: "no pipe".into(),
        })?)
        .output()
        .map_err(|e| step_err("docker import", e))?;
    let _ = tar.wait();
    let _ = std::fs::remove_dir_all(&work);
    if !import.status.success() {
        return Err(ImageError::Step {
            step: "docker import",
            message: String::from_utf8_lossy(&import.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn step_err(step: &'static str, e: std::io::Error) -> ImageError {
    ImageError::Step {
        step,
        message: e.to_string(),
    }
}

fn run(step: &'static str, cmd: &mut Command) -> Result<(), ImageError> {
    let out = cmd.output().map_err(|e| ImageError::Step {
        step,
        message: format!("{e}; building the node image needs root and Debian's debootstrap (apt-get install debootstrap)"),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = err.lines().rev().take(6).collect();
    Err(ImageError::Step {
        step,
        message: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

fn tempdir() -> Result<PathBuf, ImageError> {
    let base = std::env::temp_dir().join(format!("kubestall-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|e| step_err("make a work folder", e))?;
    Ok(base)
}
