//! The flags that decide whether kustomizations may fetch remote entries (Git repositories as
//! bases and components, HTTP(S) URLs of files), kustomize's default being yes, and where the
//! fetched repositories are cached. `--no-remote` is Flux's `--no-remote-bases` for a build
//! that must stay inside the repository (CI of untrusted changes, air-gapped runs).

use std::path::{Path, PathBuf};

use gitops_render::RemoteOptions;

/// Remote kustomization entries.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// Which remote kustomization entries may be fetched: `all` (kustomize's default), `git`
    /// (repositories such as `https://host/org/repo//dir?ref=v1`, `git@host:org/repo`,
    /// `file:///path/repo.git`), `http` (HTTP(S) URLs of manifest files) or `none`.
    #[arg(long, value_enum, value_name = "KINDS", default_value_t = RemoteArg::All)]
    pub remote: RemoteArg,

    /// Fetch no remote kustomization entries (the same as --remote none): a Git repository or
    /// URL in `resources:` or `components:` is an error.
    #[arg(long, conflicts_with = "remote")]
    pub no_remote: bool,

    /// The cache of Git repositories fetched for remote bases, reused by later renders
    /// (default: $XDG_CACHE_HOME/gitops-toolkit/remote, else ~/.cache/gitops-toolkit/remote).
    #[arg(long, value_name = "DIR", env = "MANIFEST_RENDER_REMOTE_CACHE")]
    pub remote_cache: Option<PathBuf>,
}

/// `--remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RemoteArg {
    All,
    Git,
    Http,
    None,
}

impl RemoteArgs {
    /// The render engine's settings; the default cache comes from `XDG_CACHE_HOME` / `HOME`.
    pub fn options(self, xdg_cache_home: Option<&Path>, home: Option<&Path>) -> RemoteOptions {
        let kinds = if self.no_remote {
            RemoteArg::None
        } else {
            self.remote
        };
        RemoteOptions {
            git: matches!(kinds, RemoteArg::All | RemoteArg::Git),
            http: matches!(kinds, RemoteArg::All | RemoteArg::Http),
            cache_dir: self
                .remote_cache
                .or_else(|| gitops::git::remote::default_cache_dir(xdg_cache_home, home)),
            ..RemoteOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(remote: RemoteArg, no_remote: bool) -> RemoteArgs {
        RemoteArgs {
            remote,
            no_remote,
            remote_cache: None,
        }
    }

    #[test]
    fn kinds_and_cache() {
        let o = args(RemoteArg::All, false).options(None, Some(Path::new("/h")));
        assert!(o.git && o.http);
        assert_eq!(
            o.cache_dir,
            Some(PathBuf::from("/h/.cache/gitops-toolkit/remote"))
        );
        let o = args(RemoteArg::All, true).options(None, None);
        assert!(!o.git && !o.http);
        assert_eq!(o.cache_dir, None);
        let o = args(RemoteArg::Git, false).options(None, None);
        assert!(o.git && !o.http);
        let o = args(RemoteArg::Http, false).options(Some(Path::new("/x")), None);
        assert!(!o.git && o.http);
        assert_eq!(o.cache_dir, Some(PathBuf::from("/x/gitops-toolkit/remote")));
    }
}
