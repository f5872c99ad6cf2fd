//! Group containers on the real engine: the security spec and mounts as the engine
//! reports them, and what the container can and cannot do when it runs (as a shell
//! script inside the test image); the operations (wait, logs, stop, list, remove) and the
//! launcher over them.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use b00t_container::testing::docker_or_skip;
use b00t_container::{
    bridge_gateway, choose, container_user, create, inspect, list_owned, logs_tail, plan_mounts,
    prepare_ownership, remove, start, stop, wait_exit, ContainerError, GroupContainer, Launched,
    Launcher, Limits, RuntimeChoice, GROUP_LABEL, HOME_LABEL, MANAGED_LABEL, SPEC_LABEL,
};

use crate::common::{build_test_image, Cleanup, TestHome};

/// What `main`'s container tries; each line of output says what happened.
const MAIN_SCRIPT: &str = r#"
read k < /workspace/project/state/operator.key 2>/dev/null && echo "KEY READ: $k" || echo "key hidden"
read m < /workspace/project/groups/family/MEMORY.md 2>/dev/null && echo "OTHER GROUP READ" || echo "groups hidden"
echo x > /workspace/project/state/planted 2>/dev/null && echo "MASK WRITABLE" || echo "mask read-only"
read t < /workspace/project/b00t.toml && echo "project readable: $t"
echo x > /workspace/project/new 2>/dev/null && echo "PROJECT WRITABLE" || echo "project read-only"
echo mine > /workspace/group/written && echo "group writable"
echo ours > /workspace/global/written && echo "global writable"
echo x > /rootfile 2>/dev/null && echo "ROOTFS WRITABLE" || echo "rootfs read-only"
echo x > /tmp/t && echo "tmp writable"
echo "dirs: $B00T_GROUP_DIR $B00T_GLOBAL_DIR $B00T_PROJECT_DIR $GREETING"
while read l; do case $l in Uid*|CapEff*|NoNewPrivs*) echo "$l";; esac; done < /proc/self/status
while read a n; do case $n in host.docker.internal) echo "gateway: $a";; esac; done < /etc/hosts
exit 7
"#;

/// What an ordinary group's container tries.
const FAMILY_SCRIPT: &str = r#"
read m < /workspace/global/MEMORY.md && echo "global readable: $m"
echo x > /workspace/global/planted 2>/dev/null && echo "GLOBAL WRITABLE" || echo "global read-only"
read t < /workspace/project/b00t.toml 2>/dev/null && echo "PROJECT VISIBLE" || echo "no project"
echo mine > /workspace/group/written && echo "group writable"
"#;

fn limits() -> Limits {
    Limits {
        memory_bytes: 64 * 1024 * 1024,
        nano_cpus: 500_000_000,
        pids: 64,
        tmp_bytes: 1024 * 1024,
        log_max_bytes: 64 * 1024,
    }
}

#[tokio::test]
async fn mains_container_has_the_whole_security_spec_and_sees_only_its_mounts() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let cleanup = Cleanup::default();
    let image = build_test_image(&docker, &cleanup, false).await;
    let home = TestHome::new();
    let home_id = b00t_container::home_id(&home.root);

    let mounts = plan_mounts(
        &home.path("groups/main"),
        &home.path("groups/global"),
        Some(&home.root),
        true,
    )
    .unwrap();
    let (uid, gid) = container_user();
    prepare_ownership(
        &[&home.path("groups/main"), &home.path("groups/global")],
        uid,
        gid,
    )
    .unwrap();
    let mut spec = GroupContainer::for_group(&home_id, "main", &image.info.tag).unwrap();
    spec.command = vec!["-c".into(), MAIN_SCRIPT.into()];
    spec.env = vec![("GREETING".into(), "hi".into())];
    spec.mounts = mounts;
    spec.limits = limits();

    let id = create(&docker, &spec).await.unwrap();
    cleanup.container(&id);
    let found = inspect(&docker, &id).await.unwrap();

    // Security, as the engine reports it.
    let host = found.host_config.clone().unwrap();
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(host.cap_add.unwrap_or_default().is_empty());
    let security = host.security_opt.clone().unwrap();
    assert!(
        security
            .iter()
            .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true"),
        "{security:?}"
    );
    assert_eq!(host.privileged, Some(false));
    assert_eq!(host.network_mode.as_deref(), Some("bridge"));
    assert!(
        host.pid_mode.unwrap_or_default().is_empty(),
        "no host PID namespace"
    );
    assert_ne!(host.ipc_mode.as_deref(), Some("host"));
    assert_eq!(
        host.extra_hosts,
        Some(vec!["host.docker.internal:host-gateway".to_owned()])
    );
    assert_eq!(
        host.restart_policy
            .and_then(|r| r.name)
            .map(|n| n.to_string()),
        Some("no".to_owned())
    );
    // Limits.
    assert_eq!(host.memory, Some(64 * 1024 * 1024));
    assert_eq!(host.memory_swap, Some(64 * 1024 * 1024));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.pids_limit, Some(64));
    let tmpfs = host.tmpfs.clone().unwrap();
    let tmp = &tmpfs["/tmp"];
    for option in ["noexec", "nosuid", "nodev", "size=1048576"] {
        assert!(
            tmp.split(',').any(|o| o == option),
            "/tmp lacks {option}: {tmp}"
        );
    }
    let log = host.log_config.unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    let log_options = log.config.unwrap();
    assert_eq!(log_options["max-size"], "65536");
    assert_eq!(log_options["max-file"], "1");
    // User and labels.
    let config = found.config.clone().unwrap();
    let user = config.user.clone().unwrap();
    assert_eq!(user, format!("{uid}:{gid}"));
    assert!(!user.starts_with("0:") && !user.is_empty());
    let labels = config.labels.clone().unwrap();
    assert_eq!(labels[MANAGED_LABEL], "true");
    assert_eq!(labels[HOME_LABEL], home_id);
    assert_eq!(labels[GROUP_LABEL], "main");
    assert_eq!(labels[SPEC_LABEL], spec.spec_hash());

    // Mounts: exactly the three binds, with the right sides and modes.
    let mounts: HashMap<String, (String, bool)> = found
        .mounts
        .clone()
        .unwrap()
        .into_iter()
        .map(|m| (m.destination.unwrap(), (m.source.unwrap(), m.rw.unwrap())))
        .collect();
    let r = home.root.display().to_string();
    assert_eq!(
        mounts,
        HashMap::from([
            (
                "/workspace/group".to_owned(),
                (format!("{r}/groups/main"), true)
            ),
            (
                "/workspace/global".to_owned(),
                (format!("{r}/groups/global"), true)
            ),
            ("/workspace/project".to_owned(), (r.clone(), false)),
        ])
    );
    // state/ and groups/ are covered by empty read-only tmpfs inside the project mount.
    for masked in ["/workspace/project/state", "/workspace/project/groups"] {
        let options = &tmpfs[masked];
        assert!(options.split(',').any(|o| o == "ro"), "{masked}: {options}");
    }
    // No host path under state/ or another group's folder appears anywhere in the spec.
    let everything = serde_json::to_string(&found).unwrap();
    for secret in [
        format!("{r}/state"),
        format!("{r}/groups/family"),
        format!("{r}/groups\""),
    ] {
        assert!(
            !everything.contains(&secret),
            "`{secret}` appears in the container"
        );
    }

    // Run it: what it could and could not do, and its exit code. `host.docker.internal`
    // is the bridge's gateway, where the runtime binds what containers reach.
    let gateway = bridge_gateway(&docker).await.unwrap();
    start(&docker, &id).await.unwrap();
    assert_eq!(wait_exit(&docker, &id).await.unwrap(), 7);
    let out = logs_tail(&docker, &id, 100).await.unwrap();
    for expected in [
        "key hidden",
        "groups hidden",
        "mask read-only",
        "project readable: project-config",
        "project read-only",
        "group writable",
        "global writable",
        "rootfs read-only",
        "tmp writable",
        "dirs: /workspace/group /workspace/global /workspace/project hi",
        &format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}").replace('\t', " "),
        "CapEff: 0000000000000000",
        "NoNewPrivs: 1",
        &format!("gateway: {gateway}"),
    ] {
        assert!(
            out.lines().any(|l| l
                .replace('\t', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                == expected),
            "missing `{expected}` in:\n{out}"
        );
    }
    assert!(
        !out.contains("KEY READ")
            && !out.contains("OTHER GROUP READ")
            && !out.contains("WRITABLE\n"),
        "{out}"
    );
    let written = home.path("groups/main/written");
    assert_eq!(fs_err::read_to_string(&written).unwrap(), "mine\n");
    assert_eq!(fs_err::metadata(&written).unwrap().uid(), uid);
    assert_eq!(
        fs_err::read_to_string(home.path("groups/global/written")).unwrap(),
        "ours\n"
    );
    assert!(!home.path("state/planted").exists() && !home.path("new").exists());

    // The home's listing finds it by label; removing it empties the listing.
    let owned = list_owned(&docker, &home_id).await.unwrap();
    assert_eq!(owned.len(), 1, "{owned:?}");
    assert_eq!(owned[0].id, id);
    assert_eq!(owned[0].name, spec.name);
    assert_eq!(owned[0].group, "main");
    assert!(!owned[0].running);
    assert_eq!(owned[0].spec_hash, spec.spec_hash());
    assert_eq!(owned[0].image_id, image.info.id);
    assert!(list_owned(&docker, "some-other-home")
        .await
        .unwrap()
        .iter()
        .all(|o| o.id != id));
    remove(&docker, &id).await.unwrap();
    assert!(list_owned(&docker, &home_id).await.unwrap().is_empty());
    assert!(matches!(
        inspect(&docker, &id).await,
        Err(ContainerError::NotFound { .. })
    ));
    remove(&docker, &id).await.unwrap();
}

#[tokio::test]
async fn an_ordinary_group_reads_global_and_sees_no_project_through_the_launcher() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    assert_eq!(choose("docker").await.unwrap(), RuntimeChoice::Docker);
    assert_eq!(choose("auto").await.unwrap(), RuntimeChoice::Docker);
    let cleanup = Cleanup::default();
    let image = build_test_image(&docker, &cleanup, false).await;
    let home = TestHome::new();
    let home_id = b00t_container::home_id(&home.root);

    let mounts = plan_mounts(
        &home.path("groups/family"),
        &home.path("groups/global"),
        None,
        false,
    )
    .unwrap();
    let (uid, gid) = container_user();
    prepare_ownership(&[&home.path("groups/family")], uid, gid).unwrap();
    let mut spec = GroupContainer::for_group(&home_id, "family", &image.info.tag).unwrap();
    spec.command = vec!["-c".into(), FAMILY_SCRIPT.into()];
    spec.mounts = mounts;
    spec.limits = limits();

    let launcher = Launcher::for_choice(RuntimeChoice::Docker).await.unwrap();
    let launched = launcher.launch(&spec).await.unwrap();
    let Launched::Container { id, .. } = &launched else {
        panic!("expected a container")
    };
    cleanup.container(id);
    assert_eq!(launched.group(), "family");
    assert_eq!(launched.wait_exit().await.unwrap(), 0);
    let out = launched.logs_tail(20).await.unwrap();
    for expected in [
        "global readable: shared-memory",
        "global read-only",
        "no project",
        "group writable",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    assert!(!home.path("groups/global/planted").exists());

    // Adoption sees the same container; a second launch of the same spec is refused by
    // name while the first exists.
    let adopted = launcher.adopt(&home_id).await.unwrap();
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].0.group, "family");
    assert_eq!(adopted[0].1.wait_exit().await.unwrap(), 0);
    let e = launcher.launch(&spec).await.unwrap_err().to_string();
    assert!(e.contains(&spec.name), "{e}");
    launched.remove().await.unwrap();
    assert!(launcher.adopt(&home_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn stop_sends_sigterm_and_the_exit_code_comes_back() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let cleanup = Cleanup::default();
    let image = build_test_image(&docker, &cleanup, true).await;
    let home = TestHome::new();
    let home_id = b00t_container::home_id(&home.root);
    let mut spec = GroupContainer::for_group(&home_id, "family", &image.info.tag).unwrap();
    spec.command = vec![
        "-c".into(),
        "trap 'echo got term; exit 42' TERM; echo ready; /bin/sleep 60 & wait".into(),
    ];
    spec.mounts = plan_mounts(
        &home.path("groups/family"),
        &home.path("groups/global"),
        None,
        false,
    )
    .unwrap();
    spec.limits = limits();
    let id = create(&docker, &spec).await.unwrap();
    cleanup.container(&id);
    start(&docker, &id).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while !logs_tail(&docker, &id, 5).await.unwrap().contains("ready") {
        assert!(Instant::now() < deadline, "the container never said ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(list_owned(&docker, &home_id).await.unwrap()[0].running);
    // A wait outlives the client's request timeout (it bounds only the response head), so
    // the runtime can wait on a container for hours.
    let waiter = {
        let docker = docker.clone().with_timeout(Duration::from_secs(1));
        let id = id.clone();
        tokio::spawn(async move { wait_exit(&docker, &id).await })
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!waiter.is_finished());
    let started = Instant::now();
    stop(&docker, &id, Duration::from_secs(10)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "SIGTERM was not enough: {:?}",
        started.elapsed()
    );
    assert_eq!(waiter.await.unwrap().unwrap(), 42);
    assert!(logs_tail(&docker, &id, 5)
        .await
        .unwrap()
        .contains("got term"));
    // Stopping a stopped container is fine.
    stop(&docker, &id, Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_missing_image_is_named_with_what_to_do() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let home = TestHome::new();
    let home_id = b00t_container::home_id(&home.root);
    let spec = GroupContainer::for_group(&home_id, "family", "b00t-test-absent:none").unwrap();
    let e = create(&docker, &spec).await.unwrap_err().to_string();
    assert!(
        e.contains("b00t-test-absent:none") && e.contains("b00t image build"),
        "{e}"
    );
    assert!(list_owned(&docker, &home_id).await.unwrap().is_empty());
}
