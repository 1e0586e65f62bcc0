//! Conformance of manifest-render's kustomize engine with the pinned kustomize CLI (v5.8.2,
//! built by `make tools`; found by `harness::cluster::tool`), the oracle: every directory under
//! `tests/conformance/` is rendered by both, and the
//! outputs must be the same documents in the same order — byte for byte. A case where the
//! oracle fails must make manifest-render fail with exit code 2 and the one-line message that
//! [`ERRORS`] names for it (or that the case's own `expected-error.txt` holds, a file kustomize
//! never reads), so that a case cannot pass by failing for another reason.
//!
//! Cases that cannot be byte-identical would be listed in `NOT_BYTE_IDENTICAL` with the reason;
//! they must still parse to the same documents. The list is empty today. Cases where kustomize's
//! older built-in schema gives another scope or merge than the Kubernetes API are listed in
//! `SCHEMA_NEWER_THAN_KUSTOMIZE`, each difference named and explained.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::Cmd;

/// Cases allowed to differ in YAML text (same parsed documents), with why.
const NOT_BYTE_IDENTICAL: &[(&str, &str)] = &[];

/// Why kustomize differs in the cases of [`SCHEMA_NEWER_THAN_KUSTOMIZE`].
const OLD_SCOPE: &str = "kustomize v5.8.2 takes scopes from its embedded Kubernetes v1.21 schema (plus a few precomputed newer kinds) by apiVersion, and takes kinds it does not know as namespaced; the Kubernetes API (v1.36.3, whose discovery our scopes are generated from) serves these kinds as cluster-scoped, so they get no namespace here";
const OLD_MERGE_KEYS: &str = "kustomize v5.8.2 merges by its embedded Kubernetes v1.21 schema, which lacks these fields (added in v1.26-v1.27), and replaces lists it has no schema for; the v1.36.3 API gives them the merge strategy and key `name`, so they are merged here";
const REMOVED_KIND: &str = "kustomize's v1.21 schema still knows PodSecurityPolicy as cluster-scoped; the v1.36.3 API removed it (in v1.25), so like any kind the API does not serve it is namespaced here";

/// A case, the objects (`Kind/name`) and JSON pointers where the outputs differ, and why.
type Divergence = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// Explained divergences: cases where kustomize v5.8.2's output differs from ours only because
/// its built-in schema is older than the Kubernetes API ours is generated from. Each names the
/// objects (`Kind/name`) and the JSON pointers where the outputs differ; the test requires the
/// values there to differ and the documents to be identical everywhere else.
const SCHEMA_NEWER_THAN_KUSTOMIZE: &[Divergence] = &[
    (
        "scope-newer-cluster-scoped-kinds",
        &[
            ("FlowSchema/fs", "/metadata/namespace"),
            ("PriorityLevelConfiguration/plc", "/metadata/namespace"),
            ("DeviceClass/gpu", "/metadata/namespace"),
            ("ResourceSlice/slice", "/metadata/namespace"),
            ("VolumeAttributesClass/gold", "/metadata/namespace"),
            ("IPAddress/10.0.0.1", "/metadata/namespace"),
            ("ServiceCIDR/extra", "/metadata/namespace"),
        ],
        OLD_SCOPE,
    ),
    (
        "scope-admission-policies",
        &[
            ("MutatingAdmissionPolicy/p-map", "/metadata/namespace"),
            (
                "MutatingAdmissionPolicyBinding/p-mapb",
                "/metadata/namespace",
            ),
        ],
        OLD_SCOPE,
    ),
    (
        "scope-review-kinds",
        &[
            ("TokenReview/tr", "/metadata/namespace"),
            ("SelfSubjectReview/ssr", "/metadata/namespace"),
            ("SubjectAccessReview/sar", "/metadata/namespace"),
            ("SelfSubjectAccessReview/ssar", "/metadata/namespace"),
            ("SelfSubjectRulesReview/ssrr", "/metadata/namespace"),
        ],
        OLD_SCOPE,
    ),
    (
        "scope-older-api-versions",
        &[
            ("FlowSchema/fs-beta3", "/metadata/namespace"),
            ("VolumeAttributesClass/vac-beta1", "/metadata/namespace"),
            ("ValidatingAdmissionPolicy/vap-beta1", "/metadata/namespace"),
        ],
        OLD_SCOPE,
    ),
    (
        "scope-newer-kinds-name-references",
        &[
            ("DeviceClass/gpu-x", "/metadata/namespace"),
            ("VolumeAttributesClass/gold-x", "/metadata/namespace"),
        ],
        OLD_SCOPE,
    ),
    (
        "scope-removed-and-disabled-kinds",
        &[("PodSecurityPolicy/psp", "/metadata/namespace")],
        REMOVED_KIND,
    ),
    (
        "patches-sm-scheduling-gates-resource-claims",
        &[
            ("Deployment/web", "/spec/template/spec/schedulingGates"),
            ("Deployment/web", "/spec/template/spec/resourceClaims"),
        ],
        OLD_MERGE_KEYS,
    ),
];

/// Checks a case of [`SCHEMA_NEWER_THAN_KUSTOMIZE`]: the same documents in the same order, except
/// at the listed places, where the values must differ.
fn check_schema_divergence(
    name: &str,
    places: &[(&str, &str)],
    expected: &str,
    ours: &str,
) -> Option<String> {
    let (mut theirs, mut mine) = (documents(expected), documents(ours));
    if theirs.len() != mine.len() {
        return Some(format!(
            "{name}: {} documents from kustomize, {} here",
            theirs.len(),
            mine.len()
        ));
    }
    let id = |d: &serde_json::Value| {
        format!(
            "{}/{}",
            d["kind"].as_str().unwrap_or(""),
            d.pointer("/metadata/name")
                .and_then(|v| v.as_str())
                .unwrap_or("")
        )
    };
    for (object, pointer) in places {
        let Some(i) = theirs.iter().position(|d| id(d) == *object) else {
            return Some(format!("{name}: kustomize's output has no {object}"));
        };
        let Some(j) = mine.iter().position(|d| id(d) == *object) else {
            return Some(format!("{name}: our output has no {object}"));
        };
        if theirs[i].pointer(pointer) == mine[j].pointer(pointer) {
            return Some(format!(
                "{name}: {object} {pointer} is the same in both outputs; remove it from SCHEMA_NEWER_THAN_KUSTOMIZE"
            ));
        }
        let (parent, field) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        for d in [&mut theirs[i], &mut mine[j]] {
            if let Some(serde_json::Value::Object(m)) = d.pointer_mut(parent) {
                m.remove(field);
            }
        }
    }
    (theirs != mine).then(|| {
        format!("{name}: the outputs differ beyond the listed places\n--- kustomize\n{expected}\n--- manifest-render\n{ours}")
    })
}

/// Every case where kustomize fails, with a piece of manifest-render's error line for it.
const ERRORS: &[(&str, &str)] = &[
    ("component-as-resource-error", "kustomization.yaml: resources entry \"comp\" is a Component; list it under `components`"),
    ("directory-without-kustomization-error", "directory-without-kustomization-error/plain: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory"),
    ("generator-duplicate-key-error", "configMapGenerator d: cannot add key a from literal, another key by that name already exists"),
    ("id-conflict-error", "ConfigMap/app-config: may not add resource with an already registered id"),
    ("load-restrictor-error", "resources entry \"../outside.yaml\": security; file "),
    ("missing-resource-error", "resources entry \"nothere.yaml\": no such file or directory"),
    ("namespace-renames-namespace-objects", "r.yaml:7: Namespace/target: defined twice"),
    ("overlay-generator-create-conflict", "ConfigMap/cfg: id ConfigMap.v1.[noGrp]/cfg.[noNs] exists; behavior must be merge or replace"),
    ("overlay-merge-missing-error", "ConfigMap/cfg: id ConfigMap.v1.[noGrp]/cfg.[noNs] does not exist; cannot merge or replace"),
    ("patches-json6902-no-target-error", "kustomization.yaml (patches): must specify a target for JSON patch"),
    ("patches-json6902-test-fails-error", "Deployment/web: JSON 6902 patch failed: operation '/0' failed at path '/spec/replicas': value did not match"),
    ("patches-sm-no-match-error", "no resource matches strategic merge patch \"Deployment.v1.apps/missing.[noNs]\""),
    ("plugin-external-error", "transformers entry ChartInflator (apiVersion someteam.example.com/v1): external plugins disabled; unable to load external plugin 'ChartInflator'"),
    ("plugin-generator-as-transformer-error", "transformers entry: plugin ConfigMapGenerator.builtin.[noGrp]/x not a transformer"),
    ("remote-resource-error", "resources entry \"https://127.0.0.1:1/x.yaml\": cannot GET it: "),
    ("replacements-file", "Deployment/web: unable to find field \"metadata.labels.mode\" in replacement target"),
    ("replacements-missing-target-error", "Deployment/web: unable to find field \"spec.nothere.field\" in replacement target"),
    ("replicas-missing-error", "replicas: resource with name nothere does not match a config"),
    ("resource-duplicate-key-error", "a.yaml:7:3: invalid YAML: data: duplicate key \"x\""),
    ("resource-missing-name-error", "a.yaml:1: ConfigMap without a name: missing metadata.name"),
    ("serviceaccount-same-name-two-namespaces-error", "r.yaml:13: ClusterRoleBinding/p-crb: found multiple possible referrals for \"runner\": v1, Kind=ServiceAccount, a/p-runner; v1, Kind=ServiceAccount, b/p-runner"),
    ("sort-fifo-with-legacy-options-error", "kustomization.yaml: the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'"),
    ("unknown-field-error", "kustomization.yaml:2:1: invalid kustomization: unknown field `notAField`"),
    ("unknown-nested-field-error", "kustomization.yaml:5:3: invalid kustomization: unknown field `tagsuffx`"),
    ("vars-duplicate-error", "kustomization.yaml: var 'X' already encountered"),
    ("vars-missing-object-error", "var 'X' cannot be mapped to a field in the set of known resources"),
];

/// The piece of manifest-render's error line expected for a case where kustomize fails: from
/// [`ERRORS`] or from the case's `expected-error.txt` (first line).
fn expected_error(dir: &Path, name: &str) -> Option<String> {
    if let Some((_, expected)) = ERRORS.iter().find(|(case, _)| *case == name) {
        return Some((*expected).to_owned());
    }
    let text = std::fs::read_to_string(dir.join("expected-error.txt")).ok()?;
    text.lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The pinned kustomize (`$KUBEBUILDER_ASSETS/kustomize` or the `make tools` cache); `None`
/// (a skip locally, a failure in CI: `harness::skip_without`) when it is not built.
fn kustomize() -> Option<PathBuf> {
    let found = harness::cluster::tool("kustomize");
    let what = "the pinned kustomize CLI (run `make tools`, or set KUBEBUILDER_ASSETS), the oracle";
    if harness::skip_without(found.is_some(), what) {
        return None;
    }
    found
}

/// `kustomize version`, printed with the figures so that they name their oracle.
fn oracle_version(kustomize: &Path) -> String {
    let out = Command::new(kustomize)
        .arg("version")
        .output()
        .expect("run kustomize version");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Splits a YAML stream into parsed documents.
fn documents(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .map(|doc| {
            serde_yaml::from_str::<serde_json::Value>(doc)
                .unwrap_or_else(|e| panic!("unparsable output: {e}\n{doc}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn kustomize_conformance() {
    let Some(kustomize) = kustomize() else {
        return;
    };
    println!(
        "oracle: {} {}",
        kustomize.display(),
        oracle_version(&kustomize)
    );
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "expected at least 60 conformance cases, found {}",
        cases.len()
    );
    let (mut identical_docs, mut byte_identical, mut oracle_errors) = (0, 0, 0);
    let mut schema_divergent = 0;
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let oracle = Command::new(&kustomize)
            .arg("build")
            .arg(dir)
            .output()
            .expect("run kustomize build");
        let ours = Cmd::new("manifest-render").arg(dir).run();
        if !oracle.status.success() {
            oracle_errors += 1;
            if ours.code != 2 {
                failures.push(format!(
                    "{name}: kustomize failed ({}) but manifest-render exited {}",
                    String::from_utf8_lossy(&oracle.stderr).trim(),
                    ours.code
                ));
            } else if !ours.stdout.is_empty() {
                failures.push(format!("{name}: error with output on stdout"));
            } else {
                let errors: Vec<&str> = ours
                    .stderr
                    .lines()
                    .filter(|l| l.starts_with("manifest-render: error: "))
                    .collect();
                match expected_error(dir, &name).as_deref() {
                    None => failures.push(format!(
                        "{name}: both fail, but ERRORS names no message for it; manifest-render said: {}",
                        ours.stderr.trim()
                    )),
                    Some(expected) if errors.len() != 1 || !errors[0].contains(expected) => {
                        failures.push(format!(
                            "{name}: expected one error line containing {expected:?}, got: {}",
                            ours.stderr.trim()
                        ))
                    }
                    Some(_) => {}
                }
            }
            continue;
        }
        if expected_error(dir, &name).is_some() {
            failures.push(format!("{name}: listed in ERRORS but kustomize renders it"));
        }
        if ours.code != 0 {
            failures.push(format!(
                "{name}: manifest-render failed: {}",
                ours.stderr.trim()
            ));
            continue;
        }
        let expected = String::from_utf8_lossy(&oracle.stdout).into_owned();
        if let Some((_, places, _)) = SCHEMA_NEWER_THAN_KUSTOMIZE
            .iter()
            .find(|(case, _, _)| *case == name)
        {
            match check_schema_divergence(&name, places, &expected, &ours.stdout) {
                Some(failure) => failures.push(failure),
                None => schema_divergent += 1,
            }
            continue;
        }
        if documents(&expected) == documents(&ours.stdout) {
            identical_docs += 1;
        } else {
            failures.push(format!(
                "{name}: different documents\n--- kustomize\n{expected}\n--- manifest-render\n{}",
                ours.stdout
            ));
            continue;
        }
        if expected == ours.stdout {
            byte_identical += 1;
        } else if !NOT_BYTE_IDENTICAL.iter().any(|(n, _)| *n == name) {
            failures.push(format!("{name}: same documents but not byte-identical\n--- kustomize\n{expected}\n--- manifest-render\n{}", ours.stdout));
        }
    }
    println!(
        "conformance: {} cases, {} identical documents, {} byte-identical, {} where both fail, {} explained schema divergences",
        cases.len(),
        identical_docs,
        byte_identical,
        oracle_errors,
        schema_divergent
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn load_restrictor_none_reads_files_outside_the_root() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/load-restrictor-error");
    let refused = Cmd::new("manifest-render").arg(&case).run().code(2);
    let root = case.canonicalize().unwrap();
    // The engine's message says what and where; the tool's hint names its flag.
    assert_eq!(
        refused.stderr,
        format!(
            "manifest-render: error: {}: resources entry \"../outside.yaml\": security; file '{}' is not in or below '{}' (kustomize's load restrictor)\n\
             hint: pass --load-restrictor None to allow it\n",
            case.join("sub/kustomization.yaml").display(),
            root.join("outside.yaml").display(),
            root.join("sub").display()
        )
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    let ours = Cmd::new("manifest-render")
        .arg(&case)
        .args(["--load-restrictor", "None"])
        .run()
        .success();
    assert!(ours.stdout.contains("name: app-config"), "{}", ours.stdout);
    if let Some(kustomize) = kustomize() {
        let oracle = Command::new(kustomize)
            .args(["build", "--load-restrictor", "LoadRestrictionsNone"])
            .arg(&case)
            .output()
            .expect("run kustomize build");
        assert!(oracle.status.success());
        assert_eq!(ours.stdout, String::from_utf8_lossy(&oracle.stdout));
    }
}

#[test]
fn substitution_runs_after_the_build() {
    // Flux postBuild: ${VAR} in a kustomization's output is substituted after kustomize ran,
    // including in generated ConfigMaps (whose hash is computed on the unsubstituted data).
    let tmp = harness::tempdir();
    harness::write(
        tmp.path(),
        "kustomization.yaml",
        "namePrefix: p-\nconfigMapGenerator:\n- name: c\n  literals:\n  - region=${REGION}\n",
    );
    let run = Cmd::new("manifest-render")
        .arg(tmp.path())
        .args(["--var", "REGION=eu"])
        .run()
        .success();
    assert!(run.stdout.contains("region: eu\n"), "{}", run.stdout);
    if let Some(kustomize) = kustomize() {
        let oracle = Command::new(kustomize)
            .arg("build")
            .arg(tmp.path())
            .output()
            .expect("run kustomize build");
        let expected = String::from_utf8_lossy(&oracle.stdout).replace("${REGION}", "eu");
        assert_eq!(run.stdout, expected);
    }
}
