//! Serving HTTP/1.1 connections within bounds: a client has a limited time
//! to send a request's headers, a keep-alive connection a limited time to
//! wait for its next request, the number of connections is capped below the
//! open-file limit, and shutdown waits a limited time for requests in flight.
//!
//! Each connection is in one of three phases. *Head*: from connecting, or
//! from the first byte of a next request, until its headers are read
//! (bounded by the header-read timeout). *Busy*: a request is being answered
//! (no bound: handlers and streamed answers take the time they take).
//! *Idle*: an answer has been sent and no byte of the next request has come
//! (bounded by the idle timeout). A connection over the cap closes the one
//! that has waited longest in *Head*, else in *Idle*; when every connection
//! is *Busy*, the newcomer is answered 503 and closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::Service;

/// File descriptors kept for everything but client connections when the cap
/// is derived from the open-file limit: the database pools (up to 25
/// PostgreSQL connections, or SQLite's 9 connections with their database,
/// WAL and shared-memory files), the listener, standard streams, the
/// runtime's own descriptors, and a connection accepted over the cap.
pub const RESERVED_DESCRIPTORS: usize = 128;

/// The bounds connections are served within.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub header_read: Duration,
    pub idle: Duration,
    pub max_connections: usize,
    pub shutdown: Duration,
}

impl Bounds {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Self {
            header_read: Duration::from_secs(settings.header_read_timeout_seconds),
            idle: Duration::from_secs(settings.idle_timeout_seconds),
            max_connections: match settings.max_connections {
                0 => derived_max_connections(),
                configured => configured,
            },
            shutdown: Duration::from_secs(settings.shutdown_timeout_seconds),
        }
    }
}

/// The open-file limit less [`RESERVED_DESCRIPTORS`], at least 16.
pub fn derived_max_connections() -> usize {
    open_file_limit()
        .saturating_sub(RESERVED_DESCRIPTORS)
        .max(16)
}

fn open_file_limit() -> usize {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{Resource, getrlimit};
        if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) {
            return usize::try_from(soft).unwrap_or(usize::MAX);
        }
    }
    1024
}

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;
/// Chosen to make room; closes at its next turn.
const EVICTED: u8 = 3;

/// What the server knows of one connection, shared by its reader, its
/// requests and the accept loop.
struct Connection {
    phase: AtomicU8,
    /// When the phase began, in milliseconds since the server started.
    since: AtomicU64,
    /// Requests whose answers have not been sent yet.
    in_flight: AtomicUsize,
    evicted: Notify,
    started: Instant,
}

impl Connection {
    fn new(started: Instant) -> Self {
        let connection = Self {
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            evicted: Notify::new(),
            started,
        };
        connection.enter(HEAD);
        connection
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// Bytes came in: the first of a next request ends an idle wait.
    fn read_some(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.enter(HEAD);
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.enter(BUSY);
        InFlight(self.clone())
    }

    /// When this connection's current wait runs out, if it is waiting.
    fn deadline(&self, bounds: &Bounds) -> Option<Instant> {
        let limit = match self.phase.load(Ordering::Acquire) {
            HEAD => bounds.header_read,
            IDLE => bounds.idle,
            _ => return None,
        };
        let since = Duration::from_millis(self.since.load(Ordering::Relaxed));
        Some(self.started + since + limit)
    }

    /// Completes when the connection has waited too long, or was evicted.
    async fn expired(&self, bounds: &Bounds) {
        // Looked at again at least every shorter bound: a phase that began
        // since cannot end before that.
        let recheck = bounds.header_read.min(bounds.idle);
        loop {
            let next_look = Instant::now() + recheck;
            let wake = self
                .deadline(bounds)
                .map_or(next_look, |deadline| deadline.min(next_look));
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.evicted.notified() => return,
            }
            if self
                .deadline(bounds)
                .is_some_and(|deadline| deadline <= Instant::now())
            {
                return;
            }
        }
    }
}

/// One request being answered; its answer's body carries it until sent.
struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.enter(IDLE);
        }
    }
}

/// An answer's body, which marks its request answered when dropped (hyper
/// drops it once it has written the last frame, or when the client goes).
struct Answer {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Answer {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket, which tells the connection when bytes come in.
struct Watched {
    stream: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
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

/// The open connections, by number.
#[derive(Default)]
struct Open {
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Open {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for one more: evicts the connection that has waited
    /// longest for headers, else the longest idle one. False when every
    /// connection is answering a request.
    fn make_room(&self) -> bool {
        let open = self.lock();
        let waiting = |phase: u8| {
            open.values()
                .filter(|connection| connection.phase.load(Ordering::Acquire) == phase)
                .min_by_key(|connection| connection.since.load(Ordering::Relaxed))
        };
        match waiting(HEAD).or_else(|| waiting(IDLE)) {
            Some(connection) => {
                connection.phase.store(EVICTED, Ordering::Release);
                connection.evicted.notify_one();
                true
            }
            None => false,
        }
    }
}

/// How long a newcomer over the cap waits for the connection it evicted
/// to close.
const EVICTION_WAIT: Duration = Duration::from_millis(100);

/// The answer to a connection over the cap, written without waiting.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json; charset=utf-8\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 56\r\n\r\n\
{\"Message\":\"the server has too many connections, retry\"}";

/// Serves `router` on `listener` within `bounds` until `shutdown`
/// completes; then answers the requests in flight for up to
/// `bounds.shutdown` and drops the connections still open.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    bounds: Bounds,
    shutdown: impl Future<Output = ()>,
) {
    let started = Instant::now();
    let open = Arc::new(Open::default());
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut next_id = 0u64;
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_failed(&error).await;
                continue;
            }
        };
        if tasks.len() >= bounds.max_connections {
            if open.make_room() {
                // The evicted connection's descriptor is free once its task
                // ends: wait for that (briefly), so that a burst of
                // newcomers cannot run the process out of descriptors.
                let _ = tokio::time::timeout(EVICTION_WAIT, tasks.join_next()).await;
            } else {
                // Every connection is answering: this one is told so and closed.
                let _ = stream.try_write(TOO_MANY);
                metrics::counter!("http_connections_refused_total").increment(1);
                continue;
            }
        }
        send_without_delay(&stream);
        next_id += 1;
        let connection = Arc::new(Connection::new(started));
        open.lock().insert(next_id, connection.clone());
        let task = serve_connection(stream, remote, connection, router.clone(), bounds, {
            let mut stopping = stopping.clone();
            async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            }
        });
        let (open, id) = (open.clone(), next_id);
        tasks.spawn(async move {
            task.await;
            open.lock().remove(&id);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let finished = tokio::time::timeout(bounds.shutdown, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown deadline passed: dropping the connections still open"
        );
        tasks.shutdown().await;
    }
}

/// Serves one connection until it closes, waits too long, is evicted, or
/// (after `stopping`) has answered the request in flight.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    connection: Arc<Connection>,
    router: Router,
    bounds: Bounds,
    stopping: impl Future<Output = ()>,
) {
    let service = {
        let connection = connection.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = connection.request_started();
            request.extensions_mut().insert(ConnectInfo(remote));
            let mut router = router.clone();
            async move {
                let response = match router.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|body| Answer {
                    body,
                    _in_flight: in_flight,
                }))
            }
        })
    };
    let io = TokioIo::new(Watched {
        stream,
        connection: connection.clone(),
    });
    let served = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let mut served = pin!(served);
    let mut stopping = pin!(stopping);
    let mut stopped = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = connection.expired(&bounds) => {
                tracing::debug!("connection closed: waited too long or evicted");
                return;
            }
            () = &mut stopping, if !stopped => {
                stopped = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Turns Nagle's algorithm off on an accepted connection. With it on, a
/// streamed answer's last small write (its closing chunk) waited for the
/// client's delayed ACK: about 40 ms added to some two in five cold reads of
/// a busy month (bench/README.md, "TCP_NODELAY").
fn send_without_delay(connection: &TcpStream) {
    if let Err(error) = connection.set_nodelay(true) {
        tracing::warn!(%error, "could not set TCP_NODELAY on a connection");
    }
}

/// An accept that failed: a connection gone before it was taken is
/// skipped; out of descriptors or memory, the loop pauses briefly rather
/// than spin.
async fn accept_failed(error: &io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => {}
        _ => {
            tracing::warn!(%error, "accepting a connection failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _client = TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap(), "off until the server says");
        send_without_delay(&accepted);
        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn the_cap_leaves_room_below_the_open_file_limit() {
        let derived = derived_max_connections();
        assert!(derived >= 16);
        assert!(derived + RESERVED_DESCRIPTORS <= open_file_limit().max(16 + RESERVED_DESCRIPTORS));
    }

    #[test]
    fn the_refusal_is_a_complete_json_answer() {
        let text = std::str::from_utf8(TOO_MANY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(
            body["Message"]
                .as_str()
                .unwrap()
                .contains("too many connections")
        );
    }
}
