//! Everything that can go wrong in a promotion, each printed as one line (exit code 2).
//! Messages never contain tokens: provider errors are scrubbed before they get here, and Git
//! URLs are shown without credentials.

use gitops::git::repo::GitError;

/// A failed promotion, status or rollback.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// Flags that do not fit together, an unknown environment or app.
    #[error("{0}")]
    Usage(String),
    /// `.gitops/promote.yaml` is wrong.
    #[error("{0}")]
    Config(String),
    /// The manifests (or templates) could not be read or parsed.
    #[error("{0}")]
    Input(#[from] gitops::Error),
    /// Git failed: fetch, push, a rejected push, reading objects.
    #[error("{0}")]
    Git(#[from] GitError),
    /// Someone else changed the same environment path while we were promoting.
    #[error("{0}")]
    Conflict(String),
    /// The Git host's API refused or failed.
    #[error("{0}")]
    Provider(String),
    /// `--wait` saw the pull request closed without merging, or ran out of time.
    #[error("{0}")]
    NotMerged(String),
}

impl gitops::cli::Failure for PromoteError {
    fn hint(&self) -> Option<String> {
        match self {
            PromoteError::Conflict(_) => Some(
                "fetch the GitOps repository, check what changed, and promote again".to_owned(),
            ),
            PromoteError::Git(GitError::Rejected { .. }) => Some(
                "the remote refused the change (a hook or branch protection); nothing was pushed"
                    .to_owned(),
            ),
            _ => None,
        }
    }
    fn is_broken_pipe(&self) -> bool {
        matches!(self, PromoteError::Input(e) if e.is_broken_pipe())
    }
}
