//! `retag`, `copy` and `mirror`: moving images between tags, repositories and registries without
//! changing their digests. Manifests are copied byte for byte (so digests are preserved); each
//! distinct blob is transferred once, skipped when the destination has it and mounted when it
//! lives in another repository of the same registry. A multi-platform index is copied with all
//! its platform manifests (`--all-platforms`, always for `mirror`), or reduced to one platform's
//! manifest like `skopeo copy` does by default.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use gitops::registry::{BlobCopy, Descriptor, Manifest, Reference, Registry};
use gitops::Outcome;

use crate::reference::{self, name_of, tag_of, valid_tag};
use crate::{emit, Result, ToolError};

/// `image-tag copy` arguments.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The source image, `registry/repo:tag` or `registry/repo@sha256:…`.
    pub source: String,
    /// The destination, `registry/repo[:tag]` (without a tag, the source's tag is used).
    pub destination: String,
    /// Copy a multi-platform index with every platform (the digest is preserved). Without it,
    /// only the `--platform` image is copied, as `skopeo copy` does.
    #[arg(long)]
    pub all_platforms: bool,
    /// The platform to copy from an index without `--all-platforms` (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// How many blobs are transferred at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

/// `image-tag mirror` arguments.
#[derive(Debug, clap::Args)]
pub struct MirrorArgs {
    /// The list of images: one a line, `SRC` or `SRC DST` (or `SRC=DST`); `#` comments.
    #[arg(long, value_name = "LIST")]
    pub file: PathBuf,
    /// Where images without an explicit DST go: `registry/prefix`; `docker.io/library/nginx:1.25`
    /// becomes `registry/prefix/library/nginx:1.25`.
    #[arg(long, value_name = "REGISTRY/PREFIX")]
    pub to: Option<String>,
    /// How many images are copied at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

/// The platform of this machine in OCI terms.
fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

/// Counts of what happened to blobs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub copied: usize,
    pub mounted: usize,
    pub existed: usize,
}

/// Copies the blobs of `images` (deduplicated), `jobs` at a time.
async fn copy_blobs(
    registry: &Arc<Registry>,
    src: &Reference,
    dst: &Reference,
    blobs: Vec<Descriptor>,
    jobs: usize,
) -> Result<Stats> {
    let mut unique: BTreeMap<String, Descriptor> = BTreeMap::new();
    for b in blobs {
        unique.entry(b.digest.clone()).or_insert(b);
    }
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    for blob in unique.into_values() {
        let (registry, src, dst, semaphore) = (
            registry.clone(),
            src.clone(),
            dst.clone(),
            semaphore.clone(),
        );
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            registry.copy_blob(&src, &dst, &blob).await
        });
    }
    let mut stats = Stats::default();
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(BlobCopy::Copied)) => stats.copied += 1,
            Ok(Ok(BlobCopy::Mounted)) => stats.mounted += 1,
            Ok(Ok(BlobCopy::Exists)) => stats.existed += 1,
            Ok(Err(e)) => {
                if first_error.is_none() {
                    first_error = Some(ToolError::Registry(e));
                    set.abort_all();
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => return Err(ToolError::Message(format!("a blob copy task failed: {e}"))),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

fn by_digest(r: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        r.registry().to_owned(),
        r.repository().to_owned(),
        digest.to_owned(),
    )
}

/// The destination reference: the source's tag when DST has none.
fn destination(src_text: &str, dst_text: &str) -> Result<Reference> {
    if tag_of(dst_text).is_some() || reference::digest_of(dst_text).is_some() {
        return reference::parse(dst_text);
    }
    match tag_of(src_text) {
        Some(tag) => reference::parse(&format!("{dst_text}:{tag}")),
        None => reference::parse(dst_text),
    }
}

/// Copies one image; returns the digest now at the destination and the blob counts.
pub async fn copy_image(
    registry: &Arc<Registry>,
    src: &Reference,
    dst: &Reference,
    all_platforms: bool,
    platform: Option<&str>,
    jobs: usize,
) -> Result<(String, Stats)> {
    let top = registry.manifest(src).await?;
    let (images, top_to_push): (Vec<Manifest>, Option<Manifest>) = if top.is_index() {
        let children = top.children();
        if all_platforms {
            let mut set = tokio::task::JoinSet::new();
            for (i, child) in children.iter().enumerate() {
                let (registry, r) = (registry.clone(), by_digest(src, &child.digest));
                set.spawn(async move { (i, registry.manifest(&r).await) });
            }
            let mut fetched: BTreeMap<usize, Manifest> = BTreeMap::new();
            while let Some(joined) = set.join_next().await {
                let (i, m) = joined.map_err(|e| {
                    ToolError::Message(format!("a manifest fetch task failed: {e}"))
                })?;
                fetched.insert(i, m?);
            }
            (fetched.into_values().collect(), Some(top))
        } else {
            let want = platform.map_or_else(host_platform, str::to_owned);
            let child = children
                .iter()
                .find(|c| c.platform.as_deref() == Some(want.as_str()))
                .ok_or_else(|| {
                    let have: Vec<String> = children.iter().filter_map(|c| c.platform.clone()).collect();
                    ToolError::Message(format!(
                        "{src}: the index has no {want} image (it has {}); pass --platform or --all-platforms",
                        have.join(", ")
                    ))
                })?;
            (
                vec![registry.manifest(&by_digest(src, &child.digest)).await?],
                None,
            )
        }
    } else {
        (vec![top], None)
    };
    let blobs: Vec<Descriptor> = images.iter().flat_map(Manifest::blobs).collect();
    let stats = copy_blobs(registry, src, dst, blobs, jobs).await?;
    match top_to_push {
        Some(index) => {
            for image in &images {
                registry
                    .put_manifest(&by_digest(dst, &image.digest), image)
                    .await?;
            }
            registry.put_manifest(dst, &index).await?;
            Ok((index.digest, stats))
        }
        None => {
            let image = &images[0];
            registry.put_manifest(dst, image).await?;
            Ok((image.digest.clone(), stats))
        }
    }
}

/// The printed form of where an image now is: `name:tag@digest` (or `name@digest`).
fn located(dst: &Reference, dst_text: &str, digest: &str) -> String {
    match dst.tag() {
        Some(tag) if reference::digest_of(dst_text).is_none() => {
            format!("{}:{tag}@{digest}", name_of(dst_text))
        }
        _ => format!("{}@{digest}", name_of(dst_text)),
    }
}

/// Runs `copy`.
pub async fn run_copy(
    args: &CopyArgs,
    registry: Arc<Registry>,
    out: &mut impl Write,
) -> Result<Outcome> {
    let src = reference::parse(&args.source)?;
    let dst = destination(&args.source, &args.destination)?;
    let (digest, stats) = copy_image(
        &registry,
        &src,
        &dst,
        args.all_platforms,
        args.platform.as_deref(),
        usize::from(args.jobs),
    )
    .await?;
    tracing::info!(
        "{} blobs copied, {} mounted, {} already there",
        stats.copied,
        stats.mounted,
        stats.existed
    );
    emit(out, &located(&dst, &args.destination, &digest))?;
    Ok(Outcome::Ok)
}

/// Runs `retag`: the manifest is stored again under the new tag, nothing else moves.
pub async fn retag(
    registry: &Registry,
    reference_text: &str,
    tag: &str,
    out: &mut impl Write,
) -> Result<Outcome> {
    if !valid_tag(tag) {
        return Err(ToolError::Message(format!(
            "{tag:?} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
        )));
    }
    let src = reference::parse(reference_text)?;
    let manifest = registry.manifest(&src).await?;
    let dst = Reference::with_tag(
        src.registry().to_owned(),
        src.repository().to_owned(),
        tag.to_owned(),
    );
    registry.put_manifest(&dst, &manifest).await?;
    emit(
        out,
        &format!("{}:{tag}@{}", name_of(reference_text), manifest.digest),
    )?;
    Ok(Outcome::Ok)
}

/// One line of a mirror list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorItem {
    pub source: String,
    pub destination: String,
    pub line: usize,
}

/// Parses a mirror list; `to` is the default prefix.
pub fn parse_mirror_list(text: &str, file: &str, to: Option<&str>) -> Result<Vec<MirrorItem>> {
    let mut items = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line
            .split(|c: char| c == '=' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        let at = |msg: String| ToolError::Message(format!("{file}:{}: {msg}", n + 1));
        let (source, destination) = match parts.as_slice() {
            [src] => {
                let parsed =
                    gitops::registry::parse_reference(src).map_err(|e| at(e.to_string()))?;
                let prefix =
                    to.ok_or_else(|| at(format!("{src}: no destination and no --to prefix")))?;
                let mut dst = format!("{}/{}", prefix.trim_end_matches('/'), parsed.repository());
                if let Some(tag) = tag_of(src) {
                    dst.push(':');
                    dst.push_str(tag);
                } else if reference::digest_of(src).is_none() {
                    dst.push_str(":latest");
                }
                ((*src).to_owned(), dst)
            }
            [src, dst] => ((*src).to_owned(), (*dst).to_owned()),
            _ => return Err(at("expected SRC or SRC DST".to_owned())),
        };
        for side in [&source, &destination] {
            gitops::registry::parse_reference(side).map_err(|e| at(e.to_string()))?;
        }
        items.push(MirrorItem {
            source,
            destination,
            line: n + 1,
        });
    }
    Ok(items)
}

/// Runs `mirror`: every image with all its platforms; prints `SRC=DST:tag@digest` lines in the
/// list's order once all copies succeeded.
pub async fn run_mirror(
    args: &MirrorArgs,
    registry: Arc<Registry>,
    out: &mut impl Write,
) -> Result<Outcome> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| ToolError::Shared(gitops::Error::io(&args.file, e)))?;
    let file = args.file.display().to_string();
    let items = parse_mirror_list(&text, &file, args.to.as_deref())?;
    let semaphore = Arc::new(tokio::sync::Semaphore::new(usize::from(args.jobs)));
    let mut set = tokio::task::JoinSet::new();
    for (i, item) in items.iter().cloned().enumerate() {
        let (registry, semaphore) = (registry.clone(), semaphore.clone());
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let result: Result<String> = async {
                let src = reference::parse(&item.source)?;
                let dst = destination(&item.source, &item.destination)?;
                let (digest, _) = copy_image(&registry, &src, &dst, true, None, 8).await?;
                Ok(located(&dst, &item.destination, &digest))
            }
            .await;
            (i, result)
        });
    }
    let mut done: BTreeMap<usize, Result<String>> = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        let (i, r) = joined.map_err(|e| ToolError::Message(format!("a copy task failed: {e}")))?;
        done.insert(i, r);
    }
    let mut lines = Vec::new();
    for (i, result) in done {
        let item = &items[i];
        match result {
            Ok(new) => lines.push(format!("{}={new}", item.source)),
            Err(ToolError::Registry(e)) => {
                return Err(ToolError::Located {
                    place: format!("{file}:{}", item.line),
                    source: e,
                })
            }
            Err(e) => return Err(ToolError::Message(format!("{file}:{}: {e}", item.line))),
        }
    }
    for line in lines {
        emit(out, &line)?;
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_lists() {
        let items = parse_mirror_list(
            "# third party\ndocker.io/library/nginx:1.25\nquay.io/a/b:2 reg.local/x/b:2\nredis=reg.local/redis:7\n",
            "list",
            Some("reg.local/mirror/"),
        )
        .expect("valid");
        assert_eq!(items[0].destination, "reg.local/mirror/library/nginx:1.25");
        assert_eq!(items[1].destination, "reg.local/x/b:2");
        assert_eq!(items[2].source, "redis");
        assert!(parse_mirror_list("nginx\n", "list", None).is_err());
        let err = parse_mirror_list("a b c\n", "list", Some("r"))
            .expect_err("3 parts")
            .to_string();
        assert_eq!(err, "list:1: expected SRC or SRC DST");
    }

    #[test]
    fn destination_takes_the_source_tag() {
        let d = destination("127.0.0.1:5000/a:v1", "127.0.0.1:5000/b").expect("valid");
        assert_eq!(d.tag(), Some("v1"));
        let d = destination("127.0.0.1:5000/a:v1", "127.0.0.1:5000/b:v2").expect("valid");
        assert_eq!(d.tag(), Some("v2"));
    }
}
