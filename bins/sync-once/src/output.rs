//! The report on stdout: one line per object as `kubectl apply` prints it
//! (`deployment.apps/web configured`), then a summary line; or with `-o json` one document with
//! the source, revision, digest, and each object's action and timing. Written even when the run
//! failed, so that what was and was not applied is on record; the error itself goes to stderr
//! through the entry point.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::load::Loaded;
use crate::sync::{Action, Report};
use crate::{Config, OutputFormat};
use gitops::Identity;

/// `kind.group/name`, lower-case kind, as kubectl names objects in its output.
pub fn kubectl_name(id: &Identity) -> String {
    let kind = id.kind.to_lowercase();
    if id.group.is_empty() {
        format!("{kind}/{}", id.name)
    } else {
        format!("{kind}.{}/{}", id.group, id.name)
    }
}

pub fn write(
    config: &Config,
    loaded: &Loaded,
    report: &Report,
    out: &mut dyn Write,
) -> io::Result<()> {
    match config.output {
        OutputFormat::Text => text(loaded, report, out),
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &to_json(loaded, report))?;
            writeln!(out)
        }
    }
}

fn text(loaded: &Loaded, report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let dry = if report.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    for entry in &report.entries {
        match (&entry.action, &entry.message) {
            (Action::Failed, Some(message)) => {
                writeln!(out, "{} failed: {message}", kubectl_name(&entry.id))?
            }
            (action, _) => writeln!(out, "{} {}{dry}", kubectl_name(&entry.id), action.as_str())?,
        }
    }
    let mut parts = Vec::new();
    for action in [
        Action::Created,
        Action::Configured,
        Action::Recreated,
        Action::Unchanged,
        Action::Pruned,
        Action::Failed,
        Action::Skipped,
    ] {
        let n = report.count(action);
        if n > 0
            || matches!(
                action,
                Action::Created | Action::Configured | Action::Unchanged
            )
        {
            parts.push(format!("{n} {}", action.as_str()));
        }
    }
    let revision = loaded.revision.as_deref().unwrap_or(loaded.digest.as_str());
    let verdict = match (&report.error, report.dry_run) {
        (Some(_), _) => "sync failed",
        (None, true) => "dry run",
        (None, false) => "synced",
    };
    writeln!(
        out,
        "{verdict} {revision} to {}: {}",
        if report.inventory.is_empty() {
            "(no inventory)"
        } else {
            report.inventory.as_str()
        },
        parts.join(", ")
    )
}

fn to_json(loaded: &Loaded, report: &Report) -> Value {
    let objects: Vec<Value> = report
        .entries
        .iter()
        .map(|e| {
            json!({
                "apiVersion": e.id.api_version(),
                "kind": e.id.kind,
                "namespace": e.id.namespace,
                "name": e.id.name,
                "action": e.action.as_str(),
                "durationMs": e.duration.as_millis() as u64,
                "message": e.message,
            })
        })
        .collect();
    let kept: Vec<Value> = report
        .kept
        .iter()
        .map(|(k, why)| json!({"kind": k.kind, "group": k.group, "namespace": k.namespace, "name": k.name, "reason": why}))
        .collect();
    let health: Vec<Value> = report
        .health
        .iter()
        .map(|h| json!({"kind": h.id.kind, "namespace": h.id.namespace, "name": h.id.name, "status": h.status.to_string(), "message": h.message}))
        .collect();
    let mut summary = serde_json::Map::new();
    for action in [
        Action::Created,
        Action::Configured,
        Action::Recreated,
        Action::Unchanged,
        Action::Pruned,
        Action::Failed,
        Action::Skipped,
    ] {
        summary.insert(
            action.as_str().replace(' ', "_"),
            report.count(action).into(),
        );
    }
    json!({
        "source": loaded.source,
        "revision": loaded.revision,
        "digest": loaded.digest,
        "inventory": report.inventory,
        "applySetId": report.applyset_id,
        "dryRun": report.dry_run,
        "success": report.error.is_none(),
        "error": report.error.as_ref().map(|e| gitops::scrub::scrub(&e.to_string()).to_string()),
        "durationMs": report.duration.as_millis() as u64,
        "summary": summary,
        "objects": objects,
        "kept": kept,
        "health": health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_kubectl_prints_them() {
        let id = |group: &str, kind: &str, name: &str| Identity {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: "ns".into(),
            name: name.into(),
        };
        assert_eq!(
            kubectl_name(&id("apps", "Deployment", "web")),
            "deployment.apps/web"
        );
        assert_eq!(kubectl_name(&id("", "ConfigMap", "cfg")), "configmap/cfg");
        assert_eq!(
            kubectl_name(&id(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                "w.x.io"
            )),
            "customresourcedefinition.apiextensions.k8s.io/w.x.io"
        );
    }
}
