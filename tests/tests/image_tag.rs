//! `image-tag` end to end: the real binary against a real registry (docker-registry, started per
//! test on 127.0.0.1) and real git repositories, with skopeo as the oracle for digests.

use std::path::Path;
use std::process::Command;

use harness::registry::{self, Registry};
use harness::{git, tempdir, write, Cmd, Run};

fn image_tag() -> Cmd {
    // No credentials of the machine leak in; each test says which it uses.
    let empty = std::env::temp_dir().join("image-tag-test-no-docker-config");
    Cmd::new("image-tag")
        .env("DOCKER_CONFIG", &empty)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("IMAGE_TAG_BRANCH")
}

/// True when the test must be skipped for want of a registry (never in CI, where it fails).
fn no_registry() -> bool {
    harness::skip_without(
        registry::available(),
        "docker-registry and skopeo (apt-get install docker-registry skopeo)",
    )
}

fn commit_at(dir: &Path, file: &str, content: &str, time: i64) {
    write(dir, file, content);
    git(dir, &["add", "-A"]);
    let date = format!("@{time} +0000");
    let out = Command::new("git")
        .args(["commit", "-q", "-m", file])
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git commit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn new_repo() -> tempfile::TempDir {
    let dir = tempdir();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    dir
}

fn lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().collect()
}

// ---------------------------------------------------------------------------------------------
// compute

#[test]
fn compute_tags_for_head_with_version_tag() {
    let repo = new_repo();
    commit_at(repo.path(), "a.txt", "1", 1_700_000_000);
    commit_at(repo.path(), "b.txt", "2", 1_700_000_100);
    git(repo.path(), &["tag", "-a", "v1.4.2", "-m", "release"]);
    git(repo.path(), &["tag", "not-a-version"]);
    let sha = git(repo.path(), &["rev-parse", "HEAD"]);
    let run = image_tag()
        .args(["compute", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    assert_eq!(
        lines(&run),
        [
            "v1.4.2".to_owned(),
            format!("main-{}-1700000100", &sha[..7]),
            format!("sha-{}", &sha[..7])
        ]
    );

    let run = image_tag()
        .args(["compute", "-o", "json", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["commit"], sha.as_str());
    assert_eq!(json["branch"], "main");
    assert_eq!(json["timestamp"], 1_700_000_100);
    assert_eq!(json["tags"][0], "v1.4.2");
}

#[test]
fn compute_with_path_uses_the_last_commit_touching_it() {
    let repo = new_repo();
    commit_at(repo.path(), "svc-a/main.go", "a1", 1_700_000_000);
    let a_sha = git(repo.path(), &["rev-parse", "HEAD"]);
    commit_at(repo.path(), "svc-b/main.go", "b1", 1_700_000_050);
    commit_at(repo.path(), "svc-b/main.go", "b2", 1_700_000_100);
    let run = image_tag()
        .args(["compute", "--path", "svc-a", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    assert_eq!(
        run.stdout,
        format!("main-{}-1700000000\nsha-{}\n", &a_sha[..7], &a_sha[..7])
    );
    // git agrees.
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%H", "--", "svc-a"]),
        a_sha
    );

    // A change under another path does not make svc-a dirty; one under svc-a does.
    write(repo.path(), "svc-b/main.go", "dirty");
    image_tag()
        .args(["compute", "--require-clean", "--path", "svc-a", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    write(repo.path(), "svc-a/main.go", "dirty");
    image_tag()
        .args(["compute", "--require-clean", "--path", "svc-a", "--repo"])
        .arg(repo.path())
        .run()
        .code(2)
        .stderr_contains("uncommitted changes under svc-a");
}

#[test]
fn compute_with_path_across_merges_agrees_with_git_log() {
    let repo = new_repo();
    commit_at(repo.path(), "svc-a/x", "1", 1_700_000_000);
    git(repo.path(), &["checkout", "-q", "-b", "feature"]);
    commit_at(repo.path(), "svc-a/x", "2", 1_700_000_100);
    git(repo.path(), &["checkout", "-q", "main"]);
    commit_at(repo.path(), "svc-b/y", "1", 1_700_000_200);
    let out = Command::new("git")
        .args(["merge", "-q", "--no-ff", "-m", "merge", "feature"])
        .current_dir(repo.path())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_DATE", "@1700000300 +0000")
        .env("HOME", repo.path())
        .output()
        .expect("git merge");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    commit_at(repo.path(), "svc-b/y", "2", 1_700_000_400);
    for path in ["svc-a", "svc-b", "svc-a/x"] {
        let want = git(
            repo.path(),
            &["log", "-1", "--format=%h-%ct", "--abbrev=7", "--", path],
        );
        let run = image_tag()
            .args(["compute", "--path", path, "--repo"])
            .arg(repo.path())
            .run()
            .success();
        assert_eq!(lines(&run)[0], format!("main-{want}"), "--path {path}");
    }
}

#[test]
fn compute_dirty_tree_and_branch_sanitising() {
    let repo = new_repo();
    commit_at(repo.path(), "a.txt", "1", 1_700_000_000);
    git(repo.path(), &["checkout", "-q", "-b", "feature/Fix#42"]);
    let sha = git(repo.path(), &["rev-parse", "HEAD"]);
    // Untracked files do not count (as with git describe --dirty).
    write(repo.path(), "untracked.txt", "x");
    let run = image_tag()
        .args(["compute", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    assert_eq!(
        lines(&run)[0],
        format!("feature-Fix-42-{}-1700000000", &sha[..7])
    );
    write(repo.path(), "a.txt", "changed");
    let run = image_tag()
        .args(["compute", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    assert_eq!(
        lines(&run),
        [
            format!("feature-Fix-42-{}-1700000000-dirty", &sha[..7]),
            format!("sha-{}-dirty", &sha[..7])
        ]
    );
    image_tag()
        .args(["compute", "--require-clean", "--repo"])
        .arg(repo.path())
        .run()
        .code(2)
        .stderr_contains("uncommitted changes");
}

#[test]
fn compute_detached_head_uses_branch_flag() {
    let repo = new_repo();
    commit_at(repo.path(), "a.txt", "1", 1_700_000_000);
    let sha = git(repo.path(), &["rev-parse", "HEAD"]);
    git(repo.path(), &["checkout", "-q", "--detach"]);
    let run = image_tag()
        .args(["compute", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    assert_eq!(lines(&run), [format!("sha-{}", &sha[..7])]);
    let run = image_tag()
        .args(["compute", "--branch", "refs/heads/release/1.x", "--repo"])
        .arg(repo.path())
        .run()
        .success();
    assert_eq!(
        lines(&run)[0],
        format!("release-1.x-{}-1700000000", &sha[..7])
    );
}

#[test]
fn compute_outside_a_repository_fails_clearly() {
    let dir = tempdir();
    image_tag()
        .args(["compute", "--repo"])
        .arg(dir.path())
        .run()
        .code(2)
        .stderr_contains("not a git repository");
}

// ---------------------------------------------------------------------------------------------
// exists, digests

#[test]
fn exists_and_digests_match_skopeo() {
    if no_registry() {
        return;
    }
    let reg = Registry::start();
    let digest = reg.push_image("app:v1", "one");
    let (index, _) = reg.push_index(
        "multi:v1",
        "multi",
        &["linux/amd64", "linux/arm64", "linux/arm/v7"],
    );
    image_tag()
        .args(["exists", &reg.reference("app:v1")])
        .run()
        .success();
    image_tag()
        .args(["exists", &reg.reference("app:nope")])
        .run()
        .code(1);
    image_tag()
        .args(["exists", &reg.reference("never:v1")])
        .run()
        .code(1);
    image_tag()
        .args(["exists", &format!("{}@{digest}", reg.reference("app"))])
        .run()
        .success();

    // pin reports the digests skopeo reports (index digest for the multi-platform image).
    let stream = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: a, image: '{}'}}\n  - {{name: b, image: '{}'}}\n",
        reg.reference("app:v1"),
        reg.reference("multi:v1")
    );
    let run = image_tag().arg("pin").stdin(stream).run().success();
    assert_eq!(reg.skopeo_inspect_digest(&reg.reference("app:v1")), digest);
    assert_eq!(reg.skopeo_digest(&reg.reference("multi:v1")), index);
    run.stdout_contains(&format!("image: {}@{digest}", reg.reference("app:v1")))
        .stdout_contains(&format!("image: {}@{index}", reg.reference("multi:v1")));
}

#[test]
fn malformed_reference_is_an_error() {
    image_tag()
        .args(["exists", "Bad Ref"])
        .run()
        .code(2)
        .stderr_contains("invalid image reference");
    image_tag()
        .args(["exists", "127.0.0.1:1/app:v1"])
        .run()
        .code(2)
        .stderr_contains("cannot reach the registry");
}

// ---------------------------------------------------------------------------------------------
// pin and the lock file

fn deployment(images: &[String]) -> String {
    let containers: Vec<String> = images
        .iter()
        .enumerate()
        .map(|(i, img)| format!("      - name: c{i}\n        image: {img}\n"))
        .collect();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: {}\n      containers:\n{}",
        images[0],
        containers.concat()
    )
}

#[test]
fn pin_with_lock_then_locked_without_registry() {
    if no_registry() {
        return;
    }
    let mut reg = Registry::start();
    let d1 = reg.push_image("app:v1", "one");
    let (index, platforms) = reg.push_index("multi:v1", "m", &["linux/amd64", "linux/arm64"]);
    let dir = tempdir();
    let input = write(
        dir.path(),
        "in.yaml",
        deployment(&[
            reg.reference("app:v1"),
            reg.reference("multi:v1"),
            reg.reference("app:v1"),
        ]),
    );
    let lock = dir.path().join("images.lock");
    let run = image_tag()
        .arg("pin")
        .arg(&input)
        .arg("--lock")
        .arg(&lock)
        .run()
        .success();
    let pinned_app = format!("{}@{d1}", reg.reference("app:v1"));
    assert_eq!(run.stdout.matches(&pinned_app).count(), 3, "{}", run.stdout);
    let lock_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).expect("lock")).expect("json");
    let entry = &lock_json["images"][reg.reference("multi:v1")];
    assert_eq!(entry["digest"], index.as_str());
    assert_eq!(entry["platforms"][0]["platform"], "linux/amd64");
    assert_eq!(entry["platforms"][1]["digest"], platforms[1].as_str());

    // With the registry gone, --locked reproduces the same output from the lock alone.
    reg.stop();
    let again = image_tag()
        .arg("pin")
        .arg(&input)
        .arg("--lock")
        .arg(&lock)
        .arg("--locked")
        .run()
        .success();
    assert_eq!(again.stdout, run.stdout);

    // Pinned output pins again to itself under --locked (pinned refs need no lock entry).
    let pinned_input = write(dir.path(), "pinned.yaml", &run.stdout);
    let third = image_tag()
        .arg("pin")
        .arg(&pinned_input)
        .arg("--lock")
        .arg(&lock)
        .arg("--locked")
        .run()
        .success();
    assert_eq!(third.stdout, run.stdout);

    // A reference the lock does not have fails, naming where it is.
    let other = write(
        dir.path(),
        "other.yaml",
        deployment(&[reg.reference("app:v2")]),
    );
    image_tag()
        .arg("pin")
        .arg(&other)
        .arg("--lock")
        .arg(&lock)
        .arg("--locked")
        .run()
        .code(2)
        .stderr_contains("other.yaml:1")
        .stderr_contains("not in the lock file");
}

#[test]
fn pin_verifies_already_pinned_references() {
    if no_registry() {
        return;
    }
    let reg = Registry::start();
    let d1 = reg.push_image("app:v1", "one");
    let d2 = reg.push_image("app:v2", "two");
    // A pinned reference whose tag has moved keeps its digest (verified, not re-resolved).
    let stream = deployment(&[format!("{}@{d2}", reg.reference("app:v1"))]);
    let run = image_tag().arg("pin").stdin(stream).run().success();
    assert!(
        run.stdout.contains(&d2) && !run.stdout.contains(&d1),
        "{}",
        run.stdout
    );
    // A digest the repository does not have is an error.
    let missing = format!("sha256:{}", "0".repeat(64));
    image_tag()
        .arg("pin")
        .stdin(deployment(&[format!(
            "{}@{missing}",
            reg.reference("app:v1")
        )]))
        .run()
        .code(2)
        .stderr_contains("not found");
}

#[test]
fn pin_errors_write_nothing() {
    if no_registry() {
        return;
    }
    let reg = Registry::start();
    reg.push_image("app:v1", "one");
    let dir = tempdir();
    let lock = dir.path().join("images.lock");
    let input = deployment(&[reg.reference("app:v1"), reg.reference("app:missing")]);
    let run = image_tag()
        .arg("pin")
        .arg("--lock")
        .arg(&lock)
        .stdin(input)
        .run()
        .code(2)
        .stderr_contains("app:missing: not found in the registry")
        .stderr_contains("Deployment/web");
    assert_eq!(run.stdout, "");
    assert!(!lock.exists(), "no lock written after an error");

    // Malformed references are caught before any network traffic, with file:line.
    let bad = write(
        dir.path(),
        "bad.yaml",
        deployment(&["UPPER/Case:v1".to_owned()]),
    );
    image_tag()
        .arg("pin")
        .arg(&bad)
        .run()
        .code(2)
        .stderr_contains("bad.yaml:1")
        .stderr_contains("invalid image reference");
}

#[test]
fn pin_registry_stopped_mid_run() {
    if no_registry() {
        return;
    }
    let mut reg = Registry::start();
    reg.push_image("app:v1", "one");
    let input = deployment(&[reg.reference("app:v1")]);
    reg.stop();
    let run = image_tag().arg("pin").stdin(input).run().code(2);
    assert!(
        run.stderr.contains("cannot reach the registry"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn pin_custom_resource_paths_and_map() {
    if no_registry() {
        return;
    }
    let reg = Registry::start();
    let d = reg.push_image("mirror/nginx:1.25", "nginx");
    let dir = tempdir();
    let map = write(
        dir.path(),
        "map.txt",
        format!("nginx:1.25={}\n", reg.reference("mirror/nginx:1.25")),
    );
    // The map says `nginx:1.25`; the manifest spells it `docker.io/library/nginx:1.25`. The
    // Rollout's pod template is found as kustomize's images transformer finds it; the Widget's
    // `spec.image` only with --image-path.
    let stream = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, image: 'docker.io/library/nginx:1.25'}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {image: 'nginx:1.25'}\n";
    let pinned = format!("image: {}@{d}\n", reg.reference("mirror/nginx:1.25"));
    let run = image_tag()
        .args(["pin", "--map"])
        .arg(&map)
        .stdin(stream)
        .run()
        .success()
        .stdout_contains(&pinned);
    assert!(run.stdout.contains("image: nginx:1.25\n"), "{}", run.stdout);
    let run = image_tag()
        .args([
            "pin",
            "--image-path",
            "example.com/Widget=spec.image",
            "--map",
        ])
        .arg(&map)
        .stdin(stream)
        .run()
        .success();
    assert_eq!(run.stdout.matches(&pinned).count(), 2, "{}", run.stdout);
    image_tag()
        .args(["pin", "--image-path", "spec.image"])
        .stdin(stream)
        .run()
        .code(2)
        .stderr_is("image-tag: error: --image-path \"spec.image\": an image path needs a kind and a field path, e.g. Rollout=spec.template.spec.containers[].image\n");
}

// ---------------------------------------------------------------------------------------------
// auth

#[test]
fn auth_from_docker_config_and_wrong_password_never_shown() {
    if no_registry() {
        return;
    }
    let reg = Registry::start_with_auth("ci", "s3cret-Passw0rd");
    let digest = reg.push_image("private/app:v1", "private");
    let dir = tempdir();
    let good = format!(
        r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
        reg.host,
        b64("ci:s3cret-Passw0rd")
    );
    write(dir.path(), "good/config.json", good);
    let run = image_tag()
        .env("DOCKER_CONFIG", dir.path().join("good"))
        .arg("pin")
        .stdin(deployment(&[reg.reference("private/app:v1")]))
        .run()
        .success();
    run.stdout_contains(&digest);

    // REGISTRY_AUTH_FILE (skopeo's) takes precedence over DOCKER_CONFIG.
    let wrong_password = "Wr0ng-Pa55-visible?";
    let bad = format!(
        r#"{{"auths": {{"{}": {{"username": "ci", "password": "{wrong_password}"}}}}}}"#,
        reg.host
    );
    let auth_file = write(dir.path(), "auth.json", bad);
    for args in [
        vec!["exists".to_owned(), reg.reference("private/app:v1")],
        vec!["pin".to_owned()],
        // Even the most verbose logging (every crate's trace output) never shows it.
        vec![
            "-vvv".to_owned(),
            "exists".to_owned(),
            reg.reference("private/app:v1"),
        ],
    ] {
        let run = image_tag()
            .env("DOCKER_CONFIG", dir.path().join("good"))
            .env("REGISTRY_AUTH_FILE", &auth_file)
            .args(&args)
            .stdin(deployment(&[reg.reference("private/app:v1")]))
            .run()
            .code(2)
            .stderr_contains("authentication failed");
        assert!(
            !run.stderr.contains(wrong_password),
            "password leaked: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&b64(&format!("ci:{wrong_password}"))),
            "{}",
            run.stderr
        );
        assert!(!run.stdout.contains(wrong_password));
    }

    // Anonymous access to a protected registry is refused clearly.
    image_tag()
        .args(["exists", &reg.reference("private/app:v1")])
        .run()
        .code(2)
        .stderr_contains("authentication failed");
}

#[test]
fn credential_helpers_are_asked_like_docker_does() {
    if no_registry() {
        return;
    }
    let reg = Registry::start_with_auth("helper-user", "helper-Secret-1");
    let digest = reg.push_image("private/app:v1", "helper");
    let dir = tempdir();
    // A docker-credential-<name> helper: server URL on stdin, JSON on stdout.
    let helper = write(
        dir.path(),
        "bin/docker-credential-testhelper",
        format!(
            "#!/bin/sh\nread server\nif [ \"$server\" = \"{}\" ]; then\n  echo '{{\"ServerURL\":\"'$server'\",\"Username\":\"helper-user\",\"Secret\":\"helper-Secret-1\"}}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            reg.host
        ),
    );
    let mut perms = std::fs::metadata(&helper).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&helper, perms).expect("chmod");
    let path = format!(
        "{}:{}",
        dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    write(
        dir.path(),
        "cfg/config.json",
        format!(r#"{{"credHelpers": {{"{}": "testhelper"}}}}"#, reg.host),
    );
    image_tag()
        .env("PATH", &path)
        .env("DOCKER_CONFIG", dir.path().join("cfg"))
        .arg("pin")
        .stdin(deployment(&[reg.reference("private/app:v1")]))
        .run()
        .success()
        .stdout_contains(&digest);
    // credsStore for every registry; the helper has nothing for this one → anonymous → refused.
    write(
        dir.path(),
        "store/config.json",
        r#"{"credsStore": "testhelper"}"#,
    );
    let other = Registry::start_with_auth("x", "y-password");
    image_tag()
        .env("PATH", &path)
        .env("DOCKER_CONFIG", dir.path().join("store"))
        .args(["exists", &other.reference("a:1")])
        .run()
        .code(2)
        .stderr_contains("authentication failed");
    // A configured helper that is not installed is an error naming it.
    write(
        dir.path(),
        "missing/config.json",
        format!(r#"{{"credHelpers": {{"{}": "nosuch"}}}}"#, reg.host),
    );
    image_tag()
        .env("DOCKER_CONFIG", dir.path().join("missing"))
        .args(["exists", &reg.reference("private/app:v1")])
        .run()
        .code(2)
        .stderr_contains("docker-credential-nosuch");
}

#[test]
fn bearer_token_auth_and_wrong_password_never_shown() {
    if no_registry() {
        return;
    }
    let backend = Registry::start();
    let digest = backend.push_image("private/app:v1", "tok");
    let front = registry::TokenFront::start(&backend, "robot", "t0ken-Passw0rd");
    let dir = tempdir();
    let good = format!(
        r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
        front.host,
        b64("robot:t0ken-Passw0rd")
    );
    write(dir.path(), "good/config.json", good);
    let run = image_tag()
        .env("DOCKER_CONFIG", dir.path().join("good"))
        .arg("pin")
        .stdin(deployment(&[front.reference("private/app:v1")]))
        .run()
        .success();
    run.stdout_contains(&format!("{}@{digest}", front.reference("private/app:v1")));
    image_tag()
        .env("DOCKER_CONFIG", dir.path().join("good"))
        .args(["exists", &front.reference("private/app:v2")])
        .run()
        .code(1);

    let wrong = "N0t-the-t0ken-pass";
    let bad = format!(
        r#"{{"auths": {{"{}": {{"username": "robot", "password": "{wrong}"}}}}}}"#,
        front.host
    );
    write(dir.path(), "bad/config.json", bad);
    for verbosity in ["-q", "-vvv"] {
        let run = image_tag()
            .env("DOCKER_CONFIG", dir.path().join("bad"))
            .args([verbosity, "exists", &front.reference("private/app:v1")])
            .run()
            .code(2)
            .stderr_contains(&format!(
                "image-tag: error: {}: authentication failed for {}\n",
                front.host,
                front.reference("private/app:v1")
            ))
            .stderr_contains("hint: check the credentials for");
        assert!(
            !run.stderr.contains(wrong),
            "password leaked: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&b64(&format!("robot:{wrong}"))),
            "{}",
            run.stderr
        );
    }
    // Anonymous: the token endpoint refuses, reported as an authentication failure.
    image_tag()
        .args(["exists", &front.reference("private/app:v1")])
        .run()
        .code(2)
        .stderr_contains("authentication failed");
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

// ---------------------------------------------------------------------------------------------
// latest

#[test]
fn latest_by_each_policy() {
    if no_registry() {
        return;
    }
    let reg = Registry::start();
    // Same content under many tags: the policy only looks at tag names.
    reg.push_image("app:seed", "x");
    let src = reg.reference("app:seed");
    for tag in [
        "1.0.0",
        "v1.2.0",
        "1.10.0",
        "2.0.0-rc.1",
        "latest",
        "main-abc1234-1700000000",
        "main-def5678-1700000100",
        "dev-0000000-1800000000",
        "RELEASE.2024-05-01",
        "RELEASE.2023-01-01",
    ] {
        image_tag().args(["retag", &src, tag]).run().success();
    }
    let repo = reg.reference("app");
    let latest = |extra: &[&str]| -> String {
        let run = image_tag()
            .args(["latest", &repo])
            .args(extra)
            .run()
            .success();
        run.stdout.trim().to_owned()
    };
    assert_eq!(latest(&["--semver", ">=1.0.0"]), "1.10.0");
    assert_eq!(latest(&["--semver", "~1.2"]), "v1.2.0");
    assert_eq!(latest(&["--semver", ">=1.0.0-0"]), "2.0.0-rc.1");
    assert_eq!(
        latest(&[
            "--numerical",
            "asc",
            "--filter",
            "^main-[a-f0-9]+-(?P<ts>[0-9]+)$",
            "--extract",
            "$ts"
        ]),
        "main-def5678-1700000100"
    );
    assert_eq!(
        latest(&[
            "--numerical",
            "desc",
            "--filter",
            "^main-[a-f0-9]+-(?P<ts>[0-9]+)$",
            "--extract",
            "$ts"
        ]),
        "main-abc1234-1700000000"
    );
    assert_eq!(
        latest(&["--alphabetical", "asc", "--filter", "^RELEASE"]),
        "RELEASE.2024-05-01"
    );
    assert_eq!(
        latest(&["--alphabetical", "desc", "--filter", "^RELEASE"]),
        "RELEASE.2023-01-01"
    );
    let run = image_tag()
        .args(["latest", &repo, "--semver", ">=1.0.0", "--reference"])
        .run()
        .success();
    assert_eq!(run.stdout, format!("{repo}:1.10.0\n"));
    image_tag()
        .args(["latest", &repo, "--semver", ">=9"])
        .run()
        .code(2)
        .stderr_contains("matches the policy");
    image_tag()
        .args(["latest", &repo, "--numerical", "asc"])
        .run()
        .code(2)
        .stderr_contains("invalid numeric value");
    image_tag()
        .args(["latest", &repo, "--semver", ">=nope"])
        .run()
        .code(2)
        .stderr_contains("invalid semver range");
}

// ---------------------------------------------------------------------------------------------
// retag, copy, mirror

#[test]
fn retag_keeps_the_digest() {
    if no_registry() {
        return;
    }
    let reg = Registry::start();
    let (index, _) = reg.push_index("multi:v1", "m", &["linux/amd64", "linux/arm64"]);
    let run = image_tag()
        .args(["retag", &reg.reference("multi:v1"), "stable"])
        .run()
        .success();
    assert_eq!(
        run.stdout,
        format!("{}@{index}\n", reg.reference("multi:stable"))
    );
    assert_eq!(reg.skopeo_digest(&reg.reference("multi:stable")), index);
    image_tag()
        .args(["retag", &reg.reference("multi:v1"), "bad+tag"])
        .run()
        .code(2)
        .stderr_contains("not a valid tag");
    image_tag()
        .args(["retag", &reg.reference("multi:none"), "x"])
        .run()
        .code(2)
        .stderr_contains("not found");
}

#[test]
fn copy_all_platforms_preserves_digests_across_registries() {
    if no_registry() {
        return;
    }
    let src = Registry::start();
    let dst = Registry::start();
    let (index, platforms) = src.push_index(
        "multi:v1",
        "m",
        &["linux/amd64", "linux/arm64", "linux/arm/v7"],
    );
    let run = image_tag()
        .args([
            "copy",
            "--all-platforms",
            &src.reference("multi:v1"),
            &dst.reference("copied/multi"),
        ])
        .run()
        .success();
    assert_eq!(
        run.stdout,
        format!("{}@{index}\n", dst.reference("copied/multi:v1"))
    );
    assert_eq!(dst.skopeo_digest(&dst.reference("copied/multi:v1")), index);
    for p in &platforms {
        assert_eq!(
            dst.skopeo_digest(&format!("{}@{p}", dst.reference("copied/multi"))),
            *p
        );
    }
    // Copying again transfers nothing (every blob exists) and still succeeds.
    image_tag()
        .args([
            "-v",
            "copy",
            "--all-platforms",
            &src.reference("multi:v1"),
            &dst.reference("copied/multi:v1"),
        ])
        .run()
        .success()
        .stderr_contains("0 blobs copied");
    // Within one registry, blobs are mounted rather than transferred.
    image_tag()
        .args([
            "-v",
            "copy",
            "--all-platforms",
            &dst.reference("copied/multi:v1"),
            &dst.reference("other/multi:v1"),
        ])
        .run()
        .success()
        .stderr_contains("0 blobs copied");
    assert_eq!(dst.skopeo_digest(&dst.reference("other/multi:v1")), index);

    // Without --all-platforms one platform's image is copied, like skopeo.
    let run = image_tag()
        .args([
            "copy",
            "--platform",
            "linux/arm64",
            &src.reference("multi:v1"),
            &dst.reference("single:v1"),
        ])
        .run()
        .success();
    assert_eq!(
        run.stdout,
        format!("{}@{}\n", dst.reference("single:v1"), platforms[1])
    );
    image_tag()
        .args([
            "copy",
            "--platform",
            "windows/amd64",
            &src.reference("multi:v1"),
            &dst.reference("single:v2"),
        ])
        .run()
        .code(2)
        .stderr_contains("has no windows/amd64 image");
}

#[test]
fn mirror_prints_a_map_that_set_and_pin_accept() {
    if no_registry() {
        return;
    }
    let upstream = Registry::start();
    let ours = Registry::start();
    let d_app = upstream.push_image("library/app:1.0", "app");
    let (d_multi, _) = upstream.push_index("tools/multi:2", "m", &["linux/amd64", "linux/arm64"]);
    let dir = tempdir();
    let list = write(
        dir.path(),
        "images.txt",
        format!(
            "# third-party images\n{}\n{} {}\n",
            upstream.reference("library/app:1.0"),
            upstream.reference("tools/multi:2"),
            ours.reference("custom/multi:2")
        ),
    );
    let run = image_tag()
        .args(["mirror", "--file"])
        .arg(&list)
        .args(["--to", &ours.reference("mirror")])
        .run()
        .success();
    let expected = format!(
        "{}={}@{d_app}\n{}={}@{d_multi}\n",
        upstream.reference("library/app:1.0"),
        ours.reference("mirror/library/app:1.0"),
        upstream.reference("tools/multi:2"),
        ours.reference("custom/multi:2"),
    );
    assert_eq!(run.stdout, expected);
    assert_eq!(
        ours.skopeo_digest(&ours.reference("custom/multi:2")),
        d_multi
    );
    let map = write(dir.path(), "map.txt", &run.stdout);

    // set --map rewrites source files to the mirrored references.
    let src = write(
        dir.path(),
        "deploy/app.yaml",
        format!(
            "spec:\n  containers:\n  - name: app\n    image: {} # upstream\n",
            upstream.reference("library/app:1.0")
        ),
    );
    image_tag()
        .arg("set")
        .arg("--map")
        .arg(&map)
        .arg(&src)
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(&src).expect("read"),
        format!(
            "spec:\n  containers:\n  - name: app\n    image: {}@{d_app} # upstream\n",
            ours.reference("mirror/library/app:1.0")
        )
    );
}

#[test]
fn copy_to_a_stopped_registry_fails_and_prints_nothing() {
    if no_registry() {
        return;
    }
    let src = Registry::start();
    let mut dst = Registry::start();
    src.push_index("multi:v1", "m", &["linux/amd64", "linux/arm64"]);
    let target = dst.reference("copied/multi:v1");
    dst.stop();
    image_tag()
        .args([
            "copy",
            "--all-platforms",
            &src.reference("multi:v1"),
            &target,
        ])
        .run()
        .code(2)
        .stderr_contains(&format!("{}: cannot reach the registry", dst.host))
        .stdout_is("");
}

#[test]
fn mirror_with_an_unknown_image_fails_naming_the_line() {
    if no_registry() {
        return;
    }
    let reg = Registry::start();
    let dir = tempdir();
    let list = write(
        dir.path(),
        "images.txt",
        format!("{}\n", reg.reference("nothing:1")),
    );
    image_tag()
        .args(["mirror", "--file"])
        .arg(&list)
        .args(["--to", &reg.reference("mirror")])
        .run()
        .code(2)
        .stderr_contains("images.txt:1")
        .stderr_contains("not found")
        .stdout_is("");
}

// ---------------------------------------------------------------------------------------------
// set

#[test]
fn set_updates_sources_in_place_and_check_reports() {
    let dir = tempdir();
    let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n# images are bumped by CI\nimages:\n- name: ghcr.io/acme/app\n  newTag: v1.0.0   # current\nresources: [deploy.yaml]\n";
    let helm = "image:\n  repository: ghcr.io/acme/app # {\"$imagepolicy\": \"flux-system:app:name\"}\n  tag: v1.0.0 # {\"$imagepolicy\": \"flux-system:app:tag\"}\n";
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: 'ghcr.io/acme/app:v1.0.0'   # app\n      - name: sidecar\n        image: busybox:1.36\n";
    let k = write(dir.path(), "overlay/kustomization.yaml", kustomization);
    let h = write(dir.path(), "chart/values.yaml", helm);
    let d = write(dir.path(), "overlay/deploy.yaml", deploy);

    // --check: exit 1, list the files, change nothing.
    let run = image_tag()
        .args([
            "set",
            "--check",
            "ghcr.io/acme/app=ghcr.io/acme/app:v1.1.0",
            "flux-system:app=ghcr.io/acme/app:v1.1.0",
        ])
        .arg(dir.path())
        .run()
        .code(1);
    let mut listed: Vec<&str> = run.stdout.lines().collect();
    listed.sort_unstable();
    let mut want = vec![
        k.to_str().expect("utf8"),
        h.to_str().expect("utf8"),
        d.to_str().expect("utf8"),
    ];
    want.sort_unstable();
    assert_eq!(listed, want);
    assert_eq!(std::fs::read_to_string(&k).expect("read"), kustomization);

    image_tag()
        .args([
            "set",
            "ghcr.io/acme/app=ghcr.io/acme/app:v1.1.0",
            "flux-system:app=ghcr.io/acme/app:v1.1.0",
        ])
        .arg(dir.path())
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(&k).expect("read"),
        kustomization.replace("v1.0.0   #", "v1.1.0   #")
    );
    assert_eq!(
        std::fs::read_to_string(&h).expect("read"),
        helm.replace("tag: v1.0.0", "tag: v1.1.0")
    );
    assert_eq!(
        std::fs::read_to_string(&d).expect("read"),
        deploy.replace("'ghcr.io/acme/app:v1.0.0'", "'ghcr.io/acme/app:v1.1.0'")
    );
    // Now nothing would change.
    image_tag()
        .args([
            "set",
            "--check",
            "ghcr.io/acme/app=ghcr.io/acme/app:v1.1.0",
            "flux-system:app=ghcr.io/acme/app:v1.1.0",
        ])
        .arg(dir.path())
        .run()
        .success()
        .stdout_is("");
    // A bad REF is an error and writes nothing.
    image_tag()
        .args(["set", "ghcr.io/acme/app=Not A Ref"])
        .arg(dir.path())
        .run()
        .code(2)
        .stderr_contains("invalid image reference");
    assert_eq!(
        std::fs::read_to_string(&k).expect("read"),
        kustomization.replace("v1.0.0   #", "v1.1.0   #")
    );
}

#[test]
fn set_skips_hidden_directories_and_warns_on_unused_names() {
    let dir = tempdir();
    let ci = "jobs:\n  build:\n    container:\n      image: node:18\n";
    let app = "containers:\n- image: node:18\n";
    let w = write(dir.path(), ".github/workflows/ci.yaml", ci);
    let a = write(dir.path(), "app/deploy.yml", app);
    let run = image_tag()
        .args(["set", "node=node:20", "redis=redis:7"])
        .arg(dir.path())
        .run()
        .success()
        .stderr_contains("redis: no image reference or marker matched");
    assert_eq!(run.stdout, format!("{}\n", a.display()));
    assert_eq!(
        std::fs::read_to_string(&a).expect("read"),
        "containers:\n- image: node:20\n"
    );
    assert_eq!(std::fs::read_to_string(&w).expect("read"), ci);
}

#[test]
fn help_lists_subcommands() {
    let run = image_tag().arg("--help").run().success();
    for sub in [
        "compute", "exists", "pin", "latest", "set", "retag", "copy", "mirror",
    ] {
        assert!(run.stdout.contains(sub), "{sub} missing from --help");
    }
}

// ---------------------------------------------------------------------------------------------
// secrets: nothing a server echoes, nothing the auth file holds, reaches stderr

#[test]
fn verbose_output_never_shows_working_htpasswd_credentials() {
    if no_registry() {
        return;
    }
    let password = "Vrb0se-Passw0rd-9";
    let reg = Registry::start_with_auth("ci-user", password);
    let digest = reg.push_image("private/app:v1", "verbose");
    let dir = tempdir();
    let auth_file = write(
        dir.path(),
        "auth.json",
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            reg.host,
            b64(&format!("ci-user:{password}"))
        ),
    );
    let run = image_tag()
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .args(["-vvv", "pin"])
        .stdin(deployment(&[reg.reference("private/app:v1")]))
        .run()
        .success()
        .stdout_contains(&digest)
        // The trace output is there (so the check below has something to look at).
        .stderr_contains("image-tag: debug: Using HTTP basic authentication.");
    assert!(!run.stderr.contains(password), "{}", run.stderr);
    assert!(
        !run.stderr.contains(&b64(&format!("ci-user:{password}"))),
        "{}",
        run.stderr
    );
}

#[test]
fn credentials_a_server_echoes_are_scrubbed_from_every_line() {
    if no_registry() {
        return;
    }
    let backend = Registry::start();
    let digest = backend.push_image("private/app:v1", "echo");
    let password = "Ech0ed-Passw0rd-1";
    let front = registry::TokenFront::start_echoing(&backend, "robot", password);
    // The harness's front hands out this bearer token (see TokenFront).
    let token = format!("tok-{}", std::process::id());
    let dir = tempdir();
    let good = write(
        dir.path(),
        "good.json",
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            front.host,
            b64(&format!("robot:{password}"))
        ),
    );
    // Success at -vvv: oci-client traces the response headers, and the front echoes the
    // request's `Authorization: Bearer …` back in one of them.
    let run = image_tag()
        .env("REGISTRY_AUTH_FILE", &good)
        .args(["-vvv", "pin"])
        .stdin(deployment(&[front.reference("private/app:v1")]))
        .run()
        .success()
        .stdout_contains(&digest)
        .stderr_contains(r#""x-echo": "Bearer ***""#);
    assert!(!run.stderr.contains(&token), "token leaked: {}", run.stderr);
    assert!(!run.stderr.contains(password), "{}", run.stderr);

    // A refusal whose body repeats the Basic header and the decoded user:password.
    let wrong = "Wr0ng-Ech0ed-pass";
    let bad = write(
        dir.path(),
        "bad.json",
        format!(
            r#"{{"auths": {{"{}": {{"username": "robot", "password": "{wrong}"}}}}}}"#,
            front.host
        ),
    );
    for verbosity in ["-v", "-vvv"] {
        let run = image_tag()
            .env("REGISTRY_AUTH_FILE", &bad)
            .args([verbosity, "exists", &front.reference("private/app:v1")])
            .run()
            .code(2)
            .stderr_contains(&format!(
                "image-tag: error: {}: authentication failed for {}",
                front.host,
                front.reference("private/app:v1")
            ));
        if verbosity == "-vvv" {
            // oci-client's debug line quotes the token server's body, echo and all.
            assert!(
                run.stderr
                    .contains("you sent Authorization: Basic *** (***)"),
                "{}",
                run.stderr
            );
        }
        assert!(
            !run.stderr.contains(wrong),
            "password leaked: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&b64(&format!("robot:{wrong}"))),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn identity_tokens_are_exchanged_like_skopeo_does() {
    if no_registry() {
        return;
    }
    let backend = Registry::start();
    let digest = backend.push_image("team/app:v1", "oauth");
    let refresh = "rfr-7Yq2-identity";
    let front = registry::TokenFront::start_with_refresh_token(&backend, refresh);
    let dir = tempdir();
    // What `docker login` writes for an OAuth2 registry (ACR, for one): `auth` of `<user>:` and
    // the refresh token; plus an identity token for another registry that must not matter.
    let auth_file = write(
        dir.path(),
        "auth.json",
        format!(
            r#"{{"auths": {{
                "{}": {{"auth": "{}", "identitytoken": "{refresh}"}},
                "unrelated.example.com": {{"identitytoken": "other-registry-token"}}
            }}}}"#,
            front.host,
            b64("00000000-0000-0000-0000-000000000000:")
        ),
    );
    // skopeo, the reference client, gets through the harness's token server with this file...
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
        ])
        .arg("--authfile")
        .arg(&auth_file)
        .arg(format!("docker://{}", front.reference("team/app:v1")))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(registry::sha256(&out.stdout), digest);
    // ...and so does image-tag, with the same digest.
    image_tag()
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .arg("pin")
        .stdin(deployment(&[front.reference("team/app:v1")]))
        .run()
        .success()
        .stdout_contains(&format!("{}@{digest}", front.reference("team/app:v1")));

    // The unrelated entry alone does not get in the way of an anonymous registry.
    let open = Registry::start();
    let open_digest = open.push_image("pub/app:v1", "open");
    let only_unrelated = write(
        dir.path(),
        "unrelated.json",
        r#"{"auths": {"unrelated.example.com": {"identitytoken": "other-registry-token"}}}"#,
    );
    image_tag()
        .env("REGISTRY_AUTH_FILE", &only_unrelated)
        .arg("pin")
        .stdin(deployment(&[open.reference("pub/app:v1")]))
        .run()
        .success()
        .stdout_contains(&open_digest);

    // A refresh token the server refuses (and echoes back) is an authentication failure that
    // never shows the token.
    let stale = "rfr-stale-0000";
    let stale_file = write(
        dir.path(),
        "stale.json",
        format!(
            r#"{{"auths": {{"{}": {{"identitytoken": "{stale}"}}}}}}"#,
            front.host
        ),
    );
    let run = image_tag()
        .env("REGISTRY_AUTH_FILE", &stale_file)
        .args(["-vvv", "exists", &front.reference("team/app:v1")])
        .run()
        .code(2)
        .stderr_contains(&format!(
            "image-tag: error: {}: authentication failed for {}: the token endpoint refused the identity token: HTTP 401: invalid refresh token \"***\"",
            front.host,
            front.reference("team/app:v1")
        ))
        .stderr_contains("hint: check the credentials for");
    assert!(!run.stderr.contains(stale), "{}", run.stderr);
}

#[test]
fn a_mistyped_auth_file_field_is_reported_as_such() {
    if no_registry() {
        return;
    }
    let reg = Registry::start_with_auth("ci", "typo-Passw0rd");
    let dir = tempdir();
    let auth_file = write(
        dir.path(),
        "auth.json",
        format!(
            r#"{{"auths": {{"{}": {{"usrname": "ci", "password": "typo-Passw0rd"}}}}}}"#,
            reg.host
        ),
    );
    let run = image_tag()
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .args(["exists", &reg.reference("private/app:v1")])
        .run()
        .code(2)
        .stderr_contains(&format!(
            "image-tag: error: {}: auths.{}: unknown field `usrname` (expected one of auth, username, password, identitytoken, registrytoken, email, serveraddress)\n",
            auth_file.display(),
            reg.host
        ));
    assert!(
        !run.stderr.contains("authentication failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("typo-Passw0rd"), "{}", run.stderr);
}

#[test]
fn references_with_credentials_or_newlines_are_never_echoed_raw() {
    let run = image_tag()
        .args(["exists", "bob:hunter2-Secret@reg.example.com/app:v1"])
        .run()
        .code(2)
        .stderr_is("image-tag: error: ***@reg.example.com/app:v1: invalid image reference: credentials do not belong in a reference; put them in the registry auth file\n");
    assert!(!run.stderr.contains("hunter2"));
    // A newline cannot forge a line of output.
    image_tag()
        .args(["exists", "app:v1\nimage-tag: all good"])
        .run()
        .code(2)
        .stderr_is("image-tag: error: app:v1\\nimage-tag: all good: invalid image reference: invalid tag format\n");
}

#[test]
fn usage_errors_are_one_error_line_and_a_hint() {
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["--bogus"],
            "image-tag: error: unexpected argument '--bogus' found",
            "hint: see 'image-tag --help'",
        ),
        (
            &["pin", "--lok", "x"],
            "image-tag: error: unexpected argument '--lok' found",
            "hint: a similar argument exists: '--lock'",
        ),
        (
            &["pin", "--jobs", "0"],
            "image-tag: error: invalid value '0' for '--jobs <JOBS>': 0 is not in 1..=65535",
            "hint: see 'image-tag pin --help'",
        ),
        (
            &["pin", "--locked"],
            "image-tag: error: the following required arguments were not provided: --lock <FILE>",
            "hint: see 'image-tag pin --help'",
        ),
        (
            &[],
            "image-tag: error: a subcommand is required",
            "hint: one of compute, exists, pin, latest, set, retag, copy, mirror; see 'image-tag --help'",
        ),
    ];
    for (args, error, hint) in cases {
        image_tag()
            .args(args)
            .run()
            .code(2)
            .stdout_is("")
            .stderr_is(&format!("{error}\n{hint}\n"));
    }
    // Help and version are output, untouched.
    image_tag()
        .arg("--help")
        .run()
        .success()
        .stdout_contains("Usage: image-tag [OPTIONS] <COMMAND>");
    image_tag()
        .arg("--version")
        .run()
        .success()
        .stdout_is(&format!("image-tag {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn set_updates_every_occurrence_or_fails_writing_nothing() {
    let dir = tempdir();
    // A sibling is updatable, the alias is not (its anchor is no image field): before, the
    // sibling was updated and the alias silently skipped, with exit 0.
    let partial = "defaults:\n  img: &img nginx:1.24\nspec:\n  containers:\n  - image: nginx:1.24\n  - image: *img\n";
    let file = write(dir.path(), "deploy.yaml", partial);
    image_tag()
        .args(["set", "nginx=nginx:1.25"])
        .arg(&file)
        .run()
        .code(2)
        .stderr_contains(&format!(
            "image-tag: error: {}: cannot update spec.containers.1.image (nginx:1.24) in place",
            file.display()
        ));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), partial);
    // Anchors on the image itself, flow mappings and folded scalars are updated.
    let forms = "a:\n- image: &img nginx:1.24\n- image: *img\nb: [{name: x, image: nginx:1.24}]\nc:\n  image: >-\n    nginx:1.24\n";
    std::fs::write(&file, forms).expect("write");
    image_tag()
        .args(["set", "nginx=nginx:1.25"])
        .arg(&file)
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        forms.replace("nginx:1.24", "nginx:1.25")
    );
    // Invalid YAML and duplicate keys are refused, with the position, and left as they were.
    let duplicate = "image: nginx:1.24\nname: a\nimage: nginx:1.23\n";
    std::fs::write(&file, duplicate).expect("write");
    image_tag()
        .args(["set", "nginx=nginx:1.25"])
        .arg(&file)
        .run()
        .code(2)
        .stderr_contains(&format!(
            "image-tag: error: {}:3:1: invalid YAML: ",
            file.display()
        ))
        .stderr_contains("duplicate");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), duplicate);
}

#[test]
fn set_writes_through_symlinks() {
    let dir = tempdir();
    let target = write(dir.path(), "real/values.yaml", "image: nginx:1.24\n");
    let link = dir.path().join("values.yaml");
    std::os::unix::fs::symlink("real/values.yaml", &link).expect("symlink");
    image_tag()
        .args(["set", "nginx=nginx:1.25"])
        .arg(&link)
        .run()
        .success()
        .stdout_is(&format!("{}\n", link.display()));
    let meta = std::fs::symlink_metadata(&link).expect("lstat");
    assert!(
        meta.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "image: nginx:1.25\n"
    );
}

/// A directory nothing can be created in, even by root (`chattr +i`), undone on drop.
struct Unwritable(std::path::PathBuf);

impl Unwritable {
    fn new(dir: &Path) -> Option<Self> {
        let probe = dir.join(".probe");
        let mut perms = std::fs::metadata(dir).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
        std::fs::set_permissions(dir, perms).expect("chmod");
        if std::fs::File::create(&probe).is_err() {
            return Some(Unwritable(dir.to_path_buf()));
        }
        // Root ignores the mode; the immutable attribute stops it.
        let _ = std::fs::remove_file(&probe);
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        let guard = Unwritable(dir.to_path_buf());
        (ok && std::fs::File::create(&probe).is_err()).then_some(guard)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        if let Ok(meta) = std::fs::metadata(&self.0) {
            let mut perms = meta.permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            let _ = std::fs::set_permissions(&self.0, perms);
        }
    }
}

#[test]
fn set_writes_all_files_or_none() {
    let dir = tempdir();
    let first = write(dir.path(), "a/deploy.yaml", "image: nginx:1.24\n");
    let second = write(dir.path(), "b/deploy.yaml", "image: nginx:1.24\n");
    let Some(_guard) = Unwritable::new(&dir.path().join("b")) else {
        // Fails in CI; skips elsewhere.
        let _ = harness::skip_without(
            false,
            "a directory the test can make unwritable (chmod, or chattr as root)",
        );
        return;
    };
    image_tag()
        .args(["set", "nginx=nginx:1.25"])
        .arg(dir.path())
        .run()
        .code(2)
        .stdout_is("")
        .stderr_contains(&format!("image-tag: error: {}", second.display()));
    // The first file comes first and was fine; it is untouched all the same.
    assert_eq!(
        std::fs::read_to_string(&first).expect("read"),
        "image: nginx:1.24\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a"))
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("deploy.yaml")]);
}
