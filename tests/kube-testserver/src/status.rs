//! API errors as the Kubernetes `Status` object: every failure the server reports travels as an
//! [`ApiError`], which knows its HTTP code, its `reason` and the `details` kubectl prints
//! (`Error from server (NotFound): deployments.apps "web" not found`).

use serde_json::{json, Value};

/// What a failed request answers: rendered as `kind: Status` with the matching HTTP code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    /// HTTP status code, also `Status.code`.
    pub code: u16,
    /// `Status.reason` (NotFound, AlreadyExists, Conflict, Invalid, ...).
    pub reason: &'static str,
    /// Human-readable `Status.message`.
    pub message: String,
    /// `Status.details`, when the error is about one object.
    pub details: Option<Value>,
}

/// Who an error is about: the `details` block of a `Status`.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    /// API group ("" for the core group).
    pub group: &'a str,
    /// Resource plural ("deployments"); real servers put it in `details.kind`.
    pub resource: &'a str,
    /// Object name.
    pub name: &'a str,
}

impl Subject<'_> {
    /// `deployments.apps` or `configmaps`: how the apiserver names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Value {
        json!({"name": self.name, "group": self.group, "kind": self.resource})
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with(mut self, subject: &Subject<'_>) -> Self {
        self.details = Some(subject.details());
        self
    }

    /// 404 for a missing object.
    pub fn not_found(s: &Subject<'_>) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", s.qualified(), s.name),
        )
        .with(s)
    }

    /// 404 for a path that names no resource.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 on create of an existing name.
    pub fn already_exists(s: &Subject<'_>) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", s.qualified(), s.name),
        )
        .with(s)
    }

    /// 409 on a stale `resourceVersion` or an apply conflict.
    pub fn conflict(s: &Subject<'_>, message: impl Into<String>) -> Self {
        Self::new(409, "Conflict", message).with(s)
    }

    /// 409 for an update with an out-of-date resourceVersion, worded as the apiserver does.
    pub fn stale(s: &Subject<'_>) -> Self {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
            s.qualified(),
            s.name
        );
        Self::conflict(s, msg)
    }

    /// 422 for an object that fails validation; `causes` are (field, message) pairs.
    pub fn invalid(kind: &str, s: &Subject<'_>, causes: &[(String, String)]) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", kind, s.name, text.join(", ")),
        );
        let causes: Vec<Value> = causes
            .iter()
            .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
            .collect();
        let mut d = s.details();
        d["kind"] = json!(kind);
        d["causes"] = json!(causes);
        e.details = Some(d);
        e
    }

    /// 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 for a verb the resource does not support.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 401 without a valid bearer token.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 429 (fault injection); the caller adds `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        e.details = Some(json!({"retryAfterSeconds": retry_after}));
        e
    }

    /// 500 (fault injection or a bug).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// 415 for a patch type the server does not know.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"))
    }

    /// 415 for a request body encoding the server cannot read.
    pub fn unsupported_body(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// The `Status` object sent on the wire.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

/// The `Status` a successful delete returns for resources that answer with a Status.
pub fn success_status(s: &Subject<'_>, uid: &str) -> Value {
    let mut d = s.details();
    d["uid"] = json!(uid);
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
}

impl ApiError {
    /// 422 for a JSON patch that cannot be applied (a failed `test`, a missing path).
    pub fn invalid_patch(message: &str) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {message}"),
        )
    }
}
