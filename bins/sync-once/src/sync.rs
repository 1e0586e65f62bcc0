//! The reconcile pass, kustomize-controller's in one run:
//!
//! 1. connect, and check every object against discovery (or a CRD of the same source) — an
//!    unknown kind or a nameless object stops the run before anything is written;
//! 2. read the ApplySet parent and list the set's live members (one list per kind and
//!    namespace, by the `part-of` label, and in the same round one unfiltered list of a kind
//!    with many objects the set does not hold yet), which doubles as the live state of most
//!    objects;
//! 3. write the parent as the union of its members and everything about to be applied (so a run
//!    killed midway leaks nothing: kubectl's "superset" step), guarded by its resourceVersion so
//!    that two runs racing on one inventory cannot both win;
//! 4. apply stage by stage (definitions, then `*Class` kinds, then the rest; CRDs are waited for
//!    until Established and discovery is refreshed), `concurrency` objects at a time: absent
//!    objects are applied; present ones are server-side dry-run first and applied only when the
//!    result differs from the live object. When the revision and the digest equal the ones last
//!    applied, an object whose every rendered field already has its value live is unchanged
//!    without a request (drift in any field we set still shows and is corrected);
//! 5. with `--prune`, delete what the prune planner allows (uid-guarded), in reverse stage order;
//! 6. write the parent again: members that were applied plus every old member whose delete did
//!    not succeed, and the revision and digest;
//! 7. with `--wait`, poll health (kstatus rules) until everything is Current, something Failed,
//!    or the timeout.
//!
//! Errors never leave half a report: [`sync`] always returns a [`Report`] saying what was and was
//! not applied, with the error that stopped the run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops::cluster::applyset::{self, Inventory};
use gitops::cluster::compare::{compare, CompareOptions};
use gitops::cluster::health::{health, Status};
use gitops::cluster::order::{self, Stage};
use gitops::cluster::prune::{self, PruneOptions};
use gitops::cluster::{
    annotation, ApplyOptions, Cluster, ClusterError, DeleteOptions, Deletion, Freshness, GroupKind,
    ObjectKey, ParentWrite,
};
use gitops::Identity;
use serde_json::Value;

use crate::load::{default_inventory_name, Loaded};
use crate::{Config, Error, TOOL};

/// Flux's per-object opt-in to recreating an object whose immutable fields changed.
pub const FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";
/// The value of [`FORCE_ANNOTATION`] that enables it.
pub const FORCE_ENABLED: &str = "enabled";

/// From how many unseen objects of one kind in one namespace a list beats a get each.
const BULK_LIST_AT: usize = 8;

/// How long a recreate waits for the old object to go, and a CRD to be Established.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The choices of one run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub prune: bool,
    pub prune_options: PruneOptions,
    /// Recreate objects whose immutable fields changed.
    pub force: bool,
    /// Take over fields other managers own (Flux's default).
    pub force_conflicts: bool,
    /// Wait for health, at most this long.
    pub wait: Option<Duration>,
    pub dry_run: bool,
    pub concurrency: usize,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    /// Deleted and created again (an immutable field changed, forced).
    Recreated,
    Pruned,
    /// The apply or delete failed.
    Failed,
    /// Not attempted, because the run stopped before (an earlier stage failed).
    Skipped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Recreated => "recreated",
            Action::Pruned => "pruned",
            Action::Failed => "failed",
            Action::Skipped => "not applied",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: Identity,
    pub action: Action,
    pub duration: Duration,
    /// Why it failed, or why a prune candidate was kept.
    pub message: Option<String>,
}

/// Health at the end of `--wait`.
#[derive(Debug, Clone)]
pub struct HealthEntry {
    pub id: Identity,
    pub status: Status,
    pub message: String,
}

/// Everything a run did, and the error that stopped it if one did.
#[derive(Debug, Default)]
pub struct Report {
    /// `namespace/name` of the parent Secret.
    pub inventory: String,
    pub applyset_id: String,
    pub entries: Vec<Entry>,
    /// Members not pruned, with why (kept by a safety rule).
    pub kept: Vec<(ObjectKey, String)>,
    pub health: Vec<HealthEntry>,
    pub dry_run: bool,
    pub duration: Duration,
    pub error: Option<Error>,
}

impl Report {
    pub fn count(&self, action: Action) -> usize {
        self.entries.iter().filter(|e| e.action == action).count()
    }
}

/// An object of this run.
#[derive(Debug, Clone)]
struct Item {
    obj: Value,
    id: Identity,
    key: ObjectKey,
    /// Its kind is defined by a CRD of this source and not served yet.
    deferred: bool,
}

/// Runs the pass on the connection made for `config.connect`; `progress` (a TTY's stderr) gets
/// a counter while objects are applied.
pub async fn sync(
    config: &Config,
    loaded: &Loaded,
    connected: Result<Cluster, ClusterError>,
    mut progress: Option<&mut dyn Write>,
) -> Report {
    let started = Instant::now();
    let mut report = Report {
        dry_run: config.sync.dry_run,
        ..Report::default()
    };
    let result = match connected {
        Ok(cluster) => run(config, loaded, cluster, &mut report, &mut progress).await,
        Err(err) => Err(err.into()),
    };
    if let Err(err) = result {
        report.error = Some(err);
    }
    if let Some(p) = progress.as_mut() {
        let _ = write!(p, "\r\x1b[K");
        let _ = p.flush();
    }
    report.duration = started.elapsed();
    report
}

async fn run(
    config: &Config,
    loaded: &Loaded,
    cluster: Cluster,
    report: &mut Report,
    progress: &mut Option<&mut dyn Write>,
) -> Result<(), Error> {
    let opts = &config.sync;
    let cluster = Arc::new(cluster);
    let (pns, pname) = config.inventory.clone().unwrap_or_else(|| {
        (
            cluster.default_namespace().to_owned(),
            default_inventory_name(&loaded.key),
        )
    });
    let parent = Identity {
        group: String::new(),
        version: "v1".into(),
        kind: "Secret".into(),
        namespace: pns.clone(),
        name: pname.clone(),
    };
    let set_id = applyset::id_of_parent(&parent);
    report.inventory = format!("{pns}/{pname}");
    report.applyset_id = set_id.clone();

    // 1. Every object checked before anything is written.
    let items = prepare(&cluster, &loaded.objects, &set_id, &parent)?;
    let desired: BTreeSet<ObjectKey> = items.iter().map(|i| i.key.clone()).collect();

    // 2. The parent and the live members.
    let tooling = format!("{TOOL}/v{}", env!("CARGO_PKG_VERSION"));
    let (mut inventory, mut write, kubectl_set) = match cluster.get(&parent).await? {
        None => (
            Inventory::new(&parent, &tooling),
            ParentWrite::Create,
            false,
        ),
        Some(live) => {
            let inv = Inventory::from_parent(&parent, &live)?;
            // A set kubectl made is shared, not taken: its tooling stays and no member list of
            // ours is added, so membership stays exactly kubectl's (label + kinds + namespaces).
            let kubectl_set = applyset::tooling_name(&inv.tooling) == "kubectl";
            if !kubectl_set {
                inv.check_tooling(&parent, &tooling)?;
            }
            let rv = str_at(&live, &["metadata", "resourceVersion"]).unwrap_or_default();
            (
                inv,
                ParentWrite::Update {
                    resource_version: rv,
                },
                kubectl_set,
            )
        }
    };
    let mut kinds: BTreeSet<GroupKind> = inventory.group_kinds.clone();
    kinds.extend(desired.iter().map(ObjectKey::group_kind));
    // Our own sets list their members, so only their namespaces are listed (the parent's may
    // be one the credentials can only keep Secrets in); kubectl's sets span their whole scope.
    let mut namespaces: BTreeSet<String> = match &inventory.members {
        Some(members) => members
            .iter()
            .filter(|k| !k.namespace.is_empty())
            .map(|k| k.namespace.clone())
            .collect(),
        None => inventory.namespaces(&pns),
    };
    namespaces.extend(
        desired
            .iter()
            .filter(|k| !k.namespace.is_empty())
            .map(|k| k.namespace.clone()),
    );
    let kinds: Vec<GroupKind> = kinds.into_iter().collect();
    let namespaces: Vec<String> = namespaces.into_iter().collect();
    // Desired objects a list of the set's members will not show are fetched one by one,
    // unless many of one kind share a namespace (a first sync): then one unfiltered list of
    // that kind there is cheaper, and what it lacks is known to be absent. Where the member
    // list we keep already says so, that list goes out with the members' lists instead of
    // after them: each list is a consistent read, which the server may hold until its cache
    // has caught up, so one round of lists instead of two is a visible part of a start-up.
    let early = match &inventory.members {
        Some(members) => bulk_scopes(
            items
                .iter()
                .filter(|i| !i.deferred && !members.contains(&i.key)),
        ),
        // kubectl's sets keep no list: what the members' lists lack is known only afterwards.
        None => BTreeMap::new(),
    };
    // Our sets list their members in the parent (read from etcd above), and a member the lists
    // miss is fetched by name below, so these lists may come from the server's cache without
    // waiting for it to catch up. What a list defines is read consistently: a kubectl set's
    // members.
    let freshness = if inventory.members.is_some() {
        Freshness::Cached
    } else {
        Freshness::Latest
    };
    let early_scopes: Vec<(GroupKind, String)> = early.keys().cloned().collect();
    let selector = applyset::member_selector(&set_id);
    let (listed, bulk_listed) = tokio::try_join!(
        cluster.list(&kinds, &selector, &namespaces, freshness),
        cluster.list_scopes(&early_scopes, "", freshness),
    )?;
    let mut live: HashMap<ObjectKey, Value> = listed
        .into_iter()
        .map(|obj| (ObjectKey::of(&obj), obj))
        .collect();
    if inventory.members.is_none() {
        // kubectl's rule, made explicit for the planner: labelled and in the set's scope.
        let members: BTreeSet<ObjectKey> = live
            .iter()
            .filter(|(_, obj)| inventory.is_member(obj, &pns))
            .map(|(k, _)| k.clone())
            .collect();
        inventory.members = Some(members);
    }
    let mut absent: BTreeSet<ObjectKey> = BTreeSet::new();
    note_listed(&mut live, &mut absent, &early, bulk_listed);
    let late = bulk_scopes(
        items
            .iter()
            .filter(|i| !i.deferred && !live.contains_key(&i.key) && !absent.contains(&i.key)),
    );
    if !late.is_empty() {
        let scopes: Vec<(GroupKind, String)> = late.keys().cloned().collect();
        let listed = cluster.list_scopes(&scopes, "", freshness).await?;
        note_listed(&mut live, &mut absent, &late, listed);
    }
    let fast = inventory.digest.as_deref() == Some(loaded.digest.as_str())
        && inventory.revision == loaded.revision;

    // 3. The superset, before anything is applied.
    let mut on_server = inventory.clone();
    let superset = inventory.superset(&desired, &pns);
    if !opts.dry_run && (superset != inventory || write == ParentWrite::Create) {
        write = write_parent(&cluster, &parent, &superset, &write, kubectl_set).await?;
        on_server = superset.clone();
    }

    // 4. Apply, stage by stage.
    let values: Vec<&Value> = items.iter().map(|i| &i.obj).collect();
    let stages = order::stages(values.iter().copied());
    let total = items.len();
    let mut done = 0usize;
    let mut results: BTreeMap<usize, Entry> = BTreeMap::new();
    let mut failure: Option<Error> = None;
    let mut items = items;
    for (stage, indices) in &stages {
        if failure.is_some() {
            break;
        }
        // Kinds defined by this source's CRDs are served now (or, in a dry run, never).
        if *stage != Stage::Definitions
            && !opts.dry_run
            && indices.iter().any(|&i| items[i].deferred)
        {
            cluster.refresh_discovery().await?;
            for &i in indices {
                if items[i].deferred {
                    let id = cluster.effective_identity(&items[i].obj)?;
                    items[i].id = id;
                    items[i].deferred = false;
                }
            }
        }
        let semaphore = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for &i in indices {
            let item = items[i].clone();
            let live_obj = live.remove(&item.key);
            let known_absent = absent.contains(&item.key);
            let cluster = Arc::clone(&cluster);
            let semaphore = Arc::clone(&semaphore);
            let task = Task {
                force: opts.force || annotation(&item.obj, FORCE_ANNOTATION) == Some(FORCE_ENABLED),
                force_conflicts: opts.force_conflicts,
                dry_run: opts.dry_run,
                fast,
                known_absent,
            };
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let started = Instant::now();
                let result = apply_one(&cluster, &item, live_obj, task).await;
                (i, item.id, result, started.elapsed())
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (i, id, result, duration) = match joined {
                Ok(v) => v,
                Err(e) => {
                    failure.get_or_insert(Error::Input(format!("an apply task failed: {e}")));
                    continue;
                }
            };
            done += 1;
            if let Some(p) = progress.as_mut() {
                let _ = write!(p, "\r\x1b[K[{done}/{total}] applying {}", stage.name());
                let _ = p.flush();
            }
            let entry = match result {
                Ok(action) => Entry {
                    id,
                    action,
                    duration,
                    message: None,
                },
                Err(err) => {
                    let message = err.to_string();
                    failure.get_or_insert(err);
                    Entry {
                        id,
                        action: Action::Failed,
                        duration,
                        message: Some(message),
                    }
                }
            };
            results.insert(i, entry);
        }
        if failure.is_none() && *stage == Stage::Definitions && !opts.dry_run {
            wait_established(&cluster, &items, indices).await?;
        }
    }
    let failed_count = results
        .values()
        .filter(|e| e.action == Action::Failed)
        .count();
    for (i, item) in items.iter().enumerate() {
        let entry = results.remove(&i).unwrap_or_else(|| Entry {
            id: item.id.clone(),
            action: Action::Skipped,
            duration: Duration::ZERO,
            message: None,
        });
        report.entries.push(entry);
    }
    if let Some(err) = failure {
        let skipped = report.count(Action::Skipped);
        return Err(with_more(err, failed_count, skipped));
    }

    // 5. Prune.
    let mut deleted: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut prune_error = None;
    if opts.prune {
        let mut candidates: Vec<Value> = live.values().cloned().collect();
        for key in superset.members.iter().flatten() {
            if desired.contains(key) || live.contains_key(key) {
                continue;
            }
            // Listed but not found by its label: fetch it by name (it may have lost the label,
            // which keeps it alive), or learn that it is gone.
            let Some(resource) = cluster
                .discovery()
                .resolve_group_kind(&key.group_kind())
                .cloned()
            else {
                deleted.insert(key.clone());
                continue;
            };
            let id = Identity {
                group: key.group.clone(),
                version: resource.version.clone(),
                kind: key.kind.clone(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            };
            match cluster.get(&id).await? {
                Some(obj) => candidates.push(obj),
                None => {
                    deleted.insert(key.clone());
                }
            }
        }
        candidates.sort_by_key(ObjectKey::of);
        let plan = prune::plan(&superset, &pns, &desired, &candidates, &opts.prune_options)?;
        report.kept = plan
            .kept
            .iter()
            .map(|(k, why)| (k.clone(), why.to_string()))
            .collect();
        let by_key: HashMap<ObjectKey, &Value> =
            candidates.iter().map(|o| (ObjectKey::of(o), o)).collect();
        for key in &plan.delete {
            let started = Instant::now();
            let obj = by_key.get(key).copied();
            let id = obj
                .map(gitops::cluster::identity_of)
                .unwrap_or_else(|| Identity {
                    group: key.group.clone(),
                    version: String::new(),
                    kind: key.kind.clone(),
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                });
            let uid = obj.and_then(|o| str_at(o, &["metadata", "uid"]));
            let result = cluster
                .delete(
                    &id,
                    &DeleteOptions {
                        uid,
                        dry_run: opts.dry_run,
                        ..DeleteOptions::default()
                    },
                )
                .await;
            let entry = match result {
                Ok(outcome) => {
                    if matches!(outcome, Deletion::Deleted | Deletion::NotFound) {
                        deleted.insert(key.clone());
                    }
                    Entry {
                        id,
                        action: Action::Pruned,
                        duration: started.elapsed(),
                        message: None,
                    }
                }
                Err(err) => {
                    let entry = Entry {
                        id,
                        action: Action::Failed,
                        duration: started.elapsed(),
                        message: Some(err.to_string()),
                    };
                    prune_error.get_or_insert(Error::Cluster(err));
                    entry
                }
            };
            report.entries.push(entry);
        }
    }

    // 6. The parent: what is now in the set, and the revision when everything went through.
    if !opts.dry_run {
        let mut next = superset.after_prune(&desired, &deleted, &pns);
        if prune_error.is_none() {
            next.revision = loaded.revision.clone();
            next.digest = Some(loaded.digest.clone());
        }
        if next != on_server {
            write_parent(&cluster, &parent, &next, &write, kubectl_set).await?;
        }
    }
    if let Some(err) = prune_error {
        return Err(err);
    }

    // 7. Health.
    if let (Some(timeout), false) = (opts.wait, opts.dry_run) {
        wait_healthy(&cluster, &items, timeout, report, progress).await?;
    }
    Ok(())
}

/// The `(kind, namespace)` scopes holding at least [`BULK_LIST_AT`] of these objects, with
/// the objects' keys.
fn bulk_scopes<'a>(
    items: impl Iterator<Item = &'a Item>,
) -> BTreeMap<(GroupKind, String), Vec<ObjectKey>> {
    let mut scopes: BTreeMap<(GroupKind, String), Vec<ObjectKey>> = BTreeMap::new();
    for item in items {
        scopes
            .entry((item.key.group_kind(), item.key.namespace.clone()))
            .or_default()
            .push(item.key.clone());
    }
    scopes.retain(|_, keys| keys.len() >= BULK_LIST_AT);
    scopes
}

/// Takes the objects of unfiltered lists of `scopes`: the wanted ones are live, the wanted ones
/// the lists lack are absent.
fn note_listed(
    live: &mut HashMap<ObjectKey, Value>,
    absent: &mut BTreeSet<ObjectKey>,
    scopes: &BTreeMap<(GroupKind, String), Vec<ObjectKey>>,
    listed: Vec<Value>,
) {
    let wanted: BTreeSet<&ObjectKey> = scopes.values().flatten().collect();
    for obj in listed {
        let key = ObjectKey::of(&obj);
        if wanted.contains(&key) {
            live.insert(key, obj);
        }
    }
    absent.extend(
        wanted
            .into_iter()
            .filter(|k| !live.contains_key(*k))
            .cloned(),
    );
}

/// Labels every object as a member and finds its served resource and namespace, or the CRD of
/// this source that defines it. Fails on the first object that cannot be applied.
fn prepare(
    cluster: &Cluster,
    objects: &[Value],
    set_id: &str,
    parent: &Identity,
) -> Result<Vec<Item>, Error> {
    // Kinds this source defines: (group, kind) → namespaced.
    let mut defined: HashMap<(String, String), bool> = HashMap::new();
    for obj in objects {
        let id = gitops::cluster::identity_of(obj);
        if id.group == "apiextensions.k8s.io" && id.kind == "CustomResourceDefinition" {
            let s = |p: &[&str]| str_at(obj, p).unwrap_or_default();
            defined.insert(
                (s(&["spec", "group"]), s(&["spec", "names", "kind"])),
                s(&["spec", "scope"]) != "Cluster",
            );
        }
    }
    let mut items = Vec::with_capacity(objects.len());
    for obj in objects {
        let mut obj = obj.clone();
        applyset::label_member(&mut obj, set_id)?;
        let (id, deferred) = match cluster.effective_identity(&obj) {
            Ok(id) => (id, false),
            Err(ClusterError::UnknownKind { .. })
                if defined.contains_key(&{
                    let id = gitops::cluster::identity_of(&obj);
                    (id.group, id.kind)
                }) =>
            {
                let mut id = gitops::cluster::identity_of(&obj);
                let namespaced = defined[&(id.group.clone(), id.kind.clone())];
                if !namespaced {
                    id.namespace.clear();
                } else if id.namespace.is_empty() {
                    id.namespace = cluster.default_namespace().to_owned();
                }
                (id, true)
            }
            Err(err) => return Err(err.into()),
        };
        if id.name.is_empty() {
            return Err(Error::Input(format!(
                "{}: has no metadata.name",
                id.short()
            )));
        }
        if id.group == parent.group
            && id.kind == parent.kind
            && id.namespace == parent.namespace
            && id.name == parent.name
        {
            return Err(Error::Input(format!(
                "{}: is the inventory of this sync and cannot also be one of its objects",
                id.short()
            )));
        }
        items.push(Item {
            key: ObjectKey::from_identity(&id),
            obj,
            id,
            deferred,
        });
    }
    Ok(items)
}

#[derive(Debug, Clone, Copy)]
struct Task {
    force: bool,
    force_conflicts: bool,
    dry_run: bool,
    fast: bool,
    /// The object is known not to exist (an unfiltered list of its kind lacked it).
    known_absent: bool,
}

async fn apply_one(
    cluster: &Cluster,
    item: &Item,
    live: Option<Value>,
    task: Task,
) -> Result<Action, Error> {
    let apply = ApplyOptions {
        field_manager: TOOL.to_owned(),
        force: task.force_conflicts,
        dry_run: false,
    };
    let dry = ApplyOptions {
        dry_run: true,
        ..apply.clone()
    };
    if item.deferred {
        // Only in a dry run: its CRD was not created, so the server cannot dry-run it.
        return Ok(Action::Created);
    }
    let live = match live {
        Some(v) => Some(v),
        None if task.known_absent => None,
        None => cluster.get(&item.id).await?,
    };
    let Some(live) = live else {
        cluster
            .apply_write(&item.obj, if task.dry_run { &dry } else { &apply })
            .await?;
        return Ok(Action::Created);
    };
    if task.fast && contains(&live, &item.obj) {
        return Ok(Action::Unchanged);
    }
    match cluster.apply(&item.obj, &dry).await {
        Ok(result) => {
            if !compare(&result, &live, &CompareOptions::default()).differs() {
                return Ok(Action::Unchanged);
            }
            if !task.dry_run {
                cluster.apply_write(&item.obj, &apply).await?;
            }
            Ok(Action::Configured)
        }
        Err(err) if err.is_immutable() => {
            let message = match &err {
                ClusterError::Invalid { message, .. } => message.clone(),
                other => other.to_string(),
            };
            if !task.force {
                return Err(Error::Immutable {
                    object: item.id.short(),
                    message: format!("cannot be changed in place: {message}"),
                });
            }
            if task.dry_run {
                return Ok(Action::Recreated);
            }
            recreate(cluster, item, &live, &apply).await?;
            Ok(Action::Recreated)
        }
        Err(err) => Err(err.into()),
    }
}

/// Deletes the object (this very one, by uid), waits until it is gone, and applies it again.
async fn recreate(
    cluster: &Cluster,
    item: &Item,
    live: &Value,
    apply: &ApplyOptions,
) -> Result<(), Error> {
    let uid = str_at(live, &["metadata", "uid"]);
    cluster
        .delete(
            &item.id,
            &DeleteOptions {
                uid,
                propagation: gitops::cluster::Propagation::Background,
                ..DeleteOptions::default()
            },
        )
        .await?;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while cluster.get(&item.id).await?.is_some() {
        if Instant::now() > deadline {
            return Err(Error::Input(format!(
                "{}: deleted to be recreated, but still there after {}s",
                item.id.short(),
                SETTLE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.apply_write(&item.obj, apply).await?;
    Ok(())
}

/// Whether every field of `desired` has the same value in `live` (maps may have more keys live;
/// lists must match element by element).
fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| l.get(k).is_some_and(|lv| contains(lv, dv))),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv))
        }
        (l, d) => l == d,
    }
}

async fn write_parent(
    cluster: &Cluster,
    parent: &Identity,
    inventory: &Inventory,
    write: &ParentWrite,
    kubectl_set: bool,
) -> Result<ParentWrite, Error> {
    let mut inv = inventory.clone();
    if kubectl_set {
        inv.members = None;
    }
    let rv = match write {
        ParentWrite::Create => None,
        ParentWrite::Update { resource_version } => Some(resource_version.as_str()),
    };
    let body = inv.parent_patch(parent, rv)?;
    match cluster.write_parent(&body, write, TOOL).await {
        Ok(written) => Ok(ParentWrite::Update {
            resource_version: str_at(&written, &["metadata", "resourceVersion"])
                .unwrap_or_default(),
        }),
        Err(ClusterError::NotFound { .. }) if matches!(write, ParentWrite::Create) => {
            Err(Error::InventoryNamespace {
                parent: parent.short(),
                namespace: parent.namespace.clone(),
            })
        }
        Err(ClusterError::Conflict { message, .. }) => Err(Error::Raced {
            parent: parent.short(),
            message,
        }),
        Err(err) => Err(err.into()),
    }
}

/// Waits until the CRDs of a stage are Established.
async fn wait_established(
    cluster: &Cluster,
    items: &[Item],
    indices: &[usize],
) -> Result<(), Error> {
    let crds: Vec<&Item> = indices
        .iter()
        .map(|&i| &items[i])
        .filter(|i| i.id.group == "apiextensions.k8s.io" && i.id.kind == "CustomResourceDefinition")
        .collect();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    for crd in crds {
        loop {
            let h = health(cluster.get(&crd.id).await?.as_ref());
            match h.status {
                Status::Current => break,
                Status::Failed => {
                    return Err(Error::Unhealthy(format!(
                        "{}: not established: {} {}",
                        crd.id.short(),
                        h.reason,
                        h.message
                    )))
                }
                _ if Instant::now() > deadline => {
                    return Err(Error::Unhealthy(format!(
                        "{}: not established after {}s",
                        crd.id.short(),
                        SETTLE_TIMEOUT.as_secs()
                    )))
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}

/// Polls health until every object is Current; fails at once on a Failed one.
async fn wait_healthy(
    cluster: &Arc<Cluster>,
    items: &[Item],
    timeout: Duration,
    report: &mut Report,
    progress: &mut Option<&mut dyn Write>,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<usize> = (0..items.len()).collect();
    let mut last: HashMap<usize, (Status, String)> = HashMap::new();
    let mut delay = Duration::from_millis(250);
    loop {
        let mut tasks = tokio::task::JoinSet::new();
        for &i in &pending {
            let cluster = Arc::clone(cluster);
            let id = items[i].id.clone();
            tasks.spawn(async move { (i, cluster.get(&id).await) });
        }
        let mut failed = Vec::new();
        let mut still = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((i, got)) = joined else { continue };
            let h = wait_health(got?.as_ref());
            let text = if h.reason.is_empty() {
                h.message.clone()
            } else {
                format!("{}: {}", h.reason, h.message)
            };
            match h.status {
                Status::Current => {}
                Status::Failed => failed.push((i, text.clone())),
                _ => still.push(i),
            }
            last.insert(i, (h.status, text));
        }
        still.sort_unstable();
        report.health = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (status, message) = last
                    .get(&i)
                    .cloned()
                    .unwrap_or((Status::Current, String::new()));
                HealthEntry {
                    id: item.id.clone(),
                    status,
                    message,
                }
            })
            .collect();
        if !failed.is_empty() {
            failed.sort();
            let list: Vec<String> = failed
                .iter()
                .map(|(i, why)| format!("{} ({why})", items[*i].id.short()))
                .collect();
            return Err(Error::Unhealthy(format!(
                "applied, but failed to become ready: {}",
                list.join(", ")
            )));
        }
        if still.is_empty() {
            return Ok(());
        }
        if let Some(p) = progress.as_mut() {
            let _ = write!(p, "\r\x1b[Kwaiting for {} objects", still.len());
            let _ = p.flush();
        }
        if Instant::now() + delay > deadline {
            let list: Vec<String> = still
                .iter()
                .map(|i| {
                    let why = last
                        .get(i)
                        .map(|(s, m)| format!("{s}: {m}"))
                        .unwrap_or_default();
                    format!("{} ({why})", items[*i].id.short())
                })
                .collect();
            return Err(Error::Unhealthy(format!(
                "applied, but not ready after {}: {}",
                humantime(timeout),
                list.join(", ")
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
        pending = still;
    }
}

/// kstatus's health, except that a Job is waited for until it finished, as Flux's job status
/// reader does (kstatus calls a started Job current, which would let `--wait` miss its failure).
fn wait_health(obj: Option<&Value>) -> gitops::cluster::health::Health {
    let h = health(obj);
    let Some(obj) = obj else { return h };
    let id = gitops::cluster::identity_of(obj);
    if id.group != "batch" || id.kind != "Job" || h.status != Status::Current {
        return h;
    }
    let finished = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c["status"] == "True" && matches!(c["type"].as_str(), Some("Complete" | "Suspended"))
        });
    if finished {
        h
    } else {
        gitops::cluster::health::Health {
            status: Status::InProgress,
            reason: "JobRunning".into(),
            message: h.message,
        }
    }
}

/// The string at a path of keys, owned.
fn str_at(obj: &Value, path: &[&str]) -> Option<String> {
    let mut v = obj;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str().map(str::to_owned)
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The first error, saying how many more objects failed and how many were not attempted.
fn with_more(err: Error, failed: usize, skipped: usize) -> Error {
    if failed <= 1 && skipped == 0 {
        return err;
    }
    let mut extra = Vec::new();
    if failed > 1 {
        extra.push(format!("{} more failed", failed - 1));
    }
    if skipped > 0 {
        extra.push(format!("{skipped} not applied"));
    }
    Error::Input(format!("{err} ({})", extra.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contains_is_a_subset_check() {
        let live = json!({"a": 1, "b": {"c": [1, {"d": 2, "e": 3}]}, "x": "y"});
        assert!(contains(&live, &json!({"a": 1, "b": {"c": [1, {"d": 2}]}})));
        assert!(!contains(&live, &json!({"a": 2})));
        assert!(
            !contains(&live, &json!({"b": {"c": [1]}})),
            "list length matters"
        );
        assert!(!contains(&live, &json!({"z": 1})));
    }

    #[test]
    fn more_failures_are_counted() {
        let err = with_more(Error::Input("boom".into()), 3, 2);
        assert_eq!(err.to_string(), "boom (2 more failed, 2 not applied)");
        assert_eq!(with_more(Error::Input("x".into()), 1, 0).to_string(), "x");
    }
}
