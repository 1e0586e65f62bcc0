//! `buildMetadata`: kustomize's origin and transformer annotations and its managed-by label.
//!
//! When the top kustomization lists any option, kustomize tracks where each resource came from
//! while it builds: a resource read from a file gets `config.kubernetes.io/origin` with the
//! file's path relative to the top kustomization (`path: ../base/deploy.yaml`), a generated one
//! the generator that made it (`configuredIn`, `configuredBy`), and every transformer that runs
//! over a level's resources appends itself to `alpha.config.kubernetes.io/transformations` of
//! each of them (changed or not). At the end the annotations that were not asked for are
//! removed again, and `managedByLabel` labels every object `app.kubernetes.io/managed-by:
//! kustomize-v5.8.2` (the version of the kustomize these builds match). Only the top
//! kustomization's `buildMetadata` counts: kustomize gives every kustomization it includes the
//! top one's list.

use gitops::Object;
use serde_json::{Map, Value};

use super::resource::Res;

pub const ORIGIN: &str = "config.kubernetes.io/origin";
pub const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The kustomize release whose output this engine reproduces.
const MANAGED_BY_VALUE: &str = "kustomize-v5.8.2";

/// kustomize's `resource.Origin`: a file (`path`) or the plugin that made or changed a
/// resource (`configuredIn`, `configuredBy`).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub path: String,
    pub configured_in: String,
    /// `apiVersion`, `kind`, `name`, `namespace` of the plugin configuration.
    pub configured_by: Option<[String; 4]>,
}

impl Origin {
    /// The origin of something at `rel` below this origin's path (kustomize's `Origin.Append`).
    pub fn append(&self, rel: &str) -> Origin {
        Origin {
            path: join(&self.path, rel),
            ..Origin::default()
        }
    }

    /// A built-in transformer or generator of the kustomization `file` at this origin's path.
    pub fn builtin(&self, file: &str, kind: &str) -> Origin {
        Origin {
            path: String::new(),
            configured_in: join(&self.path, file),
            configured_by: Some([
                "builtin".to_owned(),
                kind.to_owned(),
                String::new(),
                String::new(),
            ]),
        }
    }

    /// The origin of a plugin configured by `cfg` (kustomize's `OriginFromCustomPlugin`): where
    /// the configuration came from, and its identity.
    pub fn of_plugin(cfg: &Object) -> Option<Origin> {
        let path = parse_path(cfg.annotation(ORIGIN)?)?;
        Some(Origin {
            path: String::new(),
            configured_in: path,
            configured_by: Some([
                cfg.api_version().to_owned(),
                cfg.kind().to_owned(),
                cfg.name().to_owned(),
                cfg.namespace().unwrap_or("").to_owned(),
            ]),
        })
    }

    /// The YAML kustomize writes for it, each line indented by `indent`.
    fn yaml(&self, indent: &str, first: &str) -> String {
        let mut out = String::new();
        let mut lead = first.to_owned();
        let mut line = |out: &mut String, text: String| {
            out.push_str(&lead);
            out.push_str(&text);
            out.push('\n');
            lead = indent.to_owned();
        };
        if !self.path.is_empty() {
            line(&mut out, format!("path: {}", scalar(&self.path)));
        }
        if !self.configured_in.is_empty() {
            line(
                &mut out,
                format!("configuredIn: {}", scalar(&self.configured_in)),
            );
        }
        if let Some(by) = &self.configured_by {
            line(&mut out, "configuredBy:".to_owned());
            for (key, v) in ["apiVersion", "kind", "name", "namespace"].iter().zip(by) {
                if !v.is_empty() {
                    line(&mut out, format!("  {key}: {}", scalar(v)));
                }
            }
        }
        out
    }
}

/// A string as a YAML scalar: plain when it reads back as itself, else double-quoted.
fn scalar(s: &str) -> String {
    if gitops::yaml::is_plain_string(s) {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// The `path` of an origin annotation as [`Origin::yaml`] writes it (plain or double-quoted).
fn parse_path(text: &str) -> Option<String> {
    let raw = text.lines().find_map(|l| l.strip_prefix("path: "))?;
    if raw.starts_with('"') {
        serde_json::from_str(raw).ok()
    } else {
        Some(raw.to_owned())
    }
}

/// Go's `filepath.Join`: the non-empty parts joined by `/` and cleaned (`.` and `x/..` removed).
pub fn join(base: &str, rel: &str) -> String {
    let joined = match (base.is_empty(), rel.is_empty()) {
        (true, true) => return String::new(),
        (true, false) => rel.to_owned(),
        (false, true) => base.to_owned(),
        (false, false) => format!("{base}/{rel}"),
    };
    clean(&joined)
}

/// Go's `path.Clean`.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_owned(),
        (false, false) => body,
    }
}

fn annotations(obj: &mut Object) -> &mut Map<String, Value> {
    let meta = obj.metadata_mut();
    if !meta.get("annotations").is_some_and(Value::is_object) {
        meta.insert("annotations".to_owned(), Value::Object(Map::new()));
    }
    match meta.get_mut("annotations") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("annotations was just made a mapping"),
    }
}

/// Sets the origin annotation (a resource read from a file, a plugin configuration).
pub fn set_origin(obj: &mut Object, origin: &Origin) {
    annotations(obj).insert(ORIGIN.to_owned(), Value::String(origin.yaml("", "")));
}

/// A generator's origin, on what it made unless it has one (kustomize's `AddOriginAnnotation`).
pub fn set_origin_if_missing(obj: &mut Object, origin: &Origin) {
    if obj.annotation(ORIGIN).is_none() {
        set_origin(obj, origin);
    }
}

/// Records a transformer that ran over `acc` (kustomize's `AddTransformerAnnotation`): on every
/// resource, or as its origin when it has none (the transformer is taken to have made it).
pub fn add_transformation(acc: &mut [Res], origin: &Origin) {
    let item = origin.yaml("  ", "- ");
    for res in acc.iter_mut() {
        if res.obj.annotation(ORIGIN).is_none() {
            set_origin(&mut res.obj, origin);
            continue;
        }
        let map = annotations(&mut res.obj);
        let mut text = map
            .get(TRANSFORMATIONS)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        text.push_str(&item);
        map.insert(TRANSFORMATIONS.to_owned(), Value::String(text));
    }
}

/// The end of a build: the managed-by label, and the annotations that were not asked for
/// removed (kustomize removes them from every build, asked for or not).
pub fn finish(objects: &mut [Object], options: &[String]) {
    let has = |o: &str| options.iter().any(|x| x == o);
    let (origins, transformations, managed) = (
        has("originAnnotations"),
        has("transformerAnnotations"),
        has("managedByLabel"),
    );
    for obj in objects.iter_mut() {
        if managed {
            let meta = obj.metadata_mut();
            if !meta.get("labels").is_some_and(Value::is_object) {
                meta.insert("labels".to_owned(), Value::Object(Map::new()));
            }
            if let Some(Value::Object(labels)) = meta.get_mut("labels") {
                labels.insert(
                    MANAGED_BY.to_owned(),
                    Value::String(MANAGED_BY_VALUE.to_owned()),
                );
            }
        }
        let meta = obj.metadata_mut();
        if let Some(Value::Object(map)) = meta.get_mut("annotations") {
            if !origins {
                map.remove(ORIGIN);
            }
            if !transformations {
                map.remove(TRANSFORMATIONS);
            }
            if map.is_empty() {
                meta.remove("annotations");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_cleans_like_go() {
        assert_eq!(join("", "./cm.yaml"), "cm.yaml");
        assert_eq!(join("../base", "deploy.yaml"), "../base/deploy.yaml");
        assert_eq!(join("a/b", "../../c"), "c");
        assert_eq!(join("a", "../../c"), "../c");
        assert_eq!(join("", ""), "");
    }

    #[test]
    fn origins_are_written_as_kustomize_writes_them() {
        let o = Origin::default()
            .append("../base")
            .builtin("kustomization.yaml", "ConfigMapGenerator");
        assert_eq!(
            o.yaml("", ""),
            "configuredIn: ../base/kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
        );
        assert_eq!(
            o.yaml("  ", "- "),
            "- configuredIn: ../base/kustomization.yaml\n  configuredBy:\n    apiVersion: builtin\n    kind: ConfigMapGenerator\n"
        );
        assert_eq!(
            Origin::default().append("x.yaml").yaml("", ""),
            "path: x.yaml\n"
        );
    }
}
