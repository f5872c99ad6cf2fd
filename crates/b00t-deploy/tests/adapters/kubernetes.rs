//! The kubernetes adapter: golden files and `kubernetes-validate` (strict, against
//! Kubernetes 1.34's schemas) on every fixture's `manifests.yaml`.

use b00t_config::env::B00T_REQUIRE_TOOLS;
use b00t_deploy::adapters::kubernetes;
use b00t_deploy::{DeployError, Orchestrator};

use crate::fixtures;
use crate::golden;
use crate::tools;

/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.34.0";

#[test]
fn golden_files() {
    for (fixture, intent) in fixtures::all() {
        let manifests = kubernetes::translate(&intent).expect("kubernetes translation");
        assert_eq!(manifests.orchestrator, Orchestrator::Kubernetes);
        golden::check("kubernetes", fixture, &manifests);
    }
}

#[test]
fn kubernetes_validate_accepts_every_fixture() {
    let present = tools::available("kubernetes-validate", &["--version"]);
    if !tools::require(
        "kubernetes_validate_accepts_every_fixture",
        present,
        B00T_REQUIRE_TOOLS,
        "install kubernetes-validate (python3 -m pip install kubernetes-validate; scripts/test does)",
    ) {
        return;
    }
    for (fixture, intent) in fixtures::all() {
        let manifests = kubernetes::translate(&intent).expect("kubernetes translation");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(kubernetes::MANIFESTS_FILE);
        std::fs::write(&path, &manifests.files[0].content).expect("write manifests.yaml");
        let output = tools::run_ok(
            "kubernetes-validate",
            &[
                "--strict",
                "--kubernetes-version",
                KUBERNETES_VERSION,
                &path.to_string_lossy(),
            ],
            None,
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            !printed.contains("ERROR") && !printed.contains("WARN"),
            "{fixture}: kubernetes-validate:\n{printed}"
        );
    }
}

#[test]
fn every_object_of_the_training_job_is_there_in_order() {
    let manifests = kubernetes::translate(&fixtures::training()).expect("kubernetes translation");
    let yaml = &manifests.files[0].content;
    let kinds: Vec<&str> = yaml
        .lines()
        .filter_map(|line| line.strip_prefix("kind: "))
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
            "Job"
        ]
    );
    assert!(
        yaml.contains("kueue.x-k8s.io/queue-name: training"),
        "{yaml}"
    );
    assert!(yaml.contains("suspend: true"), "{yaml}");
    assert!(yaml.contains("backoffLimit: 2"), "{yaml}");
    assert!(yaml.contains("nvidia.com/gpu: \"1\""), "{yaml}");
    assert!(
        yaml.contains("nvidia.com/gpu.product: nvidia-tesla-t4"),
        "{yaml}"
    );
    assert!(yaml.contains("b00t.dev/priority: high"), "{yaml}");
    assert!(
        yaml.contains(
            "until nc -z db.train.svc.cluster.local 5432; do echo waiting for db; sleep 1; done"
        ),
        "{yaml}"
    );
    assert!(
        yaml.contains("postgresql://postgres:b00t@db.train.svc.cluster.local:5432/train"),
        "{yaml}"
    );
    assert_eq!(manifests.mcp_calls[0].tool, "kubectl_apply");
    assert_eq!(manifests.mcp_calls[0].arguments["namespace"], "train");
    assert_eq!(manifests.mcp_calls[0].arguments["manifest"], yaml.as_str());
}

#[test]
fn a_label_kubernetes_cannot_keep_becomes_an_annotation() {
    let manifests = kubernetes::translate(&fixtures::edge()).expect("kubernetes translation");
    assert!(
        manifests.notes.iter().any(|n| n.contains(
            "label `com.example.description` of `cache` is not a valid Kubernetes label value"
        )),
        "{:#?}",
        manifests.notes
    );
}

#[test]
fn a_queue_that_is_no_label_value_is_an_error() {
    let mut intent = fixtures::training();
    intent.workloads[1]
        .hints
        .insert("queue".to_owned(), "no spaces allowed".to_owned());
    let err = kubernetes::translate(&intent).expect_err("bad queue");
    assert!(matches!(err, DeployError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("`no spaces allowed`"), "{err}");
}

#[test]
fn a_wait_on_a_port_the_service_lacks_is_an_error() {
    let mut intent = fixtures::starter();
    intent.workloads[1].wait_for[0].port = 9999;
    let err = kubernetes::translate(&intent).expect_err("no such port");
    assert!(
        err.to_string()
            .contains("`web` is not a service with container port 9999"),
        "{err}"
    );
}
