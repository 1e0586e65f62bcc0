//! The thin adapter: one [`Cluster`] per run holds the client and the discovery snapshot and
//! turns each call into one request on an `Api<DynamicObject>` chosen by the object's scope, as
//! kube-rs's `examples/kubectl.rs` does. Every request goes through the [`RetryPolicy`]; every
//! failure becomes a [`ClusterError`] that names the object.
//!
//! A small layer in the client's service stack copies a `Retry-After` header into the error
//! body's `details.retryAfterSeconds`: kube keeps only the body of a failed response, and a
//! proxy in front of the server may answer 429/503 with a plain-text body and the header alone.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy, ValidationDirective,
};
use kube::client::{ClientBuilder, DynBody};
use serde_json::{json, Value};
use tower::util::AndThenLayer;
use tower::BoxError;

use super::connect::{self, ConnectOptions};
use super::discovery::{Discovery, Resource};
use super::error::one_line;
use super::retry::{parse_retry_after, RetryPolicy, Transient};
use super::{identity_of, ClusterError, GroupKind, Result};
use crate::manifest::Identity;

/// How to server-side apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The field manager (the tool's name).
    pub field_manager: String,
    /// Take over fields another manager owns (`--force-conflicts`).
    pub force: bool,
    /// Server-side dry run: validated, defaulted and admitted, but not persisted.
    pub dry_run: bool,
}

impl ApplyOptions {
    /// Apply for real, without forcing.
    pub fn new(field_manager: impl Into<String>) -> Self {
        ApplyOptions {
            field_manager: field_manager.into(),
            force: false,
            dry_run: false,
        }
    }
}

/// How recent a list must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Everything written before the request (a consistent read). The server may hold it until
    /// its watch cache has caught up with etcd: for a kind nobody is writing, until the next
    /// progress notification, up to a tenth of a second.
    Latest,
    /// What the server's watch cache holds right now (`resourceVersion=0`, where informers
    /// start from): no wait, but possibly a moment behind the latest writes.
    Cached,
}

/// One apply, ready to send.
struct ApplyRequest {
    id: Identity,
    api: Api<DynamicObject>,
    params: PatchParams,
    body: Value,
}

/// What happens to an object's dependents when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// The garbage collector deletes dependents after the object is gone (kubectl's default).
    #[default]
    Background,
    /// The object stays (with a deletion timestamp) until its dependents are gone.
    Foreground,
    /// Dependents are left behind.
    Orphan,
}

/// How to delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    /// Delete only if the object still has this uid (not a namesake created since).
    pub uid: Option<String>,
    /// Delete only if the object has not changed since this resourceVersion.
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

/// The outcome of a delete.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// Gone.
    Deleted,
    /// Accepted; the object is still there (finalizers, foreground deletion) as returned.
    Pending(Value),
    /// It was not there.
    NotFound,
}

/// How to write the ApplySet parent, so that two runs racing on one set cannot both win.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentWrite {
    /// Create it; fails with a conflict if it exists (someone else created it first).
    Create,
    /// Server-side apply it only if it still has this resourceVersion.
    Update { resource_version: String },
}

/// A connection to one cluster.
pub struct Cluster {
    client: kube::Client,
    discovery: RwLock<Arc<Discovery>>,
    retry: RetryPolicy,
    server: String,
    default_namespace: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("default_namespace", &self.default_namespace)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects as kubectl would ([`connect`](super::connect)) and runs discovery.
    pub async fn connect(options: &ConnectOptions) -> Result<Cluster> {
        let config = connect::config(options).await?;
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let default_namespace = config.default_namespace.clone();
        let client = ClientBuilder::try_from(config)
            .map_err(|e| ClusterError::Config {
                message: one_line(&e.to_string()),
            })?
            .with_layer(&AndThenLayer::new(retry_after_into_status))
            .build();
        let cluster = Cluster {
            client,
            discovery: RwLock::new(Arc::new(Discovery::default())),
            retry: options.retry,
            server,
            default_namespace,
        };
        cluster.refresh_discovery().await?;
        Ok(cluster)
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The namespace of namespaced objects that name none.
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// The current discovery snapshot.
    pub fn discovery(&self) -> Arc<Discovery> {
        match self.discovery.read() {
            Ok(d) => Arc::clone(&d),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Runs discovery again (after CRDs were created or removed).
    pub async fn refresh_discovery(&self) -> Result<()> {
        let fresh = self
            .retrying(|| Discovery::run(&self.client))
            .await
            .map_err(|e| self.error("discovery", e))?;
        let fresh = Arc::new(fresh);
        match self.discovery.write() {
            Ok(mut d) => *d = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// The served resource for an object, or [`ClusterError::UnknownKind`] naming it.
    pub fn resource_for(&self, id: &Identity) -> Result<Resource> {
        if id.kind.is_empty() || id.version.is_empty() {
            return Err(ClusterError::BadObject {
                object: describe(id),
                message: "has no apiVersion or kind".into(),
            });
        }
        self.discovery()
            .resolve(&id.group, &id.version, &id.kind)
            .cloned()
            .ok_or_else(|| ClusterError::UnknownKind {
                object: describe(id),
                api_version: id.api_version(),
                kind: id.kind.clone(),
            })
    }

    /// The `Api` for an object: namespaced (in its namespace, or the default one) or cluster-wide.
    fn api_for(&self, resource: &Resource, namespace: &str) -> Api<DynamicObject> {
        let ar = resource.api_resource();
        if resource.namespaced {
            let ns = if namespace.is_empty() {
                self.default_namespace.as_str()
            } else {
                namespace
            };
            Api::namespaced_with(self.client.clone(), ns, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        }
    }

    /// The identity with the namespace the server will use (the default one for a namespaced
    /// object without one; none for a cluster-scoped object).
    pub fn effective_identity(&self, obj: &Value) -> Result<Identity> {
        let mut id = identity_of(obj);
        let resource = self.resource_for(&id)?;
        if !resource.namespaced {
            id.namespace.clear();
        } else if id.namespace.is_empty() {
            id.namespace = self.default_namespace.clone();
        }
        Ok(id)
    }

    /// Server-side applies an object (or dry-runs it) and returns what the server holds (or
    /// would hold) afterwards.
    pub async fn apply(&self, obj: &Value, options: &ApplyOptions) -> Result<Value> {
        let request = self.apply_request(obj, options)?;
        let patch = Patch::Apply(&request.body);
        let applied = self
            .retrying(|| request.api.patch(&request.id.name, &request.params, &patch))
            .await
            .map_err(|e| self.error(&describe(&request.id), e))?;
        to_value(&request.id, applied)
    }

    /// Server-side applies an object when the caller has no use for what the server holds
    /// afterwards (a first sync's creates, the writes after a dry run): the server is asked to
    /// answer with the object's metadata only, as client-go's metadata client asks, and the
    /// answer is not decoded. Encoding whole objects is a share of the server's work per apply
    /// and decoding them a share of ours. A server that cannot answer with metadata alone (an
    /// aggregated API) answers with the object, as the `Accept` header allows.
    pub async fn apply_write(&self, obj: &Value, options: &ApplyOptions) -> Result<()> {
        const METADATA_ONLY: &str =
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json";
        let request = self.apply_request(obj, options)?;
        let object = describe(&request.id);
        let patch = Patch::Apply(&request.body);
        let http = kube::core::Request::new(request.api.resource_url())
            .patch(&request.id.name, &request.params, &patch)
            .map_err(|e| ClusterError::BadObject {
                object: object.clone(),
                message: format!("cannot be sent: {e}"),
            })?;
        self.retrying(|| {
            let mut http = http.clone();
            http.headers_mut().insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static(METADATA_ONLY),
            );
            self.client.request_text(http)
        })
        .await
        .map_err(|e| self.error(&object, e))?;
        Ok(())
    }

    /// What both applies send: the URL for the object's scope, the parameters and the body.
    fn apply_request(&self, obj: &Value, options: &ApplyOptions) -> Result<ApplyRequest> {
        let id = self.effective_identity(obj)?;
        if id.name.is_empty() {
            return Err(ClusterError::BadObject {
                object: describe(&id),
                message: "has no metadata.name".into(),
            });
        }
        let resource = self.resource_for(&id)?;
        let api = self.api_for(&resource, &id.namespace);
        // The body's namespace must agree with the URL's: set it for namespaced objects, drop
        // it for cluster-scoped ones (kustomize leaves one on a Namespace it was asked to set).
        let mut body = obj.clone();
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            if resource.namespaced {
                meta.insert("namespace".into(), id.namespace.clone().into());
            } else {
                meta.remove("namespace");
            }
        }
        let mut params = PatchParams::apply(&options.field_manager);
        params.force = options.force;
        params.dry_run = options.dry_run;
        // Fields the schema does not declare are refused by server-side apply whatever this
        // says (see `is_schema_rejection`). What `Strict` (kubectl's `--validate=strict`) and the
        // server's default `Warn` add for an apply is a second, strict YAML decoding of the body
        // that only looks for duplicate keys — and a body serialized from a JSON map cannot hold
        // any. Skipping that parse of every body saves the server a good share of its work per
        // apply (the bulk of a first sync); nothing that could be refused gets through.
        params.field_validation = Some(ValidationDirective::Ignore);
        Ok(ApplyRequest {
            id,
            api,
            params,
            body,
        })
    }

    /// The live object, or `None` if it does not exist.
    pub async fn get(&self, id: &Identity) -> Result<Option<Value>> {
        let resource = self.resource_for(id)?;
        let api = self.api_for(&resource, &id.namespace);
        match self.retrying(|| api.get(&id.name)).await {
            Ok(obj) => to_value(id, obj).map(Some),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(self.error(&describe(id), e)),
        }
    }

    /// Every object of the given group-kinds that matches a label selector, in the given
    /// namespaces (all namespaces when `namespaces` is empty; cluster-scoped kinds are listed
    /// once). Kinds the server does not serve are skipped: nothing of them can exist. The
    /// result is sorted by group, kind, namespace and name.
    pub async fn list(
        &self,
        kinds: &[GroupKind],
        selector: &str,
        namespaces: &[String],
        freshness: Freshness,
    ) -> Result<Vec<Value>> {
        let scopes: Vec<(GroupKind, String)> = kinds
            .iter()
            .flat_map(|gk| {
                let all = namespaces.is_empty().then(String::new);
                all.into_iter()
                    .chain(namespaces.iter().cloned())
                    .map(move |ns| (gk.clone(), ns))
            })
            .collect();
        self.list_scopes(&scopes, selector, freshness).await
    }

    /// Like [`Cluster::list`], for exact `(kind, namespace)` scopes: an empty namespace lists
    /// the kind in all namespaces; a cluster-scoped kind is listed once whatever namespaces it
    /// comes with. The lists are requested concurrently (a few at a time): a run's lists are
    /// independent, and one after the other they would add up to its start-up.
    pub async fn list_scopes(
        &self,
        scopes: &[(GroupKind, String)],
        selector: &str,
        freshness: Freshness,
    ) -> Result<Vec<Value>> {
        const AT_ONCE: usize = 8;
        let discovery = self.discovery();
        let mut seen: std::collections::BTreeSet<(GroupKind, String)> = Default::default();
        let mut requests = Vec::new();
        for (gk, ns) in scopes {
            let Some(resource) = discovery.resolve_group_kind(gk) else {
                continue;
            };
            let ns = if resource.namespaced {
                ns.clone()
            } else {
                String::new()
            };
            if !seen.insert((gk.clone(), ns.clone())) {
                continue;
            }
            let ar = resource.api_resource();
            let api: Api<DynamicObject> = if ns.is_empty() {
                Api::all_with(self.client.clone(), &ar)
            } else {
                Api::namespaced_with(self.client.clone(), &ns, &ar)
            };
            requests.push((gk.clone(), ns, api, resource.clone()));
        }
        let params = match freshness {
            Freshness::Latest => ListParams::default(),
            Freshness::Cached => ListParams::default().match_any(),
        }
        .labels(selector);
        let gate = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (_, _, api, _)) in requests.iter().enumerate() {
            let (api, params, policy, gate) =
                (api.clone(), params.clone(), self.retry, Arc::clone(&gate));
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                (index, retrying(policy, || api.list(&params)).await)
            });
        }
        let mut lists = Vec::with_capacity(requests.len());
        while let Some(joined) = tasks.join_next().await {
            let (index, result) = joined.map_err(|e| ClusterError::Request {
                object: "list".into(),
                message: format!("a list request failed: {e}"),
            })?;
            lists.push((index, result));
        }
        // The first failure in request order, so that the error does not depend on timing.
        lists.sort_by_key(|(index, _)| *index);
        let mut out = Vec::new();
        for (index, result) in lists {
            let (gk, ns, _, resource) = &requests[index];
            let list = result.map_err(|e| {
                let what = if ns.is_empty() {
                    format!("{gk} (list)")
                } else {
                    format!("{gk} in namespace {ns} (list)")
                };
                self.error(&what, e)
            })?;
            for item in list.items {
                let mut value = serde_json::to_value(&item).map_err(|e| ClusterError::Request {
                    object: gk.to_string(),
                    message: format!("cannot read the listed object: {e}"),
                })?;
                // List items come without apiVersion and kind.
                if let Some(map) = value.as_object_mut() {
                    map.insert("apiVersion".into(), resource.api_version().into());
                    map.insert("kind".into(), resource.kind.clone().into());
                }
                out.push(value);
            }
        }
        out.sort_by_key(super::ObjectKey::of);
        Ok(out)
    }

    /// Deletes an object, with a propagation policy and optional uid / resourceVersion
    /// preconditions (a failed precondition is a [`ClusterError::Conflict`]).
    pub async fn delete(&self, id: &Identity, options: &DeleteOptions) -> Result<Deletion> {
        let resource = self.resource_for(id)?;
        let api = self.api_for(&resource, &id.namespace);
        let preconditions =
            (options.uid.is_some() || options.resource_version.is_some()).then(|| Preconditions {
                uid: options.uid.clone(),
                resource_version: options.resource_version.clone(),
            });
        let params = DeleteParams {
            dry_run: options.dry_run,
            propagation_policy: Some(match options.propagation {
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            preconditions,
            ..DeleteParams::default()
        };
        match self.retrying(|| api.delete(&id.name, &params)).await {
            Ok(either::Either::Left(obj)) => to_value(id, obj).map(Deletion::Pending),
            Ok(either::Either::Right(_)) => Ok(Deletion::Deleted),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Deletion::NotFound),
            Err(e) => Err(self.error(&describe(id), e)),
        }
    }

    /// Writes the ApplySet parent (a body from [`super::applyset::Inventory::parent_patch`])
    /// with optimistic concurrency: created only if absent, updated only if unchanged since it
    /// was read. Losing the race is a [`ClusterError::Conflict`].
    pub async fn write_parent(
        &self,
        parent: &Value,
        write: &ParentWrite,
        field_manager: &str,
    ) -> Result<Value> {
        let id = self.effective_identity(parent)?;
        let resource = self.resource_for(&id)?;
        let api = self.api_for(&resource, &id.namespace);
        let object = describe(&id);
        let mut body = parent.clone();
        match write {
            ParentWrite::Create => {
                if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                }
                let obj: DynamicObject =
                    serde_json::from_value(body).map_err(|e| ClusterError::BadObject {
                        object: object.clone(),
                        message: format!("is not an object: {e}"),
                    })?;
                let params = PostParams {
                    dry_run: false,
                    field_manager: Some(field_manager.to_owned()),
                };
                let created = self
                    .retrying(|| api.create(&params, &obj))
                    .await
                    .map_err(|e| self.error(&object, e))?;
                to_value(&id, created)
            }
            ParentWrite::Update { resource_version } => {
                // A resourceVersion in an apply body is a precondition: the server answers 409
                // if the object changed since.
                body["metadata"]["resourceVersion"] = resource_version.clone().into();
                let params = PatchParams::apply(field_manager).force();
                let patch = Patch::Apply(&body);
                let updated = self
                    .retrying(|| api.patch(&id.name, &params, &patch))
                    .await
                    .map_err(|e| self.error(&object, e))?;
                to_value(&id, updated)
            }
        }
    }

    /// Runs a request, retrying transient failures by the policy.
    async fn retrying<T, F, Fut>(&self, request: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        retrying(self.retry, request).await
    }

    fn error(&self, object: &str, err: kube::Error) -> ClusterError {
        let object = object.to_owned();
        match err {
            kube::Error::Api(status) => {
                let message = one_line(&status.message);
                if is_schema_rejection(&status) {
                    return ClusterError::Invalid { object, message };
                }
                match status.code {
                    404 => ClusterError::NotFound { object },
                    409 => ClusterError::Conflict { object, message },
                    400 | 422 => ClusterError::Invalid { object, message },
                    401 => ClusterError::Unauthorized { object, message },
                    403 => ClusterError::Forbidden { object, message },
                    code => ClusterError::Api {
                        object,
                        code,
                        reason: status.reason.clone(),
                        message,
                    },
                }
            }
            _ if auth_failure(&err).is_some() => ClusterError::Unauthorized {
                object,
                message: auth_failure(&err).unwrap_or_default(),
            },
            kube::Error::HyperError(e) => ClusterError::Unreachable {
                server: self.server.clone(),
                message: short(&e),
            },
            kube::Error::Service(e) => ClusterError::Unreachable {
                server: self.server.clone(),
                message: short(e.as_ref()),
            },
            other => ClusterError::Request {
                object,
                message: short(&other),
            },
        }
    }
}

/// Runs a request, retrying transient failures by the policy (the adapter's one retry loop).
async fn retrying<T, F, Fut>(policy: RetryPolicy, mut request: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut retry = 0;
    loop {
        match request().await {
            Ok(v) => return Ok(v),
            Err(err) => match transient(&err).and_then(|t| policy.delay(retry, t)) {
                Some(delay) => {
                    tracing::debug!(
                        retry = retry + 1,
                        delay_ms = delay.as_millis() as u64,
                        "transient failure, retrying: {}",
                        short(&err)
                    );
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                None => return Err(err),
            },
        }
    }
}

/// `Kind/namespace/name`, or as much as is known.
fn describe(id: &Identity) -> String {
    match (id.kind.is_empty(), id.name.is_empty()) {
        (true, true) => "<object without kind and name>".to_owned(),
        (false, true) => format!("{} without a name", id.kind),
        _ => id.short(),
    }
}

fn to_value(id: &Identity, obj: DynamicObject) -> Result<Value> {
    serde_json::to_value(obj).map_err(|e| ClusterError::Request {
        object: describe(id),
        message: format!("cannot read the server's answer: {e}"),
    })
}

/// Whether a failure is worth retrying.
fn transient(err: &kube::Error) -> Option<Transient> {
    match err {
        kube::Error::Api(status) if is_schema_rejection(status) => None,
        kube::Error::Api(status) => {
            let retry_after = status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s)));
            Transient::from_status(status.code, retry_after)
        }
        _ if auth_failure(err).is_some() => None,
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some(Transient::Connection),
        _ => None,
    }
}

/// The API server answers a server-side apply whose fields its schema does not declare (a
/// typo such as `spec.replica`) with a 500 "failed to create typed patch object": a verdict on
/// the object, not a server failure, so it is neither retried nor reported as one.
fn is_schema_rejection(status: &kube::core::Status) -> bool {
    status.code == 500
        && status
            .message
            .contains("failed to create typed patch object")
}

/// The client could not authenticate (a bad token file, a failing exec plugin): not a
/// transport failure, and not worth retrying. Described without an exec plugin's output,
/// which may hold a credential.
fn auth_failure(err: &kube::Error) -> Option<String> {
    let auth = match err {
        kube::Error::Auth(e) => e,
        kube::Error::Service(e) => e.downcast_ref::<kube::client::AuthError>()?,
        _ => return None,
    };
    let text = short(auth);
    Some(match text.find(" failed with status ") {
        Some(at) if text.starts_with("auth exec command") => {
            let end = text[at..].find(':').map_or(text.len(), |i| at + i);
            text[..end].to_owned()
        }
        _ => text,
    })
}

/// One line from an error and its causes, without "(os error N)" noise, for transport errors
/// (which never carry a request header, so never a token).
fn short(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let mut text = e.to_string();
        if let Some(cut) = text.find(" (os error") {
            text.truncate(cut);
        }
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    one_line(&parts.join(": "))
}

/// The layer behind the module doc: a 429 or 5xx answer with a `Retry-After` header gets the
/// delay into its `Status` body (built from a plain-text body if need be).
async fn retry_after_into_status(
    res: http::Response<Box<DynBody>>,
) -> Result<http::Response<Box<DynBody>>, BoxError> {
    let code = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let (Some(retry_after), true) = (retry_after, code == 429 || code >= 500) else {
        return Ok(res);
    };
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let patched = with_retry_after(code, &bytes, retry_after.as_secs());
    let body: Box<DynBody> = Box::new(Full::new(Bytes::from(patched)).map_err(|e| match e {}));
    Ok(http::Response::from_parts(parts, body))
}

/// A `Status` body carrying `details.retryAfterSeconds`.
fn with_retry_after(code: u16, body: &[u8], seconds: u64) -> Vec<u8> {
    let mut status = match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.get("kind").and_then(Value::as_str) == Some("Status") => v,
        _ => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(300).collect();
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                   "reason": if code == 429 { "TooManyRequests" } else { "ServiceUnavailable" },
                   "message": if text.is_empty() { format!("HTTP {code}") } else { text }})
        }
    };
    let already = status
        .pointer("/details/retryAfterSeconds")
        .and_then(Value::as_u64)
        .is_some_and(|s| s > 0);
    if !already {
        if !status.get("details").is_some_and(Value::is_object) {
            status["details"] = json!({});
        }
        status["details"]["retryAfterSeconds"] = seconds.into();
    }
    serde_json::to_vec(&status).unwrap_or_else(|_| body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_goes_into_plain_and_status_bodies() {
        let plain: Value =
            serde_json::from_slice(&with_retry_after(429, b"slow down\n", 3)).expect("json");
        assert_eq!(plain["code"], 429);
        assert_eq!(plain["message"], "slow down");
        assert_eq!(plain["details"]["retryAfterSeconds"], 3);
        let status: kube::core::Status = serde_json::from_value(plain).expect("a Status");
        assert_eq!(
            transient(&kube::Error::Api(Box::new(status))),
            Some(Transient::TooManyRequests {
                retry_after: Some(Duration::from_secs(3))
            })
        );

        let server = br#"{"kind":"Status","apiVersion":"v1","code":503,"message":"etcd","details":{"name":"x"}}"#;
        let patched: Value =
            serde_json::from_slice(&with_retry_after(503, server, 2)).expect("json");
        assert_eq!(
            patched["details"],
            json!({"name": "x", "retryAfterSeconds": 2})
        );
        let own = br#"{"kind":"Status","code":429,"details":{"retryAfterSeconds":9}}"#;
        let kept: Value = serde_json::from_slice(&with_retry_after(429, own, 2)).expect("json");
        assert_eq!(
            kept["details"]["retryAfterSeconds"], 9,
            "the body's own value wins"
        );
    }

    #[test]
    fn a_schema_rejection_is_not_a_server_failure() {
        let status = |message: &str| {
            kube::Error::Api(Box::new(
                serde_json::from_value::<kube::core::Status>(
                    json!({"kind": "Status", "code": 500, "message": message}),
                )
                .expect("status"),
            ))
        };
        let typo = status(
            "failed to create typed patch object (ns/web; apps/v1, Kind=Deployment): \
             .spec.replica: field not declared in schema",
        );
        assert_eq!(transient(&typo), None);
        assert_eq!(
            transient(&status("etcdserver: leader changed")),
            Some(Transient::Server {
                code: 500,
                retry_after: None
            })
        );
    }

    #[test]
    fn objects_are_described_even_when_incomplete() {
        let mut id = Identity {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: "prod".into(),
            name: "web".into(),
        };
        assert_eq!(describe(&id), "Deployment/prod/web");
        id.name.clear();
        assert_eq!(describe(&id), "Deployment without a name");
    }
}
