//! The GitOps repository a command works on: a user's clone (objects are added, nothing else
//! changes) or a URL cloned into a temporary directory, its remote's branches, and the settings
//! read from `.gitops/promote.yaml` on the default branch.

use std::collections::BTreeMap;
use std::path::Path;

use gitops::git::{Depth, ObjectId, RemoteRefs, Repository};

use crate::config::{Config, Environment, CONFIG_PATH};
use crate::error::PromoteError;
use crate::message::{Provenance, PROVENANCE_FILE};
use crate::RepoArgs;

/// An opened GitOps repository with its remote's state.
pub struct Target {
    pub ws: Repository,
    pub refs: RemoteRefs,
    pub default_branch: String,
    pub config: Config,
    /// Tips fetched so far, by branch.
    pub tips: BTreeMap<String, ObjectId>,
    history: Depth,
}

/// True for what git treats as a URL rather than a path.
fn is_url(s: &str) -> bool {
    s.contains("://") || (s.contains('@') && s.contains(':') && !Path::new(s).exists())
}

impl Target {
    /// Opens `--repo`, lists the remote's branches, fetches the default branch and reads the
    /// settings. `history` says how deep later fetches go.
    ///
    /// A local clone must have the remote (`--remote`, default `origin`); only a bare
    /// repository without `origin` is used as the remote itself. Nothing of a clone but its
    /// object database and remote-tracking refs is ever changed.
    pub fn open(args: &RepoArgs, history: Depth) -> Result<Self, PromoteError> {
        let mut ws = if is_url(&args.repo) {
            if let Some(remote) = &args.remote {
                return Err(PromoteError::Usage(format!(
                    "--remote {remote} names a remote of a local clone, but --repo is a URL"
                )));
            }
            Repository::scratch(&args.repo, crate::TOOL)?
        } else {
            let path = Path::new(&args.repo);
            if !path.exists() {
                return Err(PromoteError::Usage(format!(
                    "--repo {}: no such directory",
                    args.repo
                )));
            }
            Repository::open_target(path, args.remote.as_deref(), crate::TOOL)?
        };
        ws.register_credentials();
        let refs = ws.remote_refs()?;
        let default_branch = refs
            .default_branch
            .clone()
            .unwrap_or_else(|| "main".to_owned());
        let tips = ws.fetch_existing(&refs, &[default_branch.as_str()], history)?;
        let mut target = Target {
            ws,
            refs,
            default_branch,
            config: Config::default_layout(),
            tips,
            history,
        };
        target.config = match &args.config {
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| gitops::Error::io(file, e))?;
                Config::parse(&text, &file.display().to_string())?
            }
            None => match target.file_at(&target.default_branch.clone(), CONFIG_PATH)? {
                Some(bytes) => {
                    let text = String::from_utf8(bytes)
                        .map_err(|_| PromoteError::Config(format!("{CONFIG_PATH}: not UTF-8")))?;
                    Config::parse(&text, CONFIG_PATH)?
                }
                None => Config::default_layout(),
            },
        };
        Ok(target)
    }

    /// The branch an environment lives on.
    pub fn branch_of(&self, env: &Environment) -> String {
        env.branch
            .clone()
            .unwrap_or_else(|| self.default_branch.clone())
    }

    /// Makes sure `branch` has been fetched (if it exists on the remote) and returns its tip.
    pub fn tip(&mut self, branch: &str) -> Result<Option<ObjectId>, PromoteError> {
        if let Some(tip) = self.tips.get(branch) {
            return Ok(Some(*tip));
        }
        let fetched = self
            .ws
            .fetch_existing(&self.refs, &[branch], self.history)?;
        self.tips.extend(fetched);
        Ok(self.tips.get(branch).copied())
    }

    /// Fetches `branch` again (after a rejected push) and returns its new tip.
    pub fn refetch(&mut self, branch: &str) -> Result<Option<ObjectId>, PromoteError> {
        self.refs = self.ws.remote_refs()?;
        self.tips.remove(branch);
        self.tip(branch)
    }

    /// The tree of a branch's tip (the empty tree for a branch that does not exist yet).
    pub fn tree_of(&self, commit: Option<ObjectId>) -> Result<ObjectId, PromoteError> {
        Ok(match commit {
            Some(c) => self.ws.commit_tree(c)?,
            None => self.ws.empty_tree(),
        })
    }

    /// A file's content on a branch, if both exist.
    pub fn file_at(&mut self, branch: &str, path: &str) -> Result<Option<Vec<u8>>, PromoteError> {
        let Some(tip) = self.tip(branch)? else {
            return Ok(None);
        };
        let tree = self.ws.commit_tree(tip)?;
        match self.ws.entry_at(tree, path)? {
            Some((id, false)) => Ok(Some(self.ws.read_blob(id)?)),
            _ => Ok(None),
        }
    }

    /// The subtree at `path` in `tree`, if there is a directory there.
    pub fn subtree(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, PromoteError> {
        Ok(match self.ws.entry_at(tree, path)? {
            Some((id, true)) => Some(id),
            _ => None,
        })
    }

    /// The provenance record in an app's manifests directory (a tree), if it has one.
    pub fn provenance(
        &self,
        dir: ObjectId,
        what: &str,
    ) -> Result<Option<Provenance>, PromoteError> {
        match self.ws.entry_at(dir, PROVENANCE_FILE)? {
            Some((id, false)) => Ok(Some(Provenance::parse(&self.ws.read_blob(id)?, what)?)),
            _ => Ok(None),
        }
    }
}
