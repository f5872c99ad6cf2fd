//! Replication on a real bus: an embedded broker on an ephemeral port, the publisher on
//! an active runtime's schedules, and a standby's client that reads the retained rows
//! into a [`Follower`] on its own journal, which then holds the same schedules.

use std::time::Duration;

use b00t_broker::{BrokerSettings, EmbeddedBroker};
use b00t_bus::{Bus, BusEvent, BusOptions, Events, Qos};
use b00t_config::BrokerUrl;
use b00t_proto::Name;
use b00t_scheduler::replica::{self, TOPIC_PREFIX};
use b00t_scheduler::{Applied, Follower, Replication, Schedule, Store, When};
use tokio_util::sync::CancellationToken;

/// A deadline for things that happen within a second or two: generous, never a speed test.
const DEADLINE: Duration = Duration::from_secs(10);

fn schedule(id: &str, when: When, next_ms: i64) -> Schedule {
    Schedule {
        id: id.into(),
        group: Name::parse("family").unwrap(),
        text: format!("text of {id}"),
        when,
        next_ms: Some(next_ms),
        created_ms: 1_795_168_000_000,
        last_fired_ms: None,
        fired: 0,
    }
}

async fn client(url: &BrokerUrl, id: &str, stop: &CancellationToken) -> (Bus, Events) {
    let (bus, events) = Bus::connect(BusOptions::new(url.clone(), id), stop);
    bus.wait_connected(DEADLINE).await.unwrap();
    (bus, events)
}

/// A standby's view: subscribes to the replica topics and feeds what comes to `follower`.
struct Standby {
    _bus: Bus,
    events: Events,
    follower: Follower,
}

impl Standby {
    async fn start(url: &BrokerUrl, name: &str, journal: &std::path::Path) -> Standby {
        let (bus, events) = client(url, name, &CancellationToken::new()).await;
        bus.subscribe_confirmed(&format!("{TOPIC_PREFIX}+"), Qos::AtLeastOnce, DEADLINE)
            .await
            .unwrap();
        Standby {
            _bus: bus,
            events,
            follower: Follower::open(journal).unwrap(),
        }
    }

    /// The next replica message (topic and payload), applied to the follower.
    async fn next(&mut self) -> (String, Vec<u8>, Applied) {
        loop {
            let event = tokio::time::timeout(DEADLINE, self.events.recv())
                .await
                .expect("a replica message within the deadline")
                .expect("the connection is open");
            if let BusEvent::Message(m) = event {
                let applied = self.follower.apply(&m.topic, &m.payload).await.unwrap();
                return (m.topic, m.payload.to_vec(), applied);
            }
        }
    }

    /// Messages until one on schedule `id`'s topic that `matches`.
    async fn until(&mut self, id: &str, matches: impl Fn(&[u8]) -> bool) -> Applied {
        loop {
            let (topic, payload, applied) = self.next().await;
            if topic == replica::topic(id) && matches(&payload) {
                return applied;
            }
        }
    }
}

fn fired(payload: &[u8]) -> Option<u64> {
    let row: serde_json::Value = serde_json::from_slice(payload).ok()?;
    row["fired"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_follows_adds_fires_and_removals() {
    let broker = EmbeddedBroker::start(BrokerSettings::loopback())
        .await
        .unwrap();
    let url = BrokerUrl::for_listen(broker.addr());
    let dir = tempfile::tempdir().unwrap();
    let active = Store::open(&dir.path().join("active.db")).unwrap();

    // One schedule before the publisher starts: published at start.
    let early = schedule("s-00000001", When::Cron("0 9 * * 1-5".into()), 300);
    active.add(&early, 100).await.unwrap();
    let stop = CancellationToken::new();
    let (publisher_bus, _publisher_events) = client(&url, "b00t-runtime-replica", &stop).await;
    let publisher = tokio::spawn(replica::run_publisher(
        publisher_bus,
        active.clone(),
        Replication::default(),
        stop.clone(),
    ));

    let standby_journal = dir.path().join("standby.db");
    let mut standby = Standby::start(&url, "standby", &standby_journal).await;
    assert_eq!(
        standby.until(&early.id, |p| !p.is_empty()).await,
        Applied::Upserted(early.id.clone())
    );

    let every = schedule("s-00000002", When::Every(Duration::from_secs(60)), 100);
    let once = schedule("s-00000003", When::Once(200), 200);
    active.add(&every, 100).await.unwrap();
    active.add(&once, 100).await.unwrap();
    assert_eq!(
        standby.until(&once.id, |p| !p.is_empty()).await,
        Applied::Upserted(once.id.clone())
    );

    // A fire of `every`, the last fire of `once` (removed), a removal of `early`.
    active.fired(&every.id, 100, 150, Some(160)).await.unwrap();
    assert_eq!(
        standby.until(&every.id, |p| fired(p) == Some(1)).await,
        Applied::Upserted(every.id.clone())
    );
    active.fired(&once.id, 200, 210, None).await.unwrap();
    assert_eq!(
        standby.until(&once.id, <[u8]>::is_empty).await,
        Applied::Removed(once.id.clone())
    );
    assert!(active.remove(&early.id).await.unwrap());
    assert_eq!(
        standby.until(&early.id, <[u8]>::is_empty).await,
        Applied::Removed(early.id.clone())
    );

    let standby_store = Store::open(&standby_journal).unwrap();
    assert_eq!(
        standby_store.list(None).await.unwrap(),
        active.list(None).await.unwrap(),
        "the standby holds what the active holds: same ids, next fires and counts"
    );

    // A standby that subscribes later gets only the schedules that still exist,
    // retained, and the broker holds nothing for the removed ones.
    let late_journal = dir.path().join("late.db");
    let mut late = Standby::start(&url, "late-standby", &late_journal).await;
    let (topic, payload, applied) = late.next().await;
    assert_eq!(
        (topic, fired(&payload), applied),
        (
            replica::topic(&every.id),
            Some(1),
            Applied::Upserted(every.id.clone())
        )
    );
    quiet(&mut late, "only the one live schedule is retained").await;

    stop_publisher(&stop, publisher).await;
    drop(broker);
}

async fn broker_on(addr: std::net::SocketAddr) -> EmbeddedBroker {
    EmbeddedBroker::start(BrokerSettings::new(addr, 16, 1 << 20))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_clears_stale_retained_rows_and_publishes_again_after_a_reconnection() {
    let broker = broker_on("127.0.0.1:0".parse().unwrap()).await;
    let url = BrokerUrl::for_listen(broker.addr());
    let dir = tempfile::tempdir().unwrap();
    let active = Store::open(&dir.path().join("active.db")).unwrap();
    let kept = schedule("s-0000000a", When::Every(Duration::from_secs(60)), 100);
    active.add(&kept, 100).await.unwrap();

    // A row an earlier life left retained: the schedule was removed, and the runtime
    // died before it published the removal.
    let stop = CancellationToken::new();
    let (earlier, _earlier_events) = client(&url, "earlier-life", &stop).await;
    let stale = schedule("s-0000000b", When::Cron("0 9 * * *".into()), 300);
    earlier
        .publish(
            &replica::topic(&stale.id),
            Qos::AtLeastOnce,
            true,
            replica::encode(&stale.to_row()),
        )
        .await
        .unwrap();
    let mut first = Standby::start(&url, "first-standby", &dir.path().join("first.db")).await;
    assert_eq!(
        first.until(&stale.id, |p| !p.is_empty()).await,
        Applied::Upserted(stale.id.clone())
    );

    // The runtime starts again: it heard the stale row retained before it acted.
    let (bus, events) = client(&url, "b00t-runtime-replica", &stop).await;
    let replication = Replication {
        retained: [stale.id.clone()].into(),
        events: Some(events),
    };
    let publisher = tokio::spawn(replica::run_publisher(
        bus,
        active.clone(),
        replication,
        stop.clone(),
    ));
    assert_eq!(
        first.until(&stale.id, <[u8]>::is_empty).await,
        Applied::Removed(stale.id.clone()),
        "the first round clears the row of the schedule the store no longer holds"
    );
    let mut late = Standby::start(&url, "late-standby", &dir.path().join("late.db")).await;
    let (topic, _, applied) = late.next().await;
    assert_eq!(
        (topic, applied),
        (replica::topic(&kept.id), Applied::Upserted(kept.id.clone()))
    );
    quiet(&mut late, "only the schedule that exists is retained").await;

    // The broker loses what it retained (as one that restarts without persistence
    // does), and the publisher's connection drops; it reconnects and publishes every
    // row again. (A client with its id takes its connection over; the embedded broker
    // cannot be restarted in process.)
    drop((first, late));
    earlier
        .publish(
            &replica::topic(&kept.id),
            Qos::AtLeastOnce,
            true,
            Vec::new(),
        )
        .await
        .unwrap();
    let mut after = Standby::start(&url, "after-loss", &dir.path().join("after.db")).await;
    quiet(&mut after, "the row is gone from the broker").await;
    let intruder_stop = CancellationToken::new();
    let (intruder, _intruder_events) = client(&url, "b00t-runtime-replica", &intruder_stop).await;
    intruder.close(Duration::from_millis(200)).await;
    intruder_stop.cancel();
    assert_eq!(
        after.until(&kept.id, |p| !p.is_empty()).await,
        Applied::Upserted(kept.id.clone())
    );
    stop_publisher(&stop, publisher).await;
    drop(broker);
}

/// Cancels `stop` and waits for the publisher to obey it.
async fn stop_publisher(stop: &CancellationToken, publisher: tokio::task::JoinHandle<()>) {
    stop.cancel();
    tokio::time::timeout(DEADLINE, publisher)
        .await
        .expect("the publisher obeys shutdown")
        .unwrap();
}

/// Asserts that no message reaches `standby` within 300 ms: `why` says why none should.
async fn quiet(standby: &mut Standby, why: &str) {
    let next = tokio::time::timeout(Duration::from_millis(300), standby.events.recv()).await;
    assert!(
        !matches!(next, Ok(Some(BusEvent::Message(_)))),
        "{why}: {next:?}"
    );
}
