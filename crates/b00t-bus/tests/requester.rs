//! The requester on a real embedded broker: it asks again with the same id when a reply
//! never comes, routes replies by id, and times out when nobody answers at all.

use std::time::Duration;

mod support;

use b00t_bus::{BusEvent, Outcome, Qos, Request, Requester};
use b00t_config::BrokerUrl;
use b00t_proto::{parse_task, Address, Channel, Reply};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use support::{connected, setup};

/// A requester on its own connection, replies on `reply_base`.
async fn asker(url: &BrokerUrl, reply_base: &str, stop: &CancellationToken) -> Requester {
    let (bus, events) = connected(url, "asker", stop).await;
    let (requester, _rest) = Requester::open(
        bus,
        events,
        reply_base.into(),
        "test",
        Duration::from_secs(5),
        stop,
    )
    .await
    .unwrap();
    requester
}

/// An echo responder that ignores the first `drop_first` copies of every task.
async fn responder(url: &BrokerUrl, drop_first: usize, stop: &CancellationToken) {
    let (bus, mut events) = connected(url, "responder", stop).await;
    bus.subscribe_confirmed(
        "b00t.echo.echo/task",
        Qos::AtLeastOnce,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    tokio::spawn(async move {
        let mut seen = std::collections::HashMap::<String, usize>::new();
        while let Some(event) = events.recv().await {
            let BusEvent::Message(m) = event else {
                continue;
            };
            let task = parse_task(&m.payload, 1 << 20).unwrap();
            let copies = seen.entry(task.id.to_string()).or_default();
            *copies += 1;
            if *copies <= drop_first {
                continue;
            }
            let base = task.reply_to.clone().unwrap();
            let reply = Reply::result(
                task.id.as_str(),
                "echo",
                "echo",
                json!({"echo": task.body}),
                0,
            );
            bus.publish(
                &format!("{base}/result"),
                Qos::AtLeastOnce,
                false,
                reply.to_json(),
            )
            .await
            .unwrap();
        }
    });
}

#[tokio::test]
async fn a_lost_reply_is_fetched_by_asking_again_with_the_same_id() {
    let (_broker, url, stop) = setup().await;
    responder(&url, 2, &stop).await;
    let requester = asker(&url, "b00t.t-1.reply", &stop).await;
    let request = Request {
        ask_again_after: Duration::from_millis(100),
        ..Request::new(
            Address::parse("b00t.echo.echo").unwrap(),
            "t",
            json!({"n": 1}),
            Duration::from_secs(10),
        )
    };
    let mut seen = Vec::new();
    let outcome = requester
        .request(&request, |channel, _| seen.push(channel))
        .await
        .unwrap();
    let Outcome::Result(reply) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reply["id"], request.id.as_str());
    assert_eq!(reply["body"]["echo"], json!({"n": 1}));
    assert_eq!(seen, vec![Channel::Result]);
}

#[tokio::test]
async fn concurrent_requests_get_their_own_replies_and_silence_times_out() {
    let (_broker, url, stop) = setup().await;
    responder(&url, 0, &stop).await;
    let requester = asker(&url, "b00t.t-2.reply", &stop).await;
    let address = Address::parse("b00t.echo.echo").unwrap();
    let asks = (0..20).map(|n| {
        let requester = requester.clone();
        let request = Request::new(address.clone(), "t", json!(n), Duration::from_secs(10));
        async move { (n, requester.request(&request, |_, _| {}).await.unwrap()) }
    });
    for (n, outcome) in futures_util::future::join_all(asks).await {
        let Outcome::Result(reply) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(reply["body"]["echo"], json!(n));
    }
    let nobody = Request {
        ask_again_after: Duration::from_millis(50),
        ..Request::new(
            Address::parse("b00t.nobody.home").unwrap(),
            "t",
            json!(null),
            Duration::from_millis(400),
        )
    };
    assert_eq!(
        requester.request(&nobody, |_, _| {}).await.unwrap(),
        Outcome::Timeout
    );
}

/// A forger that answers every echo task first, as another agent: the requester takes
/// only the reply of the agent it asked (a forged dry-run reply cannot stand in for the
/// installer's).
#[tokio::test]
async fn a_reply_from_another_agent_is_ignored() {
    let (_broker, url, stop) = setup().await;
    let (forger, mut tasks) = connected(&url, "forger", &stop).await;
    forger
        .subscribe_confirmed(
            "b00t.echo.echo/task",
            Qos::AtLeastOnce,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(event) = tasks.recv().await {
            let BusEvent::Message(m) = event else {
                continue;
            };
            let task = parse_task(&m.payload, 1 << 20).unwrap();
            let base = task.reply_to.clone().unwrap();
            let forged = Reply::result(task.id.as_str(), "family", "echo", json!("forged"), 0);
            let _ = forger
                .publish(
                    &format!("{base}/result"),
                    Qos::AtLeastOnce,
                    false,
                    forged.to_json(),
                )
                .await;
        }
    });
    // The real echo answers after the forger.
    tokio::time::sleep(Duration::from_millis(50)).await;
    responder(&url, 0, &stop).await;
    let requester = asker(&url, "b00t.t-3.reply", &stop).await;
    let request = Request::new(
        Address::parse("b00t.echo.echo").unwrap(),
        "t",
        json!("real"),
        Duration::from_secs(10),
    );
    let Outcome::Result(reply) = requester.request(&request, |_, _| {}).await.unwrap() else {
        panic!("no result")
    };
    assert_eq!(reply["agent"], "echo");
    assert_eq!(reply["body"]["echo"], json!("real"));
}
