//! Output that is never half-written: a file is written to a temporary name beside it and
//! renamed into place; a directory of manifests is built beside the target and swapped in with
//! one `renameat2(RENAME_EXCHANGE)`, so readers (and a failed or interrupted run) see either the
//! old directory or the new one. Temporary paths are remembered so Ctrl-C can remove them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::manifest::is_manifest_file;

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

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
        tmp.persist(path)
            .map(|_| ())
            .map_err(|e| Error::io(path, e.error))
    });
    forget(&tmp_path);
    result
}

/// How a directory differs from what would be written to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl DirDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// One line per file, `+ name`, `~ name`, `- name`, sorted by name.
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

/// The manifest files directly in `dir` (those [`write_dir`] manages). A missing directory has
/// none; a subdirectory is an error, since replacing the directory would lose it.
fn managed_files(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let ty = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        if ty.is_dir() {
            return Err(Error::Usage(format!(
                "{} is a directory: an output directory holds only manifest files, one per object",
                entry.path().display()
            )));
        }
        if is_manifest_file(&entry.path()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Compares `dir` with `files` (name → content) without writing anything.
pub fn diff_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<DirDiff> {
    let existing = managed_files(dir)?;
    let mut diff = DirDiff::default();
    for (name, content) in files {
        if existing.contains(name) {
            let path = dir.join(name);
            let old = fs::read(&path).map_err(|e| Error::io(&path, e))?;
            if &old != content {
                diff.changed.push(name.clone());
            }
        } else {
            diff.added.push(name.clone());
        }
    }
    diff.removed = existing
        .into_iter()
        .filter(|n| !files.contains_key(n))
        .collect();
    Ok(diff)
}

/// Makes `dir` hold exactly `files` as its manifest files (other files, such as a README or
/// `.gitkeep`, are kept), replacing the directory in one step. Returns what changed.
pub fn write_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<DirDiff> {
    let diff = diff_dir(dir, files)?;
    if diff.is_empty() && dir.is_dir() {
        return Ok(diff);
    }
    let parent = parent_of(dir);
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
    let result = fill_and_swap(dir, staging.path(), files);
    forget(staging.path());
    // After a swap the staging path holds the old directory; dropping removes it either way.
    drop(staging);
    result.map(|_| diff)
}

fn fill_and_swap(dir: &Path, staging: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    for (name, content) in files {
        if name.contains('/') || name.starts_with('.') {
            return Err(Error::Usage(format!(
                "refusing to write file name {name:?}"
            )));
        }
        let path = staging.join(name);
        fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
    }
    let exists = dir.is_dir();
    if exists {
        // Carry over what we do not manage (hard links: same file system, no copying).
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let path = entry.path();
            if !is_manifest_file(&path) {
                let to = staging.join(entry.file_name());
                fs::hard_link(&path, &to)
                    .or_else(|_| fs::copy(&path, &to).map(|_| ()))
                    .map_err(|e| Error::io(&path, e))?;
            }
        }
    }
    let perms = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    fs::set_permissions(staging, perms).map_err(|e| Error::io(staging, e))?;
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
        assert_eq!(names, ["README.md", "a.yaml", "c.yaml"]);
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
