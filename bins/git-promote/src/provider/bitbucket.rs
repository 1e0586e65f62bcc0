//! Bitbucket Cloud pull requests: REST 2.0
//! (`/repositories/{workspace}/{repo_slug}/pullrequests`) with an access token as `Bearer`;
//! open pull requests found with a BBQL `q` filter on source and destination branch. Bitbucket
//! Cloud documents no API for "merge when the checks pass", so `--auto-merge` is refused before
//! anything is pushed.

use serde_json::{json, Value};

use super::{encode, number, Http, Provider, PullRequest, State};
use crate::error::PromoteError;

const NAME: &str = "Bitbucket Cloud";

pub struct Bitbucket {
    http: Http,
    /// `workspace/repo_slug`.
    repo: String,
}

impl Bitbucket {
    pub fn new(http: Http, repository: &str) -> Self {
        Bitbucket {
            http,
            repo: repository.to_owned(),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!(
            "{}/repositories/{}/pullrequests{rest}",
            self.http.api, self.repo
        )
    }

    fn pr(v: &Value) -> Result<PullRequest, PromoteError> {
        let url = v
            .pointer("/links/html/href")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                PromoteError::Provider(format!("{NAME} API: answer has no links.html.href"))
            })?;
        Ok(PullRequest {
            number: number(v, "id", NAME)?,
            url: url.to_owned(),
            extra: None,
        })
    }
}

/// A BBQL string literal: double quotes, with `"` and `\` escaped.
fn literal(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Provider for Bitbucket {
    fn name(&self) -> &'static str {
        NAME
    }

    fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, PromoteError> {
        let query = format!(
            "source.branch.name = {} AND destination.branch.name = {}",
            literal(head),
            literal(base)
        );
        let v = self.http.call(
            "GET",
            &self.url(&format!("?state=OPEN&q={}", encode(&query))),
            None,
        )?;
        v.get("values")
            .and_then(Value::as_array)
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
            &self.url(""),
            Some(&json!({
                "title": title,
                "description": body,
                "source": {"branch": {"name": head}},
                "destination": {"branch": {"name": base}},
                "close_source_branch": true,
            })),
        )?;
        Self::pr(&v)
    }

    fn update(&self, pr: &PullRequest, title: &str, body: &str) -> Result<(), PromoteError> {
        self.http.call(
            "PUT",
            &self.url(&format!("/{}", pr.number)),
            Some(&json!({"title": title, "description": body})),
        )?;
        Ok(())
    }

    fn check_auto_merge(&self) -> Result<(), PromoteError> {
        Err(PromoteError::Usage(format!(
            "{NAME} has no API to merge a pull request once its checks pass: drop --auto-merge \
             (and autoMerge in the config) and merge it in Bitbucket"
        )))
    }

    fn auto_merge(&self, _pr: &PullRequest) -> Result<(), PromoteError> {
        self.check_auto_merge()
    }

    fn state(&self, pr: &PullRequest) -> Result<State, PromoteError> {
        let v = self
            .http
            .call("GET", &self.url(&format!("/{}", pr.number)), None)?;
        Ok(match v.get("state").and_then(Value::as_str) {
            Some("MERGED") => State::Merged,
            Some("DECLINED" | "SUPERSEDED") => State::Closed,
            _ => State::Open,
        })
    }
}
