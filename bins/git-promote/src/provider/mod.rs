//! Pull requests on the Git hosts we support, through each host's documented REST API:
//! GitHub (and GitHub Enterprise), GitLab, Azure DevOps (Azure Repos), Gitea (and Forgejo),
//! Bitbucket Cloud and Bitbucket Data Center. On any other Git server (a plain one, Gerrit…)
//! `none` pushes the promotion branch only and shows the server's hint for opening the pull
//! request, as `git push` does.
//!
//! Which host, which repository and which API endpoint come from flags, the config file, or the
//! remote URL, in that order. Tokens come from the environment variables each host's own CLI and
//! CI use; they are sent only in the auth header, registered with the process-wide scrubber, and
//! scrubbed from every message we build here as well.

use std::time::Duration;

use serde_json::Value;

use crate::error::PromoteError;

pub mod azure;
pub mod bitbucket;
pub mod bitbucket_server;
pub mod gitea;
pub mod github;
pub mod gitlab;

/// A pull (merge) request as we track it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Number (GitHub, Gitea), iid (GitLab), pullRequestId (Azure DevOps).
    pub number: u64,
    /// The page a human opens.
    pub url: String,
    /// GitHub's GraphQL node id (for auto-merge); Azure's creator id (for auto-complete).
    pub extra: Option<String>,
}

/// Where a pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Merged,
    Closed,
}

/// What every host can do for us.
pub trait Provider {
    /// The host's name for messages (`GitHub`).
    fn name(&self) -> &'static str;
    /// The open pull request from `head` into `base`, if there is one.
    fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, PromoteError>;
    fn create(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, PromoteError>;
    fn update(&self, pr: &PullRequest, title: &str, body: &str) -> Result<(), PromoteError>;
    /// Merge once the checks pass (GitHub auto-merge, GitLab auto-merge, Azure auto-complete,
    /// Gitea scheduled merge).
    fn auto_merge(&self, pr: &PullRequest) -> Result<(), PromoteError>;
    /// Whether [`Provider::auto_merge`] can work here; asked before anything is pushed.
    fn check_auto_merge(&self) -> Result<(), PromoteError> {
        Ok(())
    }
    fn state(&self, pr: &PullRequest) -> Result<State, PromoteError>;
}

/// The supported hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Github,
    Gitlab,
    Azure,
    Gitea,
    /// Bitbucket Cloud (bitbucket.org), REST 2.0.
    Bitbucket,
    /// Bitbucket Data Center (formerly Server), REST 1.0.
    BitbucketServer,
}

/// The value of `--provider` (and the config's `provider.type`) that means "no host API: push
/// the promotion branch and show how to open the pull request".
pub const NONE: &str = "none";

impl Kind {
    /// The names `--provider` takes (aliases are accepted in the config file too).
    pub const NAMES: [&'static str; 7] = [
        "github",
        "gitlab",
        "azure",
        "gitea",
        "bitbucket",
        "bitbucket-server",
        NONE,
    ];

    pub fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "github" => Some(Kind::Github),
            "gitlab" => Some(Kind::Gitlab),
            "azure" | "azure-devops" | "azuredevops" => Some(Kind::Azure),
            "gitea" | "forgejo" => Some(Kind::Gitea),
            "bitbucket" | "bitbucket-cloud" => Some(Kind::Bitbucket),
            "bitbucket-server" | "bitbucket-datacenter" | "bitbucket-data-center" => {
                Some(Kind::BitbucketServer)
            }
            _ => None,
        }
    }

    /// Every token variable of every host (all of them are secrets the scrubber must know).
    pub fn all_token_vars() -> impl Iterator<Item = &'static str> {
        [
            Kind::Github,
            Kind::Gitlab,
            Kind::Azure,
            Kind::Gitea,
            Kind::Bitbucket,
            Kind::BitbucketServer,
        ]
        .into_iter()
        .flat_map(|k| k.token_vars().iter().copied())
    }

    /// Guesses the host from a remote URL (`https://`, `ssh://` or `git@host:path`).
    pub fn detect(url: &str) -> Option<Kind> {
        let host = split_remote(url)?.0;
        if host == "github.com" || host.ends_with(".ghe.com") {
            Some(Kind::Github)
        } else if host == "dev.azure.com"
            || host.ends_with(".visualstudio.com")
            || host == "ssh.dev.azure.com"
        {
            Some(Kind::Azure)
        } else if host.contains("gitlab") {
            Some(Kind::Gitlab)
        } else if host.contains("gitea") || host.contains("forgejo") || host == "codeberg.org" {
            Some(Kind::Gitea)
        } else if host == "bitbucket.org" {
            Some(Kind::Bitbucket)
        } else if host.contains("bitbucket") {
            Some(Kind::BitbucketServer)
        } else {
            None
        }
    }

    /// Environment variables holding a token, in the order we look at them.
    pub fn token_vars(self) -> &'static [&'static str] {
        match self {
            Kind::Github => &["GITHUB_TOKEN", "GH_TOKEN"],
            Kind::Gitlab => &["GITLAB_TOKEN", "GL_TOKEN"],
            Kind::Azure => &["AZURE_DEVOPS_EXT_PAT", "SYSTEM_ACCESSTOKEN"],
            Kind::Gitea => &["GITEA_TOKEN", "FORGEJO_TOKEN"],
            Kind::Bitbucket | Kind::BitbucketServer => &["BITBUCKET_TOKEN"],
        }
    }
}

/// Host and path of a remote URL (`https://u@host:port/a/b.git` → `host`, `a/b`).
pub fn split_remote(url: &str) -> Option<(String, String)> {
    let (host, path) = if let Some((_, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?.split(':').next()?;
        (host.to_owned(), path.to_owned())
    } else {
        // scp-like: git@host:owner/repo.git
        let (authority, path) = url.split_once(':')?;
        let host = authority.rsplit('@').next()?;
        (host.to_owned(), path.to_owned())
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    Some((host.to_ascii_lowercase(), path.to_owned()))
}

/// Everything needed to talk to a host.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kind: Kind,
    /// API base URL without a trailing slash.
    pub api: String,
    /// The repository path on the host.
    pub repository: String,
    pub token: String,
    /// Which variable the token came from (Azure uses Basic for PATs, Bearer for job tokens).
    pub token_var: &'static str,
}

/// Chooses host, API endpoint, repository and token, or `None` for `none` (no host API).
/// Fails before anything is pushed.
pub fn resolve(
    kind: Option<&str>,
    api: Option<&str>,
    repository: Option<&str>,
    remote_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Settings>, PromoteError> {
    let kind = match kind {
        Some(k) if k.eq_ignore_ascii_case(NONE) => return Ok(None),
        Some(k) => Kind::parse(k).ok_or_else(|| {
            PromoteError::Usage(format!(
                "unknown provider {k:?} (known: {})",
                Kind::NAMES.join(", ")
            ))
        })?,
        None => remote_url.and_then(Kind::detect).ok_or_else(|| {
            PromoteError::Usage(format!(
                "cannot tell which Git host {} is: pass --provider {} (none: push the promotion branch only)",
                remote_url
                    .map(gitops::git::redact_url)
                    .unwrap_or_else(|| "the remote".to_owned()),
                Kind::NAMES.join("|")
            ))
        })?,
    };
    let remote = remote_url
        .filter(|u| u.starts_with("http") || u.starts_with("ssh") || u.contains('@'))
        .and_then(split_remote);
    let repository = match (repository, &remote) {
        (Some(r), _) => r.trim_matches('/').to_owned(),
        (None, Some((_, path))) => remote_repository(kind, path),
        (None, None) => {
            return Err(PromoteError::Usage(
                "cannot tell the repository on the Git host: pass --project OWNER/NAME".to_owned(),
            ))
        }
    };
    let api = match (api, &remote) {
        (Some(a), _) => a.trim_end_matches('/').to_owned(),
        (None, Some((host, path))) => default_api(kind, host, path, &repository),
        (None, None) => {
            return Err(PromoteError::Usage(
                "cannot tell the Git host's API address: pass --api-url URL".to_owned(),
            ))
        }
    };
    let found = kind
        .token_vars()
        .iter()
        .find_map(|v| env(v).filter(|t| !t.is_empty()).map(|t| (*v, t)));
    let Some((token_var, token)) = found else {
        return Err(PromoteError::Usage(format!(
            "no token for {}: set {}",
            name(kind),
            kind.token_vars().join(" or ")
        )));
    };
    if kind == Kind::Azure && repository.split('/').count() != 3 {
        return Err(PromoteError::Usage(format!(
            "Azure DevOps repository {repository:?} must be ORGANIZATION/PROJECT/REPOSITORY"
        )));
    }
    let two = |what: &str| {
        if repository.split('/').count() == 2 && !repository.split('/').any(str::is_empty) {
            Ok(())
        } else {
            Err(PromoteError::Usage(format!(
                "{} repository {repository:?} must be {what}",
                name(kind)
            )))
        }
    };
    match kind {
        Kind::Bitbucket => two("WORKSPACE/REPOSITORY")?,
        Kind::BitbucketServer => two("PROJECT/REPOSITORY")?,
        _ => {}
    }
    Ok(Some(Settings {
        kind,
        api,
        repository,
        token,
        token_var,
    }))
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Github => "GitHub",
        Kind::Gitlab => "GitLab",
        Kind::Azure => "Azure DevOps",
        Kind::Gitea => "Gitea",
        Kind::Bitbucket => "Bitbucket Cloud",
        Kind::BitbucketServer => "Bitbucket Data Center",
    }
}

/// The repository as the host's API names it, from a remote URL's path.
fn remote_repository(kind: Kind, path: &str) -> String {
    match kind {
        // https://dev.azure.com/ORG/PROJECT/_git/REPO, ssh: v3/ORG/PROJECT/REPO,
        // https://ORG.visualstudio.com/PROJECT/_git/REPO (the org is then in the host).
        Kind::Azure => {
            let parts: Vec<&str> = path
                .split('/')
                .filter(|p| *p != "_git" && *p != "v3")
                .collect();
            parts.join("/")
        }
        // https://HOST[/CONTEXT]/scm/PROJECT/REPO.git; ssh://git@HOST:7999/PROJECT/REPO.git
        Kind::BitbucketServer => match path.split_once("scm/") {
            Some((_, rest)) => rest.to_owned(),
            None => path.to_owned(),
        },
        _ => path.to_owned(),
    }
}

/// The context path a Bitbucket Data Center runs under (`https://host/bitbucket/scm/…`).
fn server_context(path: &str) -> &str {
    match path.split_once("scm/") {
        Some((context, _)) => context.trim_matches('/'),
        None => "",
    }
}

fn default_api(kind: Kind, host: &str, path: &str, repository: &str) -> String {
    match kind {
        Kind::Bitbucket => "https://api.bitbucket.org/2.0".to_owned(),
        Kind::BitbucketServer => match server_context(path) {
            "" => format!("https://{host}/rest/api/1.0"),
            context => format!("https://{host}/{context}/rest/api/1.0"),
        },
        Kind::Github if host == "github.com" => "https://api.github.com".to_owned(),
        Kind::Github => format!("https://{host}/api/v3"),
        Kind::Gitlab => format!("https://{host}/api/v4"),
        Kind::Gitea => format!("https://{host}/api/v1"),
        Kind::Azure => {
            let org = repository.split('/').next().unwrap_or_default();
            format!("https://dev.azure.com/{org}")
        }
    }
}

/// Builds the host's client.
pub fn connect(settings: Settings) -> Result<Box<dyn Provider>, PromoteError> {
    let http = Http::new(&settings)?;
    Ok(match settings.kind {
        Kind::Github => Box::new(github::GitHub::new(http, &settings.repository)),
        Kind::Gitlab => Box::new(gitlab::GitLab::new(http, &settings.repository)),
        Kind::Azure => Box::new(azure::Azure::new(http, &settings.repository)),
        Kind::Gitea => Box::new(gitea::Gitea::new(http, &settings.repository)),
        Kind::Bitbucket => Box::new(bitbucket::Bitbucket::new(http, &settings.repository)),
        Kind::BitbucketServer => Box::new(bitbucket_server::BitbucketServer::new(
            http,
            &settings.repository,
        )),
    })
}

/// A JSON-over-HTTPS client for one host, with its auth header.
pub struct Http {
    client: reqwest::blocking::Client,
    pub api: String,
    provider: &'static str,
    auth: Vec<(&'static str, String)>,
    token: String,
}

impl Http {
    fn new(s: &Settings) -> Result<Self, PromoteError> {
        let auth = match s.kind {
            Kind::Github => vec![
                ("Authorization", format!("Bearer {}", s.token)),
                ("Accept", "application/vnd.github+json".to_owned()),
                ("X-GitHub-Api-Version", "2022-11-28".to_owned()),
            ],
            Kind::Gitlab => vec![("PRIVATE-TOKEN", s.token.clone())],
            Kind::Azure if s.token_var == "SYSTEM_ACCESSTOKEN" => {
                vec![("Authorization", format!("Bearer {}", s.token))]
            }
            Kind::Azure => {
                use base64::Engine as _;
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!(":{}", s.token));
                vec![("Authorization", format!("Basic {basic}"))]
            }
            Kind::Gitea => vec![("Authorization", format!("token {}", s.token))],
            // Access tokens (repository, project, workspace or HTTP access tokens) as Bearer.
            Kind::Bitbucket | Kind::BitbucketServer => {
                vec![("Authorization", format!("Bearer {}", s.token))]
            }
        };
        let client = reqwest::blocking::Client::builder()
            .user_agent(format!("{}/{}", crate::TOOL, env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| PromoteError::Provider(format!("cannot set up an HTTP client: {e}")))?;
        Ok(Http {
            client,
            api: s.api.clone(),
            provider: name(s.kind),
            auth,
            token: s.token.clone(),
        })
    }

    /// Sends `method url` with an optional JSON body; returns the JSON answer of a 2xx reply.
    pub fn call(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, PromoteError> {
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| self.error(method, url, e))?;
        let mut req = self.client.request(m, url);
        for (k, v) in &self.auth {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(b).unwrap_or_default());
        }
        let resp = req.send().map_err(|e| self.error(method, url, e))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| self.error(method, url, e))?;
        if !status.is_success() {
            let detail = error_detail(&text);
            let what = match status.as_u16() {
                401 => "authentication failed (is the token valid?)".to_owned(),
                403 => format!("permission denied: {detail}"),
                404 => format!("not found: {detail}"),
                _ => format!("{}: {detail}", status.as_u16()),
            };
            return Err(self.error(method, url, what));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| self.error(method, url, format!("unexpected answer: {e}")))
    }

    fn error(&self, method: &str, url: &str, err: impl std::fmt::Display) -> PromoteError {
        let path = url.strip_prefix(&self.api).unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        let msg = format!("{} API: {method} {path}: {err}", self.provider);
        // The scrubber knows the token (registered at start); the local redaction also covers
        // a library caller that never registered it.
        PromoteError::Provider(gitops::scrub::scrub(&redact(&msg, &self.token)).into_owned())
    }
}

/// The message inside an error answer (`message`, `error`, GitLab's `message` arrays…).
fn error_detail(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let msg = v
        .get("message")
        // Bitbucket Cloud: {"error": {"message": …}}; Data Center: {"errors": [{"message": …}]}.
        .or_else(|| v.pointer("/error/message"))
        .or_else(|| v.pointer("/errors/0/message"))
        .or_else(|| v.get("error"))
        .or_else(|| v.get("errors"))
        .map(|m| match m {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| text.chars().take(200).collect());
    msg.lines().next().unwrap_or_default().to_owned()
}

/// Removes a token from text, however a server echoed it.
pub fn redact(text: &str, token: &str) -> String {
    if token.len() < 4 {
        return text.to_owned();
    }
    text.replace(token, "***")
}

/// Percent-encodes one URL component (query values, GitLab's project path).
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON field as a number, or an error naming it.
pub fn number(v: &Value, field: &str, provider: &str) -> Result<u64, PromoteError> {
    v.get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| PromoteError::Provider(format!("{provider} API: answer has no {field}")))
}

/// A JSON field as a string, or an error naming it.
pub fn string(v: &Value, field: &str, provider: &str) -> Result<String, PromoteError> {
    v.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| PromoteError::Provider(format!("{provider} API: answer has no {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn hosts_are_detected_from_remote_urls() {
        assert_eq!(
            Kind::detect("https://github.com/o/r.git"),
            Some(Kind::Github)
        );
        assert_eq!(Kind::detect("git@github.com:o/r.git"), Some(Kind::Github));
        assert_eq!(
            Kind::detect("https://gitlab.example.com/g/s/p.git"),
            Some(Kind::Gitlab)
        );
        assert_eq!(
            Kind::detect("https://org@dev.azure.com/org/proj/_git/repo"),
            Some(Kind::Azure)
        );
        assert_eq!(
            Kind::detect("https://gitea.example.com/o/r"),
            Some(Kind::Gitea)
        );
        assert_eq!(Kind::detect("file:///srv/r.git"), None);
    }

    #[test]
    fn settings_come_from_the_remote() {
        let env = env_with(&[("GITHUB_TOKEN", "t0ken")]);
        let s = resolve(None, None, None, Some("https://github.com/o/r.git"), &env)
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.kind, s.api.as_str(), s.repository.as_str()),
            (Kind::Github, "https://api.github.com", "o/r")
        );
        let env = env_with(&[("AZURE_DEVOPS_EXT_PAT", "pat0")]);
        let s = resolve(
            None,
            None,
            None,
            Some("https://org@dev.azure.com/org/proj/_git/repo"),
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.api.as_str(), s.repository.as_str()),
            ("https://dev.azure.com/org", "org/proj/repo")
        );
        let env = env_with(&[("GITLAB_TOKEN", "glpat")]);
        let s = resolve(
            None,
            None,
            None,
            Some("git@gitlab.example.com:g/s/p.git"),
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.api.as_str(), s.repository.as_str()),
            ("https://gitlab.example.com/api/v4", "g/s/p")
        );
    }

    #[test]
    fn bitbucket_cloud_and_data_center_come_from_the_remote() {
        let env = env_with(&[("BITBUCKET_TOKEN", "bbtok")]);
        let s = resolve(
            None,
            None,
            None,
            Some("git@bitbucket.org:acme/gitops.git"),
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.kind, s.api.as_str(), s.repository.as_str()),
            (
                Kind::Bitbucket,
                "https://api.bitbucket.org/2.0",
                "acme/gitops"
            )
        );
        let s = resolve(
            None,
            None,
            None,
            Some("https://bitbucket.example.com/context/scm/PLAT/gitops.git"),
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.kind, s.api.as_str(), s.repository.as_str()),
            (
                Kind::BitbucketServer,
                "https://bitbucket.example.com/context/rest/api/1.0",
                "PLAT/gitops"
            )
        );
        let s = resolve(
            None,
            None,
            None,
            Some("ssh://git@bitbucket.example.com:7999/plat/gitops.git"),
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.api.as_str(), s.repository.as_str()),
            ("https://bitbucket.example.com/rest/api/1.0", "plat/gitops")
        );
        let e = resolve(
            Some("bitbucket"),
            Some("http://h"),
            Some("a/b/c"),
            None,
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be WORKSPACE/REPOSITORY"), "{e}");
    }

    #[test]
    fn missing_pieces_are_explained() {
        let none = env_with(&[]);
        let e = resolve(None, None, None, Some("file:///x"), &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pass --provider"), "{e}");
        let e = resolve(Some("github"), Some("http://h"), Some("o/r"), None, &none)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "no token for GitHub: set GITHUB_TOKEN or GH_TOKEN");
        let e = resolve(Some("bitbucked"), None, None, None, &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown provider"), "{e}");
        assert!(e.contains("bitbucket-server, none"), "{e}");
        assert!(resolve(Some("none"), None, None, Some("file:///x"), &none)
            .unwrap()
            .is_none());
    }

    #[test]
    fn azure_sends_pats_as_basic_and_job_tokens_as_bearer() {
        let settings = |var: &'static str| Settings {
            kind: Kind::Azure,
            api: "https://dev.azure.com/org".into(),
            repository: "org/p/r".into(),
            token: "pat0".into(),
            token_var: var,
        };
        let pat = Http::new(&settings("AZURE_DEVOPS_EXT_PAT")).unwrap();
        // base64(":pat0")
        assert_eq!(pat.auth, [("Authorization", "Basic OnBhdDA=".to_owned())]);
        let job = Http::new(&settings("SYSTEM_ACCESSTOKEN")).unwrap();
        assert_eq!(job.auth, [("Authorization", "Bearer pat0".to_owned())]);
    }

    #[test]
    fn tokens_are_redacted_and_components_encoded() {
        assert_eq!(
            redact("bad token abcd1234 here", "abcd1234"),
            "bad token *** here"
        );
        assert_eq!(encode("g/s p"), "g%2Fs%20p");
        assert_eq!(
            error_detail(r#"{"message":"Validation Failed\nmore"}"#),
            "Validation Failed"
        );
        assert_eq!(
            error_detail(r#"{"type":"error","error":{"message":"Repository not found"}}"#),
            "Repository not found"
        );
        assert_eq!(
            error_detail(r#"{"errors":[{"context":null,"message":"Only one pull request"}]}"#),
            "Only one pull request"
        );
    }
}
