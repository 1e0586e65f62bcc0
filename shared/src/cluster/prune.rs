//! Which objects a prune may delete, decided without I/O from the inventory, the desired
//! objects and what the server holds. The rules, each of which keeps an object alive:
//!
//! - only members are candidates: the `part-of` label **and** the inventory
//!   ([`Inventory::is_member`]); an object that merely carries our label, or that the
//!   inventory lists but that lost the label, is left alone;
//! - nothing desired is pruned, and nothing but what the caller listed is considered;
//! - Flux's `kustomize.toolkit.fluxcd.io/prune: disabled` annotation keeps an object;
//! - an object another tool also claims (Flux's `kustomize.toolkit.fluxcd.io/name` or
//!   `helm.toolkit.fluxcd.io/name` labels, Argo CD's `argocd.argoproj.io/instance` label or
//!   `argocd.argoproj.io/tracking-id` annotation) is kept unless the caller takes it over;
//! - when the source renders nothing, pruning the whole set is refused unless allowed (an
//!   empty render is far more often a broken path than a wish to delete everything);
//! - more deletions than `max` (a count or a percentage of the members) are refused unless
//!   forced.
//!
//! The inventory keeps an entry until its delete succeeded: see [`Inventory::after_prune`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::applyset::{Inventory, PART_OF_LABEL};
use super::order::sort_for_deletion;
use super::{annotation, label, ClusterError, ObjectKey, Result};

/// Flux's per-object opt-out of garbage collection.
pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
/// The value of [`PRUNE_ANNOTATION`] that disables pruning.
pub const PRUNE_DISABLED: &str = "disabled";

/// Labels and annotations by which other GitOps tools claim an object.
const FOREIGN_LABELS: [(&str, &str); 3] = [
    ("kustomize.toolkit.fluxcd.io/name", "a Flux Kustomization"),
    ("helm.toolkit.fluxcd.io/name", "a Flux HelmRelease"),
    ("argocd.argoproj.io/instance", "an Argo CD Application"),
];
const FOREIGN_ANNOTATIONS: [(&str, &str); 1] =
    [("argocd.argoproj.io/tracking-id", "an Argo CD Application")];

/// A limit on how much one prune may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxPrune {
    /// At most this many objects.
    Count(usize),
    /// At most this percentage (0–100) of the set's current members, rounded down.
    Percent(u8),
}

impl MaxPrune {
    /// The largest number of deletions allowed in a set of `members` objects.
    pub fn limit(self, members: usize) -> usize {
        match self {
            MaxPrune::Count(n) => n,
            MaxPrune::Percent(p) => members * usize::from(p) / 100,
        }
    }
}

impl FromStr for MaxPrune {
    type Err = String;

    /// `N` or `N%`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(pct) = text.strip_suffix('%') {
            match pct.trim().parse::<u8>() {
                Ok(p) if p <= 100 => Ok(MaxPrune::Percent(p)),
                _ => Err(format!("{text:?} is not a percentage from 0% to 100%")),
            }
        } else {
            text.parse::<usize>()
                .map(MaxPrune::Count)
                .map_err(|_| format!("{text:?} is not a count or a percentage (N or N%)"))
        }
    }
}

impl fmt::Display for MaxPrune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxPrune::Count(n) => write!(f, "{n}"),
            MaxPrune::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The caller's choices for [`plan`].
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Prune the whole set even though nothing is desired.
    pub allow_empty: bool,
    /// Refuse to delete more than this.
    pub max: Option<MaxPrune>,
    /// Delete more than `max` anyway.
    pub force: bool,
    /// Delete members that another tool also claims.
    pub take_over: bool,
}

/// Why a live object is not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// It carries our `part-of` label but the inventory does not list it.
    NotListed,
    /// It is in the inventory's scope but does not carry our label (another set's, or none).
    NotLabelled { part_of: Option<String> },
    /// `kustomize.toolkit.fluxcd.io/prune: disabled`.
    PruneDisabled,
    /// Another tool claims it: the label or annotation and what it points to.
    Foreign { by: &'static str, key: String },
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::NotListed => write!(f, "not in the inventory (only labelled)"),
            KeepReason::NotLabelled { part_of: None } => {
                write!(f, "has no {PART_OF_LABEL} label")
            }
            KeepReason::NotLabelled {
                part_of: Some(other),
            } => write!(f, "belongs to ApplySet {other}"),
            KeepReason::PruneDisabled => write!(f, "{PRUNE_ANNOTATION}: {PRUNE_DISABLED}"),
            KeepReason::Foreign { by, key } => write!(f, "managed by {by} ({key})"),
        }
    }
}

/// What to delete (in deletion order) and what is kept, with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePlan {
    pub delete: Vec<ObjectKey>,
    pub kept: Vec<(ObjectKey, KeepReason)>,
}

/// Plans a prune. `live` is what the server returned for the set (listing its group-kinds and
/// namespaces by the `part-of` label, and any inventory entries fetched by name); `desired` is
/// every object of this run. Objects that are desired, or that are neither labelled nor listed,
/// are not mentioned in the plan.
pub fn plan(
    inventory: &Inventory,
    parent_namespace: &str,
    desired: &BTreeSet<ObjectKey>,
    live: &[Value],
    options: &PruneOptions,
) -> Result<PrunePlan> {
    let mut plan = PrunePlan::default();
    let mut seen = BTreeSet::new();
    let mut members = 0usize;
    for obj in live {
        let key = ObjectKey::of(obj);
        if !seen.insert(key.clone()) {
            continue;
        }
        let ours = label(obj, PART_OF_LABEL) == Some(inventory.id.as_str());
        let listed = inventory.lists(&key, parent_namespace);
        if !ours && !listed {
            continue;
        }
        if ours && listed {
            members += 1;
        }
        if desired.contains(&key) {
            continue;
        }
        let reason = if !ours {
            Some(KeepReason::NotLabelled {
                part_of: label(obj, PART_OF_LABEL).map(str::to_owned),
            })
        } else if !listed {
            Some(KeepReason::NotListed)
        } else if annotation(obj, PRUNE_ANNOTATION) == Some(PRUNE_DISABLED) {
            Some(KeepReason::PruneDisabled)
        } else if options.take_over {
            None
        } else {
            foreign(obj)
        };
        match reason {
            Some(reason) => plan.kept.push((key, reason)),
            None => plan.delete.push(key),
        }
    }
    sort_for_deletion(&mut plan.delete);

    if desired.is_empty() && !plan.delete.is_empty() && !options.allow_empty {
        return Err(ClusterError::PruneRefused {
            message: format!(
                "the source has no objects, so every one of the {} members of ApplySet {} would \
                 be deleted; allow an empty source to do that",
                plan.delete.len(),
                inventory.id
            ),
        });
    }
    if let Some(max) = options.max {
        let limit = max.limit(members);
        if plan.delete.len() > limit && !options.force {
            return Err(ClusterError::PruneRefused {
                message: format!(
                    "{} objects would be deleted, more than the limit of {max} ({limit} of {members} \
                     members); force it to go ahead",
                    plan.delete.len()
                ),
            });
        }
    }
    Ok(plan)
}

/// The other tool that claims an object, if any.
fn foreign(obj: &Value) -> Option<KeepReason> {
    for (key, by) in FOREIGN_LABELS {
        if label(obj, key).is_some() {
            return Some(KeepReason::Foreign {
                by,
                key: key.to_owned(),
            });
        }
    }
    for (key, by) in FOREIGN_ANNOTATIONS {
        if annotation(obj, key).is_some() {
            return Some(KeepReason::Foreign {
                by,
                key: key.to_owned(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Identity;
    use serde_json::json;

    const NS: &str = "apps";

    fn inventory(members: &[ObjectKey]) -> Inventory {
        let parent = Identity {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: NS.into(),
            name: "set".into(),
        };
        let mut inv = Inventory::new(&parent, "sync-once/v1");
        inv.set_members(members.iter().cloned().collect(), NS);
        inv
    }

    fn cm(name: &str, part_of: Option<&str>) -> Value {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": name, "namespace": NS}});
        if let Some(id) = part_of {
            obj["metadata"]["labels"] = json!({PART_OF_LABEL: id});
        }
        obj
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("", "ConfigMap", NS, name)
    }

    fn names(keys: &[ObjectKey]) -> Vec<&str> {
        keys.iter().map(|k| k.name.as_str()).collect()
    }

    #[test]
    fn prunes_only_members_no_longer_desired() {
        let inv = inventory(&[key("keep"), key("gone"), key("unlabelled")]);
        let id = inv.id.clone();
        let live = [
            cm("keep", Some(&id)),
            cm("gone", Some(&id)),
            cm("copied-label", Some(&id)),
            cm("unlabelled", None),
            cm("stranger", None),
        ];
        let desired = [key("keep")].into();
        let plan = plan(&inv, NS, &desired, &live, &PruneOptions::default()).expect("plan");
        assert_eq!(names(&plan.delete), ["gone"]);
        assert_eq!(
            plan.kept,
            vec![
                (key("copied-label"), KeepReason::NotListed),
                (key("unlabelled"), KeepReason::NotLabelled { part_of: None }),
            ]
        );
        assert_eq!(
            plan.kept[0].1.to_string(),
            "not in the inventory (only labelled)"
        );
    }

    #[test]
    fn another_sets_member_is_never_pruned() {
        let inv = inventory(&[key("x")]);
        let live = [cm("x", Some("applyset-other-v1"))];
        let plan = plan(&inv, NS, &BTreeSet::new(), &live, &PruneOptions::default()).expect("plan");
        assert!(plan.delete.is_empty());
        assert_eq!(
            plan.kept[0].1.to_string(),
            "belongs to ApplySet applyset-other-v1"
        );
    }

    #[test]
    fn prune_disabled_and_foreign_objects_are_kept() {
        let inv = inventory(&[
            key("flux"),
            key("argo"),
            key("tracked"),
            key("off"),
            key("plain"),
        ]);
        let id = inv.id.clone();
        let mut flux = cm("flux", Some(&id));
        flux["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = "apps".into();
        let mut argo = cm("argo", Some(&id));
        argo["metadata"]["labels"]["argocd.argoproj.io/instance"] = "web".into();
        let mut tracked = cm("tracked", Some(&id));
        tracked["metadata"]["annotations"] =
            json!({"argocd.argoproj.io/tracking-id": "web:/ConfigMap:apps/tracked"});
        let mut off = cm("off", Some(&id));
        off["metadata"]["annotations"] = json!({PRUNE_ANNOTATION: PRUNE_DISABLED});
        let live = [flux, argo, tracked, off, cm("plain", Some(&id))];
        let desired = [key("other")].into();

        let plan1 = plan(&inv, NS, &desired, &live, &PruneOptions::default()).expect("plan");
        assert_eq!(names(&plan1.delete), ["plain"]);
        let reasons: Vec<String> = plan1
            .kept
            .iter()
            .map(|(k, r)| format!("{k}: {r}"))
            .collect();
        assert_eq!(
            reasons,
            [
                "ConfigMap/apps/flux: managed by a Flux Kustomization (kustomize.toolkit.fluxcd.io/name)",
                "ConfigMap/apps/argo: managed by an Argo CD Application (argocd.argoproj.io/instance)",
                "ConfigMap/apps/tracked: managed by an Argo CD Application (argocd.argoproj.io/tracking-id)",
                "ConfigMap/apps/off: kustomize.toolkit.fluxcd.io/prune: disabled",
            ]
        );

        // Taking over deletes the foreign ones, but never the prune-disabled one.
        let take = PruneOptions {
            take_over: true,
            ..PruneOptions::default()
        };
        let plan2 = plan(&inv, NS, &desired, &live, &take).expect("plan");
        assert_eq!(names(&plan2.delete), ["flux", "argo", "tracked", "plain"]);
        assert_eq!(plan2.kept, vec![(key("off"), KeepReason::PruneDisabled)]);
    }

    #[test]
    fn empty_source_does_not_prune_everything_unless_allowed() {
        let inv = inventory(&[key("a"), key("b")]);
        let id = inv.id.clone();
        let live = [cm("a", Some(&id)), cm("b", Some(&id))];
        let err = plan(&inv, NS, &BTreeSet::new(), &live, &PruneOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to prune: the source has no objects, so every one of the 2 members of \
                 ApplySet {id} would be deleted; allow an empty source to do that"
            )
        );
        let allow = PruneOptions {
            allow_empty: true,
            ..PruneOptions::default()
        };
        let plan = plan(&inv, NS, &BTreeSet::new(), &live, &allow).expect("allowed");
        assert_eq!(names(&plan.delete), ["a", "b"]);
    }

    #[test]
    fn max_prune_by_count_and_percentage() {
        let all: Vec<ObjectKey> = (0..10).map(|i| key(&format!("c{i}"))).collect();
        let inv = inventory(&all);
        let id = inv.id.clone();
        let live: Vec<Value> = (0..10).map(|i| cm(&format!("c{i}"), Some(&id))).collect();
        // Desired keeps 7 of 10: 3 deletions.
        let desired: BTreeSet<ObjectKey> = all[..7].iter().cloned().collect();
        let with = |max: &str, force: bool| PruneOptions {
            max: Some(max.parse().expect("valid")),
            force,
            ..PruneOptions::default()
        };
        assert_eq!(
            plan(&inv, NS, &desired, &live, &with("3", false))
                .expect("ok")
                .delete
                .len(),
            3
        );
        assert_eq!(
            plan(&inv, NS, &desired, &live, &with("30%", false))
                .expect("ok")
                .delete
                .len(),
            3
        );
        let err = plan(&inv, NS, &desired, &live, &with("2", false)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to prune: 3 objects would be deleted, more than the limit of 2 (2 of 10 \
             members); force it to go ahead"
        );
        let err = plan(&inv, NS, &desired, &live, &with("25%", false)).unwrap_err();
        assert!(
            err.to_string()
                .contains("the limit of 25% (2 of 10 members)"),
            "{err}"
        );
        assert_eq!(
            plan(&inv, NS, &desired, &live, &with("0", true))
                .expect("forced")
                .delete
                .len(),
            3
        );
    }

    #[test]
    fn max_prune_parses_counts_and_percentages() {
        assert_eq!("5".parse(), Ok(MaxPrune::Count(5)));
        assert_eq!("10%".parse(), Ok(MaxPrune::Percent(10)));
        assert_eq!(
            "150%".parse::<MaxPrune>(),
            Err("\"150%\" is not a percentage from 0% to 100%".to_owned())
        );
        assert_eq!(
            "lots".parse::<MaxPrune>(),
            Err("\"lots\" is not a count or a percentage (N or N%)".to_owned())
        );
        assert_eq!(MaxPrune::Percent(50).limit(5), 2);
    }

    #[test]
    fn deletes_come_in_reverse_stage_order() {
        let ns = ObjectKey::new("", "Namespace", "", "team");
        let dep = ObjectKey::new("apps", "Deployment", "team", "web");
        let mut inv = inventory(&[]);
        inv.set_members([ns.clone(), dep.clone()].into(), NS);
        let id = inv.id.clone();
        let live = [
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "team", "labels": {PART_OF_LABEL: id}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "team", "labels": {PART_OF_LABEL: id}}}),
        ];
        let desired = [key("something-else")].into();
        let plan = plan(&inv, NS, &desired, &live, &PruneOptions::default()).expect("plan");
        assert_eq!(plan.delete, vec![dep, ns]);
    }
}
