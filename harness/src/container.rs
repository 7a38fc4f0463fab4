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

/// Short scenarios for node twins (they run in wall time), one per mode.
pub const TWIN_SCENARIOS: [(&str, &str); 6] = [
    (
        "twin-imagefs-stall.yaml",
        include_str!("../../twin/scenarios/twin-imagefs-stall.yaml"),
    ),
    (
        "twin-watch-stall.yaml",
        include_str!("../../twin/scenarios/twin-watch-stall.yaml"),
    ),
    (
        "twin-pleg-stall.yaml",
        include_str!("../../twin/scenarios/twin-pleg-stall.yaml"),
    ),
    (
        "twin-kine-corruption.yaml",
        include_str!("../../twin/scenarios/twin-kine-corruption.yaml"),
    ),
    (
        "twin-containerd-freeze.yaml",
        include_str!("../../twin/scenarios/twin-containerd-freeze.yaml"),
    ),
    (
        "twin-cordoned-restart.yaml",
        include_str!("../../twin/scenarios/twin-cordoned-restart.yaml"),
    ),
];

/// `kubestall reproduce MODE --backend container`: node twins brought into the
/// stall with real faults; with `--keep` they stay up for `kubectl` and `docker exec`.
pub fn reproduce(
    mode: kubestall_node::FailureMode,
    args: &crate::cli::ReproduceArgs,
) -> Result<(), Failure> {
    use crate::scenario::Scenario;
    kubestall_twin::docker::engine().map_err(|e| Failure::Unavailable(e.to_string()))?;
    let mut scenario = TWIN_SCENARIOS
        .iter()
        .filter_map(|(f, text)| Scenario::parse(std::path::Path::new(f), text).ok())
        .find(|s| s.expect.findings.iter().any(|e| e.mode == mode))
        .ok_or_else(|| Failure::Usage(format!("the container backend reproduces imagefs-stall, watch-stall, pleg-stall, kine-exhaustion and containerd-freeze; not {mode} yet (orphan-lock-holder needs containerd 2.x's shared shims)")))?;
    scenario.remediation.detect_only = true;
    let image = build_image(&crate::cli::BuildImageArgs {
        force: false,
        twin_binary: None,
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unavailable(e.to_string()))?;
    let mut backend = crate::container_backend::ContainerBackend::new(image, "pvek8s".into());
    backend.keep = true;
    let opts = crate::runner::RunOptions {
        poll: std::time::Duration::from_secs(2),
        quiet: std::time::Duration::from_secs(5),
        stop_when_found: true,
        ..crate::runner::RunOptions::default()
    };
    eprintln!(
        "bringing {} node twins into {mode} (scenario {}) ...",
        scenario.cluster.nodes.len(),
        scenario.name
    );
    let outcome = rt.block_on(async {
        tokio::select! {
            o = crate::runner::run(&mut backend, &scenario, args.seed, &opts) => Some(o),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    let Some(outcome) = outcome else {
        let _ = kubestall_twin::containers::down("pvek8s");
        return Err(Failure::Usage(
            "interrupted; the cluster was removed".into(),
        ));
    };
    let found = outcome.findings.iter().find(|f| f.mode == mode);
    let kubeconfig = kubestall_twin::containers::state_dir()
        .join("pvek8s")
        .join("kubeconfig");
    match found {
        Some(f) => eprintln!(
            "{mode} reproduced on {} ({:.0} s after the first stuck pod).",
            f.node,
            f.latency_s.unwrap_or(0.0)
        ),
        None => eprintln!(
            "{mode} was not found this time: {}",
            outcome.failures.join("; ")
        ),
    }
    let node = scenario
        .expect
        .findings
        .first()
        .map(|e| e.node.to_string())
        .unwrap_or_else(|| "k8s03".into());
    let dh = kubestall_twin::docker::host()
        .map(|h| format!("DOCKER_HOST={h} "))
        .unwrap_or_default();
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!("kubectl --context pvek8s get nodes");
    println!("kubectl get pods -A --field-selector spec.nodeName={node}");
    println!(
        "{dh}docker exec -it kubestall-pvek8s-{node} journalctl -u snap.microk8s.daemon-kubelite --since '5 minutes ago'"
    );
    println!("{dh}docker exec -it kubestall-pvek8s-{node} bash");
    println!("kubestall down --backend container      # removes it");
    if !args.keep {
        let removed = kubestall_twin::containers::down("pvek8s")
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        eprintln!(
            "(without --keep the cluster is removed again: {} item(s))",
            removed.len()
        );
    }
    Ok(())
}
