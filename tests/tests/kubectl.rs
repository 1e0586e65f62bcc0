//! The real kubectl against the real control plane (etcd, kube-apiserver, controllers, kwok):
//! the suite that once checked kube-testserver's faithfulness, now run against the real thing.
//! It pins down the server behaviour our cluster tools rely on (server-side apply ownership and
//! conflicts, defaulting, dry-run, selectors, cascading deletes, CRDs, rollouts) with the
//! pinned kubectl, so a change of the pinned versions that moves any of it fails here first.
//! Each test works in a namespace of its own on the shared control plane.

use std::time::{Duration, Instant};

use harness::cluster::Cluster;
use harness::Run;
use serde_json::Value;

struct Env {
    cluster: &'static Cluster,
    ns: String,
}

impl Env {
    fn new(hint: &str) -> Option<Env> {
        let cluster = Cluster::shared()?;
        let ns = cluster.namespace(hint);
        Some(Env { cluster, ns })
    }

    /// kubectl in this test's namespace.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self
            .cluster
            .kubectl()
            .args(["-n", &self.ns])
            .args(args)
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        if let Some(s) = stdin {
            cmd = cmd.stdin(s.replace("namespace: default", &format!("namespace: {}", self.ns)));
        }
        cmd.run()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.run(args, stdin).success().stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args, None)).expect("kubectl printed JSON")
    }

    fn get(&self, resource: &str, name: &str) -> Option<Value> {
        self.cluster.get(resource, Some(&self.ns), name)
    }

    /// Polls `check` on the object until it holds, or fails with the last state seen.
    fn wait_for(
        &self,
        resource: &str,
        name: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let obj = self.get(resource, name);
            if let Some(o) = obj.as_ref().filter(|o| check(o)) {
                return o.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{resource}/{name} never became {what}: {obj:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}]
"#;

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
"#;

#[test]
fn apply_server_side_creates_then_changes() {
    let Some(env) = Env::new("ssa") else { return };
    let out = env.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&format!("{DEPLOY}---{SERVICE}")),
    );
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    assert!(out.contains("service/web serverside-applied"), "{out}");

    let d = env.json(&[
        "get",
        "deployment",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(d["metadata"]["generation"], 1);
    // Defaults the apiserver adds.
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    let apply = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "kubectl" && m["operation"] == "Apply")
        .cloned()
        .unwrap_or_else(|| panic!("no Apply entry for kubectl: {d}"));
    let container = &apply["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
        ["k:{\"name\":\"app\"}"];
    assert!(container["f:image"].is_object(), "{apply}");
    assert!(
        container["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object(),
        "{apply}"
    );
    assert!(
        container["f:env"]["k:{\"name\":\"A\"}"]["f:value"].is_object(),
        "{apply}"
    );
    // Defaulted fields belong to nobody.
    assert!(container.get("f:imagePullPolicy").is_none(), "{apply}");

    let s = env.json(&["get", "service", "web", "-o", "json"]);
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert!(
        s["spec"]["clusterIP"]
            .as_str()
            .unwrap()
            .starts_with("10.96."),
        "{s}"
    );
    assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(s["spec"]["sessionAffinity"], "None");

    // Changing the image bumps generation; re-applying the same manifest writes nothing.
    let changed = DEPLOY.replace("nginx:1.25", "nginx:1.26");
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&changed));
    let d2 = env.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(d2["metadata"]["generation"], 2);
    assert_eq!(
        d2["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    // The controllers write status, which moves resourceVersion; a no-op apply does not move
    // generation nor the spec.
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&changed));
    let d3 = env.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(
        d3["metadata"]["generation"], 2,
        "no-op apply must not change the spec"
    );

    // A field the manager stops applying is removed (nobody else owns it).
    let no_env = changed.replace("        env: [{name: A, value: \"1\"}]\n", "");
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&no_env));
    let d4 = env.json(&["get", "deployment", "web", "-o", "json"]);
    assert!(
        d4["spec"]["template"]["spec"]["containers"][0]
            .get("env")
            .is_none(),
        "{d4}"
    );
}

#[test]
fn apply_conflict_between_managers_and_force() {
    let Some(env) = Env::new("conflict") else {
        return;
    };
    env.ok(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let theirs = DEPLOY.replace("nginx:1.25", "nginx:2");
    let o = env.run(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        Some(&theirs),
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.template.spec.containers[name="app"].image"#),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("--force-conflicts"), "{}", o.stderr);
    let live = env.get("deployment", "web").unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );

    let out = env.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&theirs),
    );
    assert!(out.contains("serverside-applied"), "{out}");
    let live = env.json(&[
        "get",
        "deployment",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    let managers = live["metadata"]["managedFields"].as_array().unwrap();
    let entry = |name: &str| {
        managers
            .iter()
            .find(|m| m["manager"] == name && m["operation"] == "Apply")
            .unwrap_or_else(|| panic!("no Apply entry of {name}: {live}"))
    };
    let owns_image = |m: &Value| {
        m["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]
            .get("f:image")
            .is_some()
    };
    assert!(
        !owns_image(entry("kubectl")),
        "a forced field leaves the old manager"
    );
    assert!(owns_image(entry("other")));
}

#[test]
fn get_yaml_json_and_table() {
    let Some(env) = Env::new("get") else { return };
    env.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&format!("{DEPLOY}---{SERVICE}")),
    );
    let yaml = env.ok(&["get", "deploy", "web", "-o", "yaml"], None);
    assert!(
        yaml.contains("kind: Deployment") && yaml.contains("revisionHistoryLimit: 10"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("managedFields"),
        "kubectl hides managedFields by default: {yaml}"
    );
    let list = env.json(&["get", "deploy,svc", "-o", "json"]);
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let table = env.ok(&["get", "deployments"], None);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{table}"
    );
    assert!(table.lines().nth(1).unwrap().starts_with("web "), "{table}");
    let svc = env.ok(&["get", "svc", "web"], None);
    assert!(svc.contains("ClusterIP") && svc.contains("80/TCP"), "{svc}");
    let ns = env.ok(&["get", "ns"], None);
    for n in ["default", "kube-system", "kube-public", env.ns.as_str()] {
        assert!(ns.contains(n), "{ns}");
    }
    let missing = env.run(&["get", "deploy", "nope"], None);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains(r#"Error from server (NotFound): deployments.apps "nope" not found"#),
        "{}",
        missing.stderr
    );
}

#[test]
fn get_with_label_selectors() {
    let Some(env) = Env::new("labels") else {
        return;
    };
    let cm = |name: &str, labels: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, labels: {{{labels}}}}}\ndata: {{k: v}}\n---\n")
    };
    let all = [
        cm("a", "app: web, tier: fe"),
        cm("b", "app: db, tier: be"),
        cm("c", "app: web"),
    ]
    .concat();
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&all));
    let names = |sel: &str| -> Vec<String> {
        let out = env.ok(
            &[
                "get",
                "cm",
                "-l",
                sel,
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
            None,
        );
        // The root-CA publisher puts kube-root-ca.crt into every namespace.
        out.split_whitespace()
            .filter(|n| *n != "kube-root-ca.crt")
            .map(str::to_string)
            .collect()
    };
    assert_eq!(names("app=web"), ["a", "c"]);
    assert_eq!(names("app==db"), ["b"]);
    assert_eq!(names("app!=web"), ["b"]);
    assert_eq!(names("tier in (fe,be)"), ["a", "b"]);
    assert_eq!(names("app notin (web)"), ["b"]);
    assert_eq!(names("tier"), ["a", "b"]);
    assert_eq!(names("!tier"), ["c"]);
    assert_eq!(names("app=web,tier"), ["a"]);
    let by_field = env.ok(
        &[
            "get",
            "cm",
            "--field-selector",
            "metadata.name=b",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(by_field.trim(), "configmap/b");
}

#[test]
fn diff_server_side_exit_codes() {
    let Some(env) = Env::new("diff") else { return };
    env.ok(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let same = env.run(&["diff", "--server-side", "-f", "-"], Some(DEPLOY));
    assert_eq!(
        same.code, 0,
        "no difference: {}{}",
        same.stdout, same.stderr
    );
    assert!(same.stdout.is_empty());
    let changed = DEPLOY.replace("nginx:1.25", "nginx:1.26");
    let diff = env.run(&["diff", "--server-side", "-f", "-"], Some(&changed));
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stdout.contains("-        image: nginx:1.25")
            && diff.stdout.contains("+        image: nginx:1.26"),
        "{}",
        diff.stdout
    );
    // The dry run stored nothing.
    let live = env.get("deployment", "web").unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    // A new object shows as a whole-object addition.
    let new = env.run(&["diff", "--server-side", "-f", "-"], Some(SERVICE));
    assert_eq!(new.code, 1);
    assert!(new.stdout.contains("+kind: Service"), "{}", new.stdout);
    assert!(env.get("service", "web").is_none());
}

#[test]
fn delete_and_namespace_cascade() {
    let Some(env) = Env::new("cascade") else {
        return;
    };
    let team = env.cluster.namespace("team");
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = env.cluster.kubectl().args(args);
        if let Some(s) = stdin {
            cmd = cmd.stdin(s);
        }
        cmd.run()
    };
    kubectl(
        &[
            "create",
            "configmap",
            "cfg",
            "-n",
            &team,
            "--from-literal=a=b",
        ],
        None,
    )
    .success();
    let deploy = DEPLOY.replace("namespace: default", &format!("namespace: {team}"));
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&deploy)).success();
    // The deployment controller creates a ReplicaSet owned by the Deployment.
    let deadline = Instant::now() + Duration::from_secs(60);
    while kubectl(
        &["get", "rs", "-n", &team, "-l", "app=web", "-o", "name"],
        None,
    )
    .stdout
    .trim()
    .is_empty()
    {
        assert!(Instant::now() < deadline, "no ReplicaSet was created");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = kubectl(
        &[
            "delete",
            "deployment",
            "web",
            "-n",
            &team,
            "--cascade=foreground",
        ],
        None,
    )
    .success()
    .stdout;
    assert!(out.contains(r#"deployment.apps "web" deleted"#), "{out}");
    assert!(env.cluster.get("deployment", Some(&team), "web").is_none());
    // Foreground deletion waited for the garbage collector: the ReplicaSet is gone too.
    let rs = kubectl(
        &["get", "rs", "-n", &team, "-l", "app=web", "-o", "name"],
        None,
    )
    .success();
    assert!(rs.stdout.trim().is_empty(), "{}", rs.stdout);
    let again = kubectl(&["delete", "deployment", "web", "-n", &team], None);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("NotFound"), "{}", again.stderr);

    let out = kubectl(&["delete", "namespace", &team, "--timeout=90s"], None)
        .success()
        .stdout;
    assert!(
        out.contains(&format!(r#"namespace "{team}" deleted"#)),
        "{out}"
    );
    assert!(
        env.cluster.get("configmap", Some(&team), "cfg").is_none(),
        "namespace contents go with it"
    );
    let o = kubectl(&["create", "configmap", "x", "-n", &team], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains(&format!(r#"namespaces "{team}" not found"#)),
        "{}",
        o.stderr
    );
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.kubectl.example.com}
spec:
  group: kubectl.example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd], listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources: {status: {}}
"#;

#[test]
fn crd_then_custom_resource() {
    let Some(env) = Env::new("crd") else { return };
    env.ok(&["apply", "--server-side", "-f", "-"], Some(CRD));
    env.ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.kubectl.example.com",
            "--timeout=60s",
        ],
        None,
    );
    let cr = "apiVersion: kubectl.example.com/v1\nkind: Widget\nmetadata: {name: w1, labels: {tier: gold}}\nspec: {size: 3}\n";
    let out = env.ok(&["apply", "--server-side", "-f", "-"], Some(cr));
    assert!(
        out.contains("widget.kubectl.example.com/w1 serverside-applied"),
        "{out}"
    );
    let w = env.json(&["get", "wd", "w1", "-o", "json"]);
    assert_eq!(w["spec"]["size"], 3);
    assert_eq!(w["metadata"]["generation"], 1);
    let table = env.ok(
        &["get", "widgets.kubectl.example.com", "-l", "tier=gold"],
        None,
    );
    assert!(table.contains("w1"), "{table}");
    env.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&cr.replace("size: 3", "size: 4")),
    );
    assert_eq!(
        env.json(&["get", "wd", "w1", "-o", "json"])["metadata"]["generation"],
        2
    );

    env.ok(
        &[
            "delete",
            "crd",
            "widgets.kubectl.example.com",
            "--timeout=60s",
        ],
        None,
    );
    let gone = env.run(&["get", "widgets.kubectl.example.com"], None);
    assert_ne!(gone.code, 0, "the resource left discovery: {}", gone.stdout);
}

#[test]
fn client_side_apply_create_scale_and_rollout_status() {
    let Some(env) = Env::new("csa") else { return };
    let out = env.ok(&["apply", "-f", "-"], Some(DEPLOY));
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = env.ok(
        &["apply", "-f", "-"],
        Some(&DEPLOY.replace("nginx:1.25", "nginx:1.26")),
    );
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let d = env.json(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(
        managers.contains(&"kubectl-client-side-apply"),
        "{managers:?}"
    );
    env.ok(&["scale", "deployment", "web", "--replicas=3"], None);
    // The real controllers roll it out onto kwok's fake node.
    let out = env.ok(
        &["rollout", "status", "deployment/web", "--timeout=90s"],
        None,
    );
    assert!(
        out.contains(r#"deployment "web" successfully rolled out"#),
        "{out}"
    );
    let d = env.json(&["get", "deploy", "web", "-o", "json"]);
    assert_eq!(d["status"]["readyReplicas"], 3);
    assert_eq!(
        d["status"]["observedGeneration"],
        d["metadata"]["generation"]
    );
    let pods = env.ok(
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ],
        None,
    );
    assert_eq!(
        pods.split_whitespace().filter(|p| *p == "Running").count(),
        3,
        "{pods}"
    );
    env.ok(
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=password=hunter2",
        ],
        None,
    );
    let s = env.json(&["get", "secret", "s", "-o", "json"]);
    assert_eq!(s["data"]["password"], "aHVudGVyMg==");
    assert_eq!(s["type"], "Opaque");
}

#[test]
fn immutable_field_is_rejected() {
    let Some(env) = Env::new("immutable") else {
        return;
    };
    env.ok(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let moved = DEPLOY
        .replace("matchLabels: {app: web}", "matchLabels: {app: web2}")
        .replace("labels: {app: web}}", "labels: {app: web2}}");
    let o = env.run(&["apply", "--server-side", "-f", "-"], Some(&moved));
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(r#"The Deployment "web" is invalid"#),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("spec.selector") && o.stderr.contains("field is immutable"),
        "{}",
        o.stderr
    );
}

#[test]
fn server_dry_run_stores_nothing() {
    let Some(env) = Env::new("dryrun") else {
        return;
    };
    let out = env.ok(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(DEPLOY),
    );
    assert!(out.contains("serverside-applied (server dry run)"), "{out}");
    assert!(env.get("deployment", "web").is_none());
    env.ok(&["create", "configmap", "c", "--dry-run=server"], None);
    assert!(env.get("configmap", "c").is_none());
}

#[test]
fn job_completes_and_stalled_deployment_reports_deadline() {
    let Some(env) = Env::new("stall") else { return };
    // kwok never readies pods with this label (tests/tools/build.sh), so the rollout stalls.
    let stalled = DEPLOY
        .replace(
            "    metadata: {labels: {app: web}}",
            "    metadata: {labels: {app: web, gitops-toolkit.test/never-ready: \"true\"}}",
        )
        .replace(
            "spec:\n  selector:",
            "spec:\n  progressDeadlineSeconds: 3\n  selector:",
        );
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&stalled));
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
    env.ok(&["apply", "--server-side", "-f", "-"], Some(job));
    let j = env.wait_for("job", "once", "Complete", |j| {
        condition(j, "Complete").is_some_and(|c| c["status"] == "True")
    });
    assert_eq!(j["status"]["succeeded"], 1);
    env.wait_for("deployment", "web", "ProgressDeadlineExceeded", |d| {
        condition(d, "Progressing")
            .is_some_and(|c| c["status"] == "False" && c["reason"] == "ProgressDeadlineExceeded")
    });
    let o = env.run(
        &["rollout", "status", "deployment/web", "--timeout=30s"],
        None,
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("exceeded its progress deadline"),
        "{}",
        o.stderr
    );
}

#[test]
fn job_without_restart_policy_is_invalid() {
    let Some(env) = Env::new("jobpolicy") else {
        return;
    };
    // kube-testserver defaulted restartPolicy to Never here; the real apiserver refuses a Job
    // whose pods would restart Always.
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: busybox}]\n";
    let o = env.run(&["apply", "--server-side", "-f", "-"], Some(job));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stderr.contains(r#"spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#),
        "{}",
        o.stderr
    );
}

#[test]
fn patch_types_through_kubectl() {
    let Some(env) = Env::new("patch") else { return };
    env.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&format!("{DEPLOY}---{SERVICE}")),
    );
    env.ok(
        &[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
        ],
        None,
    );
    env.ok(
        &[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"extra":"yes"}}}"#,
        ],
        None,
    );
    // Strategic merge: a second container is merged in by name, the first one stays.
    env.ok(
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}"#,
        ],
        None,
    );
    let d = env.json(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["metadata"]["labels"]["extra"], "yes");
    let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["side", "app"],
        "strategic merge puts new list items first"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always",
        "no tag means :latest"
    );
    assert_eq!(
        d["metadata"]["generation"], 3,
        "a label change does not bump generation"
    );
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl-patch"), "{managers:?}");
    let o = env.run(
        &[
            "patch",
            "svc",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"clusterIP":"10.96.0.99"}}"#,
        ],
        None,
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("is invalid") && o.stderr.contains("may not change once set"),
        "{}",
        o.stderr
    );
}

#[test]
fn wait_label_replace_delete_file_and_collection() {
    let Some(env) = Env::new("wait") else { return };
    let both = format!("{DEPLOY}---{SERVICE}");
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&both));
    let out = env.ok(
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=90s",
        ],
        None,
    );
    assert!(out.contains("condition met"), "{out}");
    env.ok(&["label", "deployment", "web", "extra=1"], None);
    env.ok(&["annotate", "deployment", "web", "note=x"], None);
    let d = env.get("deployment", "web").unwrap();
    assert_eq!(d["metadata"]["labels"]["extra"], "1");
    assert_eq!(d["metadata"]["annotations"]["note"], "x");
    let yaml = env.ok(&["get", "deployment", "web", "-o", "yaml"], None);
    let out = env.ok(
        &["replace", "-f", "-"],
        Some(&yaml.replace("replicas: 1", "replicas: 2")),
    );
    assert!(out.contains("deployment.apps/web replaced"), "{out}");
    assert_eq!(env.get("deployment", "web").unwrap()["spec"]["replicas"], 2);
    let all = env.ok(&["get", "all"], None);
    assert!(
        all.contains("deployment.apps/web") && all.contains("service/web"),
        "{all}"
    );
    let out = env.ok(&["delete", "-f", "-"], Some(&both));
    assert!(
        out.contains(r#"deployment.apps "web" deleted"#)
            && out.contains(r#"service "web" deleted"#),
        "{out}"
    );
    for n in ["a", "b"] {
        env.ok(&["create", "configmap", n], None);
    }
    let out = env.ok(&["delete", "configmap", "--all"], None);
    assert!(
        out.contains(r#"configmap "a" deleted"#) && out.contains(r#"configmap "b" deleted"#),
        "{out}"
    );
    // kubectl create sends protobuf, which the real apiserver decodes for every built-in kind.
    let out = env.ok(&["create", "deployment", "x", "--image=nginx"], None);
    assert!(out.contains("deployment.apps/x created"), "{out}");
}

#[test]
fn client_side_then_server_side_apply_migrates_ownership() {
    let Some(env) = Env::new("migrate") else {
        return;
    };
    env.ok(
        &["apply", "-f", "-"],
        Some(&format!("{DEPLOY}---{SERVICE}")),
    );
    // Unchanged object: kubectl migrates ownership from kubectl-client-side-apply to itself.
    env.ok(&["apply", "--server-side", "-f", "-"], Some(SERVICE));
    let s = env.json(&["get", "svc", "web", "-o", "json", "--show-managed-fields"]);
    let apply = s["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "kubectl" && m["operation"] == "Apply")
        .cloned();
    assert!(
        apply.is_some_and(|m| m["fieldsV1"]["f:spec"]["f:selector"].is_object()),
        "{s}"
    );
    let changed = env.run(
        &["apply", "--server-side", "-f", "-"],
        Some(&DEPLOY.replace("nginx:1.25", "nginx:1.26")),
    );
    changed_after_migration(&env, changed);
    // Dry-run deletes leave the object.
    let out = env.ok(&["delete", "deployment", "web", "--dry-run=server"], None);
    assert!(out.contains("(server dry run)"), "{out}");
    assert!(env.get("deployment", "web").is_some());
}

/// kubectl 1.36 migrates client-side ownership on the first server-side apply, so a changed
/// field no longer conflicts with `kubectl-client-side-apply` (kubectl 1.32 against
/// kube-testserver reported a conflict here).
fn changed_after_migration(env: &Env, run: Run) {
    let run = run.success();
    assert!(
        run.stdout
            .contains("deployment.apps/web serverside-applied"),
        "{}",
        run.stdout
    );
    let d = env.get("deployment", "web").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
}

#[test]
fn rbac_denies_a_user_without_bindings_then_allows_with_a_role() {
    let Some(env) = Env::new("rbac") else { return };
    let alice = env.cluster.token_kubeconfig("alice");
    let as_alice = |args: &[&str]| {
        env.cluster
            .kubectl_as(&alice)
            .args(["-n", &env.ns])
            .args(args)
            .run()
    };
    let denied = as_alice(&["get", "configmaps"]);
    assert_eq!(denied.code, 1);
    assert!(
        denied
            .stderr
            .contains(r#"User "alice" cannot list resource "configmaps""#),
        "{}",
        denied.stderr
    );
    env.ok(
        &[
            "create",
            "role",
            "cm-reader",
            "--verb=get,list",
            "--resource=configmaps",
        ],
        None,
    );
    env.ok(
        &[
            "create",
            "rolebinding",
            "alice-cm",
            "--role=cm-reader",
            "--user=alice",
        ],
        None,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = as_alice(&["get", "configmaps", "-o", "name"]);
        if r.code == 0 {
            assert!(
                r.stdout.contains("configmap/kube-root-ca.crt"),
                "{}",
                r.stdout
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the binding never took effect: {}",
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Still no write access.
    let w = as_alice(&["create", "configmap", "nope"]);
    assert_eq!(w.code, 1);
    assert!(w.stderr.contains("cannot create resource"), "{}", w.stderr);
}

#[test]
fn test_cluster_binary_prints_a_kubeconfig_and_serves() {
    if Cluster::shared().is_none() {
        return;
    }
    let mut child = std::process::Command::new(harness::bin_dir().join("test-cluster"))
        .arg("--no-nodes")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start test-cluster (cargo build --workspace builds it)");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let kubeconfig = std::path::PathBuf::from(line.trim());
    let run = harness::Cmd::program(harness::cluster::tool("kubectl").unwrap())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "namespace", "kube-system", "-o", "name"])
        .run();
    child.kill().unwrap();
    child.wait().unwrap();
    let run = run.success();
    assert_eq!(run.stdout.trim(), "namespace/kube-system");
    // Killing it takes every process and the directory with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while kubeconfig.exists() {
        assert!(
            Instant::now() < deadline,
            "{} was left behind",
            kubeconfig.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
