//! Git over smart HTTP for tests: `git http-backend` behind a small server on 127.0.0.1.
//!
//! The server speaks just enough HTTP/1.1 (one request per connection, `Content-Length` or
//! chunked bodies) and runs `git http-backend` as a CGI for each request, so clone, fetch and
//! push behave as they do against a real Git host. Optional Basic auth lets tests check what a
//! tool does when credentials are wrong. The same tiny server carries the provider mocks.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One parsed HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path exactly as sent (still percent-encoded).
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Query parameters, percent-decoded.
    pub fn params(&self) -> BTreeMap<String, String> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(value).expect("serialise JSON"),
        }
    }
}

/// Percent-decoding (`+` stays `+`, as in paths and the APIs we mock).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A server on 127.0.0.1 handling each request with `handler`, stopped on drop.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl Fn(Request) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let handler = handler.clone();
                std::thread::spawn(move || serve(stream, &*handler));
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &dyn Fn(Request) -> Response) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let response = handler(request);
    let mut out = stream;
    let reason = match response.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&response.body);
    let _ = out.flush();
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body,
    })
}

/// `git http-backend` serving every repository under a directory.
pub struct GitHttp {
    server: Server,
    root: PathBuf,
}

impl GitHttp {
    /// Serves the repositories under `root` without authentication.
    pub fn start(root: &Path) -> Self {
        Self::start_with(root, None)
    }

    /// Serves the repositories under `root`, asking for Basic auth `user`:`password`.
    pub fn with_auth(root: &Path, user: &str, password: &str) -> Self {
        Self::start_with(root, Some((user.to_owned(), password.to_owned())))
    }

    /// A Git server that asks for credentials and then refuses them with a plain-text error
    /// repeating the `Authorization` header it got and the decoded `user:password` (as a badly
    /// written proxy or server may do; git shows such a body as `remote:` lines).
    pub fn echoing_auth(root: &Path) -> Self {
        let server = Server::start(move |req| match req.header("authorization") {
            None => Response {
                status: 401,
                headers: vec![("WWW-Authenticate".into(), "Basic realm=\"git\"".into())],
                body: b"authentication required\n".to_vec(),
            },
            Some(sent) => {
                use base64::Engine as _;
                let decoded = sent
                    .strip_prefix("Basic ")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                Response {
                    status: 403,
                    headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
                    body: format!("access denied: you sent {sent}, that is {decoded}\n")
                        .into_bytes(),
                }
            }
        });
        GitHttp {
            server,
            root: root.to_path_buf(),
        }
    }

    fn start_with(root: &Path, auth: Option<(String, String)>) -> Self {
        let root = root.to_path_buf();
        let project_root = root.clone();
        let expected = auth.map(|(u, p)| {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let server = Server::start(move |req| {
            if let Some(expected) = &expected {
                if req.header("authorization") != Some(expected.as_str()) {
                    return Response {
                        status: 401,
                        headers: vec![("WWW-Authenticate".into(), "Basic realm=\"git\"".into())],
                        body: b"authentication required\n".to_vec(),
                    };
                }
            }
            cgi(&project_root, &req)
        });
        GitHttp { server, root }
    }

    /// `http://127.0.0.1:PORT/<name>` for a repository directory `root/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.server.base())
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Runs one request through `git http-backend` and turns its CGI answer into HTTP (public so
/// that a test can put its own [`Server`] in front, e.g. to count requests).
pub fn cgi(root: &Path, req: &Request) -> Response {
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", decode(&req.path))
        .env("QUERY_STRING", &req.query)
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = req.header("content-type") {
        cmd.env("CONTENT_TYPE", t);
    }
    if let Some(enc) = req.header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(p) = req.header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    let Ok(mut child) = cmd.spawn() else {
        return Response {
            status: 500,
            headers: vec![],
            body: b"cannot run git http-backend".to_vec(),
        };
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = req.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().expect("wait for http-backend");
    let _ = writer.join();
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, skip)) = split else {
        return Response {
            status: 500,
            headers: vec![],
            body: out.stderr,
        };
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500);
        } else {
            headers.push((k.to_owned(), v.to_owned()));
        }
    }
    Response {
        status,
        headers,
        body: raw[end + skip..].to_vec(),
    }
}
