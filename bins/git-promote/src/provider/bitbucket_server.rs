//! Bitbucket Data Center (formerly Server) pull requests: REST 1.0
//! (`/projects/{projectKey}/repos/{repositorySlug}/pull-requests`) with an HTTP access token as
//! `Bearer`. Open pull requests are listed by source ref (`at=refs/heads/…&direction=OUTGOING`);
//! an update must carry the pull request's current `version` (optimistic locking), so it is read
//! first; auto-merge is `POST …/pull-requests/{id}/auto-merge` (Bitbucket 8.15 and later).

use serde_json::{json, Value};

use super::{encode, number, Http, Provider, PullRequest, State};
use crate::error::PromoteError;

const NAME: &str = "Bitbucket Data Center";

pub struct BitbucketServer {
    http: Http,
    project: String,
    slug: String,
}

impl BitbucketServer {
    /// `repository` is `PROJECT/REPOSITORY` (the project key and the repository slug).
    pub fn new(http: Http, repository: &str) -> Self {
        let (project, slug) = repository.split_once('/').unwrap_or((repository, ""));
        BitbucketServer {
            http,
            project: project.to_owned(),
            slug: slug.to_owned(),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!(
            "{}/projects/{}/repos/{}/pull-requests{rest}",
            self.http.api,
            encode(&self.project),
            encode(&self.slug)
        )
    }

    fn pr(v: &Value) -> Result<PullRequest, PromoteError> {
        let url = v
            .pointer("/links/self/0/href")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                PromoteError::Provider(format!("{NAME} API: answer has no links.self[0].href"))
            })?;
        Ok(PullRequest {
            number: number(v, "id", NAME)?,
            url: url.to_owned(),
            extra: None,
        })
    }

    fn reference(&self, branch: &str) -> Value {
        json!({
            "id": format!("refs/heads/{branch}"),
            "repository": {"slug": self.slug, "project": {"key": self.project}},
        })
    }
}

impl Provider for BitbucketServer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, PromoteError> {
        let target = format!("refs/heads/{base}");
        let mut start = 0;
        // Bounded: a repository with thousands of open pull requests from one branch is not ours.
        for _ in 0..20 {
            let v = self.http.call(
                "GET",
                &self.url(&format!(
                    "?state=OPEN&direction=OUTGOING&at={}&limit=100&start={start}",
                    encode(&format!("refs/heads/{head}"))
                )),
                None,
            )?;
            for item in v
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let from = item.pointer("/fromRef/id").and_then(Value::as_str);
                let to = item.pointer("/toRef/id").and_then(Value::as_str);
                if from == Some(format!("refs/heads/{head}").as_str()) && to == Some(&target) {
                    return Self::pr(item).map(Some);
                }
            }
            match (
                v.get("isLastPage").and_then(Value::as_bool),
                v.get("nextPageStart").and_then(Value::as_u64),
            ) {
                (Some(false), Some(next)) => start = next,
                _ => break,
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
            &self.url(""),
            Some(&json!({
                "title": title,
                "description": body,
                "fromRef": self.reference(head),
                "toRef": self.reference(base),
            })),
        )?;
        Self::pr(&v)
    }

    fn update(&self, pr: &PullRequest, title: &str, body: &str) -> Result<(), PromoteError> {
        let current = self
            .http
            .call("GET", &self.url(&format!("/{}", pr.number)), None)?;
        let version = number(&current, "version", NAME)?;
        self.http.call(
            "PUT",
            &self.url(&format!("/{}", pr.number)),
            Some(&json!({"version": version, "title": title, "description": body})),
        )?;
        Ok(())
    }

    fn auto_merge(&self, pr: &PullRequest) -> Result<(), PromoteError> {
        self.http.call(
            "POST",
            &self.url(&format!("/{}/auto-merge", pr.number)),
            None,
        )?;
        Ok(())
    }

    fn state(&self, pr: &PullRequest) -> Result<State, PromoteError> {
        let v = self
            .http
            .call("GET", &self.url(&format!("/{}", pr.number)), None)?;
        Ok(match v.get("state").and_then(Value::as_str) {
            Some("MERGED") => State::Merged,
            Some("DECLINED") => State::Closed,
            _ => State::Open,
        })
    }
}
