//! Azure DevOps (Azure Repos) pull requests: REST 7.1
//! (`{org}/{project}/_apis/git/repositories/{repo}/pullrequests`), a PAT sent as Basic auth
//! (or the pipeline's `System.AccessToken` as Bearer); auto-complete by setting
//! `autoCompleteSetBy` to the pull request's creator.

use serde_json::{json, Value};

use super::{encode, number, Http, Provider, PullRequest, State};
use crate::error::PromoteError;

const NAME: &str = "Azure DevOps";
const API_VERSION: &str = "api-version=7.1";

pub struct Azure {
    http: Http,
    project: String,
    repo: String,
}

impl Azure {
    /// `repository` is `ORG/PROJECT/REPO`; the API base already names the organization.
    pub fn new(http: Http, repository: &str) -> Self {
        let mut parts = repository.split('/').skip(1);
        let project = parts.next().unwrap_or_default().to_owned();
        let repo = parts.next().unwrap_or_default().to_owned();
        Azure {
            http,
            project,
            repo,
        }
    }

    fn url(&self, rest: &str, query: &str) -> String {
        format!(
            "{}/{}/_apis/git/repositories/{}/pullrequests{rest}?{query}{API_VERSION}",
            self.http.api,
            encode(&self.project),
            encode(&self.repo)
        )
    }

    fn pr(v: &Value) -> Result<PullRequest, PromoteError> {
        let id = number(v, "pullRequestId", NAME)?;
        let web = v
            .pointer("/repository/webUrl")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                PromoteError::Provider(format!("{NAME} API: answer has no repository.webUrl"))
            })?;
        Ok(PullRequest {
            number: id,
            url: format!("{web}/pullrequest/{id}"),
            extra: v
                .pointer("/createdBy/id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// Azure DevOps limits descriptions to 4,000 characters.
fn clip(body: &str) -> String {
    const MAX: usize = 4000;
    if body.chars().count() <= MAX {
        return body.to_owned();
    }
    let mut s: String = body.chars().take(MAX - 20).collect();
    s.push_str("\n\n… (truncated)");
    s
}

impl Provider for Azure {
    fn name(&self) -> &'static str {
        NAME
    }

    fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, PromoteError> {
        let query = format!(
            "searchCriteria.sourceRefName={}&searchCriteria.targetRefName={}&searchCriteria.status=active&",
            encode(&format!("refs/heads/{head}")),
            encode(&format!("refs/heads/{base}"))
        );
        let v = self.http.call("GET", &self.url("", &query), None)?;
        v.get("value")
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
            &self.url("", ""),
            Some(&json!({
                "sourceRefName": format!("refs/heads/{head}"),
                "targetRefName": format!("refs/heads/{base}"),
                "title": title,
                "description": clip(body),
            })),
        )?;
        Self::pr(&v)
    }

    fn update(&self, pr: &PullRequest, title: &str, body: &str) -> Result<(), PromoteError> {
        self.http.call(
            "PATCH",
            &self.url(&format!("/{}", pr.number), ""),
            Some(&json!({"title": title, "description": clip(body)})),
        )?;
        Ok(())
    }

    fn auto_merge(&self, pr: &PullRequest) -> Result<(), PromoteError> {
        let who = pr.extra.clone().ok_or_else(|| {
            PromoteError::Provider(format!("{NAME} API: pull request has no createdBy.id"))
        })?;
        self.http.call(
            "PATCH",
            &self.url(&format!("/{}", pr.number), ""),
            Some(&json!({
                "autoCompleteSetBy": {"id": who},
                "completionOptions": {"deleteSourceBranch": true, "mergeStrategy": "noFastForward"},
            })),
        )?;
        Ok(())
    }

    fn state(&self, pr: &PullRequest) -> Result<State, PromoteError> {
        let v = self
            .http
            .call("GET", &self.url(&format!("/{}", pr.number), ""), None)?;
        Ok(match v.get("status").and_then(Value::as_str) {
            Some("completed") => State::Merged,
            Some("abandoned") => State::Closed,
            _ => State::Open,
        })
    }
}
