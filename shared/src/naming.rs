//! File names for "one file per object": `group.version.Kind.namespace.name.EXT`, the layout
//! kubectl diff hands to `KUBECTL_EXTERNAL_DIFF`. Every tool that writes objects as files
//! (`--out-dir`, the GitOps repository's environment directories, a diff's two directories) names
//! them here, so one object always gets one name and the same names are refused everywhere:
//! names longer than a file system allows, names with a control character or a path separator,
//! and two objects whose names differ only in letter case (they collide on macOS and Windows).
//! Characters Windows cannot store (a GitOps repository is checked out there too) are
//! percent-encoded instead, so RBAC objects such as `system:aggregate-to-edit` still get a file:
//! `…ClusterRole..system%3Aaggregate-to-edit.yaml`. Kubernetes names never hold `%`, so the
//! encoding cannot be confused with a real name.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::manifest::Object;

/// The longest file name (in bytes) common file systems store.
pub const MAX_FILE_NAME: usize = 255;

/// Characters Windows refuses in file names (and `%`, the escape itself): percent-encoded.
const ENCODED: &[char] = &['%', '\\', ':', '*', '?', '"', '<', '>', '|'];

/// The file name of `obj` with extension `ext` (`yaml`, `json`), or why it cannot have one.
pub fn file_name(obj: &Object, ext: &str) -> Result<String> {
    let raw = format!("{}.{ext}", obj.identity().file_stem());
    // A name with a line break must not break the one-line error that reports it.
    let refuse = |message: String| Error::Object {
        at: obj.source.location(),
        object: obj.identity().short().escape_debug().to_string(),
        message,
    };
    if let Some(c) = raw.chars().find(|c| c.is_control() || *c == '/') {
        return Err(refuse(format!(
            "cannot be written as a file: its file name {raw:?} would contain {c:?} \
             (file names may not hold control characters or /)"
        )));
    }
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        if ENCODED.contains(&c) {
            name.push_str(&format!("%{:02X}", c as u32));
        } else {
            name.push(c);
        }
    }
    if name.starts_with('.') {
        return Err(refuse(format!(
            "cannot be written as a file: its file name {name:?} would be hidden"
        )));
    }
    if name.len() > MAX_FILE_NAME {
        return Err(refuse(format!(
            "identity too long for a file name ({} bytes, at most {MAX_FILE_NAME})",
            name.len()
        )));
    }
    Ok(name)
}

/// The file names of `objects`, in their order. Two objects whose names are equal, or differ
/// only in letter case, are an error naming both.
pub fn file_names(objects: &[Object], ext: &str) -> Result<Vec<String>> {
    let mut folded: HashMap<String, (usize, String)> = HashMap::new();
    let mut names = Vec::with_capacity(objects.len());
    for (i, obj) in objects.iter().enumerate() {
        let name = file_name(obj, ext)?;
        if let Some((j, other)) = folded.insert(name.to_lowercase(), (i, name.clone())) {
            let first = &objects[j];
            let how = if other == name {
                "is also the file name of"
            } else {
                "differs only in letter case from the file name of"
            };
            return Err(Error::Object {
                at: obj.source.location(),
                object: obj.identity().short(),
                message: format!(
                    "file name {name} {how} {} ({other}, at {})",
                    first.identity().short(),
                    first.source
                ),
            });
        }
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn objects(text: &str) -> Vec<Object> {
        crate::manifest::parse_stream(text, &Arc::from("in.yaml")).unwrap()
    }

    #[test]
    fn names_follow_kubectl_diff() {
        let objs = objects(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
        );
        assert_eq!(
            file_names(&objs, "yaml").unwrap(),
            [
                "apps.v1.Deployment.shop.web.yaml",
                "v1.Namespace..shop.yaml"
            ]
        );
    }

    #[test]
    fn case_collisions_name_both_objects() {
        let objs = objects(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Web, namespace: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: a}\n",
        );
        let e = file_names(&objs, "yaml").unwrap_err().to_string();
        assert_eq!(
            e,
            "in.yaml:5: ConfigMap/a/web: file name v1.ConfigMap.a.web.yaml differs only in letter \
             case from the file name of ConfigMap/a/Web (v1.ConfigMap.a.Web.yaml, at in.yaml:1)"
        );
    }

    #[test]
    fn characters_windows_refuses_are_percent_encoded() {
        let objs = objects(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:aggregate-to-edit\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"a*b?c<d>e|f\\\\g\\\"h\", namespace: x}\n",
        );
        assert_eq!(
            file_names(&objs, "yaml").unwrap(),
            [
                "rbac.authorization.k8s.io.v1.ClusterRole..system%3Aaggregate-to-edit.yaml",
                "v1.ConfigMap.x.a%2Ab%3Fc%3Cd%3Ee%7Cf%5Cg%22h.yaml"
            ]
        );
    }

    #[test]
    fn control_characters_separators_and_long_names_are_refused() {
        for bad in ["a\\nb", "a\\tb", "a/b"] {
            let objs = objects(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: \"{bad}\", namespace: a}}\n"
            ));
            let e = file_names(&objs, "yaml").unwrap_err().to_string();
            assert!(e.contains("cannot be written as a file"), "{bad}: {e}");
        }
        let long = "x".repeat(250);
        let objs = objects(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {long}}}\n"
        ));
        let e = file_names(&objs, "yaml").unwrap_err().to_string();
        assert!(e.contains("too long for a file name"), "{e}");
    }
}
