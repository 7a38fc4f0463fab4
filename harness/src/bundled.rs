//! The scenarios that ship inside the binary, so `kubestall run` works from any folder.
//! They are the files in `scenarios/`; a test checks that this list matches it.

use std::path::Path;

use crate::scenario::{Scenario, ScenarioError};

macro_rules! bundled {
    ($($file:literal),* $(,)?) => {
        /// (file name, contents) of every bundled scenario.
        pub const FILES: &[(&str, &str)] = &[
            $(($file, include_str!(concat!("../../scenarios/", $file)))),*
        ];
    };
}

bundled!(
    "imagefs-stall-after-upgrade.yaml",
    "watch-stall-restart-without-cordon.yaml",
    "cordoned-restart-stays-healthy.yaml",
    "imagefs-emergency-restart-causes-watch-stall.yaml",
    "pleg-stall-orphaned-shims.yaml",
    "pleg-orphans-under-evented-pleg.yaml",
    "pleg-stall-kine-corruption.yaml",
    "nuclear-escalation-orphan-lock-holder.yaml",
    "evented-pleg-normal-startup.yaml",
    "evented-pleg-containerd-freeze.yaml",
    "healthy-churn.yaml",
);

/// The bundled scenarios, parsed.
pub fn scenarios() -> Result<Vec<Scenario>, ScenarioError> {
    FILES
        .iter()
        .map(|(name, text)| Scenario::parse(&Path::new("scenarios").join(name), text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_scenarios_is_bundled_and_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut on_disk: Vec<String> = crate::scenario::scenario_files(&dir)
            .expect("scenarios/ is readable")
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect();
        on_disk.sort();
        let mut bundled: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        bundled.sort();
        assert_eq!(
            on_disk, bundled,
            "add new scenario files to harness/src/bundled.rs"
        );
        let parsed = scenarios().unwrap_or_else(|e| panic!("{e}"));
        for (s, (file, _)) in parsed.iter().zip(FILES) {
            assert_eq!(
                format!("{}.yaml", s.name),
                *file,
                "a scenario's name is its file name"
            );
        }
    }
}
