//! `git promote` against real Git: bare remotes over file:// and smart HTTP, promotions, no-op,
//! races, rollback, env to env, every bad-input case, and each Git host's pull-request contract
//! (against the mocks in `harness::providers`).

use std::path::{Path, PathBuf};

use harness::git_http::GitHttp;
use harness::providers::{Kind, Mock};
use harness::{tempdir, write, Cmd, Run};

/// Variables that would make the tool (or git) depend on the machine or the CI running tests.
const SCRUB: &[&str] = &[
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "GL_TOKEN",
    "AZURE_DEVOPS_EXT_PAT",
    "SYSTEM_ACCESSTOKEN",
    "GITEA_TOKEN",
    "FORGEJO_TOKEN",
    "BITBUCKET_TOKEN",
    "CI_JOB_TOKEN",
    "CI_REPOSITORY_URL",
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
];

/// A test's world: a temp dir holding HOME, a bare remote `remote.git` with one commit on main.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let w = World { dir: tempdir() };
        std::fs::create_dir_all(w.home()).unwrap();
        w.git(&["init", "-q", "--bare", "-b", "main", "remote.git"])
            .success();
        w.git(&["clone", "-q", "remote.git", "seed"]).success();
        write(&w.path("seed"), "README.md", "# gitops\n");
        w.git_in("seed", &["add", "-A"]).success();
        w.git_in("seed", &["commit", "-q", "-m", "init"]).success();
        w.git_in("seed", &["push", "-q", "origin", "main"])
            .success();
        w
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn url(&self) -> String {
        format!("file://{}", self.path("remote.git").display())
    }

    fn env(&self, mut cmd: Cmd) -> Cmd {
        for v in SCRUB {
            cmd = cmd.env_remove(v);
        }
        cmd.env("HOME", self.home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ada Author")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Cy Committer")
            .env("GIT_COMMITTER_EMAIL", "cy@example.com")
            .current_dir(self.root())
    }

    fn git(&self, args: &[&str]) -> Run {
        self.env(Cmd::program("git")).args(args).run()
    }

    fn git_in(&self, dir: &str, args: &[&str]) -> Run {
        self.env(Cmd::program("git"))
            .args(["-C", dir])
            .args(args)
            .run()
    }

    /// `git --git-dir remote.git …`, stdout.
    fn remote(&self, args: &[&str]) -> String {
        self.git(&[&["--git-dir", "remote.git"], args].concat())
            .success()
            .stdout
    }

    fn promote(&self) -> Cmd {
        self.env(Cmd::new("git-promote"))
    }

    fn files(&self, rev: &str, path: &str) -> Vec<String> {
        self.remote(&["ls-tree", "-r", "--name-only", rev, "--", path])
            .lines()
            .map(|l| l.strip_prefix(&format!("{path}/")).unwrap_or(l).to_owned())
            .collect()
    }

    fn show(&self, rev_path: &str) -> String {
        self.remote(&["show", rev_path])
    }

    fn branches(&self) -> Vec<String> {
        self.remote(&["for-each-ref", "--format=%(refname:short)", "refs/heads"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn tip(&self) -> String {
        self.remote(&["rev-parse", "main"]).trim().to_owned()
    }

    fn manifests(&self, name: &str, text: &str) -> String {
        write(self.root(), name, text).display().to_string()
    }
}

fn app_yaml(image: &str, extra_cm: bool) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        image: {image}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\nspec:\n  ports: [{{port: 80}}]\n"
    );
    if extra_cm {
        s.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config, namespace: shop}\ndata: {LOG: debug}\n");
    }
    s
}

const IMG1: &str = "registry.example.com/web:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const IMG2: &str = "registry.example.com/web:v2@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn direct(w: &World, env: &str, app: &str, manifests: &str) -> Run {
    w.promote()
        .args([
            env,
            "--app",
            app,
            "--manifests",
            manifests,
            "--repo",
            &w.url(),
            "--direct",
            "--source-commit",
            "0123456789abcdef",
            "--source-repo",
            "https://git.example.com/web.git",
        ])
        .run()
}

#[test]
fn help_works_both_ways() {
    let w = World::new();
    w.promote()
        .arg("-h")
        .run()
        .success()
        .stdout_contains("Usage: git promote");
    w.promote()
        .arg("--help")
        .run()
        .success()
        .stdout_contains("Environments, paths, branches");
    w.promote()
        .args(["rollback", "-h"])
        .run()
        .success()
        .stdout_contains("--to <REV>");
}

#[test]
fn direct_promotion_writes_one_file_per_object_with_provenance() {
    let w = World::new();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, true));
    let run = direct(&w, "dev", "web", &m).success();
    assert!(run.stdout.starts_with("dev/web: pushed "), "{}", run.stdout);
    assert!(
        run.stdout.trim_end().ends_with(" to main"),
        "{}",
        run.stdout
    );
    assert_eq!(
        w.files("main", "clusters/dev/web"),
        [
            ".promotion",
            "apps.v1.Deployment.shop.web.yaml",
            "v1.ConfigMap.shop.web-config.yaml",
            "v1.Service.shop.web.yaml"
        ]
    );
    assert!(w
        .show("main:clusters/dev/web/apps.v1.Deployment.shop.web.yaml")
        .contains(IMG1));
    let msg = w.remote(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.starts_with("Promote web to dev (source 0123456)\n\n3 created, 0 changed, 0 deleted."),
        "{msg}"
    );
    let trailers = w.remote(&["log", "-1", "--format=%(trailers:only,unfold)", "main"]);
    for t in [
        "Promote-Environment: dev",
        "Promote-App: web",
        "Source-Repository: https://git.example.com/web.git",
        "Source-Commit: 0123456789abcdef",
        &format!("Image: {IMG1}"),
        "Stream-Digest: sha256:",
    ] {
        assert!(trailers.contains(t), "missing {t:?} in\n{trailers}");
    }
    let author = w.remote(&["log", "-1", "--format=%an <%ae> / %cn <%ce>", "main"]);
    assert_eq!(
        author.trim(),
        "Ada Author <ada@example.com> / Cy Committer <cy@example.com>"
    );
    let prov = w.show("main:clusters/dev/web/.promotion");
    assert!(
        prov.contains("sourceCommit: 0123456789abcdef") && prov.contains("environment: dev"),
        "{prov}"
    );
    // The commit sits on the old tip, and the repository is sound.
    assert_eq!(w.remote(&["rev-list", "--count", "main"]).trim(), "2");
    w.git(&["--git-dir", "remote.git", "fsck", "--strict"])
        .success();
    assert_eq!(w.branches(), ["main"]);
}

#[test]
fn unchanged_manifests_are_a_no_op() {
    let w = World::new();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    direct(&w, "dev", "web", &m).success();
    let tip = w.tip();
    // Same objects, different formatting and order: still nothing to do.
    let reordered = w.manifests("again.yaml", &{
        let text = app_yaml(IMG1, false);
        let mut docs: Vec<&str> = text.split("---\n").collect();
        docs.reverse();
        docs.join("---\n")
    });
    let run = direct(&w, "dev", "web", &reordered).success();
    assert!(
        run.stdout
            .starts_with("dev/web: already up to date (sha256:"),
        "{}",
        run.stdout
    );
    assert_eq!(w.tip(), tip);
    // Not even a promotion branch in PR mode.
    let mock = Mock::start(Kind::Github, "ghp_secret");
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
            "--open-pr",
        ])
        .args([
            "--provider",
            "github",
            "--api-url",
            &mock.api_url(),
            "--project",
            "acme/gitops",
        ])
        .env("GITHUB_TOKEN", "ghp_secret")
        .run()
        .success()
        .stdout_contains("already up to date");
    assert_eq!(w.branches(), ["main"]);
    assert!(mock.prs().is_empty());
    // --check agrees.
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
            "--check",
        ])
        .run()
        .code(0);
}

#[test]
fn removed_objects_disappear_and_changes_are_described() {
    let w = World::new();
    direct(
        &w,
        "dev",
        "web",
        &w.manifests("a.yaml", &app_yaml(IMG1, true)),
    )
    .success();
    let m2 = w.manifests("b.yaml", &app_yaml(IMG2, false));
    let check = w
        .promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m2,
            "--repo",
            &w.url(),
            "--check",
        ])
        .run()
        .code(1);
    assert_eq!(
        check.stdout,
        "dev/web: would change (0 created, 1 changed, 1 deleted)\n~ apps.v1.Deployment.shop.web\n- v1.ConfigMap.shop.web-config\n"
    );
    direct(&w, "dev", "web", &m2).success();
    assert_eq!(
        w.files("main", "clusters/dev/web"),
        [
            ".promotion",
            "apps.v1.Deployment.shop.web.yaml",
            "v1.Service.shop.web.yaml"
        ]
    );
    let msg = w.remote(&["log", "-1", "--format=%B", "main"]);
    assert!(msg.contains("0 created, 1 changed, 1 deleted."), "{msg}");
    assert!(
        msg.contains("Deleted:\n  v1.ConfigMap.shop.web-config"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{IMG1} -> {IMG2}")), "{msg}");
}

#[test]
fn templates_go_beside_the_manifests_and_are_replaced() {
    let w = World::new();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    write(
        &w.path("tpl"),
        "base/kustomization.yaml",
        "resources: [deploy.yaml]\n",
    );
    write(&w.path("tpl"), "base/deploy.yaml", "kind: Deployment\n");
    let hook = write(&w.path("tpl"), "render.sh", "#!/bin/sh\n");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let args = |t: &str| {
        vec![
            "dev".to_owned(),
            "--app".into(),
            "web".into(),
            "--manifests".into(),
            m.clone(),
            "--templates".into(),
            t.to_owned(),
            "--repo".into(),
            w.url(),
            "--direct".into(),
        ]
    };
    w.promote()
        .args(args(&w.path("tpl").display().to_string()))
        .run()
        .success();
    assert_eq!(
        w.files("main", "templates/dev/web"),
        ["base/deploy.yaml", "base/kustomization.yaml", "render.sh"]
    );
    let modes = w.remote(&["ls-tree", "main", "templates/dev/web/render.sh"]);
    assert!(modes.starts_with("100755"), "{modes}");
    // Only the templates change: that is still a promotion; a removed template file goes away.
    std::fs::remove_file(w.path("tpl/base/deploy.yaml")).unwrap();
    w.promote()
        .args(args(&w.path("tpl").display().to_string()))
        .run()
        .success()
        .stdout_contains("pushed");
    assert_eq!(
        w.files("main", "templates/dev/web"),
        ["base/kustomization.yaml", "render.sh"]
    );
    assert!(w
        .remote(&["log", "-1", "--format=%B", "main"])
        .contains("templates updated"));
}

#[test]
fn a_local_clone_is_used_without_touching_its_work_tree() {
    let w = World::new();
    w.git(&["clone", "-q", "remote.git", "mine"]).success();
    // A dirty work tree, a staged change and a local commit the remote does not have.
    write(&w.path("mine"), "README.md", "edited but not committed\n");
    write(&w.path("mine"), "staged.txt", "staged\n");
    w.git_in("mine", &["add", "staged.txt"]).success();
    let status_before = w
        .git_in("mine", &["status", "--porcelain=v2", "--branch"])
        .success()
        .stdout;
    let head_before = w.git_in("mine", &["rev-parse", "HEAD"]).success().stdout;
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            "mine",
            "--direct",
        ])
        .run()
        .success()
        .stdout_contains("pushed");
    assert_eq!(
        w.git_in("mine", &["rev-parse", "HEAD"]).success().stdout,
        head_before
    );
    let status_after = w
        .git_in("mine", &["status", "--porcelain=v2", "--branch"])
        .success()
        .stdout;
    // Only the remote-tracking branch moved (as any fetch does); index and work tree are as they were.
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("# branch.ab") && !l.starts_with("# branch.upstream"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&status_after), strip(&status_before));
    assert_eq!(
        std::fs::read_to_string(w.path("mine/README.md")).unwrap(),
        "edited but not committed\n"
    );
    assert!(!w.path("mine/clusters").exists());
    assert_eq!(
        w.git_in("mine", &["branch", "--format=%(refname:short)"])
            .success()
            .stdout
            .trim(),
        "main"
    );
    assert_eq!(w.files("main", "clusters/dev/web").len(), 3);
}

#[test]
fn stdin_and_directories_are_accepted() {
    let w = World::new();
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            "-",
            "--repo",
            &w.url(),
            "--direct",
        ])
        .stdin(app_yaml(IMG1, false))
        .run()
        .success();
    write(&w.path("dir"), "a.yaml", app_yaml(IMG1, false));
    write(
        &w.path("dir"),
        "sub/b.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"shop"}}"#,
    );
    direct(&w, "qa", "web", &w.path("dir").display().to_string()).success();
    assert_eq!(w.files("main", "clusters/qa/web").len(), 4);
}

#[test]
fn smart_http_remote_works_and_auth_failures_are_clean() {
    let w = World::new();
    let http = GitHttp::start(w.root());
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &http.url("remote.git"),
            "--direct",
        ])
        .run()
        .success()
        .stdout_contains("pushed");
    assert_eq!(w.files("main", "clusters/dev/web").len(), 3);
    // A second promotion over HTTP on top of the first (fetch of a moved remote).
    let m2 = w.manifests("app2.yaml", &app_yaml(IMG2, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m2,
            "--repo",
            &http.url("remote.git"),
            "--direct",
        ])
        .run()
        .success();
    assert!(w
        .show("main:clusters/dev/web/apps.v1.Deployment.shop.web.yaml")
        .contains(IMG2));

    let locked = GitHttp::with_auth(w.root(), "ci", "s3cret-pass");
    let tip = w.tip();
    let url = format!(
        "http://ci:wrong-pass@127.0.0.1:{}/remote.git",
        locked.port()
    );
    let run = w
        .promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &url,
            "--direct",
        ])
        .run()
        .code(2);
    assert!(
        run.stderr.starts_with("git-promote: error: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Authentication failed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("wrong-pass"),
        "password leaked: {}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(w.tip(), tip);
    // With the right credentials the same URL works.
    let good = format!(
        "http://ci:s3cret-pass@127.0.0.1:{}/remote.git",
        locked.port()
    );
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &good,
            "--direct",
        ])
        .run()
        .success();
}

/// A `git` on PATH that, before the first push, lands someone else's commit on the remote.
fn racing_git(w: &World, rel: &str, content: &str) -> PathBuf {
    let bin = w.path("racebin");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = push ] && [ ! -e {marker} ]; then\n  touch {marker}\n  (cd {other} && mkdir -p \"$(dirname {rel})\" && printf '%s' '{content}' > {rel} && {real} add -A && {real} commit -qm 'someone else' && {real} push -q origin HEAD:main) >/dev/null 2>&1\nfi; done\nexec {real} \"$@\"\n",
        marker = w.path("raced").display(),
        other = w.path("other").display(),
        real = real.trim(),
    );
    write(&bin, "git", script);
    std::fs::set_permissions(
        bin.join("git"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    w.git(&["clone", "-q", "remote.git", "other"]).success();
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_moved_remote_is_rebased_onto_and_both_changes_land() {
    let w = World::new();
    let bin = racing_git(
        &w,
        "clusters/dev/api/v1.ConfigMap.shop.api.yaml",
        "kind: ConfigMap\n",
    );
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
            "--direct",
            "-v",
        ])
        .env("PATH", path_with(&bin))
        .run()
        .success()
        .stderr_contains("moved on the remote");
    assert!(w.path("raced").exists(), "the race did not happen");
    let log = w.remote(&["log", "--format=%s", "main"]);
    let subjects: Vec<&str> = log.lines().collect();
    assert_eq!(subjects.len(), 3, "{log}");
    assert!(subjects[0].starts_with("Promote web to dev"), "{log}");
    assert_eq!(&subjects[1..], ["someone else", "init"]);
    assert_eq!(
        w.files("main", "clusters/dev/api"),
        ["v1.ConfigMap.shop.api.yaml"]
    );
    assert_eq!(w.files("main", "clusters/dev/web").len(), 3);
    // Fast-forward only: the other commit is an ancestor.
    w.git(&[
        "--git-dir",
        "remote.git",
        "merge-base",
        "--is-ancestor",
        "main~1",
        "main",
    ])
    .success();
}

#[test]
fn a_conflicting_change_on_the_remote_fails_cleanly() {
    let w = World::new();
    let bin = racing_git(
        &w,
        "clusters/dev/web/v1.ConfigMap.shop.hotfix.yaml",
        "kind: ConfigMap\n",
    );
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    let run = w
        .promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
            "--direct",
        ])
        .env("PATH", path_with(&bin))
        .run()
        .code(2);
    assert!(
        run.stderr
            .contains("clusters/dev/web changed on the remote while promoting"),
        "{}",
        run.stderr
    );
    // Theirs is kept; ours was not forced over it.
    assert_eq!(
        w.remote(&["log", "-1", "--format=%s", "main"]).trim(),
        "someone else"
    );
    assert_eq!(
        w.files("main", "clusters/dev/web"),
        ["v1.ConfigMap.shop.hotfix.yaml"]
    );
    assert_eq!(w.branches(), ["main"]);
}

#[test]
fn racing_promotions_both_land() {
    let w = World::new();
    let apps = ["alpha", "beta", "gamma"];
    let children: Vec<_> = apps
        .iter()
        .map(|app| {
            let m = w.manifests(
                &format!("{app}.yaml"),
                &app_yaml(IMG1, false).replace("name: web", &format!("name: {app}")),
            );
            let mut cmd = std::process::Command::new(harness::bin("git-promote"));
            cmd.args([
                "dev",
                "--app",
                app,
                "--manifests",
                &m,
                "--repo",
                &w.url(),
                "--direct",
                "--retries",
                "10",
            ])
            .env("HOME", w.home())
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@example.com")
            .current_dir(w.root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for app in apps {
        assert_eq!(
            w.files("main", &format!("clusters/dev/{app}")).len(),
            3,
            "{app} was lost"
        );
    }
    assert_eq!(w.remote(&["rev-list", "--count", "main"]).trim(), "4");
}

#[test]
fn bad_input_is_one_line_exit_2_and_leaves_nothing_behind() {
    let w = World::new();
    let tip = w.tip();
    let good = w.manifests("good.yaml", &app_yaml(IMG1, false));
    let bad_yaml = w.manifests(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n\tbad: tab\n",
    );
    let empty = w.manifests("empty.yaml", "# nothing\n");
    let nameless = w.manifests("nameless.yaml", "apiVersion: v1\nkind: ConfigMap\n");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["stage".into(), "--manifests".into(), good.clone()],
            "unknown environment \"stage\" (known: dev, qa, prod)",
        ),
        (
            vec![
                "dev".into(),
                "--manifests".into(),
                w.path("missing.yaml").display().to_string(),
            ],
            "missing.yaml: no such file or directory",
        ),
        (
            vec!["dev".into(), "--manifests".into(), bad_yaml.clone()],
            "bad.yaml:5:",
        ),
        (
            vec!["dev".into(), "--manifests".into(), empty],
            "no objects to promote",
        ),
        (
            vec!["dev".into(), "--manifests".into(), nameless],
            "missing metadata.name",
        ),
        (
            vec!["qa".into(), "--from-env".into(), "dev".into()],
            "unknown app \"web\" in dev",
        ),
        (
            vec![
                "dev".into(),
                "--manifests".into(),
                good.clone(),
                "--repo".into(),
                w.path("nowhere").display().to_string(),
            ],
            "no such directory",
        ),
    ];
    for (args, expected) in cases {
        let mut cmd = w.promote().args(&args).args(["--app", "web", "--direct"]);
        if !args.contains(&"--repo".to_owned()) {
            cmd = cmd.args(["--repo", &w.url()]);
        }
        let run = cmd.run().code(2);
        assert!(
            run.stderr.contains(expected),
            "{args:?}: expected {expected:?} in\n{}",
            run.stderr
        );
        assert!(
            run.stderr.starts_with("git-promote: error: "),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .lines()
                .filter(|l| !l.starts_with("hint:"))
                .count()
                == 1,
            "{}",
            run.stderr
        );
    }
    let run = w
        .promote()
        .args([
            "dev",
            "--app",
            "Bad/Name",
            "--manifests",
            &good,
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .code(2);
    assert!(
        run.stderr.contains("app name \"Bad/Name\""),
        "{}",
        run.stderr
    );
    assert_eq!(w.tip(), tip);
    assert_eq!(w.branches(), ["main"]);
}

#[test]
fn unknown_apps_are_refused_when_the_config_lists_them() {
    let w = World::new();
    write(&w.path("seed"), ".gitops/promote.yaml", "environments:\n- name: dev\n  pullRequest: false\n  path: apps/{env}/{app}\n- name: prod\napps: [web]\n");
    w.git_in("seed", &["add", "-A"]).success();
    w.git_in("seed", &["commit", "-q", "-m", "config"])
        .success();
    w.git_in("seed", &["push", "-q", "origin", "main"])
        .success();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args(["dev", "--app", "api", "--manifests", &m, "--repo", &w.url()])
        .run()
        .code(2)
        .stderr_contains("unknown app \"api\"");
    w.promote()
        .args(["qa", "--app", "web", "--manifests", &m, "--repo", &w.url()])
        .run()
        .code(2)
        .stderr_contains("(known: dev, prod)");
    // The config's layout is used: dev is direct, in apps/dev/web.
    w.promote()
        .args(["dev", "--app", "web", "--manifests", &m, "--repo", &w.url()])
        .run()
        .success();
    assert_eq!(w.files("main", "apps/dev/web").len(), 3);
    // A broken config is reported with its position.
    w.git_in("seed", &["pull", "-q", "--ff-only", "origin", "main"])
        .success();
    write(
        &w.path("seed"),
        ".gitops/promote.yaml",
        "environments:\n- name: dev\n  pathh: x\n",
    );
    w.git_in("seed", &["commit", "-q", "-am", "broken"])
        .success();
    w.git_in("seed", &["push", "-q", "origin", "main"])
        .success();
    w.promote()
        .args(["dev", "--app", "web", "--manifests", &m, "--repo", &w.url()])
        .run()
        .code(2)
        .stderr_contains(".gitops/promote.yaml:3:");
}

#[test]
fn a_push_the_remote_rejects_leaves_nothing() {
    let w = World::new();
    write(
        &w.path("remote.git"),
        "hooks/pre-receive",
        "#!/bin/sh\necho 'branch main is protected: changes need a review' >&2\nexit 1\n",
    );
    std::fs::set_permissions(
        w.path("remote.git/hooks/pre-receive"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let tip = w.tip();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    let run = direct(&w, "dev", "web", &m).code(2);
    assert!(
        run.stderr
            .contains("the remote rejected the push to main: branch main is protected"),
        "{}",
        run.stderr
    );
    assert_eq!(w.tip(), tip);
    assert_eq!(w.branches(), ["main"]);
}

fn pr_cmd(w: &World, mock: &Mock, args: &[&str]) -> Cmd {
    w.promote()
        .args(args)
        .args([
            "--repo",
            &w.url(),
            "--provider",
            mock.kind.flag(),
            "--api-url",
            &mock.api_url(),
            "--project",
            mock.kind.project(),
        ])
        .env(mock.kind.token_var(), &mock.token)
}

fn provider_contract(kind: Kind, url_part: &str) {
    provider_contract_with(kind, url_part, true);
}

/// The contract of one host; `auto_merge`: the host has an API for it (Bitbucket Cloud has none).
fn provider_contract_with(kind: Kind, url_part: &str, auto_merge: bool) {
    let w = World::new();
    let token = format!("tok-{}-0123456789", kind.flag());
    let mock = Mock::start(kind, &token);
    let m = w.manifests("app.yaml", &app_yaml(IMG1, true));
    let args = [
        "prod",
        "--app",
        "web",
        "--manifests",
        m.as_str(),
        "--source-commit",
        "0123456789abcdef",
    ];
    let first = if auto_merge {
        pr_cmd(&w, &mock, &args).arg("--auto-merge").run().success()
    } else {
        pr_cmd(&w, &mock, &args).run().success()
    };
    assert!(
        first.stdout.trim().contains(url_part),
        "{kind:?}: {}",
        first.stdout
    );
    assert_eq!(first.stdout.lines().count(), 1, "{}", first.stdout);
    assert!(
        first.stderr.contains("pull request #1 opened"),
        "{}",
        first.stderr
    );
    assert_eq!(mock.violations(), Vec::<String>::new(), "{kind:?}");
    let prs = mock.prs();
    assert_eq!(prs.len(), 1);
    let pr = &prs[0];
    assert!(
        pr.head.starts_with("promote/prod/web-") && pr.head.len() == "promote/prod/web-".len() + 12,
        "{}",
        pr.head
    );
    assert_eq!(pr.base, "main");
    assert_eq!(pr.title, "Promote web to prod (source 0123456)");
    assert!(
        pr.body.contains("3 created, 0 changed, 0 deleted"),
        "{}",
        pr.body
    );
    assert!(
        pr.body.contains("`0123456789abcdef`") && pr.body.contains(IMG1),
        "{}",
        pr.body
    );
    assert_eq!(pr.auto_merge, auto_merge, "{kind:?}: auto-merge");
    // The branch is on the remote, main is untouched.
    assert_eq!(w.branches(), ["main", &pr.head]);
    assert_eq!(w.files("main", "clusters/prod/web"), Vec::<String>::new());
    assert_eq!(w.files(&pr.head, "clusters/prod/web").len(), 4);

    // Idempotent: the same promotion again reuses the open pull request.
    let again = pr_cmd(&w, &mock, &args).run().success();
    assert_eq!(again.stdout, first.stdout);
    assert!(
        again.stderr.contains("pull request #1 updated"),
        "{}",
        again.stderr
    );
    assert_eq!(mock.prs().len(), 1);

    // --wait: merged → 0; closed → 2.
    mock.finish_after(1, true);
    pr_cmd(&w, &mock, &args)
        .args(["--wait", "--poll-interval", "0s", "--timeout", "60s"])
        .run()
        .success();
    let m2 = w.manifests("app2.yaml", &app_yaml(IMG2, true));
    mock.finish_after(0, false);
    let closed = pr_cmd(
        &w,
        &mock,
        &[
            "prod",
            "--app",
            "web",
            "--manifests",
            m2.as_str(),
            "--wait",
            "--poll-interval",
            "0s",
        ],
    )
    .run()
    .code(2);
    assert!(
        closed.stderr.contains("was closed without merging"),
        "{}",
        closed.stderr
    );
    assert_eq!(mock.prs().len(), 2);
    assert_eq!(mock.violations(), Vec::<String>::new(), "{kind:?}");

    // A provider error: exit 2, the token never shown, the new branch removed again.
    mock.fail_with(500);
    let m3 = w.manifests("app3.yaml", &app_yaml(IMG2, false));
    let before = w.branches();
    let run = pr_cmd(
        &w,
        &mock,
        &["prod", "--app", "web", "--manifests", m3.as_str()],
    )
    .run()
    .code(2);
    assert!(run.stderr.contains("API: GET"), "{}", run.stderr);
    assert!(!run.stderr.contains(&token), "token leaked: {}", run.stderr);
    assert_eq!(w.branches(), before);
    mock.fail_with(401);
    let run = pr_cmd(
        &w,
        &mock,
        &["prod", "--app", "web", "--manifests", m3.as_str(), "-v"],
    )
    .run()
    .code(2);
    assert!(
        run.stderr.contains("authentication failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&token), "token leaked: {}", run.stderr);
    assert_eq!(w.branches(), before);
}

#[test]
fn github_pull_requests() {
    provider_contract(Kind::Github, "https://github.com/acme/gitops/pull/1");
}

#[test]
fn gitlab_merge_requests() {
    provider_contract(
        Kind::Gitlab,
        "https://gitlab.example.com/platform/deploy/gitops/-/merge_requests/1",
    );
}

#[test]
fn azure_devops_pull_requests() {
    provider_contract(
        Kind::Azure,
        "https://dev.azure.com/acme/platform/_git/gitops/pullrequest/1",
    );
}

#[test]
fn gitea_pull_requests() {
    provider_contract(Kind::Gitea, "https://gitea.example.com/acme/gitops/pulls/1");
}

#[test]
fn bitbucket_cloud_pull_requests() {
    provider_contract_with(
        Kind::Bitbucket,
        "https://bitbucket.org/acme/gitops/pull-requests/1",
        false,
    );
}

#[test]
fn bitbucket_cloud_refuses_auto_merge_before_pushing() {
    let w = World::new();
    let mock = Mock::start(Kind::Bitbucket, "bb-token-0123456789");
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    pr_cmd(
        &w,
        &mock,
        &["prod", "--app", "web", "--manifests", &m, "--auto-merge"],
    )
    .run()
    .code(2)
    .stderr_contains("Bitbucket Cloud has no API to merge a pull request once its checks pass");
    assert_eq!(w.branches(), ["main"]);
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
}

#[test]
fn bitbucket_data_center_pull_requests() {
    provider_contract(
        Kind::BitbucketServer,
        "https://bitbucket.example.com/projects/PLAT/repos/gitops/pull-requests/1",
    );
}

#[test]
fn a_missing_token_fails_before_anything_is_pushed() {
    let w = World::new();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args([
            "prod",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
            "--provider",
            "gitea",
            "--api-url",
            "http://127.0.0.1:9",
            "--project",
            "a/b",
        ])
        .run()
        .code(2)
        .stderr_contains("no token for Gitea: set GITEA_TOKEN or FORGEJO_TOKEN");
    w.promote()
        .args([
            "prod",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
        ])
        .run()
        .code(2)
        .stderr_contains("pass --provider");
    assert_eq!(w.branches(), ["main"]);
}

#[test]
fn env_to_env_promotes_exactly_what_the_source_runs() {
    let w = World::new();
    write(&w.path("tpl"), "kustomization.yaml", "resources: []\n");
    let m = w.manifests("app.yaml", &app_yaml(IMG1, true));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--templates",
            &w.path("tpl").display().to_string(),
            "--repo",
            &w.url(),
            "--source-commit",
            "feedface00",
        ])
        .run()
        .success();
    let run = w
        .promote()
        .args([
            "qa",
            "--from-env",
            "dev",
            "--app",
            "web",
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .success();
    assert!(run.stdout.starts_with("qa/web: pushed"), "{}", run.stdout);
    let dev = w.remote(&["ls-tree", "main", "clusters/dev/web/"]);
    let qa = w.remote(&["ls-tree", "main", "clusters/qa/web/"]);
    let blobs = |s: &str| {
        s.lines()
            .filter(|l| !l.ends_with(".promotion"))
            .map(|l| l.split('\t').next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(blobs(&dev), blobs(&qa));
    assert_eq!(w.files("main", "templates/qa/web"), ["kustomization.yaml"]);
    let prov = w.show("main:clusters/qa/web/.promotion");
    let dev_prov = w.show("main:clusters/dev/web/.promotion");
    assert!(
        prov.contains("environment: qa")
            && prov.contains("sourceCommit: feedface00")
            && prov.contains("fromEnvironment: dev"),
        "{prov}"
    );
    let digest = |p: &str| {
        p.lines()
            .find(|l| l.starts_with("streamDigest:"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(digest(&prov), digest(&dev_prov));
    let msg = w.remote(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.starts_with("Promote web to qa (from dev, source feedfac)"),
        "{msg}"
    );
    assert!(msg.contains("Promoted-From: dev"), "{msg}");
    // Again: nothing to do.
    w.promote()
        .args([
            "qa",
            "--from-env",
            "dev",
            "--app",
            "web",
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .success()
        .stdout_contains("already up to date");
    // Re-rendered manifests for qa must carry the same images as dev.
    let other = w.manifests("qa.yaml", &app_yaml(IMG2, true));
    w.promote()
        .args([
            "qa",
            "--from-env",
            "dev",
            "--app",
            "web",
            "--manifests",
            &other,
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .code(2)
        .stderr_contains("the manifests do not use the images dev runs");
    let rerendered = w.manifests(
        "qa2.yaml",
        &app_yaml(IMG1, true).replace("replicas: 2", "replicas: 3"),
    );
    w.promote()
        .args([
            "qa",
            "--from-env",
            "dev",
            "--app",
            "web",
            "--manifests",
            &rerendered,
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .success();
    assert!(w
        .show("main:clusters/qa/web/apps.v1.Deployment.shop.web.yaml")
        .contains("replicas: 3"));

    // Status shows both environments with the same source commit.
    let status = w
        .promote()
        .args(["status", "--repo", &w.url()])
        .run()
        .success();
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert!(
        lines[0].starts_with("APP  ENV   SOURCE COMMIT  DIGEST"),
        "{}",
        status.stdout
    );
    assert!(
        lines[1].starts_with("web  dev   feedface00") && lines[1].trim_end().ends_with('-'),
        "{}",
        status.stdout
    );
    assert!(
        lines[2].starts_with("web  qa    feedface00") && lines[2].trim_end().ends_with("dev"),
        "{}",
        status.stdout
    );
    assert!(lines[3].starts_with("web  prod  -"), "{}", status.stdout);
    w.promote()
        .args(["status", "--app", "nope", "--repo", &w.url()])
        .run()
        .code(2)
        .stderr_contains("unknown app \"nope\"");
}

#[test]
fn rollback_reverts_the_last_promotion() {
    let w = World::new();
    let m1 = w.manifests("v1.yaml", &app_yaml(IMG1, true));
    let m2 = w.manifests("v2.yaml", &app_yaml(IMG2, false));
    direct(&w, "dev", "web", &m1).success();
    let v1_tree = w.remote(&["rev-parse", "main:clusters/dev/web"]);
    direct(&w, "dev", "web", &m2).success();
    let promoted = w.tip();
    // An unrelated commit after the promotion does not confuse it.
    direct(
        &w,
        "dev",
        "api",
        &w.manifests(
            "api.yaml",
            &app_yaml(IMG1, false).replace("name: web", "name: api"),
        ),
    )
    .success();

    let run = w
        .promote()
        .args([
            "rollback",
            "dev",
            "--app",
            "web",
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .success();
    assert!(run.stdout.starts_with("dev/web: pushed"), "{}", run.stdout);
    assert_eq!(w.remote(&["rev-parse", "main:clusters/dev/web"]), v1_tree);
    let msg = w.remote(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.starts_with("Revert \"Promote web to dev (source 0123456)\"\n\nThis reverts commit "),
        "{msg}"
    );
    assert!(msg.contains(&format!("Rollback-Of: {promoted}")), "{msg}");
    assert_eq!(
        w.files("main", "clusters/dev/api").len(),
        3,
        "the other app was touched"
    );

    // By pull request (the default), on a GitHub mock.
    let mock = Mock::start(Kind::Github, "ghp_rollbacktoken");
    let run = w
        .promote()
        .args([
            "rollback",
            "dev",
            "--app",
            "web",
            "--repo",
            &w.url(),
            "--provider",
            "github",
            "--api-url",
            &mock.api_url(),
            "--project",
            "acme/gitops",
        ])
        .env("GITHUB_TOKEN", "ghp_rollbacktoken")
        .run()
        .success();
    assert_eq!(run.stdout.trim(), "https://github.com/acme/gitops/pull/1");
    let pr = &mock.prs()[0];
    assert!(pr.head.starts_with("rollback/dev/web-"), "{}", pr.head);
    assert!(pr.title.starts_with("Revert \"Revert"), "{}", pr.title);
    assert_eq!(mock.violations(), Vec::<String>::new());

    // --to: back to the state of a given commit.
    let first = w
        .remote(&["rev-list", "--reverse", "main"])
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    w.promote()
        .args([
            "rollback",
            "dev",
            "--app",
            "api",
            "--to",
            &first,
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .success();
    assert_eq!(w.files("main", "clusters/dev/api"), Vec::<String>::new());
    // Nothing to roll back for an app that was never promoted.
    w.promote()
        .args([
            "rollback",
            "prod",
            "--app",
            "web",
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .code(2)
        .stderr_contains("unknown app \"web\" in prod");
}

#[test]
fn a_remote_that_allows_partial_clone_is_fetched_without_blobs() {
    let w = World::new();
    // As GitHub and GitLab do: the scratch clone then holds commits and trees, no blobs.
    w.remote(&["config", "uploadpack.allowFilter", "true"]);
    write(&w.path("tpl"), "kustomization.yaml", "resources: []\n");
    let m1 = w.manifests("v1.yaml", &app_yaml(IMG1, true));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m1,
            "--templates",
            &w.path("tpl").display().to_string(),
            "--repo",
            &w.url(),
            "--source-commit",
            "abc1234567",
        ])
        .run()
        .success();
    let m2 = w.manifests("v2.yaml", &app_yaml(IMG2, false));
    let run = direct(&w, "dev", "web", &m2).success();
    assert!(run.stdout.contains("pushed"), "{}", run.stdout);
    // The image change was read from the previous provenance record (a lazily fetched blob).
    let msg = w.remote(&["log", "-1", "--format=%B", "main"]);
    assert!(msg.contains(&format!("{IMG1} -> {IMG2}")), "{msg}");
    w.promote()
        .args([
            "qa",
            "--from-env",
            "dev",
            "--app",
            "web",
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .success();
    assert_eq!(w.files("main", "clusters/qa/web").len(), 3);
    assert_eq!(w.files("main", "templates/qa/web"), ["kustomization.yaml"]);
    w.promote()
        .args(["status", "--app", "web", "--repo", &w.url()])
        .run()
        .success()
        .stdout_contains("0123456789ab");
    w.promote()
        .args([
            "rollback",
            "dev",
            "--app",
            "web",
            "--repo",
            &w.url(),
            "--direct",
        ])
        .run()
        .success();
    assert!(w
        .show("main:clusters/dev/web/apps.v1.Deployment.shop.web.yaml")
        .contains(IMG1));
    w.git(&["--git-dir", "remote.git", "fsck", "--strict"])
        .success();
}

#[test]
fn environments_can_live_on_their_own_branches() {
    let w = World::new();
    write(&w.path("seed"), ".gitops/promote.yaml", "environments:\n- name: dev\n  pullRequest: false\n- name: prod\n  branch: production\n  pullRequest: false\n  path: deploy/{app}\n");
    w.git_in("seed", &["add", "-A"]).success();
    w.git_in("seed", &["commit", "-q", "-m", "config"])
        .success();
    w.git_in("seed", &["push", "-q", "origin", "main", "main:production"])
        .success();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
            "--source-commit",
            "c0ffee",
        ])
        .run()
        .success();
    let main = w.tip();
    let run = w
        .promote()
        .args([
            "prod",
            "--from-env",
            "dev",
            "--app",
            "web",
            "--repo",
            &w.url(),
        ])
        .run()
        .success();
    assert!(run.stdout.contains("to production"), "{}", run.stdout);
    assert_eq!(w.tip(), main, "main moved");
    assert_eq!(w.files("production", "deploy/web").len(), 3);
    assert_eq!(
        w.files("production", "clusters/dev/web"),
        Vec::<String>::new()
    );
    let status = w
        .promote()
        .args(["status", "--repo", &w.url()])
        .run()
        .success()
        .stdout;
    assert!(
        status.lines().any(|l| l.starts_with("web  prod  c0ffee")),
        "{status}"
    );
}

#[test]
fn provenance_comes_from_ci_variables_or_the_app_repository() {
    let w = World::new();
    w.git(&["init", "-q", "-b", "main", "app"]).success();
    write(&w.path("app"), "main.go", "package main\n");
    w.git_in("app", &["add", "-A"]).success();
    w.git_in("app", &["commit", "-q", "-m", "app"]).success();
    w.git_in(
        "app",
        &[
            "remote",
            "add",
            "origin",
            "https://bot:s3cr3t@git.example.com/apps/web.git",
        ],
    )
    .success();
    let head = w
        .git_in("app", &["rev-parse", "HEAD"])
        .success()
        .stdout
        .trim()
        .to_owned();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--repo",
            &w.url(),
            "--direct",
        ])
        .current_dir(w.path("app"))
        .run()
        .success();
    let prov = w.show("main:clusters/dev/web/.promotion");
    assert!(prov.contains(&format!("sourceCommit: {head}")), "{prov}");
    assert!(
        prov.contains("sourceRepository: https://git.example.com/apps/web.git"),
        "{prov}"
    );
    assert!(!w
        .remote(&["log", "-1", "--format=%B", "main"])
        .contains("s3cr3t"));
    // CI variables win over the directory.
    let m2 = w.manifests("app2.yaml", &app_yaml(IMG2, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m2,
            "--repo",
            &w.url(),
            "--direct",
        ])
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/web")
        .env("GITHUB_SHA", "99aa99aa")
        .current_dir(w.path("app"))
        .run()
        .success();
    let trailers = w.remote(&["log", "-1", "--format=%(trailers:only,unfold)", "main"]);
    assert!(
        trailers
            .contains("Source-Repository: https://github.com/acme/web\nSource-Commit: 99aa99aa"),
        "{trailers}"
    );
}

// --- Hardening (issue 14) ---------------------------------------------------------------------

#[test]
fn templates_never_read_through_links_that_leave_the_directory() {
    use std::os::unix::fs::symlink;
    let w = World::new();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    let secret = write(
        w.root(),
        "ci-secret.env",
        "DEPLOY_TOKEN=tok-leak-0123456789\n",
    );
    let tpl = w.path("tpl");
    write(
        &tpl,
        "base/kustomization.yaml",
        "resources: [deploy.yaml]\n",
    );
    write(&tpl, "base/deploy.yaml", "kind: Deployment\n");
    let promote = |dir: &Path| {
        w.promote()
            .args(["dev", "--app", "web", "--manifests", &m, "--direct"])
            .arg("--templates")
            .arg(dir)
            .args(["--repo", &w.url()])
            .run()
    };
    let tip = w.tip();
    for (name, target) in [
        ("environ", "/proc/self/environ".to_owned()),
        ("abs", secret.display().to_string()),
        ("up", "../ci-secret.env".to_owned()),
    ] {
        let link = tpl.join(name);
        symlink(&target, &link).unwrap();
        let run = promote(&tpl).code(2);
        assert!(
            run.stderr
                .contains(&format!("{name} is a symbolic link to {target}, which "))
                && run.stderr.contains("refusing to commit it"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("tok-leak"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert_eq!(w.tip(), tip, "{name}: something was pushed");
        std::fs::remove_file(&link).unwrap();
    }
    // A link that stays inside is committed as a Git symbolic link, never as the target's content.
    symlink("base/deploy.yaml", tpl.join("deploy.yaml")).unwrap();
    promote(&tpl).success().stdout_contains("pushed");
    let entry = w.remote(&["ls-tree", "main", "templates/dev/web/deploy.yaml"]);
    assert!(entry.starts_with("120000 blob "), "{entry}");
    assert_eq!(
        w.show("main:templates/dev/web/deploy.yaml"),
        "base/deploy.yaml"
    );
    // `git grep` exits 1: the secret is nowhere in the repository.
    w.git(&["--git-dir", "remote.git", "grep", "-c", "tok-leak", "main"])
        .code(1);
}

#[test]
fn a_missing_remote_or_a_clone_without_origin_is_an_error() {
    let w = World::new();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    w.git(&["clone", "-q", "remote.git", "mine"]).success();
    let clone_main = |w: &World| w.git_in("mine", &["rev-parse", "main"]).success().stdout;
    let before = clone_main(&w);
    let tip = w.tip();
    let promote = |repo: &str, extra: &[&str]| {
        w.promote()
            .args([
                "dev",
                "--app",
                "web",
                "--manifests",
                &m,
                "--direct",
                "--repo",
                repo,
            ])
            .args(extra)
            .run()
    };
    // A typo in --remote.
    let run = promote("mine", &["--remote", "orign"]).code(2);
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        "git-promote: error: mine: the repository has no remote \"orign\" (its remotes: origin)",
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: name the remote to push to with --remote"),
        "{}",
        run.stderr
    );
    // A clone without origin.
    w.git_in("mine", &["remote", "rename", "origin", "upstream"])
        .success();
    let run = promote("mine", &[]).code(2);
    assert!(
        run.stderr
            .contains("mine: the repository has no remote \"origin\" (its remotes: upstream)"),
        "{}",
        run.stderr
    );
    // A remote that is the clone itself.
    w.git_in("mine", &["remote", "add", "origin", "."])
        .success();
    let run = promote("mine", &[]).code(2);
    assert!(
        run.stderr
            .contains("remote \"origin\" (.) is the repository itself"),
        "{}",
        run.stderr
    );
    // Nothing moved anywhere, nothing claimed.
    assert_eq!(clone_main(&w), before, "the clone's own main moved");
    assert_eq!(w.tip(), tip);
    // The named remote works, and a bare repository given by path is the remote itself.
    promote("mine", &["--remote", "upstream"])
        .success()
        .stdout_contains("dev/web: pushed ");
    assert_eq!(clone_main(&w), before, "the clone's own main moved");
    assert_ne!(w.tip(), tip);
    let m2 = w.manifests("app2.yaml", &app_yaml(IMG2, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m2,
            "--direct",
            "--repo",
            "remote.git",
        ])
        .run()
        .success()
        .stdout_contains("dev/web: pushed ");
    assert!(w
        .show("main:clusters/dev/web/apps.v1.Deployment.shop.web.yaml")
        .contains(IMG2));
    // --remote for a bare repository without that remote is an error too.
    promote("remote.git", &["--remote", "origin"])
        .code(2)
        .stderr_contains("has no remote \"origin\" (it has no remotes)");
}

/// A `git` that, on `ls-remote`, is interrupted: `$INTERRUPT=self` interrupts only itself (git
/// dies of SIGINT: someone stopped it), `group` its whole process group, as Ctrl-C in a
/// terminal or a cancelled CI job does (git-promote and its git child get SIGINT together).
fn interrupting_git(w: &World) -> PathBuf {
    let bin = w.path("intbin");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = ls-remote ]; then\n  if [ \"$INTERRUPT\" = group ]; then kill -INT 0; else kill -INT $$; fi; sleep 5\nfi; done\nexec {} \"$@\"\n",
        real.trim()
    );
    write(&bin, "git", script);
    std::fs::set_permissions(
        bin.join("git"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    bin
}

#[test]
fn an_interrupt_just_after_start_exits_130() {
    use std::os::unix::process::CommandExt;
    let w = World::new();
    let bin = interrupting_git(&w);
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    let tip = w.tip();
    for mode in ["self", "group", "group", "group"] {
        let mut cmd = std::process::Command::new(harness::bin("git-promote"));
        cmd.args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--direct",
            "--repo",
            &w.url(),
        ])
        .env("PATH", path_with(&bin))
        .env("INTERRUPT", mode)
        .env("HOME", w.home())
        .current_dir(w.root())
        // Its own process group: the interrupt must not reach the test runner.
        .process_group(0)
        .stdin(std::process::Stdio::null());
        for v in SCRUB {
            cmd.env_remove(v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{mode}: {stderr}");
        assert!(!stderr.contains("failed"), "{mode}: {stderr}");
        assert!(stderr.contains("interrupted"), "{mode}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(w.tip(), tip);
}

#[test]
fn without_a_host_api_the_promotion_branch_is_pushed_with_the_servers_hint() {
    let w = World::new();
    // As GitLab, Bitbucket and Gerrit do: the server prints where to open the pull request.
    write(
        &w.path("remote.git"),
        "hooks/post-receive",
        "#!/bin/sh\nwhile read old new ref; do echo \"To create a pull request for ${ref#refs/heads/}, visit:\"; echo \"  https://git.example.com/gitops/compare/${ref#refs/heads/}\"; done\n",
    );
    std::fs::set_permissions(
        w.path("remote.git/hooks/post-receive"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    let tip = w.tip();
    let args = [
        "prod",
        "--app",
        "web",
        "--manifests",
        m.as_str(),
        "--provider",
        "none",
        "--source-commit",
        "0123456789abcdef",
    ];
    let run = w
        .promote()
        .args(args)
        .args(["--repo", &w.url()])
        .run()
        .success();
    let branch = w
        .branches()
        .into_iter()
        .find(|b| b.starts_with("promote/prod/web-"))
        .expect("the promotion branch was pushed");
    let commit = w.remote(&["rev-parse", &branch]).trim()[..12].to_owned();
    assert_eq!(
        run.stdout,
        format!("prod/web: pushed {commit} to {branch}\n")
    );
    assert!(
        run.stderr.contains(&format!(
            "git-promote: prod/web: 2 created, 0 changed, 0 deleted; pushed {branch}: open a pull request from {branch} into main"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "git-promote: remote:   https://git.example.com/gitops/compare/{branch}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(w.tip(), tip, "main moved");
    assert_eq!(w.files(&branch, "clusters/prod/web").len(), 3);
    // Again: nothing new is pushed, and it says so.
    let again = w
        .promote()
        .args(args)
        .args(["--repo", &w.url()])
        .run()
        .success();
    assert_eq!(
        again.stdout,
        format!("prod/web: {branch} already holds this change ({commit})\n")
    );
    // Waiting or auto-merging needs an API: refused before anything is pushed.
    let before = w.branches();
    let m2 = w.manifests("app2.yaml", &app_yaml(IMG2, false));
    w.promote()
        .args([
            "prod",
            "--app",
            "web",
            "--manifests",
            &m2,
            "--provider",
            "none",
            "--wait",
        ])
        .args(["--repo", &w.url()])
        .run()
        .code(2)
        .stderr_contains("--wait needs a Git host's API");
    assert_eq!(w.branches(), before);
    // An unknown host says how to get this mode.
    w.promote()
        .args([
            "prod",
            "--app",
            "web",
            "--manifests",
            &m2,
            "--repo",
            &w.url(),
        ])
        .run()
        .code(2)
        .stderr_contains("(none: push the promotion branch only)");
}

#[test]
fn credentials_a_git_server_echoes_are_never_printed() {
    let w = World::new();
    let echo = GitHttp::echoing_auth(w.root());
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    let url = format!("http://ci:s3cret-pass@127.0.0.1:{}/remote.git", echo.port());
    let run = w
        .promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m,
            "--direct",
            "--repo",
            &url,
        ])
        .run()
        .code(2);
    // git shows the server's text; the credential in it (plain, or base64 in the header) is masked.
    assert!(
        run.stderr.contains("access denied: you sent"),
        "{}",
        run.stderr
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("ci:s3cret-pass");
    for leak in ["s3cret-pass", basic.as_str()] {
        assert!(!run.stderr.contains(leak), "{leak} leaked: {}", run.stderr);
    }
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn credentials_a_host_api_echoes_are_never_printed() {
    use base64::Engine as _;
    for kind in [Kind::Azure, Kind::Github, Kind::BitbucketServer] {
        let w = World::new();
        let token = format!("pat-{}-0123456789", kind.flag());
        let mock = Mock::start(kind, &token);
        mock.echo_auth();
        let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
        let run = pr_cmd(&w, &mock, &["prod", "--app", "web", "--manifests", &m])
            .run()
            .code(2);
        assert!(run.stderr.contains("may not do this"), "{}", run.stderr);
        // Azure sends a PAT as Basic base64(":PAT"); the others as Bearer.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(":{token}"));
        for leak in [token.as_str(), basic.as_str()] {
            assert!(
                !run.stderr.contains(leak),
                "{kind:?}: {leak} leaked: {}",
                run.stderr
            );
        }
        assert_eq!(w.branches(), ["main"]);
    }
}

#[test]
fn small_mistakes_are_one_clear_line_before_anything_is_pushed() {
    let w = World::new();
    let tip = w.tip();
    let good = w.manifests("good.yaml", &app_yaml(IMG1, false));
    let case = w.manifests(
        "case.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Web, namespace: shop}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\n",
    );
    let colon = w.manifests(
        "colon.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"a\\nb\"}\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--manifests", &case],
            "file name v1.ConfigMap.shop.web.yaml differs only in letter case from the file name of ConfigMap/shop/Web",
        ),
        (vec!["--manifests", &colon], "cannot be written as a file"),
        (
            vec!["--manifests", &good, "--branch-template", "promote/{app} now"],
            "--branch-template \"promote/{app} now\" does not make a valid branch name",
        ),
        (
            vec!["--manifests", &good, "--branch-template", "x/{app}.lock"],
            "ends with \".lock\"",
        ),
    ];
    for (args, expected) in cases {
        let run = w
            .promote()
            .args(["dev", "--app", "web", "--direct", "--repo", &w.url()])
            .args(&args)
            .run()
            .code(2);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    w.promote()
        .args(["dev", "--app=-web", "--manifests", &good, "--repo", &w.url()])
        .run()
        .code(2)
        .stderr_contains("app name \"-web\" must be 1 to 63 characters: lowercase letters, digits, '-', '_' and '.', not starting with '-' or '.'");
    assert_eq!(w.tip(), tip);
    assert_eq!(w.branches(), ["main"]);
}

#[test]
fn config_paths_and_branches_are_checked_and_positions_printed_once() {
    let w = World::new();
    let m = w.manifests("app.yaml", &app_yaml(IMG1, false));
    let config = |text: &str| {
        let file = write(w.root(), "promote.yaml", text);
        w.promote()
            .args(["dev", "--app", "web", "--manifests", &m, "--repo", &w.url()])
            .arg("--config")
            .arg(&file)
            .run()
            .code(2)
    };
    config("environments:\n- name: dev\n  path: /srv/clusters/{app}\n").stderr_contains(
        "environment \"dev\": path \"/srv/clusters/{app}\" must be relative to the repository root",
    );
    config("environments:\n- name: dev\n  branch: 'dev env'\n").stderr_contains(
        "environment \"dev\": branch \"dev env\" is not a valid branch name: it contains ' '",
    );
    let run = config("environments:\n- name: dev\n  pathh: x\n");
    assert!(run.stderr.contains("promote.yaml:3:"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("at line"),
        "position printed twice: {}",
        run.stderr
    );
    assert_eq!(w.branches(), ["main"]);
}

#[test]
fn verbose_promotion_tells_the_story_and_rollback_errors_are_plain() {
    let w = World::new();
    let m1 = w.manifests("v1.yaml", &app_yaml(IMG1, true));
    let run = w
        .promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m1,
            "--direct",
            "--repo",
            &w.url(),
            "-v",
        ])
        .run()
        .success();
    for line in [
        "git-promote: dev/web: 3 created, 0 changed, 0 deleted\n",
        "git-promote:   + apps.v1.Deployment.shop.web\n",
        "git-promote:   + v1.ConfigMap.shop.web-config\n",
        &format!("git-promote:   image (none) -> {IMG1}\n"),
    ] {
        assert!(
            run.stderr.contains(line),
            "missing {line:?} in\n{}",
            run.stderr
        );
    }
    let m2 = w.manifests("v2.yaml", &app_yaml(IMG2, false));
    let run = w
        .promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m2,
            "--direct",
            "--repo",
            &w.url(),
            "-v",
        ])
        .run()
        .success();
    assert!(
        run.stderr
            .contains("git-promote:   ~ apps.v1.Deployment.shop.web\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("git-promote:   - v1.ConfigMap.shop.web-config\n"),
        "{}",
        run.stderr
    );
    // Without -v, a direct promotion's stderr stays empty.
    let m3 = w.manifests("v3.yaml", &app_yaml(IMG1, false));
    w.promote()
        .args([
            "dev",
            "--app",
            "web",
            "--manifests",
            &m3,
            "--direct",
            "--repo",
            &w.url(),
        ])
        .run()
        .success()
        .stderr_is("");
    let run = w
        .promote()
        .args([
            "rollback",
            "dev",
            "--app",
            "web",
            "--to",
            "HEAD~100",
            "--direct",
            "--repo",
            &w.url(),
        ])
        .run()
        .code(2);
    assert_eq!(
        run.stderr,
        "git-promote: error: --to HEAD~100: no such commit in the history of main\n"
    );
    // HEAD means the environment branch's tip, in a scratch clone too.
    w.promote()
        .args([
            "rollback",
            "dev",
            "--app",
            "web",
            "--to",
            "HEAD~2",
            "--direct",
            "--repo",
            &w.url(),
        ])
        .run()
        .success()
        .stdout_contains("dev/web: pushed");
    assert!(w
        .show("main:clusters/dev/web/apps.v1.Deployment.shop.web.yaml")
        .contains(IMG1));
    assert_eq!(w.files("main", "clusters/dev/web").len(), 4);
}
