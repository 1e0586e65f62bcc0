//! Writing the rendered stream: to stdout, to a directory with one file per object (replaced in
//! one step), or comparing with such a directory (`--check`).

use std::collections::BTreeMap;
use std::io::Write;

use gitops::manifest::{self, Format, Object};
use gitops::{atomic, digest, Error, Outcome};

use crate::{Config, Destination};

/// Writes `objects` where `config` says; diagnostics (and `--digest`) go to `err`.
pub fn write(
    config: &Config,
    objects: &[Object],
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, Error> {
    // Input that ended because of Ctrl-C is not a complete stream: write nothing at all.
    atomic::checkpoint();
    if config.print_digest {
        writeln!(err, "{}", digest::stream_digest(objects)).map_err(Error::Output)?;
    }
    match &config.destination {
        Destination::Stdout => {
            manifest::write_stream(out, objects, config.format)?;
            Ok(Outcome::Ok)
        }
        Destination::Dir(dir) => {
            let files = one_file_per_object(objects, config.format)?;
            let diff = atomic::write_dir(dir, &files)?;
            tracing::info!(
                "{}: {} objects, {} added, {} changed, {} removed",
                dir.display(),
                files.len(),
                diff.added.len(),
                diff.changed.len(),
                diff.removed.len()
            );
            Ok(Outcome::Ok)
        }
        Destination::Check(dir) => {
            let files = one_file_per_object(objects, config.format)?;
            let diff = atomic::diff_dir(dir, &files)?;
            if diff.is_empty() {
                return Ok(Outcome::Ok);
            }
            for line in diff.lines() {
                writeln!(out, "{line}").map_err(Error::Output)?;
            }
            out.flush().map_err(Error::Output)?;
            tracing::warn!(
                "{} is not up to date with the rendered manifests",
                dir.display()
            );
            Ok(Outcome::Difference)
        }
    }
}

/// File name → content, named `group.version.Kind.namespace.name.yaml` after kubectl diff.
pub fn one_file_per_object(
    objects: &[Object],
    format: Format,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let ext = match format {
        Format::Yaml => "yaml",
        Format::Json => "json",
    };
    // One naming rule for every tool (length, portable characters, case collisions).
    let names = gitops::naming::file_names(objects, ext)?;
    let mut files = BTreeMap::new();
    for (obj, name) in objects.iter().zip(names) {
        let content = match format {
            Format::Yaml => manifest::to_yaml(&obj.value).into_bytes(),
            Format::Json => {
                let mut bytes =
                    serde_json::to_vec_pretty(&obj.value).map_err(|e| Error::Output(e.into()))?;
                bytes.push(b'\n');
                bytes
            }
        };
        files.insert(name, content);
    }
    Ok(files)
}
