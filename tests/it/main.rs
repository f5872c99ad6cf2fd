//! Integration tests: the real `b00t` binary driven by real MQTT clients
//! (`mosquitto_pub`, `mosquitto_sub`), against the embedded broker and, with `--broker`,
//! against Debian's `mosquitto`. One binary, a module per feature.

mod support;

/// Runs a scenario `fn name(mode: Mode)` once per broker mode.
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn embedded() {
                    super::$name(crate::support::Mode::Embedded)
                }
                #[test]
                fn external_mosquitto() {
                    super::$name(crate::support::Mode::External)
                }
            }
        )*
    };
}
pub(crate) use both_modes;

mod assistant;
mod audit_output;
mod bad_input;
mod bridge;
mod bridge_matrix;
mod bridge_whatsapp;
mod burst;
mod ci;
mod cli;
mod cluster;
mod config;
mod containers;
mod delivery;
mod deploy;
mod durability;
mod groups;
mod hostile;
mod identity;
mod installer;
mod lifecycle;
mod mcp_serve;
mod mcp_wire;
mod presence;
mod protocol;
mod relay;
mod restart;
mod standby;
mod standby_cluster;
mod state_files;
