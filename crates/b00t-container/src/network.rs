//! The Docker bridge's gateway address: where containers reach the host. `b00t up`
//! binds the guarded broker listener and the Ollama relay there, so both are reachable
//! from containers (as `host.docker.internal`, which Docker's `host-gateway` maps to this
//! address) and from no outside network.

use std::net::IpAddr;

use bollard::query_parameters::InspectNetworkOptions;
use bollard::Docker;

use crate::error::ContainerError;

/// The network containers join: Docker's default bridge.
pub(crate) const BRIDGE: &str = "bridge";

/// The gateway address of the default bridge network (usually 172.17.0.1).
pub async fn bridge_gateway(docker: &Docker) -> Result<IpAddr, ContainerError> {
    let network = docker
        .inspect_network(BRIDGE, None::<InspectNetworkOptions>)
        .await
        .map_err(|e| ContainerError::Engine {
            action: format!("inspect Docker's `{BRIDGE}` network"),
            message: crate::error::engine_message(&e),
        })?;
    let configs = network
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default();
    // Newer engines report the gateway; 20.10 reports only the subnet, whose first
    // address is the bridge's own.
    let gateway = configs
        .iter()
        .filter_map(|c| c.gateway.as_deref())
        .filter_map(|g| g.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
        .or_else(|| {
            configs
                .iter()
                .filter_map(|c| c.subnet.as_deref())
                .find_map(first_address)
        });
    gateway.ok_or_else(|| ContainerError::Engine {
        action: format!("find the gateway of Docker's `{BRIDGE}` network"),
        message: format!(
            "it has no IPv4 gateway, so containers could not reach the broker; check `docker network inspect {BRIDGE}`"
        ),
    })
}

/// The first host address of an IPv4 subnet such as `172.17.0.0/16`.
fn first_address(subnet: &str) -> Option<IpAddr> {
    let (base, bits) = subnet.split_once('/')?;
    let base: std::net::Ipv4Addr = base.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    if !(1..=30).contains(&bits) {
        return None;
    }
    let mask = u32::MAX << (32 - bits);
    Some(IpAddr::V4((u32::from(base) & mask | 1).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_address_of_a_subnet() {
        assert_eq!(
            first_address("172.17.0.0/16"),
            Some("172.17.0.1".parse().unwrap())
        );
        assert_eq!(
            first_address("10.1.2.0/24"),
            Some("10.1.2.1".parse().unwrap())
        );
        assert_eq!(first_address("fd00::/64"), None);
        assert_eq!(first_address("nonsense"), None);
    }
}
