//! `git promote rollback`: reverts the last promotion of an app in an environment — the app's
//! manifests and templates go back to what they were before the last commit that changed them
//! (or to what they were at `--to REV`) — as a revert commit, by pull request unless `--direct`.

use std::io::Write;

use gitops::git::{Depth, ObjectId};
use gitops::Outcome;

use crate::error::PromoteError;
use crate::message::{self, Provenance};
use crate::promote::{self, Landed, Mode, Prepared};
use crate::target::Target;
use crate::{LandingArgs, RepoArgs};

/// How far back to look for the last promotion.
const MAX_HISTORY: usize = 10_000;

/// Runs a rollback.
pub fn run(
    repo: &RepoArgs,
    env_name: &str,
    to: Option<&str>,
    landing: &LandingArgs,
    story: promote::Story,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, PromoteError> {
    let app = repo
        .app
        .as_deref()
        .ok_or_else(|| PromoteError::Usage("--app NAME is required".to_owned()))?;
    let mut target = Target::open(repo, Depth::Full)?;
    let config = target.config.clone();
    let env = config.environment(env_name)?;
    config.check_app(app)?;
    let branch = target.branch_of(env);
    let manifests_path = env.manifests_path(app);
    let templates_path = env.templates_path(app);
    let tip = target.tip(&branch)?.ok_or_else(|| {
        PromoteError::Usage(format!(
            "{branch} does not exist on the remote: nothing to roll back"
        ))
    })?;
    let tip_tree = target.tree_of(Some(tip))?;
    if target.subtree(tip_tree, &manifests_path)?.is_none() && to.is_none() {
        return Err(PromoteError::Usage(format!(
            "unknown app {app:?} in {env_name}: nothing at {manifests_path} on {branch}"
        )));
    }

    // The state to restore, and the commit being reverted.
    let (restore_tree, reverted, subject) = match to {
        Some(rev) => {
            // `HEAD` is the environment branch's tip: a scratch clone has no HEAD of its own.
            let rev = match rev.strip_prefix("HEAD") {
                Some(rest) => format!("{tip}{rest}"),
                None => rev.to_owned(),
            };
            let commit = target.ws.resolve(&rev).map_err(|_| {
                PromoteError::Usage(format!(
                    "--to {}: no such commit in the history of {branch}",
                    to.unwrap_or_default()
                ))
            })?;
            (
                target.tree_of(Some(commit))?,
                commit,
                format!(
                    "Roll back {app} in {env_name} to {}",
                    commit.to_hex_with_len(12)
                ),
            )
        }
        None => {
            let last = last_change(&target, tip, &manifests_path)?.ok_or_else(|| {
                PromoteError::Usage(format!(
                    "no earlier state of {manifests_path} on {branch} to roll back to"
                ))
            })?;
            let parent = last.parents.first().copied();
            let title = last.message.lines().next().unwrap_or_default().to_owned();
            (
                target.tree_of(parent)?,
                last.id,
                format!("Revert \"{title}\""),
            )
        }
    };
    let restore = [
        (
            manifests_path.clone(),
            target.subtree(restore_tree, &manifests_path)?,
        ),
        (
            templates_path.clone(),
            target.subtree(restore_tree, &templates_path)?,
        ),
    ];
    let restored: Option<Provenance> = match restore[0].1 {
        Some(dir) => target.provenance(dir, &manifests_path)?,
        None => None,
    };

    let mode = if landing.direct {
        Mode::Direct
    } else {
        Mode::PullRequest
    };
    let provider = match mode {
        Mode::PullRequest => promote::connect(repo, &target, landing, landing.auto_merge)?,
        Mode::Direct => None,
    };
    let prepare = |t: &Target, base_tree: ObjectId| -> Result<Option<Prepared>, PromoteError> {
        let mut same = true;
        for (path, want) in &restore {
            if t.subtree(base_tree, path)? != *want {
                same = false;
            }
        }
        if same {
            return Ok(None);
        }
        let (old, new) = (
            match t.subtree(base_tree, &manifests_path)? {
                Some(d) => t.ws.files(d)?,
                None => Default::default(),
            },
            match restore[0].1 {
                Some(d) => t.ws.files(d)?,
                None => Default::default(),
            },
        );
        let (created, changed, deleted) = message::compare(&old, &new);
        let change = message::Change {
            created,
            changed,
            deleted,
            templates: false,
            images: Vec::new(),
        };
        let mut body = format!(
            "This reverts commit {reverted}.\n\n{}.\n",
            capitalise(&change.counts())
        );
        if let Some(p) = &restored {
            if let Some(c) = &p.source_commit {
                body.push_str(&format!(
                    "\nRestores source commit {c} ({}).\n",
                    p.stream_digest
                ));
            }
        }
        let mut msg = format!("{subject}\n\n{body}\nPromote-Environment: {env_name}\nPromote-App: {app}\nRollback-Of: {reverted}\n");
        if let Some(p) = &restored {
            if let Some(c) = &p.source_commit {
                msg.push_str(&format!("Source-Commit: {c}\n"));
            }
            msg.push_str(&format!("Stream-Digest: {}\n", p.stream_digest));
        }
        Ok(Some(Prepared {
            edits: restore.to_vec(),
            message: msg,
            title: subject.clone(),
            body,
            summary: change.counts(),
            details: message::details(&change),
        }))
    };
    let promo_branch = format!("rollback/{env_name}/{app}-{}", reverted.to_hex_with_len(12));
    gitops::git::check_branch_name(&branch).map_err(PromoteError::Usage)?;
    let landed = promote::land(
        &mut target,
        &branch,
        &promo_branch,
        mode,
        provider.as_deref(),
        landing.auto_merge,
        repo.retries,
        &prepare,
    )?;
    let who = format!("{env_name}/{app}");
    if landed == Landed::UpToDate {
        writeln!(out, "{who}: already at that state").map_err(gitops::Error::Output)?;
        return Ok(Outcome::Ok);
    }
    promote::report(out, err, &who, "", &landed, story)?;
    if let (Landed::PullRequest { pr, .. }, Some(p)) = (&landed, provider.as_deref()) {
        if landing.wait {
            promote::wait(p, pr, landing)?;
        }
    }
    Ok(Outcome::Ok)
}

/// The newest first-parent commit that changed `path`.
fn last_change(
    target: &Target,
    tip: ObjectId,
    path: &str,
) -> Result<Option<gitops::git::CommitInfo>, PromoteError> {
    let log = target.ws.first_parent_log(tip, MAX_HISTORY)?;
    for info in log {
        let here = target.subtree(target.tree_of(Some(info.id))?, path)?;
        let before = match info.parents.first() {
            Some(p) => target.subtree(target.tree_of(Some(*p))?, path)?,
            None => None,
        };
        if here != before {
            // A revert of a revert is fine; a commit with no parent cannot be reverted.
            if info.parents.is_empty() {
                return Ok(None);
            }
            return Ok(Some(info));
        }
    }
    Ok(None)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
