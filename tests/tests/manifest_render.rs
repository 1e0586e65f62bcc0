//! manifest-render end to end: the built binary on fixtures, asserting stdout, stderr, exit code
//! and what is (and is not) written to --out-dir. One test per bad-input case of the issue.

use harness::{tempdir, write, Cmd};

fn render() -> Cmd {
    Cmd::new("manifest-render")
}

const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${REPLICAS:=1}
  template:
    spec:
      containers:
      - image: nginx:${TAG}
        name: web
";

const CONFIG: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  env: ${ENV}
  script: echo $HOME $${LITERAL}
";

#[test]
fn renders_a_directory_in_kustomize_order_with_substitution() {
    let dir = tempdir();
    write(dir.path(), "app/b/deploy.yaml", DEPLOY);
    write(dir.path(), "app/a/config.yaml", CONFIG);
    write(
        dir.path(),
        "app/ns.yml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n",
    );
    write(dir.path(), "app/notes.txt", "not a manifest");
    render()
        .args([
            "app",
            "--var",
            "TAG=1.25",
            "--var",
            "ENV=dev",
            "--var",
            "REPLICAS=3",
            "-n",
            "dev",
        ])
        .current_dir(dir.path())
        .run()
        .success()
        .stderr_is("")
        .stdout_is(
            "\
apiVersion: v1
kind: Namespace
metadata:
  name: dev
---
apiVersion: v1
data:
  env: dev
  script: echo $HOME ${LITERAL}
kind: ConfigMap
metadata:
  name: web-config
  namespace: dev
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: dev
spec:
  replicas: 3
  template:
    spec:
      containers:
      - image: nginx:1.25
        name: web
",
        );
}

#[test]
fn substitution_is_off_without_variables() {
    render()
        .stdin(CONFIG)
        .run()
        .success()
        .stdout_contains("env: ${ENV}")
        .stdout_contains("$${LITERAL}");
}

#[test]
fn values_from_files_and_flags_later_wins() {
    let dir = tempdir();
    write(dir.path(), "dev.env", "ENV=from-env-file\nTAG=1.0\n");
    write(dir.path(), "dev.yaml", "ENV: from-yaml\n");
    let out = render()
        .args([
            "--vars-file",
            "dev.env",
            "--var",
            "ENV=flag",
            "--vars-file",
            "dev.yaml",
            "-",
            "-o",
            "json",
        ])
        .current_dir(dir.path())
        .stdin(CONFIG)
        .run()
        .success();
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["data"]["env"], "from-yaml");
}

#[test]
fn strict_lists_every_undefined_variable() {
    let dir = tempdir();
    write(dir.path(), "deploy.yaml", DEPLOY);
    write(dir.path(), "config.yaml", CONFIG);
    render()
        .args(["deploy.yaml", "config.yaml", "--strict"])
        .current_dir(dir.path())
        .run()
        .code(2)
        .stdout_is("")
        .stderr_is(
            "manifest-render: error: undefined variables: TAG (deploy.yaml:10:22), ENV (config.yaml:6:8)\n\
             hint: pass them with --var NAME=VALUE or --vars-file, give defaults with ${NAME:=default}, or pass --no-strict to let them be empty\n",
        );
}

#[test]
fn opt_out_annotation_keeps_placeholders() {
    let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n  name: raw\ndata:\n  x: ${X}\n";
    render()
        .args(["--var", "X=1", "--strict"])
        .stdin(doc)
        .run()
        .success()
        .stdout_contains("x: ${X}");
}

#[test]
fn unsupported_substitution_forms_are_errors() {
    render()
        .args(["--var", "X=1"])
        .stdin("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: ${X:+set}\n")
        .run()
        .code(2)
        .stdout_is("")
        .stderr_contains("manifest-render: error: <stdin>:6:6: unsupported substitution ${X:+...}");
}

#[test]
fn json_inputs_lists_and_json_output() {
    let input = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}]}
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}
"#;
    let out = render().args(["-o", "json"]).stdin(input).run().success();
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["kind"], "List");
    let kinds: Vec<&str> = value["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Secret", "Service"]);
}

#[test]
fn namespace_flag_skips_cluster_scoped_and_crd_declared_kinds() {
    let input = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
  scope: Cluster
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
---
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: r
";
    let out = render()
        .args(["-n", "team", "-o", "json"])
        .stdin(input)
        .run()
        .success();
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let got: Vec<String> = value["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["kind"].as_str().unwrap(),
                i["metadata"]["namespace"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "CustomResourceDefinition:-",
            "ClusterRole:-",
            "Gadget:team",
            "Widget:-"
        ]
    );
}

#[test]
fn out_dir_writes_one_file_per_object_and_removes_stale_ones() {
    let dir = tempdir();
    // An earlier render wrote `gone`; the next one removes it and keeps every file it did not
    // write, manifests by hand included.
    write(
        dir.path(),
        "old/gone.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n  namespace: old\n",
    );
    render()
        .args(["old", "--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .success();
    std::fs::remove_dir_all(dir.path().join("old")).unwrap();
    write(dir.path(), "in/all.yaml", format!("{DEPLOY}---\n{CONFIG}"));
    write(dir.path(), "out/README.md", "kept");
    write(dir.path(), "out/kustomization.yaml", "resources: []\n");
    write(dir.path(), "out/values.yml", "replicas: 2\n");
    write(dir.path(), "out/data.json", "{}\n");
    write(
        dir.path(),
        "out/hand.yaml",
        "apiVersion: v1\nkind: ConfigMap\n",
    );
    render()
        .args([
            "in",
            "--out-dir",
            "out",
            "-n",
            "prod",
            "--var",
            "TAG=2",
            "--var",
            "ENV=prod",
        ])
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_is("");
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".rendered-files",
            "README.md",
            "apps.v1.Deployment.prod.web.yaml",
            "data.json",
            "hand.yaml",
            "kustomization.yaml",
            "v1.ConfigMap.prod.web-config.yaml",
            "values.yml",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/values.yml")).unwrap(),
        "replicas: 2\n"
    );
    // The index records what this render wrote, and nothing else.
    let index = std::fs::read_to_string(dir.path().join("out/.rendered-files")).unwrap();
    let listed: Vec<&str> = index.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        listed,
        [
            "apps.v1.Deployment.prod.web.yaml",
            "v1.ConfigMap.prod.web-config.yaml"
        ]
    );
    let deploy =
        std::fs::read_to_string(dir.path().join("out/apps.v1.Deployment.prod.web.yaml")).unwrap();
    assert!(
        deploy.starts_with("apiVersion: apps/v1\n") && deploy.contains("image: nginx:2"),
        "{deploy}"
    );
    // Nothing but the output directory and the input were left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn check_reports_stale_out_dir_and_writes_nothing() {
    let dir = tempdir();
    write(dir.path(), "in/config.yaml", CONFIG);
    let args = ["in", "--out-dir", "out", "--var", "ENV=dev"];
    render().args(args).current_dir(dir.path()).run().success();
    render()
        .args(args)
        .arg("--check")
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_is("");

    write(
        dir.path(),
        "in/config.yaml",
        CONFIG.replace("web-config", "renamed"),
    );
    write(dir.path(), "out/v1.Secret..leftover.yaml", "x");
    let before =
        std::fs::read_to_string(dir.path().join("out/v1.ConfigMap..web-config.yaml")).unwrap();
    render()
        .args(args)
        .arg("--check")
        .current_dir(dir.path())
        .run()
        .code(1)
        // The hand-written Secret was not written by a render: kept, so not a difference.
        .stdout_is("+ v1.ConfigMap..renamed.yaml\n- v1.ConfigMap..web-config.yaml\n")
        .stderr_contains("is not up to date");
    let after =
        std::fs::read_to_string(dir.path().join("out/v1.ConfigMap..web-config.yaml")).unwrap();
    assert_eq!(before, after);
    render().args(args).current_dir(dir.path()).run().success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/v1.Secret..leftover.yaml")).unwrap(),
        "x"
    );
    assert!(!dir
        .path()
        .join("out/v1.ConfigMap..web-config.yaml")
        .exists());
    render()
        .args(args)
        .arg("--check")
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_is("");
}

#[test]
fn digest_ignores_formatting_and_key_order() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1', y: '2'}\n";
    let json = r#"{"metadata":{"name":"a"},"data":{"y":"2","x":"1"},"kind":"ConfigMap","apiVersion":"v1"}"#;
    let a = render().arg("--digest").stdin(yaml).run().success();
    let b = render().arg("--digest").stdin(json).run().success();
    assert!(
        a.stderr.starts_with("sha256:") && a.stderr.len() == 72,
        "{}",
        a.stderr
    );
    assert_eq!(a.stderr, b.stderr);
    let c = render()
        .arg("--digest")
        .stdin(yaml.replace("'2'", "'3'"))
        .run()
        .success();
    assert_ne!(a.stderr, c.stderr);
}

#[test]
fn an_empty_kustomization_renders_nothing() {
    let dir = tempdir();
    write(dir.path(), "k/kustomization.yaml", "resources: []\n");
    render()
        .arg("k")
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_is("")
        .stderr_is("");
}

// ---- bad input: one clear line, exit 2, nothing written ----------------------------------------

/// Runs with --out-dir and asserts exit 2, a one-line error containing `expected`, and that the
/// output directory was not created.
fn fails_cleanly(files: &[(&str, &[u8])], args: &[&str], expected: &str) {
    let dir = tempdir();
    for (name, content) in files {
        write(dir.path(), name, content);
    }
    let run = render()
        .args(args)
        .args(["--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .code(2)
        .stdout_is("")
        .stderr_contains(expected);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(
        run.stderr.starts_with("manifest-render: error: "),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("out").exists(), "nothing may be written");
}

#[test]
fn malformed_yaml() {
    fails_cleanly(
        &[(
            "a.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
        )],
        &["a.yaml"],
        "a.yaml:5:1: invalid YAML",
    );
}

#[test]
fn duplicate_mapping_keys() {
    fails_cleanly(
        &[(
            "a.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
        )],
        &["a.yaml"],
        "a.yaml:5:3: invalid YAML: metadata: duplicate key \"name\"",
    );
}

#[test]
fn alias_bomb_is_bounded() {
    let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    fails_cleanly(
        &[("bomb.yaml", bomb.as_bytes())],
        &["bomb.yaml"],
        "repetition limit exceeded",
    );
}

#[test]
fn non_utf8_bytes() {
    fails_cleanly(
        &[(
            "a.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n",
        )],
        &["a.yaml"],
        "a.yaml:4:12: invalid UTF-8",
    );
}

#[test]
fn tabs_as_indentation() {
    fails_cleanly(
        &[(
            "a.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n",
        )],
        &["a.yaml"],
        "a.yaml:4:1: invalid YAML",
    );
}

#[test]
fn missing_file() {
    fails_cleanly(&[], &["nope.yaml"], "nope.yaml: no such file or directory");
}

#[test]
fn unreadable_file() {
    // Root reads any file whatever its mode, so a dangling link stands in for an unreadable one.
    let dir = tempdir();
    write(
        dir.path(),
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    std::os::unix::fs::symlink(
        "/nonexistent/target.yaml",
        dir.path().join("app/broken.yaml"),
    )
    .unwrap();
    let run = render()
        .args(["app", "--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .code(2)
        .stderr_contains("app/broken.yaml: no such file or directory");
    assert_eq!(run.stderr.lines().count(), 1);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn symlink_loop_in_directory() {
    let dir = tempdir();
    write(
        dir.path(),
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    std::os::unix::fs::symlink("..", dir.path().join("app/loop")).unwrap();
    let run = render()
        .args(["app", "--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .code(2)
        .stderr_contains("symbolic link loop");
    assert_eq!(run.stderr.lines().count(), 1);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn object_without_kind_or_name() {
    fails_cleanly(
        &[("a.yaml", b"apiVersion: v1\nmetadata:\n  name: a\n")],
        &["a.yaml"],
        "a.yaml:1: object a without a kind: missing kind",
    );
    fails_cleanly(
        &[(
            "a.yaml",
            b"# header\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        )],
        &["a.yaml"],
        "a.yaml:2: ConfigMap without a name: missing metadata.name",
    );
}

#[test]
fn duplicate_objects_name_both_sources() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
    fails_cleanly(
        &[
            ("x/1.yaml", cm.as_bytes()),
            ("x/2.yaml", format!("---\n{cm}").as_bytes()),
        ],
        &["x"],
        "x/2.yaml:2: ConfigMap/a: defined twice (first at x/1.yaml:1)",
    );
}

#[test]
fn failed_run_leaves_existing_out_dir_as_it_was() {
    let dir = tempdir();
    write(
        dir.path(),
        "in/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    render()
        .args(["in", "--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .success();
    write(dir.path(), "in/bad.yaml", "kind: [\n");
    render()
        .args(["in", "--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .code(2)
        .stdout_is("")
        .stderr_contains("manifest-render: error: in/bad.yaml:2:");
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, [".rendered-files", "v1.ConfigMap..a.yaml"]);
}

#[test]
fn bad_vars_file_names_its_line() {
    let dir = tempdir();
    write(dir.path(), "dev.env", "A=1\nnot a var\n");
    render()
        .args(["--vars-file", "dev.env", "-"])
        .current_dir(dir.path())
        .stdin(CONFIG)
        .run()
        .code(2)
        .stdout_is("")
        .stderr_is("manifest-render: error: dev.env:2:1: expected KEY=VALUE\n");
}

#[test]
fn an_empty_vars_file_leaves_substitution_off() {
    // Substitution runs when a variable is defined (Flux's default), not merely because a
    // vars file was named: today's rule, kept by the move into gitops-render.
    let dir = tempdir();
    write(dir.path(), "empty.env", "# nothing yet\n");
    render()
        .args(["--vars-file", "empty.env", "-"])
        .current_dir(dir.path())
        .stdin(CONFIG)
        .run()
        .success()
        .stdout_contains("env: ${ENV}");
}

// ---- process conventions -----------------------------------------------------------------------

#[test]
fn broken_pipe_exits_quietly() {
    let mut big = String::new();
    for i in 0..5000 {
        big.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: v\n"
        ));
    }
    let dir = tempdir();
    write(dir.path(), "big.yaml", &big);
    let bin = harness::bin("manifest-render");
    let run = Cmd::program("bash")
        .args([
            "-c",
            &format!("set -o pipefail; '{}' big.yaml | head -1", bin.display()),
        ])
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_is("apiVersion: v1\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn usage_errors_exit_2() {
    render()
        .args(["--check"])
        .run()
        .code(2)
        .stderr_contains("--out-dir");
    render()
        .args(["--var", "1BAD=x"])
        .run()
        .code(2)
        .stderr_contains("variable name \"1BAD\" is invalid");
    render()
        .args(["-", "-"])
        .stdin("")
        .run()
        .code(2)
        .stdout_is("")
        .stderr_is("manifest-render: error: stdin (-) can be read only once\n");
    render()
        .args(["-n", "Bad_NS"])
        .stdin("")
        .run()
        .code(2)
        .stderr_contains("not a valid namespace");
    render()
        .arg("--version")
        .run()
        .success()
        .stdout_contains("manifest-render ");
}

#[test]
fn interrupt_exits_130() {
    use std::process::{Command, Stdio};
    // Waiting on stdin keeps the process alive until the signal arrives, whatever the timing.
    let mut child = Command::new(harness::bin("manifest-render"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal only once the handler is installed: SIGINT (bit 1) shows in SigCgt.
    let status_file = format!("/proc/{}/status", child.id());
    loop {
        let status = std::fs::read_to_string(&status_file).unwrap();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
            .unwrap();
        if caught & 0b10 != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Hold stdin open until the process is gone: EOF would let it finish normally instead.
    let stdin = child.stdin.take();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "manifest-render: interrupted\n"
    );
}

// ---- issue 14 ------------------------------------------------------------------------------

/// The signal mask bit of SIGINT in /proc/PID/status lines (`SigCgt:`, `SigPnd:`, `ShdPnd:`).
fn sigint_in(pid: u32, field: &str) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
        .unwrap();
    mask & 0b10 != 0
}

/// Ctrl-C while manifest-render reads stdin, with the producer of the pipe ending at the same
/// moment (as a shell pipeline does on Ctrl-C: the whole process group gets the signal), so the
/// stream ends early and looks complete. The interrupt's own exit path is held up by a full
/// stderr pipe, which gives the main thread every chance to go on with the partial input: the
/// old handler decided nothing for it, and the process rendered the partial stream, swapped
/// --out-dir and exited 0. Returns (exit code, stdout, stderr without the filler).
fn interrupted_with_partial_stdin(
    args: &[&str],
    dir: &std::path::Path,
) -> (Option<i32>, String, String) {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let (mut err_read, err_write) = std::io::pipe().unwrap();
    // Fill the stderr pipe (64 KiB, Linux's default capacity) from a thread: if the pipe is
    // smaller the thread waits, and the pipe is full all the same.
    const FILLER: usize = 1 << 16;
    let mut filler = err_write.try_clone().unwrap();
    let fill = std::thread::spawn(move || {
        let _ = filler.write_all(&[b'.'; FILLER]);
    });
    let mut child = Command::new(harness::bin("manifest-render"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err_write))
        .spawn()
        .unwrap();
    while !sigint_in(child.id(), "SigCgt:") {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut stdin = child.stdin.take().unwrap();
    // A whole object: what was read so far parses.
    stdin
        .write_all(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: partial\n---\n")
        .unwrap();
    stdin.flush().unwrap();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    // Delivered (its handler ran) before the stream ends.
    while sigint_in(child.id(), "SigPnd:") || sigint_in(child.id(), "ShdPnd:") {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(stdin);
    // A grace period in which the old code finished with exit 0. It only decides whether the
    // old behaviour is caught, never whether the fixed one passes: that one waits, blocked on
    // stderr, until the pipe is drained below.
    for _ in 0..200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        err_read.read_to_end(&mut all).unwrap();
        all
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    fill.join().unwrap();
    let stderr = drain.join().unwrap();
    let stderr = String::from_utf8_lossy(&stderr)
        .trim_start_matches('.')
        .to_owned();
    (status.code(), stdout, stderr)
}

#[test]
fn interrupt_while_reading_stdin_never_swaps_out_dir() {
    let dir = tempdir();
    write(
        dir.path(),
        "in/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: earlier\n",
    );
    render()
        .args(["in", "--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .success();
    let before =
        std::fs::read_to_string(dir.path().join("out/v1.ConfigMap..earlier.yaml")).unwrap();
    let (code, stdout, stderr) =
        interrupted_with_partial_stdin(&["-", "--out-dir", "out"], dir.path());
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr, "manifest-render: interrupted\n");
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".rendered-files", "v1.ConfigMap..earlier.yaml"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/v1.ConfigMap..earlier.yaml")).unwrap(),
        before
    );
    // No staging directory left beside it.
    let mut beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    beside.sort();
    assert_eq!(beside, ["in", "out"]);
}

#[test]
fn interrupt_while_reading_stdin_writes_no_stream() {
    let dir = tempdir();
    let (code, stdout, stderr) = interrupted_with_partial_stdin(&["-"], dir.path());
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(stdout, "", "a partial stream was written");
    assert_eq!(stderr, "manifest-render: interrupted\n");
}

#[test]
fn out_dir_that_is_a_symlink_keeps_the_link_and_updates_its_target() {
    let dir = tempdir();
    write(
        dir.path(),
        "in/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    std::fs::create_dir(dir.path().join("real")).unwrap();
    write(dir.path(), "real/README.md", "kept");
    std::os::unix::fs::symlink("real", dir.path().join("out")).unwrap();
    render()
        .args(["in", "--out-dir", "out"])
        .current_dir(dir.path())
        .run()
        .success();
    let link = dir.path().join("out");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::Path::new("real")
    );
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".rendered-files", "README.md", "v1.ConfigMap..a.yaml"]
    );
    render()
        .args(["in", "--out-dir", "out", "--check"])
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_is("");
    let mut beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    beside.sort();
    assert_eq!(beside, ["in", "out", "real"]);
}

#[test]
fn deeply_nested_input_fails_at_once_naming_its_position() {
    let dir = tempdir();
    write(dir.path(), "flow.yaml", "[".repeat(100_000));
    write(dir.path(), "map.yaml", "{a: ".repeat(100_000));
    write(
        dir.path(),
        "block.yaml",
        format!("{}x\n", "- ".repeat(100_000)),
    );
    write(
        dir.path(),
        "deep.json",
        format!("{{\"apiVersion\": \"v1\",\n\"x\": {}", "[".repeat(100_000)),
    );
    for (file, at) in [
        ("flow.yaml", "1:129"),
        ("map.yaml", "1:513"),
        ("block.yaml", "1:257"),
        ("deep.json", "2:133"),
    ] {
        render()
            .arg(file)
            .current_dir(dir.path())
            .run()
            .code(2)
            .stdout_is("")
            .stderr_is(&format!(
                "manifest-render: error: {file}:{at}: collections nested deeper than 128 levels\n"
            ));
    }
    // Nested defaults in a placeholder, with substitution on.
    render()
        .args(["--var", "a=1"])
        .stdin(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: {}\n",
            "${a:=".repeat(100_000)
        ))
        .run()
        .code(2)
        .stdout_is("")
        .stderr_is(
            "manifest-render: error: <stdin>:6:326: substitutions nested deeper than 64 levels\n",
        );
}

#[test]
fn strict_is_the_default_as_in_flux() {
    let dir = tempdir();
    write(dir.path(), "deploy.yaml", DEPLOY);
    // A variable is defined, so substitution runs; TAG has no value and no default.
    render()
        .args(["deploy.yaml", "--var", "ENV=dev"])
        .current_dir(dir.path())
        .run()
        .code(2)
        .stdout_is("")
        .stderr_is(
            "manifest-render: error: undefined variables: TAG (deploy.yaml:10:22)\n\
             hint: pass them with --var NAME=VALUE or --vars-file, give defaults with ${NAME:=default}, or pass --no-strict to let them be empty\n",
        );
    // The opt-out: an empty string, as before.
    write(dir.path(), "config.yaml", CONFIG);
    write(
        dir.path(),
        "defaults.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  level: ${LEVEL:=info}\n  env: ${ENV}\n",
    );
    render()
        .args(["config.yaml", "--var", "OTHER=1", "--no-strict"])
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_contains("  env: null\n");
    // No variable defined: substitution does not run at all (Flux's default strategy).
    render()
        .arg("deploy.yaml")
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_contains("image: nginx:${TAG}");
    // substituteStrategy: Always, strict by default; and with the opt-out, defaults apply.
    for flag in ["--substitute", "--substitute-always"] {
        render()
            .args(["deploy.yaml", flag])
            .current_dir(dir.path())
            .run()
            .code(2)
            .stderr_contains(
                "manifest-render: error: undefined variables: TAG (deploy.yaml:10:22)\n",
            );
    }
    render()
        .args(["defaults.yaml", "--substitute", "--no-strict"])
        .current_dir(dir.path())
        .run()
        .success()
        .stdout_contains("  env: null\n  level: info\n");
    render()
        .args(["deploy.yaml", "--strict", "--no-strict"])
        .current_dir(dir.path())
        .run()
        .code(2)
        .stderr_contains("cannot be used with");
}

#[test]
fn a_value_holding_a_document_marker_is_named_as_such() {
    render()
        .args(["--var", "X=a\n---\nb"])
        .stdin("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: ${X}\n")
        .run()
        .code(2)
        .stdout_is("")
        .stderr_is("manifest-render: error: <stdin>:7: a substituted value holds a `---` line, which would start another YAML document; quote the value or remove the marker\n");
}

#[test]
fn a_vars_file_that_is_not_utf8_is_called_a_vars_file() {
    let dir = tempdir();
    write(dir.path(), "dev.env", b"A=1\nB=\xff\n".as_slice());
    render()
        .args(["--vars-file", "dev.env", "-"])
        .current_dir(dir.path())
        .stdin(CONFIG)
        .run()
        .code(2)
        .stdout_is("")
        .stderr_is(
            "manifest-render: error: dev.env:2:3: invalid UTF-8 (a vars file must be UTF-8 text)\n",
        );
}
