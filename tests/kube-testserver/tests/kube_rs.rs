//! kube-rs against the test server over HTTPS (generated CA + bearer token): discovery,
//! `Api<DynamicObject>`, server-side apply with and without dry-run, typed errors, the
//! simulator and fault injection through the library API and the HTTP control endpoints.

#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config};
use kube_testserver::{Behaviour, Fault, Options, TestServer};
use serde_json::{json, Value};

async fn client(srv: &TestServer) -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&srv.kubeconfig()).unwrap();
    let cfg = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

async fn api(client: &Client, group: &str, kind: &str, ns: &str) -> Api<DynamicObject> {
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for g in discovery.groups() {
        if g.name() != group {
            continue;
        }
        for (ar, caps) in g.recommended_resources() {
            if ar.kind == kind {
                return match caps.scope {
                    Scope::Namespaced => Api::namespaced_with(client.clone(), ns, &ar),
                    Scope::Cluster => Api::all_with(client.clone(), &ar),
                };
            }
        }
    }
    panic!("{group}/{kind} not discovered");
}

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

#[tokio::test]
async fn discovery_and_apply_with_dry_run_over_https() {
    let srv = TestServer::start(Options::default()).unwrap();
    assert!(srv.url().starts_with("https://127.0.0.1:"));
    let client = client(&srv).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let apps = discovery.groups().find(|g| g.name() == "apps").unwrap();
    let (deploy, caps) = apps
        .recommended_resources()
        .into_iter()
        .find(|(ar, _)| ar.kind == "Deployment")
        .unwrap();
    assert_eq!(deploy.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(
        caps.subresources.iter().any(|(s, _)| s.plural == "status"),
        "deployments/status is listed"
    );

    let api = api(&client, "apps", "Deployment", "default").await;
    let obj: DynamicObject = serde_json::from_value(deployment("nginx:1.25")).unwrap();
    let dry = api
        .patch(
            "web",
            &PatchParams::apply("x").dry_run(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap();
    assert_eq!(
        dry.data["spec"]["replicas"], 1,
        "dry-run response is defaulted"
    );
    assert!(
        srv.get("apps/v1", "Deployment", Some("default"), "web")
            .is_none(),
        "dry-run stored nothing"
    );

    let live = api
        .patch("web", &PatchParams::apply("x"), &Patch::Apply(&obj))
        .await
        .unwrap();
    assert_eq!(live.metadata.generation, Some(1));
    let mf = live.metadata.managed_fields.unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("x"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    let listed = api
        .list(&ListParams::default().labels("app in (web)"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let none = api
        .list(&ListParams::default().labels("app notin (web)"))
        .await
        .unwrap();
    assert!(none.items.is_empty());

    // Conflicts surface as 409 with reason Conflict.
    let other: DynamicObject = serde_json::from_value(deployment("nginx:2")).unwrap();
    let err = api
        .patch("web", &PatchParams::apply("y"), &Patch::Apply(&other))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert!(s.message.contains(r#"conflict with "x""#), "{}", s.message);
        }
        e => panic!("unexpected error {e:?}"),
    }
    let forced = api
        .patch(
            "web",
            &PatchParams::apply("y").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(
        forced.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    assert_eq!(forced.metadata.generation, Some(2));

    api.delete("web", &DeleteParams::default()).await.unwrap();
    let err = api.get("web").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"),
        "{err:?}"
    );
}

#[tokio::test]
async fn update_with_stale_resource_version_conflicts() {
    let srv = TestServer::start(Options::default()).unwrap();
    let client = client(&srv).await;
    let api = api(&client, "", "ConfigMap", "default").await;
    let cm: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c"}, "data": {"a": "1"}}))
    .unwrap();
    let created = api.create(&Default::default(), &cm).await.unwrap();
    let mut first = created.clone();
    first.data["data"]["a"] = json!("2");
    api.replace("c", &Default::default(), &first).await.unwrap();
    let mut stale = created;
    stale.data["data"]["a"] = json!("3");
    let err = api
        .replace("c", &Default::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );

    // Merge, JSON and strategic patches.
    let p = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["data"], json!({"a": "2", "b": "x"}));
    let p = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"c": "y", "a": null}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["data"], json!({"b": "x", "c": "y"}));

    // Immutable ConfigMaps refuse data changes with 422 Invalid.
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"immutable": true})),
    )
    .await
    .unwrap();
    let err = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"c": "z"}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.reason == "Invalid"),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_token_is_unauthorized() {
    let srv = TestServer::start(Options::default()).unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let yaml = srv.kubeconfig().replace(srv.token(), "wrong");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let cfg = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = Client::try_from(cfg).unwrap();
    let err = client.apiserver_version().await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 401),
        "{err:?}"
    );
}

#[tokio::test]
async fn simulator_and_faults_through_the_library() {
    let srv = TestServer::start(Options {
        ready_after: Duration::from_secs(3600),
        ..Options::default()
    })
    .unwrap();
    let client = client(&srv).await;
    let api = api(&client, "apps", "Deployment", "default").await;
    let obj: DynamicObject = serde_json::from_value(deployment("nginx:1")).unwrap();
    api.patch("web", &PatchParams::apply("t"), &Patch::Apply(&obj))
        .await
        .unwrap();
    let d = srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(
        d["status"]["conditions"][0]["reason"], "MinimumReplicasUnavailable",
        "not ready before the delay: {d}"
    );
    srv.simulator().set_ready_after(Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(30);
    while srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap()["status"]["readyReplicas"]
        != 1
    {
        assert!(Instant::now() < deadline, "deployment never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    srv.simulator()
        .set_behaviour("Deployment", "default", "web", Behaviour::Unready);
    let obj: DynamicObject = serde_json::from_value(deployment("nginx:2")).unwrap();
    api.patch("web", &PatchParams::apply("t"), &Patch::Apply(&obj))
        .await
        .unwrap();
    let d = srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(d["status"]["observedGeneration"], 2);
    assert!(d["status"].get("readyReplicas").is_none(), "{d}");

    // Faults: two 500s on apps paths, then normal service.
    srv.faults()
        .inject("^/apis/apps/", 2, Fault::InternalError)
        .unwrap();
    for _ in 0..2 {
        let err = api.get("web").await.unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 500 && s.reason == "InternalError"),
            "{err:?}"
        );
    }
    api.get("web").await.unwrap();
    srv.faults()
        .inject(
            "/deployments/web$",
            1,
            Fault::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .unwrap();
    assert_eq!(srv.faults().pending(), 1);
    // kube 5 retries 429 by default (its RetryPolicy honours Retry-After): the call succeeds
    // and the fault was consumed.
    api.get("web").await.unwrap();
    assert_eq!(srv.faults().pending(), 0);
    // A hang delays the answer, then serves it.
    srv.faults()
        .inject(
            "/deployments/web$",
            1,
            Fault::Hang(Duration::from_millis(200)),
        )
        .unwrap();
    api.get("web").await.unwrap();
    assert_eq!(srv.faults().pending(), 0);
}

#[tokio::test]
async fn statefulset_daemonset_and_job_statuses() {
    let srv = TestServer::start(Options::default()).unwrap();
    srv.simulator()
        .set_behaviour("Job", "default", "bad", Behaviour::Fail);
    let client = client(&srv).await;
    let pod = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}});
    let objs = [
        (
            "apps",
            "StatefulSet",
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "x"}}, "template": pod}}),
        ),
        (
            "apps",
            "DaemonSet",
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": pod}}),
        ),
        (
            "batch",
            "Job",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}),
        ),
    ];
    for (group, kind, body) in objs {
        let api = api(&client, group, kind, "default").await;
        let name = body["metadata"]["name"].as_str().unwrap().to_string();
        let obj: DynamicObject = serde_json::from_value(body).unwrap();
        api.patch(&name, &PatchParams::apply("t"), &Patch::Apply(&obj))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sts = srv
            .get("apps/v1", "StatefulSet", Some("default"), "db")
            .unwrap();
        let ds = srv
            .get("apps/v1", "DaemonSet", Some("default"), "agent")
            .unwrap();
        let job = srv.get("batch/v1", "Job", Some("default"), "bad").unwrap();
        let failed = job["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Failed" && c["reason"] == "BackoffLimitExceeded")
        });
        if sts["status"]["readyReplicas"] == 2 && ds["status"]["numberReady"] == 1 && failed {
            assert_eq!(sts["status"]["observedGeneration"], 1);
            assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
            assert_eq!(job["spec"]["backoffLimit"], 6);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "statuses never settled: {sts}\n{ds}\n{job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One raw HTTP/1.1 request to a plain-HTTP server; returns (status, whole response).
fn http(srv: &TestServer, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(srv.addr()).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

#[test]
fn control_endpoints_over_http() {
    let srv = TestServer::start(Options {
        tls: false,
        ..Options::default()
    })
    .unwrap();
    let (code, _) = http(
        &srv,
        "POST",
        "/testserver/faults",
        r#"{"pathRegex":"^/api/v1/namespaces$","count":1,"fault":"429","retryAfterSeconds":2}"#,
    );
    assert_eq!(code, 200);
    let (code, body) = http(&srv, "GET", "/api/v1/namespaces", "");
    assert_eq!(code, 429);
    assert!(
        body.to_ascii_lowercase().contains("retry-after: 2"),
        "{body}"
    );
    assert!(body.contains(r#""reason":"TooManyRequests""#), "{body}");
    let (code, _) = http(&srv, "GET", "/api/v1/namespaces", "");
    assert_eq!(code, 200);
    let (code, _) = http(
        &srv,
        "POST",
        "/testserver/simulator",
        r#"{"enabled":false}"#,
    );
    assert_eq!(code, 200);
    let (_, body) = http(&srv, "GET", "/testserver/simulator", "");
    assert!(body.contains(r#""enabled":false"#), "{body}");
    let (code, _) = http(
        &srv,
        "POST",
        "/testserver/simulator/objects",
        r#"{"kind":"Job","namespace":"default","name":"j","behaviour":"Fail"}"#,
    );
    assert_eq!(code, 200);
    let (code, body) = http(&srv, "POST", "/testserver/faults", r#"{"fault":"teapot"}"#);
    assert_eq!(code, 400, "{body}");
}
