//! The accept loop: every connection is bounded in time and in number.
//!
//! `axum::serve` keeps a connection open for as long as the client likes: a
//! half-sent request head, a stalled body or an idle keep-alive socket each
//! hold a file descriptor for minutes, and enough of them starve the process
//! until even `/healthz` goes unanswered. Here each connection has a
//! watchdog, and the loop stops accepting while [`ServeOptions::max_connections`]
//! are open (new connections wait in the kernel's backlog, costing us no
//! descriptor), logging that once per episode rather than once per client.
//!
//! Hyper's own `header_read_timeout` is not used: in hyper 1.x its timer
//! starts as soon as an HTTP/1 connection waits for the next request, so it
//! would also close idle keep-alive connections, making a separate idle
//! timeout impossible. The watchdog instead starts the header timer at the
//! first byte of a request and the idle timer when the last response is
//! done. Hyper answers nothing on a header timeout either way (it cannot:
//! the request is not parsed), so the connection is simply closed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

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
    let cap = options.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(cap));
    let (stop, stopping) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
    // Pings find dead HTTP/2 peers that never close; an idle live peer is
    // closed by the watchdog like any other.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
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
        let builder = Arc::clone(&builder);
        let app = app.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            serve_connection(&builder, stream, remote, app, options, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends.
    let _ = permits.acquire_many(cap as u32).await;
    Ok(())
}

/// Errors that concern one connection, not the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

async fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    options: ServeOptions,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: Arc::clone(&activity) });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = InFlight::begin(&activity);
            let mut request = request.map(|body| Body::new(StallTimeout::new(body, options.request_body_timeout)));
            request.extensions_mut().insert(ConnectInfo(remote));
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
    let watchdog = watchdog(&activity, options);
    tokio::pin!(watchdog);
    let mut draining = *stopping.borrow();
    if draining {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            reason = &mut watchdog => {
                // Dropping the connection closes the socket.
                tracing::debug!(%remote, reason, "closing connection");
                return;
            }
            changed = stopping.changed(), if !draining => {
                draining = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
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

/// Resolves, naming why, once the connection should be closed: its request
/// head is late, or it has been idle too long.
async fn watchdog(activity: &Activity, options: ServeOptions) -> &'static str {
    let header = millis(options.header_read_timeout);
    let idle = millis(options.idle_timeout);
    loop {
        let now = activity.now();
        let wake_at = if activity.in_flight.load(Ordering::Acquire) > 0 {
            // Busy: handlers and the body timeout bound this; look again later.
            now.saturating_add(idle.max(1))
        } else {
            let idle_deadline = activity.idle_since.load(Ordering::Acquire).saturating_add(idle);
            if now >= idle_deadline {
                return "idle timeout";
            }
            match activity.head_started.load(Ordering::Acquire) {
                // No request begun. The first bytes of one do not wake this
                // task (a wake-up per request would cost every request), so
                // look again within half a header timeout: a late head is
                // closed between one and one and a half timeouts after its
                // first byte.
                0 => idle_deadline.min(now.saturating_add((header / 2).max(1))),
                started if !activity.h2.load(Ordering::Relaxed) => {
                    let head_deadline = (started - 1).saturating_add(header);
                    if now >= head_deadline {
                        return "request head timeout";
                    }
                    idle_deadline.min(head_deadline)
                }
                _ => idle_deadline,
            }
        };
        tokio::time::sleep_until(activity.epoch + Duration::from_millis(wake_at.max(now + 1))).await;
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What the watchdog needs to know about one connection. Times are
/// milliseconds since `epoch`; atomics because the socket, the service and
/// the watchdog are polled separately.
struct Activity {
    epoch: Instant,
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
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            first_read: AtomicBool::new(true),
        }
    }

    fn now(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    fn bytes_read(&self, bytes: &[u8]) {
        if self.first_read.swap(false, Ordering::Relaxed) && bytes.starts_with(b"PRI ") {
            self.h2.store(true, Ordering::Relaxed);
        }
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_started.load(Ordering::Relaxed) == 0 {
            self.head_started.store(self.now() + 1, Ordering::Release);
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
        activity.idle_since.store(activity.now(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, reporting reads to the watchdog.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
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

impl AsyncWrite for Watched {
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
