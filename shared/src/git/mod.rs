//! Git repositories, through gix where it can (reading history, writing objects and refs) and
//! the `git` binary where gix cannot (push).
//!
//! - [`history`]: read-only questions about a repository's history (image-tag).
//! - [`repo`]: staging, committing and pushing changes to a repository (git-promote).

pub mod history;
pub mod repo;
pub mod source;
