//! Where a task's replies go (`<reply_to>/<channel>`, else the task's own address) and the
//! one place that publishes them.

use b00t_bus::{Bus, Qos};
use b00t_proto::Reply;

/// Publishes replies for one agent.
#[derive(Clone)]
pub struct Replier {
    bus: Bus,
    agent: String,
}

impl Replier {
    pub fn new(bus: Bus, agent: &str) -> Replier {
        Replier {
            bus,
            agent: agent.to_owned(),
        }
    }

    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Publishes `reply` under `base` (a `reply_to` or an address) at QoS 1.
    pub async fn send(&self, base: &str, reply: &Reply) {
        self.send_raw(base, reply.channel(), reply.to_json()).await;
    }

    /// Publishes an already serialized reply, such as a stored result.
    pub async fn send_raw(&self, base: &str, channel: b00t_proto::Channel, payload: Vec<u8>) {
        let topic = format!("{base}/{}", channel.as_str());
        if let Err(e) = self
            .bus
            .publish(&topic, Qos::AtLeastOnce, false, payload)
            .await
        {
            tracing::warn!(agent = %self.agent, error = %e, "reply not sent");
        }
    }
}
