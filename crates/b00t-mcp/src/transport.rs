//! The transports: stdio (the client starts `b00t mcp serve` and speaks JSON-RPC on its
//! stdin and stdout; nothing else is written to stdout) and streamable HTTP on a listener
//! the caller bound (one MCP session per client, rmcp's session manager).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{BusServer, McpError};

/// How long open HTTP connections get to finish once serving stops.
const DRAIN: Duration = Duration::from_secs(2);

/// Serves one MCP session on stdin and stdout until the client closes it or `shutdown`.
pub async fn serve_stdio(server: BusServer, shutdown: CancellationToken) -> Result<(), McpError> {
    let running = server
        .serve_with_ct(rmcp::transport::io::stdio_pipes(), shutdown.child_token())
        .await
        .map_err(|e| McpError::Start {
            transport: "stdio",
            detail: e.to_string(),
        })?;
    let _ = running.waiting().await;
    Ok(())
}

/// Serves streamable HTTP (the MCP endpoint at `/mcp`, and `/`) on `listener` until
/// `shutdown`. `allowed_hosts` are the `Host` values accepted (DNS rebinding defence).
pub async fn serve_http(
    server: BusServer,
    listener: TcpListener,
    allowed_hosts: Vec<String>,
    shutdown: CancellationToken,
) -> Result<(), McpError> {
    let address = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts)
        .with_cancellation_token(shutdown.child_token());
    let service = Arc::new(StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    ));
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_transient(&e) => {
                    tracing::warn!("accepting an MCP HTTP connection on {address} failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(source) => return Err(McpError::Listen { address, source }),
            },
            () = shutdown.cancelled() => break,
        };
        let service = service.clone();
        let stop = shutdown.clone();
        connections.spawn(async move {
            let handler = service_fn(move |request| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(service.handle(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler);
            tokio::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => if let Err(e) = served {
                    tracing::debug!("MCP HTTP connection from {peer}: {e}");
                },
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, connection).await;
                }
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(DRAIN, connections.wait()).await;
    Ok(())
}

/// Accept errors that pass (a connection reset before accept, too many open files).
fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}
