//! [`Events`]: what one connection received, in order, without the driver ever waiting
//! on the consumer (which may be waiting on a publish the driver has to send).
//!
//! - **QoS 0 is dropped past [`MAX_QUEUED_QOS0`]** queued messages: at most once by
//!   definition, and nothing else bounds it. Drops are counted and logged.
//! - **QoS 1 is kept**, however far the consumer lags: rumqttc acknowledges it as it
//!   arrives, and a message acknowledged must not be lost. Acknowledging it only when the
//!   consumer takes it (manual acks) was tried and reverted: rumqttc sends a manual ack
//!   through its request queue, which it stops reading while its own publishes fill their
//!   inflight window, so a client that publishes and receives at full speed (the bench's
//!   flood) stalled with both windows full.
//!
//! A stream that passes events on (the requester's "rest") hands each event's slot in
//! the QoS 0 count on with it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::BusEvent;

/// QoS 0 messages a connection holds for a consumer that lags; more are dropped.
pub const MAX_QUEUED_QOS0: usize = 16_384;

/// One event as the driver queues it.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub event: BusEvent,
    /// A QoS 0 message, counted in [`Qos0Queue::queued_qos0`] until taken.
    pub qos0: bool,
}

impl Delivered {
    /// An event that is not a QoS 0 message.
    pub(crate) fn plain(event: BusEvent) -> Delivered {
        Delivered { event, qos0: false }
    }
}

/// The count of queued QoS 0 messages, shared by the driver and every stream of its
/// events.
#[derive(Clone, Debug, Default)]
pub(crate) struct Qos0Queue {
    queued_qos0: Arc<AtomicUsize>,
}

impl Qos0Queue {
    /// Whether a message received now is queued (and as QoS 0 or not), or `None` when a
    /// QoS 0 one is to be dropped.
    pub(crate) fn admit(&self, publish: &rumqttc::Publish) -> Option<bool> {
        if publish.qos != rumqttc::QoS::AtMostOnce {
            return Some(false);
        }
        let queued = self.queued_qos0.fetch_add(1, Ordering::AcqRel);
        if queued >= MAX_QUEUED_QOS0 {
            self.queued_qos0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(true)
    }

    /// Gives back `delivered`'s slot in the QoS 0 count.
    pub(crate) fn settle(&self, delivered: &mut Delivered) {
        if std::mem::take(&mut delivered.qos0) {
            self.queued_qos0.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// What a connection received, in order; see the module's header for its bounds.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Delivered>,
    qos0_queue: Qos0Queue,
}

impl Events {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Delivered>, qos0_queue: Qos0Queue) -> Events {
        Events { rx, qos0_queue }
    }

    /// The next event; `None` once the connection's driver has stopped.
    pub async fn recv(&mut self) -> Option<BusEvent> {
        let mut delivered = self.rx.recv().await?;
        self.qos0_queue.settle(&mut delivered);
        Some(delivered.event)
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Result<BusEvent, mpsc::error::TryRecvError> {
        let mut delivered = self.rx.try_recv()?;
        self.qos0_queue.settle(&mut delivered);
        Ok(delivered.event)
    }

    /// Events queued and not yet taken.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The next event with its slot in the QoS 0 count, for a stream that passes some on.
    pub(crate) async fn recv_counted(&mut self) -> Option<Delivered> {
        self.rx.recv().await
    }

    /// Gives back the slot of an event taken with [`Events::recv_counted`].
    pub(crate) fn settle(&self, delivered: &mut Delivered) {
        self.qos0_queue.settle(delivered);
    }

    /// A stream fed by `rx` whose events count in this connection's QoS 0 queue.
    pub(crate) fn sibling(&self, rx: mpsc::UnboundedReceiver<Delivered>) -> Events {
        Events::new(rx, self.qos0_queue.clone())
    }
}
