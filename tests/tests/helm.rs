//! Helm charts through manifest-render: a chart directory with `--values`, and `helmCharts:` in
//! a kustomization (compared with the pinned `kustomize build --enable-helm`). Tests that need
//! helm use `HELM_BIN`, else the pinned helm `make tools` builds (`harness::cluster::tool`);
//! without one they skip locally with a printed reason and fail in CI (`harness::skip_without`).

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{tempdir, write, Cmd};

fn helm() -> Option<PathBuf> {
    let candidate = std::env::var_os("HELM_BIN")
        .map(PathBuf::from)
        .or_else(|| harness::cluster::tool("helm"))?;
    let ok = Command::new(&candidate)
        .args(["version", "--short"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(candidate)
}

fn write_chart(dir: &Path) {
    write(
        dir,
        "charts/demo/Chart.yaml",
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    );
    write(
        dir,
        "charts/demo/values.yaml",
        "replicas: 1\ngreeting: hello\nnested:\n  a: 1\n  b: 2\n",
    );
    write(
        dir,
        "charts/demo/templates/app.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cfg
data:
  greeting: {{ .Values.greeting | quote }}
  nested: {{ toJson .Values.nested | quote }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.0
        envFrom:
        - configMapRef:
            name: {{ .Release.Name }}-cfg
"#,
    );
}

/// Isolated helm state, as ENVIRONMENT.md recommends.
fn helm_env(cmd: Cmd, dir: &Path) -> Cmd {
    cmd.env("HELM_CACHE_HOME", dir.join(".helm/cache"))
        .env("HELM_CONFIG_HOME", dir.join(".helm/config"))
        .env("HELM_DATA_HOME", dir.join(".helm/data"))
}

#[test]
fn chart_directory_renders_with_values_file() {
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return;
    }
    let helm = helm.unwrap();
    let tmp = tempdir();
    write_chart(tmp.path());
    write(
        tmp.path(),
        "prod.yaml",
        "replicas: 4\ngreeting: \"bonjour: monde\"\n",
    );
    let run = helm_env(Cmd::new("manifest-render"), tmp.path())
        .arg(tmp.path().join("charts/demo"))
        .args(["--values"])
        .arg(tmp.path().join("prod.yaml"))
        .args(["-n", "shop", "--helm-command"])
        .arg(&helm)
        .run()
        .success();
    // Objects in kustomize's order and style; the namespace defaulted by -n.
    assert_eq!(
        run.stdout,
        "apiVersion: v1
data:
  greeting: 'bonjour: monde'
  nested: '{\"a\":1,\"b\":2}'
kind: ConfigMap
metadata:
  name: release-name-cfg
  namespace: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: release-name-web
  namespace: shop
spec:
  replicas: 4
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - envFrom:
        - configMapRef:
            name: release-name-cfg
        image: nginx:1.0
        name: web
"
    );
}

#[test]
fn helm_charts_in_a_kustomization_match_kustomize() {
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return;
    }
    let helm = helm.unwrap();
    let kustomize = harness::cluster::tool("kustomize");
    if harness::skip_without(
        kustomize.is_some(),
        "the pinned kustomize (the oracle; `make tools`)",
    ) {
        return;
    }
    let kustomize = kustomize.unwrap();
    let tmp = tempdir();
    write_chart(tmp.path());
    write(tmp.path(), "extra-values.yaml", "replicas: 2\n");
    write(
        tmp.path(),
        "kustomization.yaml",
        "namePrefix: k-
namespace: apps
commonLabels:
  team: blue
helmCharts:
- name: demo
  releaseName: rel
  namespace: apps
  additionalValuesFiles: [extra-values.yaml]
  valuesInline:
    greeting: hi there
    nested:
      b: 3
",
    );
    let oracle = Command::new(&kustomize)
        .args(["build", "--enable-helm", "--helm-command"])
        .arg(&helm)
        .arg(tmp.path())
        .env("HELM_CACHE_HOME", tmp.path().join(".helm/cache"))
        .env("HELM_CONFIG_HOME", tmp.path().join(".helm/config"))
        .env("HELM_DATA_HOME", tmp.path().join(".helm/data"))
        .output()
        .expect("run kustomize build");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let run = helm_env(Cmd::new("manifest-render"), tmp.path())
        .arg(tmp.path())
        .arg("--helm-command")
        .arg(&helm)
        .run()
        .success();
    assert_eq!(run.stdout, String::from_utf8_lossy(&oracle.stdout));
    assert!(
        run.stdout.contains("name: k-rel-cfg") && run.stdout.contains("replicas: 2"),
        "{}",
        run.stdout
    );
}

#[test]
fn missing_helm_is_a_clear_error() {
    let tmp = tempdir();
    write_chart(tmp.path());
    let missing = tmp.path().join("no-such-helm");
    let run = Cmd::new("manifest-render")
        .arg(tmp.path().join("charts/demo"))
        .arg("--helm-command")
        .arg(&missing)
        .run()
        .code(2);
    assert!(run.stdout.is_empty());
    // The engine's message names the chart and the program; the tool's hint names its flag.
    assert_eq!(
        run.stderr,
        format!(
            "manifest-render: error: {}: rendering a Helm chart needs the `helm` binary, which was not found ({})\n\
             hint: install helm or pass --helm-command PATH\n",
            tmp.path().join("charts/demo").display(),
            missing.display()
        )
    );

    write(
        tmp.path(),
        "kustomization.yaml",
        "helmCharts:\n- name: demo\n  releaseName: r\n",
    );
    let run = Cmd::new("manifest-render")
        .arg(tmp.path())
        .arg("--helm-command")
        .arg(&missing)
        .run()
        .code(2);
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr,
        format!(
            "manifest-render: error: {}: helmCharts demo: rendering a Helm chart needs the `helm` binary, which was not found ({})\n\
             hint: install helm or pass --helm-command PATH\n",
            tmp.path().join("kustomization.yaml").display(),
            missing.display()
        )
    );
}

#[test]
fn failing_helm_names_the_chart_and_its_first_error_line() {
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return;
    }
    let helm = helm.unwrap();
    let tmp = tempdir();
    write_chart(tmp.path());
    write(
        tmp.path(),
        "charts/demo/templates/broken.yaml",
        "data: {{ .Values.nope.deeper }}\n",
    );
    let run = helm_env(Cmd::new("manifest-render"), tmp.path())
        .arg(tmp.path().join("charts/demo"))
        .arg("--helm-command")
        .arg(&helm)
        .run()
        .code(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let prefix = format!(
        "manifest-render: error: {}: `helm template` failed (exit status: 1): ",
        tmp.path().join("charts/demo").display()
    );
    assert!(run.stderr.starts_with(&prefix), "{}", run.stderr);
    assert!(run.stderr.contains("nil pointer"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn charts_outside_the_root_are_refused_by_the_load_restrictor() {
    // A chart home outside the kustomization root, and a chart directory that is a symlink to
    // outside: both would render templates from anywhere; kustomize refuses both (through the
    // chart's values.yaml it reads) and so do we, unless --load-restrictor None.
    let tmp = tempdir();
    write_chart(&tmp.path().join("outside"));
    write(
        tmp.path(),
        "home-outside/kustomization.yaml",
        "helmGlobals:\n  chartHome: ../outside/charts\nhelmCharts:\n- name: demo\n  releaseName: rel\n",
    );
    write(
        tmp.path(),
        "linked/kustomization.yaml",
        "helmCharts:\n- name: demo\n  releaseName: rel\n",
    );
    std::fs::create_dir_all(tmp.path().join("linked/charts")).unwrap();
    std::os::unix::fs::symlink(
        tmp.path().join("outside/charts/demo"),
        tmp.path().join("linked/charts/demo"),
    )
    .unwrap();
    let real = tmp.path().canonicalize().unwrap();
    for (case, entry) in [
        ("home-outside", "../outside/charts/demo"),
        ("linked", "charts/demo"),
    ] {
        let dir = tmp.path().join(case);
        let run = Cmd::new("manifest-render")
            .arg(&dir)
            .arg("--helm-command")
            .arg(tmp.path().join("no-helm-is-needed-to-refuse"))
            .run()
            .code(2);
        assert!(run.stdout.is_empty(), "{case}: {}", run.stdout);
        assert_eq!(
            run.stderr,
            format!(
                "manifest-render: error: {}: helmCharts entry {entry:?}: security; file '{}' is not in or below '{}' (kustomize's load restrictor)\n\
                 hint: pass --load-restrictor None to allow it\n",
                dir.join("kustomization.yaml").display(),
                real.join("outside/charts/demo").display(),
                real.join(case).display()
            ),
            "{case}"
        );
    }
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return;
    }
    let helm = helm.unwrap();
    let kustomize = harness::cluster::tool("kustomize");
    if harness::skip_without(
        kustomize.is_some(),
        "the pinned kustomize (the oracle; `make tools`)",
    ) {
        return;
    }
    let kustomize = kustomize.unwrap();
    for case in ["home-outside", "linked"] {
        let dir = tmp.path().join(case);
        let oracle = |restrictor: &str| {
            Command::new(&kustomize)
                .args(["build", "--enable-helm", "--load-restrictor", restrictor])
                .arg("--helm-command")
                .arg(&helm)
                .arg(&dir)
                .env("HELM_CACHE_HOME", tmp.path().join(".helm/cache"))
                .env("HELM_CONFIG_HOME", tmp.path().join(".helm/config"))
                .env("HELM_DATA_HOME", tmp.path().join(".helm/data"))
                .output()
                .expect("run kustomize build")
        };
        let refused = oracle("LoadRestrictionsRootOnly");
        assert!(!refused.status.success(), "{case}: kustomize rendered it");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("security; file"),
            "{case}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
        let allowed = oracle("LoadRestrictionsNone");
        assert!(allowed.status.success(), "{case}");
        let ours = helm_env(Cmd::new("manifest-render"), tmp.path())
            .arg(&dir)
            .args(["--load-restrictor", "None", "--helm-command"])
            .arg(&helm)
            .run()
            .success();
        assert_eq!(
            ours.stdout,
            String::from_utf8_lossy(&allowed.stdout),
            "{case}"
        );
    }
}

#[test]
fn helm_chart_inflation_generator_in_generators_matches_kustomize() {
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return;
    }
    let helm = helm.unwrap();
    let kustomize = harness::cluster::tool("kustomize");
    if harness::skip_without(
        kustomize.is_some(),
        "the pinned kustomize (the oracle; `make tools`)",
    ) {
        return;
    }
    let tmp = tempdir();
    write_chart(tmp.path());
    write(
        tmp.path(),
        "kustomization.yaml",
        "namespace: apps
namePrefix: g-
generators:
- |-
  apiVersion: builtin
  kind: HelmChartInflationGenerator
  metadata:
    name: demo
  name: demo
  releaseName: gen
  valuesInline:
    replicas: 3
",
    );
    let oracle = Command::new(kustomize.unwrap())
        .args(["build", "--enable-helm", "--helm-command"])
        .arg(&helm)
        .arg(tmp.path())
        .env("HELM_CACHE_HOME", tmp.path().join(".helm/cache"))
        .env("HELM_CONFIG_HOME", tmp.path().join(".helm/config"))
        .env("HELM_DATA_HOME", tmp.path().join(".helm/data"))
        .output()
        .expect("run kustomize build");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let run = helm_env(Cmd::new("manifest-render"), tmp.path())
        .arg(tmp.path())
        .arg("--helm-command")
        .arg(&helm)
        .run()
        .success();
    assert_eq!(run.stdout, String::from_utf8_lossy(&oracle.stdout));
    assert!(
        run.stdout.contains("name: g-gen-web") && run.stdout.contains("replicas: 3"),
        "{}",
        run.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// `helm template` flags for a chart directory, and every field of `helmCharts` entries.

/// helm and the pinned kustomize, or `None` (the test then skips locally, fails in CI).
fn oracles() -> Option<(PathBuf, PathBuf)> {
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return None;
    }
    let kustomize = harness::cluster::tool("kustomize");
    if harness::skip_without(
        kustomize.is_some(),
        "the pinned kustomize (the oracle; `make tools`)",
    ) {
        return None;
    }
    Some((helm.unwrap(), kustomize.unwrap()))
}

/// A chart whose output shows everything a setting can change: the release name and namespace,
/// the capabilities, all values (as JSON), tests, hooks and CRDs.
fn write_rich_chart(dir: &Path, name: &str) {
    let chart = Path::new(name).file_name().unwrap().to_str().unwrap();
    write(
        dir,
        &format!("{name}/Chart.yaml"),
        format!("apiVersion: v2\nname: {chart}\nversion: 0.2.0\n"),
    );
    write(
        dir,
        &format!("{name}/values.yaml"),
        "replicas: 1\ntag: \"1.0\"\ngreeting: hello\nnested:\n  a: 1\n  b: 2\nlist: [x, y]\nmotd: \"\"\n",
    );
    write(
        dir,
        &format!("{name}/templates/cm.yaml"),
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cfg
  namespace: {{ .Release.Namespace }}
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor" | quote }}
  values: {{ toJson .Values | quote }}
"#,
    );
    write(
        dir,
        &format!("{name}/templates/deploy.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: "nginx:{{ .Values.tag }}"
"#,
    );
    write(
        dir,
        &format!("{name}/templates/tests/test.yaml"),
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  containers:
  - name: t
    image: busybox
"#,
    );
    write(
        dir,
        &format!("{name}/templates/hook.yaml"),
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: m
        image: busybox
"#,
    );
    write(
        dir,
        &format!("{name}/crds/widgets.yaml"),
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object}
"#,
    );
}

#[test]
fn chart_directory_flags_match_helm_template() {
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return;
    }
    let helm = helm.unwrap();
    let tmp = tempdir();
    write_rich_chart(tmp.path(), "rich");
    let chart = tmp.path().join("rich");
    write(tmp.path(), "prod.yaml", "replicas: 4\nnested:\n  b: 7\n");
    write(tmp.path(), "motd.txt", "welcome\nto the shop\n");
    let prod = tmp.path().join("prod.yaml").display().to_string();
    let motd = format!("motd={}", tmp.path().join("motd.txt").display());
    // (manifest-render's flags, helm template's arguments after `template`, a piece of output
    // that shows the setting took effect, and one that it removed, if any).
    let cases: Vec<(Vec<&str>, Vec<&str>, &str, &str)> = vec![
        (vec![], vec![], "name: release-name-cfg", "widgets"),
        (
            vec!["--release-name", "shop"],
            vec!["shop"],
            "name: shop-web",
            "release-name",
        ),
        (
            vec!["--name-template", "{{ \"tmpl\" }}-x"],
            vec!["--name-template", "{{ \"tmpl\" }}-x"],
            "name: tmpl-x-cfg",
            "release-name",
        ),
        (
            vec!["-f", &prod, "--set", "replicas=3,list={p,q}"],
            vec!["-f", &prod, "--set", "replicas=3,list={p,q}"],
            "replicas: 3",
            "replicas: 4",
        ),
        (
            vec![
                "--set-string",
                "tag=1.10",
                "--set-json",
                "nested={\"a\":5}",
                "--set-literal",
                "greeting=a,b{c}",
                "--set-file",
                &motd,
            ],
            vec![
                "--set-string",
                "tag=1.10",
                "--set-json",
                "nested={\"a\":5}",
                "--set-literal",
                "greeting=a,b{c}",
                "--set-file",
                &motd,
            ],
            "image: nginx:1.10",
            "hello",
        ),
        (
            vec![
                "--kube-version",
                "v1.31.2",
                "--api-versions",
                "monitoring.coreos.com/v1/ServiceMonitor",
            ],
            vec![
                "--kube-version",
                "v1.31.2",
                "--api-versions",
                "monitoring.coreos.com/v1/ServiceMonitor",
            ],
            "kube: v1.31.2",
            "monitoring: \"false\"",
        ),
        (
            vec!["--include-crds"],
            vec!["--include-crds"],
            "name: widgets.example.com",
            "",
        ),
        (
            vec!["--skip-tests"],
            vec!["--skip-tests"],
            "release-name-migrate",
            "release-name-test",
        ),
        (
            vec!["--no-hooks"],
            vec!["--no-hooks"],
            "release-name-cfg",
            "release-name-migrate",
        ),
        (
            vec!["-n", "shop", "--release-name", "r"],
            vec!["r", "--namespace", "shop"],
            "namespace: shop",
            "",
        ),
    ];
    for (ours, theirs, evidence, gone) in cases {
        let mut helm_args = vec!["template"];
        let (names, flags): (Vec<&str>, Vec<&str>) = match theirs.first() {
            Some(first) if !first.starts_with('-') => (vec![*first], theirs[1..].to_vec()),
            _ => (vec![], theirs.clone()),
        };
        helm_args.extend(names);
        helm_args.push(chart.to_str().unwrap());
        helm_args.extend(flags);
        let oracle = helm_env(Cmd::program(&helm), tmp.path())
            .args(&helm_args)
            .run()
            .success();
        // The same documents in manifest-render's form: helm's output rendered as plain YAML,
        // with the same namespace defaulting.
        let ns: Vec<&str> = ours
            .windows(2)
            .find(|w| w[0] == "-n")
            .map(|w| vec!["-n", w[1]])
            .unwrap_or_default();
        let expected = Cmd::new("manifest-render")
            .arg("-")
            .args(&ns)
            .stdin(oracle.stdout.clone())
            .run()
            .success();
        let run = helm_env(Cmd::new("manifest-render"), tmp.path())
            .arg(&chart)
            .args(&ours)
            .arg("--helm-command")
            .arg(&helm)
            .run()
            .success();
        assert_eq!(run.stdout, expected.stdout, "{ours:?}");
        assert!(
            run.stdout.contains(evidence),
            "{ours:?}: no {evidence:?} in\n{}",
            run.stdout
        );
        assert!(
            gone.is_empty() || !run.stdout.contains(gone),
            "{ours:?}: {gone:?} in\n{}",
            run.stdout
        );
    }
    // What the settings above changed is absent without them.
    let plain = helm_env(Cmd::new("manifest-render"), tmp.path())
        .arg(&chart)
        .arg("--helm-command")
        .arg(&helm)
        .run()
        .success();
    for absent in ["widgets.example.com", "kube: v1.31.2", "tmpl-x"] {
        assert!(!plain.stdout.contains(absent), "{absent}: {}", plain.stdout);
    }
    for present in [
        "release-name-test",
        "release-name-migrate",
        "monitoring: \"false\"",
    ] {
        assert!(
            plain.stdout.contains(present),
            "{present}: {}",
            plain.stdout
        );
    }
}

#[test]
fn chart_settings_without_a_chart_directory_are_refused() {
    let tmp = tempdir();
    write(
        tmp.path(),
        "app/kustomization.yaml",
        "resources: [cm.yaml]\n",
    );
    write(
        tmp.path(),
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    let run = Cmd::new("manifest-render")
        .arg(tmp.path().join("app"))
        .args(["--set", "replicas=3"])
        .run()
        .code(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        run.stderr,
        "manifest-render: error: Helm chart settings (values, release name, name template, CRDs, tests, hooks) apply to chart directories given as paths, and no input is one (a kustomization's helmCharts entries name their own)\n\
         hint: --values, --set*, --release-name, --name-template, --include-crds, --skip-tests and --no-hooks are for a chart directory (a path holding Chart.yaml); in a kustomization use the helmCharts fields (valuesInline, releaseName, …)\n"
    );
    // The Kubernetes version is not one of them: it is the default of helmCharts entries.
    Cmd::new("manifest-render")
        .arg(tmp.path().join("app"))
        .args(["--kube-version", "1.30.0"])
        .run()
        .success()
        .stdout_contains("name: c");
}

#[test]
fn unparsable_values_are_reported_at_their_line() {
    let helm = helm();
    if harness::skip_without(
        helm.is_some(),
        "helm (HELM_BIN, or the pinned one: `make tools`)",
    ) {
        return;
    }
    let helm = helm.unwrap();
    let tmp = tempdir();
    write_rich_chart(tmp.path(), "charts/rich");
    write(tmp.path(), "bad.yaml", "replicas: 2\n  tag: [1\n");
    let bad = tmp.path().join("bad.yaml");
    let run = helm_env(Cmd::new("manifest-render"), tmp.path())
        .arg(tmp.path().join("charts/rich"))
        .arg("-f")
        .arg(&bad)
        .arg("--helm-command")
        .arg(&helm)
        .run()
        .code(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .starts_with(&format!("manifest-render: error: {}:2:", bad.display())),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // In a kustomization: a valuesFile read by helm (no inline values) and one merged with
    // inline values (read here); both at the file's line, and kustomize fails on both too.
    for inline in ["", "  valuesInline: {replicas: 3}\n"] {
        let dir = tmp.path().join(format!("k{}", inline.len()));
        write_rich_chart(&dir, "charts/rich");
        write(&dir, "bad.yaml", "replicas: 2\n  tag: [1\n");
        write(
            &dir,
            "kustomization.yaml",
            format!(
                "helmCharts:\n- name: rich\n  releaseName: r\n  valuesFile: bad.yaml\n{inline}"
            ),
        );
        let run = Cmd::new("manifest-render")
            .arg(&dir)
            .arg("--helm-command")
            .arg(&helm)
            .run()
            .code(2);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert!(
            run.stderr.starts_with(&format!(
                "manifest-render: error: {}:2:",
                dir.join("bad.yaml").display()
            )),
            "{inline:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        if let Some(kustomize) = harness::cluster::tool("kustomize") {
            let oracle = kustomize_build(&kustomize, &helm, &dir, &[]);
            assert!(!oracle.status.success(), "kustomize rendered {inline:?}");
        }
    }
}

fn kustomize_build(
    kustomize: &Path,
    helm: &Path,
    dir: &Path,
    extra: &[&str],
) -> std::process::Output {
    Command::new(kustomize)
        .args(["build", "--enable-helm", "--helm-command"])
        .arg(helm)
        .args(extra)
        .arg(dir)
        .output()
        .expect("run kustomize build")
}

/// Renders `dir` with kustomize and manifest-render and requires the same bytes; returns them.
fn same_as_kustomize(
    (helm, kustomize): &(PathBuf, PathBuf),
    dir: &Path,
    kustomize_flags: &[&str],
    our_flags: &[&str],
) -> String {
    let oracle = kustomize_build(kustomize, helm, dir, kustomize_flags);
    assert!(
        oracle.status.success(),
        "{}: kustomize failed: {}",
        dir.display(),
        String::from_utf8_lossy(&oracle.stderr)
    );
    let run = Cmd::new("manifest-render")
        .arg(dir)
        .args(our_flags)
        .arg("--helm-command")
        .arg(helm)
        .run()
        .success();
    assert_eq!(
        run.stdout,
        String::from_utf8_lossy(&oracle.stdout),
        "{}",
        dir.display()
    );
    run.stdout
}

#[test]
fn every_helm_charts_field_matches_kustomize() {
    let Some(tools) = oracles() else { return };
    let tmp = tempdir();
    // (case, kustomization, a piece of the output that shows the field took effect).
    let cases: &[(&str, &str, &str)] = &[
        (
            "release-namespace-values",
            "helmCharts:\n- name: rich\n  releaseName: shop\n  namespace: store\n  valuesFile: values/prod.yaml\n  additionalValuesFiles: [values/more.yaml]\n",
            "replicas: 5",
        ),
        (
            "values-inline-override",
            "helmCharts:\n- name: rich\n  releaseName: r\n  valuesInline:\n    tag: \"2.0\"\n    nested: {b: 9, c: null}\n    list: [z]\n    greeting: null\n    added: {k: v, gone: null}\n",
            "nginx:2.0",
        ),
        (
            "values-inline-merge",
            "helmCharts:\n- name: rich\n  releaseName: r\n  valuesMerge: merge\n  valuesInline:\n    tag: \"2.0\"\n    nested: {b: 9, c: 3}\n    added: 1\n",
            "nginx:1.0",
        ),
        (
            "values-inline-replace",
            "helmCharts:\n- name: rich\n  releaseName: r\n  valuesMerge: replace\n  valuesInline:\n    replicas: 2\n    nested: {z: 1}\n",
            "replicas: 2",
        ),
        (
            "values-inline-patch-directives",
            "helmCharts:\n- name: rich\n  releaseName: r\n  valuesInline:\n    nested: {$patch: replace, only: 1}\n",
            "only",
        ),
        (
            "capabilities",
            "helmCharts:\n- name: rich\n  releaseName: r\n  kubeVersion: v1.29.4\n  apiVersions: [monitoring.coreos.com/v1/ServiceMonitor]\n",
            "kube: v1.29.4",
        ),
        (
            "include-crds",
            "helmCharts:\n- name: rich\n  releaseName: r\n  includeCRDs: true\n",
            "widgets.example.com",
        ),
        (
            "skip-tests",
            "helmCharts:\n- name: rich\n  releaseName: r\n  skipTests: true\n",
            "r-migrate",
        ),
        (
            "skip-hooks",
            "helmCharts:\n- name: rich\n  releaseName: r\n  skipHooks: true\n",
            "r-web",
        ),
        (
            "name-template",
            "helmCharts:\n- name: rich\n  nameTemplate: tmpl\n",
            "tmpl-web",
        ),
        (
            "namespace-from-the-kustomization",
            "namespace: from-kust\nhelmCharts:\n- name: rich\n  releaseName: r\n",
            "namespace: from-kust",
        ),
        (
            "chart-home-and-config-home",
            "helmGlobals:\n  chartHome: vendor/helm\n  configHome: CONFIG_HOME\nhelmCharts:\n- name: rich\n  releaseName: r\n",
            "r-cfg",
        ),
        (
            "two-charts",
            "helmCharts:\n- name: rich\n  releaseName: one\n- name: rich\n  releaseName: two\n  namespace: other\n",
            "two-web",
        ),
    ];
    for (case, kustomization, evidence) in cases {
        let dir = tmp.path().join(case);
        let home = if case.starts_with("chart-home") {
            "vendor/helm"
        } else {
            "charts"
        };
        write_rich_chart(&dir, &format!("{home}/rich"));
        write(&dir, "values/prod.yaml", "replicas: 4\ntag: \"1.5\"\n");
        write(&dir, "values/more.yaml", "replicas: 5\n");
        // A relative configHome is relative to the working directory (kustomize's and ours):
        // keep it in the test's directory.
        let config_home = dir.join("helm-config").display().to_string();
        write(
            &dir,
            "kustomization.yaml",
            kustomization.replace("CONFIG_HOME", &config_home),
        );
        let out = same_as_kustomize(&tools, &dir, &[], &[]);
        assert!(out.contains(evidence), "{case}: no {evidence:?} in\n{out}");
    }
    // Without the fields, their evidence is absent (so each case could fail).
    let dir = tmp.path().join("plain");
    write_rich_chart(&dir, "charts/rich");
    write(
        &dir,
        "kustomization.yaml",
        "helmCharts:\n- name: rich\n  releaseName: r\n",
    );
    let plain = same_as_kustomize(&tools, &dir, &[], &[]);
    for absent in [
        "widgets.example.com",
        "kube: v1.29.4",
        "namespace: from-kust",
        "nginx:2.0",
    ] {
        assert!(!plain.contains(absent), "{absent}: {plain}");
    }
}

#[test]
fn helm_chart_namespace_is_inherited_from_an_including_overlay() {
    let Some(tools) = oracles() else { return };
    let tmp = tempdir();
    write_rich_chart(tmp.path(), "base/charts/rich");
    write(
        tmp.path(),
        "base/kustomization.yaml",
        "helmCharts:\n- name: rich\n  releaseName: r\n",
    );
    write(
        tmp.path(),
        "mid/kustomization.yaml",
        "resources: [../base]\n",
    );
    write(
        tmp.path(),
        "overlay/kustomization.yaml",
        "namespace: outer\nresources: [../mid]\n",
    );
    let out = same_as_kustomize(&tools, &tmp.path().join("overlay"), &[], &[]);
    assert!(out.contains("namespace: outer"), "{out}");
}

#[test]
fn kube_version_and_api_versions_flags_are_the_defaults_of_helm_charts_entries() {
    let Some(tools) = oracles() else { return };
    let tmp = tempdir();
    for (case, entry) in [
        ("defaults", ""),
        (
            "entry-wins",
            "  kubeVersion: v1.28.1\n  apiVersions: [example.com/v9]\n",
        ),
    ] {
        let dir = tmp.path().join(case);
        write_rich_chart(&dir, "charts/rich");
        write(
            &dir,
            "kustomization.yaml",
            format!("helmCharts:\n- name: rich\n  releaseName: r\n{entry}"),
        );
        let out = same_as_kustomize(
            &tools,
            &dir,
            &[
                "--helm-kube-version",
                "1.33.0",
                "--helm-api-versions",
                "monitoring.coreos.com/v1/ServiceMonitor",
            ],
            &[
                "--kube-version",
                "1.33.0",
                "--api-versions",
                "monitoring.coreos.com/v1/ServiceMonitor",
            ],
        );
        let (kube, monitoring) = if entry.is_empty() {
            ("v1.33.0", "true")
        } else {
            ("v1.28.1", "false")
        };
        assert!(out.contains(&format!("kube: {kube}")), "{case}: {out}");
        assert!(
            out.contains(&format!("monitoring: \"{monitoring}\"")),
            "{case}: {out}"
        );
    }
}

/// A chart repository on 127.0.0.1: `helm package` + `helm repo index`, served by the harness's
/// HTTP server, counting requests.
struct ChartRepo {
    server: harness::git_http::Server,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ChartRepo {
    fn start(helm: &Path, tmp: &Path) -> ChartRepo {
        let files = tmp.join("repo");
        std::fs::create_dir_all(&files).unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let root = files.clone();
        let server = harness::git_http::Server::start(move |req| {
            seen.lock().unwrap().push(req.path.clone());
            let name = req.path.trim_start_matches('/');
            match std::fs::read(root.join(name)) {
                Ok(body) if !name.contains("..") && !name.is_empty() => {
                    harness::git_http::Response {
                        status: 200,
                        headers: vec![],
                        body,
                    }
                }
                _ => harness::git_http::Response {
                    status: 404,
                    headers: vec![],
                    body: b"not found".to_vec(),
                },
            }
        });
        write_rich_chart(&tmp.join("src"), "demo");
        write(
            &tmp.join("src"),
            "demo/Chart.yaml",
            "apiVersion: v2\nname: demo\nversion: 1.2.3\n",
        );
        let env = |cmd: Cmd| helm_env(cmd, tmp);
        env(Cmd::program(helm))
            .args(["package", "--destination"])
            .arg(&files)
            .arg(tmp.join("src/demo"))
            .run()
            .success();
        env(Cmd::program(helm))
            .args(["repo", "index", "--url", &server.base()])
            .arg(&files)
            .run()
            .success();
        ChartRepo { server, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The files below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn helm_charts_pull_from_a_chart_repository_into_the_chart_home_once() {
    let Some(tools) = oracles() else { return };
    let (helm, kustomize) = &tools;
    let tmp = tempdir();
    let repo = ChartRepo::start(helm, tmp.path());
    let kustomization = format!(
        "helmCharts:\n- name: demo\n  repo: {}\n  version: 1.2.3\n  releaseName: pulled\n  valuesInline: {{replicas: 2}}\n",
        repo.server.base()
    );
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    write(&ours, "kustomization.yaml", &kustomization);
    write(&theirs, "kustomization.yaml", &kustomization);
    let oracle = kustomize_build(kustomize, helm, &theirs, &[]);
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let before = repo.requests().len();
    let first = Cmd::new("manifest-render")
        .arg(&ours)
        .arg("--helm-command")
        .arg(helm)
        .run()
        .success();
    assert_eq!(first.stdout, String::from_utf8_lossy(&oracle.stdout));
    assert!(first.stdout.contains("name: pulled-web") && first.stdout.contains("replicas: 2"));
    // The index and the archive, once each; the chart lands where kustomize puts it.
    assert_eq!(
        repo.requests()[before..],
        ["/index.yaml".to_owned(), "/demo-1.2.3.tgz".to_owned()]
    );
    assert_eq!(tree(&ours.join("charts")), tree(&theirs.join("charts")));
    assert!(ours.join("charts/demo-1.2.3/demo/Chart.yaml").is_file());
    // A second render reads the chart home: no request at all, same output.
    let count = repo.requests().len();
    let second = Cmd::new("manifest-render")
        .arg(&ours)
        .arg("--helm-command")
        .arg(helm)
        .run()
        .success();
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(repo.requests().len(), count, "{:?}", repo.requests());

    // Without a version: the latest, into `{chartHome}/demo`, as kustomize.
    let latest = tmp.path().join("latest");
    write(
        &latest,
        "kustomization.yaml",
        format!(
            "helmCharts:\n- name: demo\n  repo: {}\n  releaseName: l\n",
            repo.server.base()
        ),
    );
    same_as_kustomize(&tools, &latest, &[], &[]);
    assert!(latest.join("charts/demo/Chart.yaml").is_file());
}

#[test]
fn chart_repository_failures_are_one_line_and_write_nothing() {
    let Some(tools) = oracles() else { return };
    let (helm, kustomize) = &tools;
    let tmp = tempdir();
    let repo = ChartRepo::start(helm, tmp.path());
    let unreachable = {
        let port = harness::free_port();
        format!("http://127.0.0.1:{port}")
    };
    let cases = [
        (
            "no-chart-no-repo",
            "helmCharts:\n- name: demo\n  releaseName: r\n".to_owned(),
            "helmCharts demo: no chart at ".to_owned(),
        ),
        (
            "bad-version",
            format!(
                "helmCharts:\n- name: demo\n  repo: {}\n  version: 9.9.9\n  releaseName: r\n",
                repo.server.base()
            ),
            format!(
                "helmCharts demo: `helm pull` failed (exit status: 1): Error: chart \"demo\" version \"9.9.9\" not found in {} repository",
                repo.server.base()
            ),
        ),
        (
            "unknown-chart",
            format!(
                "helmCharts:\n- name: nope\n  repo: {}\n  version: 1.2.3\n  releaseName: r\n",
                repo.server.base()
            ),
            "helmCharts nope: `helm pull` failed (exit status: 1): Error: chart \"nope\" version \"1.2.3\" not found".to_owned(),
        ),
        (
            "unreachable-repo",
            format!(
                "helmCharts:\n- name: demo\n  repo: {unreachable}\n  version: 1.2.3\n  releaseName: r\n"
            ),
            format!(
                "helmCharts demo: `helm pull` failed (exit status: 1): Error: looks like \"{unreachable}\" is not a valid chart repository or cannot be reached"
            ),
        ),
    ];
    for (case, kustomization, message) in cases {
        let dir = tmp.path().join(case);
        write(&dir, "kustomization.yaml", &kustomization);
        let run = Cmd::new("manifest-render")
            .arg(&dir)
            .arg("--helm-command")
            .arg(helm)
            .run()
            .code(2);
        assert!(run.stdout.is_empty(), "{case}: {}", run.stdout);
        let prefix = format!(
            "manifest-render: error: {}: {message}",
            dir.join("kustomization.yaml").display()
        );
        assert!(run.stderr.starts_with(&prefix), "{case}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{case}: {}", run.stderr);
        // Nothing written: no chart home, no partial pull.
        assert_eq!(tree(&dir), ["kustomization.yaml"], "{case}");
        let oracle = kustomize_build(kustomize, helm, &dir, &[]);
        assert!(!oracle.status.success(), "{case}: kustomize rendered it");
    }
}

#[test]
fn the_deprecated_helm_chart_inflation_generator_field_matches_kustomize() {
    let Some(tools) = oracles() else { return };
    let tmp = tempdir();
    write_rich_chart(tmp.path(), "vendor/rich");
    write(
        tmp.path(),
        "values/prod.yaml",
        "replicas: 4\ntag: \"1.5\"\n",
    );
    // kustomize turns each entry into a helmCharts one; releaseNamespace is read and dropped.
    write(
        tmp.path(),
        "kustomization.yaml",
        "helmChartInflationGenerator:\n- chartName: rich\n  chartHome: vendor\n  releaseName: old\n  releaseNamespace: ignored\n  values: values/prod.yaml\n  valuesLocal: {tag: \"3.0\"}\n",
    );
    let out = same_as_kustomize(&tools, tmp.path(), &[], &[]);
    assert!(
        out.contains("name: old-web") && out.contains("nginx:3.0") && out.contains("replicas: 4"),
        "{out}"
    );
    assert!(!out.contains("ignored"), "{out}");
}
