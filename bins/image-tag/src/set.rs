//! `image-tag set`: updates image references in source files in place, changing only the value
//! text so that comments, quoting, ordering and indentation stay as they were. Three kinds of
//! places are recognised:
//! - Flux setter markers: `image: app:v1 # {"$imagepolicy": "ns:name"}` (whole reference), and
//!   the `ns:name:tag`, `ns:name:name`, `ns:name:digest` forms on their own fields; NAME is the
//!   policy `ns:name`;
//! - kustomization `images:` entries (`name`, `newName`, `newTag`, `digest`), matched by `name`;
//! - plain `image:` fields, matched by repository (and tag, when NAME has one).
//!
//! Files are edited in memory first; nothing is written when any input is wrong, and each file is
//! replaced atomically. `--check` writes nothing and exits 1 when a file would change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gitops::Outcome;
use regex::Regex;

use crate::reference::{self, digest_of, name_of, same_repository, tag_of};
use crate::{emit, Result, ToolError};

/// `image-tag set` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `NAME=REF` pairs followed by files or directories (default: the current directory).
    /// NAME is an image name (`ghcr.io/acme/app`, optionally with `:tag` to only replace that
    /// tag) or a Flux image policy `namespace:name`; REF is the new reference.
    #[arg(value_name = "NAME=REF|FILE", required_unless_present = "map")]
    pub items: Vec<String>,
    /// Read more `OLD=NEW` pairs from this file (what `image-tag mirror` prints).
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Change nothing; exit 1 when a file would change (and print its name).
    #[arg(long)]
    pub check: bool,
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub new: String,
}

impl Change {
    /// Whether an image (repository, tag, digest as written) is what NAME means: the same
    /// repository, and the same tag and digest where NAME has them (no tag and no digest is
    /// `latest`).
    fn matches_image(&self, repo: &str, tag: Option<&str>, digest: Option<&str>) -> bool {
        if !same_repository(name_of(&self.name), repo) {
            return false;
        }
        if let Some(want) = tag_of(&self.name) {
            let have = tag.or(if digest.is_none() {
                Some("latest")
            } else {
                None
            });
            if have != Some(want) {
                return false;
            }
        }
        match digest_of(&self.name) {
            Some(want) => digest == Some(want),
            None => true,
        }
    }
}

fn marker_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r##"^(?P<head>\s*(?:-\s+)?(?:[^\s:#'"]+:\s+)?)(?P<q>['"]?)(?P<value>[^\s'"#]*)(?P<q2>['"]?)(?P<gap>\s+)#\s*\{\s*"\$imagepolicy"\s*:\s*"(?P<policy>[^"]+)"\s*\}\s*$"##)
            .expect("a constant pattern")
    })
}

fn image_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r##"^(?P<head>\s*(?:-\s+)?image:\s+)(?P<q>['"]?)(?P<value>[^\s'"#]+)(?P<q2>['"]?)(?P<tail>(?:\s+#.*)?\s*)$"##)
            .expect("a constant pattern")
    })
}

fn field_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r##"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>name|newName|newTag|digest):(?P<sp>\s*)(?P<q>['"]?)(?P<value>[^\s'"#]*)(?P<q2>['"]?)(?P<tail>(?:\s+#.*)?\s*)$"##)
            .expect("a constant pattern")
    })
}

/// Whether a plain (unquoted) YAML scalar would not read back as this string: `7.2` is a
/// number, `true` a boolean, `null` nothing.
fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value.parse::<f64>().is_ok()
        || value.starts_with("0x")
        || value.starts_with("0o")
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
        )
}

/// `value` as a plain scalar, quoted when it would otherwise not be read as a string.
fn scalar(value: &str) -> String {
    if needs_quotes(value) {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

/// Replaces the `value` group of `caps` in `line` by `new`, quoting it when it is unquoted and
/// would not read back as a string.
fn replace_value(line: &str, caps: &regex::Captures<'_>, new: &str) -> String {
    let Some(m) = caps.name("value") else {
        return line.to_owned();
    };
    let quoted = caps.name("q").is_some_and(|q| !q.as_str().is_empty());
    let new = if quoted { new.to_owned() } else { scalar(new) };
    format!("{}{new}{}", &line[..m.start()], &line[m.end()..])
}

/// The new value a marker asks for, or `None` when REF lacks that part.
fn marker_value(field: Option<&str>, new: &str) -> Option<String> {
    match field {
        None => Some(new.to_owned()),
        Some("tag") => tag_of(new).map(str::to_owned),
        Some("name") => Some(name_of(new).to_owned()),
        Some("digest") => digest_of(new).map(str::to_owned),
        Some(_) => None,
    }
}

/// A kustomization `images:` entry: the line range and the field lines.
#[derive(Debug, Default)]
struct Entry {
    last: usize,
    indent: String,
    fields: BTreeMap<String, (usize, String)>,
}

fn is_kustomization(path: &Path, text: &str) -> bool {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    matches!(
        file,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    ) || text.lines().any(|l| l.trim_end() == "kind: Kustomization")
}

/// Finds the entries of the top-level `images:` list.
fn kustomize_entries(lines: &[String]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut in_images = false;
    let mut current: Option<Entry> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 && !trimmed.starts_with("- ") {
            if let Some(e) = current.take() {
                entries.push(e);
            }
            in_images = trimmed.trim_end() == "images:";
            continue;
        }
        if !in_images {
            continue;
        }
        let Some(caps) = field_re().captures(line) else {
            if trimmed.starts_with("- ") {
                if let Some(e) = current.take() {
                    entries.push(e);
                }
            }
            if let Some(e) = current.as_mut() {
                e.last = i;
            }
            continue;
        };
        let key = caps["key"].to_owned();
        let value = caps["value"].to_owned();
        if caps.name("dash").is_some() {
            if let Some(e) = current.take() {
                entries.push(e);
            }
            let field_indent = caps["indent"].len() + caps["dash"].len();
            current = Some(Entry {
                last: i,
                indent: " ".repeat(field_indent),
                fields: BTreeMap::new(),
            });
        }
        if let Some(e) = current.as_mut() {
            e.last = i;
            e.fields.insert(key, (i, value));
        }
    }
    if let Some(e) = current {
        entries.push(e);
    }
    entries
}

/// Applies the changes to one file's text; returns the new text and how many values changed.
pub fn edit(
    path: &Path,
    text: &str,
    changes: &[Change],
    used: &mut [bool],
) -> Result<(String, usize)> {
    let newline_at_end = text.ends_with('\n');
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut edits = 0;
    let mut marker_lines = vec![false; lines.len()];

    // Flux setter markers and plain image fields, line by line.
    for (i, line) in lines.iter_mut().enumerate() {
        if let Some(caps) = marker_re().captures(line) {
            marker_lines[i] = true;
            let policy = caps["policy"].to_owned();
            let (policy_name, field) = match policy.splitn(3, ':').collect::<Vec<_>>().as_slice() {
                [ns, name, field] => (format!("{ns}:{name}"), Some((*field).to_owned())),
                _ => (policy.clone(), None),
            };
            for (c, change) in changes.iter().enumerate() {
                if change.name != policy_name {
                    continue;
                }
                used[c] = true;
                let Some(new) = marker_value(field.as_deref(), &change.new) else {
                    return Err(ToolError::Message(format!(
                        "{}:{}: the marker wants the {} of {}, which it does not have",
                        path.display(),
                        i + 1,
                        field.as_deref().unwrap_or("reference"),
                        change.new
                    )));
                };
                if caps["value"] != *new {
                    *line = replace_value(line, &caps, &new);
                    edits += 1;
                }
                break;
            }
            continue;
        }
        if let Some(caps) = image_re().captures(line) {
            let value = caps["value"].to_owned();
            for (c, change) in changes.iter().enumerate() {
                if change.matches_image(name_of(&value), tag_of(&value), digest_of(&value)) {
                    used[c] = true;
                    if value != change.new {
                        *line = replace_value(line, &caps, &change.new);
                        edits += 1;
                    }
                    break;
                }
            }
        }
    }

    // Kustomization images: entries; edits go bottom-up so line numbers stay valid.
    if is_kustomization(path, text) {
        let mut entries = kustomize_entries(&lines);
        entries.reverse();
        for entry in entries {
            let Some((_, name)) = entry.fields.get("name").cloned() else {
                continue;
            };
            if entry.fields.keys().any(|k| marker_lines[entry.fields[k].0]) {
                continue; // markers already handled these lines
            }
            let current_tag = entry.fields.get("newTag").map(|(_, t)| t.as_str());
            let current_digest = entry.fields.get("digest").map(|(_, d)| d.as_str());
            let Some(c) = changes
                .iter()
                .position(|ch| ch.matches_image(&name, current_tag, current_digest))
            else {
                continue;
            };
            used[c] = true;
            let new = &changes[c].new;
            let mut want: BTreeMap<&str, Option<String>> = BTreeMap::new();
            let new_name = name_of(new);
            if !same_repository(new_name, &name) || entry.fields.contains_key("newName") {
                want.insert("newName", Some(new_name.to_owned()));
            }
            if let Some(tag) = tag_of(new) {
                want.insert("newTag", Some(tag.to_owned()));
            }
            // A stale digest would override the new tag, so it goes when REF has none.
            want.insert("digest", digest_of(new).map(str::to_owned));
            let mut inserts = Vec::new();
            let mut removals = Vec::new();
            for (key, value) in want {
                match (entry.fields.get(key), value) {
                    (Some((line_no, old)), Some(v)) => {
                        if *old != v {
                            if let Some(caps) = field_re().captures(&lines[*line_no].clone()) {
                                lines[*line_no] = replace_value(&lines[*line_no], &caps, &v);
                                edits += 1;
                            }
                        }
                    }
                    (Some((line_no, _)), None) => removals.push(*line_no),
                    (None, Some(v)) => {
                        inserts.push(format!("{}{key}: {}", entry.indent, scalar(&v)))
                    }
                    (None, None) => {}
                }
            }
            removals.sort_unstable();
            for line_no in removals.iter().rev() {
                lines.remove(*line_no);
                edits += 1;
            }
            let insert_at = entry.last + 1 - removals.iter().filter(|r| **r <= entry.last).count();
            for (k, l) in inserts.into_iter().enumerate() {
                lines.insert(insert_at + k, l);
                edits += 1;
            }
        }
    }

    let mut out = lines.join("\n");
    if newline_at_end {
        out.push('\n');
    }
    Ok((out, edits))
}

/// The YAML files below `path` in path order, skipping hidden directories (`.git`, `.github`:
/// CI workflow files are not deployment sources).
fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(path).to_path_buf();
            let source = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("symbolic link loop"));
            ToolError::Shared(gitops::Error::io(at, source))
        })?;
        let is_yaml = entry
            .path()
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml");
        if entry.file_type().is_file() && is_yaml {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Runs `set`.
pub fn run(args: &Args, out: &mut impl Write) -> Result<Outcome> {
    let mut changes = Vec::new();
    let mut paths = Vec::new();
    for item in &args.items {
        match item.split_once('=') {
            Some((name, new)) if !Path::new(item).exists() => {
                if name.is_empty() {
                    return Err(ToolError::Message(format!("{item:?}: expected NAME=REF")));
                }
                reference::parse(new)?;
                changes.push(Change {
                    name: name.to_owned(),
                    new: new.to_owned(),
                });
            }
            _ => paths.push(PathBuf::from(item)),
        }
    }
    if let Some(map) = &args.map {
        for (name, new) in reference::read_map(map)? {
            changes.push(Change { name, new });
        }
    }
    if changes.is_empty() {
        return Err(ToolError::Message(
            "nothing to set: give NAME=REF pairs or --map".to_owned(),
        ));
    }
    if paths.is_empty() {
        paths.push(PathBuf::from("."));
    }
    let mut files = Vec::new();
    for p in &paths {
        files.extend(files_under(p)?);
    }
    let mut used = vec![false; changes.len()];
    let mut changed: Vec<(PathBuf, String)> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| ToolError::Shared(gitops::Error::io(&file, e)))?;
        let (new_text, edits) = edit(&file, &text, &changes, &mut used)?;
        if edits > 0 && new_text != text {
            changed.push((file, new_text));
        }
    }
    for (change, used) in changes.iter().zip(&used) {
        if !used {
            tracing::warn!("{}: no image reference or marker matched", change.name);
        }
    }
    for (file, text) in &changed {
        if !args.check {
            let permissions = std::fs::metadata(file).map(|m| m.permissions()).ok();
            gitops::atomic::write_file(file, text.as_bytes())?;
            if let Some(p) = permissions {
                let _ = std::fs::set_permissions(file, p);
            }
        }
        emit(out, &file.display().to_string())?;
    }
    Ok(if args.check && !changed.is_empty() {
        Outcome::Difference
    } else {
        Outcome::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(name: &str, new: &str) -> Change {
        Change {
            name: name.into(),
            new: new.into(),
        }
    }

    fn apply(file: &str, text: &str, changes: &[Change]) -> String {
        let mut used = vec![false; changes.len()];
        edit(Path::new(file), text, changes, &mut used)
            .expect("edit")
            .0
    }

    #[test]
    fn flux_markers_all_forms() {
        let text = "spec:\n  image: ghcr.io/acme/app:v1 # {\"$imagepolicy\": \"flux-system:app\"}\n  values:\n    repo: ghcr.io/acme/app # {\"$imagepolicy\": \"flux-system:app:name\"}\n    tag: \"v1\"   # {\"$imagepolicy\": \"flux-system:app:tag\"}\n    digest: sha256:old # {\"$imagepolicy\": \"flux-system:app:digest\"}\n    other: x:v1 # {\"$imagepolicy\": \"flux-system:other\"}\n";
        let new = format!("ghcr.io/acme/app:v2@sha256:{}", "b".repeat(64));
        let out = apply("a.yaml", text, &[change("flux-system:app", &new)]);
        let expected = text
            .replace("ghcr.io/acme/app:v1 #", &format!("{new} #"))
            .replace("\"v1\"   #", "\"v2\"   #")
            .replace("sha256:old", &format!("sha256:{}", "b".repeat(64)));
        assert_eq!(out, expected);
    }

    #[test]
    fn plain_image_fields_keep_comments_and_quotes() {
        let text = "containers:\n  - name: a\n    image: \"nginx:1.24\"  # pinned by hand\n  - image: redis:7\n  - image: docker.io/library/nginx:1.23\n";
        let out = apply("d.yaml", text, &[change("nginx", "nginx:1.25")]);
        assert_eq!(
            out,
            "containers:\n  - name: a\n    image: \"nginx:1.25\"  # pinned by hand\n  - image: redis:7\n  - image: nginx:1.25\n"
        );
        // A tagged NAME only replaces that tag.
        let out = apply(
            "d.yaml",
            text,
            &[change("nginx:1.23", "reg.local/nginx:1.23")],
        );
        assert!(out.contains("image: \"nginx:1.24\""));
        assert!(out.contains("- image: reg.local/nginx:1.23\n"));
    }

    #[test]
    fn kustomization_images() {
        let text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deploy.yaml\nimages:\n  # the app\n  - name: ghcr.io/acme/app\n    newTag: v1 # bumped by CI\n    digest: sha256:old\n  - name: redis\n    newName: reg.local/redis\nnamespace: x\n";
        let out = apply(
            "kustomization.yaml",
            text,
            &[change("ghcr.io/acme/app", "ghcr.io/acme/app:v2")],
        );
        assert_eq!(
            out,
            text.replace("newTag: v1 #", "newTag: v2 #")
                .replace("    digest: sha256:old\n", "")
        );
        let out = apply(
            "kustomization.yaml",
            text,
            &[change("redis", "reg.local/redis:7.2")],
        );
        assert_eq!(
            out,
            text.replace(
                "    newName: reg.local/redis\n",
                "    newName: reg.local/redis\n    newTag: \"7.2\"\n"
            )
        );
    }

    #[test]
    fn names_with_tags_or_digests_only_match_those() {
        let d1 = format!("sha256:{}", "1".repeat(64));
        let d2 = format!("sha256:{}", "2".repeat(64));
        let text = format!(
            "- image: nginx@{d1}\n- image: nginx@{d2}\n- image: nginx\n- image: nginx:1.25\n"
        );
        let out = apply(
            "x.yaml",
            &text,
            &[change(&format!("nginx@{d1}"), "reg.local/nginx:1")],
        );
        assert_eq!(
            out,
            text.replacen(&format!("nginx@{d1}"), "reg.local/nginx:1", 1)
        );
        // `nginx:latest` means the untagged reference too, never a digest-only one.
        let out = apply("x.yaml", &text, &[change("nginx:latest", "nginx:2")]);
        assert_eq!(out, text.replace("- image: nginx\n", "- image: nginx:2\n"));
    }

    #[test]
    fn nothing_changes_when_nothing_matches() {
        let text = "image: busybox:1 # keep\n";
        assert_eq!(apply("x.yaml", text, &[change("nginx", "nginx:2")]), text);
    }
}
