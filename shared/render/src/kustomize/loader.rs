//! Reading the files a kustomization names, with kustomize's load restrictor: by default a file
//! must lie in or below the kustomization's own directory (after resolving symlinks).
//! Directories of other kustomizations (`resources: [../base]`) are not files and may be
//! anywhere, as in kustomize.
//!
//! A kustomization inside a fetched remote repository (see [`super::remote`]) is always
//! RootOnly, whatever the build's restrictor, and the directories it names must stay inside
//! that repository, as kustomize's loader for cloned repositories has it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;
use gitops::manifest;

use super::LoadRestrictor;

/// The root of one kustomization and the rule for the files it may read.
#[derive(Debug, Clone)]
pub struct Loader {
    /// The directory as the user reaches it (for messages and `Source`s).
    pub dir: PathBuf,
    /// The directory with symlinks resolved (for the restrictor).
    real: PathBuf,
    pub restrictor: LoadRestrictor,
    /// Real paths of directories already resolved (overlays list hundreds of files).
    real_dirs: std::cell::RefCell<std::collections::HashMap<PathBuf, PathBuf>>,
    /// The real root of the fetched remote repository this kustomization lies in, if any.
    repo_root: Option<PathBuf>,
    /// How files named by an HTTP(S) URL are fetched (kustomize's loader takes a URL wherever
    /// it takes a file: patches, generator files, configurations, replacements).
    http: Option<super::remote::RemoteOptions>,
}

/// A file fetched from an HTTP(S) URL: the name messages give it, and its body.
type Fetched = (Arc<str>, Vec<u8>);

/// What a `resources` entry is.
pub enum Entry {
    File(PathBuf),
    Dir(PathBuf),
    /// The objects of a file fetched from an HTTP(S) URL.
    Fetched(Vec<gitops::Object>),
}

impl Loader {
    pub fn new(dir: &Path, restrictor: LoadRestrictor) -> Result<Self, Error> {
        let real = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        Ok(Loader {
            dir: dir.to_path_buf(),
            real,
            restrictor,
            real_dirs: std::cell::RefCell::default(),
            repo_root: None,
            http: None,
        })
    }

    /// This loader, fetching files named by HTTP(S) URLs with `options` (refusing them when
    /// `options.http` is off).
    pub fn with_http(mut self, options: &super::remote::RemoteOptions) -> Self {
        self.http = Some(options.clone());
        self
    }

    /// The body of a file named by an HTTP(S) URL, with the name messages give it (credentials
    /// removed); `None` when `rel` is not such a URL.
    fn fetch(&self, rel: &str, field: &str) -> Result<Option<Fetched>, Error> {
        let Some(options) = self.http.as_ref().filter(|_| super::remote::is_http(rel)) else {
            return Ok(None);
        };
        let kustomization = self.kustomization_name();
        if !options.http {
            return Err(Error::RemoteDisabled {
                kustomization,
                field: field.to_owned(),
                entry: gitops::git::redact_url(rel),
                kind: "files (HTTP URLs)".to_owned(),
            });
        }
        let body = super::remote::http_get(rel, options).map_err(|f| {
            super::remote::entry_error(&kustomization, field, rel, &super::remote::failure_text(&f))
        })?;
        Ok(Some((Arc::from(gitops::git::redact_url(rel)), body)))
    }

    /// This loader, for a kustomization inside the fetched repository whose real root is
    /// `root`: RootOnly, and its directories must stay in the repository.
    pub fn in_repo(mut self, root: &Path) -> Self {
        self.restrictor = LoadRestrictor::RootOnly;
        self.repo_root = Some(root.to_path_buf());
        self
    }

    /// The real path of the kustomization root (for cycle detection).
    pub fn real_root(&self) -> &Path {
        &self.real
    }

    /// Resolves `rel` for the field `field`, refusing URLs (the remote entries of `resources`
    /// and `components` never get here).
    fn join(&self, rel: &str, field: &str) -> Result<PathBuf, Error> {
        if is_remote(rel) {
            return Err(Error::Unsupported(format!(
                "{}: {field} entry {:?}: remote files (URLs, git repositories) are supported in resources and components only; vendor it into the repository",
                self.kustomization_name(),
                gitops::git::redact_url(rel)
            )));
        }
        Ok(self.dir.join(rel))
    }

    pub fn kustomization_name(&self) -> String {
        super::kustomization_file(&self.dir)
            .unwrap_or_else(|| self.dir.join("kustomization.yaml"))
            .display()
            .to_string()
    }

    /// A `resources`/`components` entry: a file or a directory.
    pub fn entry(&self, rel: &str, field: &str) -> Result<Entry, Error> {
        let path = self.join(rel, field)?;
        let meta = std::fs::metadata(&path).map_err(|e| {
            Error::Invalid(format!(
                "{}: {field} entry {rel:?}: {} ({})",
                self.kustomization_name(),
                describe(&e),
                path.display()
            ))
        })?;
        if meta.is_dir() {
            if let Some(root) = &self.repo_root {
                let real = self.real_path(&path)?;
                if !real.starts_with(root) {
                    return Err(Error::Invalid(format!(
                        "{}: {field} entry {rel:?}: security; bases in kustomizations found in cloned git repos must be within the repo, but base '{}' is outside it",
                        self.kustomization_name(),
                        real.display()
                    )));
                }
            }
            Ok(Entry::Dir(path))
        } else {
            self.check(&path, rel, field)?;
            Ok(Entry::File(path))
        }
    }

    /// Refuses `path` (a file or directory named by `rel` in `field`) when it lies outside the
    /// root under the RootOnly restrictor, symlinks resolved.
    pub fn check(&self, path: &Path, rel: &str, field: &str) -> Result<(), Error> {
        if self.restrictor == LoadRestrictor::None {
            return Ok(());
        }
        let real = self.real_path(path)?;
        if !real.starts_with(&self.real) && self.repo_root.is_some() {
            // Not `Restricted`: no restrictor setting lifts it for a remote base.
            return Err(Error::Invalid(format!(
                "{}: {field} entry {rel:?}: security; file '{}' is not in or below '{}' (a remote base is always RootOnly)",
                self.kustomization_name(),
                real.display(),
                self.real.display()
            )));
        }
        if !real.starts_with(&self.real) {
            return Err(Error::Restricted {
                kustomization: self.kustomization_name(),
                field: field.to_owned(),
                entry: rel.to_owned(),
                file: real,
                root: self.real.clone(),
            });
        }
        Ok(())
    }

    /// `path` with symlinks resolved: the parent directory is resolved once and cached; the file
    /// itself only when it is a symlink.
    fn real_path(&self, path: &Path) -> Result<PathBuf, Error> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return path.canonicalize().map_err(|e| Error::io(path, e));
        };
        let is_link = std::fs::symlink_metadata(path)
            .map_err(|e| Error::io(path, e))?
            .file_type()
            .is_symlink();
        if is_link || name == ".." || name == "." {
            return path.canonicalize().map_err(|e| Error::io(path, e));
        }
        let mut cache = self.real_dirs.borrow_mut();
        let real_parent = match cache.get(parent) {
            Some(p) => p.clone(),
            None => {
                let p = parent.canonicalize().map_err(|e| Error::io(parent, e))?;
                cache.insert(parent.to_path_buf(), p.clone());
                p
            }
        };
        Ok(real_parent.join(name))
    }

    /// The path of a file named in `field`, checked against the restrictor.
    pub fn file(&self, rel: &str, field: &str) -> Result<PathBuf, Error> {
        let path = self.join(rel, field)?;
        if !path.is_file() {
            let what = if path.is_dir() {
                "is a directory, expected a file"
            } else {
                "no such file"
            };
            return Err(Error::Invalid(format!(
                "{}: {field} entry {rel:?}: {what} ({})",
                self.kustomization_name(),
                path.display()
            )));
        }
        self.check(&path, rel, field)?;
        Ok(path)
    }

    /// Reads a file named in `field` as text.
    pub fn read_text(&self, rel: &str, field: &str) -> Result<(Arc<str>, String), Error> {
        if let Some((name, body)) = self.fetch(rel, field)? {
            let text = String::from_utf8(body).map_err(|_| {
                super::remote::entry_error(
                    &self.kustomization_name(),
                    field,
                    rel,
                    "the file is not UTF-8 text",
                )
            })?;
            return Ok((name, text));
        }
        let path = self.file(rel, field)?;
        let name: Arc<str> = Arc::from(path.display().to_string());
        let text = manifest::read_text(&path, &name)?;
        Ok((name, text))
    }

    /// Reads a file named in `field` as bytes.
    pub fn read_bytes(&self, rel: &str, field: &str) -> Result<(PathBuf, Vec<u8>), Error> {
        if let Some((name, body)) = self.fetch(rel, field)? {
            // The URL as a path: generators name a file's key after its last segment.
            return Ok((PathBuf::from(&*name), body));
        }
        let path = self.file(rel, field)?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Ok((path, bytes))
    }
}

fn describe(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        _ => "cannot be read",
    }
}

/// kustomize's remote forms: URLs and `github.com/owner/repo//path` git specs.
pub fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || s.starts_with("gitlab.com/")
        || s.starts_with("bitbucket.org/")
}
