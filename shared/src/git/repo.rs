//! Opening a repository (a directory inside a work tree, a clone with its remote, or a scratch
//! repository fetching from a URL), reading and writing objects, committing, and pushing with
//! `git push` (gix cannot push).
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
use gix::ObjectId;

/// A failure talking to git. Messages are single lines with credentials removed from URLs.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A git command or a gix operation failed.
    #[error("{0}")]
    Failed(String),
    /// The remote refused the push for a reason other than having moved (hook, protection).
    #[error("the remote rejected the push to {branch}: {reason}")]
    Rejected { branch: String, reason: String },
    /// The repository or its remote is not usable as asked (a missing remote, a remote that is
    /// the repository itself).
    #[error("{0}")]
    Setup(String),
    /// A git process was stopped by a signal (Ctrl-C reaches the whole process group): the
    /// run was interrupted, not broken.
    #[error("interrupted")]
    Interrupted,
}

impl GitError {
    /// 130 for an interruption (as for Ctrl-C anywhere else), 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            GitError::Interrupted => crate::exit::INTERRUPTED,
            _ => crate::exit::ERROR,
        }
    }
}

/// Whether a child ended because of SIGHUP, SIGINT or SIGTERM (or exited 130 after catching
/// one, as shells do). The numbers are the same on every Unix.
fn interrupted(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    matches!(status.signal(), Some(1 | 2 | 15)) || status.code() == Some(130)
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

/// What kind of file a tree entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    Regular,
    Executable,
    /// The blob holds the link's target, as `git add` stores a symbolic link.
    Symlink,
}

impl FileMode {
    fn kind(self) -> EntryKind {
        match self {
            FileMode::Regular => EntryKind::Blob,
            FileMode::Executable => EntryKind::BlobExecutable,
            FileMode::Symlink => EntryKind::Link,
        }
    }
}

/// A file to be placed in a tree: its blob and its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    pub id: ObjectId,
    pub mode: FileMode,
}

impl FileEntry {
    /// A regular (non-executable) file.
    pub fn regular(id: ObjectId) -> Self {
        FileEntry {
            id,
            mode: FileMode::Regular,
        }
    }
}

/// How much of the remote's history a fetch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// The branch now points at our commit. The remote's own messages (`remote: …` lines, such
    /// as the link a Git host prints for opening a pull request), if it sent any.
    Done(Vec<String>),
    /// The remote moved (non-fast-forward or stale lease): fetch, rebuild and try again.
    Stale,
}

/// A Git repository: for questions about its history, or to build commits in and push them to
/// its remote.
pub struct Repository {
    pub(super) repo: gix::Repository,
    git_dir: PathBuf,
    /// The remote `git fetch`/`git push` are given (a remote name); `None` when the repository
    /// was opened only to read it.
    remote: Option<String>,
    /// The remote as shown to users (no credentials).
    remote_display: String,
    /// The repository as named in messages (the path or URL it was opened from).
    shown: String,
    /// True for our own throw-away clone (shallow, blobless fetches are fine there).
    scratch: bool,
    /// The tool using the repository: temporary directory prefix and fallback committer.
    tool: String,
    _tmp: Option<tempfile::TempDir>,
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("git_dir", &self.git_dir)
            .field("remote", &self.remote_display)
            .finish()
    }
}

impl Drop for Repository {
    fn drop(&mut self) {
        if let Some(tmp) = &self._tmp {
            crate::atomic::forget(tmp.path());
        }
    }
}

/// `gix::discover` on the canonical path: given a relative path that climbs with `..` to a bare
/// repository (`--repo ../gitops.git`), gix-discover 0.57 looks for `../.git/objects` and fails
/// (and trips a debug assertion in `shorten_path_with_cwd`). A path that cannot be canonicalized
/// (it does not exist) is passed on as given, so the error still names it.
fn discover(path: &Path) -> gix::Result<gix::Repository> {
    gix::discover(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

impl Repository {
    /// The repository containing `dir` (discovered like git does), to read its history.
    pub fn open(dir: &Path) -> Result<Self> {
        let shown = dir.display().to_string();
        let repo = discover(dir).map_err(|e| {
            GitError::Failed(format!(
                "{shown}: not a git repository ({})",
                first_line(&e.to_string())
            ))
        })?;
        let git_dir = repo.git_dir().to_path_buf();
        Ok(Repository {
            repo,
            git_dir,
            remote: None,
            remote_display: String::new(),
            shown,
            scratch: false,
            tool: String::new(),
            _tmp: None,
        })
    }

    /// A repository given by path to push to: a user's clone (any directory inside it) and its
    /// remote `remote` (default `origin`), or — when no remote was asked for and a bare
    /// repository has no `origin` — that bare repository itself, used like a URL.
    ///
    /// A clone without the remote is an error (a typo in the remote's name must not push into
    /// the clone itself), and so is a remote that points back at the repository: a clone's own
    /// branches are never moved.
    pub fn open_target(path: &Path, remote: Option<&str>, tool: &str) -> Result<Self> {
        let shown = path.display().to_string();
        let repo = discover(path).map_err(|e| {
            GitError::Setup(format!(
                "{shown} is not a Git repository ({})",
                first_line(&e.to_string())
            ))
        })?;
        let name = remote.unwrap_or("origin");
        let config = repo.config_snapshot();
        let url = config
            .string(format!("remote.{name}.url").as_str())
            .map(|u| u.to_string());
        let remotes: Vec<String> = repo.remote_names().iter().map(|n| n.to_string()).collect();
        let git_dir = repo.git_dir().to_path_buf();
        let Some(url) = url else {
            if remote.is_none() && repo.workdir().is_none() {
                let abs = std::fs::canonicalize(&git_dir)
                    .map_err(|e| GitError::Setup(format!("{}: {e}", git_dir.display())))?;
                return Self::scratch(&format!("file://{}", abs.display()), tool);
            }
            let known = if remotes.is_empty() {
                "it has no remotes".to_owned()
            } else {
                format!("its remotes: {}", remotes.join(", "))
            };
            return Err(GitError::Setup(format!(
                "{shown}: the repository has no remote {name:?} ({known})"
            )));
        };
        if points_to(&url, &git_dir, repo.workdir()) {
            return Err(GitError::Setup(format!(
                "{shown}: remote {name:?} ({}) is the repository itself",
                redact_url(&url)
            )));
        }
        Ok(Repository {
            repo,
            git_dir,
            remote: Some(name.to_owned()),
            remote_display: redact_url(&url),
            shown,
            scratch: false,
            tool: tool.to_owned(),
            _tmp: None,
        })
    }

    /// A fresh, empty bare repository in a temporary directory that fetches from `url`
    /// (removed when the repository is dropped, or on Ctrl-C).
    pub fn scratch(url: &str, tool: &str) -> Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{tool}-"))
            .tempdir()
            .map_err(|e| failed("cannot create a temporary directory", e))?;
        // Ctrl-C exits without running destructors; the entry point removes what is remembered.
        crate::atomic::remember(tmp.path());
        let git_dir = tmp.path().join("repo.git");
        let repo = gix::init_bare(&git_dir)
            .map_err(|e| failed("cannot create a scratch repository", e))?;
        // Blobs are fetched lazily (a promisor remote) when one is read; trees are all we need.
        // Written directly: one `git config` process per key costs more than the whole edit.
        // A throw-away repository needs no housekeeping after fetches.
        let quoted = url.replace('\\', "\\\\").replace('"', "\\\"");
        let section = format!(
            "[remote \"origin\"]\n\turl = \"{quoted}\"\n\tpromisor = true\n\tpartialclonefilter = blob:none\n[maintenance]\n\tauto = false\n[gc]\n\tauto = 0\n"
        );
        let config = git_dir.join("config");
        let mut text = std::fs::read_to_string(&config)
            .map_err(|e| failed("cannot read the scratch config", e))?;
        text.push_str(&section);
        std::fs::write(&config, text).map_err(|e| failed("cannot write the scratch config", e))?;
        Ok(Repository {
            repo,
            git_dir,
            remote: Some("origin".to_owned()),
            remote_display: redact_url(url),
            shown: redact_url(url),
            scratch: true,
            tool: tool.to_owned(),
            _tmp: Some(tmp),
        })
    }

    /// Whether our scratch repository is gone: only the Ctrl-C handler removes it while we run
    /// (it removes pending temporary paths before exiting 130), so a failure then is the
    /// interruption's doing, not an error of its own.
    fn vanished(&self) -> bool {
        self._tmp.is_some() && !self.git_dir.exists()
    }

    /// The remote `git fetch` and `git push` use.
    fn remote(&self) -> Result<&str> {
        self.remote
            .as_deref()
            .ok_or_else(|| GitError::Setup(format!("{}: opened without a remote", self.shown)))
    }

    /// The repository as named in messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Registers with the process-wide scrubber the credentials git may send for this
    /// repository and a server may echo back: the remote URL's userinfo, and the values of
    /// `http.extraHeader` (CI systems put `Authorization: Basic …` there), decoded too.
    pub fn register_credentials(&self) {
        if let Some(url) = self.remote_url() {
            crate::scrub::register_url(&url);
        }
        let Ok(headers) = self.git(&["config", "--get-regexp", r"^http\..*extraheader$"]) else {
            return;
        };
        for line in headers.lines() {
            let Some((_, header)) = line.split_once(' ') else {
                continue;
            };
            let value = header.split_once(':').map_or(header, |(_, v)| v).trim();
            // `Basic dXNlcjpwYXNz` / `Bearer tok`: the credential is the last word.
            let credential = value.rsplit(' ').next().unwrap_or(value);
            crate::scrub::register(credential);
            use base64::Engine as _;
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credential) {
                if let Ok(pair) = String::from_utf8(decoded) {
                    crate::scrub::register(&pair);
                }
            }
        }
    }

    /// The remote as shown to users.
    pub fn remote_display(&self) -> &str {
        &self.remote_display
    }

    /// The remote's URL as configured (may hold credentials: never print it).
    pub fn remote_url(&self) -> Option<String> {
        let remote = self.remote.as_deref()?;
        // Not through `git()`: its error path scrubs with this very URL.
        let out = self
            .command()
            .args(["config", "--get", &format!("remote.{remote}.url")])
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
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
        } else if interrupted(&out.status) || self.vanished() {
            Err(GitError::Interrupted)
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let what = args.first().copied().unwrap_or("git");
            Err(GitError::Failed(self.scrub(&format!(
                "git {what} failed: {}",
                one_line(&stderr)
            ))))
        }
    }

    /// Removes credentials from a message, wherever git printed them: the remote URL's own,
    /// and everything registered with the process-wide scrubber.
    fn scrub(&self, message: &str) -> String {
        let mut out = message.to_owned();
        if let Some(url) = self.remote_url() {
            let clean = redact_url(&url);
            if clean != url {
                out = out.replace(&url, &clean);
            }
        }
        crate::scrub::scrub(&out).into_owned()
    }

    /// The remote's branches and default branch (`git ls-remote --symref`).
    pub fn remote_refs(&self) -> Result<RemoteRefs> {
        let out = self.git(&[
            "ls-remote",
            "--symref",
            self.remote()?,
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
    /// out). In a scratch clone the fetch is shallow for [`Depth::Tip`] and blobless.
    pub fn fetch(
        &mut self,
        branches: &[&str],
        history: Depth,
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
            if history == Depth::Tip {
                args.push("--depth=1".into());
            } else if self.git_dir.join("shallow").exists() {
                args.push("--unshallow".into());
            }
            args.push("--filter=blob:none".into());
        }
        args.push(self.remote()?.to_owned());
        for b in branches {
            args.push(format!("refs/heads/{b}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.git(&args)?;
        let fetch_head = std::fs::read_to_string(self.git_dir.join("FETCH_HEAD")).map_err(|e| {
            if self.vanished() {
                GitError::Interrupted
            } else {
                failed("cannot read FETCH_HEAD", e)
            }
        })?;
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
        history: Depth,
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

    /// Every file (and symbolic link) below the tree `tree`, recursively, by path relative to it.
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
            } else if entry.mode.is_blob_or_symlink() {
                let mode = if entry.mode.is_link() {
                    FileMode::Symlink
                } else if entry.mode.is_executable() {
                    FileMode::Executable
                } else {
                    FileMode::Regular
                };
                out.insert(
                    name,
                    FileEntry {
                        id: entry.oid.to_owned(),
                        mode,
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
        } else if interrupted(&out.status) || self.vanished() {
            Err(GitError::Interrupted)
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
            editor
                .upsert(components(path)?, entry.mode.kind(), entry.id)
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
    /// use here (`GIT_AUTHOR_*`, `GIT_COMMITTER_*`, `user.name`…), else the tool
    /// (`tool <tool@localhost>`).
    pub fn commit(&self, tree: ObjectId, parents: &[ObjectId], message: &str) -> Result<ObjectId> {
        let author = self.identity("GIT_AUTHOR_IDENT")?;
        let committer = self.identity("GIT_COMMITTER_IDENT")?;
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

    fn identity(&self, var: &str) -> Result<gix::actor::Signature> {
        let line = match self.git(&["var", var]) {
            Ok(line) => parse_ident(line.trim()),
            Err(GitError::Interrupted) => return Err(GitError::Interrupted),
            Err(_) => None,
        };
        if let Some(sig) = line {
            return Ok(sig);
        }
        if self.tool.is_empty() {
            return Err(GitError::Setup(format!(
                "no {var} for a commit: set user.name and user.email"
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Ok(gix::actor::Signature {
            name: self.tool.as_str().into(),
            email: format!("{}@localhost", self.tool).into(),
            time: gix::date::Time {
                seconds: now,
                offset: 0,
            },
        })
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
            // Not --quiet: it drops the porcelain status lines we read.
            "--porcelain".to_owned(),
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
        args.push(self.remote()?.to_owned());
        args.push(format!("{commit}:{refname}"));
        self.push_raw(&args, branch, &refname)
    }

    /// Deletes a branch on the remote, if it is still at `expected`.
    pub fn delete_remote_branch(&self, branch: &str, expected: ObjectId) -> Result<()> {
        let refname = format!("refs/heads/{branch}");
        let args = vec![
            "push".to_owned(),
            // Not --quiet: it drops the porcelain status lines we read.
            "--porcelain".to_owned(),
            format!("--force-with-lease={refname}:{expected}"),
            self.remote()?.to_owned(),
            format!(":{refname}"),
        ];
        match self.push_raw(&args, branch, &refname)? {
            Push::Done(_) => Ok(()),
            Push::Stale => Err(GitError::Failed(format!(
                "{branch} moved on the remote; not deleting it"
            ))),
        }
    }

    fn push_raw(&self, args: &[String], branch: &str, refname: &str) -> Result<Push> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self
            .command()
            .args(&args)
            .output()
            .map_err(|e| failed("cannot run git (is it installed?)", e))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if interrupted(&out.status) || self.vanished() {
            return Err(GitError::Interrupted);
        }
        if out.status.success() {
            // Porcelain: one line per ref, `<flag> TAB <from>:<to> TAB <summary>`. Only a ref
            // git reports as updated (fast-forward, forced, new, deleted) counts as pushed.
            let updated = stdout.lines().any(|line| {
                let mut parts = line.split('\t');
                matches!(
                    (parts.next(), parts.next()),
                    (Some(" " | "+" | "*" | "-"), Some(r)) if r.ends_with(&format!(":{refname}"))
                )
            });
            if !updated {
                return Err(GitError::Failed(self.scrub(&format!(
                    "git push did not update {refname} on {}: {}",
                    self.remote_display,
                    one_line(&format!("{stdout}\n{stderr}"))
                ))));
            }
            let messages = stderr
                .lines()
                .filter_map(|l| l.strip_prefix("remote: "))
                .map(|l| self.scrub(l.trim_end()))
                .collect();
            return Ok(Push::Done(messages));
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

    /// Resolves a revision (`HEAD~2`, a sha, a branch) in this repository. The error names
    /// the revision, not the parser's internals.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId> {
        let unknown = || {
            GitError::Failed(format!(
                "unknown revision {rev:?}: no such commit in {}",
                self.shown
            ))
        };
        let id = self.repo.rev_parse_single(rev).map_err(|_| unknown())?;
        let object = id.object().map_err(|_| unknown())?;
        let commit = object
            .peel_to_commit()
            .map_err(|_| GitError::Failed(format!("{rev:?} is not a commit")))?;
        Ok(commit.id)
    }
}

/// Whether a remote URL (a path or `file://` URL) names this very repository.
fn points_to(url: &str, git_dir: &Path, workdir: Option<&Path>) -> bool {
    let path = match url.strip_prefix("file://") {
        Some(p) => PathBuf::from(p),
        None if !url.contains("://") && !url.contains(':') => PathBuf::from(url),
        None => return false,
    };
    // A relative remote path is relative to the work tree (or the git dir of a bare one).
    let base = workdir.unwrap_or(git_dir);
    let Ok(target) = std::fs::canonicalize(base.join(path)) else {
        return false;
    };
    [Some(git_dir), workdir]
        .into_iter()
        .flatten()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .any(|p| p == target)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
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

/// What [`Repository::commit_info`] reads.
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
