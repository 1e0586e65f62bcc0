//! What a promotion says about itself: the provenance record kept beside the manifests
//! (`.promotion`), the commit message with its trailers, and the pull request's title and body.
//! All of it is derived from the change, so the same change always reads the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::PromoteError;

/// The file, in an app's manifests directory, recording where its content came from. It has no
/// `.yaml` extension so that Flux, kustomize and sync-once never apply it.
pub const PROVENANCE_FILE: &str = ".promotion";

/// Where an environment's manifests came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub environment: String,
    pub app: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// `sha256:…` of the rendered stream (see `gitops::digest::stream_digest`).
    pub stream_digest: String,
    /// Every image reference in the manifests, sorted.
    #[serde(default)]
    pub images: Vec<String>,
    /// The environment this was promoted from (`--from-env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_environment: Option<String>,
    /// RFC 3339, UTC.
    pub promoted_at: String,
}

impl Provenance {
    /// The record as YAML, in the same style as the manifests beside it.
    pub fn to_yaml(&self) -> Result<String, PromoteError> {
        Ok(gitops::manifest::to_yaml_string(self)?)
    }

    /// Reads a record; `what` (the manifests directory) names it in messages.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self, PromoteError> {
        let name = format!("{what}/{PROVENANCE_FILE}");
        let text = std::str::from_utf8(bytes).map_err(|_| {
            PromoteError::Config(format!("{name}: unreadable provenance record: not UTF-8"))
        })?;
        gitops::manifest::from_yaml_str(text, &name)
            .map_err(|e| PromoteError::Config(format!("unreadable provenance record: {e}")))
    }
}

/// Every image reference in `value` (one object), by the rule `image-tag pin` and the kustomize
/// `images` transformer use (`gitops::image`): containers, init and ephemeral containers at any
/// depth, and OCI image volumes.
pub fn images(value: &Value, out: &mut Vec<String>) {
    gitops::image::ImageFields::new().visit(value, |_, _, image| out.push(image.to_owned()));
}

/// `registry/name` of an image reference (without tag or digest).
pub fn image_name(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rfind(':') {
        // A colon after the last slash is a tag; before it, a registry port.
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
    }
}

/// An image whose reference differs between the old and the new manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Image changes between two sorted reference lists, by image name.
pub fn image_changes(old: &[String], new: &[String]) -> Vec<ImageChange> {
    let by_name = |list: &[String]| {
        let mut m: BTreeMap<String, String> = BTreeMap::new();
        for r in list {
            m.entry(image_name(r).to_owned())
                .or_insert_with(|| r.clone());
        }
        m
    };
    let (old, new) = (by_name(old), by_name(new));
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| ImageChange {
            name: n.clone(),
            from: old.get(n).cloned(),
            to: new.get(n).cloned(),
        })
        .collect()
}

/// What a promotion changes in an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Object file names (without `.yaml`): `group.version.Kind.namespace.name`.
    pub created: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
    /// The templates directory changes.
    pub templates: bool,
    pub images: Vec<ImageChange>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty()
            && self.changed.is_empty()
            && self.deleted.is_empty()
            && !self.templates
    }

    /// `2 created, 1 changed, 0 deleted`.
    pub fn counts(&self) -> String {
        let mut s = format!(
            "{} created, {} changed, {} deleted",
            self.created.len(),
            self.changed.len(),
            self.deleted.len()
        );
        if self.templates {
            s.push_str(", templates updated");
        }
        s
    }
}

/// One line per object, template directory and image the change touches: the `-v` story and
/// the `--check` listing.
pub fn details(change: &Change) -> Vec<String> {
    let mut out = Vec::new();
    for (mark, list) in [
        ('+', &change.created),
        ('~', &change.changed),
        ('-', &change.deleted),
    ] {
        out.extend(list.iter().map(|item| format!("{mark} {item}")));
    }
    if change.templates {
        out.push("~ (templates)".to_owned());
    }
    for c in &change.images {
        out.push(format!(
            "image {} -> {}",
            c.from.as_deref().unwrap_or("(none)"),
            c.to.as_deref().unwrap_or("(removed)")
        ));
    }
    out
}

/// Compares two manifest directories (file name → blob id); the provenance file and
/// non-manifest files are not objects.
pub fn compare<T: PartialEq>(
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let stem = |n: &String| n.strip_suffix(".yaml").unwrap_or(n).to_owned();
    let object = |n: &&String| n.ends_with(".yaml") && !n.contains('/');
    let created = new
        .keys()
        .filter(object)
        .filter(|n| !old.contains_key(*n))
        .map(stem)
        .collect();
    let changed = new
        .iter()
        .filter(|(n, _)| object(n))
        .filter(|(n, id)| old.get(*n).is_some_and(|o| o != *id))
        .map(|(n, _)| stem(n))
        .collect();
    let deleted = old
        .keys()
        .filter(object)
        .filter(|n| !new.contains_key(*n))
        .map(stem)
        .collect();
    (created, changed, deleted)
}

/// How a commit or pull request describes itself.
#[derive(Debug, Clone)]
pub struct Description {
    pub title: String,
    /// Plain text for the commit message (without trailers).
    pub text: String,
    /// Markdown for the pull request.
    pub markdown: String,
}

/// The first `n` characters (never splits a character: these strings come from files).
pub fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn short_commit(c: &str) -> String {
    prefix(c, 7)
}

/// Title and bodies for promoting `p` with `change`.
pub fn describe(p: &Provenance, change: &Change) -> Description {
    let from = match (&p.from_environment, &p.source_commit) {
        (Some(env), Some(c)) => format!(" (from {env}, source {})", short_commit(c)),
        (Some(env), None) => format!(" (from {env})"),
        (None, Some(c)) => format!(" (source {})", short_commit(c)),
        (None, None) => format!(" ({})", prefix(&p.stream_digest, 19)),
    };
    let title = format!("Promote {} to {}{from}", p.app, p.environment);
    let mut text = format!("{}.\n", capitalise(&change.counts()));
    let mut markdown = format!(
        "Promotes **{}** to **{}**: {}.\n",
        p.app,
        p.environment,
        change.counts()
    );
    if let Some(repo) = &p.source_repository {
        let _ = writeln!(markdown, "\nSource: {repo}");
    }
    if let Some(c) = &p.source_commit {
        let _ = writeln!(
            markdown,
            "{}Source commit: `{c}`",
            if p.source_repository.is_some() {
                ""
            } else {
                "\n"
            }
        );
    }
    let _ = writeln!(markdown, "\nStream digest: `{}`", p.stream_digest);
    for (label, list) in [
        ("Created", &change.created),
        ("Changed", &change.changed),
        ("Deleted", &change.deleted),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(text, "\n{label}:");
        let _ = writeln!(markdown, "\n### {label}\n");
        for item in list.iter() {
            let _ = writeln!(text, "  {item}");
            let _ = writeln!(markdown, "- `{item}`");
        }
    }
    if !change.images.is_empty() {
        let _ = writeln!(text, "\nImages:");
        let _ = writeln!(markdown, "\n### Images\n");
        for c in &change.images {
            let from = c.from.as_deref().unwrap_or("(none)");
            let to = c.to.as_deref().unwrap_or("(removed)");
            let _ = writeln!(text, "  {from} -> {to}");
            let _ = writeln!(markdown, "- `{from}` → `{to}`");
        }
    }
    Description {
        title,
        text,
        markdown,
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The commit message: title, body, and provenance trailers (`git interpret-trailers` form).
pub fn commit_message(p: &Provenance, d: &Description) -> String {
    let mut m = format!("{}\n\n{}\n", d.title, d.text.trim_end());
    m.push('\n');
    for (k, v) in trailers(p) {
        let _ = writeln!(m, "{k}: {v}");
    }
    m
}

/// The provenance as trailers, in a fixed order.
pub fn trailers(p: &Provenance) -> Vec<(&'static str, String)> {
    let mut t = vec![
        ("Promote-Environment", p.environment.clone()),
        ("Promote-App", p.app.clone()),
    ];
    if let Some(env) = &p.from_environment {
        t.push(("Promoted-From", env.clone()));
    }
    if let Some(r) = &p.source_repository {
        t.push(("Source-Repository", r.clone()));
    }
    if let Some(c) = &p.source_commit {
        t.push(("Source-Commit", c.clone()));
    }
    t.push(("Stream-Digest", p.stream_digest.clone()));
    for image in &p.images {
        t.push(("Image", image.clone()));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prov() -> Provenance {
        Provenance {
            environment: "dev".into(),
            app: "web".into(),
            source_repository: Some("https://git.example.com/web.git".into()),
            source_commit: Some("3f9c2ab0123456789".into()),
            stream_digest: "sha256:abcdef".into(),
            images: vec!["reg.example.com:5000/web:v2@sha256:1111".into()],
            from_environment: None,
            promoted_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn images_are_found_in_pod_specs() {
        let v = json!({"spec": {"template": {"spec": {
            "initContainers": [{"image": "busybox:1"}],
            "containers": [{"image": "web:v1"}, {"name": "no-image"}],
            "volumes": [{"name": "models", "image": {"reference": "models:3"}}]}}}, "image": "not-a-container"});
        let mut out = vec![];
        images(&v, &mut out);
        assert_eq!(out, ["busybox:1", "web:v1", "models:3"]);
    }

    #[test]
    fn image_names_drop_tags_and_digests_but_not_ports() {
        assert_eq!(image_name("reg:5000/web:v2@sha256:1"), "reg:5000/web");
        assert_eq!(image_name("reg:5000/web"), "reg:5000/web");
        assert_eq!(image_name("web@sha256:1"), "web");
        let changes = image_changes(
            &["a:1".into(), "b:1".into()],
            &["a:2".into(), "c:1".into(), "b:1".into()],
        );
        let names: Vec<_> = changes
            .iter()
            .map(|c| (c.name.as_str(), c.from.as_deref(), c.to.as_deref()))
            .collect();
        assert_eq!(
            names,
            [("a", Some("a:1"), Some("a:2")), ("c", None, Some("c:1"))]
        );
    }

    #[test]
    fn comparison_sees_created_changed_deleted() {
        let old: BTreeMap<String, u8> = [
            ("a.yaml", 1),
            ("b.yaml", 1),
            ("c.yaml", 1),
            (".promotion", 1),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        let new: BTreeMap<String, u8> = [
            ("a.yaml", 1),
            ("b.yaml", 2),
            ("d.yaml", 1),
            (".promotion", 2),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        let (c, ch, d) = compare(&old, &new);
        assert_eq!(
            (c, ch, d),
            (
                vec!["d".to_owned()],
                vec!["b".to_owned()],
                vec!["c".to_owned()]
            )
        );
    }

    #[test]
    fn message_ends_with_trailers_git_can_read() {
        let change = Change {
            created: vec!["v1.ConfigMap.ns.a".into()],
            ..Change::default()
        };
        let d = describe(&prov(), &change);
        assert_eq!(d.title, "Promote web to dev (source 3f9c2ab)");
        let m = commit_message(&prov(), &d);
        let t = gitops::git::trailers(&m);
        assert_eq!(t[0], ("Promote-Environment".to_owned(), "dev".to_owned()));
        assert!(t.contains(&(
            "Image".to_owned(),
            "reg.example.com:5000/web:v2@sha256:1111".to_owned()
        )));
        assert!(m.contains("1 created, 0 changed, 0 deleted.\n\nCreated:\n  v1.ConfigMap.ns.a\n"));
        assert!(d.markdown.contains("- `v1.ConfigMap.ns.a`"));
    }

    #[test]
    fn provenance_round_trips() {
        let p = prov();
        let text = p.to_yaml().unwrap();
        assert!(text.starts_with("app: web\n"), "{text}");
        assert_eq!(Provenance::parse(text.as_bytes(), "x").unwrap(), p);
        let e = Provenance::parse(b"environment: [\n", "clusters/dev/web")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("unreadable provenance record: clusters/dev/web/.promotion:"),
            "{e}"
        );
    }
}
