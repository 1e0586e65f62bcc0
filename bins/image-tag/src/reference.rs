//! Image references as users write them: the registry tag grammar, the pinned form
//! `repo:tag@sha256:…` that keeps the user's spelling, and the `OLD=NEW` reference map that
//! `mirror` prints and `pin --map` / `set --map` read.

use std::collections::BTreeMap;
use std::path::Path;

use gitops::registry::{parse_reference, Reference};

use crate::{Result, ToolError};

/// The registry tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Makes `text` usable inside a tag: every other character becomes `-`, runs of `-` collapse,
/// it starts with `[A-Za-z0-9_]`, does not end in `-` or `.`, and is at most `max` bytes.
pub fn sanitize_tag_component(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_start_matches(['-', '.']);
    let mut s: String = trimmed.chars().take(max).collect();
    while s.ends_with(['-', '.']) {
        s.pop();
    }
    s
}

/// The repository part of a reference as the user wrote it (`nginx`, `ghcr.io/a/b`), without
/// tag or digest.
pub fn name_of(text: &str) -> &str {
    let without_digest = text.split('@').next().unwrap_or(text);
    // A `:` after the last `/` starts the tag; one before it belongs to a registry port.
    match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

/// The tag as written, if any.
pub fn tag_of(text: &str) -> Option<&str> {
    let without_digest = text.split('@').next().unwrap_or(text);
    let name = name_of(text);
    without_digest
        .get(name.len() + 1..)
        .filter(|t| !t.is_empty())
}

/// The digest as written, if any.
pub fn digest_of(text: &str) -> Option<&str> {
    text.split_once('@').map(|(_, d)| d)
}

/// `text` pinned to `digest`, keeping the user's spelling: `nginx:1.25` → `nginx:1.25@sha256:…`;
/// a reference without a tag gets `:latest`, as that is what was resolved.
pub fn pinned(text: &str, digest: &str) -> String {
    let name = name_of(text);
    let tag = tag_of(text).unwrap_or("latest");
    format!("{name}:{tag}@{digest}")
}

/// Parses a reference, naming the input on failure.
pub fn parse(text: &str) -> Result<Reference> {
    Ok(parse_reference(text)?)
}

/// Two spellings name the same repository (`nginx` = `docker.io/library/nginx`).
pub fn same_repository(a: &str, b: &str) -> bool {
    if name_of(a) == name_of(b) {
        return true;
    }
    match (parse_reference(name_of(a)), parse_reference(name_of(b))) {
        (Ok(x), Ok(y)) => x.registry() == y.registry() && x.repository() == y.repository(),
        _ => false,
    }
}

/// Reads an `OLD=NEW` map (what `mirror` prints): one pair a line, `#` comments and blank lines
/// ignored. Both sides must be valid references.
pub fn read_map(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ToolError::Shared(gitops::Error::io(path, e)))?;
    parse_map(&text, &path.display().to_string())
}

/// Parses the `OLD=NEW` map text; `file` names the source in errors.
pub fn parse_map(text: &str, file: &str) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((old, new)) = line.split_once('=') else {
            return Err(ToolError::Message(format!(
                "{file}:{}: expected OLD=NEW",
                n + 1
            )));
        };
        let (old, new) = (old.trim(), new.trim());
        for side in [old, new] {
            parse_reference(side)
                .map_err(|e| ToolError::Message(format!("{file}:{}: {e}", n + 1)))?;
        }
        map.insert(old.to_owned(), new.to_owned());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_grammar() {
        assert!(valid_tag("v1.2.3"));
        assert!(valid_tag("_x"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag("-x"));
        assert!(!valid_tag("a+b"));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(valid_tag(&"a".repeat(128)));
    }

    #[test]
    fn sanitising() {
        assert_eq!(sanitize_tag_component("feature/x", 100), "feature-x");
        assert_eq!(
            sanitize_tag_component("--.weird//name..", 100),
            "weird-name"
        );
        assert_eq!(
            sanitize_tag_component("dependabot/npm_and_yarn/x-1.2", 100),
            "dependabot-npm_and_yarn-x-1.2"
        );
        assert_eq!(sanitize_tag_component("abcdef", 3), "abc");
    }

    #[test]
    fn parts_of_references() {
        assert_eq!(name_of("127.0.0.1:5000/app:v1"), "127.0.0.1:5000/app");
        assert_eq!(tag_of("127.0.0.1:5000/app:v1"), Some("v1"));
        assert_eq!(tag_of("127.0.0.1:5000/app"), None);
        assert_eq!(name_of("nginx@sha256:ab"), "nginx");
        assert_eq!(digest_of("nginx:1@sha256:ab"), Some("sha256:ab"));
        assert_eq!(
            pinned("localhost:5000/app", "sha256:ab"),
            "localhost:5000/app:latest@sha256:ab"
        );
        assert_eq!(pinned("nginx:1.25", "sha256:ab"), "nginx:1.25@sha256:ab");
        assert!(same_repository("nginx:1", "docker.io/library/nginx:2"));
        assert!(!same_repository("nginx:1", "ghcr.io/nginx:1"));
    }

    #[test]
    fn maps() {
        let map =
            parse_map("# mirror\nnginx:1.25=reg.local/mirror/nginx:1.25\n\n", "m").expect("valid");
        assert_eq!(
            map.get("nginx:1.25").map(String::as_str),
            Some("reg.local/mirror/nginx:1.25")
        );
        let err = parse_map("nginx:1.25\n", "m")
            .expect_err("no =")
            .to_string();
        assert_eq!(err, "m:1: expected OLD=NEW");
        assert!(parse_map("nginx=Bad Ref\n", "m").is_err());
    }
}
