//! OCI registries: resolving references to digests, reading and writing manifests and blobs,
//! retagging and copying images, with credentials found the way skopeo and crane find them.
//!
//! Everything goes through [`Registry`], which keeps one HTTP client per registry host (plain
//! HTTP only for loopback hosts and the ones the user declared insecure) and the credentials for
//! each host. Errors name the reference or the registry and never carry a credential: every
//! message is passed through [`crate::scrub`] before it leaves this module (and again when it is
//! printed), and every credential the module learns is registered there.

mod auth;
mod oauth;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use serde_json::Value;

pub use auth::{AuthSources, Credential, Credentials};
pub use oci_client::Reference;

/// OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What we accept when asking for a manifest: an index or list first, so that a multi-platform
/// tag resolves to the index digest (what `skopeo inspect --raw | sha256sum` and crane report).
pub const ACCEPT: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// A failure talking to a registry. Messages name the reference or registry, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The string is not an image reference.
    #[error("{input}: invalid image reference: {reason}")]
    Reference { input: String, reason: String },
    /// The manifest, tag, repository or blob does not exist.
    #[error("{reference}: not found in the registry")]
    NotFound { reference: String },
    /// The registry refused our credentials (or wants some).
    #[error("{registry}: authentication failed for {reference}{detail}")]
    Unauthorized {
        registry: String,
        reference: String,
        detail: String,
    },
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("{registry}: cannot reach the registry: {reason}")]
    Unreachable { registry: String, reason: String },
    /// The registry answered with something we cannot use.
    #[error("{reference}: {message}")]
    Protocol { reference: String, message: String },
    /// The credentials configuration could not be read.
    #[error("{0}")]
    Config(String),
}

/// Result of this module.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Parses an image reference the way docker does (`nginx` is `docker.io/library/nginx:latest`).
///
/// Hand-written rather than oci-spec's `Reference::from_str`: that one compiles a large Unicode
/// regular expression on first use, which costs more than a whole `pin` run on small inputs.
/// The grammar is distribution's reference grammar (tags are ASCII, as docker requires).
pub fn parse_reference(input: &str) -> Result<Reference> {
    let fail = |reason: &str| RegistryError::Reference {
        input: shown(input),
        reason: reason.to_owned(),
    };
    if input.is_empty() {
        return Err(fail("repository name must have at least one component"));
    }
    if input
        .split_once('@')
        .is_some_and(|(userinfo, rest)| rest.contains('/') && !userinfo.contains('/'))
    {
        return Err(fail(
            "credentials do not belong in a reference; put them in the registry auth file",
        ));
    }
    let (rest, digest) = match input.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (input, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        let b = tag.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !ok {
            return Err(fail("invalid tag format"));
        }
    }
    if let Some(digest) = digest {
        check_digest(digest).map_err(&fail)?;
    }
    let components: Vec<&str> = name.split('/').collect();
    let (domain, path) = match components.as_slice() {
        [first, rest @ ..]
            if !rest.is_empty()
                && (first.contains('.') || first.contains(':') || *first == "localhost") =>
        {
            (Some(*first), rest.to_vec())
        }
        _ => (None, components.clone()),
    };
    if let Some(domain) = domain {
        if !valid_domain(domain) {
            return Err(fail("invalid reference format"));
        }
    }
    for component in &path {
        if !valid_path_component(component) {
            let lower = component.to_ascii_lowercase();
            return Err(fail(
                if lower != *component && valid_path_component(&lower) {
                    "repository name must be lowercase"
                } else {
                    "invalid reference format"
                },
            ));
        }
    }
    let mut registry = domain.unwrap_or("docker.io").to_owned();
    if registry == "index.docker.io" {
        registry = "docker.io".to_owned();
    }
    let mut repository = path.join("/");
    if registry == "docker.io" && path.len() == 1 {
        repository = format!("library/{repository}");
    }
    if repository.len() > 255 {
        return Err(fail("repository name must not be more than 255 characters"));
    }
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(registry, repository, t.to_owned(), d.to_owned())
        }
        (Some(t), None) => Reference::with_tag(registry, repository, t.to_owned()),
        (None, Some(d)) => Reference::with_digest(registry, repository, d.to_owned()),
        (None, None) => Reference::with_tag(registry, repository, "latest".to_owned()),
    })
}

/// A reference as it may be shown in a message: control characters escaped (a `\n` in a
/// reference must not forge a second output line), and credentials written into it
/// (`user:password@registry/repo`, which no registry accepts but users paste) replaced by `***`
/// and registered with the scrubber. A digest's `@` is not userinfo: what follows it has no `/`.
pub fn shown(input: &str) -> String {
    let input = match input.split_once('@') {
        Some((userinfo, rest)) if rest.contains('/') && !userinfo.contains('/') => {
            crate::scrub::register(userinfo);
            if let Some((_, password)) = userinfo.split_once(':') {
                crate::scrub::register(password);
            }
            format!("***@{rest}")
        }
        _ => input.to_owned(),
    };
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `algorithm:hex`, with the lengths oci-spec and registries enforce.
fn check_digest(digest: &str) -> std::result::Result<(), &'static str> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err("invalid checksum digest format");
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.as_bytes()[0].is_ascii_alphabetic()
        && algorithm
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'+' | b'.'));
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("invalid checksum digest format");
    }
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm"),
    };
    if hex.len() != want {
        return Err("invalid checksum digest length");
    }
    Ok(())
}

/// `host[:port]`: dot-separated labels of letters, digits and inner hyphens.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A manifest as stored in the registry: its exact bytes (the digest is over them), its media
/// type and its digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

/// One entry of a manifest: a child manifest of an index, a config or a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    /// `os/arch[/variant]` for the children of an index.
    pub platform: Option<String>,
}

impl Manifest {
    /// Parses the manifest bytes once; the media type is taken from the document (every index
    /// and image manifest we write or read carries one) with the content as the fallback.
    pub fn new(bytes: Vec<u8>, digest: String) -> std::result::Result<Self, String> {
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the manifest is not valid JSON: {e}"))?;
        let media_type =
            match value.get("mediaType").and_then(Value::as_str) {
                Some(m) => m.to_owned(),
                None if value.get("manifests").is_some() => OCI_INDEX.to_owned(),
                None if value.get("layers").is_some() => OCI_MANIFEST.to_owned(),
                None => return Err(
                    "the manifest has no mediaType and is neither an index nor an image manifest"
                        .to_owned(),
                ),
            };
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// True for an OCI index or a Docker manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_LIST
    }

    fn value(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// The platform manifests of an index, in the index's order.
    pub fn children(&self) -> Vec<Descriptor> {
        if !self.is_index() {
            return Vec::new();
        }
        let value = self.value();
        value
            .get("manifests")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(descriptor).collect())
            .unwrap_or_default()
    }

    /// The config and layers of an image manifest (config first).
    pub fn blobs(&self) -> Vec<Descriptor> {
        if self.is_index() {
            return Vec::new();
        }
        let value = self.value();
        let mut out: Vec<Descriptor> = value
            .get("config")
            .and_then(descriptor)
            .into_iter()
            .collect();
        if let Some(layers) = value.get("layers").and_then(Value::as_array) {
            out.extend(layers.iter().filter_map(descriptor));
        }
        out
    }
}

fn descriptor(v: &Value) -> Option<Descriptor> {
    let platform = v.get("platform").map(|p| {
        let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
        let mut s = format!("{}/{}", field("os"), field("architecture"));
        if !field("variant").is_empty() {
            s.push('/');
            s.push_str(field("variant"));
        }
        s
    });
    Some(Descriptor {
        media_type: v
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        digest: v.get("digest")?.as_str()?.to_owned(),
        size: v.get("size").and_then(Value::as_i64).unwrap_or(0),
        platform,
    })
}

/// What happened to one blob during a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobCopy {
    /// The destination already had it.
    Exists,
    /// Mounted from another repository of the same registry, no transfer.
    Mounted,
    /// Downloaded and uploaded.
    Copied,
}

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Hosts (`host` or `host:port`) that speak plain HTTP. Loopback hosts always may.
    pub insecure: Vec<String>,
    /// Credentials per registry.
    pub credentials: Credentials,
}

/// The entry point: clients per registry host and credentials.
pub struct Registry {
    options: Options,
    clients: tokio::sync::Mutex<Clients>,
}

/// What our clients are built from (`ClientConfig` is not `Clone`).
struct Settings {
    protocol: ClientProtocol,
}

impl From<Settings> for ClientConfig {
    fn from(s: Settings) -> ClientConfig {
        ClientConfig {
            protocol: s.protocol,
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(120)),
            platform_resolver: None,
            ..ClientConfig::default()
        }
    }
}

/// Host, credential, and the repository for credentials scoped to one.
type CredentialKey = (String, Option<Credential>, Option<String>);

/// Clients by host and credential, and the choice made for each repository.
#[derive(Default)]
struct Clients {
    by_repo: HashMap<(String, String), (Client, RegistryAuth)>,
    /// By host and credential; an identity token's access token is scoped to one repository,
    /// so its clients are by repository too.
    by_credential: HashMap<CredentialKey, (Client, RegistryAuth)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("insecure", &self.options.insecure)
            .finish_non_exhaustive()
    }
}

fn protocol_of(registry: &Registry, host: &str) -> ClientProtocol {
    if registry.is_plain_http(host) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    }
}

/// True when `host` (`name`, `name:port`, `[v6]:port`) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Registry {
    pub fn new(options: Options) -> Self {
        Registry {
            options,
            clients: tokio::sync::Mutex::new(Clients::default()),
        }
    }

    /// Whether requests to `host` use plain HTTP.
    pub fn is_plain_http(&self, host: &str) -> bool {
        is_loopback(host)
            || self
                .options
                .insecure
                .iter()
                .any(|h| h == host || host.rsplit_once(':').is_some_and(|(name, _)| name == h))
    }

    /// The client and credential for `reference`'s repository. oci-client keeps one credential
    /// per registry host, so a client is shared by the repositories that resolve to the same
    /// host and credential (a more specific `auths` key gets its own client).
    async fn client(&self, reference: &Reference) -> Result<(Client, RegistryAuth)> {
        let host = reference.resolve_registry().to_owned();
        let mut clients = self.clients.lock().await;
        let repo_key = (host.clone(), reference.repository().to_owned());
        if let Some(found) = clients.by_repo.get(&repo_key) {
            return Ok(found.clone());
        }
        let credential = self
            .options
            .credentials
            .lookup(reference.registry(), reference.repository())
            .map_err(RegistryError::Config)?;
        let scoped = matches!(credential, Some(Credential::IdentityToken(_)))
            .then(|| reference.repository().to_owned());
        let cred_key = (host.clone(), credential.clone(), scoped);
        if let Some(found) = clients.by_credential.get(&cred_key).cloned() {
            clients.by_repo.insert(repo_key, found.clone());
            return Ok(found);
        }
        let config = Settings {
            protocol: protocol_of(self, &host),
        };
        let make_client = |settings: Settings| {
            Client::try_from(ClientConfig::from(settings)).map_err(|e| RegistryError::Unreachable {
                registry: host.clone(),
                reason: format!("cannot create an HTTP client: {e}"),
            })
        };
        let client = make_client(config)?;
        let auth = match credential {
            None => {
                // oci-client pings `/v2/` before every request of an anonymous client whose
                // registry sends no challenge (nothing is cached for "no token"), doubling the
                // requests. Probe once, without storing any credential in the client (a blob
                // HEAD is the one call that does not): an open registry answers 404 or 200, and
                // an empty bearer credential is then equivalent (ignored by an open registry,
                // refused like none by a protected one) and cached; a registry that answers 401
                // keeps anonymous, so oci-client fetches and caches anonymous tokens as usual.
                let probe_digest = format!("sha256:{}", "0".repeat(64));
                match client.blob_exists(reference, &probe_digest).await {
                    Ok(_) => RegistryAuth::Bearer(String::new()),
                    Err(OciDistributionError::RequestError(e)) if e.status().is_some() => {
                        RegistryAuth::Anonymous
                    }
                    Err(e) => return Err(self.error(reference, e)),
                }
            }
            Some(Credential::Basic { username, password }) => {
                RegistryAuth::Basic(username, password)
            }
            Some(Credential::Token(token)) => RegistryAuth::Bearer(token),
            Some(Credential::IdentityToken(refresh)) => {
                let plain_http = matches!(protocol_of(self, &host), ClientProtocol::Http);
                let token = oauth::exchange(&host, plain_http, reference, &refresh)
                    .await
                    .map_err(|e| e.into_error(reference))?;
                RegistryAuth::Bearer(token)
            }
        };
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        let entry = (client, auth);
        clients.by_credential.insert(cred_key, entry.clone());
        clients.by_repo.insert(repo_key, entry.clone());
        Ok(entry)
    }

    /// Turns a client error into ours, naming `reference` and never a secret.
    fn error(&self, reference: &Reference, err: OciDistributionError) -> RegistryError {
        let registry = reference.registry().to_owned();
        let shown = reference.whole();
        let redact = |s: String| crate::scrub::scrub(&s).into_owned();
        match err {
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    RegistryError::NotFound { reference: shown }
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    RegistryError::Unauthorized {
                        registry,
                        reference: shown,
                        detail: String::new(),
                    }
                } else {
                    let text: Vec<String> =
                        envelope.errors.iter().map(|e| e.message.clone()).collect();
                    RegistryError::Protocol {
                        reference: shown,
                        message: redact(format!("the registry refused: {}", text.join("; "))),
                    }
                }
            }
            OciDistributionError::UnauthorizedError { .. } => RegistryError::Unauthorized {
                registry,
                reference: shown,
                detail: String::new(),
            },
            OciDistributionError::AuthenticationFailure(reason) => RegistryError::Unauthorized {
                registry,
                reference: shown,
                detail: redact(format!(": {}", auth_failure_reason(&reason))),
            },
            OciDistributionError::ServerError { code: 404, .. } => {
                RegistryError::NotFound { reference: shown }
            }
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Protocol {
                reference: shown,
                message: redact(format!(
                    "the registry answered HTTP {code}: {}",
                    first_line(&message)
                )),
            },
            OciDistributionError::RequestError(e) => {
                let mut reason = String::new();
                let mut source: Option<&dyn std::error::Error> = Some(&e);
                // The innermost cause is the useful one ("Connection refused").
                while let Some(s) = source {
                    reason = s.to_string();
                    source = s.source();
                }
                if let Some(cut) = reason.find(" (os error") {
                    reason.truncate(cut);
                }
                if e.is_timeout() {
                    reason = "timed out".to_owned();
                }
                RegistryError::Unreachable {
                    registry,
                    reason: redact(reason),
                }
            }
            other => RegistryError::Protocol {
                reference: shown,
                message: redact(other.to_string()),
            },
        }
    }

    /// The manifest `reference` points to (an index for a multi-platform tag).
    pub async fn manifest(&self, reference: &Reference) -> Result<Manifest> {
        let (client, auth) = self.client(reference).await?;
        let (bytes, digest) = client
            .pull_manifest_raw(reference, &auth, &ACCEPT)
            .await
            .map_err(|e| self.error(reference, e))?;
        Manifest::new(bytes.to_vec(), digest).map_err(|message| RegistryError::Protocol {
            reference: reference.whole(),
            message,
        })
    }

    /// The digest `reference` points to, from a HEAD request when the registry sends
    /// `Docker-Content-Digest` (so no manifest is downloaded).
    pub async fn digest(&self, reference: &Reference) -> Result<String> {
        let (client, auth) = self.client(reference).await?;
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        client
            .fetch_manifest_digest(reference, &auth)
            .await
            .map_err(|e| self.error(reference, e))
    }

    /// Whether the tag (or digest) exists: `Ok(false)` only for a clean "not found".
    pub async fn exists(&self, reference: &Reference) -> Result<bool> {
        match self.digest(reference).await {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores `manifest` under `reference` (a tag or its own digest).
    pub async fn put_manifest(&self, reference: &Reference, manifest: &Manifest) -> Result<()> {
        let (client, auth) = self.client(reference).await?;
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        let content_type = manifest
            .media_type
            .parse()
            .map_err(|_| RegistryError::Protocol {
                reference: reference.whole(),
                message: format!("unusable media type {:?}", manifest.media_type),
            })?;
        client
            .push_manifest_raw(reference, manifest.bytes.clone(), content_type)
            .await
            .map_err(|e| self.error(reference, e))?;
        Ok(())
    }

    /// All tags of the repository of `reference`, following pagination.
    pub async fn tags(&self, reference: &Reference) -> Result<Vec<String>> {
        const PAGE: usize = 1000;
        let (client, auth) = self.client(reference).await?;
        let mut all = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = client
                .list_tags(reference, &auth, Some(PAGE), last.as_deref())
                .await
                .map_err(|e| self.error(reference, e))?;
            let n = page.tags.len();
            last = page.tags.last().cloned();
            all.extend(page.tags);
            if n < PAGE {
                break;
            }
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Whether the repository of `reference` holds blob `digest`.
    pub async fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<bool> {
        let (client, auth) = self.client(reference).await?;
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        client
            .blob_exists(reference, digest)
            .await
            .map_err(|e| self.error(reference, e))
    }

    /// Uploads `data` as a blob of the repository of `reference`; returns its digest.
    pub async fn put_blob(&self, reference: &Reference, data: Vec<u8>) -> Result<String> {
        let digest = format!("sha256:{}", crate::Digest::of_bytes(&data).hex());
        let (client, auth) = self.client(reference).await?;
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        client
            .push_blob(reference, data, &digest)
            .await
            .map_err(|e| self.error(reference, e))?;
        Ok(digest)
    }

    /// Copies one blob from `src`'s repository to `dst`'s: skipped when present, mounted across
    /// repositories of one registry, transferred otherwise (held in memory while in flight).
    pub async fn copy_blob(
        &self,
        src: &Reference,
        dst: &Reference,
        blob: &Descriptor,
    ) -> Result<BlobCopy> {
        if self.blob_exists(dst, &blob.digest).await? {
            return Ok(BlobCopy::Exists);
        }
        let (dst_client, _) = self.client(dst).await?;
        if src.resolve_registry() == dst.resolve_registry() && src.repository() != dst.repository()
        {
            // A registry that cannot mount answers 202 and starts an upload instead; that is not
            // an error for us, we just transfer the blob.
            if dst_client.mount_blob(dst, src, &blob.digest).await.is_ok()
                && self.blob_exists(dst, &blob.digest).await?
            {
                return Ok(BlobCopy::Mounted);
            }
        }
        let (src_client, src_auth) = self.client(src).await?;
        src_client
            .store_auth_if_needed(src.resolve_registry(), &src_auth)
            .await;
        let layer = OciDescriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.clone(),
            size: blob.size,
            ..OciDescriptor::default()
        };
        let mut data: Vec<u8> = Vec::with_capacity(usize::try_from(blob.size).unwrap_or(0));
        src_client
            .pull_blob(src, &layer, &mut data)
            .await
            .map_err(|e| self.error(&src.clone_with_digest(blob.digest.clone()), e))?;
        let (_, dst_auth) = self.client(dst).await?;
        dst_client
            .store_auth_if_needed(dst.resolve_registry(), &dst_auth)
            .await;
        dst_client
            .push_blob(dst, data, &blob.digest)
            .await
            .map_err(|e| self.error(dst, e))?;
        Ok(BlobCopy::Copied)
    }
}

/// The token server's explanation: the `message` of an OCI error envelope (or `details` /
/// `error_description`), else its first line.
fn auth_failure_reason(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let from_errors = v
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str);
        let other = ["details", "error_description", "error", "message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str));
        if let Some(m) = from_errors.or(other) {
            return first_line(m).to_owned();
        }
    }
    let line = first_line(body);
    if line.is_empty() {
        "the token server refused the credentials".to_owned()
    } else {
        line.to_owned()
    }
}

fn first_line(s: &str) -> &str {
    let line = s.trim().lines().next().unwrap_or("");
    if line.len() > 200 {
        let mut cut = 200;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        &line[..cut]
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(is_loopback("127.3.2.1"));
        assert!(!is_loopback("registry.example.com:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn insecure_hosts_match_with_or_without_port() {
        let r = Registry::new(Options {
            insecure: vec!["reg.local".to_owned(), "other:5000".to_owned()],
            ..Options::default()
        });
        assert!(r.is_plain_http("reg.local:443"));
        assert!(r.is_plain_http("reg.local"));
        assert!(r.is_plain_http("other:5000"));
        assert!(!r.is_plain_http("other:5001"));
        assert!(!r.is_plain_http("ghcr.io"));
    }

    #[test]
    fn manifest_media_types() {
        let index = Manifest::new(
            br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":3,"platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}"#.to_vec(),
            "sha256:x".into(),
        )
        .expect("index");
        assert!(index.is_index());
        assert_eq!(
            index.children()[0].platform.as_deref(),
            Some("linux/arm/v7")
        );
        let image = Manifest::new(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:c","size":1},"layers":[{"digest":"sha256:l","size":2}]}"#.to_vec(),
            "sha256:y".into(),
        )
        .expect("image");
        assert!(!image.is_index());
        let blobs: Vec<_> = image.blobs().into_iter().map(|b| b.digest).collect();
        assert_eq!(blobs, ["sha256:c", "sha256:l"]);
        assert!(Manifest::new(b"{}".to_vec(), "sha256:z".into()).is_err());
    }

    #[test]
    fn references_parse_like_docker() {
        let r = parse_reference("nginx").expect("parse");
        assert_eq!(r.whole(), "docker.io/library/nginx:latest");
        // The same answers as oci-spec's regular-expression parser.
        for input in [
            "nginx:1.25",
            "index.docker.io/nginx",
            "library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "127.0.0.1:5000/a/b:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "localhost/app",
            "ghcr.io/acme/my-app__x.y:v1.2.3-rc.1",
            "Registry.Example.com:443/org/app---x:_tag",
            "foo/bar",
        ] {
            let ours = parse_reference(input).expect(input);
            let theirs = Reference::try_from(input).expect(input);
            assert_eq!(ours, theirs, "{input}");
        }
        // oci-spec lets an upper-case first component through as a "domain"; docker does not.
        assert!(parse_reference("UPPER/case").is_err());
        for bad in [
            "a//b",
            "-a",
            "a:",
            "a:-tag",
            "a@sha256:abc",
            "a@md5:0000000000000000000000000000000000",
            "a..b",
            "host:port/a",
            "a b",
            " a",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad}");
            assert!(Reference::try_from(bad).is_err(), "oci-spec accepts {bad}");
        }
        assert_eq!(
            parse_reference("Foo").expect_err("upper").to_string(),
            "Foo: invalid image reference: repository name must be lowercase"
        );
        assert!(parse_reference("Bad/Name:tag").is_err());
        // Never echoed raw: a newline would forge an output line, userinfo is a credential.
        assert_eq!(
            parse_reference("app:v1\nimage-tag: ok")
                .expect_err("newline")
                .to_string(),
            "app:v1\\nimage-tag: ok: invalid image reference: invalid tag format"
        );
        let err = parse_reference("bob:hunter2-pw@reg.example/app:v1").expect_err("userinfo");
        assert_eq!(
            err.to_string(),
            "***@reg.example/app:v1: invalid image reference: credentials do not belong in a reference; put them in the registry auth file"
        );
        assert_eq!(crate::scrub::scrub("said hunter2-pw"), "said ***");
        assert!(parse_reference("").is_err());
        assert!(parse_reference("a b").is_err());
    }
}
