//! The byte streams a client connection comes on: TCP from anyone, and a Unix socket in
//! the state folder (the local door) from the runtime's own clients in its own process.
//! The front door serves both alike: same handshake, limits, gate and tap.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A connected stream that splits into halves the reader and the writer own.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    type Read: AsyncRead + Unpin + Send + 'static;
    type Write: AsyncWrite + Unpin + Send + 'static;
    fn into_halves(self) -> (Self::Read, Self::Write);
}

impl Stream for TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;
    fn into_halves(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

impl Stream for UnixStream {
    type Read = tokio::net::unix::OwnedReadHalf;
    type Write = tokio::net::unix::OwnedWriteHalf;
    fn into_halves(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

/// A listening socket the front door accepts connections on.
pub(crate) trait Listener: Send + 'static {
    type Stream: Stream;
    /// Which door this is, for the log.
    const DOOR: &'static str;
    /// The next connection, ready to serve, and who is at the other end.
    fn next(&self) -> impl Future<Output = std::io::Result<(Self::Stream, Peer)>> + Send;
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    const DOOR: &'static str = "the TCP listener";
    async fn next(&self) -> std::io::Result<(TcpStream, Peer)> {
        let (stream, peer) = self.accept().await?;
        // Without it, Nagle's algorithm holds small replies for ~40 ms.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        Ok((stream, Peer::Tcp(peer)))
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    const DOOR: &'static str = "the local door";
    async fn next(&self) -> std::io::Result<(UnixStream, Peer)> {
        let (stream, _) = self.accept().await?;
        Ok((stream, Peer::Local))
    }
}

/// Who is at the other end, for the log.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Peer {
    Tcp(SocketAddr),
    /// A client on the local door: the runtime's own process.
    Local,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Local => f.write_str("the local door"),
        }
    }
}
