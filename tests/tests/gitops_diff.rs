//! `kubectl-gitops-diff` end to end: the live diff against the real control plane with the
//! pinned `kubectl diff --server-side` as the oracle (which objects differ must agree, and
//! defaulted fields alone are never a difference), the ApplySet prune view against `kubectl
//! apply --prune --applyset --dry-run=server`, the revision diff on real Git repositories made
//! by each test, Secret masking in every output format, and the exit codes.

use std::collections::BTreeSet;
use std::path::Path;

use harness::cluster::Cluster;
use harness::{write, Cmd, Run};
use serde_json::Value;

const TOOL: &str = "kubectl-gitops-diff";

fn tool() -> Cmd {
    Cmd::new(TOOL)
        .env_remove("KUBECTL_EXTERNAL_DIFF")
        .env_remove("NO_COLOR")
}

fn git(dir: &Path, args: &[&str]) -> Run {
    Cmd::program("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .run()
        .success()
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

/// `file stem -> action` of the objects that differ, from `-o json`.
fn differing(doc: &Value) -> BTreeSet<(String, String)> {
    doc["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["action"] != "unchanged")
        .map(|o| {
            let api = o["apiVersion"].as_str().unwrap();
            let stem = format!(
                "{}.{}.{}.{}",
                api.replace('/', "."),
                o["kind"].as_str().unwrap(),
                o["namespace"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            );
            (stem, o["action"].as_str().unwrap().to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Two streams and revisions: no cluster

const CM_A: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\ndata:\n  k: one\n";
const CM_A2: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\ndata:\n  k: two\n";
const CM_B: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: shop\ndata:\n  k: b\n";

#[test]
fn two_streams_human_output_and_exit_codes() {
    let dir = harness::tempdir();
    let old = write(dir.path(), "old.yaml", format!("{CM_A}---\n{CM_B}"));
    let new = write(dir.path(), "new.yaml", CM_A2);
    let run = tool().arg(&old).arg(&new).run().code(1);
    assert!(
        run.stdout.starts_with("configmap/a -n shop changed\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("-  k: one\n+  k: two\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("configmap/b -n shop pruned\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("1 changed, 1 pruned, 0 unchanged\n"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour when not a terminal"
    );
    assert_eq!(run.stderr, "");

    // --color=always paints; NO_COLOR does not matter then.
    let run = tool()
        .arg(&old)
        .arg(&new)
        .arg("--color=always")
        .run()
        .code(1);
    assert!(run.stdout.contains("\x1b[32m+  k: two"), "{}", run.stdout);

    // No difference: exit 0, and the same file read from stdin.
    tool()
        .arg(&new)
        .arg("-")
        .stdin(CM_A2)
        .run()
        .success()
        .stdout_is("no differences, 1 unchanged\n");
    // --exit-code=false forces 0.
    tool()
        .arg(&old)
        .arg(&new)
        .arg("--exit-code=false")
        .run()
        .success();
}

#[test]
fn bad_input_is_one_error_line_naming_the_file() {
    let dir = harness::tempdir();
    let good = write(dir.path(), "good.yaml", CM_A);
    let bad = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n",
    );
    let run = tool().arg(&good).arg(&bad).run().code(2);
    assert_eq!(run.stdout, "", "nothing half-written");
    assert!(
        run.stderr.starts_with("kubectl-gitops-diff: error: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("bad.yaml:"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let run = tool().arg(&good).run().code(2);
    assert!(run.stderr.contains("OLD NEW"), "{}", run.stderr);
}

#[test]
fn fail_on_is_a_risk_gate() {
    let dir = harness::tempdir();
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
    let old = write(dir.path(), "old.yaml", format!("{ns}---\n{CM_A}"));
    let new = write(dir.path(), "new.yaml", CM_A);
    let run = tool()
        .arg(&old)
        .arg(&new)
        .args(["--fail-on", "delete:Namespace,PersistentVolumeClaim"])
        .run()
        .code(2);
    assert!(
        run.stdout.contains("namespace/shop pruned"),
        "the report is still written"
    );
    assert!(
        run.stderr.contains(
            "error: the change would delete Namespace/shop (--fail-on delete:Namespace,PersistentVolumeClaim)"
        ),
        "{}",
        run.stderr
    );
    // A rule that does not match leaves the normal exit code.
    tool()
        .arg(&old)
        .arg(&new)
        .args(["--fail-on", "create,change:Namespace"])
        .run()
        .code(1);
}

const SECRET_OLD: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\ndata:\n  password: aHVudGVyMi1vbGQtdmFsdWU=\n  user: c2VjcmV0LWFkbWluLXVzZXI=\nstringData:\n  token: plain-old-token-value\n";
const SECRET_NEW: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\ndata:\n  password: aHVudGVyMi1uZXctdmFsdWU=\n  user: c2VjcmV0LWFkbWluLXVzZXI=\n  extra: ZXh0cmEtc2VjcmV0LXZhbHVl\nstringData:\n  token: plain-new-token-value\n";
/// Every secret value of the two Secrets above, encoded and decoded.
const SECRET_VALUES: [&str; 10] = [
    "aHVudGVyMi1vbGQtdmFsdWU=",
    "hunter2-old-value",
    "aHVudGVyMi1uZXctdmFsdWU=",
    "hunter2-new-value",
    "c2VjcmV0LWFkbWluLXVzZXI=",
    "secret-admin-user",
    "ZXh0cmEtc2VjcmV0LXZhbHVl",
    "extra-secret-value",
    "plain-old-token-value",
    "plain-new-token-value",
];

fn assert_no_secret(what: &str, text: &str) {
    for v in SECRET_VALUES {
        assert!(
            !text.contains(v),
            "{what} shows the secret value {v:?}:\n{text}"
        );
    }
}

fn secret_streams(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        write(dir, "old.yaml", SECRET_OLD),
        write(dir, "new.yaml", SECRET_NEW),
    )
}

#[test]
fn secrets_are_masked_in_human_output() {
    let dir = harness::tempdir();
    let (old, new) = secret_streams(dir.path());
    let run = tool().arg(&old).arg(&new).run().code(1);
    assert_no_secret("human output", &run.stdout);
    assert_no_secret("stderr", &run.stderr);
    assert!(
        run.stdout.contains("secret/db -n shop changed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("-  password: '*** (before)'\n")
            && run.stdout.contains("+  password: '*** (after)'\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("   user: '***'\n"),
        "an unchanged key is masked, not shown as changed:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("+  extra: '***'\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("-  token: '*** (before)'\n+  token: '*** (after)'\n"),
        "{}",
        run.stdout
    );

    // Opting out shows the values.
    let shown = tool()
        .arg(&old)
        .arg(&new)
        .arg("--show-secrets")
        .run()
        .code(1);
    assert!(
        shown.stdout.contains("aHVudGVyMi1uZXctdmFsdWU="),
        "{}",
        shown.stdout
    );
}

#[test]
fn secrets_are_masked_in_json_output() {
    let dir = harness::tempdir();
    let (old, new) = secret_streams(dir.path());
    let run = tool()
        .arg(&old)
        .arg(&new)
        .args(["-o", "json"])
        .run()
        .code(1);
    assert_no_secret("-o json", &run.stdout);
    let doc = json(&run);
    assert_eq!(doc["summary"]["changed"], 1);
    let changes = doc["objects"][0]["changes"].as_array().unwrap();
    let password = changes
        .iter()
        .find(|c| c["path"] == "/data/password")
        .expect("password change");
    assert_eq!(password["old"], "*** (before)");
    assert_eq!(password["new"], "*** (after)");
    let extra = changes
        .iter()
        .find(|c| c["path"] == "/data/extra")
        .expect("added key");
    assert_eq!(extra["old"], Value::Null);
    assert_eq!(extra["new"], "***");
    assert!(
        !changes.iter().any(|c| c["path"] == "/data/user"),
        "unchanged keys are no change"
    );
}

#[test]
fn secrets_are_masked_in_markdown_output() {
    let dir = harness::tempdir();
    let (old, new) = secret_streams(dir.path());
    let run = tool()
        .arg(&old)
        .arg(&new)
        .args(["-o", "markdown"])
        .run()
        .code(1);
    assert_no_secret("-o markdown", &run.stdout);
    assert!(
        run.stdout.contains("| changed | Secret | shop | db |"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("<details><summary>changed <code>secret/db -n shop</code></summary>"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+  password: '*** (after)'"),
        "{}",
        run.stdout
    );
}

#[test]
fn secrets_are_masked_for_kubectl_external_diff() {
    let dir = harness::tempdir();
    let (old, new) = secret_streams(dir.path());
    // A diff program that shows how it was called and everything it was given.
    let script = write(
        dir.path(),
        "show.sh",
        "#!/bin/sh\necho \"from=$(basename \"$1\" | cut -c1-5) to=$(basename \"$2\" | cut -c1-7)\"\nls \"$1\" \"$2\"\ncat \"$1\"/* \"$2\"/*\nexit 1\n",
    );
    Cmd::program("chmod").arg("+x").arg(&script).run().success();
    let run = tool()
        .arg(&old)
        .arg(&new)
        .env("KUBECTL_EXTERNAL_DIFF", script.to_str().unwrap())
        .run()
        .code(1);
    assert_no_secret("KUBECTL_EXTERNAL_DIFF input", &run.stdout);
    assert!(
        run.stdout.starts_with("from=LIVE- to=MERGED-\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("v1.Secret.shop.db\n").count(),
        2,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("password: '*** (after)'"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 changed, 0 unchanged"),
        "{}",
        run.stderr
    );

    // The words kubectl accepts are passed; the default-like `diff -u -N` works on the dirs.
    let run = tool()
        .arg(&old)
        .arg(&new)
        .env("KUBECTL_EXTERNAL_DIFF", "diff -u -N")
        .run()
        .code(1);
    assert!(
        run.stdout.contains("-password: '*** (before)'")
            || run.stdout.contains("-  password: '*** (before)'"),
        "{}",
        run.stdout
    );
    assert_no_secret("diff -u -N", &run.stdout);
}

/// A repository with `n` apps per environment: `apps/<app>/base` and
/// `envs/<env>/<app>/kustomization.yaml` (namespace, labels, image tag).
fn gitops_repo(dir: &Path, envs: &[&str], apps: usize) {
    git(dir, &["init", "-q"]);
    for a in 0..apps {
        let app = format!("app{a}");
        write(
            dir,
            &format!("apps/{app}/base/kustomization.yaml"),
            "resources:\n- deployment.yaml\n- service.yaml\n",
        );
        write(
            dir,
            &format!("apps/{app}/base/deployment.yaml"),
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/{app}:1.0.0\n"),
        );
        write(
            dir,
            &format!("apps/{app}/base/service.yaml"),
            format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  selector:\n    app: {app}\n  ports:\n  - port: 80\n"),
        );
        for env in envs {
            write(
                dir,
                &format!("envs/{env}/{app}/kustomization.yaml"),
                format!("namespace: {env}\nresources:\n- ../../../apps/{app}/base\nlabels:\n- pairs:\n    env: {env}\nimages:\n- name: registry.example.com/{app}\n  newTag: 1.0.0\n"),
            );
        }
    }
    commit_all(dir, "initial");
}

#[test]
fn revision_diff_renders_only_the_changed_app() {
    let dir = harness::tempdir();
    let repo = dir.path();
    gitops_repo(repo, &["dev", "prod"], 5);
    let tag = "envs/dev/app3/kustomization.yaml";
    let text = std::fs::read_to_string(repo.join(tag)).unwrap();
    std::fs::write(
        repo.join(tag),
        text.replace("newTag: 1.0.0", "newTag: 1.1.0"),
    )
    .unwrap();
    commit_all(repo, "bump app3 in dev");

    let run = tool()
        .args([
            "--repo",
            repo.to_str().unwrap(),
            "--path",
            "envs",
            "--from",
            "HEAD~1",
            "--to",
            "HEAD",
            "-o",
            "json",
        ])
        .run()
        .code(1);
    let doc = json(&run);
    assert_eq!(
        differing(&doc),
        BTreeSet::from([(
            "apps.v1.Deployment.dev.app3".to_owned(),
            "changed".to_owned()
        )])
    );
    assert_eq!(
        doc["units"],
        serde_json::json!({"rendered": 1, "skipped": 9}),
        "one of ten kustomizations rendered"
    );
    let change = &doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["action"] == "changed")
        .unwrap()["changes"][0];
    assert_eq!(change["path"], "/spec/template/spec/containers/0/image");
    assert_eq!(change["old"], "registry.example.com/app3:1.0.0");
    assert_eq!(change["new"], "registry.example.com/app3:1.1.0");

    // A change to a shared base re-renders every kustomization that uses it.
    let base = "apps/app1/base/service.yaml";
    let text = std::fs::read_to_string(repo.join(base)).unwrap();
    std::fs::write(repo.join(base), text.replace("port: 80", "port: 8080")).unwrap();
    // --to defaults to the work tree (uncommitted changes included).
    let run = tool()
        .args([
            "--repo",
            repo.to_str().unwrap(),
            "--path",
            "envs",
            "--from",
            "HEAD",
            "-o",
            "json",
        ])
        .run()
        .code(1);
    let doc = json(&run);
    assert_eq!(
        differing(&doc),
        BTreeSet::from([
            ("v1.Service.dev.app1".to_owned(), "changed".to_owned()),
            ("v1.Service.prod.app1".to_owned(), "changed".to_owned()),
        ])
    );
    assert_eq!(doc["units"]["rendered"], 2);
    assert_eq!(doc["to"], "worktree");

    // Same revision on both sides: nothing rendered, nothing differs.
    tool()
        .args([
            "--repo",
            repo.to_str().unwrap(),
            "--path",
            "envs",
            "--from",
            "HEAD",
            "--to",
            "HEAD",
        ])
        .run()
        .success()
        .stdout_contains("no differences");
}

#[test]
fn revision_diff_rename_delete_and_move_between_files() {
    let dir = harness::tempdir();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    write(repo, "clusters/dev/one.yaml", format!("{CM_A}---\n{CM_B}"));
    write(
        repo,
        "clusters/dev/gone.yaml",
        CM_B.replace("name: b", "name: gone"),
    );
    commit_all(repo, "one");
    // b moves to another file unchanged, gone is deleted, a is renamed to a-renamed.
    write(
        repo,
        "clusters/dev/one.yaml",
        CM_A.replace("name: a", "name: a-renamed"),
    );
    write(repo, "clusters/dev/two.yaml", CM_B);
    std::fs::remove_file(repo.join("clusters/dev/gone.yaml")).unwrap();
    commit_all(repo, "two");
    let run = tool()
        .current_dir(repo)
        .args([
            "--path",
            "clusters/dev",
            "--from",
            "HEAD~1",
            "--to",
            "HEAD",
            "-o",
            "json",
        ])
        .run()
        .code(1);
    let doc = json(&run);
    assert_eq!(
        differing(&doc),
        BTreeSet::from([
            ("v1.ConfigMap.shop.a".to_owned(), "pruned".to_owned()),
            (
                "v1.ConfigMap.shop.a-renamed".to_owned(),
                "created".to_owned()
            ),
            ("v1.ConfigMap.shop.gone".to_owned(), "pruned".to_owned()),
        ]),
        "the moved object is unchanged"
    );
    assert_eq!(doc["summary"]["unchanged"], 1);

    let unknown = tool()
        .current_dir(repo)
        .args(["--path", "clusters/dev", "--from", "no-such-rev"])
        .run()
        .code(2);
    assert!(unknown.stderr.contains("no-such-rev"), "{}", unknown.stderr);
}

#[test]
fn revision_diff_overlay_change_touches_many_objects() {
    let dir = harness::tempdir();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    let mut resources = String::from("resources:\n");
    for i in 0..20 {
        write(
            repo,
            &format!("base/cm{i}.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  i: \"{i}\"\n"
            ),
        );
        resources.push_str(&format!("- cm{i}.yaml\n"));
    }
    write(repo, "base/kustomization.yaml", resources);
    write(
        repo,
        "overlays/prod/kustomization.yaml",
        "namespace: prod\nresources:\n- ../../base\nlabels:\n- pairs:\n    tier: one\n",
    );
    commit_all(repo, "one");
    write(
        repo,
        "overlays/prod/kustomization.yaml",
        "namespace: prod\nresources:\n- ../../base\nlabels:\n- pairs:\n    tier: two\n",
    );
    commit_all(repo, "two");
    let run = tool()
        .current_dir(repo)
        .args([
            "--path",
            "overlays/prod",
            "--from",
            "HEAD~1",
            "--to",
            "HEAD",
            "-o",
            "markdown",
        ])
        .run()
        .code(1);
    assert!(
        run.stdout.contains("**20 changed, 0 unchanged**"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("<details>").count(), 20);
    assert!(
        run.stdout.contains("-    tier: one\n+    tier: two\n"),
        "{}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Live: the real control plane, kubectl diff --server-side as the oracle

struct Live {
    cluster: &'static Cluster,
    ns: String,
}

impl Live {
    fn new(hint: &str) -> Option<Live> {
        let cluster = Cluster::shared()?;
        let ns = cluster.namespace(hint);
        Some(Live { cluster, ns })
    }

    fn yaml(&self, text: &str) -> String {
        text.replace("NS", &self.ns)
    }

    /// Applies as sync-once would (server-side, its field manager).
    fn sync(&self, text: &str) {
        self.cluster
            .kubectl()
            .args([
                "apply",
                "--server-side",
                "--field-manager=sync-once",
                "--force-conflicts",
                "-f",
                "-",
            ])
            .stdin(self.yaml(text))
            .run()
            .success();
    }

    fn ours_cmd(&self, text: &str, extra: &[&str]) -> Cmd {
        tool()
            .args([
                "--kubeconfig",
                self.cluster.kubeconfig().to_str().unwrap(),
                "-f",
                "-",
            ])
            .args(extra)
            .stdin(self.yaml(text))
    }

    fn ours(&self, text: &str, extra: &[&str]) -> Run {
        self.ours_cmd(text, extra).run()
    }

    /// The file names of the objects `kubectl diff --server-side` shows, and its exit code.
    fn kubectl_diff(&self, text: &str, extra: &[&str]) -> (BTreeSet<String>, Run) {
        let run = self
            .cluster
            .kubectl()
            .args(["diff", "--server-side", "--field-manager=sync-once"])
            .args(extra)
            .args(["-f", "-"])
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(self.yaml(text))
            .run();
        let files = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("diff -u -N "))
            .filter_map(|l| l.rsplit('/').next())
            .map(str::to_owned)
            .collect();
        (files, run)
    }

    /// Ours and kubectl's agree on which objects differ; returns ours (action per object).
    fn agree(&self, text: &str) -> BTreeSet<(String, String)> {
        let (theirs, krun) = self.kubectl_diff(text, &["--force-conflicts"]);
        assert!(
            krun.code == 0 || krun.code == 1,
            "kubectl diff failed: {}",
            krun.stderr
        );
        let run = self.ours(text, &["-o", "json"]);
        assert!(
            run.code == 0 || run.code == 1,
            "ours failed: {}",
            run.stderr
        );
        let doc = json(&run);
        let ours = differing(&doc);
        let names: BTreeSet<String> = ours.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(
            names, theirs,
            "kubectl diff and ours disagree\nkubectl:\n{}\nours:\n{}",
            krun.stdout, run.stdout
        );
        assert_eq!(run.code, krun.code, "exit codes agree");
        ours
    }
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: NS\n  labels:\n    team: shop\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/web:1.0.0\n        env:\n        - name: MODE\n          value: prod\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: NS\ndata:\n  level: info\n";

fn stem(kind: &str, live: &Live, name: &str) -> (String, String) {
    (format!("{kind}.{}.{name}", live.ns), "changed".to_owned())
}

#[test]
fn live_changed_image_added_env_and_removed_field_agree_with_kubectl() {
    let Some(live) = Live::new("gd-changes") else {
        return;
    };
    live.sync(&format!("{DEPLOY}---\n{CM}"));

    let image = DEPLOY.replace("web:1.0.0", "web:1.1.0");
    assert_eq!(
        live.agree(&format!("{image}---\n{CM}")),
        BTreeSet::from([stem("apps.v1.Deployment", &live, "web")])
    );

    let env = DEPLOY.replace(
        "          value: prod\n",
        "          value: prod\n        - name: DEBUG\n          value: \"1\"\n",
    );
    assert_eq!(
        live.agree(&format!("{env}---\n{CM}")),
        BTreeSet::from([stem("apps.v1.Deployment", &live, "web")])
    );

    // sync-once owns the label: leaving it out removes it.
    let removed = DEPLOY.replace("  labels:\n    team: shop\n", "");
    assert_eq!(
        live.agree(&format!("{removed}---\n{CM}")),
        BTreeSet::from([stem("apps.v1.Deployment", &live, "web")])
    );
    let run = live.ours(&format!("{removed}---\n{CM}"), &[]).code(1);
    assert!(
        run.stdout.contains("deployment.apps/web -n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("-    team: shop\n"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("1 changed, 1 unchanged\n"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("managedFields") && !run.stdout.contains("resourceVersion"),
        "{}",
        run.stdout
    );
}

#[test]
fn live_defaulted_fields_alone_are_no_difference() {
    let Some(live) = Live::new("gd-defaults") else {
        return;
    };
    live.sync(&format!("{DEPLOY}---\n{CM}"));
    // The same desired state, and one that spells out values the server defaults.
    assert_eq!(live.agree(&format!("{DEPLOY}---\n{CM}")), BTreeSet::new());
    let explicit = DEPLOY
        .replace("  replicas: 1\n", "  replicas: 1\n  revisionHistoryLimit: 10\n  progressDeadlineSeconds: 600\n")
        .replace("        image: registry.example.com/web:1.0.0\n", "        image: registry.example.com/web:1.0.0\n        imagePullPolicy: IfNotPresent\n        terminationMessagePath: /dev/termination-log\n");
    assert_eq!(live.agree(&format!("{explicit}---\n{CM}")), BTreeSet::new());
    live.ours(&format!("{explicit}---\n{CM}"), &[])
        .success()
        .stdout_is("no differences, 2 unchanged\n");
}

#[test]
fn live_new_object_agrees_with_kubectl() {
    let Some(live) = Live::new("gd-new") else {
        return;
    };
    live.sync(CM);
    let other = CM.replace("name: settings", "name: fresh");
    let ours = live.agree(&format!("{CM}---\n{other}"));
    assert_eq!(
        ours,
        BTreeSet::from([(
            format!("v1.ConfigMap.{}.fresh", live.ns),
            "created".to_owned()
        )])
    );
    let run = live.ours(&format!("{CM}---\n{other}"), &[]).code(1);
    assert!(run.stdout.contains("--- /dev/null\n"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("1 created, 1 unchanged\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn live_secret_change_agrees_and_is_masked_everywhere() {
    let Some(live) = Live::new("gd-secret") else {
        return;
    };
    let old = SECRET_OLD.replace("namespace: shop", "namespace: NS");
    let new = SECRET_NEW.replace("namespace: shop", "namespace: NS");
    live.sync(&old);
    assert_eq!(
        live.agree(&new),
        BTreeSet::from([stem("v1.Secret", &live, "db")])
    );
    for format in ["human", "json", "markdown"] {
        let run = live.ours(&new, &["-o", format]).code(1);
        assert_no_secret(format, &run.stdout);
        assert_no_secret("stderr", &run.stderr);
        assert!(
            run.stdout.contains("*** (after)"),
            "{format}: {}",
            run.stdout
        );
    }
    let run = live
        .ours_cmd(&new, &[])
        .env("KUBECTL_EXTERNAL_DIFF", "diff -u -N")
        .run()
        .code(1);
    assert_no_secret("KUBECTL_EXTERNAL_DIFF", &run.stdout);
    assert!(
        run.stdout.contains("+  password: '*** (after)'"),
        "{}",
        run.stdout
    );
    // The dry run sent the real values: the server's merged object (stringData folded into
    // data) differs from the live one exactly in the changed keys.
    let doc = json(&live.ours(&new, &["-o", "json"]));
    let paths: BTreeSet<&str> = doc["objects"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from(["/data/password", "/data/extra", "/data/token"])
    );
    // Nothing was persisted.
    let live_secret = live.cluster.get("secret", Some(&live.ns), "db").unwrap();
    assert_eq!(live_secret["data"]["password"], "aHVudGVyMi1vbGQtdmFsdWU=");
}

#[test]
fn live_crd_and_custom_resource_agree_with_kubectl() {
    let Some(live) = Live::new("gd-crd") else {
        return;
    };
    let group = format!("{}.example.com", live.ns);
    let crd = format!("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names:\n    kind: Widget\n    plural: widgets\n    singular: widget\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              size:\n                type: integer\n              color:\n                type: string\n                default: blue\n");
    live.sync(&crd);
    live.cluster
        .kubectl()
        .args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/widgets.{group}"),
        ])
        .run()
        .success();
    let cr = format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: NS\nspec:\n  size: 1\n");
    live.sync(&cr);
    // The defaulted color alone is no difference; a changed size is.
    assert_eq!(live.agree(&format!("{crd}---\n{cr}")), BTreeSet::new());
    let bigger = cr.replace("size: 1", "size: 2");
    assert_eq!(
        live.agree(&format!("{crd}---\n{bigger}")),
        BTreeSet::from([(
            format!("{group}.v1.Widget.{}.w", live.ns),
            "changed".to_owned()
        )])
    );
}

#[test]
fn live_field_owned_by_another_manager() {
    let Some(live) = Live::new("gd-owner") else {
        return;
    };
    live.sync(DEPLOY);
    // Someone scales it by hand: another manager now owns spec.replicas.
    live.cluster
        .kubectl()
        .args(["apply", "--server-side", "--field-manager=hand", "--force-conflicts", "-f", "-"])
        .stdin(live.yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: NS\nspec:\n  replicas: 3\n"))
        .run()
        .success();
    // sync-once takes the field back (force, as Flux does): both show the Deployment.
    assert_eq!(
        live.agree(DEPLOY),
        BTreeSet::from([stem("apps.v1.Deployment", &live, "web")])
    );
    let run = live.ours(DEPLOY, &[]).code(1);
    assert!(
        run.stdout.contains("-  replicas: 3\n+  replicas: 1\n"),
        "{}",
        run.stdout
    );
    // Without taking over, both refuse with the conflict.
    let (_, krun) = live.kubectl_diff(DEPLOY, &[]);
    assert!(krun.code > 1, "kubectl: {}", krun.stderr);
    let run = live.ours(DEPLOY, &["--force-conflicts=false"]).code(2);
    assert!(run.stderr.contains("conflict"), "{}", run.stderr);
    assert!(run.stderr.contains("Deployment/"), "{}", run.stderr);
}

#[test]
fn live_pruned_members_of_the_applyset_match_kubectl_prune() {
    let Some(live) = Live::new("gd-prune") else {
        return;
    };
    let two = format!("{CM}---\n{}", CM.replace("name: settings", "name: old"));
    // A set kubectl itself manages: the parent Secret `set` in the namespace.
    live.cluster
        .kubectl()
        .args([
            "apply",
            "--server-side",
            "--field-manager=sync-once",
            "-n",
            &live.ns,
            "--prune",
            "--applyset=set",
            "-f",
            "-",
        ])
        .env("KUBECTL_APPLYSET", "true")
        .stdin(live.yaml(&two))
        .run()
        .success();
    // What kubectl would prune when `old` leaves the source.
    let dry = live
        .cluster
        .kubectl()
        .args([
            "apply",
            "--server-side",
            "--field-manager=sync-once",
            "-n",
            &live.ns,
            "--prune",
            "--applyset=set",
            "--dry-run=server",
            "-f",
            "-",
        ])
        .env("KUBECTL_APPLYSET", "true")
        .stdin(live.yaml(CM))
        .run()
        .success();
    assert!(
        dry.stdout.contains("configmap/old pruned"),
        "{}",
        dry.stdout
    );

    let inventory = format!("{}/set", live.ns);
    // kubectl's set carries no part-of label in our input, so label it as sync-once would.
    let run = live.ours(CM, &["--inventory", &inventory, "-o", "json"]);
    let doc = json(&run);
    assert_eq!(
        differing(&doc),
        BTreeSet::from([(format!("v1.ConfigMap.{}.old", live.ns), "pruned".to_owned())]),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.code, 1);
    let human = live.ours(CM, &["--inventory", &inventory]).code(1);
    assert!(
        human
            .stdout
            .contains(&format!("configmap/old -n {} pruned", live.ns)),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.ends_with("1 pruned, 1 unchanged\n"),
        "{}",
        human.stdout
    );
    // A Namespace-or-PVC gate does not fire on a ConfigMap; a ConfigMap gate does.
    live.ours(
        CM,
        &[
            "--inventory",
            &inventory,
            "--fail-on",
            "delete:Namespace,PersistentVolumeClaim",
        ],
    )
    .code(1);
    let gated = live
        .ours(
            CM,
            &["--inventory", &inventory, "--fail-on", "delete:ConfigMap"],
        )
        .code(2);
    assert!(
        gated.stderr.contains("would delete ConfigMap/"),
        "{}",
        gated.stderr
    );
    // Nothing was pruned for real.
    assert!(live
        .cluster
        .get("configmap", Some(&live.ns), "old")
        .is_some());
}

#[test]
fn live_repo_source_renders_like_sync_once() {
    let Some(live) = Live::new("gd-repo") else {
        return;
    };
    let dir = harness::tempdir();
    let repo = dir.path().join("gitops");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(
        &repo,
        "clusters/dev/kustomization.yaml",
        format!("namespace: {}\nresources:\n- cm.yaml\n", live.ns),
    );
    write(
        &repo,
        "clusters/dev/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: debug\n",
    );
    commit_all(&repo, "dev");
    live.sync(CM);
    let cache = dir.path().join("cache");
    let run = tool()
        .args(["--kubeconfig", live.cluster.kubeconfig().to_str().unwrap()])
        .args([
            "--repo",
            &format!("file://{}", repo.display()),
            "--path",
            "clusters/dev",
        ])
        .arg("--cache-dir")
        .arg(&cache)
        .run()
        .code(1);
    assert!(
        run.stdout.contains("-  level: info\n+  level: debug\n"),
        "{}",
        run.stdout
    );
    // An uncommitted change is not what sync-once would apply: the committed tree is read.
    write(
        &repo,
        "clusters/dev/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n",
    );
    let run = tool()
        .args(["--kubeconfig", live.cluster.kubeconfig().to_str().unwrap()])
        .args([
            "--repo",
            repo.to_str().unwrap(),
            "--path",
            "clusters/dev",
            "--ref",
            "HEAD",
        ])
        .arg("--cache-dir")
        .arg(&cache)
        .run()
        .code(1);
    assert!(run.stdout.contains("+  level: debug\n"), "{}", run.stdout);
}

#[test]
fn live_unreachable_cluster_is_one_error() {
    let dir = harness::tempdir();
    let port = harness::free_port();
    let kubeconfig = write(
        dir.path(),
        "kubeconfig",
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: sekrit-token-value\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"),
    );
    let run = tool()
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-f", "-"])
        .stdin(CM.replace("NS", "default"))
        .run()
        .code(2);
    assert!(
        run.stderr.contains("cannot reach the cluster"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("sekrit-token-value"));
    assert_eq!(run.stdout, "");
}

/// With the real sync-once (when it is built): after a sync our diff shows nothing; after a
/// change it shows exactly what the next sync changes, creates and prunes, with the inventory
/// named explicitly and with the one both tools derive from the same source.
#[test]
fn live_diff_shows_what_sync_once_would_do() {
    let sync_once = harness::bin_dir().join("sync-once");
    if harness::skip_without(
        sync_once.exists(),
        "the sync-once binary (cargo build -p sync-once)",
    ) {
        return;
    }
    let Some(live) = Live::new("gd-sync-once") else {
        return;
    };
    let dir = harness::tempdir();
    let kubeconfig = live.cluster.kubeconfig().to_str().unwrap().to_owned();
    let old = CM.replace("name: settings", "name: old");
    // One file: sync-once's default inventory is named after the source (its path).
    let file = dir.path().join("desired.yaml");
    let first = live.yaml(&format!("{CM}---\n{old}"));
    let fresh = CM.replace("name: settings", "name: fresh");
    let second = live.yaml(&format!(
        "{}---\n{fresh}",
        CM.replace("level: info", "level: warn")
    ));
    let inventory = format!("{}/set", live.ns);
    for inv in [Some(inventory.as_str()), None] {
        let with_inventory = |cmd: Cmd| match inv {
            Some(i) => cmd.args(["--inventory", i]),
            None => cmd,
        };
        let sync = |text: &str| {
            std::fs::write(&file, text).unwrap();
            with_inventory(Cmd::program(&sync_once))
                .args(["--kubeconfig", &kubeconfig, "--prune", "-f"])
                .arg(&file)
                .run()
                .success();
        };
        let ours = |text: &str| {
            std::fs::write(&file, text).unwrap();
            with_inventory(tool())
                .args(["--kubeconfig", &kubeconfig, "-o", "json", "-f"])
                .arg(&file)
                .run()
        };
        sync(&first);
        let run = ours(&first).code(0);
        assert_eq!(
            differing(&json(&run)),
            BTreeSet::new(),
            "after a sync ({inv:?})"
        );
        let run = ours(&second).code(1);
        assert_eq!(
            differing(&json(&run)),
            BTreeSet::from([
                (
                    format!("v1.ConfigMap.{}.settings", live.ns),
                    "changed".to_owned()
                ),
                (
                    format!("v1.ConfigMap.{}.fresh", live.ns),
                    "created".to_owned()
                ),
                (format!("v1.ConfigMap.{}.old", live.ns), "pruned".to_owned()),
            ]),
            "before the next sync ({inv:?}): {}",
            run.stderr
        );
        sync(&second);
        assert!(live
            .cluster
            .get("configmap", Some(&live.ns), "old")
            .is_none());
        let run = ours(&second).code(0);
        assert_eq!(differing(&json(&run)), BTreeSet::new());
        // Back to the first state for the next round.
        live.cluster
            .kubectl()
            .args(["delete", "configmap", "--all", "-n", &live.ns])
            .run()
            .success();
    }
}

/// On a terminal the diff is coloured, unless NO_COLOR is set (`script` gives it a terminal).
#[test]
fn colour_on_a_terminal_and_no_color_honoured() {
    if harness::skip_without(Path::new("/usr/bin/script").exists(), "script (util-linux)") {
        return;
    }
    let dir = harness::tempdir();
    let old = write(dir.path(), "old.yaml", CM_A);
    let new = write(dir.path(), "new.yaml", CM_A2);
    let line = format!(
        "{} {} {}",
        harness::bin(TOOL).display(),
        old.display(),
        new.display()
    );
    let tty = Cmd::program("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("KUBECTL_EXTERNAL_DIFF")
        .run();
    assert!(tty.stdout.contains("\x1b[32m+  k: two"), "{:?}", tty.stdout);
    let plain = Cmd::program("script")
        .args(["-qec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .env_remove("KUBECTL_EXTERNAL_DIFF")
        .run();
    assert!(plain.stdout.contains("+  k: two"), "{:?}", plain.stdout);
    assert!(!plain.stdout.contains('\x1b'), "{:?}", plain.stdout);
}

/// Many objects of one kind in one namespace are read with one LIST: the result must be the
/// same as kubectl's GET-per-object view.
#[test]
fn live_many_objects_of_one_kind_agree_with_kubectl() {
    let Some(live) = Live::new("gd-many") else {
        return;
    };
    let set = |changed: usize| -> String {
        (0..12)
            .map(|i| {
                let level = if i == changed { "debug" } else { "info" };
                CM.replace("name: settings", &format!("name: cm{i}"))
                    .replace("level: info", &format!("level: {level}"))
            })
            .collect::<Vec<_>>()
            .join("---\n")
    };
    live.sync(&set(99));
    assert_eq!(live.agree(&set(99)), BTreeSet::new());
    let mut desired = set(4);
    desired.push_str(&format!(
        "---\n{}",
        CM.replace("name: settings", "name: extra")
    ));
    assert_eq!(
        live.agree(&desired),
        BTreeSet::from([
            stem("v1.ConfigMap", &live, "cm4"),
            (
                format!("v1.ConfigMap.{}.extra", live.ns),
                "created".to_owned()
            ),
        ])
    );
}
