//! GitHub (and GitHub Enterprise Server) pull requests: REST v3 (`/repos/{owner}/{repo}/pulls`)
//! with a `Bearer` token; auto-merge through the GraphQL `enablePullRequestAutoMerge` mutation,
//! which has no REST equivalent.

use serde_json::{json, Value};

use super::{encode, number, string, Http, Provider, PullRequest, State};
use crate::error::PromoteError;

const NAME: &str = "GitHub";

pub struct GitHub {
    http: Http,
    repo: String,
    owner: String,
}

impl GitHub {
    pub fn new(http: Http, repository: &str) -> Self {
        let owner = repository.split('/').next().unwrap_or_default().to_owned();
        GitHub {
            http,
            repo: repository.to_owned(),
            owner,
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/repos/{}{rest}", self.http.api, self.repo)
    }

    fn pr(v: &Value) -> Result<PullRequest, PromoteError> {
        Ok(PullRequest {
            number: number(v, "number", NAME)?,
            url: string(v, "html_url", NAME)?,
            extra: v.get("node_id").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// `https://api.github.com/graphql`, or `https://HOST/api/graphql` for GitHub Enterprise.
    fn graphql_url(&self) -> String {
        match self.http.api.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{}/graphql", self.http.api),
        }
    }
}

impl Provider for GitHub {
    fn name(&self) -> &'static str {
        NAME
    }

    fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, PromoteError> {
        let url = self.url(&format!(
            "/pulls?state=open&head={}&base={}",
            encode(&format!("{}:{head}", self.owner)),
            encode(base)
        ));
        let list = self.http.call("GET", &url, None)?;
        list.as_array()
            .and_then(|a| a.first())
            .map(Self::pr)
            .transpose()
    }

    fn create(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, PromoteError> {
        let v = self.http.call(
            "POST",
            &self.url("/pulls"),
            Some(&json!({"title": title, "head": head, "base": base, "body": body})),
        )?;
        Self::pr(&v)
    }

    fn update(&self, pr: &PullRequest, title: &str, body: &str) -> Result<(), PromoteError> {
        self.http.call(
            "PATCH",
            &self.url(&format!("/pulls/{}", pr.number)),
            Some(&json!({"title": title, "body": body})),
        )?;
        Ok(())
    }

    fn auto_merge(&self, pr: &PullRequest) -> Result<(), PromoteError> {
        let id = pr.extra.clone().ok_or_else(|| {
            PromoteError::Provider("GitHub API: pull request has no node_id".to_owned())
        })?;
        let query = "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: MERGE}) { pullRequest { number } } }";
        let v = self.http.call(
            "POST",
            &self.graphql_url(),
            Some(&json!({"query": query, "variables": {"id": id}})),
        )?;
        // GraphQL reports failures with 200 and an `errors` array.
        if let Some(errors) = v
            .get("errors")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty())
        {
            let msg = errors[0]
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(PromoteError::Provider(format!(
                "GitHub API: enabling auto-merge failed: {msg}"
            )));
        }
        Ok(())
    }

    fn state(&self, pr: &PullRequest) -> Result<State, PromoteError> {
        let v = self
            .http
            .call("GET", &self.url(&format!("/pulls/{}", pr.number)), None)?;
        Ok(
            match (
                v.get("state").and_then(Value::as_str),
                v.get("merged").and_then(Value::as_bool),
            ) {
                (_, Some(true)) => State::Merged,
                (Some("closed"), _) => State::Closed,
                _ => State::Open,
            },
        )
    }
}
