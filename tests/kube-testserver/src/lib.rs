//! kube-testserver: a Kubernetes API server for tests. It speaks enough of the REST protocol
//! (discovery, CRUD, server-side apply with managedFields, the other patch types, dry-run,
//! selectors, cascading deletes, watch, a status simulator, fault injection) that the real
//! `kubectl` and kube-rs work against it. It has no scheduler, no controllers other than the
//! status simulator, no admission webhooks and no schema validation.
//!
//! ```no_run
//! use kube_testserver::{Options, TestServer};
//! let srv = TestServer::start(Options::default())?;       // https://127.0.0.1:<free port>
//! let dir = tempfile::tempdir()?;
//! srv.write_kubeconfig(&dir.path().join("kubeconfig"))?;  // context "testserver", CA + token
//! // ... run kubectl / your tool with KUBECONFIG pointing there ...
//! let obj = srv.get("apps/v1", "Deployment", Some("default"), "web");
//! srv.simulator().set_behaviour("Deployment", "default", "web", kube_testserver::Behaviour::Fail);
//! srv.faults().inject("^/apis/apps/", 2, kube_testserver::Fault::InternalError)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The server runs on its own thread with its own Tokio runtime, so it works the same from
//! synchronous tests (that run CLI binaries) and from `#[tokio::test]`s of any flavour.
//! Dropping the [`TestServer`] stops it.

mod apply;
mod defaults;
mod discovery;
mod faults;
mod fields;
mod openapi;
mod patch;
mod protobuf;
mod selector;
mod server;
mod simulator;
mod status;
mod store;
mod table;
mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::oneshot;

pub use faults::Fault;
pub use simulator::Behaviour;
pub use status::ApiError;

use server::{Inner, Shared};

/// How to start the server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on; `None` means 127.0.0.1 with a free port.
    pub addr: Option<SocketAddr>,
    /// Serve HTTPS with a generated CA (default) or plain HTTP.
    pub tls: bool,
    /// Bearer token clients must send; `None` generates a random one.
    pub token: Option<String>,
    /// Whether the status simulator runs (default: on).
    pub simulator: bool,
    /// How long after a spec change simulated workloads become ready (default: 0).
    pub ready_after: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: None,
            tls: true,
            token: None,
            simulator: true,
            ready_after: Duration::ZERO,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Certificate generation failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The server thread ended before it was ready.
    #[error("the server thread stopped before it was ready")]
    Startup,
    /// An invalid fault pattern.
    #[error("invalid fault path regex: {0}")]
    Regex(#[from] regex::Error),
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct TestServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts the server on its own thread and returns once it accepts connections.
    pub fn start(opts: Options) -> Result<TestServer, Error> {
        let tls = if opts.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let std_listener = std::net::TcpListener::bind(
            opts.addr
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        )?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}");
        let token = opts
            .token
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let inner = Inner {
            store: store::Store::default(),
            sim: simulator::Simulator::new(opts.simulator, opts.ready_after),
            faults: faults::FaultTable::default(),
        };
        let shared = Arc::new(Shared::new(inner, token, url));
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), std::io::Error>>();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kube-testserver-{}", addr.port()))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    serve(listener, thread_shared, tls.map(|t| t.config), stop_rx).await;
                });
                // Watch streams may still be open; do not wait for them.
                rt.shutdown_background();
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Io(e)),
            Err(_) => return Err(Error::Startup),
        }
        Ok(TestServer {
            shared,
            addr,
            ca_pem,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The base URL (`https://127.0.0.1:PORT` or `http://...`).
    pub fn url(&self) -> String {
        self.shared.url.clone()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bearer token clients must send.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The CA certificate (PEM) when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A kubeconfig (YAML) for this server: cluster/user/context all named `testserver`,
    /// namespace `default`, CA data and token inline.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine as _;
        let ca = self
            .ca_pem
            .as_ref()
            .map(|p| {
                format!(
                    "    certificate-authority-data: {}\n",
                    base64::engine::general_purpose::STANDARD.encode(p)
                )
            })
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testserver\n  cluster:\n    server: {url}\n{ca}users:\n- name: testserver\n  user:\n    token: {token}\ncontexts:\n- name: testserver\n  context:\n    cluster: testserver\n    user: testserver\n    namespace: default\ncurrent-context: testserver\npreferences: {{}}\n",
            url = self.url(),
            token = self.token(),
        )
    }

    /// Writes [`TestServer::kubeconfig`] to `path` (via a temporary file and a rename, so a
    /// watcher never sees half a file).
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp-kubeconfig");
        std::fs::write(&tmp, self.kubeconfig())?;
        std::fs::rename(&tmp, path)
    }

    /// A stored object by apiVersion, kind, namespace (None for cluster-scoped) and name,
    /// shown in the requested apiVersion. `None` if the type or object does not exist.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let g = self.shared.lock();
        let rt = g.store.registry.find_kind(api_version, kind)?.clone();
        g.store.get(&rt, namespace, name).ok()
    }

    /// Every stored object (all types, including the seeded namespaces).
    pub fn objects(&self) -> Vec<Value> {
        self.shared.lock().store.all_objects()
    }

    /// Controls for the status simulator.
    pub fn simulator(&self) -> SimulatorControl {
        SimulatorControl {
            shared: self.shared.clone(),
        }
    }

    /// Controls for fault injection.
    pub fn faults(&self) -> FaultControl {
        FaultControl {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Handle on the status simulator of a running server.
#[derive(Debug, Clone)]
pub struct SimulatorControl {
    shared: Arc<Shared>,
}

impl SimulatorControl {
    /// Turns the simulator on or off (statuses already written stay).
    pub fn set_enabled(&self, enabled: bool) {
        self.shared.with(|i| i.sim.enabled = enabled);
    }

    /// Sets how long workloads take to become ready after a spec change.
    pub fn set_ready_after(&self, d: Duration) {
        self.shared.with(|i| i.sim.ready_after = d);
    }

    /// Pins one object's behaviour (kind as in `kind:`, e.g. "Deployment").
    pub fn set_behaviour(&self, kind: &str, namespace: &str, name: &str, b: Behaviour) {
        self.shared.with(|i| {
            i.sim
                .overrides
                .insert((kind.into(), namespace.into(), name.into()), b)
        });
    }
}

/// Handle on fault injection of a running server.
#[derive(Debug, Clone)]
pub struct FaultControl {
    shared: Arc<Shared>,
}

impl FaultControl {
    /// The next `count` requests whose path matches `path_regex` get `fault`.
    pub fn inject(&self, path_regex: &str, count: u32, fault: Fault) -> Result<(), Error> {
        self.shared
            .with(|i| i.faults.add(path_regex, count, fault))?;
        Ok(())
    }

    /// Removes all pending faults.
    pub fn clear(&self) {
        self.shared.with(|i| i.faults.clear());
    }

    /// How many injected responses are still pending.
    pub fn pending(&self) -> u32 {
        self.shared.lock().faults.pending()
    }
}

/// Accept loop plus the simulator ticker, until `stop` fires.
async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: oneshot::Receiver<()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let ticker_shared = shared.clone();
    let ticker = tokio::spawn(async move {
        loop {
            ticker_shared.with(|i| i.sim.tick(&mut i.store));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| server::handle(shared.clone(), req));
            let builder = hyper::server::conn::http1::Builder::new();
            let result = match acceptor {
                Some(a) => match a.accept(stream).await {
                    Ok(tls_stream) => {
                        builder
                            .serve_connection(TokioIo::new(tls_stream), svc)
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => builder.serve_connection(TokioIo::new(stream), svc).await,
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    ticker.abort();
}
