//! The connection limit (`max_connections`): each open connection holds a place from accept to
//! close; a connection accepted while every place is taken is closed at once, before TLS or
//! HTTP, so that a flood of idle or slow connections cannot take the process's file
//! descriptors and memory. Clients see the connection closed and retry (every HTTP client
//! does for a connection closed before its request was read).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The places of open connections.
#[derive(Clone)]
pub struct ConnectionLimit {
    places: Arc<Semaphore>,
    limit: usize,
    /// When a refusal was last logged: at most one warning every ten seconds.
    warned: Arc<Mutex<Option<Instant>>>,
}

impl ConnectionLimit {
    pub fn new(limit: usize) -> Self {
        Self { places: Arc::new(Semaphore::new(limit)), limit, warned: Arc::new(Mutex::new(None)) }
    }

    /// A place for a connection just accepted, or `None` when every place is taken.
    fn take(&self, peer: Option<SocketAddr>) -> Option<OwnedSemaphorePermit> {
        let place = Arc::clone(&self.places).try_acquire_owned().ok();
        if place.is_none() {
            let mut warned = self.warned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                *warned = Some(Instant::now());
                tracing::warn!(
                    limit = self.limit,
                    peer = ?peer,
                    "a connection was closed at once: max_connections are open (raise it, and the open-file limit, if clients need more)"
                );
            }
        }
        place
    }
}

/// A connection and the place it holds until it is dropped.
pub struct Counted<S> {
    stream: S,
    _place: OwnedSemaphorePermit,
}

impl<S> Counted<S> {
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Plain HTTP's listener: a connection that finds no place is closed as it is accepted.
pub struct LimitedListener {
    inner: TcpListener,
    limit: ConnectionLimit,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, limit: ConnectionLimit) -> Self {
        Self { inner, limit }
    }
}

impl Listener for LimitedListener {
    type Io = Counted<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // axum's accept waits out errors such as running out of file descriptors.
            let (stream, peer) = Listener::accept(&mut self.inner).await;
            if let Some(place) = self.limit.take(Some(peer)) {
                return (Counted { stream, _place: place }, peer);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// HTTPS's first acceptor (before `inner`, then TLS): a connection that finds no place is
/// closed before its handshake.
#[derive(Clone)]
pub struct LimitAcceptor<A> {
    inner: A,
    limit: ConnectionLimit,
}

impl<A> LimitAcceptor<A> {
    pub fn new(inner: A, limit: ConnectionLimit) -> Self {
        Self { inner, limit }
    }
}

impl<A, S> axum_server::accept::Accept<TcpStream, S> for LimitAcceptor<A>
where
    A: axum_server::accept::Accept<TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let Some(place) = self.limit.take(stream.peer_addr().ok()) else {
            drop(stream);
            return Box::pin(std::future::ready(Err(io::Error::other("max_connections are open"))));
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((Counted { stream, _place: place }, service))
        })
    }
}
