//! From the source to objects, before the cluster is touched: fetch the Git repository into its
//! cache, export the tree at the resolved commit into a temporary directory (no checkout), and
//! render each path with the render engine; or render local paths, or read a rendered stream.
//! Any failure here (an unknown revision, a bad manifest, an undefined variable) ends the run
//! with nothing applied.

use std::io::BufRead;
use std::path::PathBuf;

use gitops::git::source::Source;
use gitops_render::{RenderOptions, Substitution};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{Config, Error, SourceSpec};

/// The rendered source.
#[derive(Debug)]
pub struct Loaded {
    /// The objects in render order.
    pub objects: Vec<Value>,
    /// What was read, for the report (URL without credentials, paths, or the file).
    pub source: String,
    /// `REF@sha1:COMMIT` for a Git source (Flux's revision format).
    pub revision: Option<String>,
    /// `sha256:…` of the rendered stream (formatting and order do not change it).
    pub digest: String,
    /// A stable name for the source, from which the default inventory name is derived.
    pub key: String,
    /// Things worth saying that do not stop the run (symbolic links skipped by the export).
    pub warnings: Vec<String>,
}

/// Loads the configured source (`stdin` for `-f -`).
pub fn load(config: &Config, stdin: &mut dyn BufRead) -> Result<Loaded, Error> {
    let substitution = if config.strict {
        Substitution::Strict
    } else {
        Substitution::WhenDefined
    };
    let options = |paths: Vec<PathBuf>| RenderOptions {
        paths,
        vars: config.vars.clone(),
        substitution,
        ..RenderOptions::default()
    };
    let mut warnings = Vec::new();
    let (objects, source, revision, key) = match &config.source {
        SourceSpec::Repo {
            url,
            git_ref,
            paths,
        } => {
            let fetched = Source::fetch(url, &config.cache_dir)?;
            let commit = fetched.resolve(git_ref.as_deref())?;
            let export = tempfile::Builder::new()
                .prefix("sync-once-")
                .tempdir()
                .map_err(|e| Error::Input(format!("cannot create a temporary directory: {e}")))?;
            let exported = fetched.export(commit, "", export.path())?;
            for (link, target) in exported.skipped_links {
                warnings.push(format!(
                    "{}: symbolic link {link} -> {target} leaves the repository; not exported",
                    fetched.url()
                ));
            }
            let mut dirs = Vec::new();
            for p in paths {
                let dir = export.path().join(p.trim_start_matches("./"));
                if !dir.exists() {
                    return Err(Error::Input(format!(
                        "{}: path {p:?} does not exist at commit {commit}",
                        fetched.url()
                    )));
                }
                dirs.push(dir);
            }
            let objects = gitops_render::render(&options(dirs)).map_err(|e| {
                // Positions name the temporary export; show them relative to the repository.
                let text = e.to_string();
                let root = format!("{}/", export.path().display());
                if text.contains(&root) {
                    Error::Input(text.replace(&root, ""))
                } else {
                    Error::Render(e)
                }
            })?;
            let revision = format!("{}@sha1:{commit}", git_ref.as_deref().unwrap_or("HEAD"));
            let key = format!("{}|{}", fetched.url(), paths.join(","));
            let source = format!("{} ({})", fetched.url(), paths.join(", "));
            (objects, source, Some(revision), key)
        }
        SourceSpec::Local { paths } => {
            let objects = gitops_render::render(&options(paths.clone()))?;
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let key = shown.join(",");
            (objects, shown.join(", "), None, key)
        }
        SourceSpec::Stream { file } => {
            let objects = gitops_render::render_with_stdin(&options(vec![file.clone()]), stdin)?;
            let shown = if file.as_os_str() == "-" {
                "stdin".to_owned()
            } else {
                file.display().to_string()
            };
            (objects, shown.clone(), None, shown)
        }
    };
    let digest = format!("sha256:{}", gitops::digest::stream_digest(&objects).hex());
    Ok(Loaded {
        objects: objects.into_iter().map(|o| o.value).collect(),
        source,
        revision,
        digest,
        key,
        warnings,
    })
}

/// The default inventory name for a source: `sync-once-` and a hash of what was read, so that
/// two sources never share a set and the same source always finds its own.
pub fn default_inventory_name(key: &str) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    format!("sync-once-{}", &hash[..12])
}
