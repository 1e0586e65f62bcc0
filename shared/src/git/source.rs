//! A Git repository as a read-only *source* of manifests, the way Flux's source-controller uses
//! one: fetch it into a cache directory that the next run reuses (so a re-run transfers only
//! what changed), resolve a branch, tag or commit to a commit id, and export the tree at that
//! commit (or one directory of it) into a directory the render engine reads. Nothing here has
//! or touches a work tree: the cache is a bare repository, the export is written from objects.
//!
//! The fetch is gix's: http(s) in pure Rust, `file://`, local paths and `ssh://` through
//! `git upload-pack` / `ssh` as gix runs them. The cache mirrors the remote's branches and tags
//! (`+refs/heads/*:refs/heads/*`, `+refs/tags/*:refs/tags/*`) and records the remote's `HEAD` as
//! `refs/source/HEAD`, which is what an absent `--ref` means.
//!
//! Symbolic links are exported as Git stores them, but only when their target stays inside the
//! exported directory: a link that is absolute or climbs out would let a repository make the
//! renderer read any file of the machine, so it is skipped and reported instead.
//!
//! [`export_local`] does the same from a local repository's object database (a user's clone,
//! uncommitted changes ignored), for tools that compare revisions without fetching.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::ByteSlice;
use gix::ObjectId;
use sha2::{Digest as _, Sha256};

use super::repo::redact_url;

/// The ref in the cache that records the remote's `HEAD` (its default branch).
const HEAD_REF: &str = "refs/source/HEAD";

/// A failure reading a source. Messages are one line, URLs without credentials.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The fetch failed (unreachable, not a repository, authentication).
    #[error("cannot fetch {url}: {message}")]
    Fetch { url: String, message: String },
    /// The revision names no commit of the source.
    #[error("{url}: unknown revision {rev:?} (not a branch, tag or commit of it)")]
    UnknownRevision { url: String, rev: String },
    /// The path is not a directory at that commit.
    #[error("{url}: {path:?} is not a directory at commit {commit}")]
    NoSuchPath {
        url: String,
        path: String,
        commit: String,
    },
    /// Reading objects or writing the export failed.
    #[error("{0}")]
    Io(String),
}

type Result<T, E = SourceError> = std::result::Result<T, E>;

/// The default cache directory: `$XDG_CACHE_HOME/gitops-toolkit/sources`, else
/// `~/.cache/gitops-toolkit/sources`. The caller passes the environment values in.
pub fn default_cache_dir(xdg_cache_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    xdg_cache_home
        .filter(|p| p.is_absolute())
        .map(Path::to_path_buf)
        .or_else(|| home.map(|h| h.join(".cache")))
        .map(|base| base.join("gitops-toolkit").join("sources"))
}

/// Fetching a source.
#[derive(Debug)]
pub struct Source;

/// A fetched source: its bare cache repository.
pub struct Fetched {
    repo: gix::Repository,
    url: String,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("url", &self.url)
            .field("cache", &self.repo.path())
            .finish()
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    /// Files written (symbolic links included).
    pub files: usize,
    /// Symbolic links not written because their target leaves the export, with that target.
    pub skipped_links: Vec<(String, String)>,
}

impl Source {
    /// Fetches `url` (a local path, `file://`, `http(s)://` or `ssh://`) into its cache under
    /// `cache_dir` (one bare repository per URL, created on first use).
    pub fn fetch(url: &str, cache_dir: &Path) -> Result<Fetched> {
        let shown = redact_url(url);
        let fail = |message: String| SourceError::Fetch {
            url: shown.clone(),
            message: one_line(&message),
        };
        let dir = cache_dir.join(cache_key(url));
        let repo = if dir.join("HEAD").exists() {
            gix::open(&dir)
                .map_err(|e| fail(format!("cannot open the cache {}: {e}", dir.display())))?
        } else {
            std::fs::create_dir_all(&dir)
                .map_err(|e| fail(format!("cannot create the cache {}: {e}", dir.display())))?;
            gix::init_bare(&dir)
                .map_err(|e| fail(format!("cannot create the cache {}: {e}", dir.display())))?
        };
        // A relative local path is relative to where we run, not to the cache.
        let remote_url = absolute_local(url);
        let remote = repo
            .remote_at(remote_url.as_str())
            .map_err(|e| fail(e.to_string()))?
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs(
                [
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                    &format!("+HEAD:{HEAD_REF}"),
                ],
                gix::remote::Direction::Fetch,
            )
            .map_err(|e| fail(e.to_string()))?;
        let interrupt = AtomicBool::new(false);
        remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| fail(error_chain(&e)))?
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| fail(error_chain(&e)))?
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| fail(error_chain(&e)))?;
        Ok(Fetched { repo, url: shown })
    }
}

impl Fetched {
    /// The URL as shown to users (credentials removed).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The cache repository's directory.
    pub fn cache_path(&self) -> &Path {
        self.repo.path()
    }

    /// The commit a branch, tag, full ref name or (abbreviated) commit id names; `None` is the
    /// remote's `HEAD`.
    pub fn resolve(&self, rev: Option<&str>) -> Result<ObjectId> {
        resolve_in(&self.repo, rev.unwrap_or(HEAD_REF), &self.url)
    }

    /// Writes the tree of `commit` below `subpath` (`""` for the whole tree) into `dest`, which
    /// must be empty or absent.
    pub fn export(&self, commit: ObjectId, subpath: &str, dest: &Path) -> Result<Exported> {
        export_tree(&self.repo, commit, subpath, dest, &self.url)
    }
}

/// As [`Fetched::resolve`] and [`Fetched::export`] in one step, from a local repository's object
/// database (its refs as they are: `HEAD`, local branches, remote-tracking branches, tags). The
/// work tree and the index are not read.
pub fn export_local(
    repo_path: &Path,
    rev: &str,
    subpath: &str,
    dest: &Path,
) -> Result<(ObjectId, Exported)> {
    let shown = repo_path.display().to_string();
    let repo = gix::discover(repo_path)
        .map_err(|e| SourceError::Io(one_line(&format!("{shown}: not a Git repository: {e}"))))?;
    let commit = resolve_in(&repo, rev, &shown)?;
    let exported = export_tree(&repo, commit, subpath, dest, &shown)?;
    Ok((commit, exported))
}

fn resolve_in(repo: &gix::Repository, rev: &str, url: &str) -> Result<ObjectId> {
    let unknown = || SourceError::UnknownRevision {
        url: url.to_owned(),
        rev: if rev == HEAD_REF {
            "HEAD".to_owned()
        } else {
            rev.to_owned()
        },
    };
    let id = repo.rev_parse_single(rev).map_err(|_| unknown())?;
    let object = id.object().map_err(|_| unknown())?;
    let commit = object.peel_to_commit().map_err(|_| unknown())?;
    Ok(commit.id)
}

fn export_tree(
    repo: &gix::Repository,
    commit: ObjectId,
    subpath: &str,
    dest: &Path,
    url: &str,
) -> Result<Exported> {
    let io = |what: String| SourceError::Io(one_line(&what));
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id().map(gix::Id::detach))
        .map_err(|e| io(format!("{url}: cannot read commit {commit}: {e}")))?;
    let subpath = subpath.trim_matches('/');
    let no_such = || SourceError::NoSuchPath {
        url: url.to_owned(),
        path: subpath.to_owned(),
        commit: commit.to_string(),
    };
    let root = if subpath.is_empty() || subpath == "." {
        tree
    } else {
        let t = repo
            .find_tree(tree)
            .map_err(|e| io(format!("{url}: cannot read tree: {e}")))?;
        let entry = t
            .lookup_entry_by_path(subpath)
            .map_err(|e| io(format!("{url}: cannot read {subpath}: {e}")))?
            .ok_or_else(no_such)?;
        if !entry.mode().is_tree() {
            return Err(no_such());
        }
        entry.object_id()
    };
    std::fs::create_dir_all(dest).map_err(|e| io(format!("{}: {e}", dest.display())))?;
    let mut out = Exported::default();
    write_tree(repo, root, dest, Path::new(""), &mut out, url)?;
    Ok(out)
}

fn write_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    dest: &Path,
    rel: &Path,
    out: &mut Exported,
    url: &str,
) -> Result<()> {
    let io = |what: String| SourceError::Io(one_line(&what));
    let t = repo
        .find_tree(tree)
        .map_err(|e| io(format!("{url}: cannot read tree {tree}: {e}")))?;
    let decoded = t
        .decode()
        .map_err(|e| io(format!("{url}: cannot read tree {tree}: {e}")))?;
    for entry in &decoded.entries {
        let name = entry.filename.to_str_lossy();
        // Git itself refuses such names on checkout; a crafted tree must not write elsewhere.
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name == ".git" {
            continue;
        }
        let rel_path = rel.join(name.as_ref());
        let path = dest.join(&rel_path);
        let oid = entry.oid.to_owned();
        if entry.mode.is_tree() {
            std::fs::create_dir_all(&path).map_err(|e| io(format!("{}: {e}", path.display())))?;
            write_tree(repo, oid, dest, &rel_path, out, url)?;
        } else if entry.mode.is_link() {
            let target = blob(repo, oid, url)?;
            let target = String::from_utf8_lossy(&target).into_owned();
            if stays_inside(&rel_path, &target) {
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(|e| io(format!("{}: {e}", path.display())))?;
                out.files += 1;
            } else {
                out.skipped_links
                    .push((rel_path.display().to_string(), target));
            }
        } else if entry.mode.is_blob() {
            let data = blob(repo, oid, url)?;
            std::fs::write(&path, data).map_err(|e| io(format!("{}: {e}", path.display())))?;
            if entry.mode.is_executable() {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| io(format!("{}: {e}", path.display())))?;
            }
            out.files += 1;
        }
        // Submodules (commit entries) have no content here.
    }
    Ok(())
}

fn blob(repo: &gix::Repository, id: ObjectId, url: &str) -> Result<Vec<u8>> {
    repo.find_object(id)
        .map(|o| o.detach().data)
        .map_err(|e| SourceError::Io(one_line(&format!("{url}: cannot read blob {id}: {e}"))))
}

/// Whether a link at `link` (relative to the export root) with `target` resolves inside it.
fn stays_inside(link: &Path, target: &str) -> bool {
    let target = Path::new(target);
    if target.is_absolute() || target.as_os_str().is_empty() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// The cache directory name of a URL: readable tail plus a hash of the whole URL, so that two
/// URLs never share a cache and the name says which repository it holds.
fn cache_key(url: &str) -> String {
    format!("{}.git", cache_name(url, 16))
}

/// A cache entry's name for a URL: the last path segment made safe for a file name (without
/// the credentials, which are never shown), a dash and the first `hash_chars` hex digits of the
/// SHA-256 of the whole URL (credentials included, so that two users' credentials never share
/// an entry).
pub(crate) fn cache_name(url: &str, hash_chars: usize) -> String {
    let hash = hex::encode(Sha256::digest(url.as_bytes()));
    let tail: String = redact_url(url)
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("{tail}-{}", &hash[..hash_chars])
}

/// A relative local path made absolute; URLs and absolute paths unchanged.
fn absolute_local(url: &str) -> String {
    if url.contains("://") || Path::new(url).is_absolute() {
        return url.to_owned();
    }
    // scp-like `host:path` is a remote; a local path with a colon before any slash is rare.
    if let Some((before, _)) = url.split_once(':') {
        if !before.contains('/') {
            return url.to_owned();
        }
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(url).display().to_string(),
        Err(_) => url.to_owned(),
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::git;
    use super::*;

    /// A repository with two commits on `main`, a tag on the first and a branch `next`.
    fn fixture(dir: &Path) -> (String, String) {
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(dir.join("apps/web")).unwrap();
        std::fs::write(dir.join("apps/web/cm.yaml"), "v: 1\n").unwrap();
        std::fs::write(dir.join("apps/run.sh"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("web/cm.yaml", dir.join("apps/link.yaml")).unwrap();
        std::os::unix::fs::symlink("../../../etc/passwd", dir.join("apps/web/evil")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("apps/abs")).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["update-index", "--chmod=+x", "apps/run.sh"]);
        git(dir, &["commit", "-q", "-m", "one"]);
        let first = git(dir, &["rev-parse", "HEAD"]);
        git(dir, &["tag", "-a", "v1", "-m", "v1"]);
        git(dir, &["branch", "next"]);
        std::fs::write(dir.join("apps/web/cm.yaml"), "v: 2\n").unwrap();
        git(dir, &["commit", "-q", "-am", "two"]);
        let second = git(dir, &["rev-parse", "HEAD"]);
        (first, second)
    }

    #[test]
    fn fetch_resolve_export_and_refetch() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        let (first, second) = fixture(&origin);
        let cache = tmp.path().join("cache");
        let url = format!("file://{}", origin.display());

        let fetched = Source::fetch(&url, &cache).expect("fetch");
        assert_eq!(fetched.resolve(None).unwrap().to_string(), second, "HEAD");
        assert_eq!(fetched.resolve(Some("main")).unwrap().to_string(), second);
        assert_eq!(
            fetched.resolve(Some("v1")).unwrap().to_string(),
            first,
            "annotated tag peels"
        );
        assert_eq!(fetched.resolve(Some("next")).unwrap().to_string(), first);
        assert_eq!(
            fetched.resolve(Some(&first[..10])).unwrap().to_string(),
            first
        );
        let err = fetched.resolve(Some("nope")).unwrap_err().to_string();
        assert!(err.contains("unknown revision \"nope\""), "{err}");

        let out = tmp.path().join("out");
        let exported = fetched
            .export(first.parse().unwrap(), "apps", &out)
            .expect("export");
        assert_eq!(
            std::fs::read_to_string(out.join("web/cm.yaml")).unwrap(),
            "v: 1\n"
        );
        assert_eq!(
            std::fs::read_link(out.join("link.yaml")).unwrap(),
            Path::new("web/cm.yaml")
        );
        assert_eq!(
            std::fs::read_to_string(out.join("link.yaml")).unwrap(),
            "v: 1\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "executable bit kept");
        assert!(!out.join("web/evil").exists() && !out.join("abs").exists());
        let mut skipped = exported.skipped_links.clone();
        skipped.sort();
        assert_eq!(
            skipped,
            [
                ("abs".to_owned(), "/etc/passwd".to_owned()),
                ("web/evil".to_owned(), "../../../etc/passwd".to_owned())
            ]
        );
        assert_eq!(exported.files, 3);

        let err = fetched
            .export(
                first.parse().unwrap(),
                "apps/web/cm.yaml",
                &tmp.path().join("x"),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a directory at commit"), "{err}");

        // A new commit upstream: the cache is reused and moves on.
        std::fs::write(origin.join("apps/web/cm.yaml"), "v: 3\n").unwrap();
        git(&origin, &["commit", "-q", "-am", "three"]);
        let third = git(&origin, &["rev-parse", "HEAD"]);
        let again = Source::fetch(&url, &cache).expect("refetch");
        assert_eq!(again.cache_path(), fetched.cache_path());
        assert_eq!(again.resolve(None).unwrap().to_string(), third);
        assert_eq!(
            std::fs::read_dir(&cache).unwrap().count(),
            1,
            "one cache per URL"
        );
    }

    #[test]
    fn a_plain_path_fetches_and_a_missing_repo_is_one_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        let (_, second) = fixture(&origin);
        let fetched = Source::fetch(origin.to_str().unwrap(), &tmp.path().join("c")).unwrap();
        assert_eq!(fetched.resolve(None).unwrap().to_string(), second);

        let err = Source::fetch("file:///nonexistent/repo", &tmp.path().join("c"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot fetch file:///nonexistent/repo: "),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn export_local_reads_objects_not_the_work_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let (first, second) = fixture(&repo);
        std::fs::write(repo.join("apps/web/cm.yaml"), "dirty\n").unwrap();
        let out = tmp.path().join("out");
        let (commit, _) = export_local(&repo, "HEAD", "apps/web", &out).unwrap();
        assert_eq!(commit.to_string(), second);
        assert_eq!(
            std::fs::read_to_string(out.join("cm.yaml")).unwrap(),
            "v: 2\n"
        );
        let out1 = tmp.path().join("out1");
        let (commit, _) = export_local(&repo, "v1", "", &out1).unwrap();
        assert_eq!(commit.to_string(), first);
        assert_eq!(
            std::fs::read_to_string(out1.join("apps/web/cm.yaml")).unwrap(),
            "v: 1\n"
        );
    }

    #[test]
    fn links_inside_and_outside() {
        assert!(stays_inside(Path::new("a/b"), "c"));
        assert!(stays_inside(Path::new("a/b"), "../c"));
        assert!(!stays_inside(Path::new("a/b"), "../../c"));
        assert!(!stays_inside(Path::new("b"), "/etc"));
        assert!(stays_inside(Path::new("a/b"), "./x/../y"));
    }

    #[test]
    fn cache_dirs() {
        assert_eq!(
            default_cache_dir(Some(Path::new("/x")), Some(Path::new("/h"))),
            Some(PathBuf::from("/x/gitops-toolkit/sources"))
        );
        assert_eq!(
            default_cache_dir(None, Some(Path::new("/h"))),
            Some(PathBuf::from("/h/.cache/gitops-toolkit/sources"))
        );
        assert!(cache_key("https://u:p@h/org/gitops.git").starts_with("gitops-"));
        assert!(!cache_key("https://u:secret@h/x").contains("secret"));
        assert_ne!(cache_key("https://h/a/x"), cache_key("https://h/b/x"));
    }
}
