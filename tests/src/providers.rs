//! Local HTTP servers that check pull-request API calls against the documented REST shapes of
//! GitHub, GitLab, Azure DevOps, Gitea, Bitbucket Cloud and Bitbucket Data Center, and answer as
//! those providers do. They are mocks (no such server can be run in the tests), written from
//! each provider's REST reference, not recorded from a live server.
//!
//! Each mock keeps its pull requests in memory. Every request is checked (method, path, query,
//! auth header, JSON fields and their types); a request that breaks the provider's contract is
//! answered 400 and recorded in [`Mock::violations`], which tests assert to be empty. Sources:
//! - GitHub REST "Pulls" (`/repos/{owner}/{repo}/pulls`, `Authorization: Bearer`,
//!   `Accept: application/vnd.github+json`) and GraphQL `enablePullRequestAutoMerge`.
//! - GitLab REST v4 "Merge requests" (`/projects/:id/merge_requests`, URL-encoded project path,
//!   `PRIVATE-TOKEN`), `PUT …/merge` with `auto_merge` / `merge_when_pipeline_succeeds`.
//! - Azure DevOps REST 7.1 "Pull Requests" (`{org}/{project}/_apis/git/repositories/{repo}/pullrequests`,
//!   `api-version=7.1`, Basic auth with an empty user and the PAT), `autoCompleteSetBy`.
//! - Gitea API v1 (`/repos/{owner}/{repo}/pulls`, `Authorization: token`), `POST …/merge`.
//! - Bitbucket Cloud REST 2.0 (`/2.0/repositories/{workspace}/{repo_slug}/pullrequests`,
//!   `Authorization: Bearer` access token, BBQL `q` filters, `source`/`destination` branch
//!   objects, states OPEN/MERGED/DECLINED/SUPERSEDED, `{"type": "error", "error": {…}}` errors).
//! - Bitbucket Data Center REST 1.0 (`/rest/api/1.0/projects/{key}/repos/{slug}/pull-requests`,
//!   `Authorization: Bearer` HTTP access token, `fromRef`/`toRef` with full ref ids, `at` +
//!   `direction` filters, paged `values`/`isLastPage`, updates carrying the current `version`
//!   (409 when stale), `POST …/{id}/auto-merge` (Bitbucket 8.15+), `{"errors": […]}` errors).

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::git_http::{decode, Request, Response, Server};

/// Which provider a mock plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Github,
    Gitlab,
    Azure,
    Gitea,
    Bitbucket,
    BitbucketServer,
}

impl Kind {
    /// The `--provider` value.
    pub fn flag(self) -> &'static str {
        match self {
            Kind::Github => "github",
            Kind::Gitlab => "gitlab",
            Kind::Azure => "azure",
            Kind::Gitea => "gitea",
            Kind::Bitbucket => "bitbucket",
            Kind::BitbucketServer => "bitbucket-server",
        }
    }

    /// The environment variable the tool reads the token from.
    pub fn token_var(self) -> &'static str {
        match self {
            Kind::Github => "GITHUB_TOKEN",
            Kind::Gitlab => "GITLAB_TOKEN",
            Kind::Azure => "AZURE_DEVOPS_EXT_PAT",
            Kind::Gitea => "GITEA_TOKEN",
            Kind::Bitbucket | Kind::BitbucketServer => "BITBUCKET_TOKEN",
        }
    }

    /// The `--project` value the mock serves.
    pub fn project(self) -> &'static str {
        match self {
            Kind::Github | Kind::Gitea => "acme/gitops",
            Kind::Gitlab => "platform/deploy/gitops",
            Kind::Azure => "acme/platform/gitops",
            Kind::Bitbucket => "acme/gitops",
            Kind::BitbucketServer => "PLAT/gitops",
        }
    }
}

/// One pull request the mock holds.
#[derive(Debug, Clone)]
pub struct Pr {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    /// open, merged or closed.
    pub state: String,
    pub auto_merge: bool,
    /// Bitbucket Data Center's optimistic-locking version (bumped by every update).
    pub version: u64,
}

#[derive(Debug, Default)]
struct State {
    prs: Vec<Pr>,
    requests: Vec<String>,
    violations: Vec<String>,
    /// Answer every request with this status and message (echoing the token, as some servers do).
    fail: Option<u16>,
    /// Answer every request with 403 and a message repeating the request's auth header value.
    echo_auth: bool,
    /// After this many state polls an open PR becomes `finish`.
    polls_left: Option<u32>,
    finish: String,
}

/// A running mock provider.
pub struct Mock {
    pub kind: Kind,
    pub token: String,
    state: Arc<Mutex<State>>,
    server: Server,
}

impl Mock {
    /// Starts a mock of `kind` accepting `token`.
    pub fn start(kind: Kind, token: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let tok = token.to_owned();
        let server = Server::start(move |req| {
            let mut st = shared.lock().expect("mock state");
            st.requests.push(format!("{} {}", req.method, req.path));
            if let Some(code) = st.fail {
                return Response::json(
                    code,
                    &json!({"message": format!("server error for token {tok}")}),
                );
            }
            if st.echo_auth {
                let sent = req
                    .header("authorization")
                    .or_else(|| req.header("private-token"))
                    .unwrap_or_default();
                return Response::json(
                    403,
                    &json!({"message": format!("credentials {sent} may not do this")}),
                );
            }
            let result = match kind {
                Kind::Github => github(&mut st, &req, &tok),
                Kind::Gitlab => gitlab(&mut st, &req, &tok),
                Kind::Azure => azure(&mut st, &req, &tok),
                Kind::Gitea => gitea(&mut st, &req, &tok),
                Kind::Bitbucket => bitbucket(&mut st, &req, &tok),
                Kind::BitbucketServer => bitbucket_server(&mut st, &req, &tok),
            };
            match result {
                Ok(resp) => resp,
                Err(Violation(status, msg)) => {
                    if status == 400 {
                        st.violations
                            .push(format!("{} {}: {msg}", req.method, req.path));
                    }
                    // Each host's documented error body.
                    let body = match kind {
                        Kind::Bitbucket => json!({"type": "error", "error": {"message": msg}}),
                        Kind::BitbucketServer => {
                            json!({"errors": [{"context": null, "message": msg, "exceptionName": null}]})
                        }
                        _ => json!({"message": msg}),
                    };
                    Response::json(status, &body)
                }
            }
        });
        Mock {
            kind,
            token: token.to_owned(),
            state,
            server,
        }
    }

    /// The `--api-url` to give the tool.
    pub fn api_url(&self) -> String {
        match self.kind {
            Kind::Github => self.server.base(),
            Kind::Gitlab => format!("{}/api/v4", self.server.base()),
            Kind::Azure => format!("{}/acme", self.server.base()),
            Kind::Gitea => format!("{}/api/v1", self.server.base()),
            Kind::Bitbucket => format!("{}/2.0", self.server.base()),
            Kind::BitbucketServer => format!("{}/rest/api/1.0", self.server.base()),
        }
    }

    /// Requests that broke the provider's documented contract.
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().expect("mock state").violations.clone()
    }

    /// `METHOD /path` of every request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("mock state").requests.clone()
    }

    pub fn prs(&self) -> Vec<Pr> {
        self.state.lock().expect("mock state").prs.clone()
    }

    /// From now on, answer everything with `status` (and a message echoing the token).
    pub fn fail_with(&self, status: u16) {
        self.state.lock().expect("mock state").fail = Some(status);
    }

    /// From now on, answer everything with 403 and a message repeating the auth header's value
    /// (as a misconfigured proxy or server may do).
    pub fn echo_auth(&self) {
        self.state.lock().expect("mock state").echo_auth = true;
    }

    /// Open pull requests become merged (or closed) after `polls` state queries.
    pub fn finish_after(&self, polls: u32, merged: bool) {
        let mut st = self.state.lock().expect("mock state");
        st.polls_left = Some(polls);
        st.finish = if merged {
            "merged".into()
        } else {
            "closed".into()
        };
    }
}

struct Violation(u16, String);

fn bad(msg: impl Into<String>) -> Violation {
    Violation(400, msg.into())
}

type Answer = Result<Response, Violation>;

fn body(req: &Request) -> Result<Value, Violation> {
    if req
        .header("content-type")
        .is_none_or(|t| !t.starts_with("application/json"))
    {
        return Err(bad("JSON body without Content-Type: application/json"));
    }
    serde_json::from_slice(&req.body).map_err(|e| bad(format!("body is not JSON: {e}")))
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, Violation> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("missing string field {name:?}")))
}

fn optional_string(v: &Value, name: &str) -> Result<Option<String>, Violation> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("field {name:?} must be a string"))),
    }
}

/// Only these fields may be sent (catches misspelt ones, which real servers silently ignore).
fn only(v: &Value, allowed: &[&str]) -> Result<(), Violation> {
    if let Some(map) = v.as_object() {
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(bad(format!("unknown field {k:?}")));
            }
        }
    }
    Ok(())
}

fn poll(st: &mut State, number: u64) {
    let finish = st.finish.clone();
    if let Some(left) = st.polls_left.as_mut() {
        if *left == 0 {
            if let Some(pr) = st
                .prs
                .iter_mut()
                .find(|p| p.number == number && p.state == "open")
            {
                pr.state = finish;
            }
        } else {
            *left -= 1;
        }
    }
}

fn create(
    st: &mut State,
    head: &str,
    base: &str,
    title: &str,
    body: &str,
) -> Result<Pr, Violation> {
    if st
        .prs
        .iter()
        .any(|p| p.head == head && p.base == base && p.state == "open")
    {
        return Err(Violation(
            409,
            format!("a pull request already exists for {head}"),
        ));
    }
    let pr = Pr {
        number: st.prs.len() as u64 + 1,
        head: head.to_owned(),
        base: base.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        state: "open".into(),
        auto_merge: false,
        version: 0,
    };
    st.prs.push(pr.clone());
    Ok(pr)
}

fn find(st: &mut State, number: &str) -> Result<usize, Violation> {
    let n: u64 = number
        .parse()
        .map_err(|_| bad(format!("{number:?} is not a number")))?;
    st.prs
        .iter()
        .position(|p| p.number == n)
        .ok_or_else(|| Violation(404, "Not Found".into()))
}

// --- GitHub -----------------------------------------------------------------------------------

fn github(st: &mut State, req: &Request, token: &str) -> Answer {
    if req.header("authorization") != Some(format!("Bearer {token}").as_str()) {
        return Err(Violation(401, "Bad credentials".into()));
    }
    if req.header("accept") != Some("application/vnd.github+json") {
        return Err(bad("Accept must be application/vnd.github+json"));
    }
    if req.header("user-agent").is_none_or(str::is_empty) {
        return Err(Violation(
            403,
            "Request forbidden by administrative rules: no User-Agent".into(),
        ));
    }
    let pr_json = |p: &Pr| {
        json!({
            "id": 1000 + p.number, "node_id": format!("PR_node{}", p.number), "number": p.number,
            "html_url": format!("https://github.com/acme/gitops/pull/{}", p.number),
            "url": format!("https://api.github.com/repos/acme/gitops/pulls/{}", p.number),
            "state": if p.state == "open" { "open" } else { "closed" }, "merged": p.state == "merged",
            "title": p.title, "body": p.body,
            "head": {"ref": p.head, "label": format!("acme:{}", p.head)}, "base": {"ref": p.base},
        })
    };
    if req.method == "POST" && req.path == "/graphql" {
        let v = body(req)?;
        let query = field(&v, "query")?;
        if !query.contains("enablePullRequestAutoMerge") {
            return Err(bad("unexpected GraphQL query"));
        }
        let id = v
            .pointer("/variables/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(pr) = st
            .prs
            .iter_mut()
            .find(|p| format!("PR_node{}", p.number) == id)
        else {
            return Ok(Response::json(
                200,
                &json!({"data": null, "errors": [{"message": "Could not resolve to a node"}]}),
            ));
        };
        pr.auto_merge = true;
        return Ok(Response::json(
            200,
            &json!({"data": {"enablePullRequestAutoMerge": {"pullRequest": {"number": pr.number}}}}),
        ));
    }
    let rest = req
        .path
        .strip_prefix("/repos/acme/gitops/pulls")
        .ok_or_else(|| Violation(404, "Not Found".into()))?;
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            let p = req.params();
            let head = p.get("head").cloned().unwrap_or_default();
            if !head.is_empty() && !head.contains(':') {
                return Err(bad("head must be user:ref-name"));
            }
            let list: Vec<Value> = st
                .prs
                .iter()
                .filter(|pr| {
                    let state = p.get("state").map_or("open", String::as_str);
                    (state == "all" || (state == "open") == (pr.state == "open"))
                        && (head.is_empty() || head == format!("acme:{}", pr.head))
                        && p.get("base").is_none_or(|b| *b == pr.base)
                })
                .map(pr_json)
                .collect();
            Ok(Response::json(200, &Value::Array(list)))
        }
        ("POST", "") => {
            let v = body(req)?;
            only(
                &v,
                &[
                    "title",
                    "head",
                    "base",
                    "body",
                    "draft",
                    "maintainer_can_modify",
                    "head_repo",
                    "issue",
                ],
            )?;
            let (title, head, base) = (field(&v, "title")?, field(&v, "head")?, field(&v, "base")?);
            let text = optional_string(&v, "body")?.unwrap_or_default();
            match create(st, head, base, title, &text) {
                Ok(pr) => Ok(Response::json(201, &pr_json(&pr))),
                Err(Violation(409, _)) => Err(Violation(
                    422,
                    format!("Validation Failed: A pull request already exists for acme:{head}."),
                )),
                Err(e) => Err(e),
            }
        }
        (method, n) if n.starts_with('/') => {
            let i = find(st, &n[1..])?;
            match method {
                "GET" => {
                    let number = st.prs[i].number;
                    poll(st, number);
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                "PATCH" => {
                    let v = body(req)?;
                    only(
                        &v,
                        &["title", "body", "state", "base", "maintainer_can_modify"],
                    )?;
                    if let Some(t) = optional_string(&v, "title")? {
                        st.prs[i].title = t;
                    }
                    if let Some(b) = optional_string(&v, "body")? {
                        st.prs[i].body = b;
                    }
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                _ => Err(Violation(404, "Not Found".into())),
            }
        }
        _ => Err(Violation(404, "Not Found".into())),
    }
}

// --- GitLab -----------------------------------------------------------------------------------

fn gitlab(st: &mut State, req: &Request, token: &str) -> Answer {
    let authorised = req.header("private-token") == Some(token)
        || req.header("authorization") == Some(format!("Bearer {token}").as_str());
    if !authorised {
        return Err(Violation(401, "401 Unauthorized".into()));
    }
    // The project id is the URL-encoded full path (or a number); a raw slash is another route.
    let prefix = "/api/v4/projects/platform%2Fdeploy%2Fgitops/merge_requests";
    let Some(rest) = req
        .path
        .strip_prefix(prefix)
        .or_else(|| req.path.strip_prefix(&prefix.replace("%2F", "%2f")))
    else {
        if req.path.starts_with("/api/v4/projects/platform/") {
            return Err(bad(
                "project path must be URL-encoded (platform%2Fdeploy%2Fgitops)",
            ));
        }
        return Err(Violation(404, "404 Project Not Found".into()));
    };
    let mr_json = |p: &Pr| {
        let state = match p.state.as_str() {
            "open" => "opened",
            s => s,
        };
        json!({
            "id": 5000 + p.number, "iid": p.number, "project_id": 42,
            "web_url": format!("https://gitlab.example.com/platform/deploy/gitops/-/merge_requests/{}", p.number),
            "state": state, "title": p.title, "description": p.body,
            "source_branch": p.head, "target_branch": p.base,
            "merge_when_pipeline_succeeds": p.auto_merge,
        })
    };
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            let p = req.params();
            if let Some(s) = p.get("state") {
                if !["opened", "closed", "locked", "merged", "all"].contains(&s.as_str()) {
                    return Err(bad(format!(
                        "state {s:?} is not one of opened, closed, locked, merged"
                    )));
                }
            }
            let list: Vec<Value> = st
                .prs
                .iter()
                .filter(|pr| {
                    p.get("state")
                        .is_none_or(|s| s == "all" || *s == mr_json(pr)["state"])
                        && p.get("source_branch").is_none_or(|b| *b == pr.head)
                        && p.get("target_branch").is_none_or(|b| *b == pr.base)
                })
                .map(mr_json)
                .collect();
            Ok(Response::json(200, &Value::Array(list)))
        }
        ("POST", "") => {
            let v = body(req)?;
            only(
                &v,
                &[
                    "source_branch",
                    "target_branch",
                    "title",
                    "description",
                    "remove_source_branch",
                    "assignee_id",
                    "labels",
                    "squash",
                ],
            )?;
            let (head, base, title) = (
                field(&v, "source_branch")?,
                field(&v, "target_branch")?,
                field(&v, "title")?,
            );
            let text = optional_string(&v, "description")?.unwrap_or_default();
            match create(st, head, base, title, &text) {
                Ok(pr) => Ok(Response::json(201, &mr_json(&pr))),
                Err(Violation(409, _)) => Err(Violation(409, format!("Another open merge request already exists for this source branch: !1 {head}"))),
                Err(e) => Err(e),
            }
        }
        (method, n) if n.starts_with('/') => {
            let (iid, action) = n[1..].split_once('/').unwrap_or((&n[1..], ""));
            let i = find(st, iid)?;
            match (method, action) {
                ("GET", "") => {
                    let number = st.prs[i].number;
                    poll(st, number);
                    Ok(Response::json(200, &mr_json(&st.prs[i])))
                }
                ("PUT", "") => {
                    let v = body(req)?;
                    only(
                        &v,
                        &[
                            "title",
                            "description",
                            "target_branch",
                            "state_event",
                            "labels",
                        ],
                    )?;
                    if let Some(t) = optional_string(&v, "title")? {
                        st.prs[i].title = t;
                    }
                    if let Some(b) = optional_string(&v, "description")? {
                        st.prs[i].body = b;
                    }
                    Ok(Response::json(200, &mr_json(&st.prs[i])))
                }
                ("PUT", "merge") => {
                    let v = body(req)?;
                    only(
                        &v,
                        &[
                            "auto_merge",
                            "merge_when_pipeline_succeeds",
                            "should_remove_source_branch",
                            "sha",
                            "squash",
                            "merge_commit_message",
                        ],
                    )?;
                    let auto = [v.get("auto_merge"), v.get("merge_when_pipeline_succeeds")]
                        .iter()
                        .any(|f| f.and_then(Value::as_bool) == Some(true));
                    if !auto {
                        return Err(bad(
                            "expected auto_merge or merge_when_pipeline_succeeds: true",
                        ));
                    }
                    st.prs[i].auto_merge = true;
                    Ok(Response::json(200, &mr_json(&st.prs[i])))
                }
                _ => Err(Violation(404, "404 Not Found".into())),
            }
        }
        _ => Err(Violation(404, "404 Not Found".into())),
    }
}

// --- Azure DevOps -----------------------------------------------------------------------------

fn azure(st: &mut State, req: &Request, token: &str) -> Answer {
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(":{token}"))
    );
    if req.header("authorization") != Some(basic.as_str())
        && req.header("authorization") != Some(format!("Bearer {token}").as_str())
    {
        // Azure DevOps answers unauthenticated API calls with 203 and a sign-in page, or 401.
        return Err(Violation(
            401,
            "TF400813: The user is not authorized to access this resource.".into(),
        ));
    }
    let params = req.params();
    if params.get("api-version").map(String::as_str) != Some("7.1") {
        return Err(bad("api-version=7.1 is required"));
    }
    let rest = req
        .path
        .strip_prefix("/acme/platform/_apis/git/repositories/gitops/pullrequests")
        .ok_or_else(|| Violation(404, "TF200016: The following project does not exist".into()))?;
    let pr_json = |p: &Pr| {
        let status = match p.state.as_str() {
            "open" => "active",
            "merged" => "completed",
            _ => "abandoned",
        };
        json!({
            "pullRequestId": p.number, "codeReviewId": p.number, "status": status,
            "title": p.title, "description": p.body,
            "sourceRefName": format!("refs/heads/{}", p.head), "targetRefName": format!("refs/heads/{}", p.base),
            "createdBy": {"id": "6f1a6c3e-0000-4000-8000-000000000001", "displayName": "Pipeline"},
            "autoCompleteSetBy": if p.auto_merge { json!({"id": "6f1a6c3e-0000-4000-8000-000000000001"}) } else { Value::Null },
            "url": format!("https://dev.azure.com/acme/platform/_apis/git/repositories/gitops/pullRequests/{}", p.number),
            "repository": {"id": "r1", "name": "gitops", "webUrl": "https://dev.azure.com/acme/platform/_git/gitops"},
        })
    };
    let refname = |v: &str| {
        v.strip_prefix("refs/heads/")
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{v:?} must be a full ref name (refs/heads/…)")))
    };
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            let source = params
                .get("searchCriteria.sourceRefName")
                .map(|s| refname(s))
                .transpose()?;
            let target = params
                .get("searchCriteria.targetRefName")
                .map(|s| refname(s))
                .transpose()?;
            let status = params
                .get("searchCriteria.status")
                .cloned()
                .unwrap_or_else(|| "active".into());
            let list: Vec<Value> = st
                .prs
                .iter()
                .map(pr_json)
                .filter(|v| status == "all" || v["status"] == status.as_str())
                .filter(|v| {
                    source
                        .as_ref()
                        .is_none_or(|s| v["sourceRefName"] == format!("refs/heads/{s}"))
                })
                .filter(|v| {
                    target
                        .as_ref()
                        .is_none_or(|t| v["targetRefName"] == format!("refs/heads/{t}"))
                })
                .collect();
            Ok(Response::json(
                200,
                &json!({"value": list, "count": list.len()}),
            ))
        }
        ("POST", "") => {
            let v = body(req)?;
            only(
                &v,
                &[
                    "sourceRefName",
                    "targetRefName",
                    "title",
                    "description",
                    "isDraft",
                    "reviewers",
                    "completionOptions",
                ],
            )?;
            let head = refname(field(&v, "sourceRefName")?)?;
            let base = refname(field(&v, "targetRefName")?)?;
            let title = field(&v, "title")?;
            let text = optional_string(&v, "description")?.unwrap_or_default();
            if text.chars().count() > 4000 {
                return Err(bad("description is longer than 4000 characters"));
            }
            match create(st, &head, &base, title, &text) {
                Ok(pr) => Ok(Response::json(201, &pr_json(&pr))),
                Err(Violation(409, _)) => Err(Violation(409, "TF401179: An active pull request for the source and target branch already exists.".into())),
                Err(e) => Err(e),
            }
        }
        (method, n) if n.starts_with('/') => {
            let i = find(st, &n[1..])?;
            match method {
                "GET" => {
                    let number = st.prs[i].number;
                    poll(st, number);
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                "PATCH" => {
                    let v = body(req)?;
                    only(
                        &v,
                        &[
                            "title",
                            "description",
                            "status",
                            "autoCompleteSetBy",
                            "completionOptions",
                        ],
                    )?;
                    if let Some(t) = optional_string(&v, "title")? {
                        st.prs[i].title = t;
                    }
                    if let Some(b) = optional_string(&v, "description")? {
                        st.prs[i].body = b;
                    }
                    if let Some(who) = v.get("autoCompleteSetBy") {
                        if who.get("id").and_then(Value::as_str)
                            != Some("6f1a6c3e-0000-4000-8000-000000000001")
                        {
                            return Err(bad("autoCompleteSetBy.id must be an identity id"));
                        }
                        st.prs[i].auto_merge = true;
                    }
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                _ => Err(Violation(404, "Not Found".into())),
            }
        }
        _ => Err(Violation(404, "Not Found".into())),
    }
}

// --- Gitea ------------------------------------------------------------------------------------

fn gitea(st: &mut State, req: &Request, token: &str) -> Answer {
    if req.header("authorization") != Some(format!("token {token}").as_str())
        && req.header("authorization") != Some(format!("Bearer {token}").as_str())
    {
        return Err(Violation(401, "token is required".into()));
    }
    let rest = req
        .path
        .strip_prefix("/api/v1/repos/acme/gitops/pulls")
        .ok_or_else(|| Violation(404, "The target couldn't be found.".into()))?;
    let pr_json = |p: &Pr| {
        json!({
            "id": 700 + p.number, "number": p.number,
            "html_url": format!("https://gitea.example.com/acme/gitops/pulls/{}", p.number),
            "url": format!("https://gitea.example.com/acme/gitops/pulls/{}", p.number),
            "state": if p.state == "open" { "open" } else { "closed" }, "merged": p.state == "merged",
            "title": p.title, "body": p.body,
            "head": {"ref": p.head, "label": p.head}, "base": {"ref": p.base, "label": p.base},
        })
    };
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            let p = req.params();
            let limit: usize = p
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(30)
                .min(50);
            let page: usize = p
                .get("page")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1)
                .max(1);
            let state = p.get("state").cloned().unwrap_or_else(|| "open".into());
            let list: Vec<Value> = st
                .prs
                .iter()
                .filter(|pr| state == "all" || (state == "open") == (pr.state == "open"))
                .skip((page - 1) * limit)
                .take(limit)
                .map(pr_json)
                .collect();
            Ok(Response::json(200, &Value::Array(list)))
        }
        ("POST", "") => {
            let v = body(req)?;
            only(
                &v,
                &[
                    "head",
                    "base",
                    "title",
                    "body",
                    "assignee",
                    "assignees",
                    "labels",
                    "milestone",
                    "due_date",
                    "reviewers",
                ],
            )?;
            let (head, base, title) = (field(&v, "head")?, field(&v, "base")?, field(&v, "title")?);
            let text = optional_string(&v, "body")?.unwrap_or_default();
            match create(st, head, base, title, &text) {
                Ok(pr) => Ok(Response::json(201, &pr_json(&pr))),
                Err(Violation(409, _)) => Err(Violation(409, format!("pull request already exists for these targets [head: {head}, base: {base}]"))),
                Err(e) => Err(e),
            }
        }
        (method, n) if n.starts_with('/') => {
            let (index, action) = n[1..].split_once('/').unwrap_or((&n[1..], ""));
            let i = find(st, &decode(index))?;
            match (method, action) {
                ("GET", "") => {
                    let number = st.prs[i].number;
                    poll(st, number);
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                ("PATCH", "") => {
                    let v = body(req)?;
                    only(
                        &v,
                        &["title", "body", "state", "base", "assignee", "labels"],
                    )?;
                    if let Some(t) = optional_string(&v, "title")? {
                        st.prs[i].title = t;
                    }
                    if let Some(b) = optional_string(&v, "body")? {
                        st.prs[i].body = b;
                    }
                    Ok(Response::json(201, &pr_json(&st.prs[i])))
                }
                ("POST", "merge") => {
                    let v = body(req)?;
                    only(
                        &v,
                        &[
                            "Do",
                            "merge_when_checks_succeed",
                            "delete_branch_after_merge",
                            "MergeTitleField",
                            "MergeMessageField",
                            "force_merge",
                            "head_commit_id",
                        ],
                    )?;
                    let how = field(&v, "Do")?;
                    if ![
                        "merge",
                        "rebase",
                        "rebase-merge",
                        "squash",
                        "fast-forward-only",
                        "manually-merged",
                    ]
                    .contains(&how)
                    {
                        return Err(bad(format!("Do {how:?} is not a merge style")));
                    }
                    if v.get("merge_when_checks_succeed").and_then(Value::as_bool) == Some(true) {
                        st.prs[i].auto_merge = true;
                    } else {
                        st.prs[i].state = "merged".into();
                    }
                    Ok(Response {
                        status: 200,
                        headers: vec![],
                        body: Vec::new(),
                    })
                }
                _ => Err(Violation(404, "Not Found".into())),
            }
        }
        _ => Err(Violation(404, "Not Found".into())),
    }
}

// --- Bitbucket Cloud --------------------------------------------------------------------------

/// Bitbucket Cloud's error body.
fn bb_error(status: u16, message: impl Into<String>) -> Violation {
    Violation(status, message.into())
}

/// Parses the BBQL filter we accept: `field = "value"` terms joined by ` AND `.
fn bbql(q: &str) -> Result<Vec<(String, String)>, Violation> {
    let mut terms = Vec::new();
    for term in q.split(" AND ") {
        let (field, value) = term
            .split_once('=')
            .ok_or_else(|| bad(format!("BBQL term {term:?} is not field = \"value\"")))?;
        let field = field.trim();
        let value = value.trim();
        if !["source.branch.name", "destination.branch.name", "state"].contains(&field) {
            return Err(bad(format!(
                "BBQL field {field:?} is not a pull request field"
            )));
        }
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| {
                bad(format!(
                    "BBQL value {value:?} must be a double-quoted string"
                ))
            })?;
        terms.push((field.to_owned(), inner.replace("\\\"", "\"")));
    }
    Ok(terms)
}

fn bitbucket(st: &mut State, req: &Request, token: &str) -> Answer {
    if req.header("authorization") != Some(format!("Bearer {token}").as_str()) {
        return Err(bb_error(
            401,
            "Token is invalid, expired, or not supported for this endpoint.",
        ));
    }
    let rest = req
        .path
        .strip_prefix("/2.0/repositories/acme/gitops/pullrequests")
        .ok_or_else(|| bb_error(404, "Repository not found"))?;
    let pr_json = |p: &Pr| {
        let state = match p.state.as_str() {
            "open" => "OPEN",
            "merged" => "MERGED",
            _ => "DECLINED",
        };
        json!({
            "type": "pullrequest", "id": p.number, "title": p.title, "description": p.body,
            "state": state,
            "source": {"branch": {"name": p.head}, "repository": {"full_name": "acme/gitops"}},
            "destination": {"branch": {"name": p.base}, "repository": {"full_name": "acme/gitops"}},
            "close_source_branch": true,
            "links": {
                "html": {"href": format!("https://bitbucket.org/acme/gitops/pull-requests/{}", p.number)},
                "self": {"href": format!("https://api.bitbucket.org/2.0/repositories/acme/gitops/pullrequests/{}", p.number)},
            },
        })
    };
    let branch_of = |v: &Value, side: &str| -> Result<String, Violation> {
        v.pointer(&format!("/{side}/branch/name"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{side}.branch.name must be a string")))
    };
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            let p = req.params();
            let state = p.get("state").map_or("OPEN", String::as_str);
            if !["OPEN", "MERGED", "DECLINED", "SUPERSEDED"].contains(&state) {
                return Err(bad(format!(
                    "state {state:?} is not OPEN, MERGED, DECLINED or SUPERSEDED"
                )));
            }
            let terms = match p.get("q") {
                Some(q) => bbql(q)?,
                None => Vec::new(),
            };
            let list: Vec<Value> = st
                .prs
                .iter()
                .map(pr_json)
                .filter(|v| v["state"] == state)
                .filter(|v| {
                    terms.iter().all(|(field, value)| {
                        let pointer = format!("/{}", field.replace('.', "/"));
                        v.pointer(&pointer).and_then(Value::as_str) == Some(value.as_str())
                    })
                })
                .collect();
            Ok(Response::json(
                200,
                &json!({"pagelen": 10, "size": list.len(), "page": 1, "values": list}),
            ))
        }
        ("POST", "") => {
            let v = body(req)?;
            only(
                &v,
                &[
                    "title",
                    "description",
                    "source",
                    "destination",
                    "close_source_branch",
                    "reviewers",
                    "draft",
                ],
            )?;
            let title = field(&v, "title")?;
            let head = branch_of(&v, "source")?;
            let base = branch_of(&v, "destination")?;
            let text = optional_string(&v, "description")?.unwrap_or_default();
            if let Some(c) = v.get("close_source_branch") {
                if !c.is_boolean() {
                    return Err(bad("close_source_branch must be a boolean"));
                }
            }
            // Bitbucket Cloud answers a second pull request for an open source branch by
            // updating the open one.
            if let Some(i) = st
                .prs
                .iter()
                .position(|p| p.head == head && p.base == base && p.state == "open")
            {
                st.prs[i].title = title.to_owned();
                st.prs[i].body = text;
                return Ok(Response::json(200, &pr_json(&st.prs[i])));
            }
            let pr = create(st, &head, &base, title, &text)?;
            Ok(Response::json(201, &pr_json(&pr)))
        }
        (method, n) if n.starts_with('/') => {
            let (id, action) = n[1..].split_once('/').unwrap_or((&n[1..], ""));
            let i = find(st, id)?;
            match (method, action) {
                ("GET", "") => {
                    let number = st.prs[i].number;
                    poll(st, number);
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                ("PUT", "") => {
                    let v = body(req)?;
                    only(
                        &v,
                        &[
                            "title",
                            "description",
                            "destination",
                            "reviewers",
                            "close_source_branch",
                        ],
                    )?;
                    if let Some(t) = optional_string(&v, "title")? {
                        st.prs[i].title = t;
                    }
                    if let Some(b) = optional_string(&v, "description")? {
                        st.prs[i].body = b;
                    }
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                _ => Err(bb_error(404, "Resource not found")),
            }
        }
        _ => Err(bb_error(404, "Resource not found")),
    }
}

// --- Bitbucket Data Center --------------------------------------------------------------------

fn bitbucket_server(st: &mut State, req: &Request, token: &str) -> Answer {
    if req.header("authorization") != Some(format!("Bearer {token}").as_str()) {
        return Err(Violation(
            401,
            "Authentication failed. Please check your credentials and try again.".into(),
        ));
    }
    let rest = req
        .path
        .strip_prefix("/rest/api/1.0/projects/PLAT/repos/gitops/pull-requests")
        .or_else(|| {
            req.path
                .strip_prefix("/rest/api/latest/projects/PLAT/repos/gitops/pull-requests")
        })
        .ok_or_else(|| Violation(404, "Repository PLAT/gitops does not exist.".into()))?;
    let pr_json = |p: &Pr| {
        let state = match p.state.as_str() {
            "open" => "OPEN",
            "merged" => "MERGED",
            _ => "DECLINED",
        };
        let reference = |branch: &str| {
            json!({
                "id": format!("refs/heads/{branch}"), "displayId": branch,
                "repository": {"slug": "gitops", "project": {"key": "PLAT"}},
            })
        };
        json!({
            "id": p.number, "version": p.version, "title": p.title, "description": p.body,
            "state": state, "open": p.state == "open", "closed": p.state != "open",
            "fromRef": reference(&p.head), "toRef": reference(&p.base),
            "links": {"self": [{"href": format!("https://bitbucket.example.com/projects/PLAT/repos/gitops/pull-requests/{}", p.number)}]},
        })
    };
    let reference = |v: &Value, side: &str| -> Result<String, Violation> {
        let id = v
            .pointer(&format!("/{side}/id"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{side}.id must be a string")))?;
        let branch = id.strip_prefix("refs/heads/").ok_or_else(|| {
            bad(format!(
                "{side}.id {id:?} must be a full ref id (refs/heads/…)"
            ))
        })?;
        if v.pointer(&format!("/{side}/repository/slug"))
            .and_then(Value::as_str)
            != Some("gitops")
            || v.pointer(&format!("/{side}/repository/project/key"))
                .and_then(Value::as_str)
                != Some("PLAT")
        {
            return Err(bad(format!(
                "{side}.repository must be {{slug: gitops, project: {{key: PLAT}}}}"
            )));
        }
        Ok(branch.to_owned())
    };
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            let p = req.params();
            let state = p.get("state").map_or("OPEN", String::as_str);
            if !["OPEN", "MERGED", "DECLINED", "ALL"].contains(&state) {
                return Err(bad(format!(
                    "state {state:?} is not OPEN, MERGED, DECLINED or ALL"
                )));
            }
            let direction = p.get("direction").map_or("INCOMING", String::as_str);
            if !["INCOMING", "OUTGOING"].contains(&direction) {
                return Err(bad(format!(
                    "direction {direction:?} is not INCOMING or OUTGOING"
                )));
            }
            let side = if direction == "OUTGOING" {
                "fromRef"
            } else {
                "toRef"
            };
            let limit: usize = p.get("limit").and_then(|l| l.parse().ok()).unwrap_or(25);
            let start: usize = p.get("start").and_then(|l| l.parse().ok()).unwrap_or(0);
            let all: Vec<Value> = st
                .prs
                .iter()
                .map(pr_json)
                .filter(|v| state == "ALL" || v["state"] == state)
                .filter(|v| p.get("at").is_none_or(|at| v[side]["id"] == at.as_str()))
                .collect();
            let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
            let last = start + page.len() >= all.len();
            let mut answer = json!({"size": page.len(), "limit": limit, "start": start, "isLastPage": last, "values": page});
            if !last {
                answer["nextPageStart"] = json!(start + limit);
            }
            Ok(Response::json(200, &answer))
        }
        ("POST", "") => {
            let v = body(req)?;
            only(
                &v,
                &[
                    "title",
                    "description",
                    "fromRef",
                    "toRef",
                    "reviewers",
                    "draft",
                    "state",
                ],
            )?;
            let title = field(&v, "title")?;
            let head = reference(&v, "fromRef")?;
            let base = reference(&v, "toRef")?;
            let text = optional_string(&v, "description")?.unwrap_or_default();
            match create(st, &head, &base, title, &text) {
                Ok(pr) => Ok(Response::json(201, &pr_json(&pr))),
                Err(Violation(409, _)) => Err(Violation(
                    409,
                    "Only one pull request may be open for a given source and target branch".into(),
                )),
                Err(e) => Err(e),
            }
        }
        (method, n) if n.starts_with('/') => {
            let (id, action) = n[1..].split_once('/').unwrap_or((&n[1..], ""));
            let i = find(st, id)?;
            match (method, action) {
                ("GET", "") => {
                    let number = st.prs[i].number;
                    poll(st, number);
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                ("PUT", "") => {
                    let v = body(req)?;
                    only(
                        &v,
                        &["version", "title", "description", "reviewers", "toRef"],
                    )?;
                    let version = v
                        .get("version")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| bad("an update must carry the pull request's version"))?;
                    if version != st.prs[i].version {
                        return Err(Violation(
                            409,
                            format!("You are attempting to modify a pull request based on out-of-date information (version {version}, current {}).", st.prs[i].version),
                        ));
                    }
                    if let Some(t) = optional_string(&v, "title")? {
                        st.prs[i].title = t;
                    }
                    if let Some(b) = optional_string(&v, "description")? {
                        st.prs[i].body = b;
                    }
                    st.prs[i].version += 1;
                    Ok(Response::json(200, &pr_json(&st.prs[i])))
                }
                ("POST", "auto-merge") => {
                    if !req.body.is_empty() {
                        return Err(bad("auto-merge takes no body"));
                    }
                    if st.prs[i].state != "open" {
                        return Err(Violation(409, "The pull request is not open.".into()));
                    }
                    st.prs[i].auto_merge = true;
                    Ok(Response {
                        status: 204,
                        headers: vec![],
                        body: Vec::new(),
                    })
                }
                _ => Err(Violation(404, "Not found".into())),
            }
        }
        _ => Err(Violation(404, "Not found".into())),
    }
}
