//! `shared::cluster`'s adapter against the real kube-apiserver (with controllers and kwok nodes),
//! with the real kubectl as the oracle for what the server holds: server-side apply and
//! dry-run, field-manager conflicts, discovery of a CRD created mid-run, list by label, delete
//! with propagation and preconditions, the ApplySet parent's optimistic concurrency and its
//! agreement with `kubectl apply --applyset`, least privilege, the in-cluster service account,
//! retries through the fault proxy, health by kstatus rules and the desired-vs-live comparison.
//!
//! Each test works in a namespace of its own on the control plane shared by this binary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gitops::cluster::applyset::{self, Inventory};
use gitops::cluster::compare::{compare, CompareOptions};
use gitops::cluster::health::{health, Status};
use gitops::cluster::{
    identity_of, ApplyOptions, Cluster, ClusterError, ConnectOptions, DeleteOptions, Deletion,
    Freshness, GroupKind, InCluster, ObjectKey, ParentWrite, Propagation, RetryPolicy,
};
use gitops::manifest::Identity;
use harness::cluster::{Cluster as ControlPlane, Fault};
use serde_json::{json, Value};

const MANAGER: &str = "gitops-test";

fn control_plane() -> Option<&'static ControlPlane> {
    // kube's client and the harness both use rustls; with more than one provider compiled in,
    // rustls refuses to pick one, so install aws-lc-rs first, as the binaries' entry point does.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    ControlPlane::shared()
}

fn options(kubeconfig: &Path, namespace: &str) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        namespace: Some(namespace.to_owned()),
        ..ConnectOptions::default()
    }
}

async fn connect(cp: &ControlPlane, namespace: &str) -> Cluster {
    Cluster::connect(&options(cp.kubeconfig(), namespace))
        .await
        .expect("connect as admin")
}

fn id(api_version: &str, kind: &str, namespace: &str, name: &str) -> Identity {
    identity_of(&json!({"apiVersion": api_version, "kind": kind,
                        "metadata": {"name": name, "namespace": namespace}}))
}

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

/// Polls `check` until it returns `Some` or `limit` passes (a deadline, not a timing assertion).
async fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn discovery_tells_resources_and_scope() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("discovery");
    let cluster = connect(cp, &ns).await;
    assert_eq!(cluster.server(), cp.server());
    assert_eq!(cluster.default_namespace(), ns);
    let d = cluster.discovery();
    assert!(
        d.aggregated(),
        "the real apiserver offers aggregated discovery"
    );
    let deploy = d.resolve("apps", "v1", "Deployment").expect("deployments");
    assert_eq!(
        (deploy.plural.as_str(), deploy.namespaced),
        ("deployments", true)
    );
    assert!(deploy.supports("patch") && deploy.supports("delete"));
    assert_eq!(d.is_namespaced("", "Namespace"), Some(false));
    assert_eq!(
        d.is_namespaced("rbac.authorization.k8s.io", "ClusterRole"),
        Some(false)
    );
    assert_eq!(
        d.resolve_group_kind(&GroupKind::new("", "Service"))
            .map(|r| r.plural.as_str()),
        Some("services")
    );
    // Every kind kubectl knows as namespaced we know as namespaced too.
    let run = cp
        .kubectl()
        .args([
            "api-resources",
            "--namespaced=true",
            "--verbs=list",
            "-o",
            "name",
        ])
        .run()
        .success();
    for name in run.stdout.lines().filter(|l| !l.is_empty()) {
        let (plural, group) = name.split_once('.').unwrap_or((name, ""));
        let ours = d
            .group_kinds()
            .find(|r| r.plural == plural && r.group == group);
        assert!(
            ours.is_some_and(|r| r.namespaced),
            "{name} namespaced for kubectl, not for us"
        );
    }
}

#[tokio::test]
async fn apply_dry_run_then_apply_and_the_default_namespace() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("apply");
    let cluster = connect(cp, &ns).await;
    let cm = config_map("settings", json!({"mode": "fast"}));

    let mut dry = ApplyOptions::new(MANAGER);
    dry.dry_run = true;
    let would = cluster.apply(&cm, &dry).await.expect("dry run");
    assert_eq!(
        would["metadata"]["namespace"],
        ns.as_str(),
        "the default namespace"
    );
    assert_eq!(would["data"]["mode"], "fast");
    assert!(
        cp.get("configmap", Some(&ns), "settings").is_none(),
        "a dry run persists nothing"
    );

    let applied = cluster
        .apply(&cm, &ApplyOptions::new(MANAGER))
        .await
        .expect("apply");
    let run = cp
        .kubectl()
        .args([
            "get",
            "configmap",
            "settings",
            "-n",
            &ns,
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .run()
        .success();
    let live: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(live["data"]["mode"], "fast");
    assert_eq!(live["metadata"]["uid"], applied["metadata"]["uid"]);
    let managers: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, [MANAGER]);

    // A cluster-scoped object keeps no namespace, even if the manifest gave one.
    let ns_obj = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": format!("{ns}-extra"), "namespace": "ignored"}});
    let applied = cluster
        .apply(&ns_obj, &ApplyOptions::new(MANAGER))
        .await
        .expect("apply namespace");
    assert_eq!(applied["metadata"].get("namespace"), None);
    assert!(cp.get("namespace", None, &format!("{ns}-extra")).is_some());

    let got = cluster
        .get(&id("v1", "ConfigMap", &ns, "settings"))
        .await
        .expect("get");
    assert_eq!(got.expect("exists")["data"]["mode"], "fast");
    assert_eq!(
        cluster
            .get(&id("v1", "ConfigMap", &ns, "missing"))
            .await
            .expect("get"),
        None
    );
}

#[tokio::test]
async fn field_manager_conflicts_are_errors_unless_forced() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("conflict");
    cp.kubectl()
        .args([
            "apply",
            "--server-side",
            "--field-manager=someone-else",
            "-n",
            &ns,
            "-f",
            "-",
        ])
        .stdin("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  owner: them\n")
        .run()
        .success();
    let cluster = connect(cp, &ns).await;
    let mine = config_map("shared", json!({"owner": "us"}));

    let err = cluster
        .apply(&mine, &ApplyOptions::new(MANAGER))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("ConfigMap/{ns}/shared: conflict: ")),
        "{text}"
    );
    assert!(
        text.contains("someone-else") && text.contains(".data.owner"),
        "{text}"
    );
    assert!(!text.contains('\n'));
    assert_eq!(
        cp.get("configmap", Some(&ns), "shared").expect("live")["data"]["owner"],
        "them"
    );

    let mut force = ApplyOptions::new(MANAGER);
    force.force = true;
    cluster.apply(&mine, &force).await.expect("forced");
    assert_eq!(
        cp.get("configmap", Some(&ns), "shared").expect("live")["data"]["owner"],
        "us"
    );
}

#[tokio::test]
async fn invalid_and_immutable_fields_are_named() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("invalid");
    let cluster = connect(cp, &ns).await;
    let job = |image: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": image}]}}}})
    };
    cluster
        .apply(&job("busybox:1"), &ApplyOptions::new(MANAGER))
        .await
        .expect("create job");
    let err = cluster
        .apply(&job("busybox:2"), &ApplyOptions::new(MANAGER))
        .await
        .unwrap_err();
    assert!(err.is_invalid(), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("Job/{ns}/once: invalid: ")),
        "{text}"
    );
    assert!(err.is_immutable(), "{text}");
    assert!(
        text.contains("spec.template") && text.contains("immutable"),
        "{text}"
    );

    // A misspelt field is an error, in a dry run too (the server answers a server-side apply
    // with undeclared fields with a 500; it is reported as invalid and not retried).
    let typo = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "typo"},
        "spec": {"replica": 2, "selector": {"matchLabels": {"app": "t"}},
            "template": {"metadata": {"labels": {"app": "t"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    let mut dry = ApplyOptions::new(MANAGER);
    dry.dry_run = true;
    let err = cluster.apply(&typo, &dry).await.unwrap_err();
    assert!(err.is_invalid() && !err.is_immutable(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("Deployment/{ns}/typo: invalid: "))
            && err
                .to_string()
                .contains(".spec.replica: field not declared in schema"),
        "{err}"
    );
}

#[tokio::test]
async fn a_crd_created_mid_run_is_found_after_refresh() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("crd");
    let cluster = connect(cp, &ns).await;
    let group = format!("{ns}.example.com");
    let widget = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
                        "metadata": {"name": "w1"}, "spec": {"size": 3}});

    let err = cluster
        .apply(&widget, &ApplyOptions::new(MANAGER))
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::UnknownKind { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "Widget/w1: the server has no resource for {group}/v1, Kind=Widget (is its CRD installed?)"
        )
    );

    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}});
    cluster
        .apply(&crd, &ApplyOptions::new(MANAGER))
        .await
        .expect("apply CRD");
    let crd_id = identity_of(&crd);
    // Health by kstatus: Established.
    let start = Instant::now();
    loop {
        let live = cluster.get(&crd_id).await.expect("get CRD");
        let h = health(live.as_ref());
        if h.status == Status::Current {
            assert_eq!(h.message, "CRD is established");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "CRD not established: {}",
            h.message
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    cluster.refresh_discovery().await.expect("refresh");
    assert_eq!(
        cluster.discovery().is_namespaced(&group, "Widget"),
        Some(true)
    );
    cluster
        .apply(&widget, &ApplyOptions::new(MANAGER))
        .await
        .expect("apply widget");
    // A typo in a custom resource is refused, not pruned (server-side apply refuses fields the
    // schema does not declare), and reported as invalid, not as a server failure.
    let mut typo = widget.clone();
    typo["metadata"]["name"] = "w2".into();
    typo["spec"]["colour"] = "red".into();
    let err = cluster
        .apply(&typo, &ApplyOptions::new(MANAGER))
        .await
        .unwrap_err();
    assert!(err.is_invalid(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("Widget/{ns}/w2: invalid: "))
            && err
                .to_string()
                .contains(".spec.colour: field not declared in schema"),
        "{err}"
    );
    let live = cp
        .get(&format!("widgets.{group}"), Some(&ns), "w1")
        .expect("kubectl sees the widget");
    assert_eq!(live["spec"]["size"], 3);
}

#[tokio::test]
async fn list_by_label_across_kinds_and_namespaces() {
    let Some(cp) = control_plane() else { return };
    let ns1 = cp.namespace("list-a");
    let ns2 = cp.namespace("list-b");
    let cluster = connect(cp, &ns1).await;
    let label = format!("gitops-test/list={ns1}");
    let (key, value) = label.split_once('=').expect("label");
    for (ns, name, labelled) in [(&ns1, "a", true), (&ns1, "b", false), (&ns2, "c", true)] {
        let mut cm = config_map(name, json!({}));
        cm["metadata"]["namespace"] = ns.as_str().into();
        if labelled {
            cm["metadata"]["labels"] = json!({key: value});
        }
        cluster
            .apply(&cm, &ApplyOptions::new(MANAGER))
            .await
            .expect("apply");
    }
    cp.kubectl()
        .args(["label", "namespace", &ns2, &label])
        .run()
        .success();
    let kinds = [
        GroupKind::new("", "ConfigMap"),
        GroupKind::new("", "Namespace"),
        GroupKind::new("example.invalid", "NotServed"),
    ];
    let names = |objs: &[Value]| -> Vec<String> {
        objs.iter().map(|o| ObjectKey::of(o).to_string()).collect()
    };

    let in_one = cluster
        .list(
            &kinds,
            &label,
            std::slice::from_ref(&ns1),
            Freshness::Latest,
        )
        .await
        .expect("list");
    assert_eq!(
        names(&in_one),
        [format!("ConfigMap/{ns1}/a"), format!("Namespace/{ns2}")]
    );
    assert_eq!(
        in_one[0]["apiVersion"], "v1",
        "list items get their type back"
    );
    // A consistent list waits until the server's cache has caught up, so a list from the
    // cache right after it holds everything it held.
    let cached = cluster
        .list(
            &kinds,
            &label,
            std::slice::from_ref(&ns1),
            Freshness::Cached,
        )
        .await
        .expect("cached list");
    assert_eq!(names(&cached), names(&in_one));

    let everywhere = cluster
        .list(&kinds, &label, &[], Freshness::Latest)
        .await
        .expect("list");
    // kubectl agrees on what carries the label.
    let run = cp
        .kubectl()
        .args([
            "get",
            "configmaps,namespaces",
            "-A",
            "-l",
            &label,
            "-o",
            "json",
        ])
        .run()
        .success();
    let theirs: Value = serde_json::from_str(&run.stdout).expect("json");
    let mut theirs: Vec<String> = theirs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| ObjectKey::of(o).to_string())
        .collect();
    theirs.sort();
    let mut ours = names(&everywhere);
    ours.sort();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 3);
}

#[tokio::test]
async fn delete_with_propagation_and_preconditions() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("delete");
    let cluster = connect(cp, &ns).await;
    let owner_of = |parent: &Value| {
        json!([{"apiVersion": "v1", "kind": "ConfigMap",
                "name": parent["metadata"]["name"], "uid": parent["metadata"]["uid"]}])
    };
    let make_pair = |tag: &'static str| {
        let cluster = &cluster;
        async move {
            let parent = cluster
                .apply(
                    &config_map(&format!("{tag}-parent"), json!({})),
                    &ApplyOptions::new(MANAGER),
                )
                .await
                .expect("parent");
            let mut child = config_map(&format!("{tag}-child"), json!({}));
            child["metadata"]["ownerReferences"] = owner_of(&parent);
            cluster
                .apply(&child, &ApplyOptions::new(MANAGER))
                .await
                .expect("child");
            parent
        }
    };

    // A stale uid (the object was replaced by a namesake) is refused.
    let parent = make_pair("orphan").await;
    let parent_id = id("v1", "ConfigMap", &ns, "orphan-parent");
    let stale = DeleteOptions {
        uid: Some("00000000-0000-0000-0000-000000000000".into()),
        ..DeleteOptions::default()
    };
    let err = cluster.delete(&parent_id, &stale).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("ConfigMap/{ns}/orphan-parent: conflict: ")),
        "{err}"
    );
    assert!(cp.get("configmap", Some(&ns), "orphan-parent").is_some());

    // Orphan: the child stays, without its owner reference.
    let orphan = DeleteOptions {
        propagation: Propagation::Orphan,
        uid: parent["metadata"]["uid"].as_str().map(str::to_owned),
        ..DeleteOptions::default()
    };
    let _ = cluster.delete(&parent_id, &orphan).await.expect("delete");
    eventually("the parent to go", Duration::from_secs(60), || {
        cp.get("configmap", Some(&ns), "orphan-parent")
            .is_none()
            .then_some(())
    })
    .await;
    let child = eventually(
        "the child to lose its owner",
        Duration::from_secs(60),
        || {
            let child = cp.get("configmap", Some(&ns), "orphan-child")?;
            child["metadata"]
                .get("ownerReferences")
                .is_none()
                .then_some(child)
        },
    )
    .await;
    assert_eq!(child["metadata"]["name"], "orphan-child");

    // Foreground: accepted, the parent waits for its dependents, then both are gone.
    make_pair("fg").await;
    let fg = DeleteOptions {
        propagation: Propagation::Foreground,
        ..DeleteOptions::default()
    };
    match cluster
        .delete(&id("v1", "ConfigMap", &ns, "fg-parent"), &fg)
        .await
        .expect("delete")
    {
        Deletion::Pending(obj) => {
            assert!(obj["metadata"]["deletionTimestamp"].is_string());
            assert!(obj["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion")));
        }
        Deletion::Deleted => {} // the garbage collector may already have finished
        Deletion::NotFound => panic!("the parent existed"),
    }
    eventually("foreground deletion", Duration::from_secs(60), || {
        (cp.get("configmap", Some(&ns), "fg-parent").is_none()
            && cp.get("configmap", Some(&ns), "fg-child").is_none())
        .then_some(())
    })
    .await;

    // Background (the default): the dependent is collected after the parent.
    make_pair("bg").await;
    let gone = cluster
        .delete(
            &id("v1", "ConfigMap", &ns, "bg-parent"),
            &DeleteOptions::default(),
        )
        .await
        .expect("delete");
    assert_eq!(gone, Deletion::Deleted);
    eventually("background collection", Duration::from_secs(60), || {
        cp.get("configmap", Some(&ns), "bg-child")
            .is_none()
            .then_some(())
    })
    .await;

    assert_eq!(
        cluster
            .delete(
                &id("v1", "ConfigMap", &ns, "bg-parent"),
                &DeleteOptions::default()
            )
            .await
            .expect("idempotent"),
        Deletion::NotFound
    );
}

#[tokio::test]
async fn applyset_parent_races_and_kubectl_agrees_on_members() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("applyset");
    let cluster = connect(cp, &ns).await;

    // kubectl creates a set (Secret parent, one member) …
    cp.kubectl()
        .env("KUBECTL_APPLYSET", "true")
        .args([
            "apply",
            "--server-side",
            "--prune",
            "--applyset=kset",
            "-n",
            &ns,
            "-f",
            "-",
        ])
        .stdin("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: member\ndata: {a: b}\n")
        .run()
        .success();
    // … and our planner computes the same id and sees the same member.
    let kparent = id("v1", "Secret", &ns, "kset");
    let live_parent = cluster.get(&kparent).await.expect("get").expect("parent");
    let inv = Inventory::from_parent(&kparent, &live_parent).expect("kubectl's parent");
    assert_eq!(
        live_parent["metadata"]["labels"][applyset::ID_LABEL],
        applyset::id_of_parent(&kparent).as_str()
    );
    assert_eq!(applyset::tooling_name(&inv.tooling), "kubectl");
    let members = cluster
        .list(
            &inv.group_kinds.iter().cloned().collect::<Vec<_>>(),
            &applyset::member_selector(&inv.id),
            &inv.namespaces(&ns).into_iter().collect::<Vec<_>>(),
            Freshness::Latest,
        )
        .await
        .expect("list members");
    let names: Vec<String> = members
        .iter()
        .filter(|m| inv.is_member(m, &ns))
        .map(|m| ObjectKey::of(m).to_string())
        .collect();
    assert_eq!(names, [format!("ConfigMap/{ns}/member")]);

    // Our own parent: created once; a second create loses the race.
    let parent = id("v1", "ConfigMap", &ns, "our-set");
    let mut ours = Inventory::new(&parent, "gitops-test/v0");
    ours.set_members([ObjectKey::new("", "ConfigMap", &ns, "x")].into(), &ns);
    let body = ours.parent_patch(&parent, None).expect("patch");
    let created = cluster
        .write_parent(&body, &ParentWrite::Create, MANAGER)
        .await
        .expect("create");
    let err = cluster
        .write_parent(&body, &ParentWrite::Create, MANAGER)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");

    // Two runs read the same resourceVersion; only the first update wins.
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_owned();
    ours.revision = Some("run-1".into());
    let first = ours.parent_patch(&parent, None).expect("patch");
    cluster
        .write_parent(
            &first,
            &ParentWrite::Update {
                resource_version: rv.clone(),
            },
            MANAGER,
        )
        .await
        .expect("first update");
    ours.revision = Some("run-2".into());
    let second = ours.parent_patch(&parent, None).expect("patch");
    let err = cluster
        .write_parent(
            &second,
            &ParentWrite::Update {
                resource_version: rv,
            },
            MANAGER,
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let live = cp.get("configmap", Some(&ns), "our-set").expect("parent");
    assert_eq!(
        live["metadata"]["annotations"][applyset::REVISION_ANNOTATION],
        "run-1"
    );
    let read = Inventory::from_parent(&parent, &live).expect("ours");
    assert_eq!(read.members, ours.members);

    // kubectl reads our parent as an ApplySet too (it refuses it only for its tooling).
    let run = cp
        .kubectl()
        .env("KUBECTL_APPLYSET", "true")
        .args([
            "apply",
            "--server-side",
            "--prune",
            "--applyset=configmaps/our-set",
            "-n",
            &ns,
            "-f",
            "-",
        ])
        .stdin("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n")
        .run();
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("managed by tooling \"gitops-test\" instead of \"kubectl\""),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_prune_cycle_deletes_only_what_the_planner_allows() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("prune");
    let cluster = connect(cp, &ns).await;
    let parent = id("v1", "ConfigMap", &ns, "set");
    let mut inv = Inventory::new(&parent, "gitops-test/v0");

    // First run: four members, one of them opting out of pruning.
    let mut applied = BTreeSet::new();
    for name in ["keep", "old-1", "old-2", "pinned"] {
        let mut cm = config_map(name, json!({}));
        if name == "pinned" {
            cm["metadata"]["annotations"] =
                json!({gitops::cluster::prune::PRUNE_ANNOTATION: "disabled"});
        }
        applyset::label_member(&mut cm, &inv.id).expect("label");
        let live = cluster
            .apply(&cm, &ApplyOptions::new(MANAGER))
            .await
            .expect("apply");
        applied.insert(ObjectKey::of(&live));
    }
    // A stranger copies our label; it is not in the inventory.
    let mut stranger = config_map("stranger", json!({}));
    stranger["metadata"]["namespace"] = ns.as_str().into();
    applyset::label_member(&mut stranger, &inv.id).expect("label");
    cp.apply_stdin(&serde_json::to_string(&stranger).expect("json"));
    inv.set_members(applied, &ns);
    let body = inv.parent_patch(&parent, None).expect("patch");
    cluster
        .write_parent(&body, &ParentWrite::Create, MANAGER)
        .await
        .expect("parent");

    // Second run: only "keep" is desired.
    let live_parent = cluster.get(&parent).await.expect("get").expect("parent");
    let inv = Inventory::from_parent(&parent, &live_parent).expect("inventory");
    let desired = [ObjectKey::new("", "ConfigMap", &ns, "keep")].into();
    let live = cluster
        .list(
            &inv.group_kinds.iter().cloned().collect::<Vec<_>>(),
            &applyset::member_selector(&inv.id),
            &inv.namespaces(&ns).into_iter().collect::<Vec<_>>(),
            Freshness::Latest,
        )
        .await
        .expect("list");
    let plan = gitops::cluster::prune::plan(&inv, &ns, &desired, &live, &Default::default())
        .expect("plan");
    let delete: Vec<String> = plan.delete.iter().map(ToString::to_string).collect();
    assert_eq!(
        delete,
        [
            format!("ConfigMap/{ns}/old-1"),
            format!("ConfigMap/{ns}/old-2")
        ]
    );
    let kept: Vec<String> = plan
        .kept
        .iter()
        .map(|(k, r)| format!("{}: {r}", k.name))
        .collect();
    assert_eq!(
        kept,
        [
            "pinned: kustomize.toolkit.fluxcd.io/prune: disabled",
            "stranger: not in the inventory (only labelled)"
        ]
    );
    let mut deleted = BTreeSet::new();
    for key in &plan.delete {
        let target = id("v1", &key.kind, &key.namespace, &key.name);
        cluster
            .delete(&target, &DeleteOptions::default())
            .await
            .expect("delete");
        deleted.insert(key.clone());
    }
    let next = inv.after_prune(&desired, &deleted, &ns);
    let body = next.parent_patch(&parent, None).expect("patch");
    let rv = live_parent["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_owned();
    cluster
        .write_parent(
            &body,
            &ParentWrite::Update {
                resource_version: rv,
            },
            MANAGER,
        )
        .await
        .expect("update parent");

    // kubectl sees exactly the expected objects, and the parent lists what is left.
    let run = cp
        .kubectl()
        .args(["get", "configmaps", "-n", &ns, "-o", "name"])
        .run()
        .success();
    let mut names: Vec<&str> = run.stdout.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "configmap/keep",
            "configmap/kube-root-ca.crt",
            "configmap/pinned",
            "configmap/set",
            "configmap/stranger"
        ]
    );
    let parent_now = cp.get("configmap", Some(&ns), "set").expect("parent");
    assert_eq!(
        parent_now["metadata"]["annotations"][applyset::MEMBERS_ANNOTATION],
        format!("{ns}_keep__ConfigMap,{ns}_pinned__ConfigMap").as_str()
    );
}

#[tokio::test]
async fn least_privilege_errors_are_clear_and_carry_no_token() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("rbac");
    let kubeconfig = cp.token_kubeconfig("restricted");
    let cluster = Cluster::connect(&options(&kubeconfig, &ns))
        .await
        .expect("discovery is open to every authenticated user");
    let err = cluster
        .get(&id("v1", "ConfigMap", &ns, "anything"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClusterError::Forbidden { .. }), "{text}");
    assert!(
        text.starts_with(&format!("ConfigMap/{ns}/anything: forbidden: ")),
        "{text}"
    );
    assert!(
        text.contains("\"restricted\" cannot get resource \"configmaps\""),
        "{text}"
    );
    assert!(!text.contains(cp.token("restricted")));

    let err = cluster
        .apply(&config_map("c", json!({})), &ApplyOptions::new(MANAGER))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot patch resource \"configmaps\""),
        "{err}"
    );

    // A wrong token is refused at connect time.
    let bad = cp.kubeconfig_with_token("nobody", "not-a-valid-token");
    let err = Cluster::connect(&options(&bad, &ns)).await.unwrap_err();
    assert!(matches!(err, ClusterError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("not-a-valid-token"), "{err}");
}

#[tokio::test]
async fn in_cluster_service_account() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("in-cluster");
    let dir = tempfile::tempdir().expect("tmp");
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let sa = InCluster {
        host: Some("127.0.0.1".into()),
        port: Some(cp.port().to_string()),
        token_file: write("token", cp.token("admin")),
        ca_file: write("ca.crt", cp.ca_pem()),
        namespace_file: write("namespace", &ns),
    };
    let opts = ConnectOptions {
        home: Some(dir.path().join("no-home")),
        in_cluster: sa,
        ..ConnectOptions::default()
    };
    let cluster = Cluster::connect(&opts).await.expect("in-cluster");
    assert_eq!(cluster.default_namespace(), ns, "from the namespace file");
    assert_eq!(cluster.server(), format!("https://127.0.0.1:{}", cp.port()));
    cluster
        .apply(
            &config_map("from-pod", json!({"k": "v"})),
            &ApplyOptions::new(MANAGER),
        )
        .await
        .expect("apply as the service account");
    assert!(cp.get("configmap", Some(&ns), "from-pod").is_some());

    // A token kube cannot send (a trailing newline) is an authentication error, at once: it is
    // not mistaken for an unreachable server and retried.
    let mut bad = opts.clone();
    bad.in_cluster.token_file = write("token-newline", &format!("{}\n", cp.token("admin")));
    let err = Cluster::connect(&bad).await.unwrap_err();
    assert!(matches!(err, ClusterError::Unauthorized { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "discovery: unauthorized: invalid bearer token: failed to parse header value"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_the_rest_are_not() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("retry");
    cp.apply_stdin(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: target\n  namespace: {ns}\n"
    ));
    let proxy = cp.fault_proxy();
    let fast = RetryPolicy {
        max_retries: 3,
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(1),
    };
    let opts = ConnectOptions {
        retry: fast,
        ..options(proxy.kubeconfig(), &ns)
    };
    let cluster = Cluster::connect(&opts).await.expect("through the proxy");
    let target = id("v1", "ConfigMap", &ns, "target");
    let path = format!("^/api/v1/namespaces/{ns}/configmaps/target$");

    proxy.inject(
        Some("GET"),
        &path,
        2,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let got = cluster.get(&target).await.expect("retried past two 429s");
    assert!(got.is_some());
    assert_eq!(proxy.count("GET", &path), 3);

    proxy.inject(Some("PATCH"), &path, 2, Fault::InternalError);
    cluster
        .apply(
            &config_map("target", json!({"k": "v"})),
            &ApplyOptions::new(MANAGER),
        )
        .await
        .expect("retried past two 500s");
    assert_eq!(proxy.count("PATCH", &path), 3);
    assert_eq!(
        cp.get("configmap", Some(&ns), "target").expect("live")["data"]["k"],
        "v"
    );

    proxy.inject(Some("GET"), &path, 1, Fault::Drop);
    assert!(cluster
        .get(&target)
        .await
        .expect("retried a dropped connection")
        .is_some());

    // More failures than retries: the last answer is reported, naming the object.
    let before = proxy.count("GET", &path);
    proxy.inject(Some("GET"), &path, 10, Fault::InternalError);
    let err = cluster.get(&target).await.unwrap_err();
    assert_eq!(proxy.count("GET", &path) - before, 4, "1 try + 3 retries");
    assert!(
        err.to_string()
            .starts_with(&format!("ConfigMap/{ns}/target: the server answered 500: ")),
        "{err}"
    );
    proxy.clear();

    // A 404 is an answer, not a failure to retry.
    let before = proxy.count("GET", "/configmaps/nothing$");
    assert_eq!(
        cluster
            .get(&id("v1", "ConfigMap", &ns, "nothing"))
            .await
            .expect("get"),
        None
    );
    assert_eq!(proxy.count("GET", "/configmaps/nothing$") - before, 1);
}

#[tokio::test]
async fn classic_discovery_when_aggregated_fails_finds_the_same() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("classic");
    let aggregated = connect(cp, &ns).await.discovery();
    assert!(aggregated.aggregated());

    // The aggregated request for /apis fails; discovery falls back to the per-group walk.
    let proxy = cp.fault_proxy();
    proxy.inject(Some("GET"), "^/apis$", 1, Fault::InternalError);
    let opts = ConnectOptions {
        retry: RetryPolicy::never(),
        ..options(proxy.kubeconfig(), &ns)
    };
    let classic = Cluster::connect(&opts)
        .await
        .expect("classic discovery")
        .discovery();
    assert!(!classic.aggregated());
    assert!(
        proxy.count("GET", "^/apis/apps/v1$") >= 1,
        "the classic walk asks each group version"
    );
    let table = |d: &gitops::cluster::Discovery| -> Vec<String> {
        d.group_kinds()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r.api_version(),
                    r.kind,
                    r.plural,
                    r.namespaced
                )
            })
            .collect()
    };
    assert_eq!(table(&classic), table(&aggregated));
    assert!(classic.len() > 50, "{}", classic.len());
}

#[tokio::test]
async fn a_hanging_request_times_out_and_is_retried() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("hang");
    cp.apply_stdin(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: slow\n  namespace: {ns}\n"
    ));
    let proxy = cp.fault_proxy();
    let opts = ConnectOptions {
        read_timeout: Some(Duration::from_secs(1)),
        ..options(proxy.kubeconfig(), &ns)
    };
    let cluster = Cluster::connect(&opts).await.expect("connect");
    let path = format!("^/api/v1/namespaces/{ns}/configmaps/slow$");
    proxy.inject(Some("GET"), &path, 1, Fault::Hang(Duration::from_secs(5)));
    let got = cluster
        .get(&id("v1", "ConfigMap", &ns, "slow"))
        .await
        .expect("the second try is answered");
    assert_eq!(got.expect("exists")["metadata"]["name"], "slow");
    assert_eq!(proxy.count("GET", &path), 2);
}

#[tokio::test]
async fn an_unreachable_server_is_one_clear_error() {
    let Some(cp) = control_plane() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let port = harness::free_port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        harness::cluster::kubeconfig_yaml(
            &format!("https://127.0.0.1:{port}"),
            cp.ca_pem(),
            "admin",
            cp.token("admin"),
        ),
    )
    .expect("write");
    let opts = ConnectOptions {
        retry: RetryPolicy {
            max_retries: 2,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(1),
        },
        ..options(&kubeconfig, "default")
    };
    let err = Cluster::connect(&opts).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClusterError::Unreachable { .. }), "{text}");
    assert!(
        text.starts_with(&format!(
            "cannot reach the cluster at https://127.0.0.1:{port}: "
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains('\n') && !text.contains(cp.token("admin")));
}

#[tokio::test]
async fn a_deployment_rolls_out_and_dry_run_equals_live() {
    let Some(cp) = control_plane() else { return };
    let ns = cp.namespace("rollout");
    let cluster = connect(cp, &ns).await;
    let deployment = |image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": image}]}}}})
    };
    cluster
        .apply(&deployment("nginx:1.27"), &ApplyOptions::new(MANAGER))
        .await
        .expect("apply");
    let web = id("apps/v1", "Deployment", &ns, "web");
    let start = Instant::now();
    loop {
        let live = cluster.get(&web).await.expect("get");
        let h = health(live.as_ref());
        match h.status {
            Status::Current => {
                assert_eq!(h.message, "Deployment is available. Replicas: 2");
                break;
            }
            Status::InProgress => {}
            other => panic!("unexpected {other}: {}", h.message),
        }
        if start.elapsed() > Duration::from_secs(120) {
            let pods = cp
                .kubectl()
                .args(["get", "pods,nodes", "-A", "-o", "wide"])
                .run();
            panic!(
                "rollout did not finish: {}\n{}{}",
                h.message, pods.stdout, pods.stderr
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The same manifest dry-run: only server noise differs, defaulted fields included.
    let live = cluster.get(&web).await.expect("get").expect("live");
    let mut dry = ApplyOptions::new(MANAGER);
    dry.dry_run = true;
    let same = cluster
        .apply(&deployment("nginx:1.27"), &dry)
        .await
        .expect("dry run");
    let cmp = compare(&same, &live, &CompareOptions::default());
    assert!(!cmp.differs(), "{:?}", cmp.changes);

    let changed = cluster
        .apply(&deployment("nginx:1.28"), &dry)
        .await
        .expect("dry run");
    let cmp = compare(&changed, &live, &CompareOptions::default());
    let shown: Vec<String> = cmp.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["/spec/template/spec/containers/0/image: \"nginx:1.27\" -> \"nginx:1.28\""]
    );
    // kubectl diff --server-side agrees that there is a difference.
    let run = cp
        .kubectl()
        .args([
            "diff",
            "--server-side",
            "--field-manager",
            MANAGER,
            "-n",
            &ns,
            "-f",
            "-",
        ])
        .stdin(serde_json::to_string(&deployment("nginx:1.28")).expect("json"))
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("nginx:1.28"));
}
