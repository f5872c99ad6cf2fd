//! One client connection through the front door: the CONNECT handshake (client id,
//! credentials, will, the connection limit), then three parts that run together:
//!
//! - the reader decodes packets with rumqttd's v4 codec, enforces the per-client limits
//!   (subscriptions, unreleased QoS 2 publishes, packet size) and shows every PUBLISH to
//!   the tap, queueing each packet with the tap's hold in a bounded pipeline;
//! - the forwarder takes the pipeline in order, waits for each hold (a task until it is
//!   journaled) and hands the packets to the router on the connection's local link, so
//!   the router's PUBACK of a task can only follow its journal commit;
//! - the writer encodes what the router sends the client.
//!
//! A full pipeline stops the reader, which stops reading the socket: backpressure reaches
//! the client through TCP instead of memory. When the client goes without a DISCONNECT
//! its will is published (retained as asked), then the link is closed. The link can
//! publish at QoS 0 only (rumqttd keeps `Publish`'s QoS private), which costs nothing:
//! rumqttd's router delivers every message at the QoS of the subscription it matched, so
//! a QoS 1 subscriber gets the will at QoS 1, to be acknowledged, and a QoS 0 one at 0.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::protocol::v4::V4;
use rumqttd::protocol::{
    ConnAck, ConnectReturnCode, Disconnect, DisconnectReasonCode, LastWill, Login, Packet, PubAck,
    PubAckReason, Publish, SubAck, SubscribeReasonCode,
};
use rumqttd::protocol::{Error as CodecError, Protocol};
use rumqttd::Notification;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::frame::{self, Head};
use crate::front_door::{Auth, Shared};
use crate::gate::{Identity, Login as GateLogin, ANONYMOUS};
use crate::stream::{Peer, Stream};
use crate::tap::{Hold, Refusal, Tapped};

/// Packets queued between the reader and the forwarder of one connection.
const PIPELINE: usize = 256;
/// Packets handed to the router before it is woken, at most.
const FORWARD_BATCH: usize = 64;
/// Bytes encoded before they are written to the socket, at most.
const WRITE_BATCH: usize = 64 * 1024;
/// Longest client id accepted.
const MAX_CLIENT_ID: usize = 256;
/// How long the forwarder may take to pass on what a closed connection had sent.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// A packet on its way to the router, with what it waits for.
struct Pending {
    packet: Packet,
    hold: Option<Hold>,
    head: Head,
    /// An answer of the front door's own for the client (a refused SUBSCRIBE), written
    /// once what came before it has gone to the router.
    direct: bool,
}

/// How the reader stopped.
#[derive(Debug)]
enum ReadEnd {
    /// The client sent DISCONNECT: no will.
    Clean,
    /// The socket closed, failed or went silent, or the client broke the protocol.
    Lost(String),
}

/// Serves one accepted connection until it ends. `permits` is the connection limit of
/// its door: without a place under it, the client is refused (unless it takes over its
/// own connection, whose place it then waits for).
pub(crate) async fn serve<S: Stream>(
    mut stream: S,
    peer: Peer,
    shared: Arc<Shared>,
    auth: Auth,
    permits: Arc<Semaphore>,
) {
    let permit = permits.clone().try_acquire_owned().ok();
    let mut buf = BytesMut::with_capacity(4096);
    let first = tokio::time::timeout(
        shared.limits.connect_timeout,
        read_packet(&mut stream, &mut buf, shared.limits.max_packet),
    )
    .await;
    let (connect, will, login) = match first {
        Ok(Ok(Packet::Connect(connect, _, will, _, login))) => (connect, will, login),
        Ok(Ok(other)) => {
            tracing::debug!(%peer, packet = ?other, "the first packet was not CONNECT; closing");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "could not read CONNECT; closing");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no CONNECT in time; closing");
            return;
        }
    };
    let (client_id, identity) = match admit(
        &connect.client_id,
        connect.clean_session,
        &login,
        &will,
        auth,
        &shared,
    ) {
        Ok(admitted) => admitted,
        Err((code, why)) => {
            tracing::warn!(%peer, client_id = %connect.client_id.escape_debug(), "refused a connection: {why}");
            let _ = refuse(&mut stream, code).await;
            return;
        }
    };

    // At the connection limit, only a client taking over its own connection (a
    // reconnect before the old one was seen dead) gets in: on the place it frees.
    if permit.is_none() && !shared.sessions.holds(&client_id) {
        return refuse_at_limit(&mut stream, peer, &client_id, &shared).await;
    }
    let claim = shared.sessions.claim(&client_id).await;
    let permit = match permit {
        Some(permit) => permit,
        None => match permits.try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                claim.release();
                return refuse_at_limit(&mut stream, peer, &client_id, &shared).await;
            }
        },
    };
    let links = shared.links.clone();
    let (id, clean) = (client_id.clone(), connect.clean_session);
    let built = tokio::task::spawn_blocking(move || links(&id, clean)).await;
    let (link_tx, link_rx, ack) = match built {
        Ok(Ok(link)) => link,
        Ok(Err(e)) => {
            tracing::warn!(%peer, %client_id, error = %e, "the router refused the connection");
            let _ = refuse(&mut stream, ConnectReturnCode::ServiceUnavailable).await;
            claim.release();
            return;
        }
        Err(e) => {
            tracing::error!(%peer, %client_id, error = %e, "opening the router link failed");
            claim.release();
            return;
        }
    };
    let session_present = match Option::<Packet>::from(ack) {
        Some(Packet::ConnAck(ack, _)) => ack.session_present,
        _ => false,
    };
    let connack = Packet::ConnAck(
        ConnAck {
            session_present,
            code: ConnectReturnCode::Success,
        },
        None,
    );
    if write_packet(&mut stream, connack).await.is_err() {
        close_link(link_tx, true).await;
        claim.release();
        return;
    }
    tracing::debug!(%peer, %client_id, %identity, "connected");

    let keep_alive = (connect.keep_alive > 0)
        .then(|| Duration::from_secs(u64::from(connect.keep_alive)).mul_f32(1.5));
    let (read_half, write_half) = stream.into_halves();
    let (pending_tx, pending_rx) = mpsc::channel(PIPELINE);
    let (direct_tx, direct_rx) = mpsc::channel(16);
    let aborted = CancellationToken::new();
    let forwarder = tokio::spawn(forward(
        pending_rx,
        link_tx,
        direct_tx,
        aborted.clone(),
        client_id.clone(),
    ));
    let mut writer = tokio::spawn(write(link_rx, direct_rx, write_half));
    let reader = Reader {
        half: read_half,
        buf,
        pending: pending_tx,
        shared: shared.clone(),
        client_id: client_id.clone(),
        identity: identity.clone(),
        keep_alive,
        subscriptions: HashSet::new(),
        unreleased: 0,
    };
    let mut router_dropped = false;
    let end = tokio::select! {
        end = reader.run() => end,
        written = &mut writer => {
            router_dropped = matches!(written, Ok(WriteEnd::RouterDropped));
            ReadEnd::Lost(match written {
                Ok(WriteEnd::RouterDropped) => "the router closed the link".to_owned(),
                Ok(WriteEnd::Socket(e)) => format!("write failed: {e}"),
                Err(e) => format!("the writer failed: {e}"),
            })
        }
        _ = aborted.cancelled() => ReadEnd::Lost("a refused QoS 2 publish".to_owned()),
        _ = claim.stop.cancelled() => ReadEnd::Lost("taken over by a new connection with the same client id".to_owned()),
    };
    // The reader's end of the pipeline is gone: the forwarder passes on what is queued.
    let link_tx = match tokio::time::timeout(DRAIN_LIMIT, forwarder).await {
        Ok(Ok(link_tx)) => Some(link_tx),
        _ => None,
    };
    writer.abort();
    let reason = match &end {
        ReadEnd::Clean => "DISCONNECT",
        ReadEnd::Lost(why) => why.as_str(),
    };
    tracing::debug!(%peer, %client_id, %reason, "connection ended");
    if let Some(mut link_tx) = link_tx {
        if let (ReadEnd::Lost(_), Some(will)) = (&end, will) {
            publish_will(&shared, &mut link_tx, &client_id, &identity, will).await;
        }
        close_link(link_tx, !router_dropped).await;
    }
    drop(permit);
    claim.release();
}

async fn refuse_at_limit(
    stream: &mut (impl AsyncWrite + Unpin),
    peer: Peer,
    client_id: &str,
    shared: &Shared,
) {
    tracing::warn!(%peer, %client_id, limit = shared.limits.max_connections, "refused a connection: the connection limit is reached (raise [broker] max_connections)");
    let _ = refuse(stream, ConnectReturnCode::ServiceUnavailable).await;
}

/// Checks a CONNECT: the client id (one is made for an empty id with a clean session),
/// the credentials (a username must carry its password; none is anonymous, refused on a
/// guarded listener), the will's topic, then the gate. Returns the client id and the
/// identity.
fn admit(
    client_id: &str,
    clean_session: bool,
    login: &Option<Login>,
    will: &Option<LastWill>,
    auth: Auth,
    shared: &Shared,
) -> Result<(String, Identity), (ConnectReturnCode, String)> {
    let refused = ConnectReturnCode::ClientIdentifierNotValid;
    if client_id.len() > MAX_CLIENT_ID {
        return Err((refused, format!("client id is over {MAX_CLIENT_ID} bytes")));
    }
    if client_id
        .chars()
        .any(|c| "+#/$".contains(c) || c.is_control())
    {
        return Err((
            refused,
            format!(
                "client id `{}` holds `+`, `#`, `/`, `$` or a control character",
                client_id.escape_debug()
            ),
        ));
    }
    let client_id = if client_id.is_empty() {
        if !clean_session {
            return Err((
                refused,
                "an empty client id needs a clean session".to_owned(),
            ));
        }
        format!("b00t-anon-{:016x}", fastrand::u64(..))
    } else {
        client_id.to_owned()
    };
    let bad_login = ConnectReturnCode::BadUserNamePassword;
    let user = match login {
        Some(l) if !l.username.is_empty() => {
            if !shared.credentials.verify(&l.username, &l.password) {
                return Err((
                    bad_login,
                    format!("wrong password for user `{}`", l.username.escape_debug()),
                ));
            }
            Some(l.username.as_str())
        }
        _ if auth == Auth::Guarded => {
            return Err((
                bad_login,
                "this listener (the containers' one) needs a username and password".to_owned(),
            ))
        }
        _ => None,
    };
    let will_topic = match will {
        Some(will) => match std::str::from_utf8(&will.topic) {
            Ok(topic) if frame::valid_topic_name(topic) => Some((topic, will.message.as_ref())),
            _ => {
                return Err((
                    ConnectReturnCode::NotAuthorized,
                    "the will's topic is not a valid topic name".to_owned(),
                ))
            }
        },
        None => None,
    };
    if let Some(gate) = shared.gate.get() {
        let asked = GateLogin {
            user,
            client_id: &client_id,
            guarded: auth == Auth::Guarded,
            will: will_topic,
        };
        gate.connect(&asked)
            .map_err(|why| (ConnectReturnCode::NotAuthorized, why))?;
    }
    let identity: Identity = user.unwrap_or(ANONYMOUS).into();
    Ok((client_id, identity))
}

struct Reader<R> {
    half: R,
    buf: BytesMut,
    /// To the forwarder; dropped when the reader ends, which ends the forwarder.
    pending: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
    client_id: String,
    identity: Identity,
    keep_alive: Option<Duration>,
    /// The filters this client is subscribed to, for its limit.
    subscriptions: HashSet<String>,
    /// QoS 2 publishes received and not yet released (PUBREL).
    unreleased: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    async fn run(mut self) -> ReadEnd {
        let mut codec = V4;
        loop {
            loop {
                let head = frame::peek(&self.buf);
                match codec.read_mut(&mut self.buf, self.shared.limits.max_packet) {
                    Ok(packet) => {
                        let head = head.unwrap_or(Head {
                            kind: 0,
                            qos: 0,
                            pkid: 0,
                        });
                        if let Err(end) = self.on_packet(packet, head).await {
                            return end;
                        }
                    }
                    Err(CodecError::InsufficientBytes(required)) => {
                        self.buf.reserve(required);
                        break;
                    }
                    Err(e) => return ReadEnd::Lost(format!("malformed packet: {e}")),
                }
            }
            let read = self.half.read_buf(&mut self.buf);
            let read = match self.keep_alive {
                Some(limit) => match tokio::time::timeout(limit, read).await {
                    Ok(read) => read,
                    Err(_) => return ReadEnd::Lost("keep-alive expired".to_owned()),
                },
                None => read.await,
            };
            match read {
                Ok(0) => return ReadEnd::Lost("closed without DISCONNECT".to_owned()),
                Ok(_) => {}
                Err(e) => return ReadEnd::Lost(format!("read failed: {e}")),
            }
        }
    }

    async fn on_packet(&mut self, packet: Packet, head: Head) -> Result<(), ReadEnd> {
        let limits = &self.shared.limits;
        let mut hold = None;
        match &packet {
            Packet::Publish(publish, _) => {
                let Ok(topic) = std::str::from_utf8(&publish.topic) else {
                    return Err(ReadEnd::Lost("a topic that is not UTF-8".to_owned()));
                };
                if !frame::valid_topic_name(topic) {
                    return Err(ReadEnd::Lost(format!(
                        "a publish to `{}`, which is not a valid topic name",
                        topic.escape_debug()
                    )));
                }
                if head.qos == 2 {
                    self.unreleased += 1;
                    if self.unreleased > limits.max_inflight {
                        tracing::warn!(client_id = %self.client_id, limit = limits.max_inflight, "closing a client with too many unreleased QoS 2 publishes");
                        return Err(ReadEnd::Lost(
                            "too many unreleased QoS 2 publishes".to_owned(),
                        ));
                    }
                }
                if let Some(tap) = self.shared.tap.get() {
                    hold = tap.publish(&Tapped {
                        client_id: &self.client_id,
                        identity: &self.identity,
                        topic,
                        payload: &publish.payload,
                        qos: head.qos,
                        retain: publish.retain,
                    });
                }
            }
            Packet::PubRel(..) => self.unreleased = self.unreleased.saturating_sub(1),
            Packet::Subscribe(subscribe, _) => {
                let fresh: Vec<&str> = subscribe
                    .filters
                    .iter()
                    .map(|f| f.path.as_str())
                    .filter(|p| !self.subscriptions.contains(*p))
                    .collect();
                let valid = subscribe.filters.iter().all(|f| valid_filter(&f.path));
                let within = self.subscriptions.len() + fresh.len() <= limits.max_subscriptions;
                let denied = match (valid, self.shared.gate.get()) {
                    (true, Some(gate)) => subscribe
                        .filters
                        .iter()
                        .find_map(|f| gate.subscribe(&self.identity, &f.path).err()),
                    _ => None,
                };
                let room = valid
                    && within
                    && denied.is_none()
                    && self
                        .shared
                        .admit_filters(subscribe.filters.iter().map(|f| f.path.as_str()));
                if !room {
                    let why = if !valid {
                        "an invalid topic filter".to_owned()
                    } else if let Some(why) = denied {
                        why
                    } else if !within {
                        format!(
                            "over its limit of {} subscriptions ([broker] max_subscriptions)",
                            limits.max_subscriptions
                        )
                    } else {
                        format!(
                            "the broker holds its limit of {} distinct filters ([broker] max_filters; rumqttd frees them only when `b00t up` restarts)",
                            limits.max_filters
                        )
                    };
                    tracing::warn!(client_id = %self.client_id, identity = %self.identity, "refused a SUBSCRIBE: {why}");
                    let suback = Packet::SubAck(
                        SubAck {
                            pkid: subscribe.pkid,
                            return_codes: vec![
                                SubscribeReasonCode::Failure;
                                subscribe.filters.len()
                            ],
                        },
                        None,
                    );
                    return self
                        .queue(
                            suback,
                            None,
                            Head {
                                kind: 0,
                                qos: 0,
                                pkid: 0,
                            },
                            true,
                        )
                        .await;
                }
                for path in fresh {
                    self.subscriptions.insert(path.to_owned());
                }
            }
            Packet::Unsubscribe(unsubscribe, _) => {
                for filter in &unsubscribe.filters {
                    self.subscriptions.remove(filter);
                }
            }
            Packet::Disconnect(..) => {
                self.queue(packet, None, head, false).await?;
                return Err(ReadEnd::Clean);
            }
            Packet::PingReq(_) | Packet::PubAck(..) | Packet::PubRec(..) | Packet::PubComp(..) => {}
            other => {
                return Err(ReadEnd::Lost(format!(
                    "a packet a client may not send: {other:?}"
                )));
            }
        }
        self.queue(packet, hold, head, false).await
    }

    /// Queues `packet` for the forwarder (or, `direct`, as an answer to the client).
    async fn queue(
        &mut self,
        packet: Packet,
        hold: Option<Hold>,
        head: Head,
        direct: bool,
    ) -> Result<(), ReadEnd> {
        let pending = Pending {
            packet,
            hold,
            head,
            direct,
        };
        self.pending
            .send(pending)
            .await
            .map_err(|_| ReadEnd::Lost("the forwarder stopped".to_owned()))
    }
}

/// Whether `filter` is a valid MQTT topic filter: `#` only as the whole last level, `+`
/// only as a whole level, no NUL, not empty.
fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| {
        if level.contains('#') {
            *level == "#" && i == levels.len() - 1
        } else if level.contains('+') {
            *level == "+"
        } else {
            true
        }
    })
}

/// Hands queued packets to the router in order, each once its hold lets it through.
/// Returns the link so that the connection can publish the will and close it.
async fn forward(
    mut pending: mpsc::Receiver<Pending>,
    mut link_tx: LinkTx,
    direct: mpsc::Sender<Packet>,
    aborted: CancellationToken,
    client_id: String,
) -> LinkTx {
    // The last packet taken: given to the router with `send`, which wakes it for every
    // packet pushed before it.
    let mut held: Option<Packet> = None;
    let mut batched = 0;
    loop {
        let item = match pending.try_recv() {
            Ok(item) => item,
            Err(mpsc::error::TryRecvError::Empty) => {
                if !flush(&mut link_tx, &mut held, &mut batched).await {
                    return link_tx;
                }
                match pending.recv().await {
                    Some(item) => item,
                    None => return link_tx,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let Pending {
            packet,
            hold,
            head,
            direct: to_client,
        } = item;
        if to_client {
            if !flush(&mut link_tx, &mut held, &mut batched).await {
                return link_tx;
            }
            let _ = direct.send(packet).await;
            continue;
        }
        if let Some(mut hold) = hold {
            let verdict = match (&mut hold).now_or_never() {
                Some(verdict) => verdict,
                None => {
                    if !flush(&mut link_tx, &mut held, &mut batched).await {
                        return link_tx;
                    }
                    hold.await
                }
            };
            if let Err(Refusal(why)) = verdict {
                tracing::warn!(%client_id, "a message was refused: {why}");
                match head.qos {
                    1 => {
                        if !flush(&mut link_tx, &mut held, &mut batched).await {
                            return link_tx;
                        }
                        let ack = PubAck {
                            pkid: head.pkid,
                            reason: PubAckReason::Success,
                        };
                        let _ = direct.send(Packet::PubAck(ack, None)).await;
                    }
                    // A QoS 2 exchange cannot be ended without the router: close instead,
                    // and the client sends it again on its next connection.
                    2 => {
                        aborted.cancel();
                        break;
                    }
                    _ => {}
                }
                continue;
            }
        }
        if let Some(previous) = held.replace(packet) {
            link_tx.buffer().push_back(previous);
            batched += 1;
        }
        if batched >= FORWARD_BATCH && !flush(&mut link_tx, &mut held, &mut batched).await {
            return link_tx;
        }
    }
    flush(&mut link_tx, &mut held, &mut batched).await;
    link_tx
}

/// Wakes the router for everything pushed; false when the router is gone.
async fn flush(link_tx: &mut LinkTx, held: &mut Option<Packet>, batched: &mut usize) -> bool {
    *batched = 0;
    match held.take() {
        Some(packet) => link_tx.send(packet).await.is_ok(),
        None => true,
    }
}

/// How the writer stopped.
#[derive(Debug)]
enum WriteEnd {
    /// The router closed the link (it disconnected the client).
    RouterDropped,
    /// Writing to the socket failed.
    Socket(String),
}

/// Writes what the router (and the front door itself) sends the client.
async fn write(
    mut link_rx: LinkRx,
    mut direct: mpsc::Receiver<Packet>,
    mut half: impl AsyncWrite + Unpin,
) -> WriteEnd {
    let codec = V4;
    let mut out = BytesMut::with_capacity(8 * 1024);
    loop {
        let mut unscheduled = false;
        let mut ended = false;
        tokio::select! {
            next = link_rx.next() => match next {
                Ok(Some(n)) => ended |= encode(&codec, n, &mut out, &mut unscheduled),
                Ok(None) => {}
                Err(_) => return WriteEnd::RouterDropped,
            },
            Some(packet) = direct.recv() => {
                let _ = codec.write(packet, &mut out);
            }
        }
        while out.len() < WRITE_BATCH && !ended {
            match link_rx.next().now_or_never() {
                Some(Ok(Some(n))) => ended |= encode(&codec, n, &mut out, &mut unscheduled),
                Some(Ok(None)) | None => break,
                Some(Err(_)) => {
                    ended = true;
                }
            }
        }
        if !out.is_empty() {
            if let Err(e) = half.write_all(&out).await {
                return WriteEnd::Socket(e.to_string());
            }
            out.clear();
        }
        if ended {
            let _ = half.shutdown().await;
            return WriteEnd::RouterDropped;
        }
        if unscheduled && link_rx.wake().await.is_err() {
            return WriteEnd::RouterDropped;
        }
    }
}

/// Encodes one notification; true when the router asks to end the connection.
fn encode(
    codec: &V4,
    notification: Notification,
    out: &mut BytesMut,
    unscheduled: &mut bool,
) -> bool {
    match Option::<Packet>::from(notification) {
        // MQTT 3.1.1 has no DISCONNECT from the server: the connection is closed.
        Some(Packet::Disconnect(..)) => true,
        Some(packet) => {
            if let Err(e) = codec.write(packet, out) {
                tracing::warn!(error = %e, "could not encode a packet for a client");
            }
            false
        }
        None => {
            *unscheduled = true;
            false
        }
    }
}

/// Publishes the will of a client that went without DISCONNECT (the tap sees it first).
async fn publish_will(
    shared: &Shared,
    link_tx: &mut LinkTx,
    client_id: &str,
    identity: &str,
    will: LastWill,
) {
    let topic = String::from_utf8_lossy(&will.topic).into_owned();
    if let Some(tap) = shared.tap.get() {
        let hold = tap.publish(&Tapped {
            client_id,
            identity,
            topic: &topic,
            payload: &will.message,
            qos: 0,
            retain: will.retain,
        });
        if let Some(hold) = hold {
            if let Err(Refusal(why)) = hold.await {
                tracing::warn!(%client_id, %identity, "the will was refused: {why}");
                return;
            }
        }
    }
    let publish = Publish::new(Bytes::from(topic), will.message, will.retain);
    if link_tx.send(Packet::Publish(publish, None)).await.is_err() {
        tracing::debug!(%client_id, "the router was gone before the will could be published");
    }
}

/// Closes the link; `tell_router` false when the router already dropped it.
async fn close_link(mut link_tx: LinkTx, tell_router: bool) {
    if tell_router {
        let disconnect = Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
        };
        let _ = link_tx.send(Packet::Disconnect(disconnect, None)).await;
    }
}

async fn refuse(
    stream: &mut (impl AsyncWrite + Unpin),
    code: ConnectReturnCode,
) -> std::io::Result<()> {
    let connack = Packet::ConnAck(
        ConnAck {
            session_present: false,
            code,
        },
        None,
    );
    write_packet(stream, connack).await?;
    stream.shutdown().await
}

async fn write_packet(
    stream: &mut (impl AsyncWrite + Unpin),
    packet: Packet,
) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    V4.write(packet, &mut out)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    stream.write_all(&out).await
}

/// Reads one packet (the CONNECT) from a fresh connection.
async fn read_packet(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
    max_packet: usize,
) -> Result<Packet, String> {
    let mut codec = V4;
    loop {
        // Anything but CONNECT first is not MQTT (an HTTP request, a scan): close at once
        // instead of waiting for a length that its bytes happen to spell.
        if buf.first().is_some_and(|first| *first != 0x10) {
            return Err("the first packet is not CONNECT".to_owned());
        }
        match codec.read_mut(buf, max_packet) {
            Ok(packet) => return Ok(packet),
            Err(CodecError::InsufficientBytes(required)) => buf.reserve(required),
            Err(e) => return Err(e.to_string()),
        }
        match stream.read_buf(buf).await {
            Ok(0) => return Err("closed".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_filters() {
        for good in [
            "#",
            "a/#",
            "+/b",
            "+/status",
            "a/+/c/#",
            "b00t.echo.echo/task",
        ] {
            assert!(valid_filter(good), "{good}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "#/a", "a\0", "b00t.+/status"] {
            assert!(!valid_filter(bad), "{bad:?}");
        }
    }

    #[test]
    fn client_ids() {
        let shared = test_shared();
        let open = Auth::Open;
        let admit = |id: &str, clean: bool, login: &Option<Login>, auth: Auth| {
            admit(id, clean, login, &None, auth, &shared)
        };
        let (id, identity) = admit("b00t-cli-1", true, &None, open).unwrap();
        assert_eq!((id.as_str(), &*identity), ("b00t-cli-1", ANONYMOUS));
        assert!(admit("", true, &None, open)
            .unwrap()
            .0
            .starts_with("b00t-anon-"));
        for bad in ["a/b", "a+", "#", "$SYS", "a\nb"] {
            let (code, _) = admit(bad, true, &None, open).unwrap_err();
            assert_eq!(code, ConnectReturnCode::ClientIdentifierNotValid, "{bad:?}");
        }
        assert!(admit("", false, &None, open).is_err());
        assert!(admit(&"x".repeat(300), true, &None, open).is_err());

        // Credentials are checked on every listener; none is refused on a guarded one.
        shared.credentials.set("family", "s3cret");
        let login = |user: &str, password: &str| {
            Some(Login {
                username: user.to_owned(),
                password: password.to_owned(),
            })
        };
        let (_, identity) =
            admit("b00t-agent-family", true, &login("family", "s3cret"), open).unwrap();
        assert_eq!(&*identity, "family");
        let (code, _) = admit("x", true, &login("family", "nope"), open).unwrap_err();
        assert_eq!(code, ConnectReturnCode::BadUserNamePassword);
        let (code, _) = admit("x", true, &None, Auth::Guarded).unwrap_err();
        assert_eq!(code, ConnectReturnCode::BadUserNamePassword);
    }

    fn test_shared() -> Shared {
        use std::sync::{Mutex, OnceLock};
        use tokio::sync::Semaphore;
        let limits = crate::BrokerSettings::new("127.0.0.1:0".parse().unwrap(), 8, 1024).limits();
        Shared {
            links: Arc::new(|_: &str, _: bool| {
                Err(Box::new(rumqttd::local::LinkError::ConnectionAck(
                    String::new(),
                )))
            }),
            limits,
            tap: OnceLock::new(),
            gate: OnceLock::new(),
            credentials: crate::Credentials::default(),
            sessions: Default::default(),
            permits: Arc::new(Semaphore::new(8)),
            filters: Mutex::default(),
        }
    }
}
