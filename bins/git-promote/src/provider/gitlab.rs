//! GitLab merge requests: REST v4 (`/projects/:id/merge_requests`, the project id being its
//! URL-encoded path) with a `PRIVATE-TOKEN` header; auto-merge through `PUT …/merge`.

use serde_json::{json, Value};

use super::{encode, number, string, Http, Provider, PullRequest, State};
use crate::error::PromoteError;

const NAME: &str = "GitLab";

pub struct GitLab {
    http: Http,
    project: String,
}

impl GitLab {
    pub fn new(http: Http, repository: &str) -> Self {
        GitLab {
            http,
            project: encode(repository),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/projects/{}{rest}", self.http.api, self.project)
    }

    fn mr(v: &Value) -> Result<PullRequest, PromoteError> {
        Ok(PullRequest {
            number: number(v, "iid", NAME)?,
            url: string(v, "web_url", NAME)?,
            extra: None,
        })
    }
}

impl Provider for GitLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, PromoteError> {
        let url = self.url(&format!(
            "/merge_requests?state=opened&source_branch={}&target_branch={}",
            encode(head),
            encode(base)
        ));
        let list = self.http.call("GET", &url, None)?;
        list.as_array()
            .and_then(|a| a.first())
            .map(Self::mr)
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
            &self.url("/merge_requests"),
            Some(&json!({
                "source_branch": head,
                "target_branch": base,
                "title": title,
                "description": body,
                "remove_source_branch": true,
            })),
        )?;
        Self::mr(&v)
    }

    fn update(&self, pr: &PullRequest, title: &str, body: &str) -> Result<(), PromoteError> {
        self.http.call(
            "PUT",
            &self.url(&format!("/merge_requests/{}", pr.number)),
            Some(&json!({"title": title, "description": body})),
        )?;
        Ok(())
    }

    fn auto_merge(&self, pr: &PullRequest) -> Result<(), PromoteError> {
        // `auto_merge` since GitLab 17.11; older servers know `merge_when_pipeline_succeeds`
        // and ignore the other field.
        self.http.call(
            "PUT",
            &self.url(&format!("/merge_requests/{}/merge", pr.number)),
            Some(&json!({"auto_merge": true, "merge_when_pipeline_succeeds": true, "should_remove_source_branch": true})),
        )?;
        Ok(())
    }

    fn state(&self, pr: &PullRequest) -> Result<State, PromoteError> {
        let v = self.http.call(
            "GET",
            &self.url(&format!("/merge_requests/{}", pr.number)),
            None,
        )?;
        Ok(match v.get("state").and_then(Value::as_str) {
            Some("merged") => State::Merged,
            Some("closed") => State::Closed,
            _ => State::Open,
        })
    }
}
