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

/// Whether the registry and skopeo are installed; tests skip with a printed reason otherwise.
pub fn available() -> bool {
    let ok = |p: &str| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let found = ok("docker-registry") && ok("skopeo");
    if !found {
        eprintln!("skipping: docker-registry and skopeo are needed (apt-get install docker-registry skopeo)");
    }
    found
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
/// hands out a token for the right basic credentials; requests with the token are forwarded to
/// the real registry behind (one connection per request). Pull-only: upload `Location`s are not
/// rewritten.
pub struct TokenFront {
    /// `127.0.0.1:PORT` of the front.
    pub host: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TokenFront {
    /// Starts a front for `backend` accepting `user`/`password` at its token endpoint.
    pub fn start(backend: &Registry, user: &str, password: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind token front");
        let host = listener.local_addr().expect("addr").to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let token = format!("tok-{}", std::process::id());
        let expected_basic = format!("Basic {}", base64(&format!("{user}:{password}")));
        let (backend_host, front, flag) = (backend.host.clone(), host.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (backend_host, front, token, expected_basic) = (
                    backend_host.clone(),
                    front.clone(),
                    token.clone(),
                    expected_basic.clone(),
                );
                std::thread::spawn(move || {
                    let _ = serve(conn, &backend_host, &front, &token, &expected_basic);
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
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body)?;
    Ok((request_line, headers, body))
}

fn serve(
    mut conn: TcpStream,
    backend: &str,
    front: &str,
    token: &str,
    basic: &str,
) -> std::io::Result<()> {
    let (request_line, headers, body) = read_request(&mut conn)?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    if path.starts_with("/token") {
        let response = if header("authorization") == Some(basic) {
            let body =
                format!(r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#);
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
        } else {
            let body =
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#;
            format!("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
        };
        return conn.write_all(response.as_bytes());
    }
    if header("authorization") != Some(&format!("Bearer {token}")) {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let response = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{front}/token\",service=\"token-front\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return conn.write_all(response.as_bytes());
    }
    let mut upstream = TcpStream::connect(backend)?;
    let mut forwarded = format!("{request_line}\r\nHost: {backend}\r\nConnection: close\r\n");
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
    conn.write_all(&response)
}

fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
