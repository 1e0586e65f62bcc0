//! kube-rs against the real control plane over HTTPS (the harness's CA and bearer tokens):
//! discovery, `Api<DynamicObject>`, server-side apply with and without dry-run, typed errors,
//! optimistic concurrency, workload statuses driven by the real controllers and kwok, and
//! faults from the proxy in front of the apiserver. The suite that once checked
//! kube-testserver, now against the real thing: it pins down what shared::cluster relies on.

use std::time::{Duration, Instant};

use harness::cluster::{Cluster, Fault};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config};
use serde_json::{json, Value};

async fn client_for(kubeconfig: &std::path::Path) -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let yaml = std::fs::read_to_string(kubeconfig).unwrap();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
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

fn deployment(ns: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

#[tokio::test]
async fn discovery_and_apply_with_dry_run_over_https() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let ns = cluster.namespace("kube-rs-apply");
    assert!(cluster.server().starts_with("https://127.0.0.1:"));
    let client = client_for(cluster.kubeconfig()).await;
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

    let api = api(&client, "apps", "Deployment", &ns).await;
    let obj: DynamicObject = serde_json::from_value(deployment(&ns, "nginx:1.25")).unwrap();
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
        cluster.get("deployment", Some(&ns), "web").is_none(),
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
    let other: DynamicObject = serde_json::from_value(deployment(&ns, "nginx:2")).unwrap();
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
    // Background deletion: the object may linger a moment with a deletionTimestamp.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match api.get("web").await {
            Err(kube::Error::Api(s)) if s.code == 404 && s.reason == "NotFound" => break,
            other => assert!(Instant::now() < deadline, "still there: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn update_with_stale_resource_version_conflicts() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let ns = cluster.namespace("kube-rs-rv");
    let client = client_for(cluster.kubeconfig()).await;
    let api = api(&client, "", "ConfigMap", &ns).await;
    let cm: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}),
    )
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

    // Merge and strategic patches.
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
async fn a_wrong_token_is_unauthorized() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let wrong = cluster.kubeconfig_with_token("wrong", "not-a-token");
    let client = client_for(&wrong).await;
    let err = client.apiserver_version().await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 401),
        "{err:?}"
    );
}

#[tokio::test]
async fn faults_from_the_proxy() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let ns = cluster.namespace("kube-rs-faults");
    let proxy = cluster.fault_proxy();
    let client = client_for(proxy.kubeconfig()).await;
    let api = api(&client, "apps", "Deployment", &ns).await;
    let obj: DynamicObject = serde_json::from_value(deployment(&ns, "nginx:1")).unwrap();
    api.patch("web", &PatchParams::apply("t"), &Patch::Apply(&obj))
        .await
        .unwrap();

    // Two 500s, then normal service.
    proxy.inject(
        Some("GET"),
        "^/apis/apps/v1/namespaces/[^/]+/deployments/web$",
        2,
        Fault::InternalError,
    );
    for _ in 0..2 {
        let err = api.get("web").await.unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 500 && s.reason == "InternalError"),
            "{err:?}"
        );
    }
    api.get("web").await.unwrap();
    // kube 5 retries a 429 by itself (its RetryPolicy honours Retry-After): the call succeeds
    // and the proxy saw it twice.
    let before = proxy.count("GET", "/deployments/web$");
    proxy.inject(
        None,
        "/deployments/web$",
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    api.get("web").await.unwrap();
    assert_eq!(proxy.count("GET", "/deployments/web$"), before + 2);
    // A dropped connection is an error, not a hang.
    proxy.inject(None, "/deployments/web$", 1, Fault::Drop);
    assert!(api.get("web").await.is_err());
    api.get("web").await.unwrap();
}

#[tokio::test]
async fn statefulset_daemonset_and_job_statuses_from_the_real_controllers() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let ns = cluster.namespace("kube-rs-status");
    let client = client_for(cluster.kubeconfig()).await;
    let pod = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}});
    // kwok's chaos stage fails the containers of pods with this label.
    let failing = json!({"metadata": {"labels": {"pod-container-running-failed.stage.kwok.x-k8s.io": "true"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}});
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
            "spec": {"backoffLimit": 0, "template": failing}}),
        ),
    ];
    for (group, kind, body) in objs {
        let api = api(&client, group, kind, &ns).await;
        let name = body["metadata"]["name"].as_str().unwrap().to_string();
        let obj: DynamicObject = serde_json::from_value(body).unwrap();
        api.patch(&name, &PatchParams::apply("t"), &Patch::Apply(&obj))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sts = cluster.get("statefulset", Some(&ns), "db").unwrap();
        let ds = cluster.get("daemonset", Some(&ns), "agent").unwrap();
        let job = cluster.get("job", Some(&ns), "bad").unwrap();
        let failed = job["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == "Failed"
                    && c["status"] == "True"
                    && c["reason"] == "BackoffLimitExceeded"
            })
        });
        if sts["status"]["readyReplicas"] == 2 && ds["status"]["numberReady"] == 1 && failed {
            assert_eq!(sts["status"]["observedGeneration"], 1);
            assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
            assert_eq!(job["status"]["failed"], 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "statuses never settled: {sts}\n{ds}\n{job}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
