//! A repository at one ref, fetched into a cache that later runs reuse and exported as a plain
//! directory tree: what a remote kustomize base (`https://host/org/repo//dir?ref=v1`) needs.
//!
//! It is built on [`super::source`] (gix's fetch into a bare cache repository, tree export
//! without a checkout) and adds what a renderer that may run many times at once needs:
//!
//! - a lock per URL (`flock` on a file next to the cache), so two concurrent runs never fetch
//!   into the same cache repository at the same time;
//! - no network at all when the ref is a full commit id the cache already holds (a pinned base
//!   renders offline, and a second render does not refetch);
//! - refs resolved the way `git fetch URL REF` names them (as kustomize runs it): a full commit
//!   id, a full ref name, or a tag or branch name (tags first, as git's rules have it); not
//!   revision expressions such as `main~1`, which git fetch refuses too;
//! - a time limit on the fetch (kustomize's `?timeout=`).
//!
//! Submodules are not fetched (the export leaves their directories out).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gix::ObjectId;

use super::repo::redact_url;
use super::source::{cache_name, export_local, Exported, Source, SourceError};

/// What [`fetch_tree`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The commit exported.
    pub commit: ObjectId,
    /// Whether the remote was contacted (false: a pinned commit already in the cache).
    pub fetched: bool,
    pub exported: Exported,
}

/// The default cache of remote bases: `$XDG_CACHE_HOME/gitops-toolkit/remote`, else
/// `~/.cache/gitops-toolkit/remote`. The caller passes the environment values in.
pub fn default_cache_dir(xdg_cache_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    xdg_cache_home
        .filter(|p| p.is_absolute())
        .map(Path::to_path_buf)
        .or_else(|| home.map(|h| h.join(".cache")))
        .map(|base| base.join("gitops-toolkit").join("remote"))
}

/// Fetches `url` into its cache under `cache_dir` (unless `rev` is a full commit id the cache
/// holds), resolves `rev` (`None`: the remote's `HEAD`) and writes the commit's whole tree into
/// `dest` (empty or absent). The fetch is abandoned after `timeout`.
pub fn fetch_tree(
    url: &str,
    rev: Option<&str>,
    cache_dir: &Path,
    dest: &Path,
    timeout: Duration,
) -> Result<Tree, SourceError> {
    let shown = redact_url(url);
    let (url_owned, rev_owned) = (url.to_owned(), rev.map(str::to_owned));
    let (cache_dir, dest) = (cache_dir.to_path_buf(), dest.to_path_buf());
    let (tx, rx) = std::sync::mpsc::channel();
    // The fetch runs on its own thread: that bounds it in time, and it keeps gix's blocking
    // HTTP client out of any async runtime the caller may be inside.
    std::thread::Builder::new()
        .name("git-fetch".to_owned())
        .spawn(move || {
            let result = fetch_locked(&url_owned, rev_owned.as_deref(), &cache_dir, &dest);
            let _ = tx.send(result);
        })
        .map_err(|e| SourceError::Io(format!("cannot start a fetch of {shown}: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(|e| scrub_error(e, url)),
        Err(_) => Err(SourceError::Fetch {
            url: shown,
            message: format!("timed out after {}", human(timeout)),
        }),
    }
}

fn fetch_locked(
    url: &str,
    rev: Option<&str>,
    cache_dir: &Path,
    dest: &Path,
) -> Result<Tree, SourceError> {
    let io = |what: String| SourceError::Io(what);
    std::fs::create_dir_all(cache_dir).map_err(|e| {
        io(format!(
            "cannot create the cache {}: {e}",
            cache_dir.display()
        ))
    })?;
    let key = cache_key(url);
    let lock_path = cache_dir.join(format!("{key}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io(format!("cannot open {}: {e}", lock_path.display())))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io(format!("cannot lock {}: {e}", lock_path.display())))?;
    let repo_dir = cache_dir.join(&key);
    if let Some(commit) = rev.filter(|r| is_full_commit_id(r)) {
        if let Some(repo) = cached_repository(&repo_dir) {
            if let Ok((commit, exported)) = export_local(&repo, commit, "", dest) {
                return Ok(Tree {
                    commit,
                    fetched: false,
                    exported,
                });
            }
        }
    }
    let fetched = Source::fetch(url, &repo_dir)?;
    let commit = match rev {
        None | Some("HEAD") => fetched.resolve(None)?,
        // Revision syntax (`main~1`, `v1^{}`, `@{1}`) is no ref name; git fetch refuses it.
        Some(r) if !is_plain_ref_name(r) => {
            return Err(SourceError::UnknownRevision {
                url: fetched.url().to_owned(),
                rev: r.to_owned(),
            })
        }
        Some(r) if is_full_commit_id(r) || r.starts_with("refs/") => fetched.resolve(Some(r))?,
        Some(r) => fetched
            .resolve(Some(&format!("refs/tags/{r}")))
            .or_else(|_| fetched.resolve(Some(&format!("refs/heads/{r}"))))
            .map_err(|_| SourceError::UnknownRevision {
                url: fetched.url().to_owned(),
                rev: r.to_owned(),
            })?,
    };
    let exported = fetched.export(commit, "", dest)?;
    drop(lock);
    Ok(Tree {
        commit,
        fetched: true,
        exported,
    })
}

/// The bare repository [`Source::fetch`] created under `dir` on an earlier run, if any.
fn cached_repository(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("HEAD").is_file())
}

/// Whether `s` can only name a ref or a commit, never a revision expression (the characters
/// and sequences `git check-ref-format` refuses).
fn is_plain_ref_name(s: &str) -> bool {
    !s.is_empty()
        && !s.contains("..")
        && !s.contains("@{")
        && !s.ends_with('.')
        && !s.ends_with('/')
        && !s.starts_with('-')
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
}

fn is_full_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The cache directory name of a URL (see [`cache_name`]).
fn cache_key(url: &str) -> String {
    cache_name(url, 20)
}

/// An error with any password or token of `url` masked, wherever the transport's message
/// repeated it.
fn scrub_error(err: SourceError, url: &str) -> SourceError {
    let secrets = secrets_of(url);
    if secrets.is_empty() {
        return err;
    }
    let clean = |s: String| {
        secrets
            .iter()
            .fold(s, |acc, secret| acc.replace(secret.as_str(), "***"))
    };
    match err {
        SourceError::Fetch { url, message } => SourceError::Fetch {
            url: clean(url),
            message: clean(message),
        },
        SourceError::UnknownRevision { url, rev } => SourceError::UnknownRevision {
            url: clean(url),
            rev,
        },
        SourceError::NoSuchPath { url, path, commit } => SourceError::NoSuchPath {
            url: clean(url),
            path,
            commit,
        },
        SourceError::Io(m) => SourceError::Io(clean(m)),
    }
}

/// The user-info part of a URL (`user:password@`), whole and as its password, when present.
fn secrets_of(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return Vec::new();
    };
    let mut out = vec![userinfo.to_owned()];
    if let Some((_, password)) = userinfo.split_once(':') {
        if !password.is_empty() {
            out.push(password.to_owned());
        }
    }
    out.retain(|s| s.len() >= 3);
    out
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::git;
    use super::*;

    const T: Duration = Duration::from_secs(60);

    #[test]
    fn refs_resolve_as_git_fetch_names_them_and_pinned_commits_stay_offline() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("origin");
        std::fs::create_dir_all(origin.join("base")).unwrap();
        git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("base/a.yaml"), "v: 1\n").unwrap();
        git(&origin, &["add", "-A"]);
        git(&origin, &["commit", "-q", "-m", "one"]);
        let first = git(&origin, &["rev-parse", "HEAD"]);
        git(&origin, &["tag", "-a", "v1", "-m", "v1"]);
        // A branch named like the tag: git fetch prefers the tag.
        std::fs::write(origin.join("base/a.yaml"), "v: 2\n").unwrap();
        git(&origin, &["commit", "-q", "-am", "two"]);
        let second = git(&origin, &["rev-parse", "HEAD"]);
        git(&origin, &["branch", "v1-branch"]);
        let url = format!("file://{}", origin.display());
        let cache = tmp.path().join("cache");
        let out = |n: &str| tmp.path().join(n);

        let head = fetch_tree(&url, None, &cache, &out("h"), T).unwrap();
        assert_eq!(head.commit.to_string(), second);
        assert!(head.fetched);
        assert_eq!(
            std::fs::read_to_string(out("h").join("base/a.yaml")).unwrap(),
            "v: 2\n"
        );
        let tag = fetch_tree(&url, Some("v1"), &cache, &out("t"), T).unwrap();
        assert_eq!(tag.commit.to_string(), first, "annotated tag peeled");
        let branch = fetch_tree(&url, Some("v1-branch"), &cache, &out("b"), T).unwrap();
        assert_eq!(branch.commit.to_string(), second);
        let full = fetch_tree(&url, Some("refs/heads/main"), &cache, &out("f"), T).unwrap();
        assert_eq!(full.commit.to_string(), second);

        let err = fetch_tree(&url, Some("main~1"), &cache, &out("x"), T)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown revision \"main~1\""), "{err}");

        // The first commit is in the cache: no fetch, even with the origin gone.
        std::fs::remove_dir_all(&origin).unwrap();
        let pinned = fetch_tree(&url, Some(&first), &cache, &out("p"), T).unwrap();
        assert!(!pinned.fetched);
        assert_eq!(
            std::fs::read_to_string(out("p").join("base/a.yaml")).unwrap(),
            "v: 1\n"
        );
        let err = fetch_tree(&url, Some("main"), &cache, &out("m"), T)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("cannot fetch {url}: ")), "{err}");
        assert_eq!(
            std::fs::read_dir(&cache).unwrap().count(),
            2,
            "one cache and one lock file per URL"
        );
    }

    #[test]
    fn concurrent_fetches_of_one_url_share_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("a.yaml"), "v: 1\n").unwrap();
        git(&origin, &["add", "-A"]);
        git(&origin, &["commit", "-q", "-m", "one"]);
        let url = format!("file://{}", origin.display());
        let cache = tmp.path().join("cache");
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (url, cache, dest) =
                    (url.clone(), cache.clone(), tmp.path().join(format!("o{i}")));
                std::thread::spawn(move || fetch_tree(&url, Some("main"), &cache, &dest, T))
            })
            .collect();
        for h in handles {
            let tree = h.join().unwrap().unwrap();
            assert_eq!(tree.exported.files, 1);
        }
    }

    #[test]
    fn a_server_that_never_answers_is_given_up_on() {
        // Accepts connections and never says a word.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                held.push(conn);
            }
        });
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}/app.git");
        let err = fetch_tree(
            &url,
            Some("main"),
            &tmp.path().join("c"),
            &tmp.path().join("o"),
            Duration::from_millis(300),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, format!("cannot fetch {url}: timed out after 0.3s"));
    }

    #[test]
    fn credentials_are_masked_and_keys_differ() {
        assert_eq!(
            secrets_of("https://bob:s3cret@h/x.git"),
            ["bob:s3cret", "s3cret"]
        );
        assert!(secrets_of("https://h/x.git").is_empty());
        let err = scrub_error(
            SourceError::Fetch {
                url: "https://h/x".into(),
                message: "denied for https://bob:s3cret@h/x".into(),
            },
            "https://bob:s3cret@h/x",
        )
        .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(!cache_key("https://u:secret@h/x").contains("secret"));
        assert_ne!(cache_key("https://h/a/x"), cache_key("https://h/b/x"));
        assert_eq!(
            default_cache_dir(Some(Path::new("/x")), Some(Path::new("/h"))),
            Some(PathBuf::from("/x/gitops-toolkit/remote"))
        );
        assert_eq!(
            default_cache_dir(Some(Path::new("rel")), Some(Path::new("/h"))),
            Some(PathBuf::from("/h/.cache/gitops-toolkit/remote"))
        );
    }
}
