//! Hand-made engine facts for the unit tests: a container that is running and well, to
//! which each test changes the one thing it is about.

use std::collections::BTreeMap;

use b00t_container::{Facts, Listening, Port, Stats};

use crate::diagnose::Evidence;

pub(crate) const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `nginx` running as `web`, port 80 published on 8080, no limits and no hardening: what
/// `docker run -d --name web -p 8080:80 nginx` gives.
pub(crate) fn running_facts() -> Facts {
    Facts {
        id: ID.to_owned(),
        name: "web".to_owned(),
        image: "nginx:1.27".to_owned(),
        image_id: "sha256:aaaa".to_owned(),
        state: "running".to_owned(),
        running: true,
        restarting: false,
        oom_killed: false,
        exit_code: Some(0),
        error: None,
        started_at: Some("2025-01-01T00:00:00Z".to_owned()),
        finished_at: None,
        restart_count: 0,
        restart_policy: "no".to_owned(),
        health: None,
        has_healthcheck: false,
        ports: vec![published(80, 8080)],
        networks: vec!["bridge".to_owned()],
        mounts: Vec::new(),
        labels: BTreeMap::new(),
        user: String::new(),
        privileged: false,
        read_only_rootfs: false,
        memory_limit: None,
        pids_limit: None,
        image_size: Some(190 * 1024 * 1024),
        pid: 4242,
    }
}

/// [`running_facts`] with every hardening `optimize` asks for.
pub(crate) fn well_configured_facts() -> Facts {
    Facts {
        restart_policy: "unless-stopped".to_owned(),
        has_healthcheck: true,
        user: "101:101".to_owned(),
        read_only_rootfs: true,
        memory_limit: Some(256 * 1024 * 1024),
        pids_limit: Some(256),
        ..running_facts()
    }
}

/// A TCP port `private` published on the host's `host_port`, on every address.
pub(crate) fn published(private: u16, host_port: u16) -> Port {
    Port {
        private,
        protocol: "tcp".to_owned(),
        host_ip: Some("0.0.0.0".to_owned()),
        host_port: Some(host_port),
    }
}

pub(crate) fn listening(port: u16, address: &str) -> Listening {
    Listening {
        port,
        address: address.to_owned(),
    }
}

/// One stats sample using `memory_used` of `memory_limit`.
pub(crate) fn stats(memory_used: u64, memory_limit: u64) -> Stats {
    Stats {
        cpu_percent: 1.5,
        memory_used,
        memory_limit,
        net_rx_bytes: 1000,
        net_tx_bytes: 2000,
        block_read_bytes: 0,
        block_write_bytes: 0,
        pids: 3,
    }
}

/// A well configured running container that listens where it publishes, uses a quarter
/// of its memory and logs nothing alarming: no finding at all.
pub(crate) fn healthy_evidence() -> Evidence {
    let facts = well_configured_facts();
    let limit = facts.memory_limit.unwrap_or_default() as u64;
    Evidence {
        facts,
        stats: Some(stats(limit / 4, limit)),
        listening: Some(vec![listening(80, "0.0.0.0")]),
        recent_logs: Vec::new(),
        restarts_in_window: None,
    }
}
