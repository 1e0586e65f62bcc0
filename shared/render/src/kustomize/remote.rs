//! Remote entries of a kustomization, as kustomize 5.8 reads them: Git repositories
//! (`https://host/org/repo//dir?ref=v1`, `git@host:org/repo/dir`, `ssh://…`, `file:///…`,
//! `github.com/org/repo/dir`) built as bases, and HTTP(S) URLs of single manifest files.
//!
//! [`RepoSpec::parse`] follows the rules of kustomize's `api/internal/git/repospec.go` (its test
//! cases are mirrored below): the query (`ref`, `version`, `timeout`, `submodules`) is cut off
//! first; then the scheme (`ssh://`, `https://`, `http://`, `file://`, or none for scp-like
//! `user@host:path` and `github.com/…`), an optional user name, and the host; then the
//! repository path is split from the kustomization's path inside it at `_git/<repo>`, at `//`,
//! after `.git`, or (with none of those) after two segments (`org/repo`; all of it for
//! `file://`). GitHub hosts are normalised to `https://github.com/` or `git@github.com:`.
//!
//! A repository is fetched through `gitops::git::remote` (gix) into a cache that later builds
//! reuse, at the ref's commit, and its whole tree is exported into a temporary directory (so
//! that the base may use other directories of its repository, never files outside it). HTTP
//! files are fetched with a size limit and a timeout. Both can be turned off
//! ([`RemoteOptions`]).

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use gitops::manifest;

use super::loader::{Entry, Loader};

/// What kinds of remote entries a build may fetch, and where the Git cache is.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Git repositories as bases and components.
    pub git: bool,
    /// HTTP(S) URLs of manifest files.
    pub http: bool,
    /// The cache of fetched repositories, reused by later builds; a temporary one per build
    /// when unset.
    pub cache_dir: Option<PathBuf>,
    /// The largest file an HTTP(S) entry may be.
    pub http_max_bytes: u64,
    /// How long an HTTP(S) request may take (Git fetches take their `?timeout=`, 27 seconds by
    /// default, as in kustomize).
    pub http_timeout: Duration,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            git: true,
            http: true,
            cache_dir: None,
            http_max_bytes: 32 << 20,
            http_timeout: Duration::from_secs(60),
        }
    }
}

/// kustomize's default time limit of the git commands behind a remote base.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(27);

/// A Git repository, a ref and a directory in it, parsed from a kustomization entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// The entry as written (for cycle detection).
    pub raw: String,
    /// Scheme, user and host, e.g. `https://github.com/`, `git@github.com:`, `file://`.
    pub host: String,
    /// The repository's path on the host, e.g. `org/repo.git`.
    pub repo_path: String,
    /// The kustomization's directory inside the repository (`""` for its root).
    pub kust_root: String,
    /// The branch, tag or commit (`""`: the remote's HEAD).
    pub git_ref: String,
    pub submodules: bool,
    pub timeout: Duration,
}

impl RepoSpec {
    /// The URL the repository is fetched from.
    pub fn clone_url(&self) -> String {
        format!("{}{}", self.host, self.repo_path)
    }

    /// Parses a kustomization entry as a remote Git target; the error says why it is none.
    pub fn parse(n: &str) -> Result<RepoSpec, String> {
        if n.starts_with('/') {
            return Err(format!("uri looks like abs path: {n}"));
        }
        let (rest, query) = n.split_once('?').unwrap_or((n, ""));
        let (git_ref, timeout, submodules) = parse_query(query);
        let (host, rest) = extract_host(rest)?;
        let segments = if host.starts_with(FILE) {
            None
        } else {
            Some(2)
        };
        let (repo_path, kust_root) = parse_path_parts(rest, segments)?;
        Ok(RepoSpec {
            raw: n.to_owned(),
            host,
            repo_path,
            kust_root,
            git_ref,
            submodules,
            timeout,
        })
    }
}

const FILE: &str = "file://";

/// `ref` (else `version`), `timeout` (integer seconds or a Go duration, positive) and
/// `submodules` (a Go boolean); defaults for anything missing or malformed.
fn parse_query(query: &str) -> (String, Duration, bool) {
    let defaults = (String::new(), DEFAULT_TIMEOUT, true);
    let Some(values) = parse_form(query) else {
        return defaults;
    };
    let get = |k: &str| {
        values
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut git_ref = get("version").to_owned();
    if !get("ref").is_empty() {
        git_ref = get("ref").to_owned();
    }
    let mut timeout = DEFAULT_TIMEOUT;
    let t = get("timeout");
    if !t.is_empty() {
        if let Some(secs) = t.parse::<i64>().ok().filter(|n| *n > 0) {
            timeout = Duration::from_secs(secs.unsigned_abs());
        } else if let Some(d) = parse_go_duration(t).filter(|d| !d.is_zero()) {
            timeout = d;
        }
    }
    let submodules = match get("submodules") {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
        _ => true,
    };
    (git_ref, timeout, submodules)
}

/// A query string as Go's `url.ParseQuery` reads it (`+` is a space, `%XX` escapes); `None`
/// where Go fails (a bad escape, a `;`).
fn parse_form(query: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        if part.contains(';') {
            return None;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((unescape(k)?, unescape(v)?));
    }
    Some(out)
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A Go duration (`1m1s`, `1.5h`, `300ms`); non-negative only.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Splits scheme, user name and host off `n`, returning the host (scheme and user included)
/// and the path after it.
fn extract_host(n: &str) -> Result<(String, &str), String> {
    let n = match strip_prefix_ignore_case(n, "git::") {
        Some(rest) => {
            tracing::warn!(
                "Warning: Forcing the git protocol using the 'git::' URL prefix is not supported. Kustomize currently strips this invalid prefix, but will stop doing so in a future release. Please remove the 'git::' prefix from your configuration."
            );
            rest
        }
        None => n,
    };
    let (scheme, n) = ["ssh://", "https://", "http://", FILE]
        .iter()
        .find_map(|p| strip_prefix_ignore_case(n, p).map(|rest| (*p, rest)))
        .unwrap_or(("", n));
    let after_scheme = n;
    let (username, n) = extract_username(n);
    let github = {
        let lower = n.to_ascii_lowercase();
        lower.starts_with("github.com/") || lower.starts_with("github.com:")
    };
    let scp = scheme.is_empty() && (!username.is_empty() || github);
    if scheme.is_empty() && !scp {
        return Err("failed to parse scheme".to_owned());
    }
    if scheme == FILE {
        // Everything after `file://` (a user-name-like part too) is the repository's path.
        return Ok((FILE.to_owned(), after_scheme));
    }
    let (mut host, rest) = match find_path_separator(n, scp) {
        Some(i) => (&n[..=i], &n[i + 1..]),
        None => (n, ""),
    };
    let (mut scheme, mut username) = (scheme, username);
    if github {
        if scheme.starts_with("ssh://") || !username.is_empty() {
            scheme = "";
            host = "github.com:";
        } else {
            scheme = "https://";
            username = "";
            host = "github.com/";
        }
    }
    if host.is_empty() {
        return Err("failed to parse host segment".to_owned());
    }
    Ok((format!("{scheme}{username}{host}"), rest))
}

fn extract_username(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    if b.first().is_some_and(u8::is_ascii_alphabetic) {
        let end = b
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'-'))
            .unwrap_or(b.len());
        if b.get(end) == Some(&b'@') {
            return (&s[..=end], &s[end + 1..]);
        }
    }
    ("", s)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// The index of the `/` (or, scp-like, the `:` before any `/`) that ends the host.
fn find_path_separator(s: &str, scp: bool) -> Option<usize> {
    let slash = s.find('/');
    if scp {
        if let Some(colon) = s.find(':').filter(|&c| c > 0) {
            if slash.is_none_or(|sl| colon < sl) {
                return Some(colon);
            }
        }
    }
    slash
}

/// The repository path and the kustomization directory inside it.
fn parse_path_parts(n: &str, segments: Option<usize>) -> Result<(String, String), String> {
    let split = explicit_split(n).or_else(|| match segments {
        None => Some((n.to_owned(), String::new())),
        Some(k) => {
            let parts: Vec<&str> = n.split('/').collect();
            (parts.len() >= k).then(|| (parts[..k].join("/"), parts[k..].join("/")))
        }
    });
    let Some((repo, kust)) = split.filter(|(repo, _)| !repo.is_empty()) else {
        return Err("failed to parse repo path segment".to_owned());
    };
    if exits_repo(&kust) {
        return Err(format!("url path exits repo: {n}"));
    }
    let kust = kust.strip_prefix('/').unwrap_or(&kust).to_owned();
    Ok((repo, kust))
}

/// The markers kustomize splits at: `_git/<repo>`, `//`, `.git`.
fn explicit_split(n: &str) -> Option<(String, String)> {
    if let Some(i) = n.find("_git/") {
        let root = &n[..i + 5];
        let mut segs = n[i + 5..].split('/');
        let repo = segs.next().unwrap_or("");
        return Some((format!("{root}{repo}"), segs.collect::<Vec<_>>().join("/")));
    }
    if let Some(i) = n.find("//") {
        return Some((n[..i].to_owned(), n[i + 2..].to_owned()));
    }
    if let Some(i) = n.find(".git") {
        return Some((n[..i + 4].to_owned(), n[i + 4..].to_owned()));
    }
    None
}

/// Whether a cleaned path starts by climbing out (`../x`, `a/../../x`).
fn exits_repo(path: &str) -> bool {
    let mut depth = 0i64;
    for part in path.trim_start_matches('/').split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Whether an entry is an HTTP(S) URL (kustomize tries those as files first).
pub fn is_http(entry: &str) -> bool {
    strip_prefix_ignore_case(entry, "http://").is_some()
        || strip_prefix_ignore_case(entry, "https://").is_some()
}

/// Why an HTTP(S) file could not be had.
#[derive(Debug)]
pub enum HttpFailure {
    /// The server answered with a status outside 2xx.
    Status(u16),
    /// No answer (unreachable host, TLS, timeout) or an unreadable body; one line.
    Transport(String),
    /// The body is larger than the limit.
    TooLarge(u64),
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpFailure::Status(code) => write!(f, "HTTP status {code}"),
            HttpFailure::Transport(m) => f.write_str(m),
            HttpFailure::TooLarge(limit) => write!(f, "the file is larger than {limit} bytes"),
        }
    }
}

/// GETs `url` with `options`' limits. Runs on its own thread, so that reqwest's blocking
/// client never runs inside a caller's async runtime.
pub fn http_get(url: &str, options: &RemoteOptions) -> Result<Vec<u8>, HttpFailure> {
    let (url, limit, timeout) = (url.to_owned(), options.http_max_bytes, options.http_timeout);
    std::thread::scope(|s| {
        s.spawn(move || get_blocking(&url, limit, timeout))
            .join()
            .unwrap_or_else(|_| Err(HttpFailure::Transport("the HTTP client failed".to_owned())))
    })
}

fn get_blocking(url: &str, limit: u64, timeout: Duration) -> Result<Vec<u8>, HttpFailure> {
    let transport = |e: reqwest::Error| HttpFailure::Transport(describe_reqwest(e));
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("gitops-toolkit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(transport)?;
    let response = client.get(url).send().map_err(transport)?;
    let status = response.status();
    if !status.is_success() {
        return Err(HttpFailure::Status(status.as_u16()));
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(HttpFailure::TooLarge(limit));
    }
    let mut body = Vec::new();
    response
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| HttpFailure::Transport(format!("reading the body: {e}")))?;
    if body.len() as u64 > limit {
        return Err(HttpFailure::TooLarge(limit));
    }
    Ok(body)
}

/// A reqwest error in one line, without its URL (which may hold credentials) and with its
/// causes.
fn describe_reqwest(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = c.source();
    }
    if timeout && !parts.iter().any(|p| p.contains("timed out")) {
        parts.push("timed out".to_owned());
    }
    parts.join(": ").replace('\n', " ")
}

/// The fetched repositories of one build: each (URL, ref) fetched once and exported once.
pub struct Remotes {
    options: RemoteOptions,
    /// Holds the exports (and the cache when none is configured) until the build ends.
    scratch: std::cell::OnceCell<tempfile::TempDir>,
    /// (URL, ref) to the real path of its export; interior mutability so that the builder can
    /// fetch while other parts of it are borrowed.
    exports: std::cell::RefCell<HashMap<(String, String), PathBuf>>,
}

impl std::fmt::Debug for Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remotes")
            .field("options", &self.options)
            .field("exports", &self.exports.borrow().len())
            .finish()
    }
}

impl Remotes {
    pub fn new(options: RemoteOptions) -> Self {
        Remotes {
            options,
            scratch: std::cell::OnceCell::new(),
            exports: std::cell::RefCell::default(),
        }
    }

    /// The root of the fetched repository that the real path `dir` lies in, if any.
    pub fn root_of(&self, dir: &Path) -> Option<PathBuf> {
        self.exports
            .borrow()
            .values()
            .find(|root| dir.starts_with(root))
            .cloned()
    }

    /// The exported tree of `spec`'s repository at its ref (its real path): fetched into the
    /// cache (or found there) on first use in this build.
    pub fn checkout(&self, spec: &RepoSpec) -> Result<PathBuf, String> {
        let url = spec.clone_url();
        let key = (url.clone(), spec.git_ref.clone());
        if let Some(dir) = self.exports.borrow().get(&key) {
            return Ok(dir.clone());
        }
        if self.scratch.get().is_none() {
            let dir = tempfile::Builder::new()
                .prefix("kustomize-remote-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            let _ = self.scratch.set(dir);
        }
        let scratch = self
            .scratch
            .get()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        let cache = self
            .options
            .cache_dir
            .clone()
            .unwrap_or_else(|| scratch.join("cache"));
        let dest = scratch.join(format!("repo-{}", self.exports.borrow().len()));
        let git_ref = (!spec.git_ref.is_empty()).then_some(spec.git_ref.as_str());
        gitops::git::remote::fetch_tree(&url, git_ref, &cache, &dest, spec.timeout)
            .map_err(|e| e.to_string())?;
        if spec.submodules {
            // kustomize runs `git submodule update --init --recursive`; the export holds no
            // submodules, which is only right for repositories without any.
            tracing::debug!(
                "{}: submodules are not fetched",
                gitops::git::redact_url(&url)
            );
        }
        let real = dest
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        self.exports.borrow_mut().insert(key, real.clone());
        Ok(real)
    }
}

/// The directory of `spec`'s kustomization inside an export at `root`, refused when it is
/// missing, a file, or (through symbolic links) outside the repository.
pub fn kustomization_dir(root: &Path, spec: &RepoSpec) -> Result<PathBuf, String> {
    let dir = root.join(&spec.kust_root);
    let meta = std::fs::metadata(&dir).map_err(|_| {
        format!(
            "no directory {:?} in the repository at {}",
            spec.kust_root,
            ref_shown(spec)
        )
    })?;
    if !meta.is_dir() {
        return Err(format!(
            "{:?} in the repository is a file; expecting a directory",
            spec.kust_root
        ));
    }
    let real = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if !real.starts_with(root) {
        return Err(format!(
            "{:?} refers to a directory outside of the repository",
            spec.kust_root
        ));
    }
    Ok(real)
}

fn ref_shown(spec: &RepoSpec) -> String {
    if spec.git_ref.is_empty() {
        "HEAD".to_owned()
    } else {
        format!("ref {:?}", spec.git_ref)
    }
}

/// Turns an error string of this module into the crate's error for a kustomization entry.
pub fn entry_error(kustomization: &str, field: &str, entry: &str, message: &str) -> Error {
    Error::Remote(format!(
        "{kustomization}: {field} entry {:?}: {message}",
        gitops::git::redact_url(entry)
    ))
}

/// A remote `resources`, `components`, `generators` or `transformers` entry, fetched; `None`
/// when the entry is local. kustomize's order: in `resources`, an HTTP(S) URL is first tried as
/// a file, and a local file wins over a Git target; then (and in the other fields) a Git
/// target wins over a local directory.
pub fn resolve(
    remotes: &Remotes,
    loader: &Loader,
    rel: &str,
    field: &str,
) -> Result<Option<Entry>, Error> {
    let kustomization = loader.kustomization_name();
    let spec = RepoSpec::parse(rel).ok();
    let fail = |message: &str| entry_error(&kustomization, field, rel, message);
    let disabled = |kind: &str| Error::RemoteDisabled {
        kustomization: kustomization.clone(),
        field: field.to_owned(),
        entry: gitops::git::redact_url(rel),
        kind: kind.to_owned(),
    };
    if field == "resources" && is_http(rel) {
        let git = spec.as_ref().filter(|_| remotes.options.git);
        if !remotes.options.http {
            return match git {
                Some(spec) => remotes.base(spec).map_err(|m| fail(&m)).map(Some),
                None => Err(disabled("files (HTTP URLs)")),
            };
        }
        let shown: std::sync::Arc<str> = std::sync::Arc::from(gitops::git::redact_url(rel));
        let failure = match http_get(rel, &remotes.options) {
            Ok(body) => {
                let parsed = String::from_utf8(body)
                    .map_err(|_| fail("the file is not UTF-8 text"))
                    .and_then(|text| manifest::parse_stream(&text, &shown).map_err(Error::Input));
                match (parsed, git) {
                    (Ok(objects), _) => return Ok(Some(Entry::Fetched(objects))),
                    // Not YAML: maybe a Git host's web page; kustomize then tries the Git
                    // repository and reports the YAML error if that fails too.
                    (Err(e), Some(spec)) => return remotes.base(spec).map(Some).map_err(|_| e),
                    (Err(e), None) => return Err(e),
                }
            }
            Err(f) => f,
        };
        return match (failure, git) {
            (HttpFailure::TooLarge(_), _) => Err(fail(&failure_text(&HttpFailure::TooLarge(
                remotes.options.http_max_bytes,
            )))),
            // A URL that is no file but names a repository (`https://host/org/repo//dir`).
            (HttpFailure::Status(_), Some(spec)) => {
                remotes.base(spec).map_err(|m| fail(&m)).map(Some)
            }
            (HttpFailure::Transport(m), Some(spec)) => remotes
                .base(spec)
                .map_err(|g| {
                    fail(&format!(
                        "cannot GET it ({m}), nor fetch it as a Git repository: {g}"
                    ))
                })
                .map(Some),
            (f, _) => Err(fail(&failure_text(&f))),
        };
    }
    if field == "resources" && loader.dir.join(rel).is_file() {
        return Ok(None);
    }
    let Some(spec) = spec else {
        return Ok(None);
    };
    if !remotes.options.git {
        return Err(disabled("Git repositories"));
    }
    remotes.base(&spec).map_err(|m| fail(&m)).map(Some)
}

pub fn failure_text(f: &HttpFailure) -> String {
    match f {
        HttpFailure::Transport(m) => format!("cannot GET it: {m}"),
        other => other.to_string(),
    }
}

impl Remotes {
    /// The kustomization directory of a Git target, fetched.
    fn base(&self, spec: &RepoSpec) -> Result<Entry, String> {
        let root = self.checkout(spec)?;
        kustomization_dir(&root, spec).map(Entry::Dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> RepoSpec {
        RepoSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// kustomize's TestNewRepoSpecFromUrl_Permute: every host form with every repo, path and
    /// ref.
    #[test]
    fn permutations_of_hosts_paths_and_refs() {
        let hosts = [
            ("gitHub.com/", "https://github.com/"),
            ("github.com:", "https://github.com/"),
            ("http://github.com/", "https://github.com/"),
            ("https://github.com/", "https://github.com/"),
            ("hTTps://github.com/", "https://github.com/"),
            (
                "https://git-codecommit.us-east-2.amazonaws.com/",
                "https://git-codecommit.us-east-2.amazonaws.com/",
            ),
            (
                "https://fabrikops2.visualstudio.com/",
                "https://fabrikops2.visualstudio.com/",
            ),
            ("ssh://git.example.com:7999/", "ssh://git.example.com:7999/"),
            ("git::https://gitlab.com/", "https://gitlab.com/"),
            ("git::http://git.example.com/", "http://git.example.com/"),
            ("git::https://git.example.com/", "https://git.example.com/"),
            ("git@github.com:", "git@github.com:"),
            ("git@github.com/", "git@github.com:"),
            ("git::git@github.com:", "git@github.com:"),
            ("org-12345@github.com:", "org-12345@github.com:"),
            ("org-12345@github.com/", "org-12345@github.com:"),
        ];
        let mut n = 0;
        for (raw, host) in hosts {
            for repo in ["someOrg/someRepo", "kubernetes/website"] {
                for path in ["README.md", "foo/krusty.txt", ""] {
                    for r in ["group/version", "someBranch", "master", "v0.1.0", ""] {
                        let mut url = format!("{raw}{repo}");
                        if !path.is_empty() {
                            url = format!("{url}/{path}");
                        }
                        if !r.is_empty() {
                            url = format!("{url}?ref={r}");
                        }
                        let s = spec(&url);
                        assert_eq!(s.host, host, "{url}");
                        assert_eq!(s.repo_path, repo, "{url}");
                        assert_eq!(s.kust_root, path, "{url}");
                        assert_eq!(s.git_ref, r, "{url}");
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 16 * 2 * 3 * 5);
    }

    /// kustomize's TestNewRepoSpecFromUrlErrors.
    #[test]
    fn not_remote_targets() {
        for (url, why) in [
            ("/tmp", "uri looks like abs path"),
            ("../../tmp", "failed to parse scheme"),
            ("src/github.com/org/repo/path", "failed to parse scheme"),
            ("iauhsdiuashduas", "failed to parse scheme"),
            ("htxxxtp://github.com/", "failed to parse scheme"),
            ("ssh://git.example.com", "failed to parse repo path segment"),
            ("git::___", "failed to parse scheme"),
            (
                "https://host?ref=group/version/minor_version",
                "failed to parse repo path segment",
            ),
            (
                "https://github.com/org/repo.git//path/../../exits/repo",
                "url path exits repo",
            ),
            ("github.com!org/repo.git//path", "failed to parse scheme"),
            ("gh:org/repo", "failed to parse scheme"),
            (
                "https://github.com/thisisa404.yaml",
                "failed to parse repo path segment",
            ),
            (
                "file:////tmp//path/to/whatever",
                "failed to parse repo path segment",
            ),
            (
                "git@scp://github.com/org/repo.git//path",
                "failed to parse repo path segment",
            ),
            (
                "git@ssh://github.com/org/repo.git//path",
                "failed to parse repo path segment",
            ),
            ("base", "failed to parse scheme"),
            ("deployment.yaml", "failed to parse scheme"),
        ] {
            let err = RepoSpec::parse(url).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    /// kustomize's TestNewRepoSpecFromUrl_Smoke: (input, clone URL, host, repo path, path, ref).
    #[test]
    fn smoke_cases() {
        let cases = [
            ("https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somedir", "https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo", "https://git-codecommit.us-east-2.amazonaws.com/", "someorg/somerepo", "somedir", ""),
            ("https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somedir?ref=testbranch", "https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo", "https://git-codecommit.us-east-2.amazonaws.com/", "someorg/somerepo", "somedir", "testbranch"),
            ("https://fabrikops2.visualstudio.com/someorg/somerepo?ref=master", "https://fabrikops2.visualstudio.com/someorg/somerepo", "https://fabrikops2.visualstudio.com/", "someorg/somerepo", "", "master"),
            ("http://github.com/someorg/somerepo/somedir", "https://github.com/someorg/somerepo", "https://github.com/", "someorg/somerepo", "somedir", ""),
            ("git@github.com:someorg/somerepo/somedir", "git@github.com:someorg/somerepo", "git@github.com:", "someorg/somerepo", "somedir", ""),
            ("http://github.com/someorg/somerepo.git/somedir", "https://github.com/someorg/somerepo.git", "https://github.com/", "someorg/somerepo.git", "somedir", ""),
            ("git@github.com:someorg/somerepo.git/somedir", "git@github.com:someorg/somerepo.git", "git@github.com:", "someorg/somerepo.git", "somedir", ""),
            ("git@gitlab2.sqtools.ru:infra/kubernetes/thanos-base.git?ref=v0.1.0", "git@gitlab2.sqtools.ru:infra/kubernetes/thanos-base.git", "git@gitlab2.sqtools.ru:", "infra/kubernetes/thanos-base.git", "", "v0.1.0"),
            ("git@bitbucket.org:company/project.git//path?ref=branch", "git@bitbucket.org:company/project.git", "git@bitbucket.org:", "company/project.git", "path", "branch"),
            ("git@bitbucket.org/company/project.git//path?ref=branch", "git@bitbucket.org/company/project.git", "git@bitbucket.org/", "company/project.git", "path", "branch"),
            ("ssh://git@bitbucket.org/company/project.git//path?ref=branch", "ssh://git@bitbucket.org/company/project.git", "ssh://git@bitbucket.org/", "company/project.git", "path", "branch"),
            ("https://itfs.mycompany.com/collection/project/_git/somerepos", "https://itfs.mycompany.com/collection/project/_git/somerepos", "https://itfs.mycompany.com/", "collection/project/_git/somerepos", "", ""),
            ("https://itfs.mycompany.com/collection/project/_git/somerepos?version=v1.0.0", "https://itfs.mycompany.com/collection/project/_git/somerepos", "https://itfs.mycompany.com/", "collection/project/_git/somerepos", "", "v1.0.0"),
            ("https://itfs.mycompany.com/collection/project/_git/somerepos/somedir?version=v1.0.0", "https://itfs.mycompany.com/collection/project/_git/somerepos", "https://itfs.mycompany.com/", "collection/project/_git/somerepos", "somedir", "v1.0.0"),
            ("git::https://itfs.mycompany.com/collection/project/_git/somerepos", "https://itfs.mycompany.com/collection/project/_git/somerepos", "https://itfs.mycompany.com/", "collection/project/_git/somerepos", "", ""),
            ("https://bitbucket.example.com/scm/project/repository.git", "https://bitbucket.example.com/scm/project/repository.git", "https://bitbucket.example.com/", "scm/project/repository.git", "", ""),
            ("ssh://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somepath", "ssh://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo", "ssh://git-codecommit.us-east-2.amazonaws.com/", "someorg/somerepo", "somepath", ""),
            ("git@github.com/someorg/somerepo/somepath", "git@github.com:someorg/somerepo", "git@github.com:", "someorg/somerepo", "somepath", ""),
            ("https://github.com/kubernetes-sigs/kustomize//examples/multibases/dev/?ref=v1.0.6", "https://github.com/kubernetes-sigs/kustomize", "https://github.com/", "kubernetes-sigs/kustomize", "examples/multibases/dev/", "v1.0.6"),
            ("file://a/b/c/someRepo.git/somepath?ref=someBranch", "file://a/b/c/someRepo.git", "file://", "a/b/c/someRepo.git", "somepath", "someBranch"),
            ("file://a/b/c/someRepo//somepath?ref=someBranch", "file://a/b/c/someRepo", "file://", "a/b/c/someRepo", "somepath", "someBranch"),
            ("file://a/b/c/someRepo?ref=someBranch", "file://a/b/c/someRepo", "file://", "a/b/c/someRepo", "", "someBranch"),
            ("file:///a/b/c/someRepo?ref=someBranch", "file:///a/b/c/someRepo", "file://", "/a/b/c/someRepo", "", "someBranch"),
            ("ssh://git@github.com/kubernetes-sigs/kustomize//examples/multibases/dev?ref=v1.0.6", "git@github.com:kubernetes-sigs/kustomize", "git@github.com:", "kubernetes-sigs/kustomize", "examples/multibases/dev", "v1.0.6"),
            ("file:///a/b/c/someRepo", "file:///a/b/c/someRepo", "file://", "/a/b/c/someRepo", "", ""),
            ("file:///", "file:///", "file://", "/", "", ""),
            ("https://example.org/path/to/repo//examples/multibases/dev", "https://example.org/path/to/repo", "https://example.org/", "path/to/repo", "examples/multibases/dev", ""),
            ("https://example.org/path/to/repo.git/examples/multibases/dev", "https://example.org/path/to/repo.git", "https://example.org/", "path/to/repo.git", "examples/multibases/dev", ""),
            ("ssh://alice@example.com/path/to/repo//examples/multibases/dev", "ssh://alice@example.com/path/to/repo", "ssh://alice@example.com/", "path/to/repo", "examples/multibases/dev", ""),
            ("https://authority/org/repo?ref=group/version", "https://authority/org/repo", "https://authority/", "org/repo", "", "group/version"),
            ("https://authority/org/repo/?ref=includes_git/for_some_reason", "https://authority/org/repo", "https://authority/", "org/repo", "", "includes_git/for_some_reason"),
            ("https://authority/org/repo/?ref=includes.git/for_some_reason", "https://authority/org/repo", "https://authority/", "org/repo", "", "includes.git/for_some_reason"),
            ("https://authority/org/repo/%-invalid-uri-so-not-parsable-by-net/url.Parse", "https://authority/org/repo", "https://authority/", "org/repo", "%-invalid-uri-so-not-parsable-by-net/url.Parse", ""),
            ("ssh://myusername@bitbucket.org/ourteamname/ourrepositoryname.git//path?ref=branch", "ssh://myusername@bitbucket.org/ourteamname/ourrepositoryname.git", "ssh://myusername@bitbucket.org/", "ourteamname/ourrepositoryname.git", "path", "branch"),
            ("file://git@home/path/to/repository.git//path?ref=branch", "file://git@home/path/to/repository.git", "file://", "git@home/path/to/repository.git", "path", "branch"),
            ("http://git@home.com/path/to/repository.git//path?ref=branch", "http://git@home.com/path/to/repository.git", "http://git@home.com/", "path/to/repository.git", "path", "branch"),
            ("https://git@home.com/path/to/repository.git//path?ref=branch", "https://git@home.com/path/to/repository.git", "https://git@home.com/", "path/to/repository.git", "path", "branch"),
            ("ssh://git@ssh.github.com:443/YOUR-USERNAME/YOUR-REPOSITORY.git", "ssh://git@ssh.github.com:443/YOUR-USERNAME/YOUR-REPOSITORY.git", "ssh://git@ssh.github.com:443/", "YOUR-USERNAME/YOUR-REPOSITORY.git", "", ""),
            ("git@gitlab.com/user:name/YOUR-REPOSITORY.git/path", "git@gitlab.com/user:name/YOUR-REPOSITORY.git", "git@gitlab.com/", "user:name/YOUR-REPOSITORY.git", "path", ""),
            ("git@gitlab.com:gitlab-tests/sample-project.git", "git@gitlab.com:gitlab-tests/sample-project.git", "git@gitlab.com:", "gitlab-tests/sample-project.git", "", ""),
            ("git@gitlab.com:gitlab-tests/sample-project", "git@gitlab.com:gitlab-tests/sample-project", "git@gitlab.com:", "gitlab-tests/sample-project", "", ""),
            ("https://username@dev.azure.com/org/project/_git/repo//path/to/kustomization/root", "https://username@dev.azure.com/org/project/_git/repo", "https://username@dev.azure.com/", "org/project/_git/repo", "path/to/kustomization/root", ""),
            ("https://org.visualstudio.com/project/_git/repo/path/to/kustomization/root", "https://org.visualstudio.com/project/_git/repo", "https://org.visualstudio.com/", "project/_git/repo", "path/to/kustomization/root", ""),
            ("ssh://org-12345@github.com/kubernetes-sigs/kustomize", "org-12345@github.com:kubernetes-sigs/kustomize", "org-12345@github.com:", "kubernetes-sigs/kustomize", "", ""),
            ("org-12345@github.com/kubernetes-sigs/kustomize", "org-12345@github.com:kubernetes-sigs/kustomize", "org-12345@github.com:", "kubernetes-sigs/kustomize", "", ""),
            ("git@gist.github.com:bc7947cb727d7f9217e7862d961a1ffd.git", "git@gist.github.com:bc7947cb727d7f9217e7862d961a1ffd.git", "git@gist.github.com:", "bc7947cb727d7f9217e7862d961a1ffd.git", "", ""),
            ("https://gist.github.com/bc7947cb727d7f9217e7862d961a1ffd.git", "https://gist.github.com/bc7947cb727d7f9217e7862d961a1ffd.git", "https://gist.github.com/", "bc7947cb727d7f9217e7862d961a1ffd.git", "", ""),
        ];
        for (input, clone, host, repo, path, r) in cases {
            let s = spec(input);
            assert_eq!(s.clone_url(), clone, "{input}");
            assert_eq!(
                (
                    s.host.as_str(),
                    s.repo_path.as_str(),
                    s.kust_root.as_str(),
                    s.git_ref.as_str()
                ),
                (host, repo, path, r),
                "{input}"
            );
            assert_eq!(s.raw, input);
        }
    }

    /// kustomize's TestParseQuery and the default query parameters.
    #[test]
    fn query_parameters() {
        let s = 27;
        for (query, r, timeout, submodules) in [
            ("", "", s, true),
            ("ref=v1.0.0", "v1.0.0", s, true),
            ("ref=kustomize/v4.5.7", "kustomize/v4.5.7", s, true),
            ("version=master", "master", s, true),
            ("version=master&ref=v1.0.0", "v1.0.0", s, true),
            ("version=master&submodules=", "master", s, true),
            ("version=master&submodules=maybe", "master", s, true),
            ("version=master&submodules=true", "master", s, true),
            ("version=master&submodules=false", "master", s, false),
            ("version=master&timeout=", "master", s, true),
            ("version=master&timeout=jiffy", "master", s, true),
            ("version=master&timeout=0", "master", s, true),
            ("version=master&timeout=0s", "master", s, true),
            ("version=master&timeout=61", "master", 61, true),
            ("version=master&timeout=1m1s", "master", 61, true),
            (
                "version=master&submodules=false&timeout=1m1s",
                "master",
                61,
                false,
            ),
            ("ref=a%2Fb", "a/b", s, true),
            ("ref=v1;x", "", s, true),
        ] {
            assert_eq!(
                parse_query(query),
                (r.to_owned(), Duration::from_secs(timeout), submodules),
                "{query}"
            );
        }
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("5"), None);
        let d = spec("https://github.com/org/repo");
        assert!(d.submodules);
        assert_eq!(d.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn http_entries() {
        assert!(is_http("https://example.com/x.yaml"));
        assert!(is_http("HTTP://example.com/x.yaml"));
        assert!(!is_http("git@github.com:org/repo"));
        assert!(!is_http("base"));
        assert!(exits_repo("../x"));
        assert!(exits_repo("a/../../x"));
        assert!(!exits_repo("a/../x"));
    }
}
