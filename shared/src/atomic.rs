//! Output that is never half-written: a file is written to a temporary name beside it and
//! renamed into place; a directory of manifests is built beside the target and swapped in with
//! one `renameat2(RENAME_EXCHANGE)`, so readers (and a failed or interrupted run) see either the
//! old directory or the new one. Temporary paths are remembered so Ctrl-C can remove them.
//!
//! Ctrl-C is also a *commit* question: an interrupt can end a producer upstream in the same pipe,
//! so stdin reaches its end early and looks complete. The entry point raises [`interrupt_flag`]
//! from the signal handler itself, and every commit point ([`checkpoint`], the swap in
//! [`write_dir`], [`write_file`]'s rename) looks at it under one lock that the interrupt's exit
//! path takes too: after an interrupt nothing is committed, and a commit under way finishes
//! before the process exits.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::manifest::is_manifest_file;

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Set by the SIGINT handler (in the signal handler itself, so it is set before any thread
/// resumes), never cleared.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Held while something is committed (a rename into place, output written to stdout) and by
/// the interrupt's exit path, so the two never interleave.
static COMMIT: Mutex<()> = Mutex::new(());

/// The flag the entry point's SIGINT handler raises.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    Arc::clone(&INTERRUPTED)
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn commit_lock() -> MutexGuard<'static, ()> {
    COMMIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A commit point: returns only if no interrupt was seen; otherwise this thread waits for the
/// entry point's interrupt handler, which removes temporary files and exits with 130. Input
/// read to its end after an interrupt is never used, whatever it looks like.
pub fn checkpoint() {
    if interrupted() {
        wait_for_exit();
    }
}

/// Runs `commit` (a rename into place, writing the output) unless the process was interrupted,
/// with the interrupt's exit path held off until it is done.
pub fn committing<T>(commit: impl FnOnce() -> T) -> T {
    let guard = commit_lock();
    if interrupted() {
        drop(guard);
        wait_for_exit();
    }
    commit()
}

fn wait_for_exit() -> ! {
    // Only the entry point's handler raises the flag, and it ends the process; this thread
    // must neither commit nor report success in the meantime.
    loop {
        std::thread::park();
    }
}

/// The interrupt's exit path (the entry point's SIGINT thread): waits for a commit under way,
/// removes every temporary file or directory still being written, and returns the lock guard
/// so that nothing commits before the process exits.
pub fn on_interrupt() -> MutexGuard<'static, ()> {
    let guard = commit_lock();
    remove_pending();
    guard
}

/// Marks `path` (a temporary file or directory) for removal if the process is interrupted.
pub fn remember(path: &Path) {
    if let Ok(mut pending) = PENDING.lock() {
        pending.push(path.to_path_buf());
    }
}

/// Unmarks `path` once it is renamed into place or removed.
pub fn forget(path: &Path) {
    if let Ok(mut pending) = PENDING.lock() {
        pending.retain(|p| p != path);
    }
}

/// Removes every temporary file or directory still being written (called on Ctrl-C).
pub fn remove_pending() {
    if let Ok(pending) = PENDING.lock() {
        for path in pending.iter() {
            let _ = fs::remove_dir_all(path).or_else(|_| fs::remove_file(path));
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    remember(tmp.path());
    let result = tmp
        .write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, e));
    let tmp_path = tmp.path().to_path_buf();
    let result = result.and_then(|_| {
        committing(|| {
            tmp.persist(path)
                .map(|_| ())
                .map_err(|e| Error::io(path, e.error))
        })
    });
    forget(&tmp_path);
    result
}

/// The file in an output directory that lists the files the last [`write_dir`] wrote, one
/// name a line after a comment: the next write replaces or removes only those, and keeps every
/// other file (a `kustomization.yaml`, `values.yml`, a hand-written manifest, `data.json`).
pub const INDEX_FILE: &str = ".rendered-files";

const INDEX_HEADER: &str = "# Files written here by the last render (manifest-render --out-dir); the next one replaces\n# or removes only these and keeps every other file. Do not edit.\n";

/// How a directory differs from what would be written to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Manifest-like files (`*.yaml`, `*.yml`, `*.json`) that an earlier render did not write:
    /// kept as they are, and not a difference.
    pub kept: Vec<String>,
}

impl DirDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// One line per file, `+ name`, `~ name`, `- name`, sorted by name (kept files are not a
    /// difference and are not listed).
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<(String, char)> = self
            .added
            .iter()
            .map(|n| (n.clone(), '+'))
            .chain(self.changed.iter().map(|n| (n.clone(), '~')))
            .chain(self.removed.iter().map(|n| (n.clone(), '-')))
            .collect();
        lines.sort();
        lines.into_iter().map(|(n, c)| format!("{c} {n}")).collect()
    }
}

/// What is in an output directory now.
struct Existing {
    /// Every file directly in it (no subdirectories: replacing the directory would lose them).
    files: Vec<String>,
    /// The names its index lists; `None` without an index.
    index: Option<Vec<String>>,
}

fn existing(dir: &Path) -> Result<Existing> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Existing {
                files: vec![],
                index: None,
            })
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let ty = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        if ty.is_dir() {
            return Err(Error::Usage(format!(
                "{} is a directory: an output directory holds only files, since it is replaced as a whole",
                entry.path().display()
            )));
        }
        files.push(entry.file_name().to_string_lossy().into_owned());
    }
    files.sort();
    let index_path = dir.join(INDEX_FILE);
    let index = match fs::read(&index_path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| Error::Syntax {
                at: crate::Location::new(index_path.display().to_string(), 1, 0),
                message: "the index of rendered files is not UTF-8".to_owned(),
            })?;
            Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect(),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&index_path, e)),
    };
    Ok(Existing { files, index })
}

/// The index's content for `files`.
fn index_text(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut text = INDEX_HEADER.to_owned();
    for name in files.keys() {
        text.push_str(name);
        text.push('\n');
    }
    text.into_bytes()
}

/// `dir` itself, or the directory a symbolic link `dir` points to (so the link stays a link and
/// shows the new content).
fn resolve(dir: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
            if !target.is_dir() {
                return Err(Error::Usage(format!(
                    "{} is a symbolic link to {}, which is not a directory",
                    dir.display(),
                    target.display()
                )));
            }
            Ok(target)
        }
        Ok(meta) if !meta.is_dir() => Err(Error::Usage(format!(
            "{} exists and is not a directory",
            dir.display()
        ))),
        _ => Ok(dir.to_path_buf()),
    }
}

/// Compares `dir` with `files` (name → content) without writing anything. A file is removed
/// only if the index ([`INDEX_FILE`]) of an earlier write lists it; every other file stays.
pub fn diff_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<DirDiff> {
    let dir = resolve(dir)?;
    diff_resolved(&dir, files).map(|(diff, _)| diff)
}

fn diff_resolved(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(DirDiff, bool)> {
    let existing = existing(dir)?;
    let mut diff = DirDiff::default();
    for (name, content) in files {
        if existing.files.contains(name) {
            let path = dir.join(name);
            let old = fs::read(&path).map_err(|e| Error::io(&path, e))?;
            if &old != content {
                diff.changed.push(name.clone());
            }
        } else {
            diff.added.push(name.clone());
        }
    }
    let listed = existing.index.clone().unwrap_or_default();
    for name in &existing.files {
        if files.contains_key(name) || name == INDEX_FILE {
            continue;
        }
        if listed.contains(name) {
            diff.removed.push(name.clone());
        } else if is_manifest_file(Path::new(name)) {
            diff.kept.push(name.clone());
        }
    }
    // The index is part of what a write produces: a directory without one (written by hand, or
    // by a version that kept none) is not up to date, and neither is one whose index differs.
    let index_current = existing.index.as_ref().is_some_and(|listed| {
        listed.len() == files.len() && listed.iter().all(|n| files.contains_key(n))
    });
    if existing.index.is_none() {
        diff.added.push(INDEX_FILE.to_owned());
    }
    Ok((diff, index_current))
}

/// Makes `dir` hold `files`, removing the files an earlier write listed in its index that are
/// not in `files`, keeping every other file, and recording the new list; the directory is
/// replaced in one step. A symbolic link to a directory stays a link: its target is replaced.
/// Returns what changed.
pub fn write_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<DirDiff> {
    let dir = resolve(dir)?;
    let (diff, index_current) = diff_resolved(&dir, files)?;
    if diff.is_empty() && index_current && dir.is_dir() {
        return Ok(diff);
    }
    let parent = parent_of(&dir);
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{base}.tmp-"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    remember(staging.path());
    let result = fill_and_swap(&dir, staging.path(), files, &diff.removed);
    forget(staging.path());
    // After a swap the staging path holds the old directory; dropping removes it either way.
    drop(staging);
    result.map(|_| diff)
}

fn fill_and_swap(
    dir: &Path,
    staging: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    removed: &[String],
) -> Result<()> {
    for (name, content) in files {
        if name.contains('/') || name.starts_with('.') {
            return Err(Error::Usage(format!(
                "refusing to write file name {name:?}"
            )));
        }
        let path = staging.join(name);
        fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
    }
    let index = staging.join(INDEX_FILE);
    fs::write(&index, index_text(files)).map_err(|e| Error::io(&index, e))?;
    let exists = dir.is_dir();
    if exists {
        // Carry over what this write does not own (hard links: same file system, no copying).
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if files.contains_key(&name) || name == INDEX_FILE || removed.contains(&name) {
                continue;
            }
            let path = entry.path();
            let to = staging.join(entry.file_name());
            fs::hard_link(&path, &to)
                .or_else(|_| fs::copy(&path, &to).map(|_| ()))
                .map_err(|e| Error::io(&path, e))?;
        }
        // Keep the directory's own permissions.
        let perms = fs::metadata(dir)
            .map_err(|e| Error::io(dir, e))?
            .permissions();
        fs::set_permissions(staging, perms).map_err(|e| Error::io(staging, e))?;
    } else {
        let perms = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        fs::set_permissions(staging, perms).map_err(|e| Error::io(staging, e))?;
    }
    committing(|| swap(dir, staging, exists))
}

fn swap(dir: &Path, staging: &Path, exists: bool) -> Result<()> {
    if !exists {
        return fs::rename(staging, dir).map_err(|e| Error::io(dir, e));
    }
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => Ok(()),
        Err(_) => {
            // File systems without RENAME_EXCHANGE: two renames, with a short window in which
            // `dir` is missing but never half-written.
            let old = staging.with_extension("old");
            fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
            fs::rename(staging, dir).map_err(|e| Error::io(dir, e))?;
            fs::rename(&old, staging).map_err(|e| Error::io(staging, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn replaces_manifests_and_keeps_other_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        write_dir(&dir, &files(&[("a.yaml", "a"), ("b.yaml", "b")])).unwrap();
        fs::write(dir.join("README.md"), "keep").unwrap();
        let diff = write_dir(&dir, &files(&[("a.yaml", "a2"), ("c.yaml", "c")])).unwrap();
        assert_eq!(diff.lines(), ["~ a.yaml", "- b.yaml", "+ c.yaml"]);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [INDEX_FILE, "README.md", "a.yaml", "c.yaml"]);
        assert_eq!(fs::read_to_string(dir.join("a.yaml")).unwrap(), "a2");
        // Nothing left behind beside the directory.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn unchanged_directory_is_not_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        write_dir(&dir, &files(&[("a.yaml", "a")])).unwrap();
        let before = fs::metadata(dir.join("a.yaml"))
            .unwrap()
            .modified()
            .unwrap();
        assert!(write_dir(&dir, &files(&[("a.yaml", "a")]))
            .unwrap()
            .is_empty());
        assert_eq!(
            fs::metadata(dir.join("a.yaml"))
                .unwrap()
                .modified()
                .unwrap(),
            before
        );
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn only_files_an_earlier_write_recorded_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        fs::create_dir(&dir).unwrap();
        // A directory that holds more than rendered manifests.
        for (name, content) in [
            ("kustomization.yaml", "resources: []\n"),
            ("values.yml", "a: 1\n"),
            ("hand.yaml", "kind: ConfigMap\n"),
            ("data.json", "{}\n"),
        ] {
            fs::write(dir.join(name), content).unwrap();
        }
        let diff = write_dir(&dir, &files(&[("a.yaml", "a"), ("b.yaml", "b")])).unwrap();
        assert_eq!(
            diff.lines(),
            [
                format!("+ {INDEX_FILE}"),
                "+ a.yaml".into(),
                "+ b.yaml".into()
            ]
        );
        assert_eq!(
            diff.kept,
            ["data.json", "hand.yaml", "kustomization.yaml", "values.yml"]
        );
        assert_eq!(
            fs::read_to_string(dir.join(INDEX_FILE)).unwrap(),
            format!("{INDEX_HEADER}a.yaml\nb.yaml\n")
        );
        // b.yaml was written by the last render: removed; the others were not: kept.
        let check = diff_dir(&dir, &files(&[("a.yaml", "a")])).unwrap();
        assert_eq!(check.lines(), ["- b.yaml"]);
        write_dir(&dir, &files(&[("a.yaml", "a")])).unwrap();
        assert_eq!(
            names(&dir),
            [
                INDEX_FILE,
                "a.yaml",
                "data.json",
                "hand.yaml",
                "kustomization.yaml",
                "values.yml"
            ]
        );
        assert_eq!(
            fs::read_to_string(dir.join("values.yml")).unwrap(),
            "a: 1\n"
        );
        assert!(diff_dir(&dir, &files(&[("a.yaml", "a")]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_symlinked_directory_stays_a_link_to_the_new_content() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        write_dir(&real, &files(&[("a.yaml", "a")])).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink("real", &link).unwrap();
        write_dir(&link, &files(&[("b.yaml", "b")])).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("real"));
        assert_eq!(names(&real), [INDEX_FILE, "b.yaml"]);
        assert!(diff_dir(&link, &files(&[("b.yaml", "b")]))
            .unwrap()
            .is_empty());
        assert_eq!(names(tmp.path()), ["link", "real"]);
    }

    #[test]
    fn subdirectories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("out/sub")).unwrap();
        let err = write_dir(&tmp.path().join("out"), &files(&[("a.yaml", "a")])).unwrap_err();
        assert!(err.to_string().contains("is a directory"));
    }

    #[test]
    fn write_file_replaces_content() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        write_file(&path, b"one").unwrap();
        write_file(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
