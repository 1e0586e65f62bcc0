//! `sync-once` against the real control plane (etcd, kube-apiserver, controllers, kwok), with
//! the pinned kubectl confirming every result: staged server-side apply, unchanged detection and
//! drift correction, the ApplySet inventory and every prune safety rule, health waits with real
//! rollouts, immutable fields, conflicts, Git sources, the in-cluster service account, the RBAC
//! shipped in deploy/sync-once, and faults through the fault proxy. Each test works in
//! namespaces of its own; cluster-wide objects get unique names.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::cluster::{Cluster, Fault};
use harness::{git, Cmd, Run};
use serde_json::Value;

const PART_OF: &str = "applyset.kubernetes.io/part-of";
const MEMBERS: &str = "gitops-toolkit.io/applyset-members";

struct Env {
    cluster: &'static Cluster,
    ns: String,
    dir: tempfile::TempDir,
}

impl Env {
    fn new(hint: &str) -> Option<Env> {
        let cluster = Cluster::shared()?;
        let ns = cluster.namespace(hint);
        Some(Env {
            cluster,
            ns,
            dir: harness::tempdir(),
        })
    }

    /// Writes a manifest file (NS replaced by the test namespace) and returns its path.
    fn file(&self, name: &str, yaml: &str) -> PathBuf {
        harness::write(self.dir.path(), name, yaml.replace("NS", &self.ns))
    }

    /// sync-once with the admin kubeconfig and this test's inventory.
    fn sync(&self) -> Cmd {
        self.sync_as(self.cluster.kubeconfig())
    }

    fn sync_as(&self, kubeconfig: &Path) -> Cmd {
        Cmd::new("sync-once")
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--inventory", &format!("{}/set", self.ns)])
    }

    fn kubectl(&self, args: &[&str]) -> Run {
        self.cluster
            .kubectl()
            .args(["-n", &self.ns])
            .args(args)
            .run()
    }

    fn get(&self, resource: &str, name: &str) -> Option<Value> {
        self.cluster.get(resource, Some(&self.ns), name)
    }

    fn parent(&self) -> Value {
        self.get("secret", "set")
            .expect("the inventory Secret exists")
    }

    /// The member ids our parent records.
    fn members(&self) -> Vec<String> {
        let parent = self.parent();
        let text = parent["metadata"]["annotations"][MEMBERS]
            .as_str()
            .unwrap_or("")
            .to_owned();
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn lines(stdout: &str) -> Vec<&str> {
    stdout.lines().collect()
}

const APP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: NS}
data: {mode: blue}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: NS}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.example/web:1}]
";

#[test]
fn first_sync_creates_resync_is_unchanged_and_drift_is_corrected() {
    let Some(env) = Env::new("so-basic") else {
        return;
    };
    let file = env.file("app.yaml", APP);
    let run = env.sync().arg("-f").arg(&file).run().success();
    assert_eq!(
        lines(&run.stdout)[..3],
        [
            "configmap/cfg created",
            "service/web created",
            "deployment.apps/web created"
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("synced sha256:")
            && run.stdout.contains("3 created, 0 configured, 0 unchanged"),
        "{}",
        run.stdout
    );
    let cm = env.get("configmap", "cfg").expect("created");
    assert_eq!(cm["data"]["mode"], "blue");
    let parent = env.parent();
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .expect("id label")
        .to_owned();
    assert_eq!(cm["metadata"]["labels"][PART_OF], id.as_str());
    let full: Value = serde_json::from_str(
        &env.kubectl(&[
            "get",
            "configmap",
            "cfg",
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .success()
        .stdout,
    )
    .unwrap();
    let managers: Vec<&str> = full["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["sync-once"]);
    let ann = &parent["metadata"]["annotations"];
    assert_eq!(
        ann["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Deployment.apps,Service"
    );
    assert!(ann["applyset.kubernetes.io/tooling"]
        .as_str()
        .unwrap()
        .starts_with("sync-once/v"));
    assert!(ann["gitops-toolkit.io/last-applied-digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let mut members = env.members();
    members.sort();
    assert_eq!(
        members,
        [
            format!("{}_cfg__ConfigMap", env.ns),
            format!("{}_web__Service", env.ns),
            format!("{}_web_apps_Deployment", env.ns),
        ]
    );
    let rv = parent["metadata"]["resourceVersion"].clone();

    let run = env.sync().arg("-f").arg(&file).run().success();
    assert_eq!(
        lines(&run.stdout)[..3],
        [
            "configmap/cfg unchanged",
            "service/web unchanged",
            "deployment.apps/web unchanged"
        ]
    );
    assert_eq!(
        env.parent()["metadata"]["resourceVersion"],
        rv,
        "a no-op writes nothing"
    );

    // Drift (another manager changes a field we set) is corrected, even though the revision
    // and digest are the ones last applied.
    env.kubectl(&[
        "patch",
        "configmap",
        "cfg",
        "-p",
        r#"{"data":{"mode":"red"}}"#,
    ])
    .success();
    let run = env.sync().arg("-f").arg(&file).run().success();
    assert!(
        run.stdout.contains("configmap/cfg configured"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("deployment.apps/web unchanged"));
    assert_eq!(env.get("configmap", "cfg").unwrap()["data"]["mode"], "blue");
}

#[test]
fn changed_source_configures_and_json_reports_each_object() {
    let Some(env) = Env::new("so-json") else {
        return;
    };
    let file = env.file("app.yaml", APP);
    env.sync().arg("-f").arg(&file).run().success();
    let changed = env.file("app2.yaml", &APP.replace("mode: blue", "mode: green"));
    let run = env
        .sync()
        .arg("-f")
        .arg(&changed)
        .args(["-o", "json"])
        .run()
        .success();
    let doc: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(doc["success"], true);
    assert_eq!(doc["inventory"], format!("{}/set", env.ns));
    assert!(doc["digest"].as_str().unwrap().starts_with("sha256:"));
    let actions: Vec<(String, String)> = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_owned() + "/" + o["kind"].as_str().unwrap(),
                o["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("cfg/ConfigMap".to_owned(), "configured".to_owned()),
            ("web/Service".to_owned(), "unchanged".to_owned()),
            ("web/Deployment".to_owned(), "unchanged".to_owned()),
        ]
    );
    assert!(doc["objects"][0]["durationMs"].is_u64());
    assert_eq!(doc["summary"]["configured"], 1);
    assert_eq!(
        env.get("configmap", "cfg").unwrap()["data"]["mode"],
        "green"
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let Some(env) = Env::new("so-dry") else {
        return;
    };
    let file = env.file("app.yaml", APP);
    let run = env
        .sync()
        .arg("-f")
        .arg(&file)
        .arg("--dry-run")
        .run()
        .success();
    assert!(
        run.stdout
            .contains("configmap/cfg created (server dry run)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.starts_with("configmap/cfg created"));
    assert!(env.get("configmap", "cfg").is_none(), "nothing applied");
    assert!(env.get("secret", "set").is_none(), "no inventory written");
}

const PRUNE_BASE: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, namespace: NS}
data: {a: '1'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gone, namespace: NS}
data: {a: '1'}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: protected
  namespace: NS
  annotations: {kustomize.toolkit.fluxcd.io/prune: disabled}
data: {a: '1'}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: fluxed
  namespace: NS
data: {a: '1'}
";

#[test]
fn prune_deletes_only_members_and_honours_every_safety_rule() {
    let Some(env) = Env::new("so-prune") else {
        return;
    };
    let base = env.file("base.yaml", PRUNE_BASE);
    env.sync().arg("-f").arg(&base).run().success();
    let id = env.parent()["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Flux claims one member; an impostor copies our label without being in the inventory;
    // an object of another set and an unlabelled one live beside them.
    env.kubectl(&[
        "label",
        "configmap",
        "fluxed",
        "kustomize.toolkit.fluxcd.io/name=apps",
    ])
    .success();
    env.cluster.apply_stdin(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: impostor, namespace: {ns}, labels: {{{PART_OF}: {id}}}}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other-set, namespace: {ns}, labels: {{{PART_OF}: applyset-other-v1}}}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bystander, namespace: {ns}}}\n",
        ns = env.ns
    ));

    // Only `keep` is still rendered.
    let only_keep = env.file(
        "keep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: NS}\ndata: {a: '1'}\n",
    );
    // Without --prune nothing is deleted and the members stay in the inventory.
    env.sync().arg("-f").arg(&only_keep).run().success();
    assert!(env.get("configmap", "gone").is_some());
    assert_eq!(env.members().len(), 4);

    // --max-prune refuses a larger prune (1 of 4 members would be deleted; 0 allowed).
    let run = env
        .sync()
        .arg("-f")
        .arg(&only_keep)
        .args(["--prune", "--max-prune", "0"])
        .run()
        .code(2);
    assert!(
        run.stderr.contains("sync-once: error: refusing to prune: 1 objects would be deleted, more than the limit of 0"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: pass --force-prune"));
    assert!(env.get("configmap", "gone").is_some());

    let run = env
        .sync()
        .arg("-f")
        .arg(&only_keep)
        .args(["--prune", "--max-prune", "50%"])
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/gone pruned"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 pruned"));
    assert!(env.get("configmap", "gone").is_none(), "member pruned");
    for name in [
        "protected",
        "fluxed",
        "impostor",
        "other-set",
        "bystander",
        "keep",
    ] {
        assert!(env.get("configmap", name).is_some(), "{name} must survive");
    }
    let mut members = env.members();
    members.sort();
    assert_eq!(
        members,
        [
            format!("{}_fluxed__ConfigMap", env.ns),
            format!("{}_keep__ConfigMap", env.ns),
            format!("{}_protected__ConfigMap", env.ns),
        ],
        "kept members stay in the inventory; the pruned one left it"
    );

    // An empty source would prune everything: refused unless --allow-empty.
    let empty = env.file("empty.yaml", "");
    let run = env
        .sync()
        .arg("-f")
        .arg(&empty)
        .arg("--prune")
        .run()
        .code(2);
    assert!(
        run.stderr.contains("the source has no objects"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-empty"));
    assert!(env.get("configmap", "keep").is_some());
    let run = env
        .sync()
        .arg("-f")
        .arg(&empty)
        .args(["--prune", "--allow-empty"])
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/keep pruned"),
        "{}",
        run.stdout
    );
    assert!(env.get("configmap", "keep").is_none());
    assert!(env.get("configmap", "protected").is_some());
    assert!(env.get("configmap", "fluxed").is_some());
    // --take-over prunes what Flux also claims; prune-disabled still wins.
    let run = env
        .sync()
        .arg("-f")
        .arg(&empty)
        .args(["--prune", "--allow-empty", "--take-over"])
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/fluxed pruned"),
        "{}",
        run.stdout
    );
    assert!(env.get("configmap", "protected").is_some());
}

#[test]
fn an_inventory_entry_stays_until_its_delete_succeeded() {
    let Some(env) = Env::new("so-keep-entry") else {
        return;
    };
    let base = env.file("base.yaml", PRUNE_BASE);
    env.sync().arg("-f").arg(&base).run().success();
    let only_keep = env.file(
        "keep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: NS}\ndata: {a: '1'}\n",
    );
    let proxy = env.cluster.fault_proxy();
    // Every delete of `gone` fails (more often than the retries).
    proxy.inject(
        Some("DELETE"),
        &format!("/api/v1/namespaces/{}/configmaps/gone$", env.ns),
        100,
        Fault::InternalError,
    );
    let run = env
        .sync_as(proxy.kubeconfig())
        .arg("-f")
        .arg(&only_keep)
        .args(["--prune", "--take-over"])
        .run()
        .code(2);
    assert!(
        run.stdout.contains("configmap/gone failed:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("ConfigMap/") && run.stderr.contains("gone"),
        "{}",
        run.stderr
    );
    assert!(proxy.count("DELETE", "configmaps/gone") > 1, "retried");
    assert!(env.get("configmap", "gone").is_some());
    assert!(
        env.members()
            .contains(&format!("{}_gone__ConfigMap", env.ns)),
        "entry kept: {:?}",
        env.members()
    );
    assert!(
        !env.members()
            .contains(&format!("{}_fluxed__ConfigMap", env.ns)),
        "fluxed was deleted"
    );
    // The next run (no faults) converges.
    proxy.clear();
    let run = env
        .sync()
        .arg("-f")
        .arg(&only_keep)
        .arg("--prune")
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/gone pruned"),
        "{}",
        run.stdout
    );
    assert!(env.get("configmap", "gone").is_none());
    assert!(!env
        .members()
        .contains(&format!("{}_gone__ConfigMap", env.ns)));
}

#[test]
fn wait_sees_a_real_rollout_and_fails_fast_on_stalled_objects() {
    let Some(env) = Env::new("so-wait") else {
        return;
    };
    let file = env.file("app.yaml", APP);
    let run = env
        .sync()
        .arg("-f")
        .arg(&file)
        .args(["--wait", "--timeout", "90s"])
        .run()
        .success();
    assert!(run.stdout.contains("deployment.apps/web created"));
    let dep = env.get("deployment", "web").unwrap();
    assert_eq!(
        dep["status"]["readyReplicas"], 1,
        "really rolled out: {dep}"
    );

    let stalled = env.file(
        "stalled.yaml",
        "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck, namespace: NS}
spec:
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck, gitops-toolkit.test/never-ready: 'true'}}
    spec:
      containers: [{name: c, image: registry.example/stuck:1}]
",
    );
    let other = Cmd::new("sync-once")
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(env.cluster.kubeconfig())
        .args(["--inventory", &format!("{}/stalled", env.ns)]);
    let run = other
        .arg("-f")
        .arg(&stalled)
        .args(["--wait", "--timeout", "5m"])
        .run()
        .code(2);
    assert!(
        run.stderr.contains("failed to become ready: Deployment/")
            && run.stderr.contains("stuck (ProgressDeadlineExceeded"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("deployment.apps/stuck created"),
        "applied, reported: {}",
        run.stdout
    );

    let job = env.file(
        "job.yaml",
        "\
apiVersion: batch/v1
kind: Job
metadata: {name: fails, namespace: NS}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {pod-container-running-failed.stage.kwok.x-k8s.io: 'true'}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: registry.example/job:1}]
",
    );
    let run = Cmd::new("sync-once")
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(env.cluster.kubeconfig())
        .args(["--inventory", &format!("{}/job", env.ns)])
        .arg("-f")
        .arg(&job)
        .args(["--wait", "--timeout", "5m"])
        .run()
        .code(2);
    assert!(
        run.stderr.contains("Job/") && run.stderr.contains("fails ("),
        "{}",
        run.stderr
    );

    let slow = env.file(
        "slow.yaml",
        &std::fs::read_to_string(&stalled)
            .unwrap()
            .replace("stuck", "slow")
            .replace("progressDeadlineSeconds: 3", "progressDeadlineSeconds: 600"),
    );
    let run = Cmd::new("sync-once")
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(env.cluster.kubeconfig())
        .args(["--inventory", &format!("{}/slow", env.ns)])
        .arg("-f")
        .arg(&slow)
        .args(["--wait", "--timeout", "3s"])
        .run()
        .code(2);
    assert!(
        run.stderr.contains("not ready after 3s: Deployment/")
            && run.stderr.contains("/slow (InProgress"),
        "{}",
        run.stderr
    );
}

#[test]
fn crds_and_namespaces_go_first_and_their_kinds_apply_in_the_same_run() {
    let Some(env) = Env::new("so-crd") else {
        return;
    };
    let n = std::process::id();
    let group = format!("t{n}.example.com");
    let ns2 = format!("so-crd-made-{n}");
    let yaml = format!(
        "\
apiVersion: v1
kind: ConfigMap
metadata: {{name: in-new-ns, namespace: {ns2}}}
---
apiVersion: {group}/v1
kind: Widget
metadata: {{name: w1, namespace: NS}}
spec: {{size: 3}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: v1
kind: Namespace
metadata: {{name: {ns2}}}
"
    );
    let file = env.file("crd.yaml", &yaml);
    let run = env.sync().arg("-f").arg(&file).run().success();
    let out = lines(&run.stdout);
    assert_eq!(
        out[..4],
        [
            format!("namespace/{ns2} created").as_str(),
            format!("customresourcedefinition.apiextensions.k8s.io/widgets.{group} created")
                .as_str(),
            "configmap/in-new-ns created",
            format!("widget.{group}/w1 created").as_str(),
        ],
        "{}",
        run.stdout
    );
    let w = env
        .get(&format!("widgets.{group}"), "w1")
        .expect("custom resource");
    assert_eq!(w["spec"]["size"], 3);
    assert!(env
        .cluster
        .get("configmap", Some(&ns2), "in-new-ns")
        .is_some());
    let run = env.sync().arg("-f").arg(&file).run().success();
    assert!(run.stdout.contains("4 unchanged"), "{}", run.stdout);
    // Clean up the cluster-wide objects by pruning them.
    let empty = env.file("empty.yaml", "");
    env.sync()
        .arg("-f")
        .arg(&empty)
        .args(["--prune", "--allow-empty"])
        .run()
        .success();
    // A CRD's deletion waits on its finalizer (the apiserver removes its custom resources
    // first), so it may stay Terminating for a moment after the prune returned.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let crd = env.cluster.get("crd", None, &format!("widgets.{group}"));
        match crd {
            None => break,
            Some(crd) => {
                assert!(
                    crd["metadata"]["deletionTimestamp"].is_string(),
                    "CRD not pruned: {crd}"
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "CRD still terminating after 60 s: {crd}"
                );
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn bad_input_and_unknown_kinds_are_rejected_before_anything_is_applied() {
    let Some(env) = Env::new("so-bad") else {
        return;
    };
    let unknown = env.file(
        "unknown.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first, namespace: NS}\n---\napiVersion: nope.example.com/v1\nkind: Gadget\nmetadata: {name: g, namespace: NS}\n",
    );
    let run = env.sync().arg("-f").arg(&unknown).run().code(2);
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        format!("sync-once: error: Gadget/{}/g: the server has no resource for nope.example.com/v1, Kind=Gadget (is its CRD installed?)", env.ns)
    );
    assert!(env.get("configmap", "first").is_none(), "nothing applied");
    assert!(env.get("secret", "set").is_none());

    let broken = env.file(
        "broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n",
    );
    let run = env.sync().arg("-f").arg(&broken).run().code(2);
    assert!(
        run.stderr.starts_with("sync-once: error: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("broken.yaml:"),
        "names the file: {}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "nothing reported as applied");

    let run = env
        .sync()
        .arg("-f")
        .arg(env.file("v.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v, namespace: NS}\ndata: {a: '${MISSING}'}\n"))
        .arg("--strict")
        .run()
        .code(2);
    assert!(
        run.stderr.contains("undefined variables: MISSING"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: pass them with --var"));

    // The server rejects an object: what was and was not applied is reported.
    let invalid = env.file(
        "invalid.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: NS}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: neg, namespace: NS}\nspec:\n  replicas: -1\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: x}]}\n",
    );
    let run = env.sync().arg("-f").arg(&invalid).run().code(2);
    assert!(
        run.stdout.contains("configmap/ok created"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("deployment.apps/neg failed: "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("sync failed"), "{}", run.stdout);
    assert!(
        run.stderr.contains("invalid:") && run.stderr.contains("spec.replicas"),
        "{}",
        run.stderr
    );
}

#[test]
fn immutable_fields_are_recreated_only_when_forced() {
    let Some(env) = Env::new("so-immutable") else {
        return;
    };
    let job = |image: &str, annotate: bool| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: NS\n{}spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: {image}}}]\n",
            if annotate { "  annotations: {kustomize.toolkit.fluxcd.io/force: enabled}\n" } else { "" }
        )
    };
    env.sync()
        .arg("-f")
        .arg(env.file("j1.yaml", &job("m:1", false)))
        .run()
        .success();
    let uid = env.get("job", "migrate").unwrap()["metadata"]["uid"].clone();
    let j2 = env.file("j2.yaml", &job("m:2", false));
    let run = env.sync().arg("-f").arg(&j2).run().code(2);
    assert!(
        run.stderr.contains(&format!(
            "sync-once: error: Job/{}/migrate: cannot be changed in place: ",
            env.ns
        )) && run.stderr.contains("spec.template")
            && run.stderr.contains("immutable"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: pass --force"));
    assert_eq!(env.get("job", "migrate").unwrap()["metadata"]["uid"], uid);

    let run = env.sync().arg("-f").arg(&j2).arg("--force").run().success();
    assert!(
        run.stdout.contains("job.batch/migrate recreated"),
        "{}",
        run.stdout
    );
    let now = env.get("job", "migrate").unwrap();
    assert_ne!(now["metadata"]["uid"], uid);
    assert_eq!(
        now["spec"]["template"]["spec"]["containers"][0]["image"],
        "m:2"
    );

    let run = env
        .sync()
        .arg("-f")
        .arg(env.file("j3.yaml", &job("m:3", true)))
        .run()
        .success();
    assert!(
        run.stdout.contains("job.batch/migrate recreated"),
        "annotation: {}",
        run.stdout
    );
}

#[test]
fn field_conflicts_are_taken_over_by_default_and_fail_with_no_force_conflicts() {
    let Some(env) = Env::new("so-conflict") else {
        return;
    };
    let file = env.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: NS}\ndata: {k: ours}\n",
    );
    env.sync().arg("-f").arg(&file).run().success();
    // Another manager takes the field with server-side apply.
    env.cluster
        .kubectl()
        .args(["apply", "--server-side", "--force-conflicts", "--field-manager=intruder", "-f", "-"])
        .stdin(format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: {}}}\ndata: {{k: theirs}}\n", env.ns))
        .run()
        .success();
    let run = env
        .sync()
        .arg("-f")
        .arg(&file)
        .arg("--no-force-conflicts")
        .run()
        .code(2);
    assert!(
        run.stderr.contains("conflict") && run.stderr.contains("intruder"),
        "{}",
        run.stderr
    );
    assert_eq!(env.get("configmap", "c").unwrap()["data"]["k"], "theirs");
    let run = env.sync().arg("-f").arg(&file).run().success();
    assert!(run.stdout.contains("configmap/c configured"));
    assert_eq!(env.get("configmap", "c").unwrap()["data"]["k"], "ours");
}

/// kubectl's own ApplySet: `kubectl apply --prune --applyset`, then sync-once on that set.
#[test]
fn kubectl_applysets_and_ours_agree_on_the_members() {
    let Some(env) = Env::new("so-kubectl") else {
        return;
    };
    let two = env.file(
        "two.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: NS}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: NS}\n",
    );
    env.cluster
        .kubectl()
        .env("KUBECTL_APPLYSET", "true")
        .args([
            "apply",
            "-n",
            &env.ns,
            "--server-side",
            "--prune",
            "--applyset=secret/set",
            "-f",
        ])
        .arg(&two)
        .run()
        .success();
    // sync-once on kubectl's set: b is a member by kubectl's rules and is pruned; c created.
    let ac = env.file(
        "ac.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: NS}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: NS}\n",
    );
    let run = env.sync().arg("-f").arg(&ac).arg("--prune").run().success();
    assert!(
        run.stdout.contains("configmap/a configured")
            || run.stdout.contains("configmap/a unchanged"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("configmap/c created"), "{}", run.stdout);
    assert!(run.stdout.contains("configmap/b pruned"), "{}", run.stdout);
    assert!(env.get("configmap", "b").is_none());
    let parent = env.parent();
    assert!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"]
            .as_str()
            .unwrap()
            .starts_with("kubectl/"),
        "kubectl's set stays kubectl's"
    );
    // kubectl still manages it and sees c as a member: pruning it from a render without c.
    let only_a = env.file(
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: NS}\n",
    );
    let run = env
        .cluster
        .kubectl()
        .env("KUBECTL_APPLYSET", "true")
        .args([
            "apply",
            "-n",
            &env.ns,
            "--server-side",
            "--prune",
            "--applyset=secret/set",
            "-f",
        ])
        .arg(&only_a)
        .run()
        .success();
    assert!(run.stdout.contains("configmap/c pruned"), "{}", run.stdout);
    assert!(env.get("configmap", "c").is_none());

    // Our own set: kubectl's view (label + contains-group-kinds) lists exactly our members,
    // and kubectl refuses to change a set another tool manages.
    let ours = Env::new("so-kubectl-ours").unwrap();
    let file = ours.file("app.yaml", APP);
    ours.sync().arg("-f").arg(&file).run().success();
    let parent = ours.parent();
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap();
    let kinds = parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
        .as_str()
        .unwrap();
    let mut seen = Vec::new();
    for gk in kinds.split(',') {
        let (kind, group) = gk.split_once('.').unwrap_or((gk, ""));
        let out = ours
            .kubectl(&[
                "get",
                &gk.to_lowercase(),
                "-l",
                &format!("{PART_OF}={id}"),
                "-o",
                "name",
            ])
            .success()
            .stdout;
        for line in out.lines() {
            let name = line.rsplit('/').next().unwrap();
            seen.push(format!("{}_{name}_{group}_{kind}", ours.ns));
        }
    }
    seen.sort();
    let mut members = ours.members();
    members.sort();
    assert_eq!(seen, members);
    let run = ours
        .cluster
        .kubectl()
        .env("KUBECTL_APPLYSET", "true")
        .args([
            "apply",
            "-n",
            &ours.ns,
            "--server-side",
            "--prune",
            "--applyset=secret/set",
            "-f",
        ])
        .arg(&file)
        .run();
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("managed by tooling \"sync-once\""),
        "{}",
        run.stderr
    );
}

#[test]
fn a_git_source_is_fetched_into_a_cache_and_rendered_at_the_ref() {
    let Some(env) = Env::new("so-git") else {
        return;
    };
    let repo = env.dir.path().join("gitops");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    harness::write(
        &repo,
        "clusters/dev/kustomization.yaml",
        format!(
            "namespace: {}\nresources: [../../base]\ncommonLabels: {{env: dev}}\n",
            env.ns
        ),
    );
    harness::write(&repo, "base/kustomization.yaml", "resources: [cm.yaml]\n");
    harness::write(
        &repo,
        "base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {tag: '${TAG:=v0}'}\n",
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["tag", "v1"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    harness::write(&repo, "base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {tag: '${TAG:=v0}', new: 'yes'}\n");
    git(&repo, &["commit", "-q", "-am", "two"]);
    // Uncommitted changes are never read.
    harness::write(&repo, "base/cm.yaml", "this is not yaml: [");
    let url = format!("file://{}", repo.display());

    let run = env
        .sync()
        .args([
            "--repo",
            &url,
            "--ref",
            "v1",
            "--path",
            "clusters/dev",
            "--var",
            "TAG=v9",
        ])
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/app created"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("synced v1@sha1:{first} to")),
        "{}",
        run.stdout
    );
    let cm = env.get("configmap", "app").unwrap();
    assert_eq!(cm["data"]["tag"], "v9");
    assert_eq!(cm["metadata"]["labels"]["env"], "dev");
    assert!(cm["data"].get("new").is_none(), "the tag's content");
    assert_eq!(
        env.parent()["metadata"]["annotations"]["gitops-toolkit.io/last-applied-revision"],
        format!("v1@sha1:{first}")
    );
    let caches: Vec<_> = std::fs::read_dir(env.dir.path().join("cache/gitops-toolkit/sources"))
        .unwrap()
        .collect();
    assert_eq!(caches.len(), 1, "one cache for the URL");

    // Default ref: the remote HEAD (main), the cache reused.
    let run = env
        .sync()
        .args(["--repo", &url, "--path", "clusters/dev", "--var", "OTHER=1"])
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/app configured"),
        "{}",
        run.stdout
    );
    assert_eq!(env.get("configmap", "app").unwrap()["data"]["new"], "yes");
    assert_eq!(env.get("configmap", "app").unwrap()["data"]["tag"], "v0");

    let run = env
        .sync()
        .args(["--repo", &url, "--ref", "nope", "--path", "clusters/dev"])
        .run()
        .code(2);
    assert!(
        run.stderr.contains("unknown revision \"nope\""),
        "{}",
        run.stderr
    );
    let run = env
        .sync()
        .args(["--repo", &url, "--path", "clusters/prod"])
        .run()
        .code(2);
    assert!(
        run.stderr
            .contains("path \"clusters/prod\" does not exist at commit"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_pods_service_account_is_used_in_a_cluster() {
    let Some(env) = Env::new("so-incluster") else {
        return;
    };
    env.kubectl(&["create", "serviceaccount", "syncer"])
        .success();
    env.kubectl(&[
        "create",
        "rolebinding",
        "syncer-edit",
        "--clusterrole=admin",
        &format!("--serviceaccount={}:syncer", env.ns),
    ])
    .success();
    let token = env.kubectl(&["create", "token", "syncer"]).success().stdout;
    let sa = env.dir.path().join("sa");
    harness::write(&sa, "token", token.trim());
    harness::write(&sa, "ca.crt", env.cluster.ca_pem());
    harness::write(&sa, "namespace", &env.ns);
    let file = env.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-pod}\ndata: {a: b}\n",
    );
    let run = Cmd::new("sync-once")
        .env_remove("KUBECONFIG")
        .env("HOME", env.dir.path())
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", env.cluster.port().to_string())
        .env("SYNC_ONCE_SERVICE_ACCOUNT_DIR", &sa)
        .arg("-f")
        .arg(&file)
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/from-pod created"),
        "{}",
        run.stdout
    );
    let cm = env
        .get("configmap", "from-pod")
        .expect("in the pod's namespace");
    assert_eq!(cm["data"]["a"], "b");
    assert!(
        run.stdout.contains(&format!(" to {}/sync-once-", env.ns)),
        "default inventory in the pod's namespace: {}",
        run.stdout
    );
    assert!(!run.stderr.contains(token.trim()));
}

/// deploy/sync-once's RBAC, applied as shipped (namespaces renamed), is enough for a sync with
/// prune; a narrower role fails with a clear error.
#[test]
fn the_shipped_rbac_is_enough_and_a_narrower_one_fails_clearly() {
    let Some(env) = Env::new("so-rbac") else {
        return;
    };
    let system = env.cluster.namespace("so-rbac-system");
    let rbac = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/sync-once/rbac.yaml"),
    )
    .expect("deploy/sync-once/rbac.yaml");
    let rbac = rbac
        .replace("namespace: gitops-system", &format!("namespace: {system}"))
        .replace("namespace: apps", &format!("namespace: {}", env.ns))
        .replace(
            "name: sync-once-apply\n",
            &format!("name: sync-once-apply-{system}\n"),
        )
        .replace(
            "name: sync-once-discovery\n",
            &format!("name: sync-once-discovery-{system}\n"),
        );
    env.cluster.apply_stdin(&rbac);
    let token = env
        .cluster
        .kubectl()
        .args(["create", "token", "sync-once", "-n", &system])
        .run()
        .success()
        .stdout;
    let kubeconfig = env
        .cluster
        .kubeconfig_with_token(&format!("sa-{system}"), token.trim());
    let sync = |file: &Path, extra: &[&str]| {
        Cmd::new("sync-once")
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--inventory", &format!("{system}/apps")])
            .arg("-f")
            .arg(file)
            .args(extra)
            .run()
    };
    let app = env.file("app.yaml", APP);
    let run = sync(&app, &["--wait", "--timeout", "90s"]).success();
    assert!(run.stdout.contains("3 created"), "{}", run.stdout);
    let only_cm = env.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: NS}\ndata: {mode: blue}\n");
    let run = sync(&only_cm, &["--prune"]).success();
    assert!(
        run.stdout.contains("deployment.apps/web pruned"),
        "{}",
        run.stdout
    );
    assert!(env.get("deployment", "web").is_none());

    // A narrower grant: ConfigMaps only, read-only.
    let narrow = env.cluster.namespace("so-rbac-narrow");
    env.cluster.apply_stdin(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: narrow, namespace: {narrow}}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: read, namespace: {narrow}}}\n\
         rules: [{{apiGroups: [''], resources: [configmaps, secrets], verbs: [get, list]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: read, namespace: {narrow}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read}}\n\
         subjects: [{{kind: ServiceAccount, name: narrow, namespace: {narrow}}}]\n"
    ));
    let token = env
        .cluster
        .kubectl()
        .args(["create", "token", "narrow", "-n", &narrow])
        .run()
        .success()
        .stdout;
    let kc = env
        .cluster
        .kubeconfig_with_token(&format!("narrow-{narrow}"), token.trim());
    let cm = harness::write(
        env.dir.path(),
        "narrow.yaml",
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, namespace: {narrow}}}\n"),
    );
    let run = Cmd::new("sync-once")
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["--inventory", &format!("{narrow}/set")])
        .arg("-f")
        .arg(&cm)
        .run()
        .code(2);
    assert!(
        run.stderr.contains(&format!(
            "sync-once: error: Secret/{narrow}/set: forbidden: "
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cannot create resource \"secrets\""),
        "{}",
        run.stderr
    );
    assert!(run
        .stderr
        .contains("hint: the credentials lack RBAC permission"));
    assert_eq!(run.stderr.lines().count(), 2);
}

#[test]
fn transient_faults_are_retried_and_an_unreachable_server_is_one_error() {
    let Some(env) = Env::new("so-faults") else {
        return;
    };
    let proxy = env.cluster.fault_proxy();
    proxy.inject(
        Some("PATCH"),
        &format!("/api/v1/namespaces/{}/configmaps/cfg", env.ns),
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    proxy.inject(
        Some("PATCH"),
        &format!("/namespaces/{}/deployments/web", env.ns),
        2,
        Fault::InternalError,
    );
    let file = env.file("app.yaml", APP);
    let run = env
        .sync_as(proxy.kubeconfig())
        .arg("-f")
        .arg(&file)
        .run()
        .success();
    assert!(run.stdout.contains("3 created"), "{}", run.stdout);
    assert!(proxy.count("PATCH", "configmaps/cfg") >= 2);
    assert!(proxy.count("PATCH", "deployments/web") >= 3);
    assert!(env.get("deployment", "web").is_some());

    let port = harness::free_port();
    let dead = env.dir.path().join("dead.kubeconfig");
    std::fs::write(
        &dead,
        harness::cluster::kubeconfig_yaml(
            &format!("https://127.0.0.1:{port}"),
            env.cluster.ca_pem(),
            "x",
            "secret-token-123",
        ),
    )
    .unwrap();
    let run = env.sync_as(&dead).arg("-f").arg(&file).run().code(2);
    assert!(
        run.stderr.starts_with(&format!(
            "sync-once: error: cannot reach the cluster at https://127.0.0.1:{port}"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("secret-token-123"));
    assert!(run.stderr.lines().count() <= 2, "{}", run.stderr);
}

/// A run killed in the middle leaves an inventory that covers everything it may have applied;
/// the next run converges. Two runs racing on one inventory cannot both win.
#[test]
fn a_killed_run_leaves_a_consistent_inventory_and_racing_runs_cannot_both_win() {
    let Some(env) = Env::new("so-kill") else {
        return;
    };
    let file = env.file("app.yaml", APP);
    let proxy = env.cluster.fault_proxy();
    proxy.inject(
        Some("PATCH"),
        &format!("/namespaces/{}/deployments/web", env.ns),
        1,
        Fault::Hang(Duration::from_secs(60)),
    );
    let mut child = Command::new(harness::bin("sync-once"))
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(proxy.kubeconfig())
        .args(["--inventory", &format!("{}/set", env.ns)])
        .arg("-f")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.count("PATCH", "deployments/web") == 0 {
        assert!(
            Instant::now() < deadline,
            "the run never reached the deployment"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let mut members = env.members();
    members.sort();
    assert_eq!(
        members.len(),
        3,
        "the superset was recorded before applying: {members:?}"
    );
    assert!(env.get("deployment", "web").is_none());
    let rev =
        env.parent()["metadata"]["annotations"]["gitops-toolkit.io/last-applied-digest"].clone();
    assert!(rev.is_null(), "no revision recorded for an unfinished run");
    proxy.clear();
    let run = env.sync().arg("-f").arg(&file).run().success();
    assert!(
        run.stdout.contains("deployment.apps/web created"),
        "{}",
        run.stdout
    );

    // Race: A stalls on its apply; B syncs another revision of the same set meanwhile; A's
    // final write finds the parent changed and fails.
    let changed = env.file("app2.yaml", &APP.replace("mode: blue", "mode: red"));
    proxy.inject(
        Some("PATCH"),
        &format!("/api/v1/namespaces/{}/configmaps/cfg", env.ns),
        1,
        Fault::Hang(Duration::from_secs(8)),
    );
    let a = Command::new(harness::bin("sync-once"))
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(proxy.kubeconfig())
        .args(["--inventory", &format!("{}/set", env.ns)])
        .arg("-f")
        .arg(&changed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let before = proxy.count("PATCH", "configmaps/cfg");
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.count("PATCH", "configmaps/cfg") == before {
        assert!(Instant::now() < deadline, "A never reached the config map");
        std::thread::sleep(Duration::from_millis(50));
    }
    let b_file = env.file("app3.yaml", &APP.replace("mode: blue", "mode: green"));
    env.sync().arg("-f").arg(&b_file).run().success();
    let a = a.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&a.stderr);
    assert_eq!(a.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("was changed by someone else during this run"),
        "{stderr}"
    );
}

/// Many objects of one kind: their live state comes from one list of the kind, which must still
/// tell existing objects (configured) from absent ones (created).
#[test]
fn a_bulk_first_sync_tells_existing_objects_from_new_ones() {
    let Some(env) = Env::new("so-bulk") else {
        return;
    };
    env.cluster.apply_stdin(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-3, namespace: {ns}}}\ndata: {{v: old}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-7, namespace: {ns}}}\ndata: {{v: '7'}}\n",
        ns = env.ns
    ));
    let yaml: Vec<String> = (0..12)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: NS}}\ndata: {{v: '{i}'}}\n"))
        .collect();
    let file = env.file("many.yaml", &yaml.join("---\n"));
    let run = env.sync().arg("-f").arg(&file).run().success();
    assert!(
        run.stdout.contains("configmap/cm-3 configured"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("configmap/cm-7 configured"),
        "labelled as a member: {}",
        run.stdout
    );
    assert!(run.stdout.contains("configmap/cm-0 created"));
    assert!(
        run.stdout.contains("10 created, 2 configured, 0 unchanged"),
        "{}",
        run.stdout
    );
    assert_eq!(env.get("configmap", "cm-3").unwrap()["data"]["v"], "3");
    assert_eq!(env.members().len(), 12);
}

/// What a first sync sends, seen through the proxy: one apply per object and nothing else per
/// object (no read, no dry-run), and one round of lists served from the server's cache, because
/// the set lists its members in the parent. A re-sync reads a member the lists miss by name.
#[test]
fn a_first_sync_sends_one_apply_per_object_and_one_round_of_cached_lists() {
    let Some(env) = Env::new("so-requests") else {
        return;
    };
    let yaml: Vec<String> = (0..12)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: NS}}\ndata: {{v: '{i}'}}\n"))
        .collect();
    let file = env.file("many.yaml", &yaml.join("---\n"));
    let proxy = env.cluster.fault_proxy();
    let run = env
        .sync_as(proxy.kubeconfig())
        .arg("-f")
        .arg(&file)
        .run()
        .success();
    assert!(
        run.stdout.contains("12 created, 0 configured"),
        "{}",
        run.stdout
    );
    let ns_path = format!("/api/v1/namespaces/{}/configmaps", env.ns);
    let requests: Vec<(String, String)> = proxy
        .requests()
        .into_iter()
        .filter(|(_, p)| p.starts_with(&ns_path))
        .collect();
    let applies: Vec<&String> = requests
        .iter()
        .filter(|(m, _)| m == "PATCH")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(applies.len(), 12, "{requests:?}");
    assert!(applies.iter().all(|p| !p.contains("dryRun")), "{applies:?}");
    let lists: Vec<&String> = requests
        .iter()
        .filter(|(m, p)| m == "GET" && p.split('?').next() == Some(&ns_path))
        .map(|(_, p)| p)
        .collect();
    // The members by label and, for the 12 new ones, the whole kind: both from the cache.
    assert_eq!(lists.len(), 2, "{requests:?}");
    assert!(
        lists.iter().all(|p| p.contains("resourceVersion=0")),
        "{lists:?}"
    );
    assert_eq!(
        requests.len(),
        14,
        "no read of single objects: {requests:?}"
    );

    // A member missing from the lists (its label removed by hand) is read by name, found
    // unchanged in every field we set, and applied again: the label is ours.
    env.kubectl(&[
        "label",
        "configmap",
        "cm-5",
        "applyset.kubernetes.io/part-of-",
    ])
    .success();
    let proxy = env.cluster.fault_proxy();
    let run = env
        .sync_as(proxy.kubeconfig())
        .arg("-f")
        .arg(&file)
        .run()
        .success();
    assert!(
        run.stdout.contains("configmap/cm-5 configured"),
        "{}",
        run.stdout
    );
    assert_eq!(
        proxy.count("GET", "configmaps/cm-5$"),
        1,
        "{:?}",
        proxy.requests()
    );
    let cm = env.get("configmap", "cm-5").expect("cm-5");
    assert!(cm["metadata"]["labels"]["applyset.kubernetes.io/part-of"].is_string());
}

/// A bare repository `root/gitops.git` whose `clusters/dev` renders one ConfigMap `app` (and,
/// with `extra`, a second one `extra`) into the test namespace.
fn bare_source(env: &Env, root: &Path, extra: bool) {
    let work = env.dir.path().join("source-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let mut resources = "resources: [app.yaml]\n".to_owned();
    harness::write(
        &work,
        "clusters/dev/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {from: git}\n",
    );
    if extra {
        resources = "resources: [app.yaml, extra.yaml]\n".to_owned();
        harness::write(
            &work,
            "clusters/dev/extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {from: git}\n",
        );
    }
    harness::write(
        &work,
        "clusters/dev/kustomization.yaml",
        format!("namespace: {}\n{resources}", env.ns),
    );
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "source"]);
    let bare = root.join("gitops.git");
    let _ = std::fs::remove_dir_all(&bare);
    std::fs::create_dir_all(root).unwrap();
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            "gitops.git",
        ],
    );
}

/// Every file under `dir` (the fetch cache), as text, for leak checks.
fn all_text_under(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    out
}

/// http:// through `git http-backend` (smart HTTP, as a Git host serves it). Anonymous, it is
/// fetched and applied. A server that wants credentials, given none, and credentials in an
/// http:// URL (gix sends no password in clear text, so they are refused before any request
/// carries them; https:// is where they belong) each end the run with one error line and exit
/// 2, nothing applied, no inventory written, and the password nowhere — not even when the
/// server would echo what it got.
#[test]
fn a_git_source_over_http_and_its_credential_failures() {
    use base64::Engine as _;
    use harness::git_http::GitHttp;
    let Some(env) = Env::new("so-githttp") else {
        return;
    };
    let root = env.dir.path().join("served");
    bare_source(&env, &root, false);

    let open = GitHttp::start(&root);
    let run = env
        .sync()
        .args(["--repo", &open.url("gitops.git"), "--path", "clusters/dev"])
        .args(["-o", "json"])
        .run()
        .success();
    let report: Value = serde_json::from_str(&run.stdout).expect("json report");
    assert_eq!(report["objects"][0]["action"], "created", "{}", run.stdout);
    assert_eq!(env.get("configmap", "app").unwrap()["data"]["from"], "git");

    // A new commit adds `extra`: none of the failing runs below may apply it.
    bare_source(&env, &root, true);
    let locked = GitHttp::with_auth(&root, "ci", "s3cret-pass");
    let echo = GitHttp::echoing_auth(&root);
    let basic = base64::engine::general_purpose::STANDARD.encode("ci:s3cret-pass");
    let cases = [
        (format!("http://127.0.0.1:{}/gitops.git", locked.port()), ""),
        (
            format!(
                "http://ci:wrong-pass@127.0.0.1:{}/gitops.git",
                locked.port()
            ),
            "Will not send credentials in clear text over http",
        ),
        (
            format!(
                "http://ci:s3cret-pass@127.0.0.1:{}/gitops.git",
                locked.port()
            ),
            "Will not send credentials in clear text over http",
        ),
        (
            format!("http://ci:s3cret-pass@127.0.0.1:{}/gitops.git", echo.port()),
            "Will not send credentials in clear text over http",
        ),
    ];
    let written = env.parent()["metadata"]["resourceVersion"].clone();
    for (url, why) in &cases {
        let run = env
            .sync()
            .env("GIT_TERMINAL_PROMPT", "0")
            .args(["--repo", url, "--path", "clusters/dev"])
            .run()
            .code(2);
        assert!(
            run.stderr
                .starts_with("sync-once: error: cannot fetch http://127.0.0.1:"),
            "{url}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(why), "{url}: {}", run.stderr);
        assert_eq!(
            run.stderr
                .lines()
                .filter(|l| !l.starts_with("hint: "))
                .count(),
            1,
            "{url}: {}",
            run.stderr
        );
        for leak in ["s3cret-pass", "wrong-pass", basic.as_str()] {
            assert!(!run.stderr.contains(leak), "{leak} leaked: {}", run.stderr);
            assert!(!run.stdout.contains(leak), "{leak} leaked: {}", run.stdout);
        }
        assert!(
            env.get("configmap", "extra").is_none(),
            "{url}: nothing applied"
        );
        assert_eq!(
            env.parent()["metadata"]["resourceVersion"],
            written,
            "{url}: the inventory is not written"
        );
    }
    let cache = all_text_under(&env.dir.path().join("cache"));
    assert!(!cache.contains("s3cret-pass") && !cache.contains("wrong-pass"));
}

/// ssh:// with the ssh program replaced by a script that runs the requested command
/// (`git-upload-pack '/path'`) locally — the technique of git's own test suite
/// (t/helper/test-fake-ssh) — set through `GIT_SSH_COMMAND`, as for git.
#[test]
fn a_git_source_over_ssh_runs_the_configured_ssh_program() {
    let Some(env) = Env::new("so-gitssh") else {
        return;
    };
    let root = env.dir.path().join("served");
    bare_source(&env, &root, false);
    let log = env.dir.path().join("ssh.log");
    let fake = env.dir.path().join("fake-ssh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n\
             # Drops ssh's options and the host, then runs the remote command here.\n\
             echo \"$@\" >> '{log}'\n\
             while [ $# -gt 0 ]; do\n\
             \x20 case \"$1\" in\n\
             \x20   -o|-p|-l|-i|-F) shift 2 ;;\n\
             \x20   -*) shift ;;\n\
             \x20   *) break ;;\n\
             \x20 esac\n\
             done\n\
             shift\n\
             exec sh -c \"$*\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let url = format!(
        "ssh://git@git.example.invalid{}",
        root.join("gitops.git").display()
    );
    let run = env
        .sync()
        .env("GIT_SSH_COMMAND", &fake)
        .args(["--repo", &url, "--path", "clusters/dev"])
        .run();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        run.code, 0,
        "stderr: {}\nssh was called as: {logged}",
        run.stderr
    );
    assert!(
        run.stdout.contains("configmap/app created"),
        "{}",
        run.stdout
    );
    assert!(
        logged.contains("git.example.invalid") && logged.contains("git-upload-pack"),
        "the configured ssh program ran the upload-pack: {logged}"
    );
    assert_eq!(env.get("configmap", "app").unwrap()["data"]["from"], "git");
}

#[test]
fn an_undeclared_field_is_refused_by_the_server_and_a_missing_inventory_namespace_is_named() {
    let Some(env) = Env::new("so-field") else {
        return;
    };
    // Applies skip the server's duplicate-key re-parse (fieldValidation=Ignore), but a field
    // the schema does not declare is still refused by server-side apply.
    let typo = env.file(
        "typo.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: NS}\nspec:\n  replica: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n",
    );
    let run = env.sync().arg("-f").arg(&typo).run().code(2);
    assert!(
        run.stderr
            .contains(".spec.replica: field not declared in schema"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("deployment.apps/web failed: "),
        "{}",
        run.stdout
    );
    assert!(env.get("deployment", "web").is_none(), "not created");

    // An inventory in a namespace that does not exist (here: one the source itself would
    // create) cannot be written before the objects: one error naming it, nothing applied.
    let missing = format!("{}-later", env.ns);
    let stream = env.file(
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {missing}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: {missing}}}\n"),
    );
    let run = Cmd::new("sync-once")
        .env_remove("KUBECONFIG")
        .env("HOME", env.dir.path())
        .arg("--kubeconfig")
        .arg(env.cluster.kubeconfig())
        .args(["--inventory", &format!("{missing}/set")])
        .arg("-f")
        .arg(&stream)
        .run()
        .code(2);
    assert_eq!(
        run.stderr.lines().next().unwrap_or_default(),
        format!("sync-once: error: ApplySet parent Secret/{missing}/set cannot be created: namespace \"{missing}\" does not exist; nothing was applied"),
    );
    assert!(
        run.stderr.contains("hint: create the namespace first"),
        "{}",
        run.stderr
    );
    let ns = env
        .cluster
        .kubectl()
        .args(["get", "namespace", &missing])
        .run();
    assert_ne!(ns.code, 0, "the namespace was not created: {}", ns.stdout);
}
