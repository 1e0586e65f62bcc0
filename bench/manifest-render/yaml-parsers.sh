#!/usr/bin/env bash
# Benchmark: the YAML crate behind shared::manifest. Parses the 2,000-object input of plain.sh
# (after substitution, document by document as shared::manifest does) into serde_json values
# with serde_yaml 0.9 (what we use) and serde-saphyr (maintained; what kube 5 uses), and emits
# them again with each crate's serializer. Our own output does not use either serializer
# (shared::yaml writes kustomize's YAML), so parsing is the number that decides. The two
# parsers must agree on every value. Builds a throwaway crate in a temp dir with the versions
# pinned by the workspace's Cargo.lock.
#
# usage: bench/manifest-render/yaml-parsers.sh [RUNS]   (default $RUNS or 21); under `make bench` it
#        records its result (bench/lib/record.py)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-${RUNS:-21}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cp "$root/Cargo.lock" "$work/Cargo.lock"
cat > "$work/Cargo.toml" <<'TOML'
[package]
name = "yamlbench"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
serde_yaml = "=0.9.34"
serde-saphyr = "=2.2.0"
serde_json = { version = "1", features = ["preserve_order"] }

[profile.release]
lto = "thin"
codegen-units = 4

[workspace]
TOML
cat > "$work/src/main.rs" <<'RUST'
// Parse + emit of the 2,000-object input of bench/manifest-render/plain.sh
// (after substitution) with serde_yaml 0.9 and serde-saphyr; document by document, as
// shared::manifest parses.
use std::time::Instant;

fn main() {
    let mut docs = Vec::new();
    for i in 0..1000 {
        let text = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i:04}\n  labels:\n    app: app{i:04}\n    env: dev\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app{i:04}\n  template:\n    metadata:\n      labels:\n        app: app{i:04}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/app{i:04}:1.0\n        ports:\n        - containerPort: 8080\n        env:\n        - name: LOG_LEVEL\n          value: info\n        resources:\n          requests:\n            cpu: 100m\n            memory: 128Mi\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{i:04}\nspec:\n  selector:\n    app: app{i:04}\n  ports:\n  - port: 80\n    targetPort: 8080\n");
        for d in text.split("\n---\n") { docs.push(d.to_owned()); }
    }
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(21);
    let mut res: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![("serde_yaml 0.9.34", vec![], vec![]), ("serde-saphyr 2.2.0", vec![], vec![])];
    let mut check = (Vec::new(), Vec::new());
    for r in 0..runs {
        for which in [r % 2, 1 - r % 2] {
            let t = Instant::now();
            let values: Vec<serde_json::Value> = if which == 0 {
                docs.iter().map(|d| serde_yaml::from_str(d).unwrap()).collect()
            } else {
                docs.iter().map(|d| serde_saphyr::from_str(d).unwrap()).collect()
            };
            let parse = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let out: Vec<String> = if which == 0 {
                values.iter().map(|v| serde_yaml::to_string(v).unwrap()).collect()
            } else {
                values.iter().map(|v| serde_saphyr::to_string(v).unwrap()).collect()
            };
            let emit = t.elapsed().as_secs_f64() * 1e3;
            res[which].1.push(parse);
            res[which].2.push(emit);
            if r == 0 { if which == 0 { check.0 = values; } else { check.1 = values; } }
            std::hint::black_box(out);
        }
    }
    assert_eq!(check.0, check.1, "both parse to the same values");
    println!("{} documents, {} runs each (alternating); median ms", docs.len(), runs);
    println!("{:<20} {:>10} {:>10} {:>10}", "crate", "parse", "emit", "total");
    for (name, p, e) in &mut res {
        p.sort_by(|a, b| a.total_cmp(b)); e.sort_by(|a, b| a.total_cmp(b));
        let (pm, em) = (p[p.len() / 2], e[e.len() / 2]);
        println!("{:<20} {:>10.1} {:>10.1} {:>10.1}", name, pm, em, pm + em);
    }
}
RUST
# Offline when the crates are already in cargo's cache (the workspace pulls both).
CARGO_TARGET_DIR="$root/target/yaml-parsers-bench" cargo build --release -q --offline --manifest-path "$work/Cargo.toml" 2>/dev/null ||
  CARGO_TARGET_DIR="$root/target/yaml-parsers-bench" cargo build --release -q --manifest-path "$work/Cargo.toml"
"$root/target/yaml-parsers-bench/release/yamlbench" "$runs" | tee "$work/out.txt"
read -r _ _ ours_parse ours_emit _ < <(grep '^serde_yaml ' "$work/out.txt")
read -r _ _ peer_parse peer_emit _ < <(grep '^serde-saphyr ' "$work/out.txt")
python3 "$root/bench/lib/record.py" --tool "shared::manifest (serde_yaml 0.9.34)" --runs "$runs" \
  --command "bash bench/manifest-render/yaml-parsers.sh $runs" \
  --case "YAML crate: parse into serde_json values (the hot path; the two must agree on every value)" \
  --input "the 2,000 documents of plain.sh" --peer "serde-saphyr" --peer-version "serde-saphyr 2.2.0" \
  --ours-ms "$ours_parse" --peer-ms "$peer_parse" \
  --value "emit_serde_yaml=${ours_emit}ms" --value "emit_serde_saphyr=${peer_emit}ms" \
  --note "yaml-parsers.sh decides which YAML crate shared::manifest uses (README, Dependencies): emitting does not matter, shared::yaml writes the output itself."
