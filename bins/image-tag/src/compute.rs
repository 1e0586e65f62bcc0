//! `image-tag compute`: the tags a CI build of the current commit should push. The exact
//! `vX.Y.Z` tag on the commit when there is one, `<branch>-<sha7>-<committer unix time>` (sortable
//! by Flux's numerical/alphabetical policies after `--extract`), and `sha-<sha7>`. With `--path`,
//! "the commit" is the last one that touched that directory, so an unchanged service of a
//! monorepo gets the same tags as before and CI can skip rebuilding it (`image-tag exists`).

use std::io::Write;
use std::path::PathBuf;

use gitops::git::Repository;
use gitops::Outcome;
use serde::Serialize;

use crate::reference::{sanitize_tag_component, valid_tag};
use crate::{emit, Result, ToolError};

/// `image-tag compute` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository (any directory inside it).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Use the last commit that touched this directory or file (relative to the repository
    /// root) instead of HEAD; dirty files are also only looked for there.
    #[arg(long, value_name = "SUBDIR")]
    pub path: Option<PathBuf>,
    /// The branch name to use when HEAD is detached (CI checkouts); overrides the checked-out
    /// branch when given.
    #[arg(long, env = "IMAGE_TAG_BRANCH", value_name = "NAME")]
    pub branch: Option<String>,
    /// Fail when tracked files have uncommitted changes instead of adding `-dirty` to the tags.
    #[arg(long)]
    pub require_clean: bool,
    /// Output format: one tag per line, or a JSON object `{commit, branch, timestamp, tags}`.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// How `compute` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// What `compute` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Computed {
    pub commit: String,
    pub branch: Option<String>,
    pub timestamp: i64,
    pub dirty: bool,
    pub tags: Vec<String>,
}

/// A tag on the commit that is a release version: `v` + semver, and a valid registry tag.
fn release_version(tag: &str) -> Option<semver::Version> {
    let v = tag.strip_prefix('v')?;
    let parsed = semver::Version::parse(v).ok()?;
    valid_tag(tag).then_some(parsed)
}

/// Builds the tag list from the facts (pure, so it is unit-tested without a repository).
pub fn tags_for(
    commit: &str,
    branch: Option<&str>,
    timestamp: i64,
    git_tags: &[String],
    dirty: bool,
) -> Vec<String> {
    let sha7 = &commit[..commit.len().min(7)];
    let suffix = if dirty { "-dirty" } else { "" };
    let mut tags = Vec::new();
    if let Some((tag, _)) = git_tags
        .iter()
        .filter_map(|t| release_version(t).map(|v| (t, v)))
        .max_by(|a, b| a.1.cmp(&b.1))
    {
        tags.push(format!("{tag}{suffix}"));
    }
    if let Some(branch) = branch {
        let tail = format!("-{sha7}-{timestamp}{suffix}");
        let budget = 128usize.saturating_sub(tail.len());
        let name = sanitize_tag_component(branch, budget);
        if !name.is_empty() {
            tags.push(format!("{name}{tail}"));
        }
    }
    tags.push(format!("sha-{sha7}{suffix}"));
    tags
}

/// Reads the repository and computes the tags.
pub fn compute(args: &Args) -> Result<Computed> {
    let history = Repository::open(&args.repo)?;
    let commit = match &args.path {
        None => history.head()?,
        Some(path) => {
            let rel = relative_to_root(&history, &args.repo, path)?;
            history.last_change(&rel)?.ok_or_else(|| {
                ToolError::Message(format!(
                    "{}: no commit reachable from HEAD touches {}",
                    args.repo.display(),
                    path.display()
                ))
            })?
        }
    };
    let branch = match &args.branch {
        Some(b) if !b.is_empty() => Some(b.strip_prefix("refs/heads/").unwrap_or(b).to_owned()),
        _ => history.branch()?,
    };
    if branch.is_none() {
        tracing::warn!("HEAD is detached and no --branch was given: no <branch>-<sha>-<time> tag");
    }
    let dirty_scope = match &args.path {
        Some(path) => Some(relative_to_root(&history, &args.repo, path)?),
        None => None,
    };
    let dirty = history.is_dirty(dirty_scope.as_deref())?;
    if dirty && args.require_clean {
        return Err(ToolError::Message(format!(
            "{}: the work tree has uncommitted changes{} (--require-clean)",
            args.repo.display(),
            args.path
                .as_ref()
                .map(|p| format!(" under {}", p.display()))
                .unwrap_or_default()
        )));
    }
    let git_tags = history.tags_at(commit.id)?;
    let id = commit.id.to_string();
    let tags = tags_for(&id, branch.as_deref(), commit.time, &git_tags, dirty);
    Ok(Computed {
        commit: id,
        branch,
        timestamp: commit.time,
        dirty,
        tags,
    })
}

/// `--path` is relative to the repository root (as in `git log -- path` run from the root);
/// an absolute path inside the work tree is accepted too.
fn relative_to_root(
    history: &Repository,
    repo_arg: &std::path::Path,
    path: &std::path::Path,
) -> Result<PathBuf> {
    if path.is_relative() {
        return Ok(path
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect());
    }
    let root = history.workdir().ok_or_else(|| {
        ToolError::Message(format!(
            "{}: a bare repository has no work tree paths",
            repo_arg.display()
        ))
    })?;
    let root = root.canonicalize().unwrap_or(root);
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    abs.strip_prefix(&root).map(PathBuf::from).map_err(|_| {
        ToolError::Message(format!(
            "{}: is outside the repository {}",
            path.display(),
            root.display()
        ))
    })
}

/// Runs `compute` and prints.
pub fn run(args: &Args, out: &mut impl Write) -> Result<Outcome> {
    let computed = compute(args)?;
    match args.output {
        OutputFormat::Text => {
            for tag in &computed.tags {
                emit(out, tag)?;
            }
        }
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&computed)
                .map_err(|e| ToolError::Message(format!("cannot encode JSON: {e}")))?;
            emit(out, &text)?;
        }
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "3f9c2ab0123456789abcdef0123456789abcdef0";

    #[test]
    fn tags_in_order() {
        let tags = tags_for(
            SHA,
            Some("main"),
            1732631000,
            &["v1.4.2".into(), "other".into()],
            false,
        );
        assert_eq!(tags, ["v1.4.2", "main-3f9c2ab-1732631000", "sha-3f9c2ab"]);
    }

    #[test]
    fn highest_release_tag_wins_and_non_versions_are_ignored() {
        let git_tags = [
            "v1.2.0".to_owned(),
            "v1.10.0".into(),
            "1.11.0".into(),
            "v2".into(),
            "v1.9.0-rc.1".into(),
        ];
        let tags = tags_for(SHA, None, 1, &git_tags, false);
        assert_eq!(tags, ["v1.10.0", "sha-3f9c2ab"]);
    }

    #[test]
    fn branches_are_sanitised_and_dirty_is_marked() {
        let tags = tags_for(SHA, Some("feature/Ünïcode fix"), 7, &[], true);
        assert_eq!(
            tags,
            ["feature-n-code-fix-3f9c2ab-7-dirty", "sha-3f9c2ab-dirty"]
        );
        let long = "x".repeat(300);
        let tags = tags_for(SHA, Some(&long), 1732631000, &[], false);
        assert_eq!(tags[0].len(), 128);
        assert!(valid_tag(&tags[0]));
        assert!(tags[0].ends_with("-3f9c2ab-1732631000"));
    }
}
