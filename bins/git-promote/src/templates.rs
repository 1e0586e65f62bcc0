//! Reading `--templates DIR`: every file below it, to be committed beside the manifests.
//!
//! Nothing is ever read through a symbolic link. A link whose target is relative and stays
//! inside the directory is stored as a Git symbolic link (the link itself, as `git add` stores
//! it), so kustomize bases that share files by link keep working in the GitOps repository. A link
//! that leaves the directory (an absolute target, `..` climbing out of it, or a target that is
//! itself reached through a link leading out), or points to nothing, is refused: committing the
//! target's content would put whatever it names (`/proc/self/environ`, a CI secret file) into the
//! GitOps repository. Sockets, FIFOs and devices are refused too; `.git` is skipped.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use gitops::git::FileMode;

use crate::error::PromoteError;

/// One file to commit: its content (a link's target for a symbolic link) and its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    pub bytes: Vec<u8>,
    pub mode: FileMode,
}

/// Every file below `dir` by relative, slash-separated path.
pub fn read(dir: &Path) -> Result<BTreeMap<String, TemplateFile>, PromoteError> {
    let shown = dir.display().to_string();
    let usage = |msg: String| PromoteError::Usage(format!("--templates {shown}: {msg}"));
    // The directory named on the command line may itself be a link: the user chose it.
    let root = fs::canonicalize(dir).map_err(|e| gitops::Error::io(dir, e))?;
    if !root.is_dir() {
        return Err(usage("not a directory".to_owned()));
    }
    let mut out = BTreeMap::new();
    let walker = walkdir::WalkDir::new(&root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git");
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(&root).to_path_buf();
            gitops::Error::io(
                at,
                e.into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("cannot read")),
            )
        })?;
        let path = entry.path();
        let rel_path = path.strip_prefix(&root).unwrap_or(path);
        let rel = rel_path
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let ty = entry.file_type();
        if ty.is_dir() {
            continue;
        }
        if ty.is_symlink() {
            let target = fs::read_link(path).map_err(|e| gitops::Error::io(path, e))?;
            check_link(&root, rel_path, &target).map_err(|why| {
                usage(format!(
                    "{rel} is a symbolic link to {}, which {why}; refusing to commit it (nothing was read through it)",
                    target.display()
                ))
            })?;
            out.insert(
                rel,
                TemplateFile {
                    bytes: target.as_os_str().as_bytes().to_vec(),
                    mode: FileMode::Symlink,
                },
            );
            continue;
        }
        if !ty.is_file() {
            return Err(usage(format!(
                "{rel} is not a regular file, directory or symbolic link"
            )));
        }
        let (bytes, executable) = read_regular(path, &entry)?;
        out.insert(
            rel,
            TemplateFile {
                bytes,
                mode: if executable {
                    FileMode::Executable
                } else {
                    FileMode::Regular
                },
            },
        );
    }
    if out.is_empty() {
        return Err(usage("no files".to_owned()));
    }
    Ok(out)
}

/// Reads a file the walk saw as a regular file, making sure what was opened is that very file
/// (not a link swapped in since the walk).
fn read_regular(path: &Path, entry: &walkdir::DirEntry) -> Result<(Vec<u8>, bool), PromoteError> {
    let io = |e| PromoteError::from(gitops::Error::io(path, e));
    let seen = entry.metadata().map_err(|e| {
        gitops::Error::io(
            path,
            e.into_io_error()
                .unwrap_or_else(|| std::io::Error::other("cannot read")),
        )
    })?;
    let mut file = fs::File::open(path).map_err(io)?;
    let opened = file.metadata().map_err(io)?;
    if !opened.is_file() || opened.ino() != seen.ino() || opened.dev() != seen.dev() {
        return Err(PromoteError::Usage(format!(
            "--templates: {} changed while it was being read",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok((bytes, opened.permissions().mode() & 0o111 != 0))
}

/// Why the link at `rel` (relative to `root`) pointing to `target` may not be committed.
fn check_link(root: &Path, rel: &Path, target: &Path) -> Result<(), &'static str> {
    if target.is_absolute() {
        return Err("is an absolute path");
    }
    // As the link will be resolved in the GitOps repository's checkout: by its text.
    let mut at: Vec<&std::ffi::OsStr> = rel
        .parent()
        .map(|p| p.components().map(Component::as_os_str).collect())
        .unwrap_or_default();
    for c in target.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return Err("leaves the templates directory");
                }
            }
            Component::Normal(name) => at.push(name),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    // And as it resolves here: through any other link on the way, to something that exists.
    let resolved: PathBuf = match fs::canonicalize(root.join(rel)) {
        Ok(p) => p,
        Err(_) => return Err("does not exist (or is a loop of links)"),
    };
    if !resolved.starts_with(root) {
        return Err("leaves the templates directory through another link");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A temporary directory removed on drop (std only: no test-only dependency).
    struct Tmp(PathBuf);
    impl Tmp {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn tree() -> Tmp {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tmp =
            Tmp(std::env::temp_dir()
                .join(format!("git-promote-templates-{}-{n}", std::process::id())));
        let _ = fs::remove_dir_all(tmp.path());
        fs::create_dir_all(tmp.path().join("tpl/base")).unwrap();
        fs::write(
            tmp.path().join("tpl/base/deploy.yaml"),
            "kind: Deployment\n",
        )
        .unwrap();
        fs::write(tmp.path().join("secret.env"), "TOKEN=hunter2\n").unwrap();
        tmp
    }

    #[test]
    fn links_inside_are_kept_as_links() {
        let tmp = tree();
        let tpl = tmp.path().join("tpl");
        fs::create_dir_all(tpl.join("overlays/dev")).unwrap();
        symlink(
            "../../base/deploy.yaml",
            tpl.join("overlays/dev/deploy.yaml"),
        )
        .unwrap();
        symlink("base", tpl.join("shared")).unwrap();
        let files = read(&tpl).unwrap();
        assert_eq!(
            files["overlays/dev/deploy.yaml"],
            TemplateFile {
                bytes: b"../../base/deploy.yaml".to_vec(),
                mode: FileMode::Symlink
            }
        );
        assert_eq!(files["shared"].mode, FileMode::Symlink);
        // The linked directory is not walked into: its files are there once, under base/.
        assert!(!files.contains_key("shared/deploy.yaml"));
        assert_eq!(files["base/deploy.yaml"].mode, FileMode::Regular);
    }

    #[test]
    fn links_leaving_the_directory_are_refused_without_reading_them() {
        for (name, target, why) in [
            ("env", "/proc/self/environ", "is an absolute path"),
            ("up", "../secret.env", "leaves the templates directory"),
            (
                "deep",
                "base/../../secret.env",
                "leaves the templates directory",
            ),
            ("gone", "base/missing.yaml", "does not exist"),
        ] {
            let tmp = tree();
            let tpl = tmp.path().join("tpl");
            symlink(target, tpl.join(name)).unwrap();
            let e = read(&tpl).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "{name} is a symbolic link to {target}, which {why}"
                )),
                "{name}: {e}"
            );
            assert!(!e.contains("hunter2"), "{e}");
        }
        // Inside by its text, outside through another link on the way ("out" -> "..").
        let tmp = tree();
        let tpl = tmp.path().join("tpl");
        symlink("..", tpl.join("out")).unwrap();
        symlink("out/secret.env", tpl.join("a")).unwrap();
        let e = read(&tpl).unwrap_err().to_string();
        assert!(
            e.contains("a is a symbolic link to out/secret.env, which leaves the templates directory through another link"),
            "{e}"
        );
    }

    #[test]
    fn special_files_are_refused() {
        let tmp = tree();
        let tpl = tmp.path().join("tpl");
        let sock = std::os::unix::net::UnixListener::bind(tpl.join("sock")).unwrap();
        let e = read(&tpl).unwrap_err().to_string();
        assert!(e.contains("sock is not a regular file"), "{e}");
        drop(sock);
    }
}
