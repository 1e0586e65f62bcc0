//! Which fields of a Kubernetes object hold container image references: the one rule that
//! `image-tag pin`, git-promote's provenance record and the kustomize `images` transformer share,
//! so that a custom resource's images are pinned, recorded and retagged alike.
//!
//! The rule is kustomize's images transformer (api/filters/imagetag): the `image` of every
//! element of a sequence under a `containers` or `initContainers` key, at any depth, so that the
//! pod templates inside custom resources (Argo Rollouts, Knative, Tekton, operators) count without
//! configuration; plus the OCI image volumes `spec/volumes[]/image/reference` and
//! `spec/template/spec/volumes[]/image/reference` of its default field specs; never inside a
//! `CustomResourceDefinition` (its schema describes containers, it has none). Kustomize does not
//! look at `ephemeralContainers`; we do, since they run images too, and report them as
//! [`Field::EphemeralContainer`] so that a kustomize-compatible transformer can skip them. An
//! `image` field elsewhere (`spec.image` of a Flux `ImageRepository` is a repository, not a
//! reference) is not an image unless a caller adds its path ([`ExtraPath`], kustomize's
//! `configurations:` field specs, image-tag's `--image-path`).

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

/// What kind of field an image reference was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `containers[].image`.
    Container,
    /// `initContainers[].image`.
    InitContainer,
    /// `ephemeralContainers[].image` (not touched by kustomize's images transformer).
    EphemeralContainer,
    /// `volumes[].image.reference` of a pod spec (OCI image volumes).
    ImageVolume,
    /// A path the caller added.
    Extra,
}

impl Field {
    /// Whether kustomize's images transformer would update this field.
    pub fn is_kustomize_image_field(self) -> bool {
        !matches!(self, Field::EphemeralContainer)
    }
}

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Field(String),
    Index(usize),
}

/// Where a value sits inside an object, e.g. `spec.template.spec.containers.0.image`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct JsonPath(pub Vec<Key>);

impl JsonPath {
    /// The value at this path, if there is one.
    pub fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(value, |v, key| match key {
            Key::Field(k) => v.get(k.as_str()),
            Key::Index(i) => v.get(*i),
        })
    }

    /// The value at this path, mutably.
    pub fn get_mut<'a>(&self, value: &'a mut Value) -> Option<&'a mut Value> {
        self.0.iter().try_fold(value, |v, key| match key {
            Key::Field(k) => v.get_mut(k.as_str()),
            Key::Index(i) => v.get_mut(*i),
        })
    }

    /// RFC 6901 JSON pointer (`/spec/containers/0/image`), for JSON patches.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for key in &self.0 {
            out.push('/');
            match key {
                Key::Field(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
                Key::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }
}

/// Dotted, with indexes as numbers: `spec.template.spec.containers.0.image`.
impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match key {
                Key::Field(k) => f.write_str(k)?,
                Key::Index(n) => write!(f, "{n}")?,
            }
        }
        Ok(())
    }
}

/// One step of an [`ExtraPath`]: a key, or "every element of this sequence".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Each,
}

/// An image field the caller adds for objects of one kind, like a kustomize `configurations:`
/// images field spec (`kind: Rollout`, `path: spec/template/spec/containers[]/image`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPath {
    /// The API group (`argoproj.io`), or any group when `None`.
    pub group: Option<String>,
    pub kind: String,
    pub steps: Vec<Step>,
}

/// An [`ExtraPath`] that names no kind or no field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: an image path needs a kind and a field path, e.g. Rollout=spec.template.spec.containers[].image")]
pub struct InvalidPath(pub String);

impl ExtraPath {
    /// `KIND=PATH` or `GROUP/KIND=PATH`, PATH dot-separated with `[]` for "every element":
    /// `argoproj.io/Rollout=spec.template.spec.containers[].image`.
    pub fn parse(spec: &str) -> Result<Self, InvalidPath> {
        let fail = || InvalidPath(spec.to_owned());
        let (kind, path) = spec.split_once('=').ok_or_else(fail)?;
        let (group, kind) = match kind.rsplit_once('/') {
            Some((g, k)) => (Some(g.to_owned()), k),
            None => (None, kind),
        };
        let steps = parse_steps(path, '.');
        if kind.is_empty() || steps.is_empty() {
            return Err(fail());
        }
        Ok(ExtraPath {
            group,
            kind: kind.to_owned(),
            steps,
        })
    }

    /// A kustomize field spec: `path` slash-separated (`spec/template/spec/containers[]/image`),
    /// `group` empty for any group.
    pub fn field_spec(group: &str, kind: &str, path: &str) -> Self {
        ExtraPath {
            group: (!group.is_empty()).then(|| group.to_owned()),
            kind: kind.to_owned(),
            steps: parse_steps(path, '/'),
        }
    }

    fn applies_to(&self, group: &str, kind: &str) -> bool {
        (self.kind.is_empty() || self.kind == kind)
            && self.group.as_deref().is_none_or(|g| g == group)
    }
}

fn parse_steps(path: &str, separator: char) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split(separator) {
        let (key, each) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key.to_owned()));
        }
        if each {
            steps.push(Step::Each);
        }
    }
    steps
}

/// The image fields of objects: the built-in rule (see the module docs) plus the caller's paths.
#[derive(Debug, Clone, Default)]
pub struct ImageFields {
    extra: Vec<ExtraPath>,
}

/// The pod specs whose OCI image volumes kustomize's default field specs cover.
const VOLUME_BASES: [&[&str]; 2] = [&["spec"], &["spec", "template", "spec"]];

impl ImageFields {
    /// The built-in rule only.
    pub fn new() -> Self {
        ImageFields::default()
    }

    /// The built-in rule plus `extra` paths.
    pub fn with_extra(extra: Vec<ExtraPath>) -> Self {
        ImageFields { extra }
    }

    /// Calls `f` with the path, field kind and text of every image reference in `object`
    /// (a whole Kubernetes object), in document order.
    pub fn visit(&self, object: &Value, mut f: impl FnMut(&JsonPath, Field, &str)) {
        // The walk is written once, over `&mut`; a read-only visit walks a copy. That costs a
        // clone of the object, which the callers (pin, provenance) do once per object, next to
        // parsing it.
        let mut copy = object.clone();
        let _ = self.try_visit_mut(&mut copy, |path, field, value| {
            if let Value::String(s) = value {
                f(path, field, s);
            }
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// Calls `f` with the path, field kind and value (always a string) of every image reference
    /// in `object`, which it may change; stops at the first error `f` returns.
    pub fn try_visit_mut<E>(
        &self,
        object: &mut Value,
        mut f: impl FnMut(&JsonPath, Field, &mut Value) -> Result<(), E>,
    ) -> Result<(), E> {
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if kind == "CustomResourceDefinition" {
            return Ok(());
        }
        let group = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.rsplit_once('/'))
            .map(|(g, _)| g.to_owned())
            .unwrap_or_default();
        // An extra path may name a field the rule already covers; each field is visited once.
        let mut seen: HashSet<JsonPath> = HashSet::new();
        let mut path = JsonPath::default();
        containers(object, &mut path, &mut seen, &mut f)?;
        for base in VOLUME_BASES {
            let steps: Vec<Step> = base
                .iter()
                .map(|k| Step::Key((*k).to_owned()))
                .chain([
                    Step::Key("volumes".to_owned()),
                    Step::Each,
                    Step::Key("image".to_owned()),
                    Step::Key("reference".to_owned()),
                ])
                .collect();
            follow(
                object,
                &steps,
                Field::ImageVolume,
                &mut path,
                &mut seen,
                &mut f,
            )?;
        }
        for extra in &self.extra {
            if extra.applies_to(&group, &kind) {
                follow(
                    object,
                    &extra.steps,
                    Field::Extra,
                    &mut path,
                    &mut seen,
                    &mut f,
                )?;
            }
        }
        Ok(())
    }
}

/// The recursive `containers` / `initContainers` / `ephemeralContainers` walk.
fn containers<E>(
    value: &mut Value,
    path: &mut JsonPath,
    seen: &mut HashSet<JsonPath>,
    f: &mut impl FnMut(&JsonPath, Field, &mut Value) -> Result<(), E>,
) -> Result<(), E> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                path.0.push(Key::Field(key.clone()));
                let field = match key.as_str() {
                    "containers" => Some(Field::Container),
                    "initContainers" => Some(Field::InitContainer),
                    "ephemeralContainers" => Some(Field::EphemeralContainer),
                    _ => None,
                };
                if let (Some(field), Value::Array(items)) = (field, &mut *child) {
                    for (i, item) in items.iter_mut().enumerate() {
                        if let Some(image) = item.get_mut("image").filter(|v| v.is_string()) {
                            path.0.push(Key::Index(i));
                            path.0.push(Key::Field("image".to_owned()));
                            if seen.insert(path.clone()) {
                                f(path, field, image)?;
                            }
                            path.0.truncate(path.0.len() - 2);
                        }
                    }
                }
                containers(child, path, seen, f)?;
                path.0.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.0.push(Key::Index(i));
                containers(item, path, seen, f)?;
                path.0.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Follows `steps` from `value`, calling `f` on each string it ends at.
fn follow<E>(
    value: &mut Value,
    steps: &[Step],
    field: Field,
    path: &mut JsonPath,
    seen: &mut HashSet<JsonPath>,
    f: &mut impl FnMut(&JsonPath, Field, &mut Value) -> Result<(), E>,
) -> Result<(), E> {
    match steps.split_first() {
        None => {
            if value.is_string() && seen.insert(path.clone()) {
                f(path, field, value)?;
            }
        }
        Some((Step::Key(k), rest)) => {
            if let Some(child) = value.get_mut(k.as_str()) {
                path.0.push(Key::Field(k.clone()));
                follow(child, rest, field, path, seen, f)?;
                path.0.pop();
            }
        }
        Some((Step::Each, rest)) => {
            if let Value::Array(items) = value {
                for (i, item) in items.iter_mut().enumerate() {
                    path.0.push(Key::Index(i));
                    follow(item, rest, field, path, seen, f)?;
                    path.0.pop();
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(fields: &ImageFields, object: &Value) -> Vec<(String, Field, String)> {
        let mut out = Vec::new();
        fields.visit(object, |path, field, image| {
            out.push((path.to_string(), field, image.to_owned()));
        });
        out
    }

    #[test]
    fn pod_templates_at_any_depth_and_image_volumes() {
        let rollout = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "i", "image": "busybox:1"}],
                "containers": [{"name": "a", "image": "web:v1"}, {"name": "no-image"}],
                "ephemeralContainers": [{"image": "debug:1"}],
                "volumes": [{"name": "v", "image": {"reference": "data:1"}}, {"name": "e", "emptyDir": {}}]}}}
        });
        assert_eq!(
            found(&ImageFields::new(), &rollout),
            [
                (
                    "spec.template.spec.initContainers.0.image".into(),
                    Field::InitContainer,
                    "busybox:1".into()
                ),
                (
                    "spec.template.spec.containers.0.image".into(),
                    Field::Container,
                    "web:v1".into()
                ),
                (
                    "spec.template.spec.ephemeralContainers.0.image".into(),
                    Field::EphemeralContainer,
                    "debug:1".into()
                ),
                (
                    "spec.template.spec.volumes.0.image.reference".into(),
                    Field::ImageVolume,
                    "data:1".into()
                ),
            ]
        );
    }

    #[test]
    fn image_fields_outside_pod_specs_and_crds_are_not_images() {
        let repo = json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "spec": {"image": "ghcr.io/acme/app"}});
        assert!(found(&ImageFields::new(), &repo).is_empty());
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "spec": {"containers": [{"image": "x:1"}]}});
        assert!(found(&ImageFields::new(), &crd).is_empty());
        // A non-string image (a templating placeholder object) is skipped.
        let odd = json!({"kind": "Pod", "spec": {"containers": [{"image": {"from": "x"}}]}});
        assert!(found(&ImageFields::new(), &odd).is_empty());
    }

    #[test]
    fn extra_paths_by_kind_and_group_once_each() {
        let fields = ImageFields::with_extra(vec![
            ExtraPath::parse("ImageRepository=spec.image").expect("valid"),
            ExtraPath::parse("apps/Deployment=spec.template.spec.containers[].image")
                .expect("valid"),
            ExtraPath::field_spec("other.io", "ImageRepository", "spec/x"),
        ]);
        let repo = json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "spec": {"image": "ghcr.io/acme/app", "x": "y:1"}});
        assert_eq!(
            found(&fields, &repo),
            [("spec.image".into(), Field::Extra, "ghcr.io/acme/app".into())]
        );
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"template": {"spec": {"containers": [{"image": "a:1"}]}}}});
        assert_eq!(
            found(&fields, &deploy),
            [(
                "spec.template.spec.containers.0.image".into(),
                Field::Container,
                "a:1".into()
            )]
        );
        assert_eq!(
            ExtraPath::parse("=spec.image").expect_err("no kind").to_string(),
            "\"=spec.image\": an image path needs a kind and a field path, e.g. Rollout=spec.template.spec.containers[].image"
        );
        assert!(ExtraPath::parse("Rollout").is_err());
    }

    #[test]
    fn visit_mut_rewrites_and_paths_resolve() {
        let mut pod =
            json!({"kind": "Pod", "spec": {"containers": [{"image": "a:1"}, {"image": "b:1"}]}});
        let mut paths = Vec::new();
        ImageFields::new()
            .try_visit_mut(&mut pod, |path, _, value| {
                paths.push(path.clone());
                *value = Value::String(format!("{}-pinned", value.as_str().unwrap_or_default()));
                Ok::<(), ()>(())
            })
            .expect("no error");
        assert_eq!(pod["spec"]["containers"][1]["image"], "b:1-pinned");
        assert_eq!(paths[1].pointer(), "/spec/containers/1/image");
        assert_eq!(paths[0].get(&pod), Some(&json!("a:1-pinned")));
        // An error from the callback stops the walk.
        let err = ImageFields::new().try_visit_mut(&mut pod, |_, _, _| Err("stop"));
        assert_eq!(err, Err("stop"));
    }
}
