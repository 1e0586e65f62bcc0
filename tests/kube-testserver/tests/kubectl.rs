//! Faithfulness tests with the real kubectl (v1.32 on PATH): each test starts its own server
//! in-process on a free port, writes a kubeconfig, and runs kubectl commands against it,
//! asserting on exit codes, output and the stored objects.

#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube_testserver::{Options, TestServer};
use serde_json::Value;

/// A server plus a scratch HOME (kubectl's discovery cache) and kubeconfig.
struct Env {
    srv: TestServer,
    dir: tempfile::TempDir,
    kubectl: PathBuf,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn find_kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("kubectl not found on PATH: these tests need the real kubectl (v1.32); install it or add it to PATH"))
}

impl Env {
    fn new() -> Env {
        Self::with(Options::default())
    }

    fn with(opts: Options) -> Env {
        let kubectl = find_kubectl();
        let srv = TestServer::start(opts).unwrap();
        let dir = tempfile::tempdir().unwrap();
        srv.write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        Env { srv, dir, kubectl }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(&self.kubectl);
        cmd.args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("HOME", self.dir.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl and requires exit 0.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.run(args, stdin);
        assert_eq!(
            o.code, 0,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args, None)).unwrap()
    }
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
    let env = Env::new();
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
    // Defaults a real apiserver adds.
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    let mf = &d["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "kubectl");
    assert_eq!(mf["operation"], "Apply");
    let container =
        &mf["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
    assert!(container["f:image"].is_object(), "{mf}");
    assert!(
        container["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object(),
        "{mf}"
    );
    assert!(
        container["f:env"]["k:{\"name\":\"A\"}"]["f:value"].is_object(),
        "{mf}"
    );
    // Defaulted fields belong to nobody.
    assert!(container.get("f:imagePullPolicy").is_none(), "{mf}");

    let s = env.json(&["get", "service", "web", "-o", "json"]);
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert!(s["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .starts_with("10.96."));
    assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(s["spec"]["sessionAffinity"], "None");

    // Changing the image bumps generation; re-applying the same manifest is a no-op.
    let changed = DEPLOY.replace("nginx:1.25", "nginx:1.26");
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&changed));
    let d2 = env.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(d2["metadata"]["generation"], 2);
    assert_eq!(
        d2["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    let rv = d2["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&changed));
    let d3 = env.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(
        d3["metadata"]["resourceVersion"].as_str().unwrap(),
        rv,
        "no-op apply must not write"
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
    let env = Env::new();
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
    let live = env
        .srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
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
    let live = env
        .srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    let managers: Vec<&Value> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let kubectl = managers.iter().find(|m| m["manager"] == "kubectl").unwrap();
    let other = managers.iter().find(|m| m["manager"] == "other").unwrap();
    let path = |m: &Value| {
        m["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]
            .get("f:image")
            .is_some()
    };
    assert!(!path(kubectl), "forced field leaves the old manager");
    assert!(path(other));
}

#[test]
fn get_yaml_json_and_table() {
    let env = Env::new();
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
    for n in ["default", "kube-system", "kube-public"] {
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
    let env = Env::new();
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
        out.split_whitespace().map(str::to_string).collect()
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
    let env = Env::new();
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
    let live = env
        .srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    // A new object shows as a whole-object addition.
    let new = env.run(&["diff", "--server-side", "-f", "-"], Some(SERVICE));
    assert_eq!(new.code, 1);
    assert!(new.stdout.contains("+kind: Service"), "{}", new.stdout);
    assert!(env
        .srv
        .get("v1", "Service", Some("default"), "web")
        .is_none());
}

#[test]
fn delete_and_namespace_cascade() {
    let env = Env::new();
    env.ok(&["create", "namespace", "team"], None);
    env.ok(
        &[
            "create",
            "configmap",
            "cfg",
            "-n",
            "team",
            "--from-literal=a=b",
        ],
        None,
    );
    env.ok(
        &["apply", "--server-side", "-n", "team", "-f", "-"],
        Some(&DEPLOY.replace("namespace: default", "namespace: team")),
    );
    let out = env.ok(&["delete", "deployment", "web", "-n", "team"], None);
    assert!(out.contains(r#"deployment.apps "web" deleted"#), "{out}");
    assert!(env
        .srv
        .get("apps/v1", "Deployment", Some("team"), "web")
        .is_none());
    let again = env.run(&["delete", "deployment", "web", "-n", "team"], None);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("NotFound"), "{}", again.stderr);

    let out = env.ok(&["delete", "namespace", "team"], None);
    assert!(out.contains(r#"namespace "team" deleted"#), "{out}");
    assert!(
        env.srv
            .get("v1", "ConfigMap", Some("team"), "cfg")
            .is_none(),
        "namespace contents go with it"
    );
    let o = env.run(&["create", "configmap", "x", "-n", "team"], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(r#"namespaces "team" not found"#),
        "{}",
        o.stderr
    );
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
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
    let env = Env::new();
    env.ok(&["apply", "--server-side", "-f", "-"], Some(CRD));
    let crd = env.json(&["get", "crd", "widgets.example.com", "-o", "json"]);
    let established = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established, "{crd}");
    let cr = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, labels: {tier: gold}}\nspec: {size: 3}\n";
    let out = env.ok(&["apply", "--server-side", "-f", "-"], Some(cr));
    assert!(
        out.contains("widget.example.com/w1 serverside-applied"),
        "{out}"
    );
    let w = env.json(&["get", "wd", "w1", "-o", "json"]);
    assert_eq!(w["spec"]["size"], 3);
    assert_eq!(w["metadata"]["generation"], 1);
    let table = env.ok(&["get", "widgets.example.com", "-l", "tier=gold"], None);
    assert!(table.contains("w1"), "{table}");
    env.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&cr.replace("size: 3", "size: 4")),
    );
    assert_eq!(
        env.json(&["get", "wd", "w1", "-o", "json"])["metadata"]["generation"],
        2
    );

    env.ok(&["delete", "crd", "widgets.example.com"], None);
    assert!(env
        .srv
        .get("example.com/v1", "Widget", Some("default"), "w1")
        .is_none());
    let gone = env.run(&["get", "widgets.example.com"], None);
    assert_ne!(gone.code, 0, "the resource left discovery: {}", gone.stdout);
}

#[test]
fn client_side_apply_create_scale_and_rollout_status() {
    let env = Env::with(Options {
        ready_after: Duration::from_millis(300),
        ..Options::default()
    });
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
    let out = env.ok(
        &["rollout", "status", "deployment/web", "--timeout=60s"],
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
    let env = Env::new();
    env.ok(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let moved = DEPLOY
        .replace("matchLabels: {app: web}", "matchLabels: {app: web2}")
        .replace("labels: {app: web}}", "labels: {app: web2}}");
    let o = env.run(&["apply", "--server-side", "-f", "-"], Some(&moved));
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("Deployment.apps \"web\" is invalid") || o.stderr.contains("is invalid"),
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
    let env = Env::new();
    let out = env.ok(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(DEPLOY),
    );
    assert!(out.contains("serverside-applied (server dry run)"), "{out}");
    assert!(env
        .srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .is_none());
    env.ok(&["create", "configmap", "c", "--dry-run=server"], None);
    assert!(env
        .srv
        .get("v1", "ConfigMap", Some("default"), "c")
        .is_none());
}

#[test]
fn plain_http_mode() {
    let env = Env::with(Options {
        tls: false,
        ..Options::default()
    });
    assert!(env.srv.url().starts_with("http://"));
    env.ok(&["apply", "--server-side", "-f", "-"], Some(SERVICE));
    let out = env.ok(&["get", "svc", "web", "-o", "name"], None);
    assert_eq!(out.trim(), "service/web");
}

#[test]
fn job_completes_and_failing_deployment_reports_deadline() {
    let env = Env::new();
    env.srv.simulator().set_behaviour(
        "Deployment",
        "default",
        "web",
        kube_testserver::Behaviour::Fail,
    );
    env.ok(&["apply", "--server-side", "-f", "-"], Some(DEPLOY));
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: busybox}]\n";
    env.ok(&["apply", "--server-side", "-f", "-"], Some(job));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = env.json(&["get", "deploy", "web", "-o", "json"]);
        let j = env.json(&["get", "job", "once", "-o", "json"]);
        let cond = |o: &Value, t: &str| {
            o["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
        };
        let failed = cond(&d, "Progressing")
            .is_some_and(|c| c["status"] == "False" && c["reason"] == "ProgressDeadlineExceeded");
        let complete = cond(&j, "Complete").is_some_and(|c| c["status"] == "True");
        if failed && complete {
            assert_eq!(j["status"]["succeeded"], 1);
            assert_eq!(j["spec"]["template"]["spec"]["restartPolicy"], "Never");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "simulator never reached the expected state: {d}\n{j}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = env.run(
        &["rollout", "status", "deployment/web", "--timeout=20s"],
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
fn patch_types_through_kubectl() {
    let env = Env::new();
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
    assert_eq!(names, ["app", "side"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"], "Always",
        "no tag means :latest"
    );
    assert_eq!(
        d["metadata"]["generation"], 3,
        "label change did not bump generation"
    );
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl-patch"), "{managers:?}");
    // Service clusterIP is immutable.
    let o = env.run(
        &[
            "patch",
            "svc",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"clusterIP":"10.0.0.1"}}"#,
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
    let env = Env::new();
    let both = format!("{DEPLOY}---{SERVICE}");
    env.ok(&["apply", "--server-side", "-f", "-"], Some(&both));
    let out = env.ok(
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
        None,
    );
    assert!(out.contains("condition met"), "{out}");
    env.ok(&["label", "deployment", "web", "extra=1"], None);
    env.ok(&["annotate", "deployment", "web", "note=x"], None);
    let d = env
        .srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(d["metadata"]["labels"]["extra"], "1");
    assert_eq!(d["metadata"]["annotations"]["note"], "x");
    let yaml = env.ok(&["get", "deployment", "web", "-o", "yaml"], None);
    let out = env.ok(
        &["replace", "-f", "-"],
        Some(&yaml.replace("replicas: 1", "replicas: 2")),
    );
    assert!(out.contains("deployment.apps/web replaced"), "{out}");
    assert_eq!(
        env.srv
            .get("apps/v1", "Deployment", Some("default"), "web")
            .unwrap()["spec"]["replicas"],
        2
    );
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
    assert!(env.srv.objects().iter().all(|o| o["kind"] != "ConfigMap"));
    // Objects kubectl can only send as protobuf (besides the few we decode) are refused clearly.
    let o = env.run(&["create", "deployment", "x", "--image=nginx"], None);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("cannot decode application/vnd.kubernetes.protobuf for Deployment"),
        "{}",
        o.stderr
    );
}

#[test]
fn binary_writes_kubeconfig_and_serves() {
    let kubectl = find_kubectl();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
        .args(["--addr", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kc)
        .args(["--ready-after", "0s"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kc.exists() {
        assert!(Instant::now() < deadline, "kubeconfig never written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(kubectl)
        .args(["get", "namespace", "kube-system", "-o", "name"])
        .env("KUBECONFIG", &kc)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/kube-system"
    );
    let config = std::fs::read_to_string(&kc).unwrap();
    assert!(
        config.contains("certificate-authority-data:")
            && config.contains("token:")
            && config.contains("current-context: testserver")
    );
}

#[test]
fn client_side_then_server_side_apply_like_a_real_cluster() {
    let env = Env::new();
    env.ok(
        &["apply", "-f", "-"],
        Some(&format!("{DEPLOY}---{SERVICE}")),
    );
    // Unchanged object: kubectl migrates ownership from kubectl-client-side-apply to itself
    // (a JSON patch on metadata.managedFields, which the server honours).
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
    // Changed field: conflict with the client-side manager, as kubectl 1.32 reports on a real cluster.
    let o = env.run(
        &["apply", "--server-side", "-f", "-"],
        Some(&DEPLOY.replace("nginx:1.25", "nginx:1.26")),
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains(r#"conflict with "kubectl-client-side-apply" using apps/v1"#),
        "{}",
        o.stderr
    );
    // Dry-run deletes leave the object.
    let out = env.ok(&["delete", "deployment", "web", "--dry-run=server"], None);
    assert!(out.contains("(server dry run)"), "{out}");
    assert!(env
        .srv
        .get("apps/v1", "Deployment", Some("default"), "web")
        .is_some());
}
