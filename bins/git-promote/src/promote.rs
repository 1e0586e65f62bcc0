//! Promoting: turning the manifests (or another environment's state) into a tree edit of the
//! GitOps repository, and landing that edit — straight on the environment's branch, or on a
//! promotion branch with a pull request — with rebase-and-retry when the remote moved.
//!
//! Order matters for "nothing left behind": all input is read and checked, the host and token
//! are resolved, and only then is anything pushed. A promotion branch this run created is
//! deleted again if the pull request cannot be opened. With no host API (`--provider none`) the
//! promotion branch is pushed and the server's hint for opening the pull request is shown.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use gitops::git::{Depth, FileEntry, ObjectId, Push};
use gitops::manifest::Object;
use gitops::Outcome;

use crate::config::Environment;
use crate::error::PromoteError;
use crate::message::{self, Change, Provenance, PROVENANCE_FILE};
use crate::provider::{self, Provider, PullRequest, State};
use crate::target::Target;
use crate::templates::TemplateFile;
use crate::{Args, LandingArgs, RepoArgs};

/// How a change lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Direct,
    PullRequest,
}

/// Direct or pull request: flags first, then the environment's setting.
pub fn mode(landing: &LandingArgs, env: &Environment) -> Mode {
    if landing.direct {
        Mode::Direct
    } else if landing.open_pr || landing.auto_merge || landing.wait || env.pull_request {
        Mode::PullRequest
    } else {
        Mode::Direct
    }
}

/// A change ready to be committed on top of some base.
pub struct Prepared {
    /// Path → new subtree (`None` removes the path).
    pub edits: Vec<(String, Option<ObjectId>)>,
    pub message: String,
    pub title: String,
    pub body: String,
    /// `3 created, 1 changed, 0 deleted`.
    pub summary: String,
    /// One line per changed object and image (`+ v1.Service.shop.web`), for `-v`.
    pub details: Vec<String>,
}

/// What landing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landed {
    UpToDate,
    Pushed {
        commit: ObjectId,
        branch: String,
        summary: String,
        details: Vec<String>,
    },
    PullRequest {
        pr: PullRequest,
        created: bool,
        summary: String,
        details: Vec<String>,
    },
    /// No host API: the promotion branch holds the change; a human opens the pull request.
    Branch {
        commit: ObjectId,
        branch: String,
        base: String,
        /// False when the branch already held exactly this change (nothing was pushed).
        pushed: bool,
        /// The server's `remote:` lines from the push (its link for opening the pull request).
        messages: Vec<String>,
        summary: String,
        details: Vec<String>,
    },
}

/// Builds the change for a base tree; `None` when the base already has it.
pub type Prepare<'a> = dyn Fn(&Target, ObjectId) -> Result<Option<Prepared>, PromoteError> + 'a;

/// Commits `prepare`'s change on the tip of `branch` and pushes it (directly, or to
/// `promo_branch` with a pull request through `provider`, or — without a provider — to
/// `promo_branch` alone).
#[allow(clippy::too_many_arguments)]
pub fn land(
    target: &mut Target,
    branch: &str,
    promo_branch: &str,
    mode: Mode,
    provider: Option<&dyn Provider>,
    auto_merge: bool,
    retries: u32,
    prepare: &Prepare<'_>,
) -> Result<Landed, PromoteError> {
    let mut base = target.tip(branch)?;
    let mut original: Option<Vec<Option<ObjectId>>> = None;
    let mut last_summary = String::new();
    for attempt in 0..=retries {
        let base_tree = target.tree_of(base)?;
        let Some(change) = prepare(target, base_tree)? else {
            return Ok(Landed::UpToDate);
        };
        // What the paths we edit held on the base: if someone else changed them meanwhile,
        // replaying our edit would silently drop their change.
        let state = change
            .edits
            .iter()
            .map(|(p, _)| {
                target
                    .ws
                    .entry_at(base_tree, p)
                    .map(|e| e.map(|(id, _)| id))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match &original {
            None => original = Some(state),
            Some(before) if *before != state => {
                return Err(PromoteError::Conflict(format!(
                    "{} changed on the remote while promoting ({}): not overwriting it",
                    change.edits.first().map(|(p, _)| p.as_str()).unwrap_or(""),
                    branch
                )));
            }
            Some(_) => {}
        }
        let mut tree = base_tree;
        for (path, sub) in &change.edits {
            tree = target.ws.replace_path(tree, path, *sub)?;
        }
        let parents: Vec<ObjectId> = base.into_iter().collect();
        let commit = target.ws.commit(tree, &parents, &change.message)?;
        last_summary.clone_from(&change.summary);
        match mode {
            Mode::Direct => match target.ws.push(commit, branch, None)? {
                Push::Done(_) => {
                    return Ok(Landed::Pushed {
                        commit,
                        branch: branch.to_owned(),
                        summary: change.summary,
                        details: change.details,
                    })
                }
                Push::Stale => {
                    tracing::info!(
                        "{branch} moved on the remote; rebasing (attempt {})",
                        attempt + 1
                    );
                    base = target.refetch(branch)?;
                }
            },
            Mode::PullRequest => {
                let existing = target.refs.branches.get(promo_branch).copied();
                // The same change already waits on the promotion branch: do not push again.
                let same = existing.is_some_and(|e| {
                    target
                        .ws
                        .commit_info(e)
                        .is_ok_and(|info| info.parents == parents)
                        && target.ws.commit_tree(e).is_ok_and(|t| t == tree)
                });
                let mut messages = Vec::new();
                if !same {
                    match target.ws.push(commit, promo_branch, Some(existing))? {
                        Push::Done(m) => messages = m,
                        Push::Stale => {
                            tracing::info!("{promo_branch} moved on the remote; trying again");
                            target.refs = target.ws.remote_refs()?;
                            base = target.refetch(branch)?;
                            continue;
                        }
                    }
                }
                let pushed = if same { None } else { Some(commit) };
                let Some(provider) = provider else {
                    return Ok(Landed::Branch {
                        commit: existing.filter(|_| same).unwrap_or(commit),
                        branch: promo_branch.to_owned(),
                        base: branch.to_owned(),
                        pushed: !same,
                        messages,
                        summary: change.summary,
                        details: change.details,
                    });
                };
                let result = open_pr(provider, promo_branch, branch, &change, auto_merge);
                return match result {
                    Ok((pr, created)) => Ok(Landed::PullRequest {
                        pr,
                        created,
                        summary: change.summary,
                        details: change.details,
                    }),
                    Err(err) => {
                        // Leave nothing behind: a branch we just created goes again.
                        if let (None, Some(commit)) = (existing, pushed) {
                            if let Err(e) = target.ws.delete_remote_branch(promo_branch, commit) {
                                tracing::warn!("could not delete {promo_branch} again: {e}");
                            }
                        }
                        Err(err)
                    }
                };
            }
        }
    }
    Err(PromoteError::Conflict(format!(
        "{branch} kept moving on the remote; gave up after {} attempts ({last_summary})",
        retries + 1
    )))
}

fn open_pr(
    provider: &dyn Provider,
    head: &str,
    base: &str,
    change: &Prepared,
    auto_merge: bool,
) -> Result<(PullRequest, bool), PromoteError> {
    let (pr, created) = match provider.find_open(head, base)? {
        Some(pr) => {
            provider.update(&pr, &change.title, &change.body)?;
            (pr, false)
        }
        None => (
            provider.create(head, base, &change.title, &change.body)?,
            true,
        ),
    };
    if auto_merge {
        provider.auto_merge(&pr)?;
    }
    Ok((pr, created))
}

/// Polls until the pull request is merged (Ok) or closed / out of time (error).
pub fn wait(
    provider: &dyn Provider,
    pr: &PullRequest,
    landing: &LandingArgs,
) -> Result<(), PromoteError> {
    let start = Instant::now();
    loop {
        match provider.state(pr)? {
            State::Merged => return Ok(()),
            State::Closed => {
                return Err(PromoteError::NotMerged(format!(
                    "pull request {} was closed without merging",
                    pr.url
                )))
            }
            State::Open => {}
        }
        if start.elapsed() >= landing.timeout {
            return Err(PromoteError::NotMerged(format!(
                "pull request {} is still open after {}s (--timeout)",
                pr.url,
                landing.timeout.as_secs()
            )));
        }
        std::thread::sleep(
            landing
                .poll_interval
                .min(landing.timeout.saturating_sub(start.elapsed()))
                .max(std::time::Duration::from_millis(10)),
        );
    }
}

/// Resolves and connects to the Git host (before anything is pushed); `None` when there is no
/// host API to use (`--provider none`). Asking for auto-merge where the host cannot do it, or
/// for waiting without a host, fails here too.
pub fn connect(
    repo: &RepoArgs,
    target: &Target,
    landing: &LandingArgs,
    auto_merge: bool,
) -> Result<Option<Box<dyn Provider>>, PromoteError> {
    let cfg = &target.config.provider;
    let remote_url = target.ws.remote_url();
    let settings = provider::resolve(
        repo.provider.as_deref().or(cfg.kind.as_deref()),
        repo.api_url.as_deref().or(cfg.url.as_deref()),
        repo.project.as_deref().or(cfg.repository.as_deref()),
        remote_url.as_deref(),
        &|k| std::env::var(k).ok(),
    )?;
    let Some(settings) = settings else {
        for (asked, flag) in [(auto_merge, "--auto-merge"), (landing.wait, "--wait")] {
            if asked {
                return Err(PromoteError::Usage(format!(
                    "{flag} needs a Git host's API; with provider none the pull request is opened by hand"
                )));
            }
        }
        return Ok(None);
    };
    let provider = provider::connect(settings)?;
    if auto_merge {
        provider.check_auto_merge()?;
    }
    Ok(Some(provider))
}

/// The manifests as files: `group.version.Kind.namespace.name.yaml`, one object each (the
/// `manifest-render --out-dir` layout, named by the same function).
pub fn object_files(objects: &[Object]) -> Result<BTreeMap<String, Vec<u8>>, PromoteError> {
    let names = gitops::naming::file_names(objects, "yaml")?;
    Ok(names
        .into_iter()
        .zip(objects)
        .map(|(name, o)| (name, gitops::manifest::to_yaml(&o.value).into_bytes()))
        .collect())
}

/// Reads and checks the manifests (`-`: from `stdin`): they must parse, be complete objects,
/// be unique, and have file names.
pub fn read_manifests(path: &Path, stdin: &mut dyn Read) -> Result<Vec<Object>, PromoteError> {
    let objects = if path == Path::new("-") {
        let name: std::sync::Arc<str> = std::sync::Arc::from("<stdin>");
        let text = gitops::manifest::read_stream(stdin, &name)?;
        gitops::manifest::parse_stream(&text, &name)?
    } else {
        gitops::manifest::read_path(path)?
    };
    if objects.is_empty() {
        return Err(PromoteError::Usage(format!(
            "{}: no objects to promote (to remove an app, delete its directory in the GitOps repository)",
            if path == Path::new("-") { "<stdin>".to_owned() } else { path.display().to_string() }
        )));
    }
    for o in &objects {
        o.validate()?;
    }
    gitops::manifest::check_unique(&objects)?;
    // Refuses names that cannot be files (or collide in letter case) before anything else.
    gitops::naming::file_names(&objects, "yaml")?;
    Ok(objects)
}

/// Source repository and commit: flags, else the CI system's variables, else the current
/// directory's repository (when it is not the GitOps repository itself).
fn source(args: &Args) -> (Option<String>, Option<String>) {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let ci_repo = || {
        match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY")) {
            (Some(server), Some(repo)) => Some(format!("{server}/{repo}")),
            _ => None,
        }
        .or_else(|| var("CI_PROJECT_URL"))
        .or_else(|| var("BUILD_REPOSITORY_URI"))
    };
    let ci_commit = || {
        var("GITHUB_SHA")
            .or_else(|| var("CI_COMMIT_SHA"))
            .or_else(|| var("BUILD_SOURCEVERSION"))
    };
    let mut repo = args.input.source_repo.clone().or_else(ci_repo);
    let mut commit = args.input.source_commit.clone().or_else(ci_commit);
    if repo.is_none() || commit.is_none() {
        let git = |dir: &str, a: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(a)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        // The current directory is the application repository unless it is the GitOps one.
        let here = git(".", &["rev-parse", "--show-toplevel"]);
        let gitops = git(&args.repo.repo, &["rev-parse", "--show-toplevel"]);
        if here.is_some() && here != gitops {
            let head = git(".", &["rev-parse", "HEAD"]);
            // Only pair this repository's URL with a commit that is its HEAD.
            let same_commit = match (&commit, &head) {
                (Some(c), Some(h)) => h.starts_with(c.as_str()),
                (None, _) => true,
                _ => false,
            };
            if commit.is_none() {
                commit = head;
            }
            if repo.is_none() && same_commit && commit.is_some() {
                repo = git(".", &["config", "--get", "remote.origin.url"]);
            }
        }
    }
    (repo.map(|r| gitops::git::repo::redact_url(&r)), commit)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The content of an app's manifests directory in one environment.
struct Content {
    /// Object files (no provenance record).
    files: BTreeMap<String, FileEntry>,
    provenance: Provenance,
    /// `Some` replaces the templates directory; `None` leaves it as it is.
    templates: Option<Option<ObjectId>>,
}

/// Runs a promotion: `--manifests -` read from `stdin`, data on `out`, the story on `err`.
pub fn run(
    args: &Args,
    stdin: &mut dyn Read,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, PromoteError> {
    let env_name = args.env.as_deref().unwrap_or_default();
    let app = args
        .repo
        .app
        .as_deref()
        .ok_or_else(|| PromoteError::Usage("--app NAME is required".to_owned()))?;
    // All input is read and checked before the repository is even opened.
    let objects = args
        .input
        .manifests
        .as_deref()
        .map(|path| read_manifests(path, stdin))
        .transpose()?;
    let templates = args
        .input
        .templates
        .as_deref()
        .map(crate::templates::read)
        .transpose()?;
    if let Some(template) = &args.input.branch_template {
        check_branch_template(template)?;
    }

    let mut target = Target::open(&args.repo, Depth::Tip)?;
    let config = target.config.clone();
    let env = config.environment(env_name)?;
    config.check_app(app)?;
    let branch = target.branch_of(env);
    let mode = mode(&args.landing, env);
    let auto_merge = args.landing.auto_merge || env.auto_merge;
    let provider = if mode == Mode::PullRequest && !args.input.check {
        connect(&args.repo, &target, &args.landing, auto_merge)?
    } else {
        None
    };

    let content = match &args.input.from_env {
        Some(from) => from_env(
            &mut target,
            from,
            env,
            app,
            objects.as_deref(),
            templates.as_ref(),
        )?,
        None => {
            let objects =
                objects.ok_or_else(|| PromoteError::Usage("--manifests is required".to_owned()))?;
            let mut images = Vec::new();
            objects
                .iter()
                .for_each(|o| message::images(&o.value, &mut images));
            images.sort();
            images.dedup();
            let (source_repository, source_commit) = source(args);
            Content {
                files: write_files(&target, &object_files(&objects)?)?,
                provenance: Provenance {
                    environment: env.name.clone(),
                    app: app.to_owned(),
                    source_repository,
                    source_commit,
                    stream_digest: gitops::digest::stream_digest(&objects).to_string(),
                    images,
                    from_environment: None,
                    promoted_at: now(),
                },
                templates: templates
                    .as_ref()
                    .map(|t| write_templates(&target, t))
                    .transpose()?,
            }
        }
    };

    let manifests_path = env.manifests_path(app);
    let templates_path = env.templates_path(app);
    let mut all = content.files.clone();
    all.insert(
        PROVENANCE_FILE.to_owned(),
        FileEntry::regular(
            target
                .ws
                .write_blob(content.provenance.to_yaml()?.as_bytes())?,
        ),
    );
    let manifests_tree = target.ws.build_tree(&all)?;
    let digest_hex = content
        .provenance
        .stream_digest
        .trim_start_matches("sha256:");
    let template = args
        .input
        .branch_template
        .clone()
        .unwrap_or_else(|| config.branch_template.clone());
    let promo_branch =
        crate::config::expand_branch(&template, &env.name, app, &message::prefix(digest_hex, 12));
    // The names are checked before anything is committed or pushed.
    for name in [&branch, &promo_branch] {
        gitops::git::check_branch_name(name).map_err(PromoteError::Usage)?;
    }

    let prepare = |t: &Target, base_tree: ObjectId| -> Result<Option<Prepared>, PromoteError> {
        let change = diff(t, base_tree, &manifests_path, &templates_path, &content)?;
        if change.is_empty() {
            return Ok(None);
        }
        let d = message::describe(&content.provenance, &change);
        let mut edits = vec![(manifests_path.clone(), Some(manifests_tree))];
        if let Some(tpl) = content.templates {
            edits.push((templates_path.clone(), tpl));
        }
        Ok(Some(Prepared {
            edits,
            message: message::commit_message(&content.provenance, &d),
            title: d.title,
            body: d.markdown,
            summary: change.counts(),
            details: message::details(&change),
        }))
    };

    let who = format!("{}/{app}", env.name);
    if args.input.check {
        let base = target.tip(&branch)?;
        let base_tree = target.tree_of(base)?;
        let change = diff(
            &target,
            base_tree,
            &manifests_path,
            &templates_path,
            &content,
        )?;
        if change.is_empty() {
            writeln!(
                out,
                "{who}: up to date ({})",
                content.provenance.stream_digest
            )
            .map_err(gitops::Error::Output)?;
            return Ok(Outcome::Ok);
        }
        writeln!(out, "{who}: would change ({})", change.counts())
            .map_err(gitops::Error::Output)?;
        for (mark, list) in [
            ('+', &change.created),
            ('~', &change.changed),
            ('-', &change.deleted),
        ] {
            for item in list {
                writeln!(out, "{mark} {item}").map_err(gitops::Error::Output)?;
            }
        }
        return Ok(Outcome::Difference);
    }

    let landed = land(
        &mut target,
        &branch,
        &promo_branch,
        mode,
        provider.as_deref(),
        auto_merge,
        args.repo.retries,
        &prepare,
    )?;
    let story = Story::from(&args.verbosity);
    report(
        out,
        err,
        &who,
        &content.provenance.stream_digest,
        &landed,
        story,
    )?;
    if let (Landed::PullRequest { pr, .. }, Some(p)) = (&landed, provider.as_deref()) {
        if args.landing.wait {
            wait(p, pr, &args.landing)?;
            story.line(err, &format!("{who}: pull request merged"))?;
        }
    }
    Ok(Outcome::Ok)
}

/// How much of the story goes to stderr: nothing (`-q`), the outcome, or every object (`-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Story {
    Quiet,
    Normal,
    Verbose,
}

impl From<&gitops::cli::Verbosity> for Story {
    fn from(v: &gitops::cli::Verbosity) -> Self {
        match (v.quiet, v.verbose) {
            (true, _) => Story::Quiet,
            (false, 0) => Story::Normal,
            _ => Story::Verbose,
        }
    }
}

impl Story {
    /// One line of the story, as `git-promote: …` (scrubbed: it may quote a server).
    pub fn line(self, err: &mut impl Write, text: &str) -> Result<(), PromoteError> {
        if self == Story::Quiet {
            return Ok(());
        }
        writeln!(err, "{}: {}", crate::TOOL, gitops::scrub::scrub(text))
            .map_err(|e| PromoteError::Input(gitops::Error::Output(e)))
    }

    fn details(self, err: &mut impl Write, details: &[String]) -> Result<(), PromoteError> {
        if self != Story::Verbose {
            return Ok(());
        }
        details
            .iter()
            .try_for_each(|d| self.line(err, &format!("  {d}")))
    }
}

/// Prints what happened: data on `out`, the story on `err`.
pub fn report(
    out: &mut impl Write,
    err: &mut impl Write,
    who: &str,
    digest: &str,
    landed: &Landed,
    story: Story,
) -> Result<(), PromoteError> {
    let line = match landed {
        Landed::UpToDate => format!("{who}: already up to date ({digest})"),
        Landed::Pushed {
            commit,
            branch,
            summary,
            details,
        } => {
            if story == Story::Verbose {
                story.line(err, &format!("{who}: {summary}"))?;
                story.details(err, details)?;
            }
            format!("{who}: pushed {} to {branch}", commit.to_hex_with_len(12))
        }
        Landed::PullRequest {
            pr,
            created,
            summary,
            details,
        } => {
            let verb = if *created { "opened" } else { "updated" };
            story.line(
                err,
                &format!("{who}: {summary}; pull request #{} {verb}", pr.number),
            )?;
            story.details(err, details)?;
            pr.url.clone()
        }
        Landed::Branch {
            commit,
            branch,
            base,
            pushed,
            messages,
            summary,
            details,
        } => {
            let done = if *pushed {
                "pushed"
            } else {
                "already waiting on"
            };
            story.line(
                err,
                &format!(
                    "{who}: {summary}; {done} {branch}: open a pull request from {branch} into {base}"
                ),
            )?;
            story.details(err, details)?;
            // The server's own hint (GitLab, GitHub, Bitbucket, Gerrit print a link), as git
            // push shows it.
            for m in messages {
                story.line(err, &format!("remote: {m}"))?;
            }
            if *pushed {
                format!("{who}: pushed {} to {branch}", commit.to_hex_with_len(12))
            } else {
                format!(
                    "{who}: {branch} already holds this change ({})",
                    commit.to_hex_with_len(12)
                )
            }
        }
    };
    writeln!(out, "{line}").map_err(gitops::Error::Output)?;
    // Shown now, not when the run ends: `--wait` may take half an hour.
    out.flush().map_err(gitops::Error::Output)?;
    Ok(())
}

/// `--branch-template` makes a valid branch name (checked with sample values before anything
/// is read from the repository).
fn check_branch_template(template: &str) -> Result<(), PromoteError> {
    let sample = crate::config::expand_branch(template, "env", "app", "0123456789ab");
    gitops::git::check_branch_name(&sample).map_err(|why| {
        PromoteError::Usage(format!(
            "--branch-template {template:?} does not make a valid branch name ({why})"
        ))
    })
}

fn write_files(
    target: &Target,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, FileEntry>, PromoteError> {
    files
        .iter()
        .map(|(name, bytes)| {
            Ok((
                name.clone(),
                FileEntry::regular(target.ws.write_blob(bytes)?),
            ))
        })
        .collect()
}

fn write_templates(
    target: &Target,
    files: &BTreeMap<String, TemplateFile>,
) -> Result<Option<ObjectId>, PromoteError> {
    let mut entries = BTreeMap::new();
    for (name, file) in files {
        entries.insert(
            name.clone(),
            FileEntry {
                id: target.ws.write_blob(&file.bytes)?,
                mode: file.mode,
            },
        );
    }
    Ok(Some(target.ws.build_tree(&entries)?))
}

/// What promoting `content` changes in `base_tree`.
fn diff(
    t: &Target,
    base_tree: ObjectId,
    manifests_path: &str,
    templates_path: &str,
    content: &Content,
) -> Result<Change, PromoteError> {
    let current_dir = t.subtree(base_tree, manifests_path)?;
    let mut current = match current_dir {
        Some(dir) => t.ws.files(dir)?,
        None => BTreeMap::new(),
    };
    current.remove(PROVENANCE_FILE);
    let (created, changed, deleted) = message::compare(&current, &content.files);
    let templates = match content.templates {
        Some(want) => t.subtree(base_tree, templates_path)? != want,
        None => false,
    };
    let old_images = match current_dir {
        Some(dir) => t
            .provenance(dir, manifests_path)?
            .map(|p| p.images)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut change = Change {
        created,
        changed,
        deleted,
        templates,
        images: message::image_changes(&old_images, &content.provenance.images),
    };
    if change.is_empty() && current != content.files {
        // Files that are not objects (a README, a stray file) differ.
        change.changed.push("(other files)".to_owned());
    }
    Ok(change)
}

/// The content for `--from-env`: what `from` runs, with its provenance.
fn from_env(
    target: &mut Target,
    from: &str,
    env: &Environment,
    app: &str,
    objects: Option<&[Object]>,
    templates: Option<&BTreeMap<String, TemplateFile>>,
) -> Result<Content, PromoteError> {
    if from == env.name {
        return Err(PromoteError::Usage(format!(
            "--from-env {from} is the environment being promoted to"
        )));
    }
    let config = target.config.clone();
    let source_env = config.environment(from)?;
    let source_branch = target.branch_of(source_env);
    let tip = target.tip(&source_branch)?;
    let tree = target.tree_of(tip)?;
    let source_path = source_env.manifests_path(app);
    let dir = target.subtree(tree, &source_path)?.ok_or_else(|| {
        PromoteError::Usage(format!(
            "unknown app {app:?} in {from}: nothing at {source_path} on {source_branch}"
        ))
    })?;
    let source = target.provenance(dir, &source_path)?.ok_or_else(|| {
        PromoteError::Usage(format!("{source_path} has no {PROVENANCE_FILE} record: promote {app} to {from} with git promote first"))
    })?;
    let (files, stream_digest, images) = match objects {
        Some(objects) => {
            // Re-rendered for this environment: the images must be the very ones `from` runs.
            let mut images = Vec::new();
            objects
                .iter()
                .for_each(|o| message::images(&o.value, &mut images));
            images.sort();
            images.dedup();
            if images != source.images {
                let changes = message::image_changes(&source.images, &images);
                let list: Vec<String> = changes
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({} in {from})",
                            c.to.as_deref().unwrap_or(&c.name),
                            c.from.as_deref().unwrap_or("absent")
                        )
                    })
                    .collect();
                return Err(PromoteError::Usage(format!(
                    "the manifests do not use the images {from} runs: {}",
                    list.join(", ")
                )));
            }
            let files = write_files(target, &object_files(objects)?)?;
            (
                files,
                gitops::digest::stream_digest(objects).to_string(),
                images,
            )
        }
        None => {
            let mut files = target.ws.files(dir)?;
            files.remove(PROVENANCE_FILE);
            (files, source.stream_digest.clone(), source.images.clone())
        }
    };
    let templates = match templates {
        Some(t) => Some(write_templates(target, t)?),
        None => target
            .subtree(tree, &source_env.templates_path(app))?
            .map(Some),
    };
    Ok(Content {
        files,
        provenance: Provenance {
            environment: env.name.clone(),
            app: app.to_owned(),
            source_repository: source.source_repository,
            source_commit: source.source_commit,
            stream_digest,
            images,
            from_environment: Some(from.to_owned()),
            promoted_at: now(),
        },
        templates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn files_follow_the_out_dir_layout() {
        let objs = gitops::manifest::parse_stream(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
            &Arc::from("t"),
        )
        .unwrap();
        let files = object_files(&objs).unwrap();
        let names: Vec<_> = files.keys().cloned().collect();
        assert_eq!(
            names,
            [
                "apps.v1.Deployment.shop.web.yaml",
                "v1.Namespace..shop.yaml"
            ]
        );
        assert!(String::from_utf8_lossy(&files["v1.Namespace..shop.yaml"])
            .starts_with("apiVersion: v1\nkind: Namespace\n"));
    }

    #[test]
    fn mode_follows_flags_then_environment() {
        let env = crate::config::Config::default_layout();
        let landing = |direct, open_pr| LandingArgs {
            direct,
            open_pr,
            auto_merge: false,
            wait: false,
            timeout: std::time::Duration::from_secs(1),
            poll_interval: std::time::Duration::from_secs(1),
        };
        let dev = env.environment("dev").unwrap();
        let prod = env.environment("prod").unwrap();
        assert_eq!(mode(&landing(false, false), dev), Mode::Direct);
        assert_eq!(mode(&landing(false, false), prod), Mode::PullRequest);
        assert_eq!(mode(&landing(true, false), prod), Mode::Direct);
        assert_eq!(mode(&landing(false, true), dev), Mode::PullRequest);
    }
}
