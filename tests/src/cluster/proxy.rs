//! A fault-injecting HTTPS proxy in front of the real apiserver: the next N requests whose
//! method and path match get a 429 with `Retry-After`, a 500, a hang, or a dropped connection;
//! everything else is forwarded untouched. It records every request it saw, so tests can check
//! that a client retried.
//!
//! It terminates TLS with a certificate from the control plane's CA (so clients trust it with
//! the same kubeconfig CA), offers HTTP/1.1 only, and forwards each request on a fresh upstream
//! connection with `Connection: close`: simple, and fine for tests (watch streams are copied
//! until the apiserver ends them).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// What a matched request gets instead of the apiserver's answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with `Retry-After: secs` and a `Status` body, as API priority and fairness sends.
    TooManyRequests { retry_after_secs: u32 },
    /// 500 with a `Status` body.
    InternalError,
    /// No answer for this long, then the connection is closed.
    Hang(Duration),
    /// The connection is closed without an answer.
    Drop,
}

struct Rule {
    method: Option<String>,
    path: regex::Regex,
    remaining: usize,
    fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<(String, String)>,
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    kubeconfig: PathBuf,
}

impl FaultProxy {
    pub(super) fn start(upstream: u16, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("proxy certificate");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("proxy key");
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("proxy TLS config");
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(ca.expect("CA certificate")).expect("add CA");
        }
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (server, client) = (Arc::new(server), Arc::new(client));

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, stopping) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let (server, client, st) = (server.clone(), client.clone(), st.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, server, client, upstream, &st);
                });
            }
        });
        FaultProxy {
            port,
            state,
            stop,
            kubeconfig: PathBuf::new(),
        }
    }

    pub(super) fn with_kubeconfig(mut self, path: PathBuf) -> Self {
        self.kubeconfig = path;
        self
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// An admin kubeconfig that goes through the proxy.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The next `count` requests with this method (any when `None`) whose path (without the
    /// query) matches `path_regex` get `fault`.
    pub fn inject(&self, method: Option<&str>, path_regex: &str, count: usize, fault: Fault) {
        self.state.lock().expect("proxy state").rules.push(Rule {
            method: method.map(str::to_owned),
            path: regex::Regex::new(path_regex).expect("fault path regex"),
            remaining: count,
            fault,
        });
    }

    /// Removes every pending fault.
    pub fn clear(&self) {
        self.state.lock().expect("proxy state").rules.clear();
    }

    /// Every request seen so far, as (method, path with query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().expect("proxy state").seen.clone()
    }

    /// How many requests with this method matched `path_regex`.
    pub fn count(&self, method: &str, path_regex: &str) -> usize {
        let re = regex::Regex::new(path_regex).expect("path regex");
        self.requests()
            .iter()
            .filter(|(m, p)| m == method && re.is_match(p.split('?').next().unwrap_or(p)))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    stream: TcpStream,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    upstream: u16,
    state: &Mutex<State>,
) -> std::io::Result<()> {
    let conn = rustls::ServerConnection::new(server).map_err(std::io::Error::other)?;
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));

    // The request head.
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if tls.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n" || line == b"\n";
        head.push(String::from_utf8_lossy(&line).trim_end().to_owned());
        if end {
            break;
        }
    }
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let path = target.split('?').next().unwrap_or("").to_owned();
    let header = |name: &str| {
        head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let body = if chunked {
        read_chunked(&mut tls)?
    } else {
        let mut body = vec![0; length];
        tls.read_exact(&mut body)?;
        body
    };

    let fault = {
        let mut st = state.lock().expect("proxy state");
        st.seen.push((method.clone(), target.clone()));
        st.rules
            .iter_mut()
            .find(|r| {
                r.remaining > 0
                    && r.method.as_deref().is_none_or(|m| m == method)
                    && r.path.is_match(&path)
            })
            .map(|r| {
                r.remaining -= 1;
                r.fault.clone()
            })
    };
    let tls = tls.get_mut();
    match fault {
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let extra = format!("Retry-After: {retry_after_secs}\r\n");
            return status(tls, 429, "Too Many Requests", "TooManyRequests", &extra);
        }
        Some(Fault::InternalError) => {
            return status(tls, 500, "Internal Server Error", "InternalError", "");
        }
        Some(Fault::Hang(d)) => {
            std::thread::sleep(d);
            return Ok(());
        }
        Some(Fault::Drop) => return Ok(()),
        None => {}
    }

    // Forward on a fresh upstream connection.
    let up = TcpStream::connect(("127.0.0.1", upstream))?;
    let name = ServerName::try_from("127.0.0.1").map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(client, name).map_err(std::io::Error::other)?;
    let mut up = rustls::StreamOwned::new(conn, up);
    let mut out = format!("{request_line}\r\n");
    for h in head.iter().skip(1).filter(|h| !h.is_empty()) {
        let key = h
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if matches!(
            key.as_str(),
            "connection" | "transfer-encoding" | "content-length"
        ) {
            continue;
        }
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    up.flush()?;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match up.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            // The apiserver closes without a TLS close_notify at times; the data is complete.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        };
        tls.write_all(&buf[..n])?;
        tls.flush()?;
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}

fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(std::io::Error::other)?;
        if n == 0 {
            let mut end = String::new();
            r.read_line(&mut end)?;
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + n, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

fn status(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    code: u16,
    text: &str,
    reason: &str,
    extra_headers: &str,
) -> std::io::Result<()> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("injected by the test fault proxy: {text}"),
        "reason": reason,
        "code": code,
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 {code} {text}\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes())?;
    tls.flush()?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}
