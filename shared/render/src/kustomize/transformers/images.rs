//! `images`: rewrites container images (name, tag, digest) in every `containers` and
//! `initContainers` list anywhere in a resource (CRDs excepted), as kustomize's image
//! transformer does; the fields are found by the shared walker, `gitops::image`.

use gitops::image::Field;
use regex::Regex;
use serde_json::Value;

use super::super::kustomization::Image;
use super::super::resource::Res;

struct Rule<'a> {
    image: &'a Image,
    matcher: Option<Regex>,
}

/// kustomize's `IsImageMatched` pattern (5.8): the name, an optional tag, then an optional
/// digest of any OCI algorithm, so a reference with both tag and digest matches. kustomize
/// builds it from the name unescaped, and a name that is no valid pattern matches nothing.
fn matcher(name: &str) -> Option<Regex> {
    Regex::new(&format!(
        "^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?$"
    ))
    .ok()
}

pub fn apply(resources: &mut [Res], images: &[Image]) {
    if images.is_empty() {
        return;
    }
    let rules: Vec<Rule<'_>> = images
        .iter()
        .map(|image| Rule {
            image,
            matcher: matcher(&image.name),
        })
        .collect();
    // The one image-field walker every tool shares (gitops::image): kustomize's legacy filter
    // is its containers/initContainers rule (CRDs skipped); volume references come from the
    // field specs (`apply_at`), so only container fields are taken here.
    let fields = gitops::image::ImageFields::new();
    for res in resources.iter_mut() {
        for rule in &rules {
            let _ = fields.try_visit_mut(&mut res.obj.value, |_, field, value| {
                if matches!(field, Field::Container | Field::InitContainer) {
                    if let Value::String(image) = value {
                        if let Some(new) = update(image, rule) {
                            *image = new;
                        }
                    }
                }
                Ok::<(), std::convert::Infallible>(())
            });
        }
    }
}

/// The ImageTagTransformer plugin's `fieldSpecs`: images at those paths too (after the
/// containers everywhere, as kustomize runs its legacy filter first).
pub fn apply_at(
    resources: &mut [Res],
    image: &Image,
    specs: &[super::super::fieldspec::FieldSpec],
) {
    let rule = Rule {
        image,
        matcher: matcher(&image.name),
    };
    // kustomize's field-spec image filter never touches CRDs.
    for res in resources
        .iter_mut()
        .filter(|r| r.kind() != "CustomResourceDefinition")
    {
        let (group, version, kind) = (
            res.group().to_owned(),
            res.version().to_owned(),
            res.kind().to_owned(),
        );
        for fs in specs
            .iter()
            .filter(|fs| fs.selects_gvk(&group, &version, &kind))
        {
            let path = fs.path.clone();
            let _ =
                super::super::fieldspec::walk::<()>(&mut res.obj.value, &path, false, &mut |v| {
                    if let Value::String(s) = v {
                        if let Some(new) = update(s, &rule) {
                            *s = new;
                        }
                    }
                    Ok(())
                });
        }
    }
}

fn update(image: &str, rule: &Rule<'_>) -> Option<String> {
    if !rule.matcher.as_ref()?.is_match(image) {
        return None;
    }
    let (mut name, mut tag, mut digest) = split(image);
    let img = rule.image;
    if let Some(n) = img.new_name.as_deref().filter(|s| !s.is_empty()) {
        name = n.to_owned();
    }
    let new_tag = img.new_tag.as_deref().filter(|s| !s.is_empty());
    let new_digest = img.digest.as_deref().filter(|s| !s.is_empty());
    match (new_tag, new_digest) {
        (Some(t), Some(d)) => {
            tag = t.to_owned();
            digest = d.to_owned();
        }
        (Some(t), None) => {
            tag = t.to_owned();
            digest.clear();
        }
        (None, Some(d)) => {
            tag.clear();
            digest = d.to_owned();
        }
        (None, None) => {
            // `tagSuffix` extends the tag it finds (and drops a digest), only when neither a
            // new tag nor a digest is given.
            if let Some(suffix) = img.tag_suffix.as_deref().filter(|s| !s.is_empty()) {
                tag.push_str(suffix);
                digest.clear();
            }
        }
    }
    if !tag.is_empty() {
        name.push(':');
        name.push_str(&tag);
    }
    if !digest.is_empty() {
        name.push('@');
        name.push_str(&digest);
    }
    Some(name)
}

/// kustomize's `image.Split`: name, tag, digest (a registry port is part of the name).
pub fn split(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@');
    let colon = search.find(':');
    match (colon, at) {
        (None, None) => (image.to_owned(), String::new(), String::new()),
        (Some(c), Some(d)) if c < d => {
            let (c, d) = (c + slash, d + slash);
            (
                image[..c].to_owned(),
                image[c + 1..d].to_owned(),
                image[d + 1..].to_owned(),
            )
        }
        (_, Some(d)) => {
            let d = d + slash;
            (
                image[..d].to_owned(),
                String::new(),
                image[d + 1..].to_owned(),
            )
        }
        (Some(c), None) => {
            let c = c + slash;
            (
                image[..c].to_owned(),
                image[c + 1..].to_owned(),
                String::new(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_kustomize() {
        assert_eq!(split("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(
            split("nginx:1.2"),
            ("nginx".into(), "1.2".into(), "".into())
        );
        assert_eq!(
            split("reg:5000/app:1"),
            ("reg:5000/app".into(), "1".into(), "".into())
        );
        assert_eq!(
            split("app@sha256:ab"),
            ("app".into(), "".into(), "sha256:ab".into())
        );
        assert_eq!(
            split("app:1@sha256:ab"),
            ("app".into(), "1".into(), "sha256:ab".into())
        );
    }
}
