//! The catalog's own starter stack (`datums/starter.stack.toml`), read by
//! `Intent::from_catalog` and translated for every orchestrator: the files must be ones
//! the tools accept. Not golden, since the datums change with the project.

use std::path::Path;

use b00t_config::env::{B00T_REQUIRE_DOCKER, B00T_REQUIRE_TOOLS};
use b00t_datums::Catalog;
use b00t_deploy::refs::Vars;
use b00t_deploy::{translate, Intent, Orchestrator};

use crate::tools;

fn starter() -> Intent {
    let datums = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datums");
    let catalog = Catalog::load(&[datums]);
    Intent::from_catalog(&catalog, "starter", &Vars::default()).expect("the starter stack reads")
}

#[test]
fn the_starter_stack_translates_for_every_orchestrator() {
    let intent = starter();
    for orchestrator in Orchestrator::ALL {
        let manifests =
            translate(&intent, orchestrator).unwrap_or_else(|e| panic!("{orchestrator}: {e}"));
        assert!(!manifests.files.is_empty(), "{orchestrator}: no files");
        for file in &manifests.files {
            assert!(
                !file.content.contains("${STACK:"),
                "{orchestrator}/{}: a reference is left:\n{}",
                file.name,
                file.content
            );
        }
    }
}

#[test]
fn the_tools_accept_the_starter_stack() {
    let intent = starter();
    let dir = tempfile::tempdir().expect("temp dir");
    if tools::require(
        "the_tools_accept_the_starter_stack (docker-compose)",
        tools::available("docker-compose", &["version"]),
        B00T_REQUIRE_DOCKER,
        "install docker-compose (Debian: apt-get install docker-compose)",
    ) {
        let manifests = translate(&intent, Orchestrator::Compose).expect("compose");
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, &manifests.files[0].content).expect("write compose.yaml");
        let output = tools::run_ok(
            "docker-compose",
            &[
                "-p",
                &intent.project,
                "-f",
                &path.to_string_lossy(),
                "config",
                "-q",
            ],
            Some(dir.path()),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.trim().is_empty(),
            "docker-compose config complained:\n{stderr}"
        );
    }
    if tools::require(
        "the_tools_accept_the_starter_stack (kubernetes-validate)",
        tools::available("kubernetes-validate", &["--version"]),
        B00T_REQUIRE_TOOLS,
        "install kubernetes-validate (python3 -m pip install kubernetes-validate; scripts/test does)",
    ) {
        let manifests = translate(&intent, Orchestrator::Kubernetes).expect("kubernetes");
        let path = dir.path().join("manifests.yaml");
        std::fs::write(&path, &manifests.files[0].content).expect("write manifests.yaml");
        tools::run_ok(
            "kubernetes-validate",
            &["--strict", "--kubernetes-version", "1.34.0", &path.to_string_lossy()],
            None,
        );
    }
}
