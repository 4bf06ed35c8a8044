//! The one loopback server bootstrap every fake in the tests stands on: the fake model providers
//! ([`super::fake_openai`], [`super::fake_provider`]), the tarball and release hosts, and the MCP
//! servers over HTTP.
//!
//! ```ignore
//! let server = Loopback::serve(axum::Router::new().fallback(handler)); // 127.0.0.1:<free port>
//! // … point the code under test at server.url() …
//! let requests = server.requests();  // every request, in arrival order, with its exact body
//! drop(server);                      // stops it; the port refuses connections afterwards
//! ```
//!
//! * [`Loopback::serve`] binds `127.0.0.1:0` ([`Loopback::serve_on`] a given address, to restart
//!   a server where it was) and serves an axum router on a thread of its own with its own
//!   runtime, so sync and async tests use it alike and a test's paused clock does not stop it.
//! * Every request is recorded before the router sees it ([`Recorded`]: method, path, query,
//!   lowercase headers, the body byte for byte). A handler reads its own record with
//!   `Extension<Recorded>` (its [`Recorded::index`] counts requests from 0).
//! * Dropping the server (or [`Loopback::shutdown`], or cancelling the token given to
//!   [`Loopback::serve_until`]) stops accepting, lets open connections finish, then aborts what is
//!   still running after 100 ms (long scripted latencies).
//! * [`RawLoopback`] is for the wire-level misbehaviour axum cannot produce (half-sent bodies,
//!   headers echoed verbatim, a host that accepts and never answers); [`free_port`] is a port
//!   nothing listens on.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// One request a [`Loopback`] server received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Position in arrival order, from 0.
    pub index: usize,
    pub method: String,
    /// Path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    pub query: Option<String>,
    /// Header names in lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body exactly as received.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of a header (name case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The first value of header `name` (case-insensitive) in recorded, lowercase `headers`.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.as_str())
}

type Log = Arc<Mutex<Vec<Recorded>>>;

/// A running loopback HTTP server. Stops when dropped.
pub(crate) struct Loopback {
    address: SocketAddr,
    log: Log,
    stop: CancellationToken,
    /// `None` once [`Loopback::detach`]ed: the server then lives until its token is cancelled.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loopback {
    /// Serves `router` on `127.0.0.1:<free port>`.
    pub(crate) fn serve(router: axum::Router) -> Self {
        Self::serve_on(SocketAddr::from(([127, 0, 0, 1], 0)), router)
    }

    /// Serves `router` on `address` (port 0: any free port).
    pub(crate) fn serve_on(address: SocketAddr, router: axum::Router) -> Self {
        Self::serve_until(address, router, CancellationToken::new())
    }

    /// Serves `router` on `address` until `stop` is cancelled or the server is dropped.
    pub(crate) fn serve_until(
        address: SocketAddr,
        router: axum::Router,
        stop: CancellationToken,
    ) -> Self {
        Self::start(address, router, stop, |_| ())
    }

    /// Serves `router` on `127.0.0.1:<free port>`, calling `on_arrival` with each request's
    /// record at the moment it is recorded (under the log's lock, so in arrival order, one at a
    /// time); the handler reads what it returned with `Extension<T>`. A fake that answers from a
    /// queue takes its answer here, so the n-th request recorded is the n-th one answered even
    /// when requests race.
    pub(crate) fn serve_with<T: Clone + Send + Sync + 'static>(
        router: axum::Router,
        on_arrival: impl Fn(&Recorded) -> T + Send + Sync + 'static,
    ) -> Self {
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start(address, router, CancellationToken::new(), on_arrival)
    }

    fn start<T: Clone + Send + Sync + 'static>(
        address: SocketAddr,
        router: axum::Router,
        stop: CancellationToken,
        on_arrival: impl Fn(&Recorded) -> T + Send + Sync + 'static,
    ) -> Self {
        let log = Log::default();
        let recorder = Recorder {
            log: log.clone(),
            on_arrival: Arc::new(on_arrival),
        };
        let router = router.layer(axum::middleware::from_fn_with_state(recorder, record::<T>));
        let (address_sender, address_receiver) = std::sync::mpsc::channel();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("loopback server runtime");
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(address).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = address_sender.send(Err(error));
                        return;
                    }
                };
                let _ = address_sender.send(listener.local_addr());
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped.cancelled_owned())
                    .await
                    .expect("loopback server serves");
            });
            // Dropping the runtime aborts in-flight responses (e.g. long latencies).
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        let address = address_receiver
            .recv()
            .expect("loopback server thread started")
            .unwrap_or_else(|error| panic!("loopback server binds {address}: {error}"));
        Self {
            address,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// The bound address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.lock().clone()
    }

    /// How many requests arrived.
    pub(crate) fn request_count(&self) -> usize {
        self.lock().len()
    }

    /// Stops the server and waits for its thread.
    pub(crate) fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// Lets the server run on after this handle is gone, until its token is cancelled.
    pub(crate) fn detach(mut self) -> SocketAddr {
        self.thread = None;
        self.address
    }

    fn stop_and_join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.cancel();
            let _ = thread.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.log.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The recording middleware's state.
struct Recorder<T> {
    log: Log,
    on_arrival: Arc<dyn Fn(&Recorded) -> T + Send + Sync>,
}

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Self {
            log: self.log.clone(),
            on_arrival: self.on_arrival.clone(),
        }
    }
}

/// Records the request (its body read whole) and hands it on with the record, and what
/// `on_arrival` made of it, as extensions.
async fn record<T: Clone + Send + Sync + 'static>(
    State(recorder): State<Recorder<T>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let (recorded, arrival) = {
        let mut log = recorder
            .log
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let recorded = Recorded {
            index: log.len(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        };
        log.push(recorded.clone());
        let arrival = (recorder.on_arrival)(&recorded);
        (recorded, arrival)
    };
    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(recorded);
    request.extensions_mut().insert(arrival);
    next.run(request).await
}

/// A loopback TCP host that hands each connection, raw, to a closure on a thread of its own,
/// for what an HTTP framework will not send (a body dribbled out, a header echoed verbatim), or
/// that takes connections and never answers ([`RawLoopback::silent`]). Stops accepting when
/// dropped; connections already handed out run to their end.
pub(crate) struct RawLoopback {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accepting: Option<std::thread::JoinHandle<()>>,
}

impl RawLoopback {
    /// Accepts on `127.0.0.1:<free port>`, each connection handed to `handler` on its own thread.
    pub(crate) fn serve(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("raw loopback host binds a port");
        let address = listener.local_addr().expect("local address");
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let (counted, stopped) = (connections.clone(), stop.clone());
        let accepting = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                if let Ok(stream) = stream {
                    let handler = handler.clone();
                    std::thread::spawn(move || handler(stream));
                }
            }
        });
        Self {
            address,
            connections,
            stop,
            accepting: Some(accepting),
        }
    }

    /// A host that accepts connections, reads what it is sent and never answers.
    pub(crate) fn silent() -> Self {
        Self::serve(|mut stream| {
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        })
    }

    /// The bound address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many connections were accepted.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Waits (30 s at the most, then panics) until `count` connections were accepted.
    #[track_caller]
    pub(crate) fn wait_for_connections(&self, count: usize) {
        super::wait_until(&format!("{count} connections"), || {
            self.connections() >= count
        });
    }
}

impl Drop for RawLoopback {
    fn drop(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wakes the blocked `accept`, which then sees the flag.
            let _ = TcpStream::connect(self.address);
            let _ = accepting.join();
        }
    }
}

/// A loopback port that nothing listens on (it was free a moment ago): connections are refused.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// Sends `request` raw and returns the whole response.
    fn exchange(address: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(request).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn loopback_records_exact_bodies_and_refuses_connections_once_dropped() {
        let server = Loopback::serve(axum::Router::new().fallback(
            |axum::Extension(recorded): axum::Extension<Recorded>| async move {
                format!("request {} to {}", recorded.index, recorded.path)
            },
        ));
        let body = b"{\"a\":\xff}";
        let mut request =
            b"POST /v1/x?y=1 HTTP/1.1\r\nhost: a\r\nX-Test: One\r\nconnection: close\r\ncontent-length: 7\r\n\r\n"
                .to_vec();
        request.extend_from_slice(body);
        let response = exchange(server.address(), &request);
        assert!(response.ends_with("request 0 to /v1/x"), "{response}");
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].query.as_deref(), Some("y=1"));
        assert_eq!(requests[0].header("x-TEST"), Some("One"));
        assert_eq!(requests[0].body, body);
        assert_eq!(requests[0].json(), Value::Null);
        let address = server.address();
        drop(server);
        assert!(TcpStream::connect(address).is_err());
    }

    #[test]
    fn raw_loopback_counts_connections_and_stops_accepting_once_dropped() {
        let host = RawLoopback::serve(|mut stream| {
            let _ = stream.write_all(b"hello");
        });
        let mut stream = TcpStream::connect(host.address()).unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        host.wait_for_connections(1);
        assert_eq!(host.connections(), 1);
        let address = host.address();
        drop(host);
        assert!(TcpStream::connect(address).is_err());
    }
}
