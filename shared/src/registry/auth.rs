//! Registry credentials, found where skopeo and crane look: `REGISTRY_AUTH_FILE` alone when set;
//! otherwise `$XDG_RUNTIME_DIR/containers/auth.json`, then `$DOCKER_CONFIG/config.json` (or
//! `~/.docker/config.json`). Entries are `auths` (`auth` = base64 `user:password`, or
//! `username`/`password`, `registrytoken`, or `identitytoken`: an OAuth2 refresh token that is
//! exchanged at the registry's token endpoint, as skopeo does), `credHelpers` and `credsStore`
//! (the `docker-credential-<helper> get` protocol). Keys may be a host, a URL, or a host with a
//! repository path (the most specific key wins, as in containers-auth.json).
//!
//! An entry that cannot be used (a mistyped field, an `auth` that is not base64) is reported when
//! an operation needs that registry, naming the file and the entry; entries for other registries
//! never get in the way. Every secret read here is registered with [`crate::scrub`], so no error
//! or log line of the process can show it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

use crate::scrub;

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// Username and password (basic auth, or exchanged for a token).
    Basic { username: String, password: String },
    /// A bearer token used as is (`registrytoken`).
    Token(String),
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user), exchanged for an
    /// access token at the registry's token endpoint.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::Token(_) => write!(f, "Token(***)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(***)"),
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
    /// In source priority order; the first file that has a key wins. An entry that cannot be
    /// used keeps its error for the operation that needs it.
    auths: BTreeMap<String, Result<Credential, String>>,
    helpers: BTreeMap<String, String>,
    store: Option<String>,
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
        remember(&credential);
        self.auths.insert(normalize_key(registry), Ok(credential));
    }

    fn add_file(&mut self, file: &Path, value: &Value) -> Result<(), String> {
        if let Some(auths) = value.get("auths") {
            let Some(auths) = auths.as_object() else {
                return Err(format!(
                    "{}: `auths` must be an object of registry entries",
                    file.display()
                ));
            };
            for (key, entry) in auths {
                let normalized = normalize_key(key);
                if self.auths.contains_key(&normalized) {
                    continue;
                }
                let parsed = entry_credential(entry)
                    .map_err(|problem| format!("{}: auths.{key}: {problem}", file.display()));
                match parsed {
                    Ok(Some(cred)) => {
                        remember(&cred);
                        self.auths.insert(normalized, Ok(cred));
                    }
                    Ok(None) => {}
                    Err(problem) => {
                        self.auths.insert(normalized, Err(problem));
                    }
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
                return c.clone().map(Some);
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
    // The helper protocol's way of saying "this is an identity (refresh) token".
    let credential = if username == "<token>" {
        Credential::IdentityToken(secret.to_owned())
    } else {
        Credential::Basic {
            username: username.to_owned(),
            password: secret.to_owned(),
        }
    };
    remember(&credential);
    Ok(Some(credential))
}

/// Registers every secret of `credential` with the scrubber: a password alone, the
/// `user:password` pair (and so its base64, as a Basic header carries it), a token.
fn remember(credential: &Credential) {
    match credential {
        Credential::Basic { username, password } => {
            scrub::register(password);
            scrub::register(&format!("{username}:{password}"));
        }
        Credential::Token(token) | Credential::IdentityToken(token) => scrub::register(token),
    }
}

/// The fields docker, podman and skopeo write in an `auths` entry.
const ENTRY_FIELDS: [&str; 7] = [
    "auth",
    "username",
    "password",
    "identitytoken",
    "registrytoken",
    "email",
    "serveraddress",
];

/// The credential of one `auths` entry; `None` for an entry without one (only `email`, say);
/// the problem, naming the field, for an entry that cannot be used.
fn entry_credential(entry: &Value) -> Result<Option<Credential>, String> {
    let Some(fields) = entry.as_object() else {
        return Err("an entry must be an object with `auth` or `username` and `password`".into());
    };
    for (name, value) in fields {
        if !ENTRY_FIELDS.contains(&name.as_str()) {
            return Err(format!(
                "unknown field `{name}` (expected one of {})",
                ENTRY_FIELDS.join(", ")
            ));
        }
        if !value.is_string() && !value.is_null() {
            return Err(format!("`{name}` must be a string"));
        }
    }
    let field = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    // skopeo uses an identity token whenever there is one, whatever `auth` says (docker writes
    // `auth` as base64 of `<user>:` beside it).
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credential::IdentityToken(token.to_owned())));
    }
    if let Some(token) = field("registrytoken") {
        return Ok(Some(Credential::Token(token.to_owned())));
    }
    match (field("username"), field("password")) {
        (Some(u), Some(p)) => {
            return Ok(Some(Credential::Basic {
                username: u.to_owned(),
                password: p.to_owned(),
            }))
        }
        (Some(_), None) if field("auth").is_none() => {
            return Err("`username` without `password`".into())
        }
        (None, Some(_)) if field("auth").is_none() => {
            return Err("`password` without `username`".into())
        }
        _ => {}
    }
    let Some(auth) = field("auth") else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
    match decoded {
        Some((username, password)) => Ok(Some(Credential::Basic { username, password })),
        None => Err("`auth` is not base64 of user:password".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
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
                "quay.io": {"auth": b64("u1:secret-one")},
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
        assert_eq!(
            crate::scrub::scrub("x secret-one y tok-three"),
            "x *** y ***"
        );
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

    #[test]
    fn unusable_entries_fail_only_the_registry_they_are_for() {
        let value = serde_json::json!({
            "auths": {
                "typo.io": {"usrname": "u", "password": "p-typo-1"},
                "half.io": {"username": "u"},
                "bad64.io": {"auth": "%%%"},
                "num.io": {"auth": 12},
                "ok.io": {"username": "u", "password": "p-ok-1"},
                "email-only.io": {"email": "a@b"}
            }
        });
        let mut c = Credentials::default();
        c.add_file(Path::new("auth.json"), &value)
            .expect("loading never fails on one entry");
        let err = |host: &str| c.lookup(host, "a/b").expect_err(host);
        assert_eq!(
            err("typo.io"),
            "auth.json: auths.typo.io: unknown field `usrname` (expected one of auth, username, password, identitytoken, registrytoken, email, serveraddress)"
        );
        assert_eq!(
            err("half.io"),
            "auth.json: auths.half.io: `username` without `password`"
        );
        assert_eq!(
            err("bad64.io"),
            "auth.json: auths.bad64.io: `auth` is not base64 of user:password"
        );
        assert_eq!(
            err("num.io"),
            "auth.json: auths.num.io: `auth` must be a string"
        );
        assert!(matches!(
            c.lookup("ok.io", "a/b"),
            Ok(Some(Credential::Basic { .. }))
        ));
        assert_eq!(c.lookup("email-only.io", "a/b"), Ok(None));
    }

    #[test]
    fn identity_tokens_are_kept_for_their_registry_only() {
        let value = serde_json::json!({
            "auths": {
                "acr.example.io": {"auth": b64("00000000-0000-0000-0000-000000000000:"), "identitytoken": "refresh-tok-77"},
                "other.io": {"username": "u", "password": "p-other-1"}
            }
        });
        let mut c = Credentials::default();
        c.add_file(Path::new("auth.json"), &value).expect("valid");
        assert_eq!(
            c.lookup("acr.example.io", "app").expect("lookup"),
            Some(Credential::IdentityToken("refresh-tok-77".into()))
        );
        assert!(matches!(
            c.lookup("other.io", "app"),
            Ok(Some(Credential::Basic { .. }))
        ));
        assert_eq!(crate::scrub::scrub("got refresh-tok-77"), "got ***");
    }
}
