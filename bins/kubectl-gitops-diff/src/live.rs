//! The live diff: what `sync-once` would do to the cluster. Each desired object is
//! server-side applied as a dry run with `sync-once`'s field manager (and, when the source has
//! an ApplySet inventory, with the `part-of` label sync-once puts on members), and the result is
//! compared with the live object, so defaulted fields, admission and field ownership are the
//! server's own. Objects the inventory lists that are no longer desired are reported as pruned,
//! decided by the same prune planner sync-once uses.
//!
//! The requests run concurrently (bounded): one dry-run PATCH per object, and the live objects
//! by one LIST per kind and namespace where many objects share them (else a GET each). Nothing
//! is ever persisted.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use gitops::cluster::applyset::{self, Inventory};
use gitops::cluster::prune::{self, PruneOptions};
use gitops::cluster::{identity_of, ApplyOptions, Cluster, ClusterError, Freshness, ObjectKey};
use gitops::{Identity, Object};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::report::{Entry, Report, ShowOptions};

/// From this many objects of one kind in one namespace on, their live state is listed once
/// instead of fetched one by one.
const LIST_THRESHOLD: usize = 8;

/// How to run the live diff.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The field manager of the dry run: `sync-once`'s, so the diff shows what it would do.
    pub field_manager: String,
    /// Take over fields another manager owns, as sync-once does by default.
    pub force_conflicts: bool,
    /// The ApplySet parent sync-once records the set on (`--inventory`); `None`: the one
    /// sync-once derives from the source ([`default_inventory_name`] of `source_key`, a Secret
    /// in the default namespace).
    pub inventory: Option<Identity>,
    /// The source as sync-once names it for its default inventory.
    pub source_key: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub show: ShowOptions,
}

/// The default inventory name sync-once gives a source: `sync-once-` and the first 12 hex digits
/// of the SHA-256 of its key (`URL|path,path` for a repository, the paths joined by `,`, the
/// file name, or `stdin`). Kept identical to sync-once's so both find the same set.
pub fn default_inventory_name(key: &str) -> String {
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("sync-once-{}", &hash[..12])
}

/// Diffs `desired` against the cluster.
pub async fn diff(
    cluster: Arc<Cluster>,
    desired: Vec<Object>,
    options: &LiveOptions,
) -> Result<Report, ClusterError> {
    // Kinds the source itself defines (a CRD next to its resources) and namespaces it creates:
    // an object of those cannot be dry-run before they exist, and is simply created.
    let mut crd_kinds: HashSet<(String, String)> = HashSet::new();
    let mut new_namespaces: HashSet<String> = HashSet::new();
    for obj in &desired {
        let id = obj.identity();
        if id.kind == "CustomResourceDefinition" && id.group == "apiextensions.k8s.io" {
            let group = obj.value.pointer("/spec/group").and_then(Value::as_str);
            let kind = obj
                .value
                .pointer("/spec/names/kind")
                .and_then(Value::as_str);
            if let (Some(g), Some(k)) = (group, kind) {
                crd_kinds.insert((g.to_owned(), k.to_owned()));
            }
        }
        if id.kind == "Namespace" && id.group.is_empty() {
            new_namespaces.insert(id.name.clone());
        }
    }

    // The inventory, as sync-once reads it before applying.
    let parent = options.inventory.clone().unwrap_or_else(|| Identity {
        group: String::new(),
        version: "v1".into(),
        kind: "Secret".into(),
        namespace: cluster.default_namespace().to_owned(),
        name: default_inventory_name(&options.source_key),
    });
    let inventory: (Identity, Option<Inventory>) = {
        let parent = {
            let mut p = parent.clone();
            if p.version.is_empty() {
                let gk = gitops::cluster::GroupKind::new(&p.group, &p.kind);
                if let Some(r) = cluster.discovery().resolve_group_kind(&gk) {
                    p.version = r
                        .api_version()
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                }
            }
            if let Ok(resource) = cluster.resource_for(&p) {
                if !resource.namespaced {
                    p.namespace.clear();
                }
            }
            p
        };
        let live = cluster.get(&parent).await?;
        let inv = match live {
            Some(live) => Some(Inventory::from_parent(&parent, &live)?),
            None => None,
        };
        (parent, inv)
    };
    // Members carry the set's label once the set exists; before sync-once's first run there is
    // no set, and the labels its first run adds are bookkeeping, not a change worth showing.
    let set_id = inventory
        .1
        .as_ref()
        .map(|_| applyset::id_of_parent(&inventory.0));
    if set_id.is_none() {
        tracing::info!(
            "no ApplySet inventory {} yet: nothing can show as pruned",
            inventory.0.short()
        );
    }

    // Many objects of one kind in one namespace: one LIST instead of a GET each (kubectl diff
    // does a GET per object), when the list serves the version the source uses.
    let mut prepared = Vec::with_capacity(desired.len());
    let mut groups: HashMap<(String, String, String), usize> = HashMap::new();
    for obj in desired {
        let mut value = obj.value;
        crate::mask::register_secret_values(&value);
        if let Some(id) = &set_id {
            applyset::label_member(&mut value, id)?;
        }
        if let Ok(effective) = cluster.effective_identity(&value) {
            let gk = gitops::cluster::GroupKind::new(&effective.group, &effective.kind);
            let same_version = cluster
                .discovery()
                .resolve_group_kind(&gk)
                .is_some_and(|r| r.version == effective.version);
            if same_version {
                *groups
                    .entry((effective.group, effective.kind, effective.namespace))
                    .or_default() += 1;
            }
        }
        prepared.push(value);
    }
    let mut listed: HashMap<(String, String, String), HashMap<String, Value>> = HashMap::new();
    for ((group, kind, namespace), count) in groups {
        if count < LIST_THRESHOLD {
            continue;
        }
        let gk = gitops::cluster::GroupKind::new(&group, &kind);
        let namespaces = if namespace.is_empty() {
            Vec::new()
        } else {
            vec![namespace.clone()]
        };
        let items = cluster
            .list(&[gk], "", &namespaces, Freshness::Latest)
            .await?;
        let by_name = items
            .into_iter()
            .filter_map(|v| {
                let name = v.pointer("/metadata/name")?.as_str()?.to_owned();
                Some((name, v))
            })
            .collect();
        listed.insert((group, kind, namespace), by_name);
    }
    let listed = Arc::new(listed);

    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut desired_keys = BTreeSet::new();
    for (index, value) in prepared.into_iter().enumerate() {
        let id = identity_of(&value);
        let unknown_crd_kind = cluster.resource_for(&id).is_err()
            && crd_kinds.contains(&(id.group.clone(), id.kind.clone()));
        if unknown_crd_kind {
            // Its CRD is created by this very change: the object will be created.
            desired_keys.insert(ObjectKey::from_identity(&id));
            tasks.spawn(async move { Ok((index, None, Some(value))) });
            continue;
        }
        let effective = cluster.effective_identity(&value)?;
        desired_keys.insert(ObjectKey::from_identity(&effective));
        let cluster = Arc::clone(&cluster);
        let semaphore = Arc::clone(&semaphore);
        let apply = ApplyOptions {
            field_manager: options.field_manager.clone(),
            force: options.force_conflicts,
            dry_run: true,
        };
        let namespace_is_new = new_namespaces.contains(&effective.namespace);
        let listed = Arc::clone(&listed);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let group = (
                effective.group.clone(),
                effective.kind.clone(),
                effective.namespace.clone(),
            );
            let live = match listed.get(&group) {
                Some(by_name) => by_name.get(&effective.name).cloned(),
                None => cluster.get(&effective).await?,
            };
            let merged = match cluster.apply(&value, &apply).await {
                Ok(merged) => merged,
                // The namespace is created by this change, so the server cannot dry-run into
                // it yet: the object will be created as rendered.
                Err(ClusterError::NotFound { .. }) if live.is_none() && namespace_is_new => {
                    let mut v = value;
                    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.insert("namespace".into(), effective.namespace.clone().into());
                    }
                    v
                }
                Err(e) => return Err(e),
            };
            Ok((index, live, Some(merged)))
        });
    }

    let mut results: Vec<(usize, Option<Value>, Option<Value>)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => {
                tasks.abort_all();
                return Err(e);
            }
            Err(e) => {
                return Err(ClusterError::Request {
                    object: "diff".into(),
                    message: format!("a worker failed: {e}"),
                })
            }
        }
    }
    results.sort_by_key(|(i, _, _)| *i);
    let mut entries: Vec<Entry> = results
        .iter()
        .map(|(_, live, merged)| Entry::new(live.as_ref(), merged.as_ref(), &options.show))
        .collect();

    // What sync-once would prune: the set's live members that are no longer desired.
    if let (parent, Some(inv)) = &inventory {
        let namespaces: Vec<String> = inv.namespaces(&parent.namespace).into_iter().collect();
        let kinds: Vec<_> = inv.group_kinds.iter().cloned().collect();
        let live = cluster
            .list(
                &kinds,
                &applyset::member_selector(&inv.id),
                &namespaces,
                Freshness::Latest,
            )
            .await?;
        let plan = prune::plan(
            inv,
            &parent.namespace,
            &desired_keys,
            &live,
            &PruneOptions {
                allow_empty: true,
                ..PruneOptions::default()
            },
        )?;
        let doomed: HashSet<&ObjectKey> = plan.delete.iter().collect();
        let mut pruned: Vec<&Value> = live
            .iter()
            .filter(|obj| doomed.contains(&ObjectKey::of(obj)))
            .collect();
        pruned.sort_by_key(|obj| ObjectKey::of(obj));
        for obj in pruned {
            entries.push(Entry::new(Some(obj), None, &options.show));
        }
    }
    Ok(Report {
        entries,
        from_label: "live".into(),
        to_label: "merged".into(),
        ..Report::default()
    })
}
