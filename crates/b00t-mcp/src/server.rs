//! [`BusServer`]: the rmcp server handler. Tools and resources each ask the bus through
//! one shared [`Requester`]; a call's cancellation, or the server's shutdown, stops its
//! wait.

use std::sync::Arc;

use b00t_bus::Requester;
use b00t_proto::Address;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ResourceUpdatedNotificationParam, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, RoleServer, SubscriptionContext};
use rmcp::ErrorData;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::cards::CardChanges;
use crate::{resources, tools};

/// Where the installer installs a datum the client named: its address
/// (`b00t.installer.<type>`) and the datum's id. The caller owns the catalog.
#[derive(Clone, Debug)]
pub struct InstallTarget {
    pub address: Address,
    pub datum: String,
}

/// Names a datum's installer skill, or says why it cannot (no such datum, a type the
/// installer does not take), in words for the client.
pub type DatumResolver = Arc<dyn Fn(&str) -> Result<InstallTarget, String> + Send + Sync>;

/// The bus as an MCP server; cheap to clone (one per HTTP session).
#[derive(Clone)]
pub struct BusServer {
    /// The session's `resources/subscribe` subscriptions (clients before 2026-07-28).
    legacy: Legacy,
    requester: Requester,
    resolve_datum: DatumResolver,
    /// Cards published on the bus, for clients that listen.
    cards: CardChanges,
    /// Cancelled when serving stops: every wait on the bus ends.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for BusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusServer")
            .field("reply_base", &self.requester.reply_base())
            .finish_non_exhaustive()
    }
}

impl BusServer {
    /// A server asking through `requester`, naming datums with `resolve_datum`.
    pub fn new(
        requester: Requester,
        resolve_datum: DatumResolver,
        shutdown: CancellationToken,
    ) -> BusServer {
        BusServer {
            legacy: Legacy::default(),
            requester,
            resolve_datum,
            cards: CardChanges::none(),
            shutdown,
        }
    }

    /// Tells listening clients (`subscriptions/listen`) when cards change.
    pub fn with_card_changes(mut self, cards: CardChanges) -> BusServer {
        self.cards = cards;
        self
    }

    fn cancelled(&self, call: &CancellationToken) -> CancellationToken {
        let token = self.shutdown.child_token();
        let (call, child) = (call.clone(), token.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = call.cancelled() => child.cancel(),
                () = child.cancelled() => {}
            }
        });
        token
    }
}

impl rmcp::ServerHandler for BusServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_resources_list_changed()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("b00t", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The b00t bus: send_task reaches any agent's skill (b00t.<agent>.<skill>); agents lists them; install, deploy and ask_container reach the installer, the deployer and the container CI agents. The agent cards are resources under b00t://agents.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| tools::Progress {
                peer: context.peer.clone(),
                token,
            });
        let cancelled = self.cancelled(&context.ct);
        let call = tools::Context {
            requester: &self.requester,
            resolve_datum: &self.resolve_datum,
            progress,
            cancelled: cancelled.clone(),
        };
        let result = tools::call(&request.name, request.arguments, call).await;
        cancelled.cancel();
        match result {
            Some(result) => Ok(result.into()),
            None => Err(ErrorData::invalid_params(
                format!(
                    "no tool `{}`: this server has send_task, agents, install, deploy and ask_container",
                    crate::args::printable(&request.name)
                ),
                None,
            )),
        }
    }

    /// Resource updates of agent cards (`b00t://agents`, `b00t://agents/<name>`) and the
    /// resource list's changes; nothing else is offered.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| resources::parse(uri).is_ok())
            .cloned()
            .collect();
        let mut accepted = SubscriptionFilter::builder();
        if requested.resources_list_changed == Some(true) {
            accepted = accepted.resources_list_changed();
        }
        if !uris.is_empty() {
            accepted = accepted.resource_subscriptions(uris);
        }
        Some(accepted.build())
    }

    /// A client before 2026-07-28 (`resources/subscribe`): updates of `request.uri` go
    /// to this session's peer until it unsubscribes or the session ends.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resources::parse(&request.uri).map_err(|e| ErrorData::resource_not_found(e, None))?;
        let stop = self
            .legacy
            .start(&request.uri, &self.shutdown)
            .map_err(|e| ErrorData::invalid_params(e, None))?;
        let Some(stop) = stop else {
            return Ok(()); // Already subscribed.
        };
        let mut changes = self.cards.subscribe();
        let peer = context.peer.clone();
        let uri = request.uri;
        tokio::spawn(async move {
            loop {
                let change = tokio::select! {
                    () = stop.cancelled() => break,
                    change = changes.recv() => change,
                };
                let updated = match change {
                    Ok(change) => resources::names_agent(&uri, &change.agent),
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => break,
                };
                if updated
                    && peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri.clone()))
                        .await
                        .is_err()
                {
                    break; // The session is gone.
                }
            }
        });
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.legacy.stop(&request.uri);
        Ok(())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.cards.subscribe();
        let accepted = context.accepted().clone();
        let uris = accepted.resource_subscriptions.unwrap_or_default();
        let list = accepted.resources_list_changed == Some(true);
        let sink = context.sink().clone();
        loop {
            let change = tokio::select! {
                () = context.cancelled() => return Ok(()),
                () = self.shutdown.cancelled() => return Ok(()),
                change = changes.recv() => change,
            };
            let (updated, list_changed): (Vec<&String>, bool) = match &change {
                Ok(change) => (
                    uris.iter()
                        .filter(|uri| resources::names_agent(uri, &change.agent))
                        .collect(),
                    change.new,
                ),
                // Fell behind: anything may have changed.
                Err(RecvError::Lagged(_)) => (uris.iter().collect(), true),
                Err(RecvError::Closed) => return Ok(()),
            };
            for uri in updated {
                if sink.notify_resource_updated(uri.clone()).await.is_err() {
                    return Ok(());
                }
            }
            if list && list_changed && sink.notify_resource_list_changed().await.is_err() {
                return Ok(());
            }
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cancelled = self.cancelled(&context.ct);
        let cards = tools::agent_cards(&self.requester, &cancelled).await;
        cancelled.cancel();
        let cards = cards.map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(ListResourcesResult::with_all_items(resources::list(&cards)))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let named =
            resources::parse(&request.uri).map_err(|e| ErrorData::resource_not_found(e, None))?;
        let cancelled = self.cancelled(&context.ct);
        let cards = tools::agent_cards(&self.requester, &cancelled).await;
        cancelled.cancel();
        let cards = cards.map_err(|e| ErrorData::internal_error(e, None))?;
        let contents = resources::read(&request.uri, &named, cards).ok_or_else(|| {
            ErrorData::resource_not_found(
                format!(
                    "no agent `{}` on the bus: the `agents` tool, or `{}`, lists them",
                    crate::args::printable(&request.uri),
                    resources::ALL_AGENTS
                ),
                None,
            )
        })?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

/// The legacy subscriptions of one session: a token per URI, cancelled by
/// `resources/unsubscribe` or when the server stops. A clone is a new session's, empty.
#[derive(Debug, Default)]
struct Legacy(std::sync::Mutex<std::collections::HashMap<String, CancellationToken>>);

/// The most URIs one session may subscribe to.
const MAX_LEGACY_SUBSCRIPTIONS: usize = 256;

impl Clone for Legacy {
    fn clone(&self) -> Legacy {
        Legacy::default()
    }
}

impl Legacy {
    /// A token for a new subscription to `uri`; `None` when it exists; an error when
    /// the session holds [`MAX_LEGACY_SUBSCRIPTIONS`] already.
    fn start(
        &self,
        uri: &str,
        shutdown: &CancellationToken,
    ) -> Result<Option<CancellationToken>, String> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, token| !token.is_cancelled());
        if map.contains_key(uri) {
            return Ok(None);
        }
        if map.len() >= MAX_LEGACY_SUBSCRIPTIONS {
            return Err(format!(
                "this session already subscribes to {MAX_LEGACY_SUBSCRIPTIONS} resources: unsubscribe from some first"
            ));
        }
        let token = shutdown.child_token();
        map.insert(uri.to_owned(), token.clone());
        Ok(Some(token))
    }

    fn stop(&self, uri: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(token) = map.remove(uri) {
            token.cancel();
        }
    }
}

impl Drop for Legacy {
    /// The session ended: its subscriptions end with it.
    fn drop(&mut self) {
        let map = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        for token in map.values() {
            token.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_subscriptions_are_per_session_and_bounded() {
        let shutdown = CancellationToken::new();
        let legacy = Legacy::default();
        let first = legacy
            .start("b00t://agents/echo", &shutdown)
            .unwrap()
            .unwrap();
        assert_eq!(legacy.start("b00t://agents/echo", &shutdown), Ok(None));
        assert!(
            legacy.clone().0.lock().unwrap().is_empty(),
            "a new session's"
        );
        legacy.stop("b00t://agents/echo");
        assert!(first.is_cancelled());
        for n in 0..MAX_LEGACY_SUBSCRIPTIONS {
            assert!(legacy
                .start(&format!("b00t://agents/a{n}"), &shutdown)
                .is_ok());
        }
        let full = legacy
            .start("b00t://agents/one-more", &shutdown)
            .unwrap_err();
        assert!(full.contains("already subscribes to 256"), "{full}");
        let held = legacy.start("b00t://agents/a0", &shutdown);
        assert_eq!(held, Ok(None), "an existing one is still fine");
        let token = legacy.0.lock().unwrap()["b00t://agents/a1"].clone();
        drop(legacy);
        assert!(token.is_cancelled(), "the session's end ends them");
    }
}
