//! The revision diff, with no cluster: the path rendered at two revisions of a Git repository
//! (read from the object database, no checkout; the new side may be the work tree), the objects
//! matched by identity and compared. This is the pull-request review view.
//!
//! A GitOps repository holds many applications, and a pull request usually touches one. So the
//! path is split into *units* the way the render engine splits a directory — each outermost
//! kustomization, each Helm chart, each plain manifest file — and each unit's *inputs* are hashed
//! on both sides: every file below it, plus every file and directory its kustomization files
//! name (resources, components, patches, generators, recursively; a kustomization that names a
//! remote resource is always rendered). Only units whose hashes differ are rendered, so a
//! one-app change in a 150-app repository costs about one app.
//!
//! The walk over kustomization files over-approximates their inputs (any string naming an
//! existing path counts), which can only make it render more, never skip a unit that changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use gitops::cluster::ObjectKey;
use gitops::git::{FileEntry, FileMode, Repository};
use gitops::Object;
use gitops_render::RenderOptions;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::report::{Entry, Report, ShowOptions};
use crate::Error;

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One side of the diff: a commit's tree, or the work tree.
pub enum Side<'r> {
    Commit {
        repo: &'r Repository,
        files: BTreeMap<String, FileEntry>,
        label: String,
    },
    WorkTree {
        root: PathBuf,
    },
}

impl std::fmt::Debug for Side<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl<'r> Side<'r> {
    /// The tree of `rev` in `repo`.
    pub fn commit(repo: &'r Repository, rev: &str) -> Result<Side<'r>, Error> {
        let commit = repo.resolve(rev)?;
        let tree = repo.commit_tree(commit)?;
        Ok(Side::Commit {
            repo,
            files: repo.files(tree)?,
            label: rev.to_owned(),
        })
    }

    pub fn label(&self) -> String {
        match self {
            Side::Commit { label, .. } => label.clone(),
            Side::WorkTree { .. } => "worktree".to_owned(),
        }
    }

    fn is_file(&self, rel: &str) -> bool {
        match self {
            Side::Commit { files, .. } => files.contains_key(rel),
            Side::WorkTree { root } => root.join(rel).is_file(),
        }
    }

    fn is_dir(&self, rel: &str) -> bool {
        match self {
            Side::Commit { files, .. } => {
                rel.is_empty() || {
                    let prefix = format!("{rel}/");
                    files
                        .range(prefix.clone()..)
                        .next()
                        .is_some_and(|(k, _)| k.starts_with(&prefix))
                }
            }
            Side::WorkTree { root } => root.join(rel).is_dir(),
        }
    }

    /// Every file below `rel` (relative to the repository root), sorted.
    fn files_under(&self, rel: &str) -> Vec<String> {
        match self {
            Side::Commit { files, .. } => {
                if rel.is_empty() {
                    return files.keys().cloned().collect();
                }
                let prefix = format!("{rel}/");
                files
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, _)| k.clone())
                    .collect()
            }
            Side::WorkTree { root } => {
                let base = root.join(rel);
                let mut out = Vec::new();
                let walk = walk_dir(&base);
                for path in walk {
                    if let Ok(r) = path.strip_prefix(root) {
                        out.push(slash(r));
                    }
                }
                out.sort();
                out
            }
        }
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>, Error> {
        match self {
            Side::Commit { repo, files, label } => {
                let entry = files
                    .get(rel)
                    .ok_or_else(|| Error::Usage(format!("{label}: {rel}: no such file")))?;
                Ok(repo.read_blob(entry.id)?)
            }
            Side::WorkTree { root } => {
                let path = root.join(rel);
                std::fs::read(&path).map_err(|e| gitops::Error::io(&path, e).into())
            }
        }
    }

    fn has_kustomization(&self, dir: &str) -> Option<String> {
        KUSTOMIZATION_FILES
            .iter()
            .map(|f| join(dir, f))
            .find(|p| self.is_file(p))
    }
}

fn walk_dir(base: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![base.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) if path.is_dir() => stack.push(path),
                Ok(_) => out.push(path),
                Err(_) => {}
            }
        }
    }
    out
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// `dir/rel` with `.` and `..` resolved, or `None` if it leaves the repository.
fn resolve(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// A render unit: what the render engine builds as one piece.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unit {
    /// Relative to the repository root.
    pub path: String,
}

/// The units of `path` on a side, as the render engine classifies a directory.
pub fn units(side: &Side<'_>, path: &str) -> Vec<Unit> {
    if side.is_file(path) {
        return vec![Unit { path: path.into() }];
    }
    if !side.is_dir(path) {
        return Vec::new();
    }
    if side.has_kustomization(path).is_some() || side.is_file(&join(path, "Chart.yaml")) {
        return vec![Unit { path: path.into() }];
    }
    let mut out = BTreeSet::new();
    for file in side.files_under(path) {
        if !gitops::manifest::is_manifest_file(Path::new(&file)) {
            continue;
        }
        // The outermost directory between `path` and the file holding a kustomization.
        let rel = file.strip_prefix(&format!("{path}/")).unwrap_or(&file);
        let mut dir = path.to_owned();
        let mut root = None;
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            dir = join(&dir, part);
            if side.has_kustomization(&dir).is_some() {
                root = Some(dir.clone());
                break;
            }
        }
        out.insert(Unit {
            path: root.unwrap_or(file),
        });
    }
    out.into_iter().collect()
}

/// The input files of a unit, and whether it names something outside the repository (then it
/// is always rendered).
pub fn inputs(side: &Side<'_>, unit: &Unit) -> Result<(BTreeSet<String>, bool), Error> {
    let mut files = BTreeSet::new();
    let mut remote = false;
    if side.is_file(&unit.path) {
        files.insert(unit.path.clone());
        return Ok((files, false));
    }
    let mut visited = BTreeSet::new();
    let mut queue = vec![unit.path.clone()];
    while let Some(dir) = queue.pop() {
        if !visited.insert(dir.clone()) {
            continue;
        }
        files.extend(side.files_under(&dir));
        for name in KUSTOMIZATION_FILES {
            let kfile = join(&dir, name);
            if !side.is_file(&kfile) {
                continue;
            }
            let text = String::from_utf8_lossy(&side.read(&kfile)?).into_owned();
            let Ok(doc) = gitops::manifest::from_yaml_str::<Value>(&text, &kfile) else {
                // A broken kustomization: render it, which reports the error properly.
                remote = true;
                continue;
            };
            for key in ["resources", "bases", "components"] {
                for item in doc.get(key).and_then(Value::as_array).into_iter().flatten() {
                    if item.as_str().is_some_and(is_remote) {
                        remote = true;
                    }
                }
            }
            if doc
                .get("helmCharts")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|c| c.get("repo").is_some()))
            {
                remote = true;
            }
            let mut strings = Vec::new();
            collect_strings(&doc, &mut strings);
            for s in strings {
                if s.contains('\n') || s.len() > 4096 || is_remote(s) {
                    continue;
                }
                // `file=path` and `key=path` forms of generators.
                let s = s.rsplit_once('=').map_or(s, |(_, p)| p);
                let Some(target) = resolve(&dir, s) else {
                    continue;
                };
                if side.is_file(&target) {
                    files.insert(target);
                } else if side.is_dir(&target) && !target.is_empty() {
                    queue.push(target);
                }
            }
        }
    }
    Ok((files, remote))
}

fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || s.contains("?ref=")
}

fn collect_strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// The hash of a unit's inputs on a side.
fn hash_inputs(side: &Side<'_>, files: &BTreeSet<String>, remote: bool) -> Result<String, Error> {
    let mut h = Sha256::new();
    if remote {
        // Never equal on both sides.
        h.update(side.label().as_bytes());
        h.update(b"\0remote");
    }
    for f in files {
        h.update(f.as_bytes());
        h.update(b"\0");
        h.update(Sha256::digest(side.read(f)?));
        h.update(b"\0");
    }
    Ok(hex::encode(h.finalize()))
}

struct Planned {
    unit: Unit,
    files: BTreeSet<String>,
    hash: String,
}

fn plan(side: &Side<'_>, path: &str) -> Result<BTreeMap<Unit, Planned>, Error> {
    let mut out = BTreeMap::new();
    for unit in units(side, path) {
        let (files, remote) = inputs(side, &unit)?;
        let hash = hash_inputs(side, &files, remote)?;
        out.insert(unit.clone(), Planned { unit, files, hash });
    }
    Ok(out)
}

/// Renders the given units of a side (a commit's are exported into a temporary directory).
fn render_side(
    side: &Side<'_>,
    planned: &[&Planned],
    options: &RenderOptions,
) -> Result<Vec<Object>, Error> {
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let (root, tmp) = match side {
        Side::WorkTree { root } => (root.clone(), None),
        Side::Commit { repo, files, .. } => {
            let tmp = tempfile::Builder::new()
                .prefix("kubectl-gitops-diff-")
                .tempdir()
                .map_err(|e| gitops::Error::io(std::env::temp_dir(), e))?;
            gitops::atomic::remember(tmp.path());
            let mut wanted = BTreeSet::new();
            for p in planned {
                wanted.extend(p.files.iter().cloned());
            }
            for rel in &wanted {
                let Some(entry) = files.get(rel) else {
                    continue;
                };
                let dest = tmp.path().join(rel);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| gitops::Error::io(parent, e))?;
                }
                let bytes = repo.read_blob(entry.id)?;
                if entry.mode == FileMode::Symlink {
                    let target = String::from_utf8_lossy(&bytes).into_owned();
                    std::os::unix::fs::symlink(&target, &dest)
                        .map_err(|e| gitops::Error::io(&dest, e))?;
                } else {
                    std::fs::write(&dest, &bytes).map_err(|e| gitops::Error::io(&dest, e))?;
                }
            }
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let mut opts = options.clone();
    opts.paths = planned.iter().map(|p| root.join(&p.unit.path)).collect();
    let rendered = gitops_render::render(&opts);
    if let Some(tmp) = &tmp {
        gitops::atomic::forget(tmp.path());
    }
    rendered.map_err(|e| {
        let text = e.to_string();
        let shown = format!("{}/", root.display());
        Error::Revision {
            side: side.label(),
            message: text.replace(&shown, ""),
            hint: crate::render_hint(&e),
        }
    })
}

/// Diffs `path` between two sides.
pub fn diff(
    from: &Side<'_>,
    to: &Side<'_>,
    path: &str,
    render: &RenderOptions,
    show: &ShowOptions,
) -> Result<Report, Error> {
    let path = resolve("", path).unwrap_or_default();
    let old = plan(from, &path)?;
    let new = plan(to, &path)?;
    let mut old_render = Vec::new();
    let mut new_render = Vec::new();
    let mut skipped = 0;
    let all: BTreeSet<&Unit> = old.keys().chain(new.keys()).collect();
    for unit in &all {
        match (old.get(unit), new.get(unit)) {
            (Some(a), Some(b)) if a.hash == b.hash => skipped += 1,
            (a, b) => {
                old_render.extend(a);
                new_render.extend(b);
            }
        }
    }
    let rendered = all.len() - skipped;
    let before = render_side(from, &old_render, render)?;
    let after = render_side(to, &new_render, render)?;
    Ok(compare_streams(
        before,
        after,
        show,
        from.label(),
        to.label(),
        rendered,
        skipped,
    ))
}

/// Matches two streams by identity (group, kind, namespace, name; the version may differ) and
/// diffs each object.
pub fn compare_streams(
    before: Vec<Object>,
    after: Vec<Object>,
    show: &ShowOptions,
    from_label: String,
    to_label: String,
    rendered_units: usize,
    skipped_units: usize,
) -> Report {
    for obj in before.iter().chain(&after) {
        crate::mask::register_secret_values(&obj.value);
    }
    let mut old: HashMap<ObjectKey, Value> = before
        .into_iter()
        .map(|o| (ObjectKey::of(&o.value), o.value))
        .collect();
    let mut entries = Vec::new();
    let mut keys = Vec::new();
    let mut new_map = HashMap::new();
    for obj in after {
        let key = ObjectKey::of(&obj.value);
        keys.push(key.clone());
        new_map.insert(key, obj.value);
    }
    keys.extend(old.keys().filter(|k| !new_map.contains_key(*k)).cloned());
    keys.sort();
    keys.dedup();
    for key in keys {
        let b = old.remove(&key);
        let a = new_map.remove(&key);
        entries.push(Entry::new(b.as_ref(), a.as_ref(), show));
    }
    Report {
        entries,
        skipped_units,
        rendered_units,
        from_label,
        to_label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_repository_only() {
        assert_eq!(
            resolve("envs/dev/web", "../../../apps/web/base").as_deref(),
            Some("apps/web/base")
        );
        assert_eq!(resolve("a", "./b/c.yaml").as_deref(), Some("a/b/c.yaml"));
        assert_eq!(resolve("a", "../../x"), None);
        assert_eq!(resolve("a", "/etc/passwd"), None);
    }

    #[test]
    fn remote_resources_are_recognised() {
        assert!(is_remote("https://github.com/org/repo//deploy?ref=v1"));
        assert!(is_remote("github.com/org/repo/deploy?ref=v1"));
        assert!(!is_remote("../base"));
    }

    #[test]
    fn units_of_a_work_tree_follow_the_render_engine() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("base/web/kustomization.yaml", "resources: [deploy.yaml]\n");
        w("base/web/deploy.yaml", "kind: X\n");
        w(
            "envs/dev/web/kustomization.yaml",
            "resources: [../../../base/web]\npatches:\n- path: p.yaml\n",
        );
        w("envs/dev/web/p.yaml", "x: 1\n");
        w("envs/dev/web/sub/extra.yaml", "x: 1\n");
        w("envs/dev/plain.yaml", "kind: Y\n");
        w("unrelated/file.yaml", "kind: Z\n");
        let side = Side::WorkTree {
            root: dir.path().to_path_buf(),
        };
        let u = units(&side, "envs/dev");
        assert_eq!(
            u.iter().map(|u| u.path.as_str()).collect::<Vec<_>>(),
            ["envs/dev/plain.yaml", "envs/dev/web"]
        );
        let (files, remote) = inputs(&side, &u[1]).unwrap();
        assert!(!remote);
        assert_eq!(
            files.into_iter().collect::<Vec<_>>(),
            [
                "base/web/deploy.yaml",
                "base/web/kustomization.yaml",
                "envs/dev/web/kustomization.yaml",
                "envs/dev/web/p.yaml",
                "envs/dev/web/sub/extra.yaml",
            ]
        );
    }
}
