//! The accept loop: every connection is bounded in time and in number, and
//! optionally wrapped in TLS.
//!
//! `axum::serve` keeps a connection open for as long as the client likes: a
//! half-sent request head, a stalled body or an idle keep-alive socket each
//! hold a file descriptor for minutes, and enough of them starve the process
//! until even `/healthz` goes unanswered. Here one sweeper task looks at
//! every open connection a few times per timeout and closes those whose
//! request head is late or that sat idle too long, and the loop stops
//! accepting while [`ServeOptions::max_connections`] are open (new
//! connections wait in the kernel's backlog, costing us no descriptor),
//! logging that once per episode rather than once per client.
//!
//! The per-request cost is a few atomic operations: no timer per connection
//! or request, and a connection task waits for the sweeper's commands with
//! an atomic load, not a lock shared with every other connection.
//!
//! Hyper's own `header_read_timeout` is not used: in hyper 1.x its timer
//! starts as soon as an HTTP/1 connection waits for the next request, so it
//! would also close idle keep-alive connections, making a separate idle
//! timeout impossible. The sweeper instead starts the header clock at the
//! first byte of a request and the idle clock when the last response is
//! done. Hyper answers nothing on a header timeout either way (it cannot:
//! the request is not parsed), so the connection is simply closed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// Limits on connections. The defaults suit a server reached directly by
/// clients; behind a proxy that pools connections they can stay as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a client may take to send a request's head once it has
    /// sent its first byte; then the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a request body may stall between two pieces; then the
    /// request is answered 408 `request_timeout` and the connection closed.
    pub request_body_timeout: Duration,
    /// How long a connection may sit with no request in flight; then it is
    /// closed.
    pub idle_timeout: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Serves `app` on `listener` with the default [`ServeOptions`] until
/// `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, ServeOptions::default()).await
}

/// Serves `app` on `listener` within `options` until `shutdown` resolves;
/// then stops accepting, lets idle connections go, and waits for in-flight
/// requests to finish. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    run(listener, app, shutdown, options, None).await
}

/// [`serve_with`] over TLS: each connection first completes a handshake
/// with `tls`, within the header timeout, or is closed.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    run(listener, app, shutdown, options, Some(TlsAcceptor::from(tls))).await
}

async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    let cap = options.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry::default());
    let sweeper = tokio::spawn(Arc::clone(&registry).sweep(options));
    let builder = Arc::new(connection_builder());
    let mut at_cap = false;
    tokio::pin!(shutdown);
    loop {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                // The episode ends once a tenth of the cap is free again, so
                // a server hovering at its cap logs once, not on every accept.
                if at_cap && permits.available_permits() >= (cap / 10).max(1) {
                    at_cap = false;
                }
                permit
            }
            Err(_) => {
                if !at_cap {
                    at_cap = true;
                    tracing::warn!(
                        max_connections = cap,
                        "connection cap reached: new connections wait until others close; \
                         raise max_connections (KEYWARD_MAX_CONNECTIONS) if this is normal load"
                    );
                }
                tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    drop(permit);
                    if !is_connection_error(&error) {
                        // Out of descriptors, most likely: back off rather than spin.
                        tracing::error!(%error, "cannot accept connections; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection =
            Connection { builder: Arc::clone(&builder), registry: Arc::clone(&registry), app: app.clone() };
        tokio::spawn(connection.serve(stream, remote, tls.clone(), options, permit));
    }
    drop(listener);
    registry.drain();
    // Every connection holds a permit until it ends.
    let _ = permits.acquire_many(cap as u32).await;
    sweeper.abort();
    Ok(())
}

/// The HTTP/1.1 and HTTP/2 connection settings every connection shares.
fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
    // Pings find dead HTTP/2 peers that never close; an idle live peer is
    // closed by the sweeper like any other.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// What serving one accepted connection needs.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    registry: Arc<Registry>,
    app: Router,
}

impl Connection {
    /// Serves the connection (after its TLS handshake, when there is TLS),
    /// then gives its permit back.
    async fn serve(
        self,
        stream: tokio::net::TcpStream,
        remote: std::net::SocketAddr,
        tls: Option<TlsAcceptor>,
        options: ServeOptions,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let Self { builder, registry, app } = self;
        match tls {
            None => serve_connection(&builder, &registry, stream, remote, app, options).await,
            Some(acceptor) => {
                // The handshake is bounded like a request head: a client
                // that opens a socket and says nothing holds it no longer.
                match tokio::time::timeout(options.header_read_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(&builder, &registry, stream, remote, app, options).await,
                    Ok(Err(error)) => tracing::debug!(%remote, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
            }
        }
        drop(permit);
    }
}

/// Errors that concern one connection, not the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

async fn serve_connection<S>(
    builder: &auto::Builder<TokioExecutor>,
    registry: &Arc<Registry>,
    stream: S,
    remote: SocketAddr,
    app: Router,
    options: ServeOptions,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new(Arc::clone(&registry.clock)));
    let _registered = registry.register(&activity);
    let io = TokioIo::new(Watched { inner: stream, activity: Arc::clone(&activity) });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = InFlight::begin(&activity);
            let mut request = request.map(|body| Body::new(StallTimeout::new(body, options.request_body_timeout)));
            request.extensions_mut().insert(ConnectInfo(remote));
            host_from_authority(&mut request);
            let response = tower::ServiceExt::oneshot(app.clone(), request);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        })
    };
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    // Commands come from the sweeper and from shutdown. Waiting for one is
    // an atomic load per wake-up: no timer and no shared lock per connection.
    let mut seen = Command::None;
    loop {
        tokio::select! {
            biased;
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            command = activity.control.next(seen) => {
                seen = command;
                match command {
                    Command::Close(reason) => {
                        // Dropping the connection closes the socket.
                        tracing::debug!(%remote, reason = reason.as_str(), "closing connection");
                        return;
                    }
                    Command::Drain => connection.as_mut().graceful_shutdown(),
                    Command::None => {}
                }
            }
        }
    }
}

/// HTTP/2 names the host in the `:authority` pseudo-header, which hyper
/// keeps in the URI; handlers (links, origin checks) read `Host`, so it is
/// filled in from there when absent. HTTP/1.1 requests always carry it.
fn host_from_authority<B>(request: &mut Request<B>) {
    if request.headers().contains_key(axum::http::header::HOST) {
        return;
    }
    let host =
        request.uri().authority().and_then(|authority| axum::http::HeaderValue::from_str(authority.as_str()).ok());
    if let Some(host) = host {
        request.headers_mut().insert(axum::http::header::HOST, host);
    }
}

/// The error a request body ends with when the client stopped sending it
/// for longer than the body timeout; the JSON extractor answers it with 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for longer than its timeout")]
pub struct BodyStalled;

/// A request body that fails with [`BodyStalled`] when no frame arrives
/// within `timeout`. The timer is armed only when the body would block:
/// a body already received whole (the usual small JSON request) never
/// touches the timer wheel, which a timer per frame would do on every
/// request of the verify path.
struct StallTimeout {
    body: Incoming,
    timeout: Duration,
    stalled_since: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl StallTimeout {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self { body, timeout, stalled_since: None }
    }
}

impl hyper::body::Body for StallTimeout {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalled_since = None;
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this.stalled_since.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Every open connection, so one task can enforce the head and idle
/// timeouts of all of them (a timer per connection costs a timer-wheel
/// entry and a wake-up per connection) and shutdown can reach each.
#[derive(Default)]
struct Registry {
    clock: Arc<CoarseClock>,
    connections: std::sync::Mutex<RegistryState>,
}

#[derive(Default)]
struct RegistryState {
    next_id: u64,
    open: std::collections::HashMap<u64, Arc<Activity>>,
    draining: bool,
}

/// Removes a connection from the registry when it ends.
struct Registered<'a> {
    registry: &'a Registry,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryState> {
        self.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, activity: &Arc<Activity>) -> Registered<'_> {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.open.insert(id, Arc::clone(activity));
        // Accepted just before shutdown: drain at once, like the others.
        if state.draining {
            activity.control.send(Command::Drain);
        }
        Registered { registry: self, id }
    }

    /// Asks every connection to finish its requests and close.
    fn drain(&self) {
        let mut state = self.lock();
        state.draining = true;
        for activity in state.open.values() {
            activity.control.send(Command::Drain);
        }
    }

    /// Closes connections whose head is late or that sat idle too long,
    /// looking a few times per shortest timeout; also keeps the coarse clock.
    async fn sweep(self: Arc<Self>, options: ServeOptions) {
        let header = millis(options.header_read_timeout).max(1);
        let idle = millis(options.idle_timeout).max(1);
        let tick = Duration::from_millis((header.min(idle) / 8).clamp(5, 500));
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = self.clock.tick();
            let state = self.lock();
            for activity in state.open.values() {
                if let Some(reason) = activity.overdue(now, header, idle) {
                    activity.control.send(Command::Close(reason));
                }
            }
        }
    }
}

/// Milliseconds since the server started, advanced by the sweeper: reading
/// it on every request is an atomic load, and it is as precise as the
/// sweeper that compares against it.
struct CoarseClock {
    epoch: Instant,
    now: AtomicU64,
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self { epoch: Instant::now(), now: AtomicU64::new(0) }
    }
}

impl CoarseClock {
    fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    fn tick(&self) -> u64 {
        let now = millis(self.epoch.elapsed());
        self.now.store(now, Ordering::Relaxed);
        now
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Why the sweeper closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseReason {
    HeadTimeout,
    IdleTimeout,
}

impl CloseReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::HeadTimeout => "request head timeout",
            Self::IdleTimeout => "idle timeout",
        }
    }
}

/// What a connection has been told to do; later commands outrank earlier
/// ones (closing beats draining).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    None,
    Drain,
    Close(CloseReason),
}

impl Command {
    const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Drain => 1,
            Self::Close(CloseReason::HeadTimeout) => 2,
            Self::Close(CloseReason::IdleTimeout) => 3,
        }
    }

    const fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Drain,
            2 => Self::Close(CloseReason::HeadTimeout),
            3 => Self::Close(CloseReason::IdleTimeout),
            _ => Self::None,
        }
    }
}

/// A one-slot mailbox from the sweeper (or shutdown) to a connection task.
#[derive(Default)]
struct Control {
    command: AtomicU8,
    waker: AtomicWaker,
}

impl Control {
    fn send(&self, command: Command) {
        let code = command.code();
        // Never downgrade: a close stays a close.
        if self.command.fetch_max(code, Ordering::AcqRel) < code {
            self.waker.wake();
        }
    }

    /// Resolves with the current command once it differs from `seen`.
    fn next(&self, seen: Command) -> impl Future<Output = Command> + '_ {
        std::future::poll_fn(move |cx| {
            let current = Command::from_code(self.command.load(Ordering::Acquire));
            if current != seen {
                return Poll::Ready(current);
            }
            self.waker.register(cx.waker());
            let current = Command::from_code(self.command.load(Ordering::Acquire));
            if current == seen {
                Poll::Pending
            } else {
                Poll::Ready(current)
            }
        })
    }
}

/// What the sweeper needs to know about one connection. Times are the
/// coarse clock's milliseconds; atomics because the socket, the service
/// and the sweeper see it from different tasks.
struct Activity {
    clock: Arc<CoarseClock>,
    control: Control,
    in_flight: AtomicUsize,
    /// When the connection last became idle (or was opened).
    idle_since: AtomicU64,
    /// One more than when the first byte arrived while idle; 0: none has.
    head_started: AtomicU64,
    /// HTTP/2 sends frames (settings, pings) between requests, so its idle
    /// bytes are not the start of a request head.
    h2: AtomicBool,
    first_read: AtomicBool,
}

impl Activity {
    fn new(clock: Arc<CoarseClock>) -> Self {
        let now = clock.now();
        Self {
            clock,
            control: Control::default(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            head_started: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            first_read: AtomicBool::new(true),
        }
    }

    fn bytes_read(&self, bytes: &[u8]) {
        if self.first_read.swap(false, Ordering::Relaxed) && bytes.starts_with(b"PRI ") {
            self.h2.store(true, Ordering::Relaxed);
        }
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_started.load(Ordering::Relaxed) == 0 {
            self.head_started.store(self.clock.now() + 1, Ordering::Release);
        }
    }

    /// Why this connection should be closed at `now`, if it should.
    /// Busy connections are bounded by their handlers and the body timeout.
    fn overdue(&self, now: u64, header: u64, idle: u64) -> Option<CloseReason> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if now >= self.idle_since.load(Ordering::Acquire).saturating_add(idle) {
            return Some(CloseReason::IdleTimeout);
        }
        match self.head_started.load(Ordering::Acquire) {
            0 => None,
            _ if self.h2.load(Ordering::Relaxed) => None,
            started if now >= (started - 1).saturating_add(header) => Some(CloseReason::HeadTimeout),
            _ => None,
        }
    }
}

/// Counts a request as in flight until its response is ready (or the
/// request is abandoned).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_started.store(0, Ordering::Release);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.clock.now(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, reporting reads to the sweeper.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
