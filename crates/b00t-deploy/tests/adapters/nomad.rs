//! The nomad adapter: golden files, and each file read back as the body of
//! `POST /v1/jobs` with the keys Nomad requires, its ports, services and tasks consistent.

use b00t_deploy::adapters::nomad;
use b00t_deploy::{DeployError, Orchestrator};
use serde_json::Value;

use crate::fixtures;
use crate::golden;

#[test]
fn golden_files() {
    for (fixture, intent) in fixtures::all() {
        let manifests = nomad::translate(&intent).expect("nomad translation");
        assert_eq!(manifests.orchestrator, Orchestrator::Nomad);
        golden::check("nomad", fixture, &manifests);
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The problems of one job body, each naming the field.
fn job_problems(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let job = &body["Job"];
    for key in ["ID", "Name", "Type"] {
        if !job[key].is_string() {
            problems.push(format!("Job.{key} is not a string"));
        }
    }
    if !matches!(job["Type"].as_str(), Some("service" | "batch")) {
        problems.push(format!("Job.Type is {}", job["Type"]));
    }
    if strings(&job["Datacenters"]).is_empty() {
        problems.push("Job.Datacenters is empty".to_owned());
    }
    let groups = job["TaskGroups"].as_array().cloned().unwrap_or_default();
    if groups.is_empty() {
        problems.push("Job.TaskGroups is empty".to_owned());
    }
    for group in &groups {
        let name = group["Name"].as_str().unwrap_or("?");
        if group["Count"].as_u64() != Some(1) {
            problems.push(format!("group {name}: Count is {}", group["Count"]));
        }
        let mut labels = Vec::new();
        for network in group["Networks"].as_array().into_iter().flatten() {
            for kind in ["ReservedPorts", "DynamicPorts"] {
                for port in network[kind].as_array().into_iter().flatten() {
                    labels.push(port["Label"].as_str().unwrap_or("?").to_owned());
                    if port["To"].as_u64().is_none() {
                        problems.push(format!("group {name}: a port has no To"));
                    }
                    if kind == "ReservedPorts" && port["Value"].as_u64().is_none() {
                        problems.push(format!("group {name}: a reserved port has no Value"));
                    }
                }
            }
        }
        for service in group["Services"].as_array().into_iter().flatten() {
            if service["Provider"] != "nomad" {
                problems.push(format!("group {name}: a service's Provider is not nomad"));
            }
            let label = service["PortLabel"].as_str().unwrap_or("?");
            if !labels.iter().any(|l| l == label) {
                problems.push(format!(
                    "group {name}: service port {label} is not a port of the group"
                ));
            }
            for check in service["Checks"].as_array().into_iter().flatten() {
                if !matches!(check["Type"].as_str(), Some("tcp" | "http")) {
                    problems.push(format!(
                        "group {name}: a nomad check of type {}",
                        check["Type"]
                    ));
                }
                for key in ["Interval", "Timeout"] {
                    if check[key].as_u64().is_none_or(|ns| ns < 1_000_000_000) {
                        problems.push(format!("group {name}: check {key} under 1s"));
                    }
                }
            }
        }
        for key in ["RestartPolicy", "ReschedulePolicy"] {
            if !group[key].is_object() {
                problems.push(format!("group {name}: no {key}"));
            }
        }
        let tasks = group["Tasks"].as_array().cloned().unwrap_or_default();
        if !tasks.iter().any(|t| t["Lifecycle"].is_null()) {
            problems.push(format!("group {name}: no main task"));
        }
        for task in &tasks {
            let task_name = task["Name"].as_str().unwrap_or("?");
            if task["Driver"] != "docker" || !task["Config"]["image"].is_string() {
                problems.push(format!("task {task_name}: not a docker task with an image"));
            }
            for label in strings(&task["Config"]["ports"]) {
                if !labels.iter().any(|l| l == label) {
                    problems.push(format!(
                        "task {task_name}: port {label} is not a port of the group"
                    ));
                }
            }
            if !task["Lifecycle"].is_null() && task["Lifecycle"]["Hook"] != "prestart" {
                problems.push(format!(
                    "task {task_name}: a lifecycle that is not prestart"
                ));
            }
            for template in task["Templates"].as_array().into_iter().flatten() {
                if template["DestPath"] != "local/b00t.env" || template["Envvars"] != true {
                    problems.push(format!(
                        "task {task_name}: a template that is not an env file"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn every_file_is_a_job_body_nomad_takes() {
    for (fixture, intent) in fixtures::all() {
        let manifests = nomad::translate(&intent).expect("nomad translation");
        assert!(!manifests.files.is_empty(), "{fixture}: no files");
        for file in &manifests.files {
            let body: Value = serde_json::from_str(&file.content)
                .unwrap_or_else(|e| panic!("{fixture}/{}: not JSON: {e}", file.name));
            let problems = job_problems(&body);
            assert!(
                problems.is_empty(),
                "{fixture}/{}:\n{}",
                file.name,
                problems.join("\n")
            );
        }
        assert_eq!(manifests.mcp_calls.len(), manifests.files.len());
        for (call, file) in manifests.mcp_calls.iter().zip(&manifests.files) {
            assert_eq!(call.tool, "run_job");
            let spec: Value =
                serde_json::from_str(call.arguments["job_spec"].as_str().unwrap_or(""))
                    .expect("job_spec is JSON");
            let body: Value = serde_json::from_str(&file.content).expect("JSON");
            assert_eq!(
                spec, body["Job"],
                "{fixture}: job_spec is the job without its wrapper"
            );
        }
    }
}

#[test]
fn services_and_jobs_are_separate_nomad_jobs() {
    let manifests = nomad::translate(&fixtures::training()).expect("nomad translation");
    let names: Vec<&str> = manifests.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["job.json", "train-jobs.json"]);
    let batch: Value = serde_json::from_str(&manifests.files[1].content).expect("JSON");
    assert_eq!(batch["Job"]["ID"], "train-jobs");
    assert_eq!(batch["Job"]["Type"], "batch");
    let task = &batch["Job"]["TaskGroups"][0]["Tasks"][1];
    assert_eq!(task["Resources"]["CPU"], 2000);
    assert_eq!(task["Resources"]["MemoryMB"], 8192);
    assert_eq!(task["Resources"]["Devices"][0]["Name"], "nvidia/gpu");
    let template = task["Templates"][0]["EmbeddedTmpl"].as_str().unwrap_or("");
    assert_eq!(
        template,
        "DATABASE_URL=\"postgresql://postgres:b00t@{{ range nomadService \"db\" }}{{ .Address }}{{ end }}:5432/train\"\n"
    );
}

#[test]
fn a_service_only_stack_has_only_the_service_job() {
    let mut intent = fixtures::starter();
    intent.workloads.truncate(1);
    let manifests = nomad::translate(&intent).expect("nomad translation");
    let names: Vec<&str> = manifests.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["job.json"]);
}

#[test]
fn a_reference_to_a_dynamic_port_is_an_error_that_says_why() {
    let mut intent = fixtures::starter();
    intent.workloads[0].ports[0].host = Some(0);
    let err = nomad::translate(&intent).expect_err("dynamic port");
    assert!(matches!(err, DeployError::Unsupported { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("the args of `check` refers to `web`"),
        "{text}"
    );
    assert!(text.contains("-p <host>:8080"), "{text}");
}
