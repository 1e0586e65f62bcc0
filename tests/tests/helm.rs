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
