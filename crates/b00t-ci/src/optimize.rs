//! The `optimize` skill: advice on how a container is run (limits, user, health check,
//! privileges, root filesystem, image size, restart policy), each saying which
//! `docker run` flag or compose key would change it. Advice only: nothing here changes a
//! container.

use b00t_container::Facts;
use serde::Serialize;

use crate::units::human_bytes;

/// The image size above which an image is large.
pub const LARGE_IMAGE_BYTES: i64 = 1024 * 1024 * 1024;

/// The advice codes, as they appear in results.
pub mod code {
    pub const NO_MEMORY_LIMIT: &str = "no_memory_limit";
    pub const RUNS_AS_ROOT: &str = "runs_as_root";
    pub const NO_HEALTHCHECK: &str = "no_healthcheck";
    pub const PRIVILEGED: &str = "privileged";
    pub const WRITABLE_ROOTFS: &str = "writable_rootfs";
    pub const LARGE_IMAGE: &str = "large_image";
    pub const NO_RESTART_POLICY: &str = "no_restart_policy";
    pub const NO_PIDS_LIMIT: &str = "no_pids_limit";
}

/// One piece of advice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Advice {
    /// One of [`code`].
    pub code: &'static str,
    /// What is the matter, for this container.
    pub summary: String,
    /// The `docker run` flag or compose key that changes it.
    pub how: String,
}

/// The advice for the container `facts` describes, in a fixed order.
pub fn advise(facts: &Facts) -> Vec<Advice> {
    ADVISORS
        .iter()
        .filter_map(|advisor| advisor(facts))
        .collect()
}

/// Whether the user a container runs as is root: empty (the image's default, root unless
/// the image says otherwise, and `inspect` shows the image's `USER` when it does), `0`
/// or `root`, with any group.
pub fn runs_as_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name.is_empty() || name == "0" || name == "root"
}

/// Whether the container looks like a long-running service rather than a one-shot job:
/// it runs and has ports or a health check.
pub fn is_long_running(facts: &Facts) -> bool {
    facts.running && (!facts.ports.is_empty() || facts.has_healthcheck)
}

type Advisor = fn(&Facts) -> Option<Advice>;

const ADVISORS: &[Advisor] = &[
    no_memory_limit,
    root_user,
    no_healthcheck,
    privileged,
    writable_rootfs,
    large_image,
    no_restart_policy,
    no_pids_limit,
];

fn advice(code: &'static str, summary: String, how: &str) -> Option<Advice> {
    Some(Advice {
        code,
        summary,
        how: how.to_owned(),
    })
}

fn no_memory_limit(facts: &Facts) -> Option<Advice> {
    if facts.memory_limit.is_some_and(|limit| limit > 0) {
        return None;
    }
    advice(
        code::NO_MEMORY_LIMIT,
        "no memory limit: a leak can take the host's memory, and the OOM killer may pick another process".to_owned(),
        "`docker run --memory 512m` (compose: `mem_limit: 512m`, or `deploy.resources.limits.memory`)",
    )
}

fn root_user(facts: &Facts) -> Option<Advice> {
    if !runs_as_root(&facts.user) {
        return None;
    }
    let shown = if facts.user.is_empty() {
        "the image's default, root".to_owned()
    } else {
        format!("`{}`", facts.user)
    };
    advice(
        code::RUNS_AS_ROOT,
        format!("runs as root ({shown}): a breakout from the process is a breakout as root"),
        "`docker run --user 1000:1000` (compose: `user: \"1000:1000\"`), or `USER` in the Dockerfile",
    )
}

fn no_healthcheck(facts: &Facts) -> Option<Advice> {
    if facts.has_healthcheck {
        return None;
    }
    advice(
        code::NO_HEALTHCHECK,
        "no health check: the engine cannot tell a hung process from a working one".to_owned(),
        "`HEALTHCHECK CMD …` in the Dockerfile, or `docker run --health-cmd '…' --health-interval 30s` (compose: `healthcheck: { test: [\"CMD\", …], interval: 30s }`)",
    )
}

fn privileged(facts: &Facts) -> Option<Advice> {
    if !facts.privileged {
        return None;
    }
    advice(
        code::PRIVILEGED,
        "privileged: it has every capability and every host device, as good as root on the host".to_owned(),
        "drop `--privileged` and grant only what it needs with `--cap-add` and `--device` (compose: `privileged: false`, `cap_add:`, `devices:`)",
    )
}

fn writable_rootfs(facts: &Facts) -> Option<Advice> {
    if facts.read_only_rootfs {
        return None;
    }
    advice(
        code::WRITABLE_ROOTFS,
        "its root filesystem is writable: anything that gets in can change the image's files".to_owned(),
        "`docker run --read-only --tmpfs /tmp` with volumes for the data it writes (compose: `read_only: true`, `tmpfs: [/tmp]`)",
    )
}

fn large_image(facts: &Facts) -> Option<Advice> {
    let size = facts.image_size.filter(|size| *size > LARGE_IMAGE_BYTES)?;
    advice(
        code::LARGE_IMAGE,
        format!(
            "its image `{}` is {}: slow to pull and a large attack surface",
            facts.image,
            human_bytes(size as u64)
        ),
        "a multi-stage build onto a slim base (`-slim`, `alpine`, distroless or `scratch`); `docker image history <image>` shows the large layers",
    )
}

fn no_restart_policy(facts: &Facts) -> Option<Advice> {
    let none = matches!(facts.restart_policy.as_str(), "" | "no");
    if !none || !is_long_running(facts) {
        return None;
    }
    advice(
        code::NO_RESTART_POLICY,
        "a long-running service with no restart policy: it stays down after a crash or a reboot of the engine".to_owned(),
        "`docker run --restart unless-stopped` (compose: `restart: unless-stopped`), or `docker update --restart unless-stopped <container>`",
    )
}

fn no_pids_limit(facts: &Facts) -> Option<Advice> {
    if facts.pids_limit.is_some_and(|limit| limit > 0) {
        return None;
    }
    advice(
        code::NO_PIDS_LIMIT,
        "no pids limit: a fork bomb or a thread leak can exhaust the host's processes".to_owned(),
        "`docker run --pids-limit 256` (compose: `pids_limit: 256`)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{running_facts, well_configured_facts};

    #[test]
    fn a_well_configured_container_gets_no_advice() {
        assert_eq!(advise(&well_configured_facts()), []);
    }

    #[test]
    fn a_plain_docker_run_gets_the_usual_advice() {
        let codes: Vec<&str> = advise(&running_facts()).iter().map(|a| a.code).collect();
        assert_eq!(
            codes,
            [
                code::NO_MEMORY_LIMIT,
                code::RUNS_AS_ROOT,
                code::NO_HEALTHCHECK,
                code::WRITABLE_ROOTFS,
                code::NO_RESTART_POLICY,
                code::NO_PIDS_LIMIT,
            ]
        );
    }

    /// Each case changes one thing of a well configured container and expects exactly
    /// the advice about it (or none), its summary and `how` saying the given pieces.
    #[test]
    fn each_advice() {
        type Case = (
            &'static str,
            fn(&mut Facts),
            Option<(&'static str, &'static str, &'static str)>,
        );
        let cases: &[Case] = &[
            (
                "no memory limit",
                |f| f.memory_limit = None,
                Some((code::NO_MEMORY_LIMIT, "no memory limit", "--memory")),
            ),
            (
                "memory limit 0",
                |f| f.memory_limit = Some(0),
                Some((code::NO_MEMORY_LIMIT, "no memory limit", "mem_limit")),
            ),
            (
                "user empty",
                |f| f.user = String::new(),
                Some((code::RUNS_AS_ROOT, "the image's default, root", "--user")),
            ),
            (
                "user 0",
                |f| f.user = "0".to_owned(),
                Some((code::RUNS_AS_ROOT, "`0`", "USER")),
            ),
            (
                "user root",
                |f| f.user = "root".to_owned(),
                Some((code::RUNS_AS_ROOT, "`root`", "user:")),
            ),
            (
                "user 0:1000",
                |f| f.user = "0:1000".to_owned(),
                Some((code::RUNS_AS_ROOT, "`0:1000`", "--user")),
            ),
            ("user 1000:0", |f| f.user = "1000:0".to_owned(), None),
            ("user nginx", |f| f.user = "nginx".to_owned(), None),
            (
                "no health check",
                |f| f.has_healthcheck = false,
                Some((code::NO_HEALTHCHECK, "no health check", "HEALTHCHECK")),
            ),
            (
                "privileged",
                |f| f.privileged = true,
                Some((code::PRIVILEGED, "privileged", "--cap-add")),
            ),
            (
                "writable root",
                |f| f.read_only_rootfs = false,
                Some((code::WRITABLE_ROOTFS, "writable", "--read-only")),
            ),
            (
                "large image",
                |f| f.image_size = Some(3 * 1024 * 1024 * 1024 / 2),
                Some((code::LARGE_IMAGE, "`nginx:1.27` is 1.5 GiB", "multi-stage")),
            ),
            (
                "image of exactly 1 GiB",
                |f| f.image_size = Some(LARGE_IMAGE_BYTES),
                None,
            ),
            ("image size unknown", |f| f.image_size = None, None),
            (
                "restart policy no",
                |f| f.restart_policy = "no".to_owned(),
                Some((
                    code::NO_RESTART_POLICY,
                    "no restart policy",
                    "--restart unless-stopped",
                )),
            ),
            (
                "restart policy empty",
                |f| f.restart_policy = String::new(),
                Some((
                    code::NO_RESTART_POLICY,
                    "long-running",
                    "restart: unless-stopped",
                )),
            ),
            (
                "restart policy no on a one-shot job",
                |f| {
                    f.restart_policy = "no".to_owned();
                    f.ports.clear();
                    f.has_healthcheck = false;
                },
                Some((code::NO_HEALTHCHECK, "no health check", "HEALTHCHECK")),
            ),
            (
                "restart policy no, stopped",
                |f| {
                    f.restart_policy = "no".to_owned();
                    f.running = false;
                },
                None,
            ),
            (
                "restart policy on-failure",
                |f| f.restart_policy = "on-failure".to_owned(),
                None,
            ),
            (
                "no pids limit",
                |f| f.pids_limit = None,
                Some((code::NO_PIDS_LIMIT, "fork bomb", "--pids-limit")),
            ),
            (
                "pids limit -1",
                |f| f.pids_limit = Some(-1),
                Some((code::NO_PIDS_LIMIT, "no pids limit", "pids_limit:")),
            ),
        ];
        for (what, change, expected) in cases {
            let mut facts = well_configured_facts();
            change(&mut facts);
            let advice = advise(&facts);
            match expected {
                None => assert_eq!(advice, [], "{what}"),
                Some((code, says, how)) => {
                    assert_eq!(advice.len(), 1, "{what}: {advice:#?}");
                    assert_eq!(advice[0].code, *code, "{what}");
                    assert!(
                        advice[0].summary.contains(says),
                        "{what}: {}",
                        advice[0].summary
                    );
                    assert!(advice[0].how.contains(how), "{what}: {}", advice[0].how);
                }
            }
        }
    }

    #[test]
    fn root_users() {
        for (user, root) in [
            ("", true),
            ("0", true),
            ("root", true),
            ("root:root", true),
            (" 0 ", true),
            ("1000", false),
            ("nobody", false),
            ("65534:65534", false),
        ] {
            assert_eq!(runs_as_root(user), root, "{user:?}");
        }
    }

    #[test]
    fn advice_serializes_for_the_bus() {
        let json = serde_json::to_value(advise(&running_facts())).unwrap();
        assert_eq!(json[0]["code"], "no_memory_limit");
        assert!(json[0]["how"].as_str().unwrap().contains("--memory"));
    }
}
