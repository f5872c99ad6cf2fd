//! The compose adapter: golden files, `docker-compose config` (docker-compose 1.29 reads
//! the compose spec without a `version:` key), and PyYAML reading back the strings YAML
//! 1.1 would otherwise turn into booleans, numbers or aliases.

use b00t_config::env::{B00T_REQUIRE_DOCKER, B00T_REQUIRE_TOOLS};
use b00t_deploy::adapters::compose;
use b00t_deploy::{DeployError, Orchestrator, Wait};
use serde_json::Value;

use crate::fixtures;
use crate::golden;
use crate::tools;

#[test]
fn golden_files() {
    for (fixture, intent) in fixtures::all() {
        let manifests = compose::translate(&intent).expect("compose translation");
        assert_eq!(manifests.orchestrator, Orchestrator::Compose);
        golden::check("compose", fixture, &manifests);
    }
}

#[test]
fn docker_compose_reads_every_fixture() {
    let present = tools::available("docker-compose", &["version"]);
    if !tools::require(
        "docker_compose_reads_every_fixture",
        present,
        B00T_REQUIRE_DOCKER,
        "install docker-compose (Debian: apt-get install docker-compose)",
    ) {
        return;
    }
    for (fixture, intent) in fixtures::all() {
        let manifests = compose::translate(&intent).expect("compose translation");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(compose::COMPOSE_FILE);
        std::fs::write(&path, &manifests.files[0].content).expect("write compose.yaml");
        let output = tools::run_ok(
            "docker-compose",
            &[
                "-p",
                &intent.project,
                "-f",
                &path.to_string_lossy(),
                "config",
            ],
            Some(dir.path()),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.trim().is_empty(),
            "{fixture}: docker-compose config complained:\n{stderr}"
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        for workload in &intent.workloads {
            assert!(
                printed.contains(&format!("  {}:\n", workload.name)),
                "{fixture}: docker-compose config lost service `{}`:\n{printed}",
                workload.name
            );
        }
    }
}

#[test]
fn pyyaml_reads_strings_back_as_strings() {
    let python = tools::python_with_yaml();
    if !tools::require(
        "pyyaml_reads_strings_back_as_strings",
        python.is_some(),
        B00T_REQUIRE_TOOLS,
        "install PyYAML (python3 -m pip install pyyaml)",
    ) {
        return;
    }
    let python = python.unwrap_or("python3");
    for (fixture, intent) in fixtures::all() {
        let manifests = compose::translate(&intent).expect("compose translation");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(compose::COMPOSE_FILE);
        std::fs::write(&path, &manifests.files[0].content).expect("write compose.yaml");
        let documents = tools::pyyaml_documents(python, &path);
        let services = &documents[0]["services"];
        for workload in &intent.workloads {
            let service = &services[&workload.name];
            for (key, value) in &workload.env {
                if value.contains("${STACK:") {
                    continue;
                }
                assert_eq!(
                    service["environment"][key],
                    Value::String(value.replace('$', "$$")),
                    "{fixture}: env `{key}` of `{}`",
                    workload.name
                );
            }
            assert!(
                service["restart"].is_string(),
                "{fixture}: restart of `{}` is {}",
                workload.name,
                service["restart"]
            );
            for port in service["ports"].as_array().into_iter().flatten() {
                assert!(
                    port.is_string(),
                    "{fixture}: port {port} of `{}`",
                    workload.name
                );
            }
        }
    }
}

#[test]
fn the_starter_service_waits_healthy_and_resolves_references() {
    let manifests = compose::translate(&fixtures::starter()).expect("compose translation");
    let yaml = &manifests.files[0].content;
    assert!(!yaml.contains("version:"), "no version key:\n{yaml}");
    assert!(yaml.contains("condition: service_healthy"), "{yaml}");
    assert!(yaml.contains("http://web:8080/"), "{yaml}");
    assert!(yaml.contains("127.0.0.1:18080:8080"), "{yaml}");
    assert_eq!(manifests.mcp_calls[0].tool, "deploy-compose");
    assert_eq!(manifests.mcp_calls[0].arguments["project_name"], "starter");
    assert_eq!(
        manifests.mcp_calls[0].arguments["compose_yaml"],
        yaml.as_str()
    );
}

#[test]
fn a_wait_on_a_service_without_health_check_starts_it_and_says_so() {
    let manifests = compose::translate(&fixtures::edge()).expect("compose translation");
    assert!(manifests.files[0]
        .content
        .contains("condition: service_started"));
    assert!(
        manifests
            .notes
            .iter()
            .any(|n| n.contains("`app` waits for `cache`, which has no health check")),
        "{:#?}",
        manifests.notes
    );
}

#[test]
fn an_own_compose_file_is_used_as_it_is() {
    let manifests = compose::translate(&fixtures::own_compose()).expect("compose translation");
    assert!(manifests.files.is_empty());
    assert!(manifests.mcp_calls.is_empty());
    assert!(
        manifests.notes[0].contains("`/catalog/starter/compose.yaml` is used as it is"),
        "{:#?}",
        manifests.notes
    );
}

#[test]
fn a_wait_on_a_missing_workload_is_an_error() {
    let mut intent = fixtures::starter();
    intent.workloads[1].wait_for.push(Wait {
        service: "db".to_owned(),
        port: 5432,
    });
    let err = compose::translate(&intent).expect_err("missing workload");
    assert!(matches!(err, DeployError::Reference(_)), "{err}");
    assert!(
        err.to_string().contains("`check` waits for `db:5432`"),
        "{err}"
    );
}

#[test]
fn a_reference_to_a_missing_service_is_an_error() {
    let mut intent = fixtures::starter();
    intent.workloads[1].args = vec!["http://${STACK:starter:api:endpoint}/".to_owned()];
    let err = compose::translate(&intent).expect_err("missing service");
    assert!(
        err.to_string().contains("${STACK:starter:api:endpoint}"),
        "{err}"
    );
}
