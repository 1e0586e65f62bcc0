//! Remote kustomization entries against real servers: Git repositories served by
//! `git http-backend` on 127.0.0.1 (a counting front so that cache reuse is measured in
//! requests) and as `file://` bare repositories, HTTP(S) files from the harness's tiny server.
//! Where the pinned kustomize can reach the same URL it is the oracle, byte for byte.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use harness::git_http::{self, GitHttp, Request, Response, Server};
use harness::{git, write, Cmd, Run};

fn config_map(name: &str, v: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{v}\"\n")
}

/// A repository `app.git` (bare, under `served/`): `base/` (a ConfigMap and a Deployment
/// using it), `overlay/` (`../base` with a prefix and labels), `escape/` (a file outside its
/// root), `leak/` (a directory outside the repository). Tag `v1` (annotated) on the first
/// commit, branch `next` at it; `main` one commit later.
struct Repo {
    _tmp: tempfile::TempDir,
    served: PathBuf,
    bare: PathBuf,
    work: PathBuf,
    first: String,
    second: String,
}

impl Repo {
    fn new() -> Self {
        let tmp = harness::tempdir();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        write(
            &work,
            "base/kustomization.yaml",
            "resources:\n- cm.yaml\n- deploy.yaml\n",
        );
        write(&work, "base/cm.yaml", config_map("settings", "1"));
        write(
            &work,
            "base/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        envFrom:\n        - configMapRef:\n            name: settings\n",
        );
        write(
            &work,
            "overlay/kustomization.yaml",
            "resources:\n- ../base\nnamePrefix: remote-\nlabels:\n- pairs:\n    from: repo\n",
        );
        write(
            &work,
            "escape/kustomization.yaml",
            "resources:\n- ../base/cm.yaml\n",
        );
        write(&work, "leak/kustomization.yaml", "resources:\n- ../..\n");
        write(
            &work,
            "comp/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  component: remote\n",
        );
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "one"]);
        let first = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["tag", "-a", "v1", "-m", "v1"]);
        git(&work, &["branch", "next"]);
        write(&work, "base/cm.yaml", config_map("settings", "2"));
        git(&work, &["commit", "-q", "-am", "two"]);
        let second = git(&work, &["rev-parse", "HEAD"]);
        let served = tmp.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        let bare = served.join("app.git");
        git(
            &served,
            &["clone", "-q", "--bare", work.to_str().unwrap(), "app.git"],
        );
        Repo {
            _tmp: tmp,
            served,
            bare,
            work,
            first,
            second,
        }
    }

    /// A new commit on `main` of the served repository.
    fn push_change(&self, v: &str) -> String {
        write(&self.work, "base/cm.yaml", config_map("settings", v));
        git(&self.work, &["commit", "-q", "-am", v]);
        git(
            &self.work,
            &["push", "-q", self.bare.to_str().unwrap(), "main"],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

#[test]
fn a_remote_component_matches_kustomize_and_one_repository_is_fetched_once_per_build() {
    let repo = Repo::new();
    let server = Counting::start(&repo.served);
    let tmp = harness::tempdir();
    let dir = tmp.path().join("k");
    write(
        &dir,
        "kustomization.yaml",
        format!(
            "resources:\n- {0}\ncomponents:\n- {1}\n",
            server.url("app.git//base?ref=v1"),
            server.url("app.git//comp?ref=v1")
        ),
    );
    let out = render(&dir, &tmp.path().join("cache"), &[])
        .success()
        .stdout;
    assert!(out.contains("component: remote"), "{out}");
    let downloads = server.take().into_iter().filter(downloads).count();
    assert_eq!(downloads, 1, "base and component share one fetch");
    same_as_kustomize(&dir, &tmp.path().join("home"));
}

/// `git http-backend` behind a server that records every request.
struct Counting {
    server: Server,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Counting {
    fn start(root: &Path) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (root, seen) = (root.to_path_buf(), log.clone());
        let server = Server::start(move |req| {
            seen.lock().unwrap().push(req.clone());
            git_http::cgi(&root, &req)
        });
        Counting { server, log }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/{rest}", self.server.base())
    }

    /// The Git protocol requests since the last call (kustomize's order first GETs an
    /// `http(s)://` entry as a file; that probe, answered 404, is left out).
    fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.log.lock().unwrap())
            .into_iter()
            .filter(|r| r.path.ends_with("/info/refs") || r.path.ends_with("/git-upload-pack"))
            .collect()
    }
}

/// Whether a request asked for objects (a protocol v2 `fetch` command or a v0 `want`), not only
/// for the refs.
fn downloads(req: &Request) -> bool {
    let body = String::from_utf8_lossy(&req.body);
    body.contains("command=fetch") || body.contains("want ")
}

/// A kustomization directory holding `kustomization.yaml` with `resources`.
fn kustomization(dir: &Path, resources: &[&str]) -> PathBuf {
    let mut text = "resources:\n".to_owned();
    for r in resources {
        text.push_str(&format!("- {r}\n"));
    }
    write(dir, "kustomization.yaml", text);
    dir.to_path_buf()
}

/// manifest-render with its own cache and a clean Git environment.
fn render(dir: &Path, cache: &Path, extra: &[&str]) -> Run {
    Cmd::new("manifest-render")
        .arg(dir)
        .arg("--remote-cache")
        .arg(cache)
        .args(extra)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", cache)
        .run()
}

/// The pinned kustomize, or `None` (skip locally, fail in CI).
fn kustomize() -> Option<PathBuf> {
    let found = harness::cluster::tool("kustomize");
    if harness::skip_without(found.is_some(), "the pinned kustomize CLI (the oracle)") {
        return None;
    }
    found
}

fn oracle(kustomize: &Path, dir: &Path, home: &Path) -> Run {
    Cmd::program(kustomize)
        .arg("build")
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", home)
        .run()
}

/// Renders `dir` with both tools; asserts byte-identical output and returns it.
fn same_as_kustomize(dir: &Path, cache: &Path) -> Option<String> {
    let k = kustomize()?;
    let ours = render(dir, cache, &[]).success();
    let theirs = oracle(&k, dir, cache);
    assert_eq!(theirs.code, 0, "kustomize failed:\n{}", theirs.stderr);
    assert_eq!(ours.stdout, theirs.stdout, "manifest-render vs kustomize");
    Some(ours.stdout)
}

#[test]
fn git_bases_over_smart_http_match_kustomize_at_tag_branch_commit_and_head() {
    let repo = Repo::new();
    let server = GitHttp::start(&repo.served);
    let tmp = harness::tempdir();
    let cache = tmp.path().join("cache");
    let url = server.url("app.git");
    for (name, entry, v) in [
        ("tag", format!("{url}//base?ref=v1"), "1"),
        ("branch", format!("{url}//base?ref=next"), "1"),
        ("commit", format!("{url}//base?ref={}", repo.first), "1"),
        ("head", format!("{url}//base"), "2"),
        ("version", format!("{url}//base?version=main"), "2"),
        ("git-suffix-path", format!("{url}/base?ref=v1"), "1"),
    ] {
        let dir = kustomization(&tmp.path().join(name), &[&entry]);
        let out = render(&dir, &cache, &[]).success().stdout;
        assert!(
            out.contains(&format!("  v: \"{v}\"\n")),
            "{name}: {entry}\n{out}"
        );
        assert!(out.contains("kind: Deployment"), "{name}\n{out}");
        same_as_kustomize(&dir, &tmp.path().join("home"));
    }
}

#[test]
fn an_overlay_in_the_repository_uses_its_sibling_base_and_local_changes_apply_on_top() {
    let repo = Repo::new();
    let server = GitHttp::start(&repo.served);
    let tmp = harness::tempdir();
    let dir = tmp.path().join("env");
    write(
        &dir,
        "kustomization.yaml",
        format!(
            "resources:\n- {}//overlay?ref=v1\n- local.yaml\nnamespace: prod\nimages:\n- name: nginx\n  newTag: \"1.28\"\n",
            server.url("app.git")
        ),
    );
    write(&dir, "local.yaml", config_map("local", "x"));
    let out = render(&dir, &tmp.path().join("cache"), &[])
        .success()
        .stdout;
    assert!(out.contains("name: remote-settings"), "{out}");
    assert!(out.contains("image: nginx:1.28"), "{out}");
    assert!(out.contains("from: repo"), "{out}");
    assert!(out.contains("namespace: prod"), "{out}");
    same_as_kustomize(&dir, &tmp.path().join("home"));
}

#[test]
fn file_urls_of_bare_repositories_match_kustomize() {
    let repo = Repo::new();
    let tmp = harness::tempdir();
    let bare = repo.bare.display().to_string();
    for (name, entry) in [
        ("dslash", format!("file://{bare}//base?ref=v1")),
        (
            "suffix",
            format!("file://{bare}/overlay?ref={}", repo.second),
        ),
    ] {
        let dir = kustomization(&tmp.path().join(name), &[&entry]);
        if let Some(out) = same_as_kustomize(&dir, &tmp.path().join("home")) {
            assert!(out.contains("kind: ConfigMap"), "{out}");
        }
        render(&dir, &tmp.path().join("cache"), &[]).success();
    }
}

#[test]
fn a_pinned_commit_is_fetched_once_and_a_branch_only_asks_for_refs_when_unchanged() {
    let repo = Repo::new();
    let server = Counting::start(&repo.served);
    let tmp = harness::tempdir();
    let cache = tmp.path().join("cache");

    let pinned = kustomization(
        &tmp.path().join("pinned"),
        &[&server.url(&format!("app.git//base?ref={}", repo.first))],
    );
    render(&pinned, &cache, &[]).success();
    let first = server.take();
    assert!(first.iter().any(downloads), "first render fetches");
    let again = render(&pinned, &cache, &[]).success();
    assert!(again.stdout.contains("  v: \"1\"\n"), "{}", again.stdout);
    assert_eq!(
        server.take().len(),
        0,
        "a commit already in the cache needs no request"
    );

    // The same repository by branch: the cache holds it, so only the refs are asked for.
    let branch = kustomization(
        &tmp.path().join("branch"),
        &[&server.url("app.git//base?ref=main")],
    );
    let out = render(&branch, &cache, &[]).success().stdout;
    assert!(out.contains("  v: \"2\"\n"), "{out}");
    let requests = server.take();
    assert!(!requests.is_empty(), "a branch is looked up");
    assert!(
        !requests.iter().any(downloads),
        "nothing new to download: {:?}",
        requests.iter().map(|r| &r.path).collect::<Vec<_>>()
    );

    // A new commit on the branch is fetched and rendered.
    repo.push_change("3");
    let out = render(&branch, &cache, &[]).success().stdout;
    assert!(out.contains("  v: \"3\"\n"), "{out}");
    assert!(server.take().iter().any(downloads));

    // A second render into a fresh cache downloads again (the cache is what saved it).
    render(&pinned, &tmp.path().join("other-cache"), &[]).success();
    assert!(server.take().iter().any(downloads));
}

#[test]
fn http_files_match_kustomize_and_errors_name_the_entry() {
    let body = config_map("from-http", "h");
    let server = Server::start(move |req| match req.path.as_str() {
        "/cm.yaml" => Response {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.clone().into_bytes(),
        },
        "/big.yaml" => Response {
            status: 200,
            headers: vec![],
            body: vec![b'#'; 40 << 20],
        },
        _ => Response {
            status: 404,
            headers: vec![],
            body: b"not found\n".to_vec(),
        },
    });
    let tmp = harness::tempdir();
    let cache = tmp.path().join("cache");
    let ok = kustomization(
        &tmp.path().join("ok"),
        &[&format!("{}/cm.yaml", server.base())],
    );
    let out = render(&ok, &cache, &[]).success().stdout;
    assert!(out.contains("name: from-http"), "{out}");
    same_as_kustomize(&ok, &tmp.path().join("home"));

    let missing_url = format!("{}/missing.yaml", server.base());
    let missing = kustomization(&tmp.path().join("missing"), &[&missing_url]);
    let run = render(&missing, &cache, &[]).code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "resources entry \"{missing_url}\": HTTP status 404"
        )),
        "{}",
        run.stderr
    );
    if let Some(k) = kustomize() {
        assert_ne!(oracle(&k, &missing, &tmp.path().join("home")).code, 0);
    }

    let big = kustomization(
        &tmp.path().join("big"),
        &[&format!("{}/big.yaml", server.base())],
    );
    render(&big, &cache, &[])
        .code(2)
        .stderr_contains("the file is larger than 33554432 bytes");

    render(&ok, &cache, &["--remote", "git"])
        .code(2)
        .stderr_contains("remote files (HTTP URLs) are turned off")
        .stderr_contains("hint: ");
}

#[test]
fn no_remote_refuses_git_and_http_entries_with_a_hint() {
    let tmp = harness::tempdir();
    let cache = tmp.path().join("cache");
    for entry in [
        "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v3.3.1",
        "git@github.com:org/repo//dir",
        "https://example.com/x.yaml",
    ] {
        let dir = kustomization(&tmp.path().join("k"), &[entry]);
        let run = render(&dir, &cache, &["--no-remote"]).code(2);
        assert!(
            run.stderr
                .contains(&format!("resources entry \"{entry}\": remote")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("are turned off"), "{}", run.stderr);
        assert!(run.stderr.contains("hint: vendor it"), "{}", run.stderr);
    }
    // Components too, and `--remote http` still refuses Git.
    write(
        &tmp.path().join("c"),
        "kustomization.yaml",
        "components:\n- ssh://git@example.com/org/repo//comp\n",
    );
    render(&tmp.path().join("c"), &cache, &["--remote", "http"])
        .code(2)
        .stderr_contains(
            // Shown without its user-info part, as every URL in a message.
            "components entry \"ssh://example.com/org/repo//comp\": remote Git repositories are turned off",
        );
}

#[test]
fn fetch_errors_are_one_line_naming_the_entry_and_never_the_password() {
    let repo = Repo::new();
    let tmp = harness::tempdir();
    let cache = tmp.path().join("cache");
    let one_error = |dir: &Path, needle: &str| {
        let run = render(dir, &cache, &[]).code(2);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(
            lines[0].starts_with("manifest-render: error: "),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(needle), "{needle:?}:\n{}", run.stderr);
        assert!(run.stdout.is_empty());
        run
    };
    let server = GitHttp::start(&repo.served);
    let url = server.url("app.git");

    let entry = format!("{url}//base?ref=no-such-tag");
    let dir = kustomization(&tmp.path().join("ref"), &[&entry]);
    one_error(
        &dir,
        &format!("resources entry \"{entry}\": {url}: unknown revision \"no-such-tag\""),
    );

    let entry = format!("{url}//nowhere?ref=v1");
    let dir = kustomization(&tmp.path().join("subdir"), &[&entry]);
    one_error(
        &dir,
        &format!(
            "resources entry \"{entry}\": no directory \"nowhere\" in the repository at ref \"v1\""
        ),
    );

    let entry = format!("{url}//escape?ref=v1");
    let dir = kustomization(&tmp.path().join("escape"), &[&entry]);
    one_error(&dir, "security; file");

    let entry = format!("{url}//leak?ref=v1");
    let dir = kustomization(&tmp.path().join("leak"), &[&entry]);
    one_error(&dir, "must be within the repo");

    // Nothing listens on the port any more.
    let port = harness::free_port();
    let entry = format!("http://127.0.0.1:{port}/org/app.git//base?ref=v1");
    let dir = kustomization(&tmp.path().join("down"), &[&entry]);
    one_error(&dir, &format!("resources entry \"{entry}\": "));

    let entry = "file:///nonexistent/app.git//base".to_owned();
    let dir = kustomization(&tmp.path().join("nofile"), &[&entry]);
    one_error(&dir, "cannot fetch file:///nonexistent/app.git");

    // A server that wants credentials, given none: refused in one line.
    let guarded = GitHttp::with_auth(&repo.served, "alice", "right-password");
    let entry = format!("http://127.0.0.1:{}/app.git//base?ref=v1", guarded.port());
    let dir = kustomization(&tmp.path().join("noauth"), &[&entry]);
    one_error(&dir, &format!("resources entry \"{entry}\": cannot fetch "));

    // Credentials in the URL: never shown. gix sends none over plain HTTP (git would), so the
    // refusal is gix's; the password appears nowhere either way.
    let entry = format!(
        "http://alice:wrong-password-42@127.0.0.1:{}/app.git//base?ref=v1",
        guarded.port()
    );
    let dir = kustomization(&tmp.path().join("auth"), &[&entry]);
    let run = render(&dir, &cache, &[]).code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("wrong-password-42"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "resources entry \"http://127.0.0.1:{}/app.git//base?ref=v1\": ",
            guarded.port()
        )),
        "the entry is shown without its credentials: {}",
        run.stderr
    );
    assert!(run.stderr.contains("clear text"), "{}", run.stderr);
}

#[test]
fn a_remote_base_stays_root_only_whatever_the_load_restrictor() {
    let repo = Repo::new();
    let tmp = harness::tempdir();
    let dir = kustomization(
        &tmp.path().join("k"),
        &[&format!("file://{}//escape?ref=v1", repo.bare.display())],
    );
    render(
        &dir,
        &tmp.path().join("cache"),
        &["--load-restrictor", "None"],
    )
    .code(2)
    .stderr_contains("security; file");
    if let Some(k) = kustomize() {
        let run = Cmd::program(&k)
            .args(["build", "--load-restrictor", "LoadRestrictionsNone"])
            .arg(&dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", tmp.path())
            .run();
        assert_ne!(run.code, 0, "kustomize refuses it too:\n{}", run.stdout);
        assert!(run.stderr.contains("security"), "{}", run.stderr);
    }
}

#[test]
fn urls_in_patches_and_generator_files_are_fetched_as_kustomize_fetches_them() {
    let patch =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\ndata:\n  patched: \"yes\"\n";
    let server = Server::start(move |req| match req.path.as_str() {
        "/patch.yaml" => Response {
            status: 200,
            headers: vec![],
            body: patch.as_bytes().to_vec(),
        },
        "/app.env" => Response {
            status: 200,
            headers: vec![],
            body: b"LEVEL=debug\nREGION=eu\n".to_vec(),
        },
        "/motd.txt" => Response {
            status: 200,
            headers: vec![],
            body: b"hello from http\n".to_vec(),
        },
        _ => Response {
            status: 404,
            headers: vec![],
            body: b"not found\n".to_vec(),
        },
    });
    let base = server.base();
    let tmp = harness::tempdir();
    let cache = tmp.path().join("cache");
    let dir = tmp.path().join("k");
    write(&dir, "cm.yaml", config_map("local", "l"));
    write(
        &dir,
        "kustomization.yaml",
        format!(
            "resources: [cm.yaml]\npatches:\n- path: {base}/patch.yaml\nconfigMapGenerator:\n- name: gen\n  envs: [{base}/app.env]\n  files: [{base}/motd.txt, renamed={base}/motd.txt]\n"
        ),
    );
    if let Some(out) = same_as_kustomize(&dir, &tmp.path().join("home")) {
        for needle in [
            "patched: \"yes\"",
            "LEVEL: debug",
            "motd.txt: |",
            "renamed: |",
        ] {
            assert!(out.contains(needle), "{needle} missing:\n{out}");
        }
    }

    // A missing file: one line naming the entry; with remote files off, refused with a hint.
    write(
        &dir,
        "kustomization.yaml",
        format!("resources: [cm.yaml]\npatches:\n- path: {base}/nothere.yaml\n"),
    );
    let run = render(&dir, &cache, &[]).code(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "patches entry \"{base}/nothere.yaml\": HTTP status 404"
        )),
        "{}",
        run.stderr
    );
    render(&dir, &cache, &["--no-remote"])
        .code(2)
        .stderr_contains("remote files (HTTP URLs) are turned off")
        .stderr_contains("hint: ");
}
