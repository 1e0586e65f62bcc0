//! Everything that can go wrong in a promotion, each printed as one line (exit code 2, or 130
//! when a git process was interrupted). Messages never contain tokens: every secret is
//! registered with the scrubber the entry point passes each line through, provider errors are
//! scrubbed before they get here, and Git URLs are shown without credentials.

use gitops::git::GitError;

/// A failed promotion, status or rollback.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// Flags that do not fit together, an unknown environment or app.
    #[error("{0}")]
    Usage(String),
    /// `.gitops/promote.yaml` is wrong.
    #[error("{0}")]
    Config(String),
    /// The manifests (or templates, or a settings file) could not be read or parsed.
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
    fn exit_code(&self) -> u8 {
        match self {
            PromoteError::Git(e) => e.exit_code(),
            _ => gitops::exit::ERROR,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            PromoteError::Conflict(_) => Some(
                "fetch the GitOps repository, check what changed, and promote again".to_owned(),
            ),
            PromoteError::Git(GitError::Rejected { .. }) => Some(
                "the remote refused the change (a hook or branch protection); nothing was pushed"
                    .to_owned(),
            ),
            PromoteError::Git(GitError::Setup(m)) if m.contains("has no remote") => {
                Some("name the remote to push to with --remote NAME (see git remote -v)".to_owned())
            }
            _ => None,
        }
    }
    fn is_broken_pipe(&self) -> bool {
        matches!(self, PromoteError::Input(e) if e.is_broken_pipe())
    }
}
