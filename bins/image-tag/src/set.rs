//! `image-tag set`: updates image references in source files in place, changing only the value
//! text so that comments, quoting, ordering and indentation stay as they were. Three kinds of
//! places are recognised:
//! - Flux setter markers: `image: app:v1 # {"$imagepolicy": "ns:name"}` (whole reference), and
//!   the `ns:name:tag`, `ns:name:name`, `ns:name:digest` forms on their own fields; NAME is the
//!   policy `ns:name`;
//! - kustomization `images:` entries (`name`, `newName`, `newTag`, `digest`), matched by `name`;
//! - plain `image:` fields, matched by repository (and tag, when NAME has one).
//!
//! Values are found in block mappings (with or without an `&anchor`), in flow mappings
//! (`{name: a, image: nginx:1}`) and in one-line block scalars (`image: >-` and the line below).
//!
//! Every file with something to change is parsed (through `gitops::manifest`, so invalid YAML
//! and duplicate keys are refused with their position and nothing is written; a file that is not
//! YAML and has nothing to change, a Helm template say, is left alone). After the text edits the result is
//! parsed again and compared with what the changes mean: every occurrence that should change
//! (an alias of a value elsewhere, a multi-line scalar) must have changed, and nothing else may
//! have (an anchor shared with an unrelated field); otherwise the command fails naming each
//! occurrence, and writes nothing. All files are staged before any is replaced, so an error on one
//! leaves all of them untouched; a symlink is written through (the link stays a link).
//! `--check` writes nothing and exits 1 when a file would change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use gitops::image::{JsonPath, Key};
use gitops::Outcome;
use regex::Regex;
use serde_json::Value;

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
        Regex::new(r##"^(?P<head>\s*(?:-\s+)?image:\s+(?:&[^\s]+\s+)?)(?P<q>['"]?)(?P<value>[^\s'"#]+)(?P<q2>['"]?)(?P<tail>(?:\s+#.*)?\s*)$"##)
            .expect("a constant pattern")
    })
}

/// `image: value` inside a flow mapping: `{name: a, image: nginx:1}`, `{"image": "x"}`.
fn flow_image_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r##"(?P<pre>[{,]\s*(?:image:\s+|"image":\s*|'image':\s*)(?:&[^\s,{}]+\s+)?)(?P<q>['"]?)(?P<value>[^\s'",{}\[\]#]+)(?P<q2>['"]?)"##)
            .expect("a constant pattern")
    })
}

/// A block scalar header (`>-`, `|`, `>2`): the value is on the lines below.
fn block_header_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[|>][-+]?[1-9]?$").expect("a constant pattern"))
}

fn field_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r##"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>name|newName|newTag|digest):(?P<sp>\s*)(?P<q>['"]?)(?P<value>[^\s'"#]*)(?P<q2>['"]?)(?P<tail>(?:\s+#.*)?\s*)$"##)
            .expect("a constant pattern")
    })
}

/// `value` as a plain scalar, double-quoted when it would otherwise not read back as this string
/// (`7.2` is a number, `true` a boolean): YAML's rule, kept in `gitops::yaml`.
fn scalar(value: &str) -> String {
    if gitops::yaml::is_plain_string(value) {
        value.to_owned()
    } else {
        serde_json::to_string(value).unwrap_or_default()
    }
}

/// As [`scalar`], inside a flow mapping, where `,[]{}` end a plain scalar too.
fn flow_scalar(value: &str) -> String {
    if value.contains([',', '[', ']', '{', '}']) {
        serde_json::to_string(value).unwrap_or_default()
    } else {
        scalar(value)
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
/// The text must be valid YAML, and every occurrence is updated or the whole edit fails naming
/// the ones that cannot be (see the module docs).
pub fn edit(
    path: &Path,
    text: &str,
    changes: &[Change],
    used: &mut [bool],
) -> Result<(String, usize)> {
    let (out, edits, marker_edits) = edit_text(path, text, changes, used)?;
    let before = match parse_all(path, text) {
        Ok(docs) => docs,
        // A file that is not YAML (a Helm template, say) and has nothing to change is not ours
        // to judge; one we would edit is refused.
        Err(e) if edits == 0 => {
            tracing::debug!("{}: skipped, not valid YAML: {e}", path.display());
            return Ok((text.to_owned(), 0));
        }
        Err(e) => return Err(e),
    };
    let after = parse_all(path, &out).map_err(|e| {
        ToolError::Message(format!(
            "{}: the edited file would not be valid YAML ({e}); nothing was written",
            path.display()
        ))
    })?;
    let kustomization = is_kustomization(path, text);
    verify(path, kustomization, &before, &after, changes, &marker_edits)?;
    Ok((out, edits))
}

/// The text edits of [`edit`], without the checks: new text, count, marker edits.
fn edit_text(
    path: &Path,
    text: &str,
    changes: &[Change],
    used: &mut [bool],
) -> Result<(String, usize, Vec<MarkerEdit>)> {
    let newline_at_end = text.ends_with('\n');
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut edits = 0;
    let mut marker_lines = vec![false; lines.len()];
    let mut marker_edits: Vec<MarkerEdit> = Vec::new();

    // Flux setter markers and plain image fields, line by line.
    for i in 0..lines.len() {
        let line = lines[i].clone();
        if let Some(caps) = marker_re().captures(&line) {
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
                    marker_edits.push((caps["value"].to_owned(), new.clone()));
                    lines[i] = replace_value(&line, &caps, &new);
                    edits += 1;
                }
                break;
            }
            continue;
        }
        if let Some(caps) = image_re().captures(&line) {
            let value = caps["value"].to_owned();
            if block_header_re().is_match(&value) {
                // `image: >-` with the reference alone on the next, deeper line.
                edits += edit_block_scalar(&mut lines, i, changes, used);
                continue;
            }
            if let Some(c) = matching_change(changes, &value) {
                used[c] = true;
                if value != changes[c].new {
                    lines[i] = replace_value(&line, &caps, &changes[c].new);
                    edits += 1;
                }
            }
            continue;
        }
        if line.contains('{') {
            let (new_line, n) = edit_flow_line(&line, changes, used);
            if n > 0 {
                lines[i] = new_line;
                edits += n;
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
    Ok((out, edits, marker_edits))
}

/// (old value, new value) of a marker edit, for the check after the edits: markers may set any
/// field, so those changes are expected too.
type MarkerEdit = (String, String);

/// The first change whose NAME matches the image reference `value`.
fn matching_change(changes: &[Change], value: &str) -> Option<usize> {
    changes
        .iter()
        .position(|c| c.matches_image(name_of(value), tag_of(value), digest_of(value)))
}

/// Rewrites the content line of a one-line block scalar under the `image:` line at `header`.
fn edit_block_scalar(
    lines: &mut [String],
    header: usize,
    changes: &[Change],
    used: &mut [bool],
) -> usize {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(content) = lines.get(header + 1) else {
        return 0;
    };
    let value = content.trim();
    let more_lines = lines
        .get(header + 2)
        .is_some_and(|l| !l.trim().is_empty() && indent(l) > indent(&lines[header]));
    if value.is_empty() || indent(content) <= indent(&lines[header]) || more_lines {
        return 0;
    }
    let Some(c) = matching_change(changes, value) else {
        return 0;
    };
    used[c] = true;
    if value == changes[c].new {
        return 0;
    }
    let keep = indent(content);
    lines[header + 1] = format!("{}{}", &content[..keep], changes[c].new);
    1
}

/// Rewrites the `image:` values of the flow mappings on one line.
fn edit_flow_line(line: &str, changes: &[Change], used: &mut [bool]) -> (String, usize) {
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    let mut edits = 0;
    for caps in flow_image_re().captures_iter(line) {
        let (Some(m), Some(whole)) = (caps.name("value"), caps.get(0)) else {
            continue;
        };
        let value = m.as_str();
        let Some(c) = matching_change(changes, value) else {
            continue;
        };
        used[c] = true;
        if value == changes[c].new {
            continue;
        }
        let quoted = caps.name("q").is_some_and(|q| !q.as_str().is_empty());
        let new = if quoted {
            changes[c].new.clone()
        } else {
            flow_scalar(&changes[c].new)
        };
        out.push_str(&line[last..m.start()]);
        out.push_str(&new);
        last = m.end();
        edits += 1;
        debug_assert!(whole.end() >= m.end());
    }
    out.push_str(&line[last..]);
    (out, edits)
}

/// Every document of a file, parsed as the other tools parse YAML (duplicate keys and invalid
/// YAML are errors with their position). Empty documents are `null`.
fn parse_all(path: &Path, text: &str) -> Result<Vec<Value>> {
    let name: Arc<str> = Arc::from(path.display().to_string());
    gitops::manifest::split_documents(text)
        .iter()
        .map(|doc| {
            gitops::manifest::parse_document(doc, &name)
                .map(Option::unwrap_or_default)
                .map_err(ToolError::Shared)
        })
        .collect()
}

/// Every string under an `image` key, with its path.
fn image_values(value: &Value, path: &mut JsonPath, out: &mut Vec<(JsonPath, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.0.push(Key::Field(key.clone()));
                if let (true, Value::String(s)) = (key == "image", child) {
                    out.push((path.clone(), s.clone()));
                }
                image_values(child, path, out);
                path.0.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.0.push(Key::Index(i));
                image_values(item, path, out);
                path.0.pop();
            }
        }
        _ => {}
    }
}

/// Leaf paths where `a` and `b` differ (a whole subtree when its shape differs).
fn differences(a: &Value, b: &Value, path: &mut JsonPath, out: &mut Vec<JsonPath>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() && x.keys().eq(y.keys()) => {
            for (key, child) in x {
                path.0.push(Key::Field(key.clone()));
                differences(child, &y[key], path, out);
                path.0.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                path.0.push(Key::Index(i));
                differences(p, q, path, out);
                path.0.pop();
            }
        }
        _ if a == b => {}
        _ => out.push(path.clone()),
    }
}

/// Checks the edited documents against what the changes mean (see the module docs).
fn verify(
    path: &Path,
    kustomization_file: bool,
    before: &[Value],
    after: &[Value],
    changes: &[Change],
    marker_edits: &[MarkerEdit],
) -> Result<()> {
    let place = |doc: usize, at: &JsonPath| {
        if before.len() > 1 {
            format!("document {}: {at}", doc + 1)
        } else {
            at.to_string()
        }
    };
    let mut missed = Vec::new();
    let mut extra = Vec::new();
    if before.len() != after.len() {
        return Err(ToolError::Message(format!(
            "{}: the edit would change the number of YAML documents; nothing was written",
            path.display()
        )));
    }
    let marker_olds: Vec<&str> = marker_edits.iter().map(|(o, _)| o.as_str()).collect();
    for (doc, (old, new)) in before.iter().zip(after).enumerate() {
        // The same decision as the edit's (a kustomization.yaml needs no `kind`).
        let kustomization = kustomization_file && old.get("images").is_some();
        // Every image field a NAME=REF pair matches must now hold REF.
        let mut expected: Vec<(JsonPath, String)> = Vec::new();
        let mut found = Vec::new();
        image_values(old, &mut JsonPath::default(), &mut found);
        for (at, value) in found {
            if kustomization && matches!(at.0.first(), Some(Key::Field(k)) if k == "images") {
                continue;
            }
            // A value on a marker line is the marker's to set.
            if marker_olds.contains(&value.as_str()) {
                continue;
            }
            if let Some(c) = matching_change(changes, &value) {
                let now = at.get(new).and_then(Value::as_str);
                if now != Some(changes[c].new.as_str()) {
                    missed.push(format!("{} ({value})", place(doc, &at)));
                }
                expected.push((at, changes[c].new.clone()));
            }
        }
        // Kustomization `images:` entries a pair matches must now say what REF says.
        if kustomization {
            verify_kustomize_entries(old, new, changes, &marker_olds, doc, &place, &mut missed);
        }
        // Nothing else may change, except what markers set.
        let mut diff = Vec::new();
        differences(old, new, &mut JsonPath::default(), &mut diff);
        for at in diff {
            if kustomization && matches!(at.0.first(), Some(Key::Field(k)) if k == "images") {
                continue;
            }
            if expected.iter().any(|(p, _)| *p == at) {
                continue;
            }
            let was = at.get(old).and_then(Value::as_str);
            let now = at.get(new).and_then(Value::as_str);
            let by_marker = marker_edits
                .iter()
                .any(|(o, n)| Some(o.as_str()) == was && Some(n.as_str()) == now);
            if !by_marker {
                extra.push(place(doc, &at));
            }
        }
    }
    if !missed.is_empty() {
        return Err(ToolError::Message(format!(
            "{}: cannot update {} in place (an alias, or a value written in a form the editor does not rewrite); change it by hand or write it as `image: REF`; nothing was written",
            path.display(),
            missed.join(", ")
        )));
    }
    if !extra.is_empty() {
        return Err(ToolError::Message(format!(
            "{}: updating the image would also change {} (a YAML anchor shared with other fields); nothing was written",
            path.display(),
            extra.join(", ")
        )));
    }
    Ok(())
}

/// The kustomization half of [`verify`]: each matched `images:` entry now names REF.
fn verify_kustomize_entries(
    old: &Value,
    new: &Value,
    changes: &[Change],
    marker_olds: &[&str],
    doc: usize,
    place: &dyn Fn(usize, &JsonPath) -> String,
    missed: &mut Vec<String>,
) {
    let Some(entries) = old.get("images").and_then(Value::as_array) else {
        return;
    };
    let new_entries = new.get("images").and_then(Value::as_array);
    for (i, entry) in entries.iter().enumerate() {
        let field = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
        let Some(name) = field(entry, "name") else {
            continue;
        };
        if marker_olds.contains(&name.as_str()) {
            continue;
        }
        let (tag, digest) = (field(entry, "newTag"), field(entry, "digest"));
        let Some(c) = changes
            .iter()
            .position(|ch| ch.matches_image(&name, tag.as_deref(), digest.as_deref()))
        else {
            continue;
        };
        let want = &changes[c].new;
        let now = new_entries.and_then(|e| e.get(i));
        let ok = now.is_some_and(|e| {
            let now_name = field(e, "newName").or_else(|| field(e, "name"));
            now_name.is_some_and(|n| same_repository(&n, name_of(want)))
                && tag_of(want).is_none_or(|t| field(e, "newTag").as_deref() == Some(t))
                && field(e, "digest").as_deref() == digest_of(want)
        });
        if !ok {
            let at = JsonPath(vec![Key::Field("images".into()), Key::Index(i)]);
            missed.push(format!("{} ({name})", place(doc, &at)));
        }
    }
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
            tracing::warn!(
                "{}: no image reference or marker matched",
                gitops::registry::shown(&change.name)
            );
        }
    }
    if !args.check {
        // All or none: every new file is written in full beside its target before any target is
        // replaced; an error while staging drops the staged files and leaves every target as it
        // was. The renames at the end do not fail short of the file system going away.
        let mut staged = Vec::with_capacity(changed.len());
        for (file, text) in &changed {
            staged.push(Staged::new(file, text.as_bytes())?);
        }
        for file in staged {
            file.commit()?;
        }
    }
    for (file, _) in &changed {
        emit(out, &file.display().to_string())?;
    }
    Ok(if args.check && !changed.is_empty() {
        Outcome::Difference
    } else {
        Outcome::Ok
    })
}

/// A file's new content, written to a temporary file in the directory of the file it replaces.
/// A symlink is resolved first, so the link's target is replaced and the link stays a link.
struct Staged {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl Staged {
    fn new(file: &Path, bytes: &[u8]) -> Result<Self> {
        let io = |at: &Path, e: std::io::Error| ToolError::Shared(gitops::Error::io(at, e));
        let target = std::fs::canonicalize(file).map_err(|e| io(file, e))?;
        let dir = target.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(|e| io(file, e))?;
        gitops::atomic::remember(tmp.path());
        let permissions = std::fs::metadata(&target).map(|m| m.permissions());
        tmp.write_all(bytes)
            .and_then(|()| permissions.and_then(|p| tmp.as_file().set_permissions(p)))
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| io(file, e))?;
        Ok(Staged { tmp, target })
    }

    fn commit(self) -> Result<()> {
        let tmp_path = self.tmp.path().to_path_buf();
        let result = self
            .tmp
            .persist(&self.target)
            .map(|_| ())
            .map_err(|e| ToolError::Shared(gitops::Error::io(&self.target, e.error)));
        gitops::atomic::forget(&tmp_path);
        result
    }
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
    fn a_kustomization_file_needs_no_kind() {
        let text = "resources: [deploy.yaml]\nimages:\n- name: nginx\n  newTag: \"1.24\"\n";
        assert_eq!(
            apply("kustomization.yaml", text, &[change("nginx", "nginx:1.25")]),
            text.replace("1.24", "1.25")
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

    fn apply_err(file: &str, text: &str, changes: &[Change]) -> String {
        let mut used = vec![false; changes.len()];
        edit(Path::new(file), text, changes, &mut used)
            .expect_err("must fail")
            .to_string()
    }

    #[test]
    fn anchors_flow_mappings_and_block_scalars_are_updated() {
        let nginx = [change("nginx", "nginx:1.25")];
        // The anchor's value is edited; its aliases follow.
        let text = "a:\n  containers:\n  - image: &img nginx:1.24\n  - image: *img\n";
        assert_eq!(
            apply("x.yaml", text, &nginx),
            "a:\n  containers:\n  - image: &img nginx:1.25\n  - image: *img\n"
        );
        let text = "containers: [{name: a, image: nginx:1.24}, {name: b, image: \"redis:7\"}]\nsidecars: [{\"image\": 'nginx'}]\n";
        assert_eq!(
            apply("x.yaml", text, &nginx),
            "containers: [{name: a, image: nginx:1.25}, {name: b, image: \"redis:7\"}]\nsidecars: [{\"image\": 'nginx:1.25'}]\n"
        );
        let text = "spec:\n  image: >-\n    nginx:1.24\n  other: 1\n";
        assert_eq!(
            apply("x.yaml", text, &nginx),
            "spec:\n  image: >-\n    nginx:1.25\n  other: 1\n"
        );
        // A reference reads back as a string unquoted, in a flow mapping too.
        assert_eq!(
            apply(
                "x.yaml",
                "c: [{image: redis}]\n",
                &[change("redis", "redis:7.2")]
            ),
            "c: [{image: redis:7.2}]\n"
        );
    }

    #[test]
    fn occurrences_that_cannot_be_updated_fail_the_whole_edit() {
        let nginx = [change("nginx", "nginx:1.25")];
        // The alias's anchor is not an image field: nothing to edit in place.
        let text = "defaults:\n  img: &img nginx:1.24\nspec:\n  containers:\n  - image: nginx:1.24\n  - image: *img\n";
        assert_eq!(
            apply_err("x.yaml", text, &nginx),
            "x.yaml: cannot update spec.containers.1.image (nginx:1.24) in place (an alias, or a value written in a form the editor does not rewrite); change it by hand or write it as `image: REF`; nothing was written"
        );
        // An image anchor shared with another field would change that field too.
        let text = "spec:\n  containers:\n  - image: &img nginx:1.24\n    env:\n    - {name: IMAGE, value: *img}\n";
        assert_eq!(
            apply_err("x.yaml", text, &nginx),
            "x.yaml: updating the image would also change spec.containers.0.env.0.value (a YAML anchor shared with other fields); nothing was written"
        );
        // A block scalar over several lines; the second document names its number.
        let text = "a: 1\n---\nimage: >-\n  nginx:\n  1.24\n";
        assert_eq!(
            apply_err("x.yaml", text, &nginx),
            "x.yaml: cannot update document 2: image (nginx: 1.24) in place (an alias, or a value written in a form the editor does not rewrite); change it by hand or write it as `image: REF`; nothing was written"
        );
        // kustomization entries written as flow mappings.
        let text = "kind: Kustomization\nimages: [{name: nginx, newTag: \"1.24\"}]\n";
        assert_eq!(
            apply_err("kustomization.yaml", text, &nginx),
            "kustomization.yaml: cannot update images.0 (nginx) in place (an alias, or a value written in a form the editor does not rewrite); change it by hand or write it as `image: REF`; nothing was written"
        );
    }

    #[test]
    fn invalid_yaml_and_duplicate_keys_are_refused_before_editing() {
        let nginx = [change("nginx", "nginx:1.25")];
        let err = apply_err("x.yaml", "image: nginx:1.24\nimage: nginx:1.23\n", &nginx);
        assert!(
            err.starts_with("x.yaml:2:1: invalid YAML: ") && err.contains("duplicate"),
            "{err}"
        );
        let err = apply_err("x.yaml", "a:\n  - image: nginx:1.24\n b: [\n", &nginx);
        assert!(err.starts_with("x.yaml:"), "{err}");
        assert!(err.contains("invalid YAML"), "{err}");
        // Not YAML, but nothing to change in it: left alone.
        let template = "{{- if .Values.enabled }}\nimage: {{ .Values.image }}\n{{- end }}\n";
        assert_eq!(apply("t.yaml", template, &nginx), template);
    }
}
