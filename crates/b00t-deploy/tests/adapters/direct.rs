//! The direct adapter: the starter stack's plan as golden files and as the types the
//! supervisor reads, and the errors of intents a direct run cannot start.

use b00t_deploy::adapters::direct::{self, DirectPlan, WaitAddr};
use b00t_deploy::{DeployError, Restart, WorkloadRole};

use crate::fixtures;
use crate::golden;

#[test]
fn golden_files() {
    let manifests = direct::translate(&fixtures::starter()).expect("direct translation");
    assert!(manifests.mcp_calls.is_empty());
    golden::check("direct", "starter", &manifests);
}

#[test]
fn the_starter_plan_runs_busybox_on_localhost() {
    let plan = direct::plan(&fixtures::starter()).expect("direct plan");
    let web = &plan.processes[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.role, WorkloadRole::Service);
    assert_eq!(web.program, "busybox");
    assert_eq!(
        web.args.last().map(String::as_str),
        Some("mkdir -p www && echo 'hello from b00t' > www/index.html && exec busybox httpd -f -p 127.0.0.1:18080 -h www")
    );
    assert_eq!(web.host, "127.0.0.1");
    assert_eq!(web.ports, [18080]);
    assert_eq!(web.restart, Restart::UnlessStopped);
    let check = &plan.processes[1];
    assert_eq!(check.program, "busybox");
    assert_eq!(
        check.args,
        ["wget", "-q", "-O", "-", "http://127.0.0.1:18080/"]
    );
    assert_eq!(
        check.wait_for,
        [WaitAddr {
            service: "web".to_owned(),
            host: "127.0.0.1".to_owned(),
            port: 18080,
        }]
    );
    let manifests = direct::translate(&fixtures::starter()).expect("direct translation");
    let read: DirectPlan =
        serde_json::from_str(&manifests.files[0].content).expect("direct.json is a DirectPlan");
    assert_eq!(read, plan);
}

#[test]
fn without_a_local_command_the_container_command_runs() {
    let mut intent = fixtures::starter();
    intent.workloads[1].local = None;
    let plan = direct::plan(&intent).expect("direct plan");
    assert_eq!(plan.processes[1].program, "wget");
    assert_eq!(
        plan.processes[1].args,
        ["-q", "-O", "-", "http://127.0.0.1:18080/"]
    );
}

#[test]
fn a_workload_with_no_program_is_an_error() {
    let mut intent = fixtures::starter();
    intent.workloads[0].local = None;
    intent.workloads[0].command.clear();
    let err = direct::plan(&intent).expect_err("no program");
    assert!(matches!(err, DeployError::Unsupported { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "direct: service `web` has no [b00t.local] command and no [b00t.container] command: a direct run needs a program to start"
    );
}

#[test]
fn a_port_without_a_fixed_host_port_is_an_error() {
    let err = direct::plan(&fixtures::training()).expect_err("db has no host port");
    assert!(
        err.to_string()
            .contains("direct runs need a fixed host port for `db`: write -p <host>:5432"),
        "{err}"
    );
    let err = direct::plan(&fixtures::edge()).expect_err("dns has any free port");
    assert!(
        err.to_string().contains("fixed host port for `dns`"),
        "{err}"
    );
}

#[test]
fn the_intent_notes_come_first() {
    let mut intent = fixtures::starter();
    intent
        .notes
        .push("a note from reading the catalog".to_owned());
    let manifests = direct::translate(&intent).expect("direct translation");
    assert_eq!(manifests.notes[0], "a note from reading the catalog");
}
