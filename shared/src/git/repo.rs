//! Opening or cloning a repository, writing a tree of files onto a branch, committing with
//! provenance, and pushing with `git push` (gix cannot push).
//!
//! Nothing here touches a work tree or the index: changes are built as objects (blobs, trees,
//! a commit) in the object database with gix, on top of the remote branch's tip, and pushed as
//! `<commit>:refs/heads/<branch>`. A user's clone therefore keeps its checkout, index and local
//! branches exactly as they were; only objects (and, as with any `git fetch`, remote-tracking
//! refs) are added.
//!
//! The `git` binary does the network work: `ls-remote`, `fetch` (shallow and blobless when we
//! work in a throw-away clone, since a promotion only needs trees) and `push`. That way
//! credentials, proxies and ssh are found exactly as git finds them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::EntryKind;
pub use gix::ObjectId;

/// A failure talking to git. Messages are single lines with credentials removed from URLs.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A git command or a gix operation failed.
    #[error("{0}")]
    Failed(String),
    /// The remote refused the push for a reason other than having moved (hook, protection).
    #[error("the remote rejected the push to {branch}: {reason}")]
    Rejected { branch: String, reason: String },
}

type Result<T, E = GitError> = std::result::Result<T, E>;

fn failed(what: impl fmt::Display, err: impl fmt::Display) -> GitError {
    GitError::Failed(one_line(&format!("{what}: {err}")))
}

/// Squeezes a multi-line message (git's stderr) into one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .map(|l| {
            l.strip_prefix("fatal: ")
                .or_else(|| l.strip_prefix("error: "))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `https://user:secret@host/x` → `https://host/x`: URLs are shown without credentials.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some((_, host)) = authority.rsplit_once('@') {
            let sep = if rest.contains('/') { "/" } else { "" };
            return format!("{scheme}://{host}{sep}{path}");
        }
    }
    url.to_owned()
}

/// A file to be placed in a tree: its blob and whether it is executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    pub id: ObjectId,
    pub executable: bool,
}

/// How much of the remote's history a fetch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Only the tip commit (enough to build a commit on top of it).
    Tip,
    /// All commits (rollback looks for the last change to a path).
    Full,
}

/// What `git ls-remote` reported.
#[derive(Debug, Clone, Default)]
pub struct RemoteRefs {
    /// The branch the remote's HEAD points to, if it told us.
    pub default_branch: Option<String>,
    /// Branch name → tip.
    pub branches: BTreeMap<String, ObjectId>,
}

/// The result of one push attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The branch now points at our commit.
    Done,
    /// The remote moved (non-fast-forward or stale lease): fetch, rebuild and try again.
    Stale,
}

/// A repository to build commits in, with the remote they go to.
pub struct Workspace {
    repo: gix::Repository,
    git_dir: PathBuf,
    /// What `git fetch`/`git push` are given: a remote name (in a user's clone) or a URL.
    remote: String,
    /// The remote as shown to users (no credentials).
    remote_display: String,
    /// True for our own throw-away clone (shallow, blobless fetches are fine there).
    scratch: bool,
    _tmp: Option<tempfile::TempDir>,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("git_dir", &self.git_dir)
            .field("remote", &self.remote_display)
            .finish()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(tmp) = &self._tmp {
            crate::atomic::forget(tmp.path());
        }
    }
}

impl Workspace {
    /// A user's clone at `path` (any directory inside it), pushing to its remote `remote_name`.
    /// Returns `Ok(None)` when `path` is a repository without that remote (a bare "server"
    /// repository given by path), which callers then treat as a URL.
    pub fn open_clone(path: &Path, remote_name: &str) -> Result<Option<Self>> {
        let repo = gix::discover(path).map_err(|e| {
            failed(
                format_args!("{} is not a Git repository", path.display()),
                e,
            )
        })?;
        let url = repo
            .config_snapshot()
            .string(format!("remote.{remote_name}.url").as_str())
            .map(|u| u.to_string());
        let Some(url) = url else { return Ok(None) };
        let git_dir = repo.git_dir().to_path_buf();
        Ok(Some(Workspace {
            repo,
            git_dir,
            remote: remote_name.to_owned(),
            remote_display: redact_url(&url),
            scratch: false,
            _tmp: None,
        }))
    }

    /// A fresh, empty bare repository in a temporary directory that fetches from `url`
    /// (removed when the workspace is dropped).
    pub fn scratch(url: &str) -> Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix("git-promote-")
            .tempdir()
            .map_err(|e| failed("cannot create a temporary directory", e))?;
        // Ctrl-C exits without running destructors; the entry point removes what is remembered.
        crate::atomic::remember(tmp.path());
        let git_dir = tmp.path().join("repo.git");
        let repo = gix::init_bare(&git_dir)
            .map_err(|e| failed("cannot create a scratch repository", e))?;
        let ws = Workspace {
            repo,
            git_dir,
            remote: url.to_owned(),
            remote_display: redact_url(url),
            scratch: true,
            _tmp: Some(tmp),
        };
        // Blobs are fetched lazily (a promisor remote) when one is read; trees are all we need.
        // Written directly: one `git config` process per key costs more than the whole edit.
        // A throw-away repository needs no housekeeping after fetches.
        let quoted = url.replace('\\', "\\\\").replace('"', "\\\"");
        let section = format!(
            "[remote \"origin\"]\n\turl = \"{quoted}\"\n\tpromisor = true\n\tpartialclonefilter = blob:none\n[maintenance]\n\tauto = false\n[gc]\n\tauto = 0\n"
        );
        let config = ws.git_dir.join("config");
        let mut text = std::fs::read_to_string(&config)
            .map_err(|e| failed("cannot read the scratch config", e))?;
        text.push_str(&section);
        std::fs::write(&config, text).map_err(|e| failed("cannot write the scratch config", e))?;
        let mut ws = ws;
        ws.remote = "origin".to_owned();
        Ok(ws)
    }

    /// The remote as shown to users.
    pub fn remote_display(&self) -> &str {
        &self.remote_display
    }

    /// The remote's URL as configured (may hold credentials: never print it).
    pub fn remote_url(&self) -> Option<String> {
        let out = self
            .git(&["config", "--get", &format!("remote.{}.url", self.remote)])
            .ok()?;
        Some(out.trim().to_owned())
    }

    /// The git directory objects are written to.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(&self.git_dir)
            // Never wait for a password prompt in a pipeline: fail with git's message instead.
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GCM_INTERACTIVE", "never")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs git, returning stdout; a failure carries git's stderr as one line.
    fn git(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|e| failed("cannot run git (is it installed?)", e))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let what = args.first().copied().unwrap_or("git");
            Err(GitError::Failed(self.scrub(&format!(
                "git {what} failed: {}",
                one_line(&stderr)
            ))))
        }
    }

    /// Removes the remote URL's credentials from a message, wherever git printed them.
    fn scrub(&self, message: &str) -> String {
        let mut out = message.to_owned();
        if let Some(url) = self.remote_url() {
            let clean = redact_url(&url);
            if clean != url {
                out = out.replace(&url, &clean);
            }
        }
        out
    }

    /// The remote's branches and default branch (`git ls-remote --symref`).
    pub fn remote_refs(&self) -> Result<RemoteRefs> {
        let out = self.git(&[
            "ls-remote",
            "--symref",
            &self.remote,
            "HEAD",
            "refs/heads/*",
        ])?;
        let mut refs = RemoteRefs::default();
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("ref: ") {
                if let Some((target, "HEAD")) = rest.split_once('\t') {
                    refs.default_branch = target.strip_prefix("refs/heads/").map(str::to_owned);
                }
                continue;
            }
            let Some((sha, name)) = line.split_once('\t') else {
                continue;
            };
            if let (Some(branch), Ok(id)) = (
                name.strip_prefix("refs/heads/"),
                ObjectId::from_hex(sha.as_bytes()),
            ) {
                refs.branches.insert(branch.to_owned(), id);
            }
        }
        Ok(refs)
    }

    /// Fetches `branches` from the remote and returns their tips (absent branches are left
    /// out). In a scratch clone the fetch is shallow for [`History::Tip`] and blobless.
    pub fn fetch(
        &mut self,
        branches: &[&str],
        history: History,
    ) -> Result<BTreeMap<String, ObjectId>> {
        let mut tips = BTreeMap::new();
        if branches.is_empty() {
            return Ok(tips);
        }
        let mut args: Vec<String> = vec![
            "fetch".into(),
            "--quiet".into(),
            "--no-tags".into(),
            "--no-write-commit-graph".into(),
        ];
        if self.scratch {
            if history == History::Tip {
                args.push("--depth=1".into());
            } else if self.git_dir.join("shallow").exists() {
                args.push("--unshallow".into());
            }
            args.push("--filter=blob:none".into());
        }
        args.push(self.remote.clone());
        for b in branches {
            args.push(format!("refs/heads/{b}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.git(&args)?;
        let fetch_head = std::fs::read_to_string(self.git_dir.join("FETCH_HEAD"))
            .map_err(|e| failed("cannot read FETCH_HEAD", e))?;
        for line in fetch_head.lines() {
            // <sha> TAB [not-for-merge] TAB branch 'name' of <url>
            let mut parts = line.splitn(3, '\t');
            let (Some(sha), _, Some(desc)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Some(rest) = desc.strip_prefix("branch '") else {
                continue;
            };
            let Some((name, _)) = rest.split_once("' of ") else {
                continue;
            };
            if let Ok(id) = ObjectId::from_hex(sha.as_bytes()) {
                tips.insert(name.to_owned(), id);
            }
        }
        // Objects arrived through another process; let gix see the new packs.
        self.repo =
            gix::open(&self.git_dir).map_err(|e| failed("cannot reopen the repository", e))?;
        Ok(tips)
    }

    /// Fetches the branches that exist on the remote (per `refs`), returning their tips.
    pub fn fetch_existing(
        &mut self,
        refs: &RemoteRefs,
        branches: &[&str],
        history: History,
    ) -> Result<BTreeMap<String, ObjectId>> {
        let mut wanted: Vec<&str> = branches
            .iter()
            .copied()
            .filter(|b| refs.branches.contains_key(*b))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        self.fetch(&wanted, history)
    }

    /// The tree of a commit.
    pub fn commit_tree(&self, commit: ObjectId) -> Result<ObjectId> {
        let c = self
            .repo
            .find_commit(commit)
            .map_err(|e| failed(format_args!("cannot read commit {commit}"), e))?;
        c.tree_id()
            .map(|id| id.detach())
            .map_err(|e| failed(format_args!("cannot read commit {commit}"), e))
    }

    /// A commit's parents, message and committer time (seconds since the epoch).
    pub fn commit_info(&self, commit: ObjectId) -> Result<CommitInfo> {
        let c = self
            .repo
            .find_commit(commit)
            .map_err(|e| failed(format_args!("cannot read commit {commit}"), e))?;
        let decoded = c
            .decode()
            .map_err(|e| failed(format_args!("cannot read commit {commit}"), e))?;
        let time = decoded
            .committer()
            .ok()
            .and_then(|s| s.time().ok())
            .map_or(0, |t| t.seconds);
        Ok(CommitInfo {
            id: commit,
            parents: decoded.parents().collect(),
            message: decoded.message.to_str_lossy().into_owned(),
            time,
        })
    }

    /// The empty tree's id.
    pub fn empty_tree(&self) -> ObjectId {
        ObjectId::empty_tree(self.repo.object_hash())
    }

    /// The entry at `path` (slash-separated) in `tree`: its id and whether it is a tree.
    pub fn entry_at(&self, tree: ObjectId, path: &str) -> Result<Option<(ObjectId, bool)>> {
        let path = path.trim_matches('/');
        if path.is_empty() {
            return Ok(Some((tree, true)));
        }
        let t = self
            .repo
            .find_tree(tree)
            .map_err(|e| failed("cannot read tree", e))?;
        let entry = t
            .lookup_entry_by_path(path)
            .map_err(|e| failed(format_args!("cannot read {path}"), e))?;
        Ok(entry.map(|e| (e.object_id(), e.mode().is_tree())))
    }

    /// Every file below the tree `tree` (recursively), by path relative to it.
    pub fn files(&self, tree: ObjectId) -> Result<BTreeMap<String, FileEntry>> {
        let mut out = BTreeMap::new();
        self.walk(tree, String::new(), &mut out)?;
        Ok(out)
    }

    fn walk(
        &self,
        tree: ObjectId,
        prefix: String,
        out: &mut BTreeMap<String, FileEntry>,
    ) -> Result<()> {
        let t = self
            .repo
            .find_tree(tree)
            .map_err(|e| failed("cannot read tree", e))?;
        let decoded = t.decode().map_err(|e| failed("cannot read tree", e))?;
        for entry in &decoded.entries {
            let name = format!("{prefix}{}", entry.filename.to_str_lossy());
            if entry.mode.is_tree() {
                self.walk(entry.oid.to_owned(), format!("{name}/"), out)?;
            } else if entry.mode.is_blob() {
                out.insert(
                    name,
                    FileEntry {
                        id: entry.oid.to_owned(),
                        executable: entry.mode.is_executable(),
                    },
                );
            }
        }
        Ok(())
    }

    /// The names of the subtrees directly below `tree`.
    pub fn subtrees(&self, tree: ObjectId) -> Result<Vec<String>> {
        let t = self
            .repo
            .find_tree(tree)
            .map_err(|e| failed("cannot read tree", e))?;
        let decoded = t.decode().map_err(|e| failed("cannot read tree", e))?;
        Ok(decoded
            .entries
            .iter()
            .filter(|e| e.mode.is_tree())
            .map(|e| e.filename.to_str_lossy().into_owned())
            .collect())
    }

    /// Stores `bytes` as a blob.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<ObjectId> {
        self.repo
            .write_blob(bytes)
            .map(|id| id.detach())
            .map_err(|e| failed("cannot write a blob", e))
    }

    /// A blob's content. In a blobless scratch clone a missing blob is fetched from the remote
    /// (`git cat-file` does that for promisor remotes).
    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>> {
        if let Ok(Some(obj)) = self.repo.try_find_object(id) {
            return Ok(obj.detach().data);
        }
        let out = self
            .command()
            .args(["cat-file", "blob", &id.to_string()])
            .output()
            .map_err(|e| failed("cannot run git", e))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(GitError::Failed(self.scrub(&format!(
                "cannot read blob {id}: {}",
                one_line(&String::from_utf8_lossy(&out.stderr))
            ))))
        }
    }

    /// Builds a tree holding exactly `files` (relative paths → blobs).
    pub fn build_tree(&self, files: &BTreeMap<String, FileEntry>) -> Result<ObjectId> {
        let mut editor = self.editor(self.empty_tree())?;
        for (path, entry) in files {
            let kind = if entry.executable {
                EntryKind::BlobExecutable
            } else {
                EntryKind::Blob
            };
            editor
                .upsert(components(path)?, kind, entry.id)
                .map_err(|e| failed(format_args!("cannot place {path}"), e))?;
        }
        self.write_edit(&mut editor)
    }

    /// `base` with the entry at `path` replaced by the tree `subtree` (or removed for `None`).
    /// Parent trees are created as needed.
    pub fn replace_path(
        &self,
        base: ObjectId,
        path: &str,
        subtree: Option<ObjectId>,
    ) -> Result<ObjectId> {
        let path = path.trim_matches('/');
        let mut editor = self.editor(base)?;
        match subtree {
            Some(id) if id != self.empty_tree() => {
                editor
                    .upsert(components(path)?, EntryKind::Tree, id)
                    .map_err(|e| failed(format_args!("cannot place {path}"), e))?;
            }
            // An empty directory does not exist in Git.
            _ => {
                editor
                    .remove(components(path)?)
                    .map_err(|e| failed(format_args!("cannot remove {path}"), e))?;
            }
        }
        self.write_edit(&mut editor)
    }

    /// gix's plumbing tree editor. The checked editor insists that every blob an edited tree
    /// names is present locally, which a blobless clone (our scratch clone) never has; paths we
    /// add are checked by [`components`] instead.
    fn editor(&self, base: ObjectId) -> Result<gix::objs::tree::Editor<'_>> {
        let tree = self
            .repo
            .find_tree(base)
            .map_err(|e| failed("cannot read tree", e))?;
        let editor = tree.edit().map_err(|e| failed("cannot edit tree", e))?;
        Ok(editor.detach())
    }

    fn write_edit(&self, editor: &mut gix::objs::tree::Editor<'_>) -> Result<ObjectId> {
        editor
            .write(|tree| self.repo.write_object(tree).map(|id| id.detach()))
            .map_err(|e| failed("cannot write tree", e))
    }

    /// Writes a commit of `tree` on top of `parents`. Author and committer are who git would
    /// use here (`GIT_AUTHOR_*`, `GIT_COMMITTER_*`, `user.name`…), else `git-promote`.
    pub fn commit(&self, tree: ObjectId, parents: &[ObjectId], message: &str) -> Result<ObjectId> {
        let author = self.identity("GIT_AUTHOR_IDENT");
        let committer = self.identity("GIT_COMMITTER_IDENT");
        let commit = gix::objs::Commit {
            tree,
            parents: parents.iter().copied().collect(),
            author,
            committer,
            encoding: None,
            message: BString::from(message),
            extra_headers: Vec::new(),
        };
        self.repo
            .write_object(&commit)
            .map(|id| id.detach())
            .map_err(|e| failed("cannot write commit", e))
    }

    fn identity(&self, var: &str) -> gix::actor::Signature {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let fallback = gix::actor::Signature {
            name: "git-promote".into(),
            email: "git-promote@localhost".into(),
            time: gix::date::Time {
                seconds: now,
                offset: 0,
            },
        };
        let Ok(line) = self.git(&["var", var]) else {
            return fallback;
        };
        parse_ident(line.trim()).unwrap_or(fallback)
    }

    /// Pushes `commit` to `refs/heads/<branch>`. A shared branch (`lease = None`) only moves
    /// forward; a branch of our own may be replaced, but only if it still is where we saw it
    /// (`Some(None)`: it must not exist yet).
    pub fn push(
        &self,
        commit: ObjectId,
        branch: &str,
        lease: Option<Option<ObjectId>>,
    ) -> Result<Push> {
        let refname = format!("refs/heads/{branch}");
        let mut args = vec![
            "push".to_owned(),
            "--porcelain".to_owned(),
            "--quiet".to_owned(),
        ];
        if self.scratch {
            // A thin pack deltas against the remote's blobs, which a blobless clone would first
            // have to download (one lazy fetch per push): send whole new blobs instead.
            args.push("--no-thin".to_owned());
        }
        if let Some(expected) = lease {
            let expect = expected.map(|id| id.to_string()).unwrap_or_default();
            args.push(format!("--force-with-lease={refname}:{expect}"));
        }
        args.push(self.remote.clone());
        args.push(format!("{commit}:{refname}"));
        self.push_raw(&args, branch)
    }

    /// Deletes a branch on the remote, if it is still at `expected`.
    pub fn delete_remote_branch(&self, branch: &str, expected: ObjectId) -> Result<()> {
        let refname = format!("refs/heads/{branch}");
        let args = vec![
            "push".to_owned(),
            "--porcelain".to_owned(),
            "--quiet".to_owned(),
            format!("--force-with-lease={refname}:{expected}"),
            self.remote.clone(),
            format!(":{refname}"),
        ];
        match self.push_raw(&args, branch)? {
            Push::Done => Ok(()),
            Push::Stale => Err(GitError::Failed(format!(
                "{branch} moved on the remote; not deleting it"
            ))),
        }
    }

    fn push_raw(&self, args: &[String], branch: &str) -> Result<Push> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self
            .command()
            .args(&args)
            .output()
            .map_err(|e| failed("cannot run git (is it installed?)", e))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(Push::Done);
        }
        // Porcelain lines: <flag> TAB <from>:<to> TAB <summary> (<reason>)
        for line in stdout.lines() {
            let mut parts = line.split('\t');
            let (Some(flag), Some(_), Some(summary)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if flag != "!" {
                continue;
            }
            // Moved under us: git saw it (non-fast-forward, fetch first, stale lease), or the
            // remote's ref update lost a race with another push (cannot lock ref).
            let moved = [
                "non-fast-forward",
                "fetch first",
                "stale info",
                "cannot lock ref",
                "incorrect old value",
                "failed to update ref",
            ];
            if moved.iter().any(|m| summary.contains(m)) || stderr.contains("cannot lock ref") {
                return Ok(Push::Stale);
            }
            let reason = remote_reason(&stderr).unwrap_or_else(|| summary.trim().to_owned());
            return Err(GitError::Rejected {
                branch: branch.to_owned(),
                reason: self.scrub(&reason),
            });
        }
        Err(GitError::Failed(
            self.scrub(&format!("git push failed: {}", one_line(&stderr))),
        ))
    }

    /// Commits reachable from `tip` (first parents only, newest first), at most `limit`.
    pub fn first_parent_log(&self, tip: ObjectId, limit: usize) -> Result<Vec<CommitInfo>> {
        let mut out = Vec::new();
        let mut next = Some(tip);
        while let Some(id) = next {
            if out.len() >= limit || !self.repo.has_object(id) {
                break;
            }
            let info = self.commit_info(id)?;
            next = info.parents.first().copied();
            out.push(info);
        }
        Ok(out)
    }

    /// Resolves a revision (`HEAD~2`, a sha, a branch) in this repository.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId> {
        let id = self
            .repo
            .rev_parse_single(rev)
            .map_err(|e| failed(format_args!("unknown revision {rev}"), e))?;
        let object = id
            .object()
            .map_err(|e| failed(format_args!("unknown revision {rev}"), e))?;
        let commit = object
            .peel_to_commit()
            .map_err(|e| failed(format_args!("{rev} is not a commit"), e))?;
        Ok(commit.id)
    }
}

/// A relative path's components, refusing what Git must never check out (`..`, `.git`, empty
/// components, NUL).
fn components(path: &str) -> Result<Vec<&gix::bstr::BStr>> {
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts {
        if part.is_empty()
            || *part == "."
            || *part == ".."
            || part.eq_ignore_ascii_case(".git")
            || part.contains('\0')
        {
            return Err(GitError::Failed(format!(
                "refusing to write the path {path:?}"
            )));
        }
    }
    Ok(parts.into_iter().map(|p| p.as_bytes().as_bstr()).collect())
}

/// Messages from hooks come as `remote: …` lines; the first meaningful one is the reason.
fn remote_reason(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("remote: "))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// `Name <email> 1732631000 +0100` (as `git var GIT_AUTHOR_IDENT` prints it).
fn parse_ident(line: &str) -> Option<gix::actor::Signature> {
    let (name, rest) = line.split_once(" <")?;
    let (email, rest) = rest.split_once("> ")?;
    let (secs, tz) = rest.split_once(' ')?;
    let seconds: i64 = secs.parse().ok()?;
    let sign = if tz.starts_with('-') { -1 } else { 1 };
    let digits = tz.trim_start_matches(['+', '-']);
    if digits.len() != 4 {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    Some(gix::actor::Signature {
        name: name.into(),
        email: email.into(),
        time: gix::date::Time {
            seconds,
            offset: sign * (hours * 3600 + minutes * 60),
        },
    })
}

/// What [`Workspace::commit_info`] reads.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub parents: Vec<ObjectId>,
    pub message: String,
    /// Committer time, seconds since the epoch.
    pub time: i64,
}

/// `Key: value` trailers at the end of a commit message, in order.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let paragraphs: Vec<&str> = message.trim_end().split("\n\n").collect();
    let Some(last) = paragraphs.last() else {
        return Vec::new();
    };
    if paragraphs.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for line in last.lines() {
        match line.split_once(": ") {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                out.push((k.to_owned(), v.trim().to_owned()));
            }
            _ => return Vec::new(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://x:tok@example.com/a/b.git"),
            "https://example.com/a/b.git"
        );
        assert_eq!(redact_url("https://example.com/a"), "https://example.com/a");
        assert_eq!(redact_url("/srv/git/r.git"), "/srv/git/r.git");
        assert_eq!(redact_url("http://tok@host"), "http://host");
    }

    #[test]
    fn idents_parse_like_git_prints_them() {
        let s = parse_ident("A U Thor <a@example.com> 1700000000 -0130").unwrap();
        assert_eq!(s.name, "A U Thor");
        assert_eq!(s.email, "a@example.com");
        assert_eq!(s.time.seconds, 1_700_000_000);
        assert_eq!(s.time.offset, -5400);
        assert!(parse_ident("nonsense").is_none());
    }

    #[test]
    fn trailers_come_from_the_last_paragraph() {
        let t = trailers("subject\n\nbody\n\nA-B: 1\nC: two words\n");
        assert_eq!(
            t,
            [
                ("A-B".to_owned(), "1".to_owned()),
                ("C".to_owned(), "two words".to_owned())
            ]
        );
        assert!(trailers("subject only: x\n").is_empty());
        assert!(trailers("s\n\nnot a trailer line\n").is_empty());
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert_eq!(components("a/b.yaml").unwrap().len(), 2);
        for bad in ["a//b", "../x", "a/.git/config", "a/./b", "", "a/.GIT"] {
            assert!(components(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn git_messages_become_one_line() {
        assert_eq!(one_line("fatal: a\nhint: b\n\nerror: c\n"), "a; c");
    }
}
