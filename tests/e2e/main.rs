//! The reference scenario of PRODUCT.md §1 as an automated test, the same one `make demo` walks:
//! Alice's change in the application repository (examples/app) → the PR gate → `image-tag
//! compute` → an image pushed to a real registry → `image-tag pin` → `manifest-render` → `git
//! promote` by pull request (a pushed branch, merged locally: no Git host with an API runs here)
//! → `sync-once --wait` on the real control plane → `kubectl gitops diff` (live and revision) →
//! qa → prune → rollback, with assertions at every step on the registry, the GitOps repository's
//! history and trailers, the cluster through the pinned `kubectl`, and the diff exit codes.
//!
//! Then the failure paths: a broken manifest stops every tool before anything is pushed or
//! applied; an unhealthy rollout fails `sync-once --wait` naming the object; a Secret's value
//! never shows in any output, commit or pull request (the pull request goes to the Gitea mock of
//! `harness::providers`, the one part that is not a real component); two promotions racing for
//! one environment lose nothing.
//!
//! Each test has its own registry, repositories and namespaces on the shared control plane.

use std::path::{Path, PathBuf};

use harness::cluster::Cluster;
use harness::providers::{Kind, Mock};
use harness::registry::Registry;
use harness::{write, Cmd, Run};
use serde_json::Value;

/// Variables of the machine or CI that would change what the tools do.
const SCRUB: &[&str] = &[
    "KUBECONFIG",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "GL_TOKEN",
    "GITEA_TOKEN",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_SERVER_URL",
    "CI_COMMIT_SHA",
    "CI_PROJECT_URL",
    "BUILD_SOURCEVERSION",
    "BUILD_REPOSITORY_URI",
    "GIT_PROMOTE_REPO",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "IMAGE_TAG_BRANCH",
    "SYNC_ONCE_CACHE_DIR",
];

/// The GitOps repository's settings: every environment by pull request, on a Git host without
/// an API (the promotion branch is pushed; the test merges it), as in the demo.
const PROMOTE_YAML: &str = "\
environments:
- name: dev
  branch: main
  pullRequest: true
- name: qa
  branch: main
  pullRequest: true
- name: prod
  branch: main
  pullRequest: true
provider:
  type: none
";

/// Alice's change to the deployment template: the checkout flow comes from the environment.
const ALICE_ENV: (&str, &str) = (
    "          value: ${LOG_LEVEL:=info}\n",
    "          value: ${LOG_LEVEL:=info}\n        - name: CHECKOUT_FLOW\n          value: ${CHECKOUT_FLOW:=classic}\n",
);

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// One test's world: a registry, the application repository (`app.git` + Alice's clone `app`),
/// the GitOps repository (`gitops.git`), namespaces `<ns>-dev` and `<ns>-qa` on the shared
/// control plane.
struct World {
    dir: tempfile::TempDir,
    cluster: &'static Cluster,
    registry: Registry,
    ns: String,
}

impl World {
    fn new(hint: &str) -> Option<World> {
        if harness::skip_without(
            harness::registry::available(),
            "docker-registry and skopeo (apt-get install docker-registry skopeo)",
        ) {
            return None;
        }
        let cluster = Cluster::shared()?;
        let w = World {
            dir: harness::tempdir(),
            cluster,
            registry: Registry::start(),
            ns: format!("{hint}-{}", std::process::id()),
        };
        std::fs::create_dir_all(w.path("home")).unwrap();
        w.git(&["init", "-q", "--bare", "-b", "main", "gitops.git"]);
        w.git(&["clone", "-q", "gitops.git", "gitops-seed"]);
        write(&w.path("gitops-seed"), ".gitops/promote.yaml", PROMOTE_YAML);
        w.git(&["-C", "gitops-seed", "add", "-A"]);
        w.git(&[
            "-C",
            "gitops-seed",
            "commit",
            "-q",
            "-m",
            "gitops: environments",
        ]);
        w.git(&["-C", "gitops-seed", "push", "-q", "origin", "main"]);

        // The application at v1.4.1: examples/app as it is in this repository.
        w.git(&["init", "-q", "--bare", "-b", "main", "app.git"]);
        w.git(&["clone", "-q", "app.git", "app"]);
        copy_dir(&examples().join("app"), &w.path("app"));
        w.commit("app", "shop: web front end");
        w.git(&["-C", "app", "tag", "v1.4.1"]);
        w.git(&["-C", "app", "push", "-q", "origin", "main", "v1.4.1"]);
        Some(w)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn gitops_url(&self) -> String {
        format!("file://{}", self.path("gitops.git").display())
    }

    fn namespace(&self, env: &str) -> String {
        format!("{}-{env}", self.ns)
    }

    fn inventory(&self, env: &str) -> String {
        format!("default/{}", self.namespace(env))
    }

    fn env(&self, mut cmd: Cmd) -> Cmd {
        for v in SCRUB {
            cmd = cmd.env_remove(v);
        }
        cmd.env("HOME", self.path("home"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            .env("GIT_COMMITTER_NAME", "CD pipeline")
            .env("GIT_COMMITTER_EMAIL", "cd@example.com")
            .current_dir(self.dir.path())
    }

    /// A tool of this workspace with the test's environment, the admin kubeconfig for the
    /// cluster tools.
    fn tool(&self, name: &str) -> Cmd {
        let cmd = self.env(Cmd::new(name));
        match name {
            "sync-once" | "kubectl-gitops-diff" => cmd.env("KUBECONFIG", self.cluster.kubeconfig()),
            _ => cmd,
        }
    }

    /// git, which must succeed; its stdout.
    fn git(&self, args: &[&str]) -> String {
        self.env(Cmd::program("git"))
            .args(args)
            .run()
            .success()
            .stdout
    }

    fn commit(&self, repo: &str, message: &str) {
        self.git(&["-C", repo, "add", "-A"]);
        self.git(&["-C", repo, "commit", "-q", "-m", message]);
    }

    /// `git --git-dir gitops.git …` (the Git host's view).
    fn gitops(&self, args: &[&str]) -> String {
        self.git(&[&["--git-dir", "gitops.git"], args].concat())
    }

    /// Every ref of the GitOps remote with its commit.
    fn remote_refs(&self) -> String {
        self.gitops(&["for-each-ref", "--format=%(refname) %(objectname)"])
    }

    /// The test's values for ENV: the CD pipeline's file in examples/env, this test's
    /// namespace, and the registry.
    fn render(&self, env: &str, tag: &str) -> Run {
        let vars = std::fs::read_dir(examples().join("env"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_stem().is_some_and(|s| s == env))
            .unwrap();
        self.tool("manifest-render")
            .arg("app/deploy")
            .arg("--vars-file")
            .arg(vars)
            .args(["--var", &format!("NAMESPACE={}", self.namespace(env))])
            .args(["--var", &format!("IMAGE_TAG={tag}")])
            .args(["--var", &format!("REGISTRY={}", self.registry.host)])
            .args(["--strict", "-n", &self.namespace(env)])
            .run()
    }

    /// manifest-render for ENV | image-tag pin --lock images.lock > ENV.yaml; the stream.
    fn render_pin(&self, env: &str, tag: &str) -> String {
        let rendered = self.render(env, tag).success();
        let pinned = self
            .tool("image-tag")
            .args(["pin", "--lock", "images.lock", "-"])
            .stdin(rendered.stdout)
            .run()
            .success();
        write(self.dir.path(), &format!("{env}.yaml"), &pinned.stdout);
        pinned.stdout
    }

    /// git promote ENV from the application clone (its origin and HEAD are the provenance).
    fn promote(&self, env: &str, extra: &[&str]) -> Cmd {
        self.tool("git-promote")
            .current_dir(self.path("app"))
            .arg(env)
            .args(["--app", "shop", "--manifests"])
            .arg(self.path(&format!("{env}.yaml")))
            // A relative path up to a bare repository, as a CD job beside the GitOps clone
            // would give it (gix-discover once failed on `../x.git`).
            .args(["--templates", "deploy", "--repo", "../gitops.git"])
            .args(extra)
    }

    /// The promotion branch named on stdout (`ENV/shop: pushed <commit> to <branch>`).
    fn pushed_branch(run: &Run) -> String {
        let line = run.stdout.trim();
        let (_, branch) = line
            .split_once(" to ")
            .unwrap_or_else(|| panic!("no pushed branch in {line:?}"));
        assert!(line.contains(": pushed "), "{line}");
        branch.to_owned()
    }

    /// The merge button, done locally: a merge commit of BRANCH into main, the branch deleted.
    fn merge(&self, branch: &str) -> String {
        let _ = std::fs::remove_dir_all(self.path("merge"));
        self.git(&["clone", "-q", "gitops.git", "merge"]);
        self.git(&[
            "-C",
            "merge",
            "merge",
            "-q",
            "--no-ff",
            "-m",
            &format!("Merge pull request {branch}"),
            &format!("origin/{branch}"),
        ]);
        self.git(&[
            "-C",
            "merge",
            "push",
            "-q",
            "origin",
            "main",
            &format!(":{branch}"),
        ]);
        self.gitops(&["rev-parse", "main"]).trim().to_owned()
    }

    fn sync(&self, env: &str) -> Cmd {
        self.tool("sync-once")
            .args(["--repo", &self.gitops_url(), "--ref", "main"])
            .args(["--path", &format!("clusters/{env}")])
            .args(["--inventory", &self.inventory(env)])
            .args(["--prune", "--wait", "--timeout", "2m"])
    }

    fn live_diff(&self, env: &str) -> Cmd {
        self.tool("kubectl-gitops-diff")
            .args(["--repo", &self.gitops_url(), "--ref", "main"])
            .args(["--path", &format!("clusters/{env}")])
            .args(["--inventory", &self.inventory(env)])
    }

    fn kubectl(&self, env: &str, args: &[&str]) -> Run {
        self.cluster
            .kubectl()
            .args(["-n", &self.namespace(env)])
            .args(args)
            .run()
    }

    fn get(&self, env: &str, resource: &str, name: &str) -> Option<Value> {
        self.cluster.get(resource, Some(&self.namespace(env)), name)
    }

    /// Alice's change, merged: the application's main branch, tagged v1.4.2.
    fn alice_change_merged(&self) {
        self.git(&[
            "-C",
            "app",
            "switch",
            "-q",
            "-c",
            "alice/one-click-checkout",
        ]);
        let dep = self.path("app/deploy/deployment.yaml");
        let text = std::fs::read_to_string(&dep).unwrap();
        assert!(text.contains(ALICE_ENV.0), "examples/app changed: {text}");
        std::fs::write(&dep, text.replace(ALICE_ENV.0, ALICE_ENV.1)).unwrap();
        write(
            &self.path("app"),
            "src/index.html",
            "<!doctype html>\n<p>Checkout: one click.</p>\n",
        );
        self.commit("app", "web: one-click checkout");
        self.git(&["-C", "app", "switch", "-q", "main"]);
        self.git(&[
            "-C",
            "app",
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge pull request: web: one-click checkout",
            "alice/one-click-checkout",
        ]);
        self.git(&["-C", "app", "tag", "v1.4.2"]);
        self.git(&["-C", "app", "push", "-q", "origin", "main", "v1.4.2"]);
    }

    /// CI: the tags of HEAD, an image pushed under the sha- tag and retagged with the others;
    /// returns (the sha- tag, the digest).
    fn ci_image(&self, seed: &str) -> (String, String) {
        let tags = self
            .tool("image-tag")
            .args(["compute", "--repo", "app"])
            .run()
            .success()
            .stdout;
        let key = tags
            .lines()
            .find(|t| t.starts_with("sha-"))
            .unwrap_or_else(|| panic!("no sha- tag in {tags}"))
            .to_owned();
        let repo = self.registry.reference(&format!("shop/web:{key}"));
        self.tool("image-tag").args(["exists", &repo]).run().code(1);
        let digest = self.registry.push_image(&format!("shop/web:{key}"), seed);
        for tag in tags.lines().filter(|t| *t != key) {
            let run = self
                .tool("image-tag")
                .args(["retag", &repo, tag])
                .run()
                .success();
            assert_eq!(
                run.stdout.trim(),
                format!(
                    "{}@{digest}",
                    self.registry.reference(&format!("shop/web:{tag}"))
                )
            );
        }
        for tag in tags.lines() {
            let reference = self.registry.reference(&format!("shop/web:{tag}"));
            self.tool("image-tag")
                .args(["exists", &reference])
                .run()
                .success();
            assert_eq!(
                self.registry.skopeo_digest(&reference),
                digest,
                "{reference}"
            );
        }
        (key, digest)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `git log -1 --format=%(trailers:key=KEY,valueonly)` of REV in the GitOps repository.
fn trailer(w: &World, rev: &str, key: &str) -> String {
    w.gitops(&[
        "log",
        "-1",
        &format!("--format=%(trailers:key={key},valueonly)"),
        rev,
    ])
    .trim()
    .to_owned()
}

fn image_of(deployment: &Value) -> String {
    deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_reference_scenario_from_alices_change_to_qa_then_prune_and_rollback() {
    let Some(w) = World::new("e2e-ref") else {
        return;
    };
    let (dev, qa) = (w.namespace("dev"), w.namespace("qa"));

    // Alice's change and the PR gate: every environment renders strictly with test values.
    w.alice_change_merged();
    for env in ["dev", "qa", "prod"] {
        let run = w.render(env, "pr-test").success();
        assert_eq!(
            run.stdout.matches("\n---\n").count() + 1,
            5,
            "{}",
            run.stdout
        );
        let flow = if env == "dev" { "one-click" } else { "classic" };
        assert!(
            run.stdout
                .contains(&format!("- name: CHECKOUT_FLOW\n          value: {flow}\n")),
            "{env}: {}",
            run.stdout
        );
    }

    // CI: tags from Git, the image in the registry under every tag.
    let head = w.git(&["-C", "app", "rev-parse", "HEAD"]).trim().to_owned();
    let tags = w
        .tool("image-tag")
        .args(["compute", "--repo", "app"])
        .run()
        .success()
        .stdout;
    let lines: Vec<&str> = tags.lines().collect();
    assert_eq!(lines.len(), 3, "{tags}");
    assert_eq!(lines[0], "v1.4.2");
    assert!(
        lines[1].starts_with(&format!("main-{}-", &head[..7])),
        "{tags}"
    );
    assert_eq!(lines[2], format!("sha-{}", &head[..7]));
    let (key, digest) = w.ci_image("shop web v1.4.2");
    let pinned_ref = format!(
        "{}@{digest}",
        w.registry.reference(&format!("shop/web:{key}"))
    );

    // Pin and render dev: the digest just pushed, recorded in the lock.
    let stream = w.render_pin("dev", &key);
    assert!(
        stream.contains(&format!("image: {pinned_ref}\n")),
        "{stream}"
    );
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("images.lock")).unwrap()).unwrap();
    assert_eq!(
        lock["images"][w.registry.reference(&format!("shop/web:{key}"))]["digest"],
        digest.as_str()
    );

    // git promote dev: a pull request branch; main untouched until it is merged.
    let main_before = w.gitops(&["rev-parse", "main"]);
    let run = w.promote("dev", &["--open-pr"]).run().success();
    let branch = World::pushed_branch(&run);
    assert!(branch.starts_with("promote/dev/shop-"), "{branch}");
    assert_eq!(w.gitops(&["rev-parse", "main"]), main_before);
    assert!(
        run.stderr
            .contains(&format!("open a pull request from {branch} into main")),
        "{}",
        run.stderr
    );
    assert_eq!(trailer(&w, &branch, "Promote-Environment"), "dev");
    assert_eq!(trailer(&w, &branch, "Promote-App"), "shop");
    assert_eq!(trailer(&w, &branch, "Source-Commit"), head);
    assert_eq!(
        trailer(&w, &branch, "Source-Repository"),
        w.path("app.git").display().to_string()
    );
    assert_eq!(trailer(&w, &branch, "Image"), pinned_ref);
    let files = w.gitops(&["ls-tree", "-r", "--name-only", &branch, "clusters/dev/shop"]);
    for file in [
        format!("clusters/dev/shop/apps.v1.Deployment.{dev}.web.yaml"),
        format!("clusters/dev/shop/autoscaling.v2.HorizontalPodAutoscaler.{dev}.web.yaml"),
        format!("clusters/dev/shop/v1.Namespace..{dev}.yaml"),
        "clusters/dev/shop/.promotion".to_owned(),
    ] {
        assert!(files.lines().any(|l| l == file), "{file} in {files}");
    }
    let merged = w.merge(&branch);

    // sync-once applies dev and waits for the rollout.
    let run = w.sync("dev").run().success();
    for line in [
        format!("namespace/{dev} created"),
        "deployment.apps/web created".to_owned(),
        "horizontalpodautoscaler.autoscaling/web created".to_owned(),
    ] {
        assert!(run.stdout.contains(&line), "{line}: {}", run.stdout);
    }
    assert!(
        run.stdout.contains(&format!(
            "synced main@sha1:{merged} to {}",
            w.inventory("dev")
        )),
        "{}",
        run.stdout
    );
    let deployment = w.get("dev", "deployment", "web").expect("deployment");
    assert_eq!(image_of(&deployment), pinned_ref);
    assert_eq!(deployment["status"]["readyReplicas"], 1, "{deployment}");
    w.kubectl(
        "dev",
        &["rollout", "status", "deployment/web", "--timeout=10s"],
    )
    .success()
    .stdout_contains("successfully rolled out");
    let config = w.get("dev", "configmap", "web-config").expect("configmap");
    assert_eq!(config["data"]["features"], "new-checkout,dark-mode");

    // No drift: exit 0. A hand edit is drift (exit 1, naming the object); a sync corrects it.
    w.live_diff("dev")
        .run()
        .success()
        .stdout_contains("no differences, 5 unchanged");
    w.kubectl(
        "dev",
        &[
            "patch",
            "configmap",
            "web-config",
            "-p",
            r#"{"data":{"features":"hand-edited"}}"#,
        ],
    )
    .success();
    let run = w.live_diff("dev").run().code(1);
    assert!(
        run.stdout.contains("configmap/web-config")
            && run.stdout.contains("-  features: hand-edited")
            && run.stdout.contains("+  features: new-checkout,dark-mode"),
        "{}",
        run.stdout
    );
    w.sync("dev")
        .run()
        .success()
        .stdout_contains("configmap/web-config configured");
    w.live_diff("dev").run().success();

    // qa: the same digests as dev, by pull request; the reviewer's Markdown diff exits 1.
    let stream = w.render_pin("qa", &key);
    assert!(
        stream.contains(&format!("image: {pinned_ref}\n")),
        "{stream}"
    );
    let run = w
        .promote("qa", &["--from-env", "dev", "--open-pr"])
        .run()
        .success();
    let branch = World::pushed_branch(&run);
    assert_eq!(trailer(&w, &branch, "Promoted-From"), "dev");
    assert_eq!(trailer(&w, &branch, "Image"), pinned_ref);
    w.git(&["clone", "-q", "gitops.git", "review"]);
    let review = w
        .tool("kubectl-gitops-diff")
        .args(["--repo", "review", "--path", "clusters/qa"])
        .args(["--from", "origin/main", "--to", &format!("origin/{branch}")])
        .args(["-o", "markdown"])
        .run()
        .code(1);
    assert!(
        review.stdout.contains("**5 created, 0 unchanged**")
            && review
                .stdout
                .contains(&format!("| created | Deployment.apps | {qa} | web |")),
        "{}",
        review.stdout
    );
    w.merge(&branch);
    w.sync("qa")
        .run()
        .success()
        .stdout_contains("deployment.apps/web created");
    let deployment = w.get("qa", "deployment", "web").expect("qa deployment");
    assert_eq!(image_of(&deployment), pinned_ref, "qa runs dev's digest");
    assert_eq!(deployment["status"]["readyReplicas"], 2, "{deployment}");
    w.live_diff("qa").run().success();
    let status = w
        .tool("git-promote")
        .args(["status", "--repo", &w.gitops_url()])
        .run()
        .success()
        .stdout;
    let rows: Vec<&str> = status.lines().filter(|l| l.starts_with("shop ")).collect();
    assert!(
        rows.iter()
            .any(|r| r.contains(" dev ") && r.contains(&head[..12]))
            && rows
                .iter()
                .any(|r| r.contains(" qa ") && r.contains(&head[..12]) && r.ends_with("dev")),
        "{status}"
    );

    // An object removed in the application repository is pruned.
    w.git(&["-C", "app", "rm", "-q", "deploy/hpa.yaml"]);
    w.git(&["-C", "app", "commit", "-q", "-m", "web: no autoscaler"]);
    w.git(&["-C", "app", "push", "-q", "origin", "main"]);
    w.render_pin("dev", &key);
    let run = w.promote("dev", &["--open-pr"]).run().success();
    let branch = World::pushed_branch(&run);
    let message = w.gitops(&["log", "-1", "--format=%B", &branch]);
    assert!(
        message.contains("0 created, 0 changed, 1 deleted")
            && message.contains(&format!(
                "Deleted:\n  autoscaling.v2.HorizontalPodAutoscaler.{dev}.web"
            )),
        "{message}"
    );
    let pruning = w.merge(&branch);
    w.sync("dev")
        .run()
        .success()
        .stdout_contains("horizontalpodautoscaler.autoscaling/web pruned");
    assert!(w.get("dev", "horizontalpodautoscaler", "web").is_none());
    assert!(w.get("dev", "deployment", "web").is_some(), "only the HPA");
    w.live_diff("dev").run().success();

    // Rollback by revert: the HPA comes back.
    let run = w
        .tool("git-promote")
        .args([
            "rollback",
            "dev",
            "--app",
            "shop",
            "--repo",
            &w.gitops_url(),
        ])
        .run()
        .success();
    let branch = World::pushed_branch(&run);
    assert!(branch.starts_with("rollback/dev/shop-"), "{branch}");
    assert_eq!(trailer(&w, &branch, "Rollback-Of"), pruning);
    let message = w.gitops(&["log", "-1", "--format=%B", &branch]);
    assert!(
        message.starts_with("Revert \"Merge pull request promote/dev/shop-")
            && message.contains(&format!("This reverts commit {pruning}.")),
        "{message}"
    );
    w.merge(&branch);
    w.sync("dev")
        .run()
        .success()
        .stdout_contains("horizontalpodautoscaler.autoscaling/web created");
    assert!(w.get("dev", "horizontalpodautoscaler", "web").is_some());
    w.live_diff("dev").run().success();

    // The history: every change went through a merged pull request, in order.
    let log = w.gitops(&["log", "--first-parent", "--format=%s", "main"]);
    let subjects: Vec<&str> = log.lines().collect();
    assert_eq!(subjects.len(), 5, "{log}");
    assert!(
        subjects[0].starts_with("Merge pull request rollback/dev/shop-"),
        "{log}"
    );
    assert!(
        subjects[1].starts_with("Merge pull request promote/dev/shop-"),
        "{log}"
    );
    assert!(
        subjects[2].starts_with("Merge pull request promote/qa/shop-"),
        "{log}"
    );
    assert!(
        subjects[3].starts_with("Merge pull request promote/dev/shop-"),
        "{log}"
    );
    assert_eq!(subjects[4], "gitops: environments");
}

#[test]
fn a_broken_manifest_stops_the_pipeline_before_anything_is_pushed_or_applied() {
    let Some(w) = World::new("e2e-broken") else {
        return;
    };
    let (key, _) = w.ci_image("shop web v1.4.1");
    w.render_pin("dev", &key);
    let run = w.promote("dev", &["--direct"]).run().success();
    assert!(run.stdout.contains("dev/shop: pushed "), "{}", run.stdout);
    w.sync("dev").run().success();
    let refs = w.remote_refs();
    let before = w.get("dev", "deployment", "web").expect("deployment");
    let generation = before["metadata"]["generation"].clone();

    // 1. A template with a value missing in this environment: the render fails naming the place.
    let dep = w.path("app/deploy/deployment.yaml");
    let text = std::fs::read_to_string(&dep).unwrap();
    std::fs::write(
        &dep,
        text.replace("${LOG_LEVEL:=info}", "${LOG_LEVEL_TYPO}"),
    )
    .unwrap();
    let run = w.render("dev", &key).code(2);
    assert_eq!(run.stdout, "", "nothing rendered");
    assert!(
        run.stderr
            .contains("undefined variables: LOG_LEVEL_TYPO (app/deploy/deployment.yaml:25:"),
        "{}",
        run.stderr
    );
    std::fs::write(&dep, &text).unwrap();

    // 2. Malformed YAML in a template: one line with file:line.
    write(
        &w.path("app"),
        "deploy/extra.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n data: {a: b}\n",
    );
    let run = w.render("dev", &key).code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("manifest-render: error: app/deploy/extra.yaml:"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(w.path("app/deploy/extra.yaml")).unwrap();

    // 3. image-tag pin refuses an image that is not in the registry: nothing written.
    let good = w.render("dev", &key).success().stdout;
    let missing = good.replace(&format!("shop/web:{key}"), "shop/web:never-pushed");
    let run = w
        .tool("image-tag")
        .args(["pin", "--lock", "broken.lock", "-"])
        .stdin(missing)
        .run()
        .code(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("shop/web:never-pushed: not found in the registry"),
        "{}",
        run.stderr
    );
    assert!(!w.path("broken.lock").exists());

    // 4. git promote refuses a broken stream (an object without a name, and a duplicate):
    //    no ref of the remote moves, no branch appears.
    let pinned = std::fs::read_to_string(w.path("dev.yaml")).unwrap();
    for broken in [
        format!("{pinned}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{namespace: x}}\n"),
        format!("{pinned}---\n{}", pinned.split("\n---\n").next().unwrap()),
    ] {
        write(w.dir.path(), "dev.yaml", broken);
        let run = w.promote("dev", &["--open-pr"]).run().code(2);
        assert!(
            run.stderr.starts_with("git-promote: error: "),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
        assert_eq!(w.remote_refs(), refs, "nothing pushed");
    }

    // 5. A broken file that reached the GitOps repo (pushed by hand): sync-once applies nothing
    //    of that revision, not even its valid new objects, and the live diff is an error too.
    w.git(&["clone", "-q", "gitops.git", "hand"]);
    write(
        &w.path("hand"),
        "clusters/dev/shop/v1.ConfigMap.new.yaml",
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: new, namespace: {}}}\ndata: {{a: b}}\n", w.namespace("dev")),
    );
    write(
        &w.path("hand"),
        "clusters/dev/shop/zz-broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    );
    w.commit("hand", "hand edit");
    w.git(&["-C", "hand", "push", "-q", "origin", "main"]);
    let run = w.sync("dev").run().code(2);
    assert!(
        run.stderr.contains("zz-broken.yaml"),
        "the error names the file: {}",
        run.stderr
    );
    assert!(
        !run.stdout.contains(" created") && !run.stdout.contains(" configured"),
        "{}",
        run.stdout
    );
    assert!(
        w.get("dev", "configmap", "new").is_none(),
        "nothing applied"
    );
    let after = w.get("dev", "deployment", "web").unwrap();
    assert_eq!(after["metadata"]["generation"], generation);
    assert_eq!(
        after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
        "the Deployment untouched"
    );
    w.live_diff("dev")
        .run()
        .code(2)
        .stderr_contains("zz-broken.yaml");
}

#[test]
fn an_unhealthy_rollout_fails_sync_once_wait_naming_the_object() {
    let Some(w) = World::new("e2e-unhealthy") else {
        return;
    };
    let (key, _) = w.ci_image("shop web v1.4.1");
    w.render_pin("dev", &key);
    w.promote("dev", &["--direct"]).run().success();
    w.sync("dev").run().success();

    // A release whose pods never become ready (the test cluster's kwok stages never ready pods
    // with this label), with a short progress deadline.
    let dep = w.path("app/deploy/deployment.yaml");
    let text = std::fs::read_to_string(&dep).unwrap();
    let stalled = text
        .replace(
            "  replicas: ${REPLICAS:=1}\n",
            "  replicas: ${REPLICAS:=1}\n  progressDeadlineSeconds: 3\n",
        )
        .replace(
            "      labels:\n        app.kubernetes.io/name: web\n    spec:",
            "      labels:\n        app.kubernetes.io/name: web\n        gitops-toolkit.test/never-ready: \"true\"\n    spec:",
        );
    assert_ne!(stalled, text);
    std::fs::write(&dep, stalled).unwrap();
    w.commit("app", "web: a release that never becomes ready");
    w.render_pin("dev", &key);
    w.promote("dev", &["--direct"]).run().success();
    let run = w.sync("dev").run().code(2);
    let dev = w.namespace("dev");
    assert!(
        run.stderr
            .contains(&format!("Deployment/{dev}/web (ProgressDeadlineExceeded")),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("deployment.apps/web configured"),
        "applied and reported: {}",
        run.stdout
    );
    let deployment = w.get("dev", "deployment", "web").unwrap();
    let progressing = deployment["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .cloned()
        .unwrap();
    assert_eq!(
        progressing["reason"], "ProgressDeadlineExceeded",
        "{deployment}"
    );
}

#[test]
fn a_secret_change_never_shows_its_value() {
    let Some(w) = World::new("e2e-secret") else {
        return;
    };
    const OLD: &str = "old-Pa55word-7f3a91";
    const NEW: &str = "new-Pa55word-c04e28";
    let encoded = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let leaks = |what: &str, text: &str| {
        for value in [OLD, NEW, &encoded(OLD), &encoded(NEW)] {
            assert!(
                !text.contains(value),
                "{what} shows a Secret value:\n{text}"
            );
        }
    };
    // The app gains a Secret whose value the environment supplies.
    write(
        &w.path("app"),
        "deploy/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-db\ntype: Opaque\nstringData:\n  password: ${DB_PASSWORD}\n",
    );
    w.commit("app", "web: database password");
    let (key, _) = w.ci_image("shop web secret");
    let gitea = Mock::start(Kind::Gitea, "gitea-token-0123456789");
    let render = |password: &str| {
        let vars = w.path("secret.env");
        std::fs::write(&vars, format!("DB_PASSWORD={password}\n")).unwrap();
        let rendered = w
            .tool("manifest-render")
            .arg("app/deploy")
            .arg("--vars-file")
            .arg(examples().join("env/dev.env"))
            .arg("--vars-file")
            .arg(&vars)
            .args(["--var", &format!("NAMESPACE={}", w.namespace("dev"))])
            .args(["--var", &format!("IMAGE_TAG={key}")])
            .args(["--var", &format!("REGISTRY={}", w.registry.host)])
            .args(["--strict", "-n", &w.namespace("dev")])
            .run()
            .success();
        let pinned = w
            .tool("image-tag")
            .args(["pin", "-"])
            .stdin(rendered.stdout)
            .run()
            .success();
        leaks("image-tag pin's stderr", &pinned.stderr);
        write(w.dir.path(), "dev.yaml", &pinned.stdout);
    };
    let promote_pr = |password: &str| -> String {
        render(password);
        let run = w
            .promote(
                "dev",
                &[
                    "--open-pr",
                    "-v",
                    "--provider",
                    "gitea",
                    "--api-url",
                    &gitea.api_url(),
                    "--project",
                    Kind::Gitea.project(),
                ],
            )
            .env(Kind::Gitea.token_var(), &gitea.token)
            .run()
            .success();
        leaks("git promote's stdout", &run.stdout);
        leaks("git promote's stderr", &run.stderr);
        assert!(run.stderr.contains("pull request #"), "{}", run.stderr);
        let pr = gitea.prs().last().cloned().expect("a pull request");
        leaks("the pull request's title", &pr.title);
        leaks("the pull request's body", &pr.body);
        leaks(
            "the commit message",
            &w.gitops(&["log", "-1", "--format=%B", &pr.head]),
        );
        pr.head
    };

    let branch = promote_pr(OLD);
    assert!(gitea.violations().is_empty(), "{:?}", gitea.violations());
    w.merge(&branch);
    let run = w.sync("dev").arg("-v").run().success();
    assert!(
        run.stdout.contains("secret/web-db created"),
        "{}",
        run.stdout
    );
    leaks("sync-once's stdout", &run.stdout);
    leaks("sync-once's stderr", &run.stderr);
    let secret = w.get("dev", "secret", "web-db").expect("the Secret");
    assert_eq!(secret["data"]["password"], encoded(OLD), "applied for real");

    // The change: every diff shows that the Secret changes, never how.
    let branch = promote_pr(NEW);
    w.git(&["clone", "-q", "gitops.git", "review"]);
    for format in ["human", "json", "markdown"] {
        let run = w
            .tool("kubectl-gitops-diff")
            .args(["--repo", "review", "--path", "clusters/dev"])
            .args(["--from", "origin/main", "--to", &format!("origin/{branch}")])
            .args(["-o", format])
            .run()
            .code(1);
        assert!(run.stdout.contains("web-db"), "{format}: {}", run.stdout);
        assert!(
            run.stdout.contains("***"),
            "{format}: masked: {}",
            run.stdout
        );
        leaks(&format!("the revision diff ({format})"), &run.stdout);
        leaks("the revision diff's stderr", &run.stderr);
    }
    w.merge(&branch);
    for format in ["human", "json", "markdown"] {
        let run = w.live_diff("dev").args(["-o", format]).run().code(1);
        assert!(run.stdout.contains("web-db"), "{format}: {}", run.stdout);
        leaks(&format!("the live diff ({format})"), &run.stdout);
        leaks("the live diff's stderr", &run.stderr);
    }
    for output in ["text", "json"] {
        let run = w.sync("dev").args(["-v", "-o", output]).run().success();
        leaks(&format!("sync-once -o {output}"), &run.stdout);
        leaks("sync-once's stderr", &run.stderr);
    }
    let secret = w.get("dev", "secret", "web-db").expect("the Secret");
    assert_eq!(secret["data"]["password"], encoded(NEW));
    w.live_diff("dev").run().success();
}

#[test]
fn concurrent_promotions_to_one_environment_lose_nothing() {
    let Some(w) = World::new("e2e-race") else {
        return;
    };
    let (key, _) = w.ci_image("shop web race");
    // Two apps of the same environment racing: both land.
    let stream = w.render("dev", &key).success().stdout;
    let spawn = |app: &str, file: &str, content: String| {
        write(w.dir.path(), file, content);
        let cmd = w
            .tool("git-promote")
            .current_dir(w.path("app"))
            .args(["dev", "--app", app, "--direct", "--manifests"])
            .arg(w.path(file))
            .args(["--repo", &w.gitops_url()]);
        std::thread::spawn(move || cmd.run())
    };
    let a = spawn("shop", "a.yaml", stream.clone());
    let b = spawn(
        "cart",
        "b.yaml",
        stream.replace(&w.namespace("dev"), &w.namespace("cart")),
    );
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    a.success();
    b.success();
    let files = w.gitops(&["ls-tree", "-r", "--name-only", "main", "clusters/dev"]);
    assert!(files.contains("clusters/dev/shop/.promotion"), "{files}");
    assert!(files.contains("clusters/dev/cart/.promotion"), "{files}");

    // The same app twice with different content: each either lands or fails cleanly (nothing
    // of it pushed); a retry of a failed one lands. Every change ends up in the history.
    let one = stream.replace("features: new-checkout,dark-mode", "features: race-one");
    let two = stream.replace("features: new-checkout,dark-mode", "features: race-two");
    assert!(one != stream && two != stream);
    let first = spawn("shop", "one.yaml", one);
    let second = spawn("shop", "two.yaml", two);
    let runs = [
        ("one.yaml", first.join().unwrap()),
        ("two.yaml", second.join().unwrap()),
    ];
    let mut landed = 0;
    for (file, run) in &runs {
        if run.code == 0 {
            landed += 1;
            continue;
        }
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("clusters/dev/shop changed on the remote while promoting (main): not overwriting it"),
            "a clean failure: {}",
            run.stderr
        );
        // The retry, now on top of the other promotion.
        w.tool("git-promote")
            .current_dir(w.path("app"))
            .args(["dev", "--app", "shop", "--direct", "--manifests"])
            .arg(w.path(file))
            .args(["--repo", &w.gitops_url()])
            .run()
            .success();
    }
    assert!(landed >= 1, "at least one of the racing promotions landed");
    let digests = w.gitops(&[
        "log",
        "--format=%(trailers:key=Stream-Digest,valueonly)",
        "main",
        "--",
        "clusters/dev/shop",
    ]);
    for file in ["one.yaml", "two.yaml"] {
        let digest = w
            .tool("manifest-render")
            .arg(w.path(file))
            .arg("--digest")
            .run()
            .success()
            .stderr;
        let digest = digest.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(
            digests.contains(&digest),
            "{file} ({digest}) in the history:\n{digests}"
        );
    }
}
