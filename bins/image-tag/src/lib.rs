//! `image-tag`: the image side of a GitOps pipeline. It computes tags from Git, checks whether a
//! tag exists, pins `repo:tag` references in manifests to digests (with a lock file), picks the
//! newest tag by a Flux ImagePolicy rule, updates references in source files in place, and
//! retags, copies and mirrors images between registries keeping their digests.
//!
//! Each subcommand lives in a module named for its job; everything that talks to a registry or a
//! Git repository lives in the shared crate (`gitops::registry`, `gitops::git`).

pub mod compute;
pub mod copy;
pub mod latest;
pub mod lock;
pub mod pin;
pub mod reference;
pub mod semver_range;
pub mod set;

use std::io::Write;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use gitops::cli::{Failure, Verbosity};
use gitops::git::GitError;
use gitops::registry::{self, AuthSources, Options, Registry, RegistryError};
use gitops::Outcome;

/// Container image tags from Git, digests, tag policies and registry copies.
#[derive(Debug, Parser)]
#[command(name = "image-tag", version, about, max_term_width = 100)]
pub struct Args {
    #[command(flatten)]
    pub verbosity: Verbosity,
    /// Registry host (`host` or `host:port`) to reach over plain HTTP; loopback registries
    /// always may. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST", global = true)]
    pub insecure_registry: Vec<String>,
    #[command(subcommand)]
    pub command: Sub,
}

impl gitops::cli::Command for Args {
    fn verbosity(&self) -> &Verbosity {
        &self.verbosity
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Print the image tags for the current commit: the exact vX.Y.Z tag on it (if any),
    /// `<branch>-<sha7>-<committer unix time>` and `sha-<sha7>`.
    Compute(compute::Args),
    /// Exit 0 when REF exists in its registry, 1 when it does not (2 on any error).
    Exists {
        /// Image reference, `registry/repo:tag` or `registry/repo@sha256:…`.
        reference: String,
    },
    /// Rewrite every image reference in a manifest stream to `repo:tag@sha256:…`.
    Pin(pin::Args),
    /// Print the newest tag of REPO by a Flux ImagePolicy rule.
    Latest(latest::Args),
    /// Update image references in source files in place, keeping comments and formatting.
    Set(set::Args),
    /// Give an image a new tag in its repository (manifest only; the digest is unchanged).
    Retag {
        /// The image, `registry/repo:tag` or `registry/repo@sha256:…`.
        reference: String,
        /// The new tag.
        tag: String,
    },
    /// Copy an image to another repository or registry, keeping its digest.
    Copy(copy::CopyArgs),
    /// Copy many images into one registry prefix and print the `OLD=NEW` map.
    Mirror(copy::MirrorArgs),
}

/// Everything `image-tag` can fail with; all exit 2.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(transparent)]
    Shared(#[from] gitops::Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    History(#[from] GitError),
    /// A registry failure with the place in the input that asked for it.
    #[error("{place}: {source}")]
    Located {
        place: String,
        source: RegistryError,
    },
    /// A message that already names what it is about.
    #[error("{0}")]
    Message(String),
}

impl Failure for ToolError {
    fn hint(&self) -> Option<String> {
        // Registry failures get advice; the message itself never carries a credential.
        let registry_error = match self {
            ToolError::Registry(e) | ToolError::Located { source: e, .. } => Some(e),
            _ => None,
        };
        match (self, registry_error) {
            (_, Some(RegistryError::Unauthorized { registry, .. })) => Some(format!(
                "check the credentials for {registry} in $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json"
            )),
            (_, Some(RegistryError::Unreachable { registry, reason })) if reason.contains("certificate") || reason.contains("tls") || reason.contains("TLS") => Some(format!(
                "if {registry} speaks plain HTTP, pass --insecure-registry {registry}"
            )),
            (ToolError::Shared(e), _) => Failure::hint(e),
            _ => None,
        }
    }
    fn is_broken_pipe(&self) -> bool {
        matches!(self, ToolError::Shared(e) if e.is_broken_pipe())
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = ToolError> = std::result::Result<T, E>;

/// Runs one invocation.
pub fn run(args: Args, io: &mut gitops::cli::Io<'_>) -> Result<Outcome> {
    let mut out = &mut *io.stdout;
    let outcome = match &args.command {
        Sub::Compute(a) => compute::run(a, &mut out)?,
        Sub::Set(a) => set::run(a, &mut out)?,
        // --locked never contacts a registry, so it needs no client or runtime.
        Sub::Pin(a) if a.locked => pin::run(a, None, &mut *io.stdin, &mut out)?,
        command => {
            let registry = Arc::new(open_registry(&args.insecure_registry)?);
            let rt = runtime()?;
            match command {
                Sub::Exists { reference } => rt.block_on(exists(&registry, reference))?,
                Sub::Pin(a) => pin::run(a, Some((&rt, registry)), &mut *io.stdin, &mut out)?,
                Sub::Latest(a) => rt.block_on(latest::run(a, &registry, &mut out))?,
                Sub::Retag { reference, tag } => {
                    rt.block_on(copy::retag(&registry, reference, tag, &mut out))?
                }
                Sub::Copy(a) => rt.block_on(copy::run_copy(a, registry, &mut out))?,
                Sub::Mirror(a) => rt.block_on(copy::run_mirror(a, registry, &mut out))?,
                Sub::Compute(a) => compute::run(a, &mut out)?,
                Sub::Set(a) => set::run(a, &mut out)?,
            }
        }
    };
    out.flush()
        .map_err(|e| ToolError::Shared(gitops::Error::Output(e)))?;
    Ok(outcome)
}

/// The registry client with credentials from the environment, as skopeo and crane find them.
pub fn open_registry(insecure: &[String]) -> Result<Registry> {
    let credentials = AuthSources::from_env().load().map_err(ToolError::Message)?;
    Ok(Registry::new(Options {
        insecure: insecure.to_vec(),
        credentials,
    }))
}

/// The async runtime for registry work (network-bound; a few threads are plenty).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| ToolError::Message(format!("cannot start the async runtime: {e}")))
}

/// Writes a line of output, mapping failures to the output error (broken pipe = quiet).
pub fn emit(out: &mut impl Write, line: &str) -> Result<()> {
    writeln!(out, "{line}").map_err(|e| ToolError::Shared(gitops::Error::Output(e)))
}

async fn exists(registry: &Registry, reference: &str) -> Result<Outcome> {
    let parsed = registry::parse_reference(reference)?;
    if registry.exists(&parsed).await? {
        Ok(Outcome::Ok)
    } else {
        tracing::info!("{reference}: not found");
        Ok(Outcome::Difference)
    }
}
