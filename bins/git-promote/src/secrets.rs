//! Every secret git-promote can know, registered with the process-wide scrubber
//! ([`gitops::scrub`]) before any work starts: the hosts' API tokens from the environment, the
//! Git credentials CI systems hand out, and the userinfo of every URL on the command line. The
//! entry point scrubs every error and log line, so a Git server or a host's API that echoes a
//! credential back cannot make us print it. (The GitOps repository's own remote URL and
//! `http.extraHeader` credentials are registered when it is opened, see [`crate::target`].)

use gitops::scrub;

use crate::provider::Kind;
use crate::Args;

/// CI variables holding Git credentials besides the hosts' API tokens (GitLab's job token).
const CI_TOKENS: &[&str] = &["CI_JOB_TOKEN"];

/// CI variables holding URLs that may carry credentials (`https://gitlab-ci-token:…@…`).
const CI_URLS: &[&str] = &[
    "CI_REPOSITORY_URL",
    "CI_PROJECT_URL",
    "BUILD_REPOSITORY_URI",
    "GITHUB_SERVER_URL",
];

/// Registers what `args` and the environment hold.
pub fn register(args: &Args) {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    for name in Kind::all_token_vars().chain(CI_TOKENS.iter().copied()) {
        if let Some(token) = var(name) {
            register_token(&token);
        }
    }
    for name in CI_URLS {
        if let Some(url) = var(name) {
            scrub::register_url(&url);
        }
    }
    scrub::register_url(&args.repo.repo);
    for url in [&args.input.source_repo, &args.repo.api_url]
        .into_iter()
        .flatten()
    {
        scrub::register_url(url);
    }
}

/// A token, and the forms it travels in: as itself (Bearer, `PRIVATE-TOKEN`) and as the
/// password of a Basic header with an empty user (Azure DevOps PATs, `base64(":token")`).
pub fn register_token(token: &str) {
    scrub::register(token);
    scrub::register(&format!(":{token}"));
}
