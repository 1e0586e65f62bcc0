//! Read-only questions about a repository's history: the current commit, its tags, the last
//! commit that touched a path, whether the work tree is dirty (what a tag computed from Git
//! needs). Nothing here writes to the repository.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::path::{Path, PathBuf};

use gix::bstr::{BString, ByteSlice};
use gix::ObjectId;

use super::repo::{CommitInfo, GitError, Repository};

type Result<T> = std::result::Result<T, GitError>;

/// Ordering for the history walk: newest committer time first, ties by id for determinism.
#[derive(PartialEq, Eq)]
struct Queued {
    time: i64,
    id: ObjectId,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        self.time
            .cmp(&other.time)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Repository {
    fn err(&self, message: impl std::fmt::Display) -> GitError {
        GitError::Failed(format!("{}: {message}", self.shown()))
    }

    /// The work tree root, if the repository has one.
    pub fn workdir(&self) -> Option<PathBuf> {
        self.repo.workdir().map(Path::to_path_buf)
    }

    fn info(&self, id: ObjectId) -> Result<CommitInfo> {
        self.commit_info(id).map_err(|e| self.err(e))
    }

    /// The commit HEAD points to.
    pub fn head(&self) -> Result<CommitInfo> {
        let commit = self
            .repo
            .head_commit()
            .map_err(|e| self.err(format!("HEAD does not point to a commit ({e})")))?;
        self.info(commit.id)
    }

    /// The branch HEAD is on (`main`, `feature/x`), `None` when detached.
    pub fn branch(&self) -> Result<Option<String>> {
        let name = self
            .repo
            .head_name()
            .map_err(|e| self.err(format!("cannot read HEAD: {e}")))?;
        Ok(name.map(|n| n.shorten().to_str_lossy().into_owned()))
    }

    /// Tags (short names) that point at `commit`, annotated tags peeled, sorted by name.
    pub fn tags_at(&self, target: ObjectId) -> Result<Vec<String>> {
        let refs = self.repo.references().map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in refs.tags().map_err(|e| self.err(e))? {
            let mut r = r.map_err(|e| self.err(format!("cannot read a tag: {e}")))?;
            let Ok(id) = r.peel_to_id() else { continue };
            if id.detach() == target {
                out.push(r.name().shorten().to_str_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// The last commit reachable from HEAD that changed `path` (a file or directory relative to
    /// the work tree root), with git's default history simplification: a merge that kept one
    /// parent's version is not a change, and only that parent is followed (`git log -1 -- path`).
    pub fn last_change(&self, path: &Path) -> Result<Option<CommitInfo>> {
        let rel: PathBuf = path.components().collect();
        let head = self
            .repo
            .head_commit()
            .map_err(|e| self.err(format!("HEAD does not point to a commit ({e})")))?;
        let mut queue = BinaryHeap::new();
        let mut seen = HashSet::new();
        let push = |queue: &mut BinaryHeap<Queued>, id: ObjectId, this: &Self| -> Result<()> {
            let time = this.info(id)?.time;
            queue.push(Queued { time, id });
            Ok(())
        };
        seen.insert(head.id);
        push(&mut queue, head.id, self)?;
        while let Some(Queued { id, .. }) = queue.pop() {
            let commit = self.repo.find_commit(id).map_err(|e| self.err(e))?;
            let entry = self.entry_in(&commit, &rel)?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            if parents.is_empty() {
                if entry.is_some() {
                    return self.info(id).map(Some);
                }
                continue;
            }
            let mut same_parent = None;
            for p in &parents {
                let pc = self.repo.find_commit(*p).map_err(|e| self.err(e))?;
                if self.entry_in(&pc, &rel)? == entry {
                    same_parent = Some(*p);
                    break;
                }
            }
            match same_parent {
                Some(p) => {
                    if seen.insert(p) {
                        push(&mut queue, p, self)?;
                    }
                }
                None => return self.info(id).map(Some),
            }
        }
        Ok(None)
    }

    fn entry_in(&self, commit: &gix::Commit<'_>, rel: &Path) -> Result<Option<ObjectId>> {
        if rel.as_os_str().is_empty() {
            return commit
                .tree_id()
                .map(|t| Some(t.detach()))
                .map_err(|e| self.err(e));
        }
        let tree = commit.tree().map_err(|e| self.err(e))?;
        let entry = tree.lookup_entry_by_path(rel).map_err(|e| self.err(e))?;
        Ok(entry.map(|e| e.object_id()))
    }

    /// Whether tracked files differ from HEAD (staged or not); untracked files do not count,
    /// as with `git describe --dirty`. With `path`, only changes under it count.
    pub fn is_dirty(&self, path: Option<&Path>) -> Result<bool> {
        if self.repo.workdir().is_none() {
            return Ok(false);
        }
        let patterns: Vec<BString> = match path {
            Some(p) if !p.as_os_str().is_empty() && p != Path::new(".") => {
                vec![BString::from(p.to_string_lossy().replace('\\', "/"))]
            }
            _ => Vec::new(),
        };
        let status = self
            .repo
            .status(gix::progress::Discard)
            .map_err(|e| self.err(format!("cannot compute status: {e}")))?
            .index_worktree_rewrites(None)
            .index_worktree_submodules(gix::status::Submodule::AsConfigured { check_dirty: true })
            .index_worktree_options_mut(|opts| {
                opts.dirwalk_options = None;
            });
        let mut iter = status
            .into_iter(patterns)
            .map_err(|e| self.err(format!("cannot compute status: {e}")))?;
        match iter.next() {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(self.err(format!("cannot compute status: {e}"))),
        }
    }
}
