//! `git promote status`: what each environment runs, per app — the source commit, the stream
//! digest and how long ago it was promoted — read from the provenance records on the
//! environments' branches.

use std::io::Write;

use gitops::git::Depth;
use gitops::Outcome;

use crate::error::PromoteError;
use crate::message::Provenance;
use crate::target::Target;
use crate::RepoArgs;

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub env: String,
    pub app: String,
    pub provenance: Option<Provenance>,
}

/// Prints the table (apps by name, environments in promotion order).
pub fn run(repo: &RepoArgs, out: &mut impl Write) -> Result<Outcome, PromoteError> {
    let mut target = Target::open(repo, Depth::Tip)?;
    if let Some(app) = &repo.app {
        target.config.check_app(app)?;
    }
    let rows = rows(&mut target, repo.app.as_deref())?;
    if let Some(app) = &repo.app {
        if rows.iter().all(|r| r.provenance.is_none()) {
            return Err(PromoteError::Usage(format!(
                "unknown app {app:?}: it has not been promoted to any environment"
            )));
        }
    }
    let now = chrono::Utc::now();
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| match &r.provenance {
            Some(p) => [
                r.app.clone(),
                r.env.clone(),
                p.source_commit
                    .as_deref()
                    .map(|c| crate::message::prefix(c, 12))
                    .unwrap_or_else(|| "-".to_owned()),
                p.stream_digest.chars().take(19).collect(),
                age(&p.promoted_at, now),
                p.from_environment.clone().unwrap_or_else(|| "-".to_owned()),
            ],
            None => [
                r.app.clone(),
                r.env.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        })
        .collect();
    let header = ["APP", "ENV", "SOURCE COMMIT", "DIGEST", "AGE", "FROM"].map(str::to_owned);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&table) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&table) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end()).map_err(gitops::Error::Output)?;
    }
    Ok(Outcome::Ok)
}

/// Every (app, environment) pair: `app` alone, or every app found in any environment.
pub fn rows(target: &mut Target, app: Option<&str>) -> Result<Vec<Row>, PromoteError> {
    let mut trees = Vec::new();
    let mut apps: Vec<String> = app.map(|a| vec![a.to_owned()]).unwrap_or_default();
    for env in target.config.environments.clone() {
        let branch = target.branch_of(&env);
        let tip = target.tip(&branch)?;
        let tree = target.tree_of(tip)?;
        if app.is_none() {
            if let Some(dir) = match env.apps_root() {
                Some(root) => target.subtree(tree, &root)?,
                None => None,
            } {
                apps.extend(target.ws.subtrees(dir)?);
            }
        }
        trees.push((env, tree));
    }
    apps.sort();
    apps.dedup();
    let mut rows = Vec::new();
    for a in &apps {
        for (env, tree) in &trees {
            let path = env.manifests_path(a);
            let provenance = match target.subtree(*tree, &path)? {
                Some(dir) => target.provenance(dir, &path)?,
                None => None,
            };
            rows.push(Row {
                env: env.name.clone(),
                app: a.clone(),
                provenance,
            });
        }
    }
    Ok(rows)
}

/// `45s`, `12m`, `5h`, `3d` since an RFC 3339 time.
pub fn age(at: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(then) = chrono::DateTime::parse_from_rfc3339(at) else {
        return "?".to_owned();
    };
    let secs = (now - then.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-03T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(age("2026-01-02T23:59:30Z", now), "30s");
        assert_eq!(age("2026-01-02T23:00:00Z", now), "1h");
        assert_eq!(age("2026-01-01T00:00:00Z", now), "2d");
        assert_eq!(age("garbage", now), "?");
    }
}
