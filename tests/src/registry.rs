//! A real OCI registry (Debian's docker-registry, CNCF distribution 2.8) started on 127.0.0.1
//! with a free port and filesystem storage in a temp dir, and stopped on drop; optionally with
//! htpasswd (bcrypt) basic auth. Plus tiny deterministic OCI images — one platform, or a
//! multi-platform index — written as an OCI layout and pushed with `skopeo copy`, so that the
//! image content never depends on the code under test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::{free_port, tempdir};

/// A running registry.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// `(user, password)` when started with auth.
    pub auth: Option<(String, String)>,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// Whether the registry and skopeo are installed; tests call it through
/// `harness::skip_without`, which fails in CI when they are not.
pub fn available() -> bool {
    let ok = |p: &str| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    ok("docker-registry") && ok("skopeo")
}

impl Registry {
    /// Starts an anonymous registry.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts a registry that requires `user`/`password` (htpasswd, basic auth).
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::launch(Some((user.to_owned(), password.to_owned())))
    }

    fn launch(auth: Option<(String, String)>) -> Self {
        let mut last_log = String::new();
        // A port taken between free_port() and the registry's bind is retried.
        for _ in 0..5 {
            let dir = tempdir();
            let storage = dir.path().join("storage");
            std::fs::create_dir_all(&storage).expect("create storage dir");
            let host = format!("127.0.0.1:{}", free_port());
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog: {{disabled: true}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: {host}\n",
                storage.display()
            );
            if let Some((user, password)) = &auth {
                let hash = bcrypt::hash(password, 4).expect("bcrypt");
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write registry config");
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).expect("log file");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("start docker-registry (apt-get install docker-registry)");
            let mut registry = Registry {
                host,
                auth: auth.clone(),
                child: Some(child),
                dir,
            };
            if registry.wait_ready() {
                return registry;
            }
            registry.stop();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!("docker-registry did not start: {last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if let Ok(mut s) = TcpStream::connect(&self.host) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut buf = [0u8; 32];
                    if let Ok(n) = s.read(&mut buf) {
                        let head = String::from_utf8_lossy(&buf[..n]);
                        if head.starts_with("HTTP/1.1 200")
                            || head.starts_with("HTTP/1.1 401")
                            || head.starts_with("HTTP/1.0 200")
                            || head.starts_with("HTTP/1.0 401")
                        {
                            return true;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        false
    }

    /// Stops the registry now (for "registry went away" tests).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `host/repo:tag` for this registry.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host)
    }

    /// skopeo's `--dest-creds`/`--creds` value, if any.
    fn creds(&self) -> Option<String> {
        self.auth.as_ref().map(|(u, p)| format!("{u}:{p}"))
    }

    /// Pushes a single-platform image (linux/amd64) whose content is derived from `seed`;
    /// returns its manifest digest.
    pub fn push_image(&self, repo_tag: &str, seed: &str) -> String {
        let layout = tempdir();
        let image = write_image(layout.path(), seed, "linux/amd64");
        write_layout(layout.path(), &image.descriptor(None));
        self.skopeo_push(layout.path(), repo_tag);
        image.digest
    }

    /// Pushes a multi-platform OCI index (one tiny image per platform) derived from `seed`;
    /// returns the index digest and the platform manifest digests in order.
    pub fn push_index(
        &self,
        repo_tag: &str,
        seed: &str,
        platforms: &[&str],
    ) -> (String, Vec<String>) {
        let layout = tempdir();
        let images: Vec<Image> = platforms
            .iter()
            .map(|p| write_image(layout.path(), &format!("{seed}/{p}"), p))
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": images.iter().zip(platforms).map(|(i, p)| i.descriptor(Some(p))).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&index).expect("index json");
        let digest = put_blob(layout.path(), &bytes);
        let desc = serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": bytes.len(),
        });
        write_layout(layout.path(), &desc);
        self.skopeo_push(layout.path(), repo_tag);
        (digest, images.into_iter().map(|i| i.digest).collect())
    }

    fn skopeo_push(&self, layout: &Path, repo_tag: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "--insecure-policy",
            "copy",
            "--all",
            "--preserve-digests",
            "--quiet",
            "--dest-tls-verify=false",
        ]);
        if let Some(creds) = self.creds() {
            cmd.arg("--dest-creds").arg(creds);
        }
        cmd.arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{}", self.reference(repo_tag)));
        let out = cmd.output().expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy to {repo_tag} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `skopeo inspect --raw` digest of a reference, computed from the raw manifest like
    /// `skopeo inspect --format {{.Digest}}` reports for the top-level manifest.
    pub fn skopeo_digest(&self, reference: &str) -> String {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
        ]);
        if let Some(creds) = self.creds() {
            cmd.arg("--creds").arg(creds);
        }
        let out = cmd
            .arg(format!("docker://{reference}"))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        sha256(&out.stdout)
    }

    /// `skopeo inspect --format {{.Digest}}` (what skopeo itself reports).
    pub fn skopeo_inspect_digest(&self, reference: &str) -> String {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "--insecure-policy",
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
        ]);
        if let Some(creds) = self.creds() {
            cmd.arg("--creds").arg(creds);
        }
        let out = cmd
            .arg(format!("docker://{reference}"))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The storage directory (to check what was written).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut s = String::from("sha256:");
    for b in hash.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

struct Image {
    digest: String,
    size: usize,
}

impl Image {
    fn descriptor(&self, platform: Option<&&str>) -> serde_json::Value {
        let mut d = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": self.digest,
            "size": self.size,
        });
        if let Some(p) = platform {
            let parts: Vec<&str> = p.split('/').collect();
            let mut platform = serde_json::json!({"os": parts[0], "architecture": parts[1]});
            if let Some(v) = parts.get(2) {
                platform["variant"] = serde_json::json!(v);
            }
            d["platform"] = platform;
        }
        d
    }
}

fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("blobs dir");
    std::fs::write(dir.join(&digest["sha256:".len()..]), bytes).expect("write blob");
    digest
}

/// A one-file tar archive (ustar), uncompressed: deterministic bytes for a layer.
pub fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn write_image(layout: &Path, seed: &str, platform: &str) -> Image {
    let layer = tar_with_file("seed.txt", seed.as_bytes());
    let layer_digest = put_blob(layout, &layer);
    let parts: Vec<&str> = platform.split('/').collect();
    let mut config = serde_json::json!({
        "architecture": parts[1],
        "os": parts[0],
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    if let Some(v) = parts.get(2) {
        config["variant"] = serde_json::json!(v);
    }
    let config_bytes = serde_json::to_vec(&config).expect("config json");
    let config_digest = put_blob(layout, &config_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    });
    let bytes = serde_json::to_vec(&manifest).expect("manifest json");
    let digest = put_blob(layout, &bytes);
    Image {
        digest,
        size: bytes.len(),
    }
}

fn write_layout(layout: &Path, top: &serde_json::Value) {
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let mut top = top.clone();
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index.json");
}

/// A token-auth front for a [`Registry`]: the way Docker Hub, GHCR or Harbor do auth. `/v2/...`
/// without a valid bearer token answers 401 with a `Bearer realm=…/token` challenge; `/token`
/// hands out a token for the right basic credentials (GET, the distribution token flow) or, when
/// started with a refresh token, for an OAuth2 `grant_type=refresh_token` POST carrying it with
/// the challenge's `service` and a repository `scope` (the identitytoken flow of skopeo and
/// docker); requests with the token are forwarded to the real registry behind (one connection
/// per request). Pull-only: upload `Location`s are not rewritten.
///
/// An *echoing* front behaves like a careless server: its error bodies repeat the credentials it
/// was sent (the `Authorization` header, the decoded `user:password`, the refresh token), and
/// every forwarded answer carries the request's `Authorization` value back in an `X-Echo`
/// header (and, like some registries, a HEAD answer has no `Docker-Content-Digest`, so clients
/// GET the manifest), so that tests can check that nothing a server echoes reaches the user.
pub struct TokenFront {
    /// `127.0.0.1:PORT` of the front.
    pub host: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How a [`TokenFront`] decides and answers.
#[derive(Clone)]
struct FrontConfig {
    backend: String,
    front: String,
    token: String,
    basic: String,
    refresh: Option<String>,
    echo: bool,
}

impl TokenFront {
    /// Starts a front for `backend` accepting `user`/`password` at its token endpoint.
    pub fn start(backend: &Registry, user: &str, password: &str) -> Self {
        Self::launch(backend, user, password, None, false)
    }

    /// Like [`TokenFront::start`], but its errors and answers echo the credentials it was sent.
    pub fn start_echoing(backend: &Registry, user: &str, password: &str) -> Self {
        Self::launch(backend, user, password, None, true)
    }

    /// A front that also accepts the OAuth2 refresh token `refresh` (POST, form-encoded), and
    /// echoes what it was sent in its refusals.
    pub fn start_with_refresh_token(backend: &Registry, refresh: &str) -> Self {
        Self::launch(
            backend,
            "no-basic-user",
            "no-basic-password",
            Some(refresh),
            true,
        )
    }

    fn launch(
        backend: &Registry,
        user: &str,
        password: &str,
        refresh: Option<&str>,
        echo: bool,
    ) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind token front");
        let host = listener.local_addr().expect("addr").to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let config = FrontConfig {
            backend: backend.host.clone(),
            front: host.clone(),
            token: format!("tok-{}", std::process::id()),
            basic: format!("Basic {}", base64(&format!("{user}:{password}"))),
            refresh: refresh.map(str::to_owned),
            echo,
        };
        let flag = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &config);
                });
            }
        });
        TokenFront { host, stop }
    }

    /// `host/repo:tag` through the front.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host)
    }
}

impl Drop for TokenFront {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

/// A request: its first line, lower-cased headers and body.
type Request = (String, Vec<(String, String)>, Vec<u8>);

fn read_request(conn: &mut TcpStream) -> std::io::Result<Request> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        // Go's HTTP client sends a body of unknown length (skopeo's token POST) chunked.
        let mut body = Vec::new();
        loop {
            let mut size_line = Vec::new();
            while !size_line.ends_with(b"\r\n") {
                if conn.read(&mut byte)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                size_line.push(byte[0]);
            }
            let size_text = String::from_utf8_lossy(&size_line);
            let size = usize::from_str_radix(size_text.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
            let mut chunk = vec![0u8; size + 2];
            conn.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
        // The chunked framing is ours to undo; what goes on is a plain body.
        let headers = headers
            .into_iter()
            .filter(|(k, _)| k != "transfer-encoding")
            .chain([("content-length".to_owned(), body.len().to_string())])
            .collect();
        return Ok((request_line, headers, body));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body)?;
    Ok((request_line, headers, body))
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn respond(conn: &mut TcpStream, status: &str, extra: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(response.as_bytes())
}

fn serve(mut conn: TcpStream, config: &FrontConfig) -> std::io::Result<()> {
    let (request_line, headers, body) = read_request(&mut conn)?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let sent_auth = header("authorization").unwrap_or("").to_owned();
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let method = request_line.split(' ').next().unwrap_or("");
    let granted = format!(
        r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#,
        token = config.token
    );
    if path.starts_with("/token") && method == "POST" {
        let form = form_pairs(&body);
        let field = |k: &str| {
            form.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        let scope_ok =
            field("scope").is_some_and(|s| s.starts_with("repository:") && s.contains(':'));
        let ok = config.refresh.is_some()
            && field("grant_type") == Some("refresh_token")
            && field("refresh_token") == config.refresh.as_deref()
            && field("service") == Some("token-front")
            && scope_ok
            && field("client_id").is_some_and(|c| !c.is_empty());
        if ok {
            return respond(&mut conn, "200 OK", "", &granted);
        }
        let message = if config.echo {
            format!(
                "invalid refresh token {:?} for scope {:?}",
                field("refresh_token").unwrap_or(""),
                field("scope").unwrap_or("")
            )
        } else {
            "invalid refresh token".to_owned()
        };
        let body =
            serde_json::json!({"error": "invalid_grant", "error_description": message}).to_string();
        return respond(&mut conn, "401 Unauthorized", "", &body);
    }
    if path.starts_with("/token") {
        if sent_auth == config.basic {
            return respond(&mut conn, "200 OK", "", &granted);
        }
        let message = if config.echo {
            let decoded = sent_auth
                .strip_prefix("Basic ")
                .and_then(unbase64)
                .unwrap_or_default();
            format!("invalid username or password: you sent Authorization: {sent_auth} ({decoded})")
        } else {
            "invalid username or password".to_owned()
        };
        let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]})
            .to_string();
        return respond(&mut conn, "401 Unauthorized", "", &body);
    }
    if sent_auth != format!("Bearer {}", config.token) {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://{}/token\",service=\"token-front\"\r\n",
            config.front
        );
        return respond(&mut conn, "401 Unauthorized", &challenge, body);
    }
    let mut upstream = TcpStream::connect(&config.backend)?;
    let mut forwarded = format!(
        "{request_line}\r\nHost: {}\r\nConnection: close\r\n",
        config.backend
    );
    for (k, v) in &headers {
        if !matches!(k.as_str(), "host" | "connection" | "authorization") {
            forwarded.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    forwarded.push_str("\r\n");
    upstream.write_all(forwarded.as_bytes())?;
    upstream.write_all(&body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    if config.echo {
        // Like some registries, no digest on HEAD, so clients GET the manifest (and oci-client
        // traces that answer's headers).
        if method == "HEAD" {
            let text = String::from_utf8_lossy(&response).into_owned();
            let kept: Vec<&str> = text
                .split("\r\n")
                .filter(|l| !l.to_ascii_lowercase().starts_with("docker-content-digest:"))
                .collect();
            response = kept.join("\r\n").into_bytes();
        }
        // The echo goes in right after the status line, as a header of its own.
        if let Some(end) = response.windows(2).position(|w| w == b"\r\n") {
            let echo = format!("\r\nX-Echo: {sent_auth}");
            response.splice(end..end, echo.into_bytes());
        }
    }
    conn.write_all(&response)
}

/// Base64 decoding, for the echoing front's "you sent user:password".
fn unbase64(s: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

fn base64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
