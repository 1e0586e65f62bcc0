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
