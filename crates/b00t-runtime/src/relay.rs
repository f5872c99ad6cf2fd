//! The Ollama relay: Ollama listens on loopback by default, which a container cannot
//! reach. When `OLLAMA_BASE_URL` points at this machine's loopback and group agents run in
//! Docker, `up` listens on the Docker bridge's gateway address (never on an outside
//! network) and forwards each connection to Ollama, byte for byte. Containers are given
//! `http://host.docker.internal:<relay port>`. A URL that is not loopback needs no relay
//! and is passed through unchanged.

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::RuntimeError;

/// An `http://host:port/path` URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, RuntimeError> {
        let bad = |why: &str| RuntimeError::OllamaUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it has no scheme; write it as http://HOST:PORT"))?;
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("only http:// and https:// are supported")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_owned()),
            None => (rest, String::new()),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad("its port is not a number from 1 to 65535"))?;
                (host, port)
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad("it has no host or a zero port"));
        }
        Ok(HttpUrl {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// Whether the host is this machine's loopback, which containers cannot reach.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// The same URL on another host and port.
    pub fn with_authority(&self, host: &str, port: u16) -> String {
        format!("{}://{host}:{port}{}", self.scheme, self.path)
    }
}

/// Whether `host` (a name or an address) is this machine's loopback, which containers
/// cannot reach.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Listens on `listen` and forwards every connection to `target` until `shutdown`.
/// Returns the address it listens on.
pub async fn start(
    listen: SocketAddr,
    target: HttpUrl,
    shutdown: CancellationToken,
) -> Result<SocketAddr, RuntimeError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| RuntimeError::Relay {
            addr: listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| RuntimeError::Relay {
            addr: listen,
            source,
        })?;
    let target_addr = format!("{}:{}", target.host, target.port);
    tracing::info!(%addr, target = %target_addr, "Ollama relay for containers listening");
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (mut inbound, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "Ollama relay: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let target_addr = target_addr.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let mut outbound = match TcpStream::connect(&target_addr).await {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!(%peer, target = %target_addr, error = %e, "Ollama relay: Ollama is not reachable");
                        return;
                    }
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                }
            });
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://localhost:11434").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 11434, "")
        );
        assert!(u.is_loopback());
        assert_eq!(
            u.with_authority("host.docker.internal", 4000),
            "http://host.docker.internal:4000"
        );
        let u = HttpUrl::parse("http://10.0.0.5/ollama/").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/ollama"));
        assert!(!u.is_loopback());
        assert!(HttpUrl::parse("http://127.0.0.1:1").unwrap().is_loopback());
        assert!(HttpUrl::parse("http://[::1]:11434").unwrap().is_loopback());
        for bad in [
            "localhost:11434",
            "ftp://x",
            "http://:80",
            "http://h:0",
            "http://h:x",
            "http://u:p@h:1",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn forwards_bytes_both_ways() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let stop = CancellationToken::new();
        let target = HttpUrl::parse(&format!("http://127.0.0.1:{}", echo_addr.port())).unwrap();
        let addr = start("127.0.0.1:0".parse().unwrap(), target, stop.clone())
            .await
            .unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        stop.cancel();
    }
}
