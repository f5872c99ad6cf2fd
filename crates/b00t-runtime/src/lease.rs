//! Which runtime acts for a bus: the lease card ([`b00t_proto::Lease`], retained on
//! `b00t.runtime/lease`) read and written on a connection of its own.
//!
//! [`LeaseKeeper::acquire`] waits while another runtime's lease is live (renewed within
//! its `ttl_ms`, as this runtime's clock measures it: no clocks are compared), then claims
//! the lease one epoch higher and keeps it only if no better claim arrives within
//! [`CLAIM_GRACE`]. [`LeaseKeeper::hold`] renews it every heartbeat period and ends as
//! soon as a claim that beats it arrives: that runtime acts now, and this one must stop.
//! Only a card with a new (epoch, seq) counts as a renewal, so a retained card delivered
//! again after a reconnect does not keep a dead runtime's lease alive.

use std::path::Path;
use std::time::Duration;

use b00t_bus::{Bus, BusEvent, BusOptions, Bytes, Events, Qos};
use b00t_config::BrokerUrl;
use b00t_proto::{Lease, LEASE_TOPIC};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::RuntimeError;

/// How long retained cards are given to arrive after subscribing.
const RETAINED_GRACE: Duration = Duration::from_millis(300);
/// How long a claim waits for a better one before it is kept.
pub const CLAIM_GRACE: Duration = Duration::from_millis(500);
/// How long `up` waits for the lease connection.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// Why [`LeaseKeeper::hold`] ended.
#[derive(Debug)]
pub enum Held {
    Stopped,
    /// Another runtime's claim beats this one's.
    Lost(Lease),
}

/// The lease's connection and what it has heard.
pub struct LeaseKeeper {
    bus: Bus,
    events: Events,
    me: String,
    /// The renewal period (the heartbeat); a lease lapses after three.
    period: Duration,
    /// The latest card of another runtime, and when its last renewal was heard.
    seen: Option<(Lease, Instant)>,
    /// The highest epoch heard from anyone, this runtime's earlier lives included.
    max_epoch: u64,
    /// Messages on other topics this connection subscribed (the schedules' replica).
    others: Option<mpsc::Sender<(String, Bytes)>>,
    stop: CancellationToken,
}

impl LeaseKeeper {
    /// Connects as runtime `me` and reads the lease card; `also` subscribes more filters,
    /// whose messages go to `others`.
    pub async fn connect(
        url: &BrokerUrl,
        me: &str,
        period: Duration,
        packet_limit: usize,
        also: &[&str],
        others: Option<mpsc::Sender<(String, Bytes)>>,
    ) -> Result<LeaseKeeper, RuntimeError> {
        let stop = CancellationToken::new();
        let mut options = BusOptions::new(url.clone(), format!("b00t-runtime-lease-{me}"));
        options.packet_limit = packet_limit;
        let (bus, events) = Bus::connect(options, &stop);
        bus.wait_connected(CONNECT_LIMIT).await?;
        for filter in std::iter::once(&LEASE_TOPIC).chain(also) {
            bus.subscribe_confirmed(filter, Qos::AtLeastOnce, CONNECT_LIMIT)
                .await?;
        }
        Ok(LeaseKeeper {
            bus,
            events,
            me: me.to_owned(),
            period,
            seen: None,
            max_epoch: 0,
            others,
            stop,
        })
    }

    /// The latest lease card of another runtime heard so far, live or lapsed.
    pub fn followed(&self) -> Option<&Lease> {
        self.seen.as_ref().map(|(lease, _)| lease)
    }

    /// Stops handing on messages of the other filters (their receiver ends).
    pub fn stop_forwarding(&mut self) {
        self.others = None;
    }

    /// How long a lease of this runtime lives without renewal: three periods.
    pub fn ttl(&self) -> Duration {
        self.period * b00t_proto::MISSED_BEATS_OFFLINE
    }

    /// Waits until this runtime may act and returns the lease it took; `None` on
    /// shutdown. `waiting` is told each live lease of another runtime it waits behind.
    /// With `patient`, a lease nobody holds is first left free for one lapse (a
    /// standby lets an active runtime that is restarting keep its role).
    pub async fn acquire(
        &mut self,
        shutdown: &CancellationToken,
        patient: bool,
        mut waiting: impl FnMut(&Lease),
    ) -> Option<Lease> {
        let started = Instant::now();
        if !self.listen_until(started + RETAINED_GRACE, shutdown).await {
            return None;
        }
        let mut told: Option<(String, u64)> = None;
        loop {
            if let Some((lease, heard)) = &self.seen {
                let lapse = *heard + Duration::from_millis(lease.ttl_ms);
                if Instant::now() < lapse {
                    let who = (lease.holder.clone(), lease.epoch);
                    if told.as_ref() != Some(&who) {
                        waiting(lease);
                        told = Some(who);
                    }
                    if !self.listen_until(lapse, shutdown).await {
                        return None;
                    }
                    continue;
                }
                tracing::warn!(holder = %lease.holder, epoch = lease.epoch, "the active runtime's lease lapsed: no renewal for {} ms; taking over", lease.ttl_ms);
            } else if patient && Instant::now() < started + self.ttl() {
                if !self.listen_until(started + self.ttl(), shutdown).await {
                    return None;
                }
                continue;
            }
            let claim = Lease {
                host: b00t_agents::host::host_name(),
                pid: Some(std::process::id()),
                ..Lease::take(&self.me, self.max_epoch + 1, self.ttl().as_millis() as u64)
            };
            self.publish(&claim).await;
            if !self
                .listen_until(Instant::now() + CLAIM_GRACE, shutdown)
                .await
            {
                return None;
            }
            match &self.seen {
                Some((other, _)) if other.beats(&claim) => {
                    tracing::info!(holder = %other.holder, epoch = other.epoch, "another runtime's claim won; standing by");
                    continue;
                }
                _ => {
                    self.max_epoch = claim.epoch;
                    return Some(claim);
                }
            }
        }
    }

    /// Renews `lease` every period until `shutdown` or until a claim that beats it.
    pub async fn hold(&mut self, mut lease: Lease, shutdown: &CancellationToken) -> Held {
        let mut renew = tokio::time::interval(self.period);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Held::Stopped,
                _ = renew.tick() => {
                    lease.seq += 1;
                    self.publish(&lease).await;
                }
                event = self.events.recv() => {
                    let Some(event) = event else { return Held::Stopped };
                    let before = self.seen.as_ref().map(|(l, _)| (l.epoch, l.seq));
                    self.observe(event).await;
                    match &self.seen {
                        Some((other, _)) if other.beats(&lease) => return Held::Lost(other.clone()),
                        // A stale claim overwrote the retained card: put ours back.
                        Some((other, _)) if Some((other.epoch, other.seq)) != before => {
                            tracing::warn!(holder = %other.holder, epoch = other.epoch, "a runtime renewed a lease older than this one; it must stand down");
                            self.publish(&lease).await;
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Gives the lease up (a clean stop): the standby need not wait for it to lapse.
    pub async fn release(self) {
        if let Err(e) = self
            .bus
            .publish(LEASE_TOPIC, Qos::AtLeastOnce, true, Bytes::new())
            .await
        {
            tracing::warn!(error = %e, "cannot release the lease; the standby takes over once it lapses");
        }
        self.close().await;
    }

    pub async fn close(self) {
        self.bus.close(Duration::from_millis(300)).await;
        self.stop.cancel();
    }

    async fn publish(&self, lease: &Lease) {
        if let Err(e) = self
            .bus
            .publish(LEASE_TOPIC, Qos::AtLeastOnce, true, lease.to_json())
            .await
        {
            tracing::warn!(error = %e, "cannot publish the lease card");
        }
    }

    /// Takes in events until `deadline`; `false` on shutdown.
    async fn listen_until(&mut self, deadline: Instant, shutdown: &CancellationToken) -> bool {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep_until(deadline) => return true,
                event = self.events.recv() => match event {
                    Some(event) => self.observe(event).await,
                    None => return !shutdown.is_cancelled(),
                },
            }
        }
    }

    async fn observe(&mut self, event: BusEvent) {
        let BusEvent::Message(message) = event else {
            return;
        };
        if message.topic != LEASE_TOPIC {
            if let Some(others) = &self.others {
                let _ = others.send((message.topic, message.payload)).await;
            }
            return;
        }
        if message.payload.is_empty() {
            // Released: nobody holds it.
            self.seen = None;
            return;
        }
        let Some(lease) = Lease::parse(&message.payload) else {
            tracing::warn!("ignored a lease card that no runtime would write on `{LEASE_TOPIC}`");
            return;
        };
        self.max_epoch = self.max_epoch.max(lease.epoch);
        if lease.holder == self.me {
            // Its own card (an echo, or a retained one of an earlier life).
            return;
        }
        let renewed = match &self.seen {
            Some((known, _)) => {
                (known.holder.as_str(), known.epoch, known.seq)
                    != (lease.holder.as_str(), lease.epoch, lease.seq)
            }
            None => true,
        };
        if renewed {
            self.seen = Some((lease, Instant::now()));
        }
    }
}

/// This home's runtime id, `state/runtime-id`, made on first use: the lease's holder.
/// Not a secret, and kept out of `state/credentials` so that copying the credentials
/// to a standby does not copy the id.
pub fn runtime_id(state_dir: &Path) -> Result<String, RuntimeError> {
    let path = state_dir.join("runtime-id");
    let valid = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if valid(id) {
            return Ok(id.to_owned());
        }
        tracing::warn!(path = %path.display(), "the runtime id is damaged; making a new one");
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| RuntimeError::Groups(format!("cannot make a runtime id: {e}")))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    b00t_config::home::write_private_file(&path, format!("{id}\n").as_bytes()).map_err(|e| {
        RuntimeError::Groups(format!(
            "cannot write the runtime id to `{}`: {e}",
            path.display()
        ))
    })?;
    Ok(id)
}
