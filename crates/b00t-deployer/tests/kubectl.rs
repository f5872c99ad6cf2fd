//! The kubernetes executor without a cluster (none runs here): kubectl missing, kubectl
//! without a context (a stand-in that fails as kubectl does, and kubectl itself on an
//! empty kubeconfig when it is installed), and a stand-in kubectl that plays a cluster,
//! which records the runs `up`, `status` and `down` make, answers as kubectl answers,
//! and hangs where a test needs a timeout, a shutdown or the other half of a job wait.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use b00t_deploy::{Manifest, Manifests, Orchestrator};
use b00t_deployer::kubectl::Kubectl;
use b00t_deployer::DeployerError;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const MANIFESTS: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: shop
";

/// What the stand-in answers to `get deployments,jobs,services -n shop -o json`.
const LISTED: &str = r#"{"apiVersion": "v1", "kind": "List", "items": [
  {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1, "updatedReplicas": 1}},
  {"kind": "Job", "metadata": {"name": "migrate"}, "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}},
  {"kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
]}"#;

fn plan() -> Manifests {
    Manifests {
        orchestrator: Orchestrator::Kubernetes,
        project: "shop".to_owned(),
        files: vec![Manifest {
            name: "manifests.yaml".to_owned(),
            content: MANIFESTS.to_owned(),
        }],
        mcp_calls: Vec::new(),
        notes: Vec::new(),
    }
}

/// Writes an executable `kubectl` stand-in into `dir` whose body is `script`, after a
/// line that appends its arguments to `<dir>/runs.log`.
fn stand_in(dir: &Path, script: &str) -> PathBuf {
    let path = dir.join("kubectl");
    let log = dir.join("runs.log");
    let text = format!(
        "#!/bin/bash\necho \"$*\" >> '{}'\n{script}\n",
        log.display()
    );
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn runs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A stand-in for a cluster whose context is `kind-b00t`; `rollout` and `failed_wait`
/// are the bash run for `rollout status` and for the `--for=condition=failed` wait.
fn cluster(dir: &Path, rollout: &str, failed_wait: &str) -> PathBuf {
    let script = format!(
        r#"case "$*" in
  "config current-context") echo kind-b00t ;;
  *" apply "*) echo "namespace/shop created"; echo "deployment.apps/web created" ;;
  *" rollout status "*) {rollout} ;;
  *"--for=condition=complete"*)
    # Both halves of the wait run at once: answer once the other one has started.
    while ! grep -q condition=failed '{log}'; do sleep 0.02; done
    echo "job.batch/migrate condition met" ;;
  *"--for=condition=failed"*) {failed_wait} ;;
  *" get deployments,jobs,services "*) cat <<'JSON'
{LISTED}
JSON
  ;;
  *" delete namespace "*) echo 'namespace "shop" deleted' ;;
  *) echo "error: unexpected: $*" >&2; exit 2 ;;
esac"#,
        log = dir.join("runs.log").display()
    );
    stand_in(dir, &script)
}

fn kubectl(program: &Path) -> Kubectl {
    Kubectl::new(None, CancellationToken::new()).with_program(program.display().to_string())
}

fn progress() -> (mpsc::Sender<String>, mpsc::Receiver<String>) {
    mpsc::channel(256)
}

fn drain(mut lines: mpsc::Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(line) = lines.try_recv() {
        out.push(line);
    }
    out
}

#[tokio::test]
async fn without_kubectl_kubernetes_is_not_available_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-kubectl-here");
    let k = kubectl(&missing);
    let e = k.context().await.unwrap_err();
    let DeployerError::NotAvailable { orchestrator, why } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(orchestrator, "kubernetes");
    assert!(
        why.contains(&format!("`{}` cannot be run", missing.display()))
            && why.contains("--orchestrator kubernetes --dry-run"),
        "{why}"
    );
    let target = dir.path().join("plan");
    let (tx, _rx) = progress();
    let e = k
        .up(
            &plan(),
            &target,
            &tx,
            Instant::now() + Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DeployerError::NotAvailable { .. }), "{e:?}");
    assert!(
        !target.exists(),
        "nothing is written before a context is known"
    );
    assert!(matches!(
        k.status("shop").await,
        Err(DeployerError::NotAvailable { .. })
    ));
}

#[tokio::test]
async fn without_a_current_context_kubernetes_is_not_available_saying_what_kubectl_said() {
    let dir = tempfile::tempdir().unwrap();
    let program = stand_in(
        dir.path(),
        r#"if [ "$1 $2" = "config current-context" ]; then echo "error: current-context is not set" >&2; exit 1; fi
if [ "$1 $2" = "config get-contexts" ]; then echo "error: context $3 not found" >&2; exit 1; fi
exit 0"#,
    );
    let e = kubectl(&program).context().await.unwrap_err().to_string();
    assert!(
        e.starts_with("kubernetes is not available: no kubectl context is configured (`")
            && e.contains("config current-context` said: error: current-context is not set)")
            && e.contains("set one with `kubectl config use-context`")
            && e.contains("`b00t deploy <datum> --orchestrator kubernetes --dry-run`"),
        "{e}"
    );
    let named = Kubectl::new(Some("prod".to_owned()), CancellationToken::new())
        .with_program(program.display().to_string());
    let e = named.context().await.unwrap_err().to_string();
    assert!(
        e.contains("kubectl has no context `prod`")
            && e.contains("error: context prod not found")
            && e.contains("[deploy] kube_context"),
        "{e}"
    );
    assert_eq!(
        runs(dir.path()),
        ["config current-context", "config get-contexts prod -o name"]
    );
}

#[tokio::test]
async fn kubectl_itself_on_an_empty_kubeconfig_has_no_context() {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|d| d.join("kubectl").is_file()))
        .unwrap_or(false);
    if !found {
        eprintln!("skipped: no kubectl on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "").unwrap();
    let k = Kubectl::new(None, CancellationToken::new()).with_kubeconfig(Some(config));
    let e = k.context().await.unwrap_err().to_string();
    assert!(
        e.contains("no kubectl context is configured") && e.contains("current-context is not set"),
        "{e}"
    );
}

#[tokio::test]
async fn up_applies_waits_and_reads_the_namespace_then_down_deletes_it() {
    let dir = tempfile::tempdir().unwrap();
    let program = cluster(
        dir.path(),
        r#"echo 'deployment "web" successfully rolled out'"#,
        "exec sleep 30",
    );
    let k = kubectl(&program);
    let target = dir.path().join("deploy").join("shop");
    let (tx, rx) = progress();
    let started = Instant::now();
    // Spawned, as the deployer agent runs it: the future must be `Send`.
    let deployed = tokio::spawn({
        let (k, target) = (k.clone(), target.clone());
        async move {
            k.up(
                &plan(),
                &target,
                &tx,
                Instant::now() + Duration::from_secs(60),
            )
            .await
        }
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the failed-wait half is not waited for"
    );
    assert_eq!(deployed.services[0].name, "web");
    assert!(deployed.services[0].ready);
    assert_eq!(deployed.jobs[0].state, "succeeded");
    assert_eq!(
        deployed.endpoints[0].url,
        "http://web.shop.svc.cluster.local:80/"
    );
    let written = target.join("manifests.yaml");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), MANIFESTS);

    let seen = runs(dir.path());
    assert_eq!(seen[0], "config current-context");
    assert_eq!(
        seen[1],
        format!("--context kind-b00t apply -f {}", written.display())
    );
    assert!(
        seen[2].starts_with("--context kind-b00t rollout status deployment/web -n shop --timeout="),
        "{seen:#?}"
    );
    let waits: Vec<&String> = seen.iter().filter(|r| r.contains(" wait ")).collect();
    assert_eq!(waits.len(), 2, "{seen:#?}");
    assert!(waits.iter().any(|w| w.starts_with(
        "--context kind-b00t wait --for=condition=complete job/migrate -n shop --timeout="
    )));
    assert!(waits
        .iter()
        .any(|w| w.contains("--for=condition=failed job/migrate")));
    assert_eq!(
        seen.last().unwrap(),
        "--context kind-b00t get deployments,jobs,services -n shop -o json"
    );
    let said = drain(rx);
    for line in [
        "kubectl: namespace/shop created",
        "kubectl: deployment `web` rolled out",
        "kubectl: job `migrate` completed",
    ] {
        assert!(said.iter().any(|l| l == line), "no {line:?} in {said:#?}");
    }

    let status = k.status("shop").await.unwrap();
    assert_eq!(status, deployed);

    let (tx, rx) = progress();
    let left = k
        .down("shop", &tx, Instant::now() + Duration::from_secs(60))
        .await
        .unwrap();
    assert!(left.services.is_empty() && left.jobs.is_empty());
    assert!(runs(dir.path()).last().unwrap().starts_with(
        "--context kind-b00t delete namespace shop --ignore-not-found --wait=true --timeout="
    ));
    assert!(drain(rx).contains(&"kubectl: namespace \"shop\" deleted".to_owned()));
}

#[tokio::test]
async fn a_rollout_kubectl_gives_up_on_is_a_timeout_naming_the_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let program = cluster(
        dir.path(),
        r#"echo "Waiting for deployment \"web\" rollout to finish: 0 of 1 updated replicas are available..."; echo "error: timed out waiting for the condition" >&2; exit 1"#,
        "exec sleep 30",
    );
    let (tx, _rx) = progress();
    let e = kubectl(&program)
        .up(
            &plan(),
            &dir.path().join("plan"),
            &tx,
            Instant::now() + Duration::from_secs(3),
        )
        .await
        .unwrap_err();
    let DeployerError::Timeout(text) = &e else {
        panic!("{e:?}")
    };
    assert!(
        text.contains("deployment `web` not ready in time")
            && text.contains("timed out waiting for the condition")
            && text.contains("kubectl describe deployment/web"),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_kills_a_running_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let program = cluster(dir.path(), "exec sleep 30", "exec sleep 30");
    let stop = CancellationToken::new();
    let k = Kubectl::new(None, stop.clone()).with_program(program.display().to_string());
    let (tx, _rx) = progress();
    let target = dir.path().join("plan");
    let deadline = Instant::now() + Duration::from_secs(60);
    let manifests = plan();
    let up = k.up(&manifests, &target, &tx, deadline);
    tokio::pin!(up);
    // Cancel once the rollout wait is running.
    let e = loop {
        tokio::select! {
            result = &mut up => break result.unwrap_err(),
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                if runs(dir.path()).iter().any(|r| r.contains("rollout status")) {
                    stop.cancel();
                }
            }
        }
    };
    assert!(matches!(e, DeployerError::Stopped), "{e:?}");
}

#[tokio::test]
async fn a_failed_apply_names_the_command_and_what_kubectl_said() {
    let dir = tempfile::tempdir().unwrap();
    let program = stand_in(
        dir.path(),
        r#"case "$*" in
  "config current-context") echo kind-b00t ;;
  *) echo 'error: error validating "manifests.yaml": error validating data: apiVersion not set' >&2; exit 1 ;;
esac"#,
    );
    let (tx, _rx) = progress();
    let e = kubectl(&program)
        .up(
            &plan(),
            &dir.path().join("plan"),
            &tx,
            Instant::now() + Duration::from_secs(10),
        )
        .await
        .unwrap_err();
    let DeployerError::Tool { command, message } = &e else {
        panic!("{e:?}")
    };
    assert!(
        command.contains("--context kind-b00t apply -f "),
        "{command}"
    );
    assert!(message.contains("apiVersion not set"), "{message}");
}

#[test]
fn the_adapters_manifests_name_their_objects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../b00t-deploy/tests/golden/kubernetes");
    for (name, expected) in [
        (
            "starter",
            &[
                ("Namespace", "starter"),
                ("Deployment", "web"),
                ("Service", "web"),
                ("Job", "check"),
            ][..],
        ),
        (
            "training",
            &[
                ("Namespace", "train"),
                ("PersistentVolumeClaim", "pgdata"),
                ("Deployment", "db"),
                ("Service", "db"),
                ("Job", "train"),
            ][..],
        ),
    ] {
        let content = std::fs::read_to_string(dir.join(name).join("manifests.yaml")).unwrap();
        let manifests = Manifests {
            files: vec![Manifest {
                name: "manifests.yaml".to_owned(),
                content,
            }],
            ..plan()
        };
        let found = b00t_deployer::kubectl::objects(&manifests).unwrap();
        let kinds: Vec<(&str, &str)> = found
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(kinds, expected, "{name}");
    }
}
