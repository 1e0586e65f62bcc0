//! Git repositories, through gix where it can (reading history, writing objects) and the `git`
//! binary where gix cannot (fetch, push: credentials, proxies and ssh are then found exactly as
//! git finds them).
//!
//! There is one repository type, [`Repository`]: opened from a directory (read-only questions
//! about history: the current commit, its tags, the last change to a path, a dirty work tree),
//! from a clone with a remote, or as a throw-away scratch repository that fetches from a URL
//! (building commits as objects and pushing them). The modules split it by concern:
//!
//! - [`repo`]: opening, fetching, reading and writing objects, committing, pushing.
//! - [`history`]: read-only questions about history.
//! - [`refname`]: which branch names Git accepts (`git check-ref-format`).
//! - [`source`]: a repository as a read-only source: a fetch cache and tree exports.
//! - [`remote`]: one ref of a repository, cached, locked and exported (remote kustomize bases).
//!
//! Nothing here names a tool: a tool passes its own name for temporary directories and the
//! fallback committer.

pub mod history;
pub mod refname;
pub mod remote;
pub mod repo;
pub mod source;

pub use gix::ObjectId;
pub use refname::check_branch_name;
pub use repo::{
    redact_url, trailers, CommitInfo, Depth, FileEntry, FileMode, GitError, Push, RemoteRefs,
    Repository,
};

/// What the unit tests of this module's files share.
#[cfg(test)]
mod test_support {
    use std::path::Path;
    use std::process::Command;

    /// Runs `git ARGS` in `dir` with a fixed author and no system or user configuration,
    /// panicking on failure; returns stdout trimmed.
    pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}
