//! `git promote`: carries an app's rendered manifests into a GitOps repository — one file per
//! object in the environment's directory, the templates beside them, a commit with provenance
//! trailers on a promotion branch (or straight on the environment's branch), a push that
//! rebases and retries when the remote moved, and a pull request on GitHub, GitLab, Azure
//! DevOps, Gitea or Bitbucket (or, on any other Git server, the promotion branch pushed with
//! the server's own hint for opening the pull request). Also: environment to environment,
//! status, and rollback by revert.
//!
//! Modules: [`config`] (`.gitops/promote.yaml`), [`target`] (the GitOps repository and its
//! remote), [`templates`] (reading `--templates`), [`promote`] (building and landing a change),
//! [`message`] (provenance, commit message, PR text), [`provider`] (the hosts' APIs),
//! [`secrets`] (what the scrubber must mask), [`status`], [`rollback`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub mod config;
pub mod error;
pub mod message;
pub mod promote;
pub mod provider;
pub mod rollback;
pub mod secrets;
pub mod status;
pub mod target;
pub mod templates;

pub use error::PromoteError;

/// This tool's name: temporary directories, the fallback committer, the HTTP user agent.
pub const TOOL: &str = "git-promote";

/// Promote rendered Kubernetes manifests into a GitOps repository.
#[derive(Debug, Parser)]
#[command(
    name = "git-promote",
    bin_name = "git promote",
    version,
    about = "Promote rendered Kubernetes manifests into a GitOps repository",
    long_about = "Promote rendered Kubernetes manifests into a GitOps repository.\n\n\
        Writes an app's rendered manifests (one file per object) and its templates into an \
        environment's directory of the GitOps repository, commits them with provenance trailers \
        (source repository and commit, images, stream digest, environment), pushes (rebasing and \
        retrying when the remote moved, never force-pushing a shared branch), and opens or updates \
        a pull request on GitHub, GitLab, Azure DevOps, Gitea or Bitbucket (with --provider none, \
        on any Git server: the promotion branch is pushed and the server's hint for opening the \
        pull request is shown). Nothing changes when the \
        environment already has these manifests.\n\n\
        Environments, paths, branches and the Git host are read from .gitops/promote.yaml on the \
        repository's default branch; without it, dev, qa and prod live in clusters/ENV/APP and \
        templates/ENV/APP on the default branch, dev committed directly, qa and prod by pull request.\n\n\
        Exit status: 0 promoted, already up to date, or merged (--wait); 1 a change is pending \
        (--check); 2 error (nothing is left committed, branched or pushed).",
    after_help = "Examples:\n  \
        git promote dev --app web --manifests rendered.yaml --repo ../gitops\n  \
        git promote qa --from-env dev --app web --open-pr --wait\n  \
        git promote status --repo https://git.example.com/gitops.git\n  \
        git promote rollback prod --app web",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// The environment to promote to (see `git promote status` for the list).
    #[arg(value_name = "ENV", required = true)]
    pub env: Option<String>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub landing: LandingArgs,

    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub verbosity: gitops::cli::Verbosity,
}

/// The subcommands besides promoting.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Show each environment's source commit, stream digest and age, per app.
    Status,
    /// Revert the last promotion of an app in an environment (by pull request unless --direct).
    Rollback {
        /// The environment to roll back.
        #[arg(value_name = "ENV")]
        env: String,
        /// Restore the app as it was at this commit of the GitOps repository instead of
        /// reverting just the last promotion.
        #[arg(long, value_name = "REV")]
        to: Option<String>,
        #[command(flatten)]
        landing: LandingArgs,
    },
}

/// What to promote.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Rendered manifests: a YAML/JSON file, a directory of them, or - for stdin.
    #[arg(long, value_name = "DIR|FILE|-", required_unless_present = "from_env")]
    pub manifests: Option<PathBuf>,
    /// The app's deployment templates (kustomize base and overlays, a Helm chart), copied
    /// into the environment's templates directory.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Promote exactly what this environment runs (same source commit, images and digests).
    /// With --manifests, those (re-rendered for ENV) are promoted, after checking that they
    /// use the same images.
    #[arg(long, value_name = "ENV")]
    pub from_env: Option<String>,
    /// The application repository the manifests were built from [default: from CI variables
    /// or the current directory's origin].
    #[arg(long, value_name = "URL")]
    pub source_repo: Option<String>,
    /// The application commit the manifests were built from [default: from CI variables or
    /// the current directory's HEAD].
    #[arg(long, value_name = "SHA")]
    pub source_commit: Option<String>,
    /// Name of the promotion branch; {env}, {app} and {digest} are replaced
    /// [default: from the config, else promote/{env}/{app}-{digest}].
    #[arg(long, value_name = "TEMPLATE")]
    pub branch_template: Option<String>,
    /// Only tell whether the environment would change: exit 1 if it would, 0 if not.
    #[arg(long)]
    pub check: bool,
}

/// How a change lands: directly, or by pull request.
#[derive(Debug, Clone, clap::Args)]
pub struct LandingArgs {
    /// Commit straight onto the environment's branch, without a pull request.
    #[arg(long, conflicts_with = "open_pr")]
    pub direct: bool,
    /// Push a promotion branch and open (or update) a pull request for it.
    #[arg(long)]
    pub open_pr: bool,
    /// Ask the host to merge the pull request once its checks pass.
    #[arg(long, conflicts_with = "direct")]
    pub auto_merge: bool,
    /// Wait until the pull request is merged (exit 0) or closed (exit 2).
    #[arg(long, conflicts_with = "direct")]
    pub wait: bool,
    /// Give up waiting after this long (e.g. 90s, 30m, 2h).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How often to ask the host while waiting.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub poll_interval: Duration,
}

/// Where the GitOps repository is and how to reach its host.
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// The app to promote, show or roll back.
    #[arg(long, value_name = "NAME", global = true)]
    pub app: Option<String>,
    /// The GitOps repository: a local clone (its work tree is never touched) or a URL
    /// (cloned into a temporary directory).
    #[arg(
        long,
        value_name = "PATH|URL",
        default_value = ".",
        env = "GIT_PROMOTE_REPO",
        hide_env_values = true,
        global = true
    )]
    pub repo: String,
    /// The remote of a local clone to fetch from and push to [default: origin]. A clone
    /// without it is an error; a bare repository without `origin` is itself the remote.
    #[arg(long, value_name = "NAME", global = true)]
    pub remote: Option<String>,
    /// Read the settings from this local file instead of .gitops/promote.yaml in the repository.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The Git host [default: from the config or the remote URL]. `none`: push the promotion
    /// branch only, and show how to open the pull request (any Git server).
    #[arg(long, value_name = "NAME", global = true, value_parser = provider::Kind::NAMES)]
    pub provider: Option<String>,
    /// The host's API base URL [default: from the config or the remote URL].
    #[arg(long, value_name = "URL", global = true)]
    pub api_url: Option<String>,
    /// The repository on the host: OWNER/NAME, GROUP/…/PROJECT, or ORG/PROJECT/REPO for Azure
    /// DevOps [default: from the config or the remote URL].
    #[arg(long, value_name = "PATH", global = true)]
    pub project: Option<String>,
    /// How many times to rebase and push again when the remote moved.
    #[arg(long, value_name = "N", default_value_t = 5, global = true)]
    pub retries: u32,
}

impl gitops::cli::Command for Args {
    fn verbosity(&self) -> &gitops::cli::Verbosity {
        &self.verbosity
    }
}

/// `90s`, `30m`, `2h`, `1h30m` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(format!("invalid duration {s:?} (use e.g. 90s, 30m, 2h)")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        total += number
            .parse::<u64>()
            .map_err(|_| format!("invalid duration {s:?}"))?;
    }
    Ok(Duration::from_secs(total))
}

/// Runs `git promote` with the streams the entry point owns: data on stdout, the story of
/// what happened on stderr.
pub fn run(args: Args, io: &mut gitops::cli::Io<'_>) -> Result<gitops::Outcome, PromoteError> {
    secrets::register(&args);
    let (mut out, mut err) = (&mut *io.stdout, &mut *io.stderr);
    match &args.command {
        Some(Sub::Status) => status::run(&args.repo, &mut out),
        Some(Sub::Rollback { env, to, landing }) => {
            let story = promote::Story::from(&args.verbosity);
            rollback::run(
                &args.repo,
                env,
                to.as_deref(),
                landing,
                story,
                &mut out,
                &mut err,
            )
        }
        None => promote::run(&args, &mut *io.stdin, &mut out, &mut err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn subcommands_and_promotion_do_not_mix() {
        assert!(Args::try_parse_from(["git-promote", "status", "--app", "web"]).is_ok());
        assert!(Args::try_parse_from(["git-promote", "dev", "--app", "web"]).is_err());
        let a = Args::try_parse_from([
            "git-promote",
            "dev",
            "--app",
            "web",
            "--manifests",
            "-",
            "--direct",
        ])
        .unwrap();
        assert_eq!(a.env.as_deref(), Some("dev"));
        assert!(Args::try_parse_from([
            "git-promote",
            "rollback",
            "prod",
            "--app",
            "web",
            "--to",
            "HEAD~1"
        ])
        .is_ok());
    }
}
