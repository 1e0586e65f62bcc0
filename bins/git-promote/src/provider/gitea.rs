//! Gitea (and Forgejo) pull requests: REST v1 (`/repos/{owner}/{repo}/pulls`) with an
//! `Authorization: token …` header; auto-merge through `POST …/merge` with
//! `merge_when_checks_succeed`.

use serde_json::{json, Value};

use super::{number, string, Http, Provider, PullRequest, State};
use crate::error::PromoteError;

const NAME: &str = "Gitea";

pub struct Gitea {
    http: Http,
    repo: String,
}

impl Gitea {
    pub fn new(http: Http, repository: &str) -> Self {
        Gitea {
            http,
            repo: repository.to_owned(),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/repos/{}{rest}", self.http.api, self.repo)
    }

    fn pr(v: &Value) -> Result<PullRequest, PromoteError> {
        Ok(PullRequest {
            number: number(v, "number", NAME)?,
            url: string(v, "html_url", NAME)?,
            extra: None,
        })
    }
}

impl Provider for Gitea {
    fn name(&self) -> &'static str {
        NAME
    }

    fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, PromoteError> {
        // Gitea has no head filter on the list; page through the open ones.
        for page in 1..=20 {
            let list = self.http.call(
                "GET",
                &self.url(&format!("/pulls?state=open&page={page}&limit=50")),
                None,
            )?;
            let Some(items) = list.as_array() else { break };
            for item in items {
                let h = item.pointer("/head/ref").and_then(Value::as_str);
                let b = item.pointer("/base/ref").and_then(Value::as_str);
                if h == Some(head) && b == Some(base) {
                    return Self::pr(item).map(Some);
                }
            }
            if items.len() < 50 {
                break;
            }
        }
        Ok(None)
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
            Some(&json!({"head": head, "base": base, "title": title, "body": body})),
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
        self.http.call(
            "POST",
            &self.url(&format!("/pulls/{}/merge", pr.number)),
            Some(&json!({"Do": "merge", "merge_when_checks_succeed": true, "delete_branch_after_merge": true})),
        )?;
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
