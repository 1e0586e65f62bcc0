//! The real Kubernetes control plane for tests, the way envtest runs one: etcd and
//! kube-apiserver on free loopback ports (HTTPS with a generated CA, static tokens, RBAC,
//! service-account keys), then kube-controller-manager, kube-scheduler and kwok (fake nodes and
//! pods) so that Deployments really roll out.
//!
//! The binaries come from `KUBEBUILDER_ASSETS` or from the cache `make tools` fills
//! (`tests/tools/build.sh`). Each process runs under a tiny shell supervisor that reads the
//! test process's pipe: when the test binary exits — normally, on a panic or killed — the pipe
//! closes and the supervisor kills its server and removes the data directory, so no process is
//! left behind after `cargo test`.
//!
//! Most tests share one control plane per test binary ([`Cluster::shared`]) and isolate
//! themselves with a namespace of their own ([`Cluster::namespace`]); tests that need a
//! pristine server start their own with [`Cluster::start`].

mod proxy;
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use proxy::{Fault, FaultProxy};

use crate::{free_port, Cmd};

/// The token of the `system:masters` user `admin`.
const ADMIN: &str = "admin";
/// Users with a static token and no RBAC bindings at all (tests grant them what they need).
pub const RESTRICTED_USERS: [&str; 3] = ["restricted", "alice", "bob"];

/// The directory holding kube-apiserver, etcd, kubectl, … (`KUBEBUILDER_ASSETS`, else the
/// cache `make tools` fills), if it has a kube-apiserver.
pub fn assets() -> Option<PathBuf> {
    let dir = match std::env::var_os("KUBEBUILDER_ASSETS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = std::env::var_os("GITOPS_TOOLS_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME")
                        .map(|d| PathBuf::from(d).join("gitops-toolkit/tools"))
                })
                .or_else(|| {
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".cache/gitops-toolkit/tools"))
                })?;
            cache.join("current")
        }
    };
    dir.join("kube-apiserver").exists().then_some(dir)
}

/// A pinned tool from the assets directory (`kubectl`, `kustomize`, `helm`, …).
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = assets()?.join(name);
    path.exists().then_some(path)
}

/// What to start besides etcd and the apiserver.
#[derive(Debug, Clone)]
pub struct Options {
    /// kube-controller-manager (deployments, replica sets, jobs, garbage collection, namespaces).
    pub controllers: bool,
    /// kube-scheduler and kwok with one fake node, so that pods get scheduled and "run".
    pub nodes: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            controllers: true,
            nodes: true,
        }
    }
}

/// A running control plane; everything stops when it is dropped (or the test binary exits).
pub struct Cluster {
    dir: PathBuf,
    server: String,
    port: u16,
    kubeconfig: PathBuf,
    ca_pem: String,
    pki: tls::Pki,
    assets: PathBuf,
    tokens: Vec<(String, String)>,
    supervisors: Mutex<Vec<(String, Child, ChildStdin)>>,
    namespaces: AtomicU32,
    /// How long the control plane took to become ready.
    pub start_time: Duration,
}

static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();

impl Cluster {
    /// The control plane shared by every test of this test binary, started on first use.
    /// `None` (the test should return) when the binaries are missing outside CI; in CI a
    /// missing binary fails the test.
    pub fn shared() -> Option<&'static Cluster> {
        SHARED
            .get_or_init(|| {
                if crate::skip_without(
                    assets().is_some(),
                    "the Kubernetes control plane (run `make tools`, or set KUBEBUILDER_ASSETS)",
                ) {
                    return None;
                }
                Some(Cluster::start(Options::default()))
            })
            .as_ref()
    }

    /// A control plane of its own; panics (with the servers' logs) when it cannot start.
    pub fn start(options: Options) -> Cluster {
        let assets = assets().expect("KUBEBUILDER_ASSETS or `make tools` (no kube-apiserver)");
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("gitops-cluster-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let pki = tls::Pki::generate();
        let w = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write control-plane file");
            path
        };
        let ca = w("ca.crt", &pki.ca_pem);
        let cert = w("apiserver.crt", &pki.serving_cert_pem);
        let key = w("apiserver.key", &pki.serving_key_pem);
        let sa = w("sa.key", &pki.service_account_key_pem);
        let sa_pub = w("sa.pub", &pki.service_account_pub_pem);
        let mut tokens = vec![(ADMIN.to_owned(), random_token())];
        for user in RESTRICTED_USERS {
            tokens.push((user.to_owned(), random_token()));
        }
        let csv: String = tokens
            .iter()
            .map(|(user, token)| {
                let groups = if user == ADMIN { "system:masters" } else { "" };
                format!("{token},{user},{user},\"{groups}\"\n")
            })
            .collect();
        let token_file = w("tokens.csv", &csv);

        let (etcd_port, peer_port, port) = (free_port(), free_port(), free_port());
        let server = format!("https://127.0.0.1:{port}");
        let mut cluster = Cluster {
            kubeconfig: dir.join("admin.kubeconfig"),
            dir: dir.clone(),
            server: server.clone(),
            port,
            ca_pem: pki.ca_pem.clone(),
            pki,
            assets: assets.clone(),
            tokens,
            supervisors: Mutex::new(Vec::new()),
            namespaces: AtomicU32::new(0),
            start_time: Duration::ZERO,
        };
        cluster.write_kubeconfig(&cluster.kubeconfig, ADMIN, &server);

        let s = |p: &Path| p.display().to_string();
        cluster.spawn(
            "etcd",
            &[
                "--name=default".to_owned(),
                format!("--data-dir={}", s(&dir.join("etcd"))),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-cluster=default=http://127.0.0.1:{peer_port}"),
                // A throwaway store: durability costs time and buys nothing here.
                "--unsafe-no-fsync=true".to_owned(),
                "--log-level=warn".to_owned(),
            ],
        );
        cluster.spawn(
            "kube-apiserver",
            &[
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                "--bind-address=127.0.0.1".to_owned(),
                "--advertise-address=127.0.0.1".to_owned(),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", s(&dir.join("certs"))),
                format!("--tls-cert-file={}", s(&cert)),
                format!("--tls-private-key-file={}", s(&key)),
                format!("--client-ca-file={}", s(&ca)),
                format!("--token-auth-file={}", s(&token_file)),
                "--authorization-mode=RBAC".to_owned(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
                format!("--service-account-key-file={}", s(&sa_pub)),
                format!("--service-account-signing-key-file={}", s(&sa)),
                // Only a setting: no traffic goes to this range (there are no real nodes).
                "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
                "--allow-privileged=true".to_owned(),
                "--profiling=false".to_owned(),
                "--endpoint-reconciler-type=none".to_owned(),
            ],
        );
        cluster.wait_ready(Duration::from_secs(120));
        if options.controllers {
            cluster.spawn(
                "kube-controller-manager",
                &[
                    format!("--kubeconfig={}", s(&cluster.kubeconfig)),
                    "--leader-elect=false".to_owned(),
                    "--bind-address=127.0.0.1".to_owned(),
                    format!("--secure-port={}", free_port()),
                    format!("--service-account-private-key-file={}", s(&sa)),
                    format!("--root-ca-file={}", s(&ca)),
                    "--use-service-account-credentials=false".to_owned(),
                    // No cloud, no pod networking: their controllers would only log errors.
                    concat!(
                        "--controllers=*,-node-ipam-controller,-cloud-node-lifecycle-controller,",
                        "-node-route-controller,-service-lb-controller"
                    )
                    .to_owned(),
                    // The node lifecycle controller lifts the not-ready taint once kwok reports
                    // the node Ready; a long grace period keeps it from declaring the node lost
                    // (and evicting its pods) when kwok's heartbeat lags on a loaded machine.
                    "--node-monitor-grace-period=1h".to_owned(),
                ],
            );
        }
        if options.nodes {
            cluster.spawn(
                "kube-scheduler",
                &[
                    format!("--kubeconfig={}", s(&cluster.kubeconfig)),
                    "--leader-elect=false".to_owned(),
                    "--bind-address=127.0.0.1".to_owned(),
                    format!("--secure-port={}", free_port()),
                ],
            );
            cluster.spawn(
                "kwok",
                &[
                    format!("--kubeconfig={}", s(&cluster.kubeconfig)),
                    "--manage-all-nodes=false".to_owned(),
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".to_owned(),
                    // kwok's own stages, except that pods labelled
                    // gitops-toolkit.test/never-ready=true stay Pending (see tests/tools/build.sh).
                    format!("--config={}", s(&assets.join("kwok-stages.yaml"))),
                    "--cidr=10.244.0.0/16".to_owned(),
                    "--node-ip=127.0.0.1".to_owned(),
                    format!("--server-address=127.0.0.1:{}", free_port()),
                ],
            );
            cluster.apply_stdin(FAKE_NODE);
            cluster.wait_node_schedulable(Duration::from_secs(120));
        }
        cluster.start_time = started.elapsed();
        eprintln!(
            "test control plane ready at {} in {:.1} s (kubeconfig {})",
            cluster.server,
            cluster.start_time.as_secs_f64(),
            cluster.kubeconfig.display()
        );
        cluster
    }

    /// The admin kubeconfig (user `admin` in `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token of a static user (`admin` or one of [`RESTRICTED_USERS`]).
    pub fn token(&self, user: &str) -> &str {
        self.tokens
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no static user {user:?}"))
    }

    /// A kubeconfig for one of [`RESTRICTED_USERS`] (no RBAC bindings until a test adds some).
    pub fn token_kubeconfig(&self, user: &str) -> PathBuf {
        let path = self.dir.join(format!("{user}.kubeconfig"));
        if !path.exists() {
            self.write_kubeconfig(&path, user, &self.server);
        }
        path
    }

    /// A kubeconfig with an arbitrary bearer token (a service account's, say).
    pub fn kubeconfig_with_token(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        std::fs::write(
            &path,
            kubeconfig_yaml(&self.server, &self.ca_pem, name, token),
        )
        .expect("write kubeconfig");
        path
    }

    /// The directory of the pinned binaries.
    pub fn assets(&self) -> &Path {
        &self.assets
    }

    /// `kubectl --kubeconfig ADMIN` (the pinned kubectl).
    pub fn kubectl(&self) -> Cmd {
        self.kubectl_as(&self.kubeconfig)
    }

    /// The pinned kubectl with another kubeconfig; its discovery cache is this control plane's
    /// own, never the user's `~/.kube/cache`.
    pub fn kubectl_as(&self, kubeconfig: &Path) -> Cmd {
        Cmd::program(self.assets.join("kubectl"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("kube-cache"))
    }

    /// A fresh namespace whose name starts with `hint` (created and ready to use).
    pub fn namespace(&self, hint: &str) -> String {
        let n = self.namespaces.fetch_add(1, Ordering::SeqCst);
        let hint: String = hint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        let name = format!("{}-{n}-{}", hint.trim_matches('-'), std::process::id());
        self.kubectl()
            .args(["create", "namespace", &name])
            .run()
            .success();
        name
    }

    /// `kubectl apply --server-side -f -` with `yaml` as the admin, panicking on failure.
    pub fn apply_stdin(&self, yaml: &str) {
        self.kubectl()
            .args([
                "apply",
                "--server-side",
                "--field-manager=test-setup",
                "-f",
                "-",
            ])
            .stdin(yaml)
            .run()
            .success();
    }

    /// A live object as JSON (`kubectl get -o json`), or `None` when it does not exist.
    pub fn get(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        let mut cmd = self.kubectl().args(["get", resource, name, "-o", "json"]);
        if let Some(ns) = namespace {
            cmd = cmd.args(["-n", ns]);
        }
        let run = cmd.run();
        if run.code != 0 {
            assert!(
                run.stderr.contains("NotFound") || run.stderr.contains("not found"),
                "kubectl get {resource} {name}: {}",
                run.stderr
            );
            return None;
        }
        Some(serde_json::from_str(&run.stdout).expect("kubectl -o json"))
    }

    /// A proxy in front of this apiserver that injects faults (its own kubeconfig).
    pub fn fault_proxy(&self) -> FaultProxy {
        let (cert, key) = self.pki.serving_pair("fault-proxy");
        let proxy = FaultProxy::start(self.port, &self.ca_pem, &cert, &key);
        let path = self.dir.join(format!("proxy-{}.kubeconfig", proxy.port()));
        std::fs::write(
            &path,
            kubeconfig_yaml(&proxy.server(), &self.ca_pem, ADMIN, self.token(ADMIN)),
        )
        .expect("write kubeconfig");
        proxy.with_kubeconfig(path)
    }

    /// The log of one of the processes (etcd, kube-apiserver, …), for failure messages.
    pub fn log(&self, process: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{process}.log"))).unwrap_or_default()
    }

    fn write_kubeconfig(&self, path: &Path, user: &str, server: &str) {
        std::fs::write(
            path,
            kubeconfig_yaml(server, &self.ca_pem, user, self.token(user)),
        )
        .expect("write kubeconfig");
    }

    /// Starts `binary` under a supervisor that kills it and cleans up when our pipe closes.
    fn spawn(&self, binary: &str, args: &[String]) {
        let program = self.assets.join(binary);
        assert!(
            program.exists(),
            "{} is missing: run `make tools` (or set KUBEBUILDER_ASSETS)",
            program.display()
        );
        let log = self.dir.join(format!("{binary}.log"));
        // The supervisor's watcher holds the only reader of our pipe; the server gets no stdin.
        // When the test process goes away, `read` returns and the server is killed; etcd's
        // watcher then removes the directory. The supervisor itself exits with the server, so
        // a crash at start is seen at once.
        let script = r#"
            exec 3<&0 0</dev/null
            "$@" 3<&- >>"$LOG" 2>&1 &
            pid=$!
            (
                read -r _ <&3
                kill -9 "$pid" 2>/dev/null
                while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
                if [ "$CLEAN" = 1 ]; then rm -rf "$DIR"; fi
            ) &
            exec 3<&-
            wait "$pid"
        "#;
        let first = self.supervisors.lock().expect("supervisors").is_empty();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("supervisor")
            .arg(&program)
            .args(args)
            .env("LOG", &log)
            .env("DIR", &self.dir)
            // etcd's supervisor is the first started and the last killed (see Drop).
            .env("CLEAN", if first { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        self.supervisors
            .lock()
            .expect("supervisors")
            .push((binary.to_owned(), child, stdin));
    }

    fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let run = self
                .kubectl()
                .args(["get", "--raw", "/readyz", "--request-timeout=5s"])
                .run();
            if run.code == 0 && run.stdout.trim() == "ok" {
                return;
            }
            if Instant::now() > deadline || self.exited().is_some() {
                panic!(
                    "the test apiserver did not become ready ({}): {}\n--- etcd log\n{}\n--- kube-apiserver log\n{}",
                    self.exited().unwrap_or_else(|| "timed out".to_owned()),
                    run.stderr.trim(),
                    tail(&self.log("etcd")),
                    tail(&self.log("kube-apiserver"))
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until kwok reports the fake node Ready and the node lifecycle controller has lifted
    /// its not-ready taint: before that the scheduler parks pods, and a test's first rollout
    /// would wait on the scheduler's backoff instead of on the controllers.
    fn wait_node_schedulable(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let node = self.get("node", None, "kwok-node-0");
            let ready = node.as_ref().is_some_and(|n| {
                let ready = n["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
                let untainted = n["spec"]["taints"].as_array().is_none_or(Vec::is_empty);
                ready && untainted
            });
            if ready {
                return;
            }
            if Instant::now() > deadline || self.exited().is_some() {
                panic!(
                    "the fake node never became schedulable ({}): {node:?}\n--- kwok log\n{}\n--- kube-controller-manager log\n{}",
                    self.exited().unwrap_or_else(|| "timed out".to_owned()),
                    tail(&self.log("kwok")),
                    tail(&self.log("kube-controller-manager"))
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Which supervised process has already ended, if any (a crash at start).
    fn exited(&self) -> Option<String> {
        let mut sups = self.supervisors.lock().expect("supervisors");
        for (name, child, _) in sups.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(format!("{name} exited: {status}"));
            }
        }
        None
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut sups = self.supervisors.lock().expect("supervisors");
        // Stop in reverse order of start, etcd (which removes the directory) last.
        while let Some((_, mut child, mut stdin)) = sups.pop() {
            let _ = stdin.write_all(b"\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn random_token() -> String {
    use sha2::Digest as _;
    let seed = format!(
        "{:?}{}{:?}",
        Instant::now(),
        std::process::id(),
        std::thread::current().id()
    );
    hex(&sha2::Sha256::digest(seed.as_bytes()))[..32].to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A kubeconfig with one context `test` for `user` with a bearer token.
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: test
  context:
    cluster: test
    user: {user}
    namespace: default
current-context: test
"
    )
}

/// The one fake node kwok keeps Ready (annotation selector above); room for many pods.
const FAKE_NODE: &str = "apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable:
    cpu: \"64\"
    memory: 256Gi
    pods: \"1000\"
  capacity:
    cpu: \"64\"
    memory: 256Gi
    pods: \"1000\"
";
