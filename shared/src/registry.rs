//! OCI registries: resolving references to digests, reading and writing manifests and blobs,
//! retagging and copying images, with credentials found the way skopeo and crane find them.
//!
//! Everything goes through [`Registry`], which keeps one HTTP client per registry host (plain
//! HTTP only for loopback hosts and the ones the user declared insecure) and the credentials for
//! each host. Errors name the reference or the registry and never carry a credential: every
//! message is passed through the registry's redaction before it leaves this module.

mod auth;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
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
pub fn parse_reference(input: &str) -> Result<Reference> {
    let trimmed = input.trim();
    if trimmed != input || trimmed.is_empty() {
        return Err(RegistryError::Reference {
            input: input.to_owned(),
            reason: "empty or surrounded by spaces".to_owned(),
        });
    }
    Reference::try_from(input).map_err(|e| RegistryError::Reference {
        input: input.to_owned(),
        reason: e.to_string(),
    })
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

/// The entry point: clients per registry host, credentials, redaction.
pub struct Registry {
    options: Options,
    clients: Mutex<HashMap<String, (Client, RegistryAuth)>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("insecure", &self.options.insecure)
            .finish_non_exhaustive()
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
            clients: Mutex::new(HashMap::new()),
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

    fn client(&self, reference: &Reference) -> Result<(Client, RegistryAuth)> {
        let host = reference.resolve_registry().to_owned();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = clients.get(&host) {
            return Ok(found.clone());
        }
        let protocol = if self.is_plain_http(&host) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(120)),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| RegistryError::Unreachable {
            registry: host.clone(),
            reason: format!("cannot create an HTTP client: {e}"),
        })?;
        let auth = match self
            .options
            .credentials
            .lookup(reference.registry(), reference.repository())
            .map_err(RegistryError::Config)?
        {
            None => RegistryAuth::Anonymous,
            Some(Credential::Basic { username, password }) => {
                RegistryAuth::Basic(username, password)
            }
            Some(Credential::Token(token)) => RegistryAuth::Bearer(token),
        };
        clients.insert(host, (client.clone(), auth.clone()));
        Ok((client, auth))
    }

    /// Turns a client error into ours, naming `reference` and never a secret.
    fn error(&self, reference: &Reference, err: OciDistributionError) -> RegistryError {
        let registry = reference.registry().to_owned();
        let shown = reference.whole();
        let redact = |s: String| self.options.credentials.redact(&s);
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
                detail: redact(format!(": {}", first_line(&reason))),
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
        let (client, auth) = self.client(reference)?;
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
        let (client, auth) = self.client(reference)?;
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
        let (client, auth) = self.client(reference)?;
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
        let (client, auth) = self.client(reference)?;
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
        let (client, auth) = self.client(reference)?;
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
        let (client, auth) = self.client(reference)?;
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
        let (dst_client, _) = self.client(dst)?;
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
        let (src_client, src_auth) = self.client(src)?;
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
        let (_, dst_auth) = self.client(dst)?;
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
        assert!(parse_reference("Bad/Name:tag").is_err());
        assert!(parse_reference("").is_err());
        assert!(parse_reference("a b").is_err());
    }
}
