//! [`BusServer`]: the rmcp server handler. Tools and resources each ask the bus through
//! one shared [`Requester`]; a call's cancellation, or the server's shutdown, stops its
//! wait.

use std::sync::Arc;

use b00t_bus::Requester;
use b00t_proto::Address;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::ErrorData;
use tokio_util::sync::CancellationToken;

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
    requester: Requester,
    resolve_datum: DatumResolver,
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
            requester,
            resolve_datum,
            shutdown,
        }
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
