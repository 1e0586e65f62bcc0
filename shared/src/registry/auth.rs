//! Registry credentials, found where skopeo and crane look: `REGISTRY_AUTH_FILE` alone when set;
//! otherwise `$XDG_RUNTIME_DIR/containers/auth.json`, then `$DOCKER_CONFIG/config.json` (or
//! `~/.docker/config.json`). Entries are `auths` (`auth` = base64 `user:password`, or
//! `username`/`password`, or `registrytoken`), `credHelpers` and `credsStore` (the
//! `docker-credential-<helper> get` protocol). Keys may be a host, a URL, or a host with a
//! repository path (the most specific key wins, as in containers-auth.json).
//!
//! Credentials are kept only here; [`Credentials::redact`] scrubs them from any text that is about
//! to be shown.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64_engine::decode as b64decode;
use serde_json::Value;

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// Username and password (basic auth, or exchanged for a token).
    Basic { username: String, password: String },
    /// A bearer token used as is (`registrytoken`).
    Token(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::Token(_) => write!(f, "Token(***)"),
        }
    }
}

/// Where credentials are read from; built by the tool (usually [`AuthSources::from_env`]).
#[derive(Debug, Clone, Default)]
pub struct AuthSources {
    /// Files in priority order; missing files are skipped.
    pub files: Vec<PathBuf>,
}

impl AuthSources {
    /// The files skopeo/crane would read, from the process environment.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(file) = var("REGISTRY_AUTH_FILE") {
            return AuthSources { files: vec![file] };
        }
        let mut files = Vec::new();
        if let Some(run) = var("XDG_RUNTIME_DIR") {
            files.push(run.join("containers/auth.json"));
        }
        if let Some(dir) = var("DOCKER_CONFIG") {
            files.push(dir.join("config.json"));
        } else if let Some(home) = var("HOME") {
            files.push(home.join(".docker/config.json"));
        }
        AuthSources { files }
    }

    /// Reads the files. A file that exists but is not valid JSON is an error naming it.
    pub fn load(&self) -> Result<Credentials, String> {
        let mut creds = Credentials::default();
        for file in &self.files {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(format!(
                        "{}: cannot read registry credentials: {}",
                        file.display(),
                        e.kind()
                    ))
                }
            };
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                // serde_json's message has a position, never the content.
                format!("{}: invalid registry credentials file: {e}", file.display())
            })?;
            creds.add_file(file, &value)?;
        }
        Ok(creds)
    }
}

/// Credentials from all sources, by normalised key (`host` or `host/repo/path`).
#[derive(Clone, Default)]
pub struct Credentials {
    /// In source priority order; the first file that has a key wins.
    auths: BTreeMap<String, Credential>,
    helpers: BTreeMap<String, String>,
    store: Option<String>,
    /// Every secret we know of, for redaction.
    secrets: Vec<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("registries", &self.auths.keys().collect::<Vec<_>>())
            .field("helpers", &self.helpers)
            .finish_non_exhaustive()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `ghcr.io/` → `ghcr.io`; keeps a repository path.
pub fn normalize_key(key: &str) -> String {
    let key = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let key = key
        .strip_suffix("/v1")
        .or_else(|| key.strip_suffix("/v2"))
        .unwrap_or(key);
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    };
    if path.is_empty() {
        host.to_owned()
    } else {
        format!("{host}/{path}")
    }
}

impl Credentials {
    /// Adds one credential (used by tests and by `--creds`).
    pub fn insert(&mut self, registry: &str, credential: Credential) {
        self.remember(&credential);
        self.auths.insert(normalize_key(registry), credential);
    }

    fn remember(&mut self, credential: &Credential) {
        match credential {
            Credential::Basic { username, password } => {
                self.secrets.push(password.clone());
                // user:password and its base64 form can appear in a header dump.
                let pair = format!("{username}:{password}");
                self.secrets.push(base64_engine::encode(pair.as_bytes()));
                self.secrets.push(pair);
            }
            Credential::Token(t) => self.secrets.push(t.clone()),
        }
        self.secrets.retain(|s| s.len() >= 3);
    }

    fn add_file(&mut self, file: &Path, value: &Value) -> Result<(), String> {
        if let Some(auths) = value.get("auths").and_then(Value::as_object) {
            for (key, entry) in auths {
                let key = normalize_key(key);
                if self.auths.contains_key(&key) {
                    continue;
                }
                let field = |k: &str| {
                    entry
                        .get(k)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                };
                let cred = if let Some(token) = field("registrytoken") {
                    Some(Credential::Token(token.to_owned()))
                } else if let (Some(u), Some(p)) = (field("username"), field("password")) {
                    Some(Credential::Basic {
                        username: u.to_owned(),
                        password: p.to_owned(),
                    })
                } else if let Some(auth) = field("auth") {
                    let decoded = b64decode(auth.trim())
                        .and_then(|b| String::from_utf8(b).ok())
                        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
                    match decoded {
                        Some((username, password)) => {
                            Some(Credential::Basic { username, password })
                        }
                        None => {
                            return Err(format!(
                                "{}: the `auth` entry for {key} is not base64 of user:password",
                                file.display()
                            ))
                        }
                    }
                } else if field("identitytoken").is_some() {
                    return Err(format!(
                        "{}: {key} has an identitytoken (OAuth2 refresh token), which image-tag does not support yet; log in with a username and password or a registry token",
                        file.display()
                    ));
                } else {
                    None
                };
                if let Some(cred) = cred {
                    self.remember(&cred);
                    self.auths.insert(key, cred);
                }
            }
        }
        if let Some(helpers) = value.get("credHelpers").and_then(Value::as_object) {
            for (key, helper) in helpers {
                if let Some(h) = helper.as_str() {
                    self.helpers
                        .entry(normalize_key(key))
                        .or_insert_with(|| h.to_owned());
                }
            }
        }
        if self.store.is_none() {
            self.store = value
                .get("credsStore")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        Ok(())
    }

    /// The credential for `registry`/`repository`: the most specific `auths` key, then a
    /// credential helper for the host, then the default store; `None` means anonymous.
    pub fn lookup(&self, registry: &str, repository: &str) -> Result<Option<Credential>, String> {
        let host = normalize_key(registry);
        let full = format!("{host}/{repository}");
        let mut candidate = full.as_str();
        loop {
            if let Some(c) = self.auths.get(candidate) {
                return Ok(Some(c.clone()));
            }
            match candidate.rsplit_once('/') {
                Some((prefix, _)) => candidate = prefix,
                None => break,
            }
        }
        let helper = self.helpers.get(&host).or(self.store.as_ref());
        match helper {
            Some(helper) => run_helper(helper, &host),
            None => Ok(None),
        }
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// The docker credential helper protocol: `docker-credential-<helper> get`, server on stdin,
/// `{"Username": …, "Secret": …}` on stdout; "not found" means anonymous.
fn run_helper(helper: &str, host: &str) -> Result<Option<Credential>, String> {
    let program = format!("docker-credential-{helper}");
    let server = if host == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        host
    };
    let child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "credential helper {program} (configured for {host}) is not on PATH"
            ))
        }
        Err(e) => {
            return Err(format!(
                "cannot run credential helper {program}: {}",
                e.kind()
            ))
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("credential helper {program}: {}", e.kind()))?;
    if !out.status.success() {
        // Helpers report a missing entry as a failure with this message.
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("credentials not found")
            || String::from_utf8_lossy(&out.stderr).contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(format!("credential helper {program} failed for {host}"));
    }
    let value: Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("credential helper {program} returned something that is not JSON"))?;
    let username = value
        .get("Username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let secret = value
        .get("Secret")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if secret.is_empty() {
        return Ok(None);
    }
    if username == "<token>" {
        return Err(format!(
            "credential helper {program} returned an identity token for {host}, which image-tag does not support yet"
        ));
    }
    Ok(Some(Credential::Basic {
        username: username.to_owned(),
        password: secret.to_owned(),
    }))
}

/// Standard base64 (RFC 4648 with padding), the encoding of docker's `auth` field. Written out
/// here because the shared crate's dependency list is owned elsewhere; it is 40 lines.
mod base64_engine {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(input: &str) -> Option<Vec<u8>> {
        let bytes: Vec<u8> = input.bytes().filter(|b| *b != b'=').collect();
        if bytes.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
        let mut acc: u32 = 0;
        let mut bits = 0;
        for b in bytes {
            let v = ALPHABET.iter().position(|a| *a == b)? as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push(((acc >> bits) & 0xff) as u8);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "user:p@ss:word", "ünïcode"] {
            let enc = base64_engine::encode(s.as_bytes());
            assert_eq!(b64decode(&enc).expect("decode"), s.as_bytes());
        }
        assert_eq!(base64_engine::encode(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn keys_normalise() {
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_key("ghcr.io/"), "ghcr.io");
        assert_eq!(normalize_key("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_key("quay.io/org/repo"), "quay.io/org/repo");
    }

    #[test]
    fn most_specific_entry_wins_and_secrets_redact() {
        let value: Value = serde_json::json!({
            "auths": {
                "quay.io": {"auth": base64_engine::encode(b"u1:secret-one")},
                "quay.io/team": {"username": "u2", "password": "secret-two"},
                "ghcr.io": {"registrytoken": "tok-three"}
            }
        });
        let mut c = Credentials::default();
        c.add_file(Path::new("x.json"), &value).expect("valid");
        assert_eq!(
            c.lookup("quay.io", "team/app").expect("lookup"),
            Some(Credential::Basic {
                username: "u2".into(),
                password: "secret-two".into()
            })
        );
        assert_eq!(
            c.lookup("quay.io", "other/app").expect("lookup"),
            Some(Credential::Basic {
                username: "u1".into(),
                password: "secret-one".into()
            })
        );
        assert_eq!(
            c.lookup("ghcr.io", "a/b").expect("lookup"),
            Some(Credential::Token("tok-three".into()))
        );
        assert_eq!(
            c.lookup("docker.io", "library/nginx").expect("lookup"),
            None
        );
        assert_eq!(c.redact("x secret-one y tok-three"), "x *** y ***");
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn first_file_wins() {
        let mut c = Credentials::default();
        let first = serde_json::json!({"auths": {"r.io": {"username": "a", "password": "first"}}});
        let second =
            serde_json::json!({"auths": {"r.io": {"username": "b", "password": "second"}}});
        c.add_file(Path::new("1"), &first).expect("ok");
        c.add_file(Path::new("2"), &second).expect("ok");
        assert_eq!(
            c.lookup("r.io", "x").expect("lookup"),
            Some(Credential::Basic {
                username: "a".into(),
                password: "first".into()
            })
        );
    }
}
