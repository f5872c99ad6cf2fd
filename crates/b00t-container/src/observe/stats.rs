//! One stats sample of a container, computed the way the docker CLI computes `docker
//! stats`: CPU % from the deltas against the previous sample, memory without the page
//! cache, network and block IO summed.

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use bollard::Docker;
use futures_util::StreamExt;

use crate::error::ContainerError;
use crate::observe::container_error;
use crate::observe::facts::Stats;

/// One sample. The engine takes about a second, so that the previous sample (`precpu`)
/// is filled and the CPU % means something. A stopped container gives zeros.
pub async fn stats_once(docker: &Docker, id: &str) -> Result<Stats, ContainerError> {
    sample(docker, id, false).await
}

/// One sample at once (the engine's one-shot): memory, network, block IO and pids, but no
/// previous sample, so its CPU % is 0. For answers that must be quick (`status`).
pub async fn stats_quick(docker: &Docker, id: &str) -> Result<Stats, ContainerError> {
    sample(docker, id, true).await
}

async fn sample(docker: &Docker, id: &str, one_shot: bool) -> Result<Stats, ContainerError> {
    let options = StatsOptions {
        stream: false,
        one_shot,
    };
    let mut samples = docker.stats(id, Some(options));
    match samples.next().await {
        Some(Ok(sample)) => Ok(stats_from(&sample)),
        Some(Err(e)) => Err(container_error("read the stats of", id, &e)),
        None => Err(ContainerError::Engine {
            action: format!("read the stats of `{id}`"),
            message: "the engine closed the stream without a sample".to_owned(),
        }),
    }
}

fn stats_from(sample: &ContainerStatsResponse) -> Stats {
    let memory = sample.memory_stats.clone().unwrap_or_default();
    let (mut net_rx_bytes, mut net_tx_bytes) = (0u64, 0u64);
    for network in sample.networks.iter().flat_map(|n| n.values()) {
        net_rx_bytes = net_rx_bytes.saturating_add(network.rx_bytes.unwrap_or_default());
        net_tx_bytes = net_tx_bytes.saturating_add(network.tx_bytes.unwrap_or_default());
    }
    let (mut block_read_bytes, mut block_write_bytes) = (0u64, 0u64);
    let entries = sample
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_deref())
        .unwrap_or_default();
    for entry in entries {
        let value = entry.value.unwrap_or_default();
        match entry.op.as_deref().and_then(|op| op.bytes().next()) {
            Some(b'r' | b'R') => block_read_bytes = block_read_bytes.saturating_add(value),
            Some(b'w' | b'W') => block_write_bytes = block_write_bytes.saturating_add(value),
            _ => {}
        }
    }
    Stats {
        cpu_percent: cpu_percent(sample),
        memory_used: memory_used(
            memory.usage.unwrap_or_default(),
            memory
                .stats
                .as_ref()
                .and_then(|s| s.get("total_inactive_file")),
            memory.stats.as_ref().and_then(|s| s.get("inactive_file")),
        ),
        memory_limit: memory.limit.unwrap_or_default(),
        net_rx_bytes,
        net_tx_bytes,
        block_read_bytes,
        block_write_bytes,
        pids: sample
            .pids_stats
            .as_ref()
            .and_then(|p| p.current)
            .unwrap_or_default(),
    }
}

/// `(cpu_delta / system_delta) × online_cpus × 100`, as the docker CLI does (the CPUs
/// online counted from the per-CPU usage when the engine does not say).
fn cpu_percent(sample: &ContainerStatsResponse) -> f64 {
    let now = sample.cpu_stats.clone().unwrap_or_default();
    let before = sample.precpu_stats.clone().unwrap_or_default();
    let total = |stats: &bollard::models::ContainerCpuStats| {
        stats
            .cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or_default() as f64
    };
    let cpu_delta = total(&now) - total(&before);
    let system_delta = now.system_cpu_usage.unwrap_or_default() as f64
        - before.system_cpu_usage.unwrap_or_default() as f64;
    let online = match now.online_cpus {
        Some(cpus) if cpus > 0 => f64::from(cpus),
        _ => now
            .cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(0.0, |per_cpu| per_cpu.len() as f64),
    };
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// Usage without the inactive page cache, as the docker CLI counts it: cgroup v1's
/// `total_inactive_file`, else cgroup v2's `inactive_file`, when less than the usage.
fn memory_used(usage: u64, v1_inactive: Option<&u64>, v2_inactive: Option<&u64>) -> u64 {
    if let Some(&inactive) = v1_inactive {
        if inactive < usage {
            return usage - inactive;
        }
    }
    match v2_inactive {
        Some(&inactive) if inactive < usage => usage - inactive,
        _ => usage,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{
        ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
        ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats,
    };

    use super::*;

    fn cpu(total: u64, system: u64) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                percpu_usage: Some(vec![0, 0, 0, 0]),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        }
    }

    #[test]
    fn a_sample_is_computed_as_docker_stats_does() {
        let entry = |op: &str, value| ContainerBlkioStatEntry {
            op: Some(op.to_owned()),
            value: Some(value),
            ..Default::default()
        };
        let network = |rx, tx| ContainerNetworkStats {
            rx_bytes: Some(rx),
            tx_bytes: Some(tx),
            ..Default::default()
        };
        let sample = ContainerStatsResponse {
            cpu_stats: Some(cpu(1_500, 20_000)),
            precpu_stats: Some(cpu(1_000, 10_000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(10_000),
                limit: Some(1 << 20),
                stats: Some(HashMap::from([("total_inactive_file".to_owned(), 4_000)])),
                ..Default::default()
            }),
            networks: Some(HashMap::from([
                ("eth0".to_owned(), network(100, 10)),
                ("eth1".to_owned(), network(1, 2)),
            ])),
            blkio_stats: Some(ContainerBlkioStats {
                io_service_bytes_recursive: Some(vec![
                    entry("Read", 7),
                    entry("write", 5),
                    entry("Read", 3),
                    entry("Total", 15),
                ]),
                ..Default::default()
            }),
            pids_stats: Some(ContainerPidsStats {
                current: Some(3),
                limit: None,
            }),
            ..Default::default()
        };
        let stats = stats_from(&sample);
        // 500 / 10 000 × 2 CPUs × 100.
        assert!((stats.cpu_percent - 10.0).abs() < 1e-9, "{stats:?}");
        assert_eq!(stats.memory_used, 6_000);
        assert_eq!(stats.memory_limit, 1 << 20);
        assert_eq!((stats.net_rx_bytes, stats.net_tx_bytes), (101, 12));
        assert_eq!((stats.block_read_bytes, stats.block_write_bytes), (10, 5));
        assert_eq!(stats.pids, 3);
    }

    #[test]
    fn the_cpus_online_fall_back_to_the_per_cpu_count_and_no_delta_is_zero() {
        let mut now = cpu(2_000, 20_000);
        now.online_cpus = None;
        let sample = ContainerStatsResponse {
            cpu_stats: Some(now),
            precpu_stats: Some(cpu(1_000, 10_000)),
            ..Default::default()
        };
        // 1 000 / 10 000 × 4 per-CPU entries × 100.
        assert!((cpu_percent(&sample) - 40.0).abs() < 1e-9);
        let idle = ContainerStatsResponse {
            cpu_stats: Some(cpu(1_000, 20_000)),
            precpu_stats: Some(cpu(1_000, 10_000)),
            ..Default::default()
        };
        assert_eq!(cpu_percent(&idle), 0.0);
    }

    #[test]
    fn memory_leaves_out_the_inactive_cache_of_either_cgroup_version() {
        assert_eq!(memory_used(10, Some(&4), None), 6);
        assert_eq!(memory_used(10, None, Some(&3)), 7);
        assert_eq!(memory_used(10, Some(&40), Some(&3)), 7);
        assert_eq!(memory_used(10, None, None), 10);
    }
}
