//! The HTTP layer: accepts connections (TLS or plain), checks the bearer token, applies
//! injected faults, routes Kubernetes REST paths to the store, serves discovery, tables and
//! watch streams, and the `/testserver/...` control endpoints.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::discovery::ResourceType;
use crate::faults::{Fault, FaultTable};
use crate::patch::PatchType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::simulator::{Behaviour, Simulator};
use crate::status::ApiError;
use crate::store::{Event, Store, WriteOptions};
use crate::table;

/// How many past events a watch can replay.
const HISTORY: usize = 10_000;

/// Body type of every response.
pub type Body = BoxBody<Bytes, Infallible>;

/// Mutable server state behind one lock (requests are tiny; contention is irrelevant here).
#[derive(Debug)]
pub struct Inner {
    /// Objects and resource types.
    pub store: Store,
    /// Status simulator.
    pub sim: Simulator,
    /// Fault injection rules.
    pub faults: FaultTable,
}

/// State shared by all connections and the handles in `lib.rs`.
#[derive(Debug)]
pub struct Shared {
    inner: Mutex<Inner>,
    /// Recent events, so a watch from resourceVersion N sees what happened after its list.
    history: Mutex<std::collections::VecDeque<Event>>,
    events: broadcast::Sender<Event>,
    /// Bearer token clients must send.
    pub token: String,
    /// `https://127.0.0.1:PORT` or `http://...`, for `/api`'s serverAddress.
    pub url: String,
}

impl Shared {
    /// New shared state.
    pub fn new(inner: Inner, token: String, url: String) -> Shared {
        let (events, _) = broadcast::channel(4096);
        Shared {
            inner: Mutex::new(inner),
            history: Mutex::new(Default::default()),
            events,
            token,
            url,
        }
    }

    /// Locks the state. A panic while holding the lock (a bug) must not wedge every later
    /// request, so a poisoned lock is recovered.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the state and publishes the changes it made to watchers.
    pub fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.lock();
        let out = f(&mut g);
        // Simulate right after each write too, so with no delay a workload is ready as soon
        // as the write returns and later reads never race the ticker.
        let inner = &mut *g;
        inner.sim.tick(&mut inner.store);
        let events = std::mem::take(&mut g.store.events);
        if !events.is_empty() {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            for e in events {
                h.push_back(e.clone());
                if h.len() > HISTORY {
                    h.pop_front();
                }
                // No watchers is fine.
                let _ = self.events.send(e);
            }
        }
        out
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(v.to_string()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

/// Decodes `%XX` and `+` in a query component.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// A streaming body fed by a channel (watch responses).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// Serves one request.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    tracing::debug!(method = %req.method(), %path, query = ?req.uri().query(), "request");
    if let Some(rest) = path.strip_prefix("/testserver/") {
        let method = req.method().clone();
        let body = match read_body(req).await {
            Ok(b) => b,
            Err(e) => return Ok(error_response(&e)),
        };
        return Ok(match control(&shared, &method, rest, &body) {
            Ok(v) => json_response(200, &v),
            Err(e) => error_response(&e),
        });
    }
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.strip_prefix("Bearer ").is_some_and(|t| t == shared.token));
    // Plain HTTP needs no token: client-go does not send bearer tokens over http://, like the
    // apiserver's old insecure port.
    if !authorized && shared.url.starts_with("https://") {
        return Ok(error_response(&ApiError::unauthorized()));
    }
    let fault = shared.with(|i| i.faults.take(&path));
    match fault {
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut r = error_response(&ApiError::too_many_requests(retry_after_secs));
            if let Ok(v) = hyper::header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            return Ok(r);
        }
        Some(Fault::InternalError) => {
            return Ok(error_response(&ApiError::internal("injected fault")))
        }
        Some(Fault::Hang(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let method = req.method().clone();
    let accept = header(&req, "accept");
    let content_type = header(&req, "content-type");
    let user_agent = header(&req, "user-agent");
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(e) => return Ok(error_response(&e)),
    };
    let call = Call {
        method,
        path,
        query,
        accept,
        content_type,
        user_agent,
        body,
    };
    Ok(match route(&shared, &call) {
        Ok(Reply::Json(code, v)) => json_response(code, &v),
        Ok(Reply::Watch(w)) => watch(&shared, w),
        Err(e) => error_response(&e),
    })
}

fn header<B>(req: &Request<B>, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    // 3 MiB is the apiserver's request size limit for most objects.
    Limited::new(req.into_body(), 3 * 1024 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

struct Call {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    accept: String,
    content_type: String,
    user_agent: String,
    body: Bytes,
}

impl Call {
    fn q(&self, k: &str) -> &str {
        self.query.get(k).map(String::as_str).unwrap_or("")
    }
}

struct WatchRequest {
    rt: ResourceType,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    initial: Vec<Value>,
    since: u64,
    timeout: Duration,
}

enum Reply {
    Json(u16, Value),
    Watch(Box<WatchRequest>),
}

fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-testserver", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"})
}

fn route(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let segs: Vec<&str> = call
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let not_found = || ApiError::no_route(&call.path);
    let read_only = |v: Option<Value>| -> Result<Reply, ApiError> {
        if call.method != Method::GET {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({})",
                call.path
            )));
        }
        v.map(|v| Reply::Json(200, v)).ok_or_else(not_found)
    };
    let g = shared.lock();
    let reg = &g.store.registry;
    match segs.as_slice() {
        ["version"] => return read_only(Some(version())),
        ["healthz"] | ["readyz"] | ["livez"] => return read_only(Some(json!("ok"))),
        ["api"] => return read_only(Some(reg.core_versions(&shared.url))),
        ["api", "v1"] => return read_only(reg.resource_list("", "v1")),
        ["apis"] => return read_only(Some(reg.group_list())),
        ["apis", grp] => return read_only(reg.group(grp)),
        ["apis", grp, ver] => return read_only(reg.resource_list(grp, ver)),
        ["openapi", "v3"] => return read_only(Some(crate::openapi::root(reg))),
        ["openapi", "v3", "api", ver] => {
            return read_only(crate::openapi::group_version(reg, "", ver))
        }
        ["openapi", "v3", "apis", grp, ver] => {
            return read_only(crate::openapi::group_version(reg, grp, ver))
        }
        _ => {}
    }
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", grp, ver, rest @ ..] => (grp, ver, rest),
        _ => return Err(not_found()),
    };
    let find = |plural: &str| reg.find(group, version, plural).cloned();
    // (type, namespace, name, subresource)
    let (rt, ns, name, sub) = match rest {
        ["namespaces", ns, res, tail @ ..] if find(res).is_some_and(|t| t.namespaced) => {
            let rt = find(res).ok_or_else(not_found)?;
            match tail {
                [] => (rt, Some(*ns), None, None),
                [name] => (rt, Some(*ns), Some(*name), None),
                [name, sub] => (rt, Some(*ns), Some(*name), Some(*sub)),
                _ => return Err(not_found()),
            }
        }
        [res, tail @ ..] => {
            let rt = find(res).ok_or_else(not_found)?;
            match tail {
                [] => (rt, None, None, None),
                [name] => (rt, None, Some(*name), None),
                [name, sub] => (rt, None, Some(*name), Some(*sub)),
                _ => return Err(not_found()),
            }
        }
        [] => return Err(not_found()),
    };
    drop(g);
    if let Some(s) = sub {
        let ok = (s == "status" && rt.status)
            || (s == "scale" && rt.scale)
            || (s == "finalize" && rt.kind == "Namespace");
        if !ok {
            return Err(not_found());
        }
    }
    let fv = call.q("fieldValidation");
    if !matches!(fv, "" | "Ignore" | "Warn" | "Strict") {
        return Err(ApiError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {fv:?}"
        )));
    }
    let dry_run = match call.q("dryRun") {
        "" => false,
        "All" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "unsupported dry run value: {other:?} (only \"All\" is supported)"
            )))
        }
    };
    let delete_opts: Value = if call.method == Method::DELETE && !call.body.is_empty() {
        serde_json::from_slice(&call.body).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let explicit_manager = !call.q("fieldManager").is_empty();
    let manager = if explicit_manager {
        call.q("fieldManager").to_string()
    } else {
        // As the apiserver does: the User-Agent up to the first '/'.
        call.user_agent
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    };
    let propagation = match call.q("propagationPolicy") {
        "" => delete_opts
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string),
        p => Some(p.to_string()),
    };
    let body_dry_run = delete_opts
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "All"));
    let opts = WriteOptions {
        dry_run: dry_run || body_dry_run,
        manager,
        explicit_manager,
        force: call.q("force") == "true",
        subresource: sub.filter(|s| *s == "status").map(str::to_string),
        propagation,
    };
    let table = call.accept.contains("as=Table");
    let labels = LabelSelector::parse(call.q("labelSelector"))?;
    let fields = FieldSelector::parse(call.q("fieldSelector"))?;
    let protobuf = call
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf");
    let parse_json = |b: &[u8]| -> Result<Value, ApiError> {
        if protobuf {
            return crate::protobuf::decode(b);
        }
        // kubectl sends JSON; YAML bodies are accepted too (JSON is YAML).
        serde_json::from_slice(b)
            .or_else(|_| serde_yaml::from_slice(b))
            .map_err(|e| ApiError::bad_request(format!("the object could not be decoded: {e}")))
    };

    if sub == Some("scale") {
        return scale(shared, call, &rt, ns, name.unwrap_or(""), &opts);
    }

    let m = &call.method;
    let out = match (m, name) {
        (&Method::GET, None) if call.q("watch") == "true" || call.q("watch") == "1" => {
            let g = shared.lock();
            let since: u64 = call.q("resourceVersion").parse().unwrap_or(0);
            let initial = if since == 0 {
                g.store.list(&rt, ns, &labels, &fields)["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let timeout = Duration::from_secs(call.q("timeoutSeconds").parse().unwrap_or(1800));
            return Ok(Reply::Watch(Box::new(WatchRequest {
                rt,
                ns: ns.map(str::to_string),
                labels,
                fields,
                initial,
                since,
                timeout,
            })));
        }
        (&Method::GET, None) => {
            let v = shared.lock().store.list(&rt, ns, &labels, &fields);
            (200, v)
        }
        (&Method::GET, Some(n)) => (200, shared.lock().store.get(&rt, ns, n)?),
        (&Method::POST, None) => {
            let body = parse_json(&call.body)?;
            (201, shared.with(|i| i.store.create(&rt, ns, body, &opts))?)
        }
        (&Method::PUT, Some(n)) => {
            let body = parse_json(&call.body)?;
            (
                200,
                shared.with(|i| i.store.update(&rt, ns, n, body, &opts))?,
            )
        }
        (&Method::PATCH, Some(n)) => {
            let kind = PatchType::from_content_type(&call.content_type)?;
            let existed = shared.lock().store.get(&rt, ns, n).is_ok();
            let v = shared.with(|i| i.store.patch(&rt, ns, n, kind, &call.body, &opts))?;
            (if existed { 200 } else { 201 }, v)
        }
        (&Method::DELETE, Some(n)) => (200, shared.with(|i| i.store.delete(&rt, ns, n, &opts))?),
        (&Method::DELETE, None) => (
            200,
            shared.with(|i| i.store.delete_collection(&rt, ns, &labels, &fields, &opts)),
        ),
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({})",
                call.path
            )))
        }
    };
    let (code, v) = out;
    let v = if table && *m == Method::GET && v.get("kind").and_then(Value::as_str) != Some("Status")
    {
        table::to_table(&rt.kind, &v)
    } else {
        v
    };
    Ok(Reply::Json(code, v))
}

/// The `/scale` subresource: a Scale view of spec.replicas.
fn scale(
    shared: &Shared,
    call: &Call,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &WriteOptions,
) -> Result<Reply, ApiError> {
    let obj = shared.lock().store.get(rt, ns, name)?;
    let view = |o: &Value| {
        let sel = o
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            });
        let meta = &o["metadata"];
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
            "spec": {"replicas": o.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
            "status": {"replicas": o.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": sel.unwrap_or_default()}})
    };
    let current = view(&obj);
    let wanted = match call.method {
        Method::GET => return Ok(Reply::Json(200, current)),
        Method::PUT => serde_json::from_slice::<Value>(&call.body)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        Method::PATCH => {
            let kind = PatchType::from_content_type(&call.content_type)?;
            if kind == PatchType::Apply {
                return Err(ApiError::unsupported_body(
                    "kube-testserver does not support server-side apply on /scale",
                ));
            }
            crate::patch::patch(kind, &current, &call.body, false)?
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                "scale supports get, update and patch",
            ))
        }
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .cloned()
        .unwrap_or(json!(1));
    let patch = json!({"spec": {"replicas": replicas}}).to_string();
    let new = shared.with(|i| {
        i.store
            .patch(rt, ns, name, PatchType::Merge, patch.as_bytes(), opts)
    })?;
    Ok(Reply::Json(200, view(&new)))
}

fn watch(shared: &Arc<Shared>, w: Box<WatchRequest>) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    // Subscribe and copy the history under the state lock, so no event falls in between.
    let (mut events, replay) = {
        let _g = shared.lock();
        let h = shared.history.lock().unwrap_or_else(|p| p.into_inner());
        let replay: Vec<Event> = if w.since > 0 {
            h.iter().filter(|e| e.rv > w.since).cloned().collect()
        } else {
            Vec::new()
        };
        (shared.events.subscribe(), replay)
    };
    let rt = w.rt.clone();
    tokio::spawn(async move {
        let line = |kind: &str, mut o: Value| {
            o["apiVersion"] = json!(rt.api_version());
            Bytes::from(format!("{}\n", json!({"type": kind, "object": o})))
        };
        for o in w.initial {
            if tx.send(line("ADDED", o)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + w.timeout;
        let mut replay = replay.into_iter();
        loop {
            let ev = match replay.next() {
                Some(ev) => ev,
                None => {
                    let ev = tokio::select! {
                        ev = events.recv() => ev,
                        _ = tokio::time::sleep_until(deadline) => return,
                        _ = tx.closed() => return,
                    };
                    match ev {
                        Ok(ev) => ev,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            };
            if ev.group != rt.group || ev.plural != rt.plural {
                continue;
            }
            let o = &ev.object;
            let ons = o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            if w.ns.as_deref().is_some_and(|n| rt.namespaced && n != ons)
                || !w.labels.matches(o)
                || !w.fields.matches(o)
            {
                continue;
            }
            if ev.rv <= w.since {
                continue;
            }
            if tx.send(line(ev.kind, ev.object)).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(BoxBody::new(ChannelBody(rx)));
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// `/testserver/...` control endpoints (documented in the README).
fn control(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Result<Value, ApiError> {
    let b: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    match (method, path.trim_end_matches('/')) {
        (&Method::GET, "simulator") => {
            let g = shared.lock();
            Ok(
                json!({"enabled": g.sim.enabled, "readyAfterMillis": g.sim.ready_after.as_millis() as u64}),
            )
        }
        (&Method::POST, "simulator") => {
            shared.with(|i| {
                if let Some(e) = b.get("enabled").and_then(Value::as_bool) {
                    i.sim.enabled = e;
                }
                if let Some(ms) = b.get("readyAfterMillis").and_then(Value::as_u64) {
                    i.sim.ready_after = Duration::from_millis(ms);
                }
            });
            Ok(json!({"ok": true}))
        }
        (&Method::POST, "simulator/objects") => {
            let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let behaviour = match field("behaviour").as_str() {
                "Normal" | "Ready" | "" => Behaviour::Normal,
                "Unready" => Behaviour::Unready,
                "Fail" => Behaviour::Fail,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "behaviour must be Normal, Unready or Fail, got {other:?}"
                    )))
                }
            };
            shared.with(|i| {
                i.sim.overrides.insert(
                    (field("kind"), field("namespace"), field("name")),
                    behaviour,
                )
            });
            Ok(json!({"ok": true}))
        }
        (&Method::POST, "faults") => {
            let pattern = b.get("pathRegex").and_then(Value::as_str).unwrap_or(".*");
            let count = b.get("count").and_then(Value::as_u64).unwrap_or(1) as u32;
            let fault = match b.get("fault").and_then(Value::as_str).unwrap_or("") {
                "429" | "TooManyRequests" => Fault::TooManyRequests {
                    retry_after_secs: b
                        .get("retryAfterSeconds")
                        .and_then(Value::as_u64)
                        .unwrap_or(1),
                },
                "500" | "InternalError" => Fault::InternalError,
                "hang" | "Hang" => Fault::Hang(Duration::from_millis(
                    b.get("hangMillis")
                        .and_then(Value::as_u64)
                        .unwrap_or(30_000),
                )),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "fault must be 429, 500 or hang, got {other:?}"
                    )))
                }
            };
            shared
                .with(|i| i.faults.add(pattern, count, fault))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(json!({"ok": true}))
        }
        (&Method::DELETE, "faults") => {
            shared.with(|i| i.faults.clear());
            Ok(json!({"ok": true}))
        }
        (&Method::GET, "faults") => Ok(json!({"pending": shared.lock().faults.pending()})),
        (&Method::GET, "objects") => Ok(json!({"items": shared.lock().store.all_objects()})),
        _ => Err(ApiError::no_route(path)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("labelSelector=app+in+%28a%2Cb%29&x"));
        assert_eq!(q["labelSelector"], "app in (a,b)");
        assert_eq!(q["x"], "");
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
