//! Everything sync-once reports as a failure, each printed once as `sync-once: error: …` (with a
//! `hint:` line where the fix is a flag of ours) and exit code 2.

use gitops::cli::Failure;
use gitops::cluster::ClusterError;
use gitops::git::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or argument that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// Rendering the source failed (nothing was applied).
    #[error(transparent)]
    Render(#[from] gitops_render::Error),
    /// Fetching or exporting the Git source failed (nothing was applied).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The cluster layer failed: connection, discovery, a rejected object, the inventory.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// An object is not acceptable before anything is applied (unknown kind, no name).
    #[error("{0}")]
    Input(String),
    /// An immutable field changed and recreating was not allowed.
    #[error("{object}: {message}")]
    Immutable { object: String, message: String },
    /// Another run wrote the inventory since we read it.
    #[error("ApplySet parent {parent} was changed by someone else during this run ({message})")]
    Raced { parent: String, message: String },
    /// The inventory's namespace does not exist, so the parent cannot be written (it is written
    /// before the objects it lists, so a Namespace in the source cannot come first).
    #[error("ApplySet parent {parent} cannot be created: namespace {namespace:?} does not exist; nothing was applied")]
    InventoryNamespace { parent: String, namespace: String },
    /// Objects did not become healthy.
    #[error("{0}")]
    Unhealthy(String),
    /// Writing the report failed.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}

impl Failure for Error {
    fn hint(&self) -> Option<String> {
        use gitops_render::Error as R;
        match self {
            Error::Render(R::Undefined(_)) => Some(
                "pass them with --var NAME=VALUE or --vars-file, or give defaults with ${NAME:=default}"
                    .into(),
            ),
            Error::Render(R::HelmNotFound { .. }) => Some("install helm on PATH".into()),
            Error::Immutable { .. } => Some(
                "pass --force, or annotate the object with kustomize.toolkit.fluxcd.io/force: enabled, to delete and recreate it"
                    .into(),
            ),
            Error::InventoryNamespace { .. } => Some(
                "create the namespace first, or pass --inventory NAMESPACE/NAME with an existing namespace"
                    .into(),
            ),
            Error::Raced { .. } => Some("another sync of the same inventory ran at the same time; run again".into()),
            Error::Cluster(ClusterError::PruneRefused { message }) if message.contains("empty source") => {
                Some("pass --allow-empty if the source really is meant to be empty".into())
            }
            Error::Cluster(ClusterError::PruneRefused { .. }) => {
                Some("pass --force-prune to go ahead, or raise --max-prune".into())
            }
            Error::Cluster(ClusterError::Conflict { message, .. }) if message.contains("conflict with") => {
                Some("another field manager owns these fields; drop --no-force-conflicts to take them over".into())
            }
            Error::Cluster(ClusterError::Forbidden { .. }) => Some(
                "the credentials lack RBAC permission for this; see deploy/sync-once for the rules sync-once needs"
                    .into(),
            ),
            Error::Cluster(ClusterError::Unreachable { .. }) => {
                Some("check --kubeconfig / --context, or KUBECONFIG".into())
            }
            _ => None,
        }
    }

    fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
