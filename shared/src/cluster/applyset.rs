//! The ApplySet inventory (KEP-3659, as kubectl's `apply --prune --applyset` implements it):
//! which objects belong to a set, recorded so that kubectl and our tools see the same members.
//!
//! The parent object (a Secret or ConfigMap by default) carries the label
//! `applyset.kubernetes.io/id` = [`applyset_id`] and the annotations `tooling`,
//! `contains-group-kinds` (sorted `Kind.group` list) and `additional-namespaces` (sorted, the
//! parent's own namespace left out). Members carry `applyset.kubernetes.io/part-of` = the id.
//! kubectl finds members by listing every listed group-kind, in the parent's namespace and the
//! additional ones, with the `part-of` label; so do we ([`Inventory::is_member`]).
//!
//! On top of that we record, in annotations of our own, the exact member list (Flux-style
//! `namespace_name_group_kind` ids) and the last applied source revision and stream digest.
//! The list makes prune safe against objects that merely copied our label, and lets an entry
//! stay until its delete succeeded. A set written by kubectl has no list; then membership is
//! the label and the group-kind/namespace scope alone, exactly as kubectl decides it.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::{annotation, label, ClusterError, GroupKind, ObjectKey, Result};
use crate::manifest::Identity;

/// Label on the parent: the set's id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member: the id of the set it belongs to.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent: `<tool>/<version>` that manages the set.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent: sorted, comma-separated `Kind.group` of the members.
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// The deprecated `resource.group` form kubectl still reads when the group-kinds are missing.
pub const GROUP_RESOURCES_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-resources";
/// Annotation on the parent: namespaces of members other than the parent's own.
pub const ADDITIONAL_NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// Label on a CRD whose custom resources may be ApplySet parents.
pub const PARENT_TYPE_LABEL: &str = "applyset.kubernetes.io/is-parent-type";

/// Our annotation on the parent: the exact members, comma-separated `namespace_name_group_kind`.
pub const MEMBERS_ANNOTATION: &str = "gitops-toolkit.io/applyset-members";
/// Our annotation on the parent: the source revision last applied.
pub const REVISION_ANNOTATION: &str = "gitops-toolkit.io/last-applied-revision";
/// Our annotation on the parent: the digest of the stream last applied.
pub const DIGEST_ANNOTATION: &str = "gitops-toolkit.io/last-applied-digest";

/// The API server's limit on the total size of an object's annotations (keys and values).
pub const ANNOTATIONS_LIMIT: usize = 256 * 1024;

/// The ApplySet id of a parent: `applyset-` + base64url-no-padding(sha256(
/// `name.namespace.Kind.group`)) + `-v1` (kubectl's `ApplySet.ID`).
pub fn applyset_id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let hash = Sha256::digest(format!("{name}.{namespace}.{kind}.{group}").as_bytes());
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
    )
}

/// The id of the set a parent identity stands for.
pub fn id_of_parent(parent: &Identity) -> String {
    applyset_id(&parent.name, &parent.namespace, &parent.kind, &parent.group)
}

/// The tool name of a tooling value (`kubectl/v1.33` → `kubectl`), as kubectl compares it.
pub fn tooling_name(tooling: &str) -> &str {
    match tooling.rsplit_once('/') {
        Some((name, _)) => name,
        None => tooling,
    }
}

/// What a parent records: the set's scope, its members and our bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// The set's id (the parent's `applyset.kubernetes.io/id`).
    pub id: String,
    /// `<tool>/<version>`, as found on the parent or as we will write it.
    pub tooling: String,
    /// The group-kinds members may have.
    pub group_kinds: BTreeSet<GroupKind>,
    /// Namespaces of members other than the parent's own.
    pub additional_namespaces: BTreeSet<String>,
    /// The exact members, when the set was written by us; `None` for kubectl's sets.
    pub members: Option<BTreeSet<ObjectKey>>,
    /// The source revision last applied (ours).
    pub revision: Option<String>,
    /// The digest of the stream last applied (ours).
    pub digest: Option<String>,
}

impl Inventory {
    /// An empty set for `parent`, managed by `tooling` (`sync-once/v0.1.0`).
    pub fn new(parent: &Identity, tooling: &str) -> Self {
        Inventory {
            id: id_of_parent(parent),
            tooling: tooling.to_owned(),
            members: Some(BTreeSet::new()),
            ..Inventory::default()
        }
    }

    /// Reads the inventory from the live parent object, checking it is the parent of the set
    /// `parent` names (its id label), as kubectl's `fetchParent` does. The caller decides
    /// whether a different tooling may be mutated ([`Inventory::check_tooling`]).
    pub fn from_parent(parent: &Identity, live: &Value) -> Result<Self> {
        let fail = |message: String| ClusterError::Inventory {
            parent: parent.short(),
            message,
        };
        let id = id_of_parent(parent);
        match label(live, ID_LABEL) {
            None => return Err(fail(format!("exists but has no {ID_LABEL} label"))),
            Some(found) if found != id => {
                return Err(fail(format!(
                    "has {ID_LABEL}={found}, but its name gives {id}"
                )))
            }
            Some(_) => {}
        }
        let tooling = annotation(live, TOOLING_ANNOTATION)
            .ok_or_else(|| fail(format!("has no {TOOLING_ANNOTATION} annotation")))?
            .to_owned();
        let group_kinds = match annotation(live, GROUP_KINDS_ANNOTATION) {
            Some(text) => split_list(text).map(GroupKind::parse).collect(),
            None if annotation(live, GROUP_RESOURCES_ANNOTATION).is_some() => {
                return Err(fail(format!(
                    "records its kinds only in the deprecated {GROUP_RESOURCES_ANNOTATION}; \
                     re-apply it with a current kubectl"
                )))
            }
            None => return Err(fail(format!("has no {GROUP_KINDS_ANNOTATION} annotation"))),
        };
        let additional_namespaces = annotation(live, ADDITIONAL_NAMESPACES_ANNOTATION)
            .map(|text| split_list(text).map(str::to_owned).collect())
            .unwrap_or_default();
        let members = match annotation(live, MEMBERS_ANNOTATION) {
            None => None,
            Some(text) => {
                let mut set = BTreeSet::new();
                for entry in split_list(text) {
                    let key = ObjectKey::parse_inventory_id(entry).ok_or_else(|| {
                        fail(format!(
                            "{MEMBERS_ANNOTATION} has a malformed entry {entry:?}"
                        ))
                    })?;
                    set.insert(key);
                }
                Some(set)
            }
        };
        Ok(Inventory {
            id,
            tooling,
            group_kinds,
            additional_namespaces,
            members,
            revision: annotation(live, REVISION_ANNOTATION).map(str::to_owned),
            digest: annotation(live, DIGEST_ANNOTATION).map(str::to_owned),
        })
    }

    /// Refuses to touch a set another tool manages (kubectl refuses the same way).
    pub fn check_tooling(&self, parent: &Identity, ours: &str) -> Result<()> {
        if tooling_name(&self.tooling) == tooling_name(ours) {
            Ok(())
        } else {
            Err(ClusterError::Inventory {
                parent: parent.short(),
                message: format!(
                    "is managed by {:?}, not {:?}",
                    tooling_name(&self.tooling),
                    tooling_name(ours)
                ),
            })
        }
    }

    /// The namespaces members may be in: the parent's own (if namespaced) and the additional ones.
    pub fn namespaces(&self, parent_namespace: &str) -> BTreeSet<String> {
        let mut all = self.additional_namespaces.clone();
        if !parent_namespace.is_empty() {
            all.insert(parent_namespace.to_owned());
        }
        all
    }

    /// Whether a live object is a member: it carries our `part-of` label **and** the inventory
    /// lists it (our own sets), or — for a set without our member list — its group-kind is
    /// listed and it is cluster-scoped or in one of the set's namespaces, as kubectl decides.
    pub fn is_member(&self, obj: &Value, parent_namespace: &str) -> bool {
        if label(obj, PART_OF_LABEL) != Some(self.id.as_str()) {
            return false;
        }
        self.lists(&ObjectKey::of(obj), parent_namespace)
    }

    /// Whether the inventory (without looking at labels) covers `key`.
    pub fn lists(&self, key: &ObjectKey, parent_namespace: &str) -> bool {
        match &self.members {
            Some(members) => members.contains(key),
            None => {
                self.group_kinds.contains(&key.group_kind())
                    && (key.namespace.is_empty()
                        || self.namespaces(parent_namespace).contains(&key.namespace))
            }
        }
    }

    /// Replaces members, group-kinds and namespaces with exactly `members`.
    pub fn set_members(&mut self, members: BTreeSet<ObjectKey>, parent_namespace: &str) {
        self.group_kinds = members.iter().map(ObjectKey::group_kind).collect();
        self.additional_namespaces = members
            .iter()
            .filter(|k| !k.namespace.is_empty() && k.namespace != parent_namespace)
            .map(|k| k.namespace.clone())
            .collect();
        self.members = Some(members);
    }

    /// The set before an apply: the union of what it had and what is about to be applied, so
    /// that an interrupted run leaks no object (kubectl's `updateToSuperset`). For a set
    /// without a member list, call [`Inventory::adopt_members`] first, or its old members are
    /// no longer listed (and so never pruned).
    pub fn superset(&self, applying: &BTreeSet<ObjectKey>, parent_namespace: &str) -> Inventory {
        let mut next = self.clone();
        let mut members: BTreeSet<ObjectKey> = self.members.clone().unwrap_or_default();
        members.extend(applying.iter().cloned());
        next.set_members(members, parent_namespace);
        // A kubectl set had no list: its scope must not shrink below what it covered.
        next.group_kinds.extend(self.group_kinds.iter().cloned());
        next.additional_namespaces
            .extend(self.additional_namespaces.iter().cloned());
        next.additional_namespaces.remove(parent_namespace);
        next
    }

    /// For a set without a member list (one kubectl wrote), records as its list the live
    /// objects that are its members by label and scope, so that [`Inventory::after_prune`] can
    /// keep the ones whose delete fails. A set with a list is left as it is.
    pub fn adopt_members(&mut self, live: &[Value], parent_namespace: &str) {
        if self.members.is_none() {
            let found = live
                .iter()
                .filter(|obj| self.is_member(obj, parent_namespace))
                .map(ObjectKey::of)
                .collect();
            self.members = Some(found);
        }
    }

    /// The set after pruning: what was applied, plus every old member whose delete did not
    /// succeed (an entry is kept until its object is gone).
    pub fn after_prune(
        &self,
        applied: &BTreeSet<ObjectKey>,
        deleted: &BTreeSet<ObjectKey>,
        parent_namespace: &str,
    ) -> Inventory {
        let mut next = self.clone();
        let mut members: BTreeSet<ObjectKey> = applied.clone();
        if let Some(old) = &self.members {
            members.extend(old.iter().filter(|k| !deleted.contains(k)).cloned());
        }
        next.set_members(members, parent_namespace);
        next
    }

    /// The body that server-side applies the parent: `apiVersion`, `kind`, name, namespace,
    /// the id label and every ApplySet and bookkeeping annotation. `resource_version`, when
    /// given, makes the write fail if the parent changed since it was read.
    pub fn parent_patch(&self, parent: &Identity, resource_version: Option<&str>) -> Result<Value> {
        let mut annotations = Map::new();
        annotations.insert(TOOLING_ANNOTATION.into(), self.tooling.clone().into());
        // Sorted as strings, like kubectl's generateKindsAnnotation (`ConfigMap` sorts before
        // `Deployment.apps`, which a (group, kind) order would not give).
        let mut kinds: Vec<String> = self.group_kinds.iter().map(ToString::to_string).collect();
        kinds.sort();
        annotations.insert(GROUP_KINDS_ANNOTATION.into(), kinds.join(",").into());
        let mut namespaces = self.additional_namespaces.clone();
        namespaces.remove(&parent.namespace);
        annotations.insert(
            ADDITIONAL_NAMESPACES_ANNOTATION.into(),
            join(namespaces.into_iter()).into(),
        );
        if let Some(members) = &self.members {
            annotations.insert(
                MEMBERS_ANNOTATION.into(),
                join(members.iter().map(ObjectKey::inventory_id)).into(),
            );
        }
        if let Some(revision) = &self.revision {
            annotations.insert(REVISION_ANNOTATION.into(), revision.clone().into());
        }
        if let Some(digest) = &self.digest {
            annotations.insert(DIGEST_ANNOTATION.into(), digest.clone().into());
        }
        let size: usize = annotations
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if size > ANNOTATIONS_LIMIT {
            return Err(ClusterError::Inventory {
                parent: parent.short(),
                message: format!(
                    "the inventory of {} members needs {size} bytes of annotations, more than the \
                     server's limit of {ANNOTATIONS_LIMIT}; split the source into several sets",
                    self.members.as_ref().map_or(0, BTreeSet::len)
                ),
            });
        }
        let mut metadata = json!({
            "name": parent.name,
            "labels": {ID_LABEL: self.id},
            "annotations": annotations,
        });
        if !parent.namespace.is_empty() {
            metadata["namespace"] = parent.namespace.clone().into();
        }
        if let Some(rv) = resource_version {
            metadata["resourceVersion"] = rv.into();
        }
        Ok(json!({
            "apiVersion": parent.api_version(),
            "kind": parent.kind,
            "metadata": metadata,
        }))
    }
}

/// Puts the `part-of` label on an object that is about to be applied. An object that already
/// carries a different `part-of` belongs to another set: that is an error, as in kubectl.
pub fn label_member(obj: &mut Value, id: &str) -> Result<()> {
    if let Some(existing) = label(obj, PART_OF_LABEL) {
        if existing != id {
            return Err(ClusterError::BadObject {
                object: ObjectKey::of(obj).to_string(),
                message: format!("already has {PART_OF_LABEL}={existing} in the input"),
            });
        }
        return Ok(());
    }
    let Some(map) = obj.as_object_mut() else {
        return Err(ClusterError::BadObject {
            object: "<input>".into(),
            message: "is not a mapping".into(),
        });
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(ClusterError::BadObject {
            object: ObjectKey::of(obj).to_string(),
            message: "metadata is not a mapping".into(),
        });
    };
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    match labels.as_object_mut() {
        Some(labels) => {
            labels.insert(PART_OF_LABEL.into(), id.into());
            Ok(())
        }
        None => Err(ClusterError::BadObject {
            object: ObjectKey::of(obj).to_string(),
            message: "metadata.labels is not a mapping".into(),
        }),
    }
}

/// The label selector that lists a set's members.
pub fn member_selector(id: &str) -> String {
    format!("{PART_OF_LABEL}={id}")
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> Identity {
        Identity {
            group: String::new(),
            version: "v1".into(),
            kind: "Secret".into(),
            namespace: "apps".into(),
            name: "web-set".into(),
        }
    }

    fn member(api_version: &str, kind: &str, ns: &str, name: &str, part_of: Option<&str>) -> Value {
        let mut obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        if !ns.is_empty() {
            obj["metadata"]["namespace"] = ns.into();
        }
        if let Some(id) = part_of {
            obj["metadata"]["labels"] = json!({PART_OF_LABEL: id});
        }
        obj
    }

    #[test]
    fn id_is_kubectls() {
        // base64url(sha256("web-set.apps.Secret.")) computed independently with
        // `printf %s web-set.apps.Secret. | openssl dgst -sha256 -binary | basenc --base64url`
        // (which pads; the id does not). The `_` shows it is the URL-safe alphabet.
        assert_eq!(
            applyset_id("web-set", "apps", "Secret", ""),
            "applyset-p_r5FG2tjcOQw5UdqIZgeN-vS_WlIK5QS6WxtAvZ5Dg-v1"
        );
        // The id kubectl's own apply tests expect for Secret test/my-set.
        assert_eq!(
            applyset_id("my-set", "test", "Secret", ""),
            "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
        );
        let id = id_of_parent(&parent());
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"));
        assert!(!id.contains('=') && !id.contains('+') && !id.contains('/'));
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
    }

    #[test]
    fn parent_patch_has_kubectls_labels_and_annotations() {
        let mut inv = Inventory::new(&parent(), "sync-once/v0.1.0");
        let members: BTreeSet<ObjectKey> = [
            ObjectKey::new("apps", "Deployment", "apps", "web"),
            ObjectKey::new("", "Service", "apps", "web"),
            ObjectKey::new("", "ConfigMap", "other", "cfg"),
            ObjectKey::new("", "Namespace", "", "other"),
        ]
        .into();
        inv.set_members(members, "apps");
        inv.revision = Some("main@sha1:abc".into());
        inv.digest = Some("sha256:0123".into());
        let patch = inv.parent_patch(&parent(), Some("42")).expect("small");
        let meta = &patch["metadata"];
        assert_eq!(patch["apiVersion"], "v1");
        assert_eq!(patch["kind"], "Secret");
        assert_eq!(meta["namespace"], "apps");
        assert_eq!(meta["resourceVersion"], "42");
        assert_eq!(meta["labels"][ID_LABEL], inv.id.as_str());
        let ann = &meta["annotations"];
        assert_eq!(ann[TOOLING_ANNOTATION], "sync-once/v0.1.0");
        assert_eq!(
            ann[GROUP_KINDS_ANNOTATION],
            "ConfigMap,Deployment.apps,Namespace,Service"
        );
        assert_eq!(ann[ADDITIONAL_NAMESPACES_ANNOTATION], "other");
        assert_eq!(
            ann[MEMBERS_ANNOTATION],
            "other_cfg__ConfigMap,_other__Namespace,apps_web__Service,apps_web_apps_Deployment"
        );
        assert_eq!(ann[REVISION_ANNOTATION], "main@sha1:abc");
        assert_eq!(ann[DIGEST_ANNOTATION], "sha256:0123");

        // What we write we read back identically.
        let read = Inventory::from_parent(&parent(), &patch).expect("valid parent");
        assert_eq!(read, inv);
    }

    #[test]
    fn kubectl_sets_are_read_by_scope() {
        // A parent as kubectl writes it: no member list.
        let id = id_of_parent(&parent());
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web-set", "namespace": "apps",
                "labels": {ID_LABEL: id},
                "annotations": {TOOLING_ANNOTATION: "kubectl/v1.33",
                                GROUP_KINDS_ANNOTATION: "ConfigMap,Deployment.apps",
                                ADDITIONAL_NAMESPACES_ANNOTATION: "extra"}}});
        let inv = Inventory::from_parent(&parent(), &live).expect("kubectl parent");
        assert_eq!(inv.members, None);
        assert_eq!(
            inv.namespaces("apps").into_iter().collect::<Vec<_>>(),
            ["apps", "extra"]
        );
        let id = id.as_str();
        assert!(inv.is_member(
            &member("apps/v1", "Deployment", "apps", "web", Some(id)),
            "apps"
        ));
        assert!(inv.is_member(&member("v1", "ConfigMap", "extra", "c", Some(id)), "apps"));
        // Outside the namespaces, an unlisted kind, no label, someone else's label: not members.
        assert!(!inv.is_member(
            &member("v1", "ConfigMap", "elsewhere", "c", Some(id)),
            "apps"
        ));
        assert!(!inv.is_member(&member("v1", "Service", "apps", "s", Some(id)), "apps"));
        assert!(!inv.is_member(&member("v1", "ConfigMap", "apps", "c", None), "apps"));
        assert!(!inv.is_member(
            &member("v1", "ConfigMap", "apps", "c", Some("applyset-x-v1")),
            "apps"
        ));

        assert!(inv.check_tooling(&parent(), "kubectl/v1.34").is_ok());
        let err = inv
            .check_tooling(&parent(), "sync-once/v0.1.0")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ApplySet parent Secret/apps/web-set: is managed by \"kubectl\", not \"sync-once\""
        );
    }

    #[test]
    fn a_kubectl_set_adopts_its_live_members_and_keeps_failed_deletes() {
        let id = id_of_parent(&parent());
        let live_parent = json!({"metadata": {"labels": {ID_LABEL: id},
            "annotations": {TOOLING_ANNOTATION: "kubectl/v1.33", GROUP_KINDS_ANNOTATION: "ConfigMap"}}});
        let mut inv = Inventory::from_parent(&parent(), &live_parent).expect("parent");
        let live = [
            member("v1", "ConfigMap", "apps", "a", Some(&id)),
            member("v1", "ConfigMap", "apps", "b", Some(&id)),
            member("v1", "ConfigMap", "apps", "stranger", None),
        ];
        inv.adopt_members(&live, "apps");
        let a = ObjectKey::new("", "ConfigMap", "apps", "a");
        let b = ObjectKey::new("", "ConfigMap", "apps", "b");
        assert_eq!(inv.members, Some([a.clone(), b.clone()].into()));
        // Nothing is applied any more; a was deleted, b's delete failed: b stays listed.
        let after = inv.after_prune(&BTreeSet::new(), &[a].into(), "apps");
        assert_eq!(after.members, Some([b].into()));
        // Adopting again changes nothing once there is a list.
        let mut again = after.clone();
        again.adopt_members(&live, "apps");
        assert_eq!(again, after);
    }

    #[test]
    fn our_sets_need_label_and_list() {
        let mut inv = Inventory::new(&parent(), "sync-once/v1");
        inv.set_members(
            [ObjectKey::new("", "ConfigMap", "apps", "a")].into(),
            "apps",
        );
        let id = inv.id.clone();
        assert!(inv.is_member(&member("v1", "ConfigMap", "apps", "a", Some(&id)), "apps"));
        // Labelled and of a listed kind, but not in the list: someone copied our label.
        assert!(!inv.is_member(&member("v1", "ConfigMap", "apps", "b", Some(&id)), "apps"));
        // Listed but no label (someone took it over): not ours to delete.
        assert!(!inv.is_member(&member("v1", "ConfigMap", "apps", "a", None), "apps"));
    }

    #[test]
    fn bad_parents_are_refused_with_the_reason() {
        let p = parent();
        let no_label = json!({"metadata": {"name": "web-set"}});
        assert_eq!(
            Inventory::from_parent(&p, &no_label).unwrap_err().to_string(),
            "ApplySet parent Secret/apps/web-set: exists but has no applyset.kubernetes.io/id label"
        );
        let wrong = json!({"metadata": {"labels": {ID_LABEL: "applyset-other-v1"}}});
        assert!(Inventory::from_parent(&p, &wrong)
            .unwrap_err()
            .to_string()
            .contains(
                "has applyset.kubernetes.io/id=applyset-other-v1, but its name gives applyset-"
            ));
        let id = id_of_parent(&p);
        let no_kinds = json!({"metadata": {"labels": {ID_LABEL: id},
            "annotations": {TOOLING_ANNOTATION: "kubectl/v1.33"}}});
        assert!(Inventory::from_parent(&p, &no_kinds)
            .unwrap_err()
            .to_string()
            .ends_with("has no applyset.kubernetes.io/contains-group-kinds annotation"));
        let bad_entry = json!({"metadata": {"labels": {ID_LABEL: id},
            "annotations": {TOOLING_ANNOTATION: "sync-once/v1", GROUP_KINDS_ANNOTATION: "",
                            MEMBERS_ANNOTATION: "apps_web"}}});
        assert!(Inventory::from_parent(&p, &bad_entry)
            .unwrap_err()
            .to_string()
            .ends_with("has a malformed entry \"apps_web\""));
    }

    #[test]
    fn superset_then_after_prune_keeps_failed_deletes() {
        let old_a = ObjectKey::new("", "ConfigMap", "apps", "old-a");
        let old_b = ObjectKey::new("", "ConfigMap", "apps", "old-b");
        let new = ObjectKey::new("apps", "Deployment", "team", "web");
        let mut inv = Inventory::new(&parent(), "sync-once/v1");
        inv.set_members([old_a.clone(), old_b.clone()].into(), "apps");

        let applying: BTreeSet<ObjectKey> = [new.clone()].into();
        let before = inv.superset(&applying, "apps");
        assert_eq!(
            before.members.as_ref().map(BTreeSet::len),
            Some(3),
            "nothing leaks if the run dies now"
        );
        assert_eq!(
            before.additional_namespaces.iter().collect::<Vec<_>>(),
            ["team"]
        );

        // old-a was deleted, old-b's delete failed: old-b stays listed.
        let after = before.after_prune(&applying, &[old_a.clone()].into(), "apps");
        let members: Vec<String> = after
            .members
            .expect("list")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(members, ["ConfigMap/apps/old-b", "Deployment/team/web"]);
        assert_eq!(
            after
                .group_kinds
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["ConfigMap", "Deployment.apps"]
        );
    }

    #[test]
    fn too_large_an_inventory_is_refused_before_the_server_does() {
        let mut inv = Inventory::new(&parent(), "sync-once/v1");
        let members = (0..8000)
            .map(|i| ObjectKey::new("", "ConfigMap", "apps", format!("config-map-number-{i:05}")))
            .collect();
        inv.set_members(members, "apps");
        let Err(err) = inv.parent_patch(&parent(), None) else {
            panic!("an inventory of 8000 members was accepted");
        };
        let err = err.to_string();
        assert!(
            err.contains("the inventory of 8000 members needs") && err.contains("limit of 262144"),
            "{err}"
        );
        // A thousand members (about 40 KB) fit.
        let members = (0..1000)
            .map(|i| ObjectKey::new("", "ConfigMap", "apps", format!("config-map-number-{i:05}")))
            .collect();
        inv.set_members(members, "apps");
        assert!(inv.parent_patch(&parent(), None).is_ok());
    }

    #[test]
    fn labelling_members() {
        let mut obj = member("v1", "ConfigMap", "apps", "a", None);
        label_member(&mut obj, "applyset-x-v1").expect("labels");
        assert_eq!(obj["metadata"]["labels"][PART_OF_LABEL], "applyset-x-v1");
        label_member(&mut obj, "applyset-x-v1").expect("idempotent");
        let err = label_member(&mut obj, "applyset-y-v1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap/apps/a: already has applyset.kubernetes.io/part-of=applyset-x-v1 in the input"
        );
        assert_eq!(
            member_selector("applyset-x-v1"),
            "applyset.kubernetes.io/part-of=applyset-x-v1"
        );
    }
}
