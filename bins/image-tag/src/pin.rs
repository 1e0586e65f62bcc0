//! `image-tag pin`: rewrites every image reference of a manifest stream to
//! `repo:tag@sha256:…` (kbld's job). Images are found where `gitops::image` says they are (the
//! rule kustomize's images transformer and git-promote's provenance use: containers,
//! initContainers and ephemeralContainers at any depth, so custom resources with pod templates
//! count, and OCI image volumes), plus `--image-path` fields. Each distinct reference is resolved once, concurrently with a bound; already pinned
//! references are verified (the digest must exist in the repository), not re-resolved. With
//! `--lock` the resolutions are recorded; with `--locked` only the lock is used and no registry is
//! contacted. Nothing is written — neither output nor lock — when any reference fails.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gitops::image::{ExtraPath, ImageFields, JsonPath};
use gitops::manifest::{self, Format, Object};
use gitops::registry::{Registry, RegistryError};
use gitops::Outcome;
use serde_json::Value;

use crate::lock::{self, Entry, Lock, Platform};
use crate::reference::{self, digest_of};
use crate::{Result, ToolError};

/// `image-tag pin` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest stream (a file, a directory, or `-` for stdin).
    #[arg(default_value = "-", value_name = "FILE")]
    pub file: PathBuf,
    /// Record reference → digest (and platform digests of indexes) in this file.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Use only the lock file, never a registry; fail on any reference it does not have.
    #[arg(long, requires = "lock")]
    pub locked: bool,
    /// More image fields, for custom resources whose images are not in a `containers` list:
    /// `KIND=PATH`, PATH dot-separated with `[]` for "every element", e.g.
    /// `Widget=spec.image`. KIND may be `group/Kind`. Repeatable.
    #[arg(long = "image-path", value_name = "KIND=PATH")]
    pub image_paths: Vec<String>,
    /// Replace references first with an `OLD=NEW` map (what `image-tag mirror` prints).
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// How many registry requests run at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: Format,
}

/// Where one image string sits: object index and the path to it.
#[derive(Debug, Clone)]
struct Site {
    object: usize,
    pointer: JsonPath,
}

fn image_fields(args: &Args) -> Result<ImageFields> {
    let extra = args
        .image_paths
        .iter()
        .map(|spec| {
            ExtraPath::parse(spec).map_err(|e| ToolError::Message(format!("--image-path {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ImageFields::with_extra(extra))
}

/// Every image site of the stream, in document order.
fn sites(objects: &[Object], fields: &ImageFields) -> Vec<Site> {
    let mut out = Vec::new();
    for (index, obj) in objects.iter().enumerate() {
        fields.visit(&obj.value, |path, _, _| {
            out.push(Site {
                object: index,
                pointer: path.clone(),
            });
        });
    }
    out
}

fn get<'a>(value: &'a Value, pointer: &JsonPath) -> Option<&'a str> {
    pointer.get(value).and_then(Value::as_str)
}

/// What one distinct reference resolved to.
#[derive(Debug, Clone)]
struct Resolved {
    output: String,
    entry: Entry,
}

async fn resolve_one(
    registry: Arc<Registry>,
    text: String,
    with_platforms: bool,
) -> std::result::Result<Resolved, RegistryError> {
    let parsed = gitops::registry::parse_reference(&text)?;
    if let Some(digest) = parsed.digest() {
        // Already pinned: verify that the digest exists in that repository; the tag may have
        // moved since, which is the point of pinning.
        let by_digest = gitops::registry::Reference::with_digest(
            parsed.registry().to_owned(),
            parsed.repository().to_owned(),
            digest.to_owned(),
        );
        if !registry.exists(&by_digest).await? {
            return Err(RegistryError::NotFound { reference: text });
        }
        return Ok(Resolved {
            output: text.clone(),
            entry: Entry {
                digest: digest.to_owned(),
                media_type: String::new(),
                platforms: Vec::new(),
            },
        });
    }
    let entry = if with_platforms {
        let manifest = registry.manifest(&parsed).await?;
        Entry {
            platforms: manifest
                .children()
                .into_iter()
                .map(|d| Platform {
                    platform: d.platform.unwrap_or_default(),
                    digest: d.digest,
                })
                .collect(),
            media_type: manifest.media_type,
            digest: manifest.digest,
        }
    } else {
        Entry {
            digest: registry.digest(&parsed).await?,
            media_type: String::new(),
            platforms: Vec::new(),
        }
    };
    Ok(Resolved {
        output: reference::pinned(&text, &entry.digest),
        entry,
    })
}

fn describe(objects: &[Object], site: &Site) -> String {
    let obj = &objects[site.object];
    format!(
        "{}: {}: {}",
        obj.source,
        obj.identity().short(),
        site.pointer
    )
}

/// Keeps registry errors typed (for the hint) while naming where the reference came from.
fn located(place: String, err: RegistryError) -> ToolError {
    ToolError::Located { place, source: err }
}

/// Runs `pin`. `registry` is `None` exactly when `--locked`.
pub fn run(
    args: &Args,
    registry: Option<(&tokio::runtime::Runtime, Arc<Registry>)>,
    stdin: &mut dyn Read,
    out: &mut impl Write,
) -> Result<Outcome> {
    let fields = image_fields(args)?;
    let map = match &args.map {
        Some(path) => reference::read_map(path)?,
        None => BTreeMap::new(),
    };
    let normalized_map: BTreeMap<String, String> = map
        .iter()
        .filter_map(|(old, new)| {
            let key = gitops::registry::parse_reference(old).ok()?.whole();
            Some((key, new.clone()))
        })
        .collect();
    let existing_lock = match &args.lock {
        Some(path) => Some(Lock::read(path, args.locked)?),
        None => None,
    };
    let mut objects = if args.file == Path::new("-") {
        let name: Arc<str> = Arc::from("<stdin>");
        manifest::parse_stream(&manifest::read_stream(stdin, &name)?, &name)?
    } else {
        manifest::read_path(&args.file)?
    };
    let sites = sites(&objects, &fields);

    // The distinct references, each checked for syntax before any network traffic, with the
    // first place it appears (for error messages).
    let mut first_site: BTreeMap<String, usize> = BTreeMap::new();
    let mut wanted: Vec<String> = Vec::with_capacity(sites.len());
    for (i, site) in sites.iter().enumerate() {
        let original = get(&objects[site.object].value, &site.pointer).unwrap_or_default();
        let text = map
            .get(original)
            .or_else(|| {
                // `nginx:1.25` in the map also covers `docker.io/library/nginx:1.25`.
                let normal = gitops::registry::parse_reference(original).ok()?.whole();
                normalized_map.get(&normal)
            })
            .cloned()
            .unwrap_or_else(|| original.to_owned());
        if let Err(e) = reference::parse(&text) {
            return Err(ToolError::Message(format!(
                "{}: {e}",
                describe(&objects, site)
            )));
        }
        first_site.entry(text.clone()).or_insert(i);
        wanted.push(text);
    }

    let mut resolved: HashMap<String, Resolved> = HashMap::new();
    match registry {
        None => {
            let lock = existing_lock.as_ref().cloned().unwrap_or_default();
            for (text, &site) in &first_site {
                let r = match (digest_of(text), lock.images.get(text)) {
                    (_, Some(entry)) => {
                        if let Some(d) = digest_of(text) {
                            if d != entry.digest {
                                return Err(ToolError::Message(format!(
                                    "{}: {text}: the lock file has {} for this reference",
                                    describe(&objects, &sites[site]),
                                    entry.digest
                                )));
                            }
                        }
                        Resolved {
                            output: if digest_of(text).is_some() {
                                text.clone()
                            } else {
                                reference::pinned(text, &entry.digest)
                            },
                            entry: entry.clone(),
                        }
                    }
                    (Some(d), None) if lock::is_digest(d) => Resolved {
                        output: text.clone(),
                        entry: Entry {
                            digest: d.to_owned(),
                            media_type: String::new(),
                            platforms: Vec::new(),
                        },
                    },
                    _ => {
                        return Err(ToolError::Message(format!(
                            "{}: {text}: not in the lock file {} (--locked)",
                            describe(&objects, &sites[site]),
                            args.lock
                                .as_ref()
                                .map(|p| p.display().to_string())
                                .unwrap_or_default()
                        )))
                    }
                };
                resolved.insert(text.clone(), r);
            }
        }
        Some((rt, registry)) => {
            let with_platforms = args.lock.is_some();
            let jobs = usize::from(args.jobs);
            let results = rt.block_on(async {
                let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs));
                let mut set = tokio::task::JoinSet::new();
                for text in first_site.keys() {
                    let (registry, text, semaphore) =
                        (registry.clone(), text.clone(), semaphore.clone());
                    set.spawn(async move {
                        let _permit = semaphore.acquire_owned().await;
                        let result = resolve_one(registry, text.clone(), with_platforms).await;
                        (text, result)
                    });
                }
                let mut results = BTreeMap::new();
                while let Some(joined) = set.join_next().await {
                    if let Ok((text, result)) = joined {
                        results.insert(text, result);
                    }
                }
                results
            });
            // Report the failure of the reference that appears first in the input.
            let mut failures: Vec<(usize, String, RegistryError)> = Vec::new();
            for (text, result) in results {
                match result {
                    Ok(r) => {
                        resolved.insert(text, r);
                    }
                    Err(e) => failures.push((first_site[&text], text, e)),
                }
            }
            failures.sort_by_key(|f| f.0);
            if let Some((site, _, err)) = failures.into_iter().next() {
                return Err(located(describe(&objects, &sites[site]), err));
            }
            if resolved.len() != first_site.len() {
                return Err(ToolError::Message(
                    "a resolution task failed unexpectedly".to_owned(),
                ));
            }
        }
    }

    for (site, text) in sites.iter().zip(&wanted) {
        let new = resolved[text].output.clone();
        if let Some(v) = site.pointer.get_mut(&mut objects[site.object].value) {
            *v = Value::String(new);
        }
    }

    // Output first into memory, so that a failure writing the lock leaves stdout empty.
    let mut buffer = Vec::new();
    manifest::write_stream(&mut buffer, &objects, args.output)?;
    if let (Some(path), false) = (&args.lock, args.locked) {
        let mut lock = Lock::new();
        for (text, r) in &resolved {
            lock.images.insert(text.clone(), r.entry.clone());
        }
        if lock.write(path)? {
            tracing::info!(
                "{}: {} references locked",
                path.display(),
                lock.images.len()
            );
        }
    }
    out.write_all(&buffer)
        .map_err(|e| ToolError::Shared(gitops::Error::Output(e)))?;
    tracing::info!(
        "{} image references, {} distinct",
        sites.len(),
        resolved.len()
    );
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(yaml: &str) -> Vec<Object> {
        manifest::parse_stream(yaml, &Arc::from("in.yaml")).expect("valid yaml")
    }

    #[test]
    fn finds_images_where_kustomize_does_and_extra_paths() {
        let objs = objects(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      initContainers: [{name: i, image: init:1}]\n      containers: [{name: a, image: app:1}, {name: b, image: side:2}]\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: cron:1}]}}}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {image: notme:1}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec: {template: {spec: {containers: [{name: a, image: roll:1}]}}}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {image: widget:1}\n",
        );
        let found = |fields: &ImageFields| -> Vec<String> {
            sites(&objs, fields)
                .iter()
                .map(|s| {
                    get(&objs[s.object].value, &s.pointer)
                        .expect("string")
                        .to_owned()
                })
                .collect()
        };
        // A custom resource's pod template counts without configuration, as in kustomize; a
        // ConfigMap's `image` key does not.
        assert_eq!(
            found(&ImageFields::new()),
            ["init:1", "app:1", "side:2", "cron:1", "roll:1"]
        );
        let extra =
            ImageFields::with_extra(vec![
                ExtraPath::parse("example.com/Widget=spec.image").expect("valid")
            ]);
        assert_eq!(
            found(&extra),
            ["init:1", "app:1", "side:2", "cron:1", "roll:1", "widget:1"]
        );
    }
}
