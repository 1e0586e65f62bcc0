//! Substitution variables: `KEY=VALUE` pairs and vars files (`KEY=VALUE` lines, a YAML/JSON
//! map, or a ConfigMap/Secret as Flux's `substituteFrom` takes them), applied in the caller's
//! order so that a later source wins over an earlier one, whichever kind it is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use gitops::envsubst::Vars;
use gitops::manifest;
use gitops::Location;
use serde_json::Value;

use crate::Error;

/// One source of variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSource {
    /// One variable.
    Var(String, String),
    /// A vars file, read when the render starts.
    File(PathBuf),
}

/// The variables of `sources`, later ones winning.
pub fn collect(sources: &[VarSource]) -> Result<Vars, Error> {
    let mut out = Vars::new();
    for source in sources {
        match source {
            VarSource::Var(k, v) => out.set(k, v.clone())?,
            VarSource::File(path) => {
                for (k, v) in read_vars_file(path)? {
                    out.set(&k, v)?;
                }
            }
        }
    }
    Ok(out)
}

/// Reads a vars file: `KEY=VALUE` lines, or YAML/JSON (a flat map, or a ConfigMap/Secret as
/// Flux's `substituteFrom` takes them).
pub fn read_vars_file(path: &Path) -> Result<Vec<(String, String)>, Error> {
    let name: Arc<str> = Arc::from(path.display().to_string());
    let text = manifest::read_text(path, &name).map_err(|e| match e {
        // The shared reader's wording is about manifests.
        gitops::Error::Syntax { at, message } if message.starts_with("invalid UTF-8") => {
            Error::Syntax {
                at,
                message: "invalid UTF-8 (a vars file must be UTF-8 text)".to_owned(),
            }
        }
        other => Error::Input(other),
    })?;
    if looks_like_env(&text) {
        return parse_env_lines(&text, &name);
    }
    let docs: Vec<_> = manifest::split_documents(&text);
    let mut out = Vec::new();
    for doc in &docs {
        let Some(value) = manifest::parse_document(doc, &name)? else {
            continue;
        };
        let at = Location::new(&*name, doc.first_line, 0);
        out.extend(vars_from_value(&value, &at)?);
    }
    Ok(out)
}

/// `KEY=VALUE` files have an `=` before any `:` on their first meaningful line.
fn looks_like_env(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| match (l.find('='), l.find(':')) {
            (Some(eq), Some(colon)) => eq < colon,
            (Some(_), None) => true,
            _ => false,
        })
}

fn parse_env_lines(text: &str, name: &Arc<str>) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let trimmed = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(Error::Syntax {
                at: Location::new(&**name, i + 1, 1),
                message: "expected KEY=VALUE".to_owned(),
            });
        };
        let key = key.trim();
        if !gitops::envsubst::is_valid_name(key) {
            return Err(Error::Syntax {
                at: Location::new(&**name, i + 1, 1),
                message: format!("variable name {key:?} is invalid: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"),
            });
        }
        out.push((key.to_owned(), unquote(value.trim()).to_owned()));
    }
    Ok(out)
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn vars_from_value(value: &Value, at: &Location) -> Result<Vec<(String, String)>, Error> {
    let kind = value.get("kind").and_then(Value::as_str);
    let map = match kind {
        Some("ConfigMap") => value.get("data"),
        Some("Secret") => {
            let mut out = Vec::new();
            if let Some(Value::Object(data)) = value.get("data") {
                for (k, v) in data {
                    let encoded = v.as_str().unwrap_or("");
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| Error::Syntax {
                            at: at.clone(),
                            // Never echo the value: it is a secret.
                            message: format!("Secret data {k:?} is not base64-encoded UTF-8"),
                        })?;
                    out.push((k.clone(), decoded));
                }
            }
            if let Some(Value::Object(data)) = value.get("stringData") {
                out.extend(
                    data.iter()
                        .map(|(k, v)| (k.clone(), scalar(v).unwrap_or_default())),
                );
            }
            return Ok(out);
        }
        _ => Some(value),
    };
    let Some(Value::Object(map)) = map else {
        return Err(Error::Syntax {
            at: at.clone(),
            message: "a vars file must be a map of names to values".to_owned(),
        });
    };
    map.iter()
        .map(|(k, v)| {
            scalar(v)
                .map(|s| (k.clone(), s))
                .ok_or_else(|| Error::Syntax {
                    at: at.clone(),
                    message: format!("variable {k:?} must be a string, number or boolean"),
                })
        })
        .collect()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_win_across_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.env");
        std::fs::write(&file, "# c\nA=from-file\nexport B=\"quoted\"\n").unwrap();
        let vars = collect(&[
            VarSource::Var("A".into(), "first".into()),
            VarSource::File(file),
            VarSource::Var("B".into(), "last".into()),
        ])
        .unwrap();
        assert_eq!(vars.get("A"), Some("from-file"));
        assert_eq!(vars.get("B"), Some("last"));
    }

    #[test]
    fn yaml_maps_and_configmaps() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.yaml");
        std::fs::write(&file, "REPLICAS: 3\nDEBUG: true\nNAME: web\n").unwrap();
        let vars = read_vars_file(&file).unwrap();
        assert_eq!(
            vars,
            [
                ("REPLICAS".into(), "3".into()),
                ("DEBUG".into(), "true".into()),
                ("NAME".into(), "web".into())
            ]
        );
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {TOKEN: c2VjcmV0}\n",
        )
        .unwrap();
        assert_eq!(
            read_vars_file(&file).unwrap(),
            [("TOKEN".into(), "secret".into())]
        );
    }

    #[test]
    fn a_vars_file_that_is_not_utf8_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.env");
        std::fs::write(&file, b"A=1\nB=\xff\n").unwrap();
        let e = read_vars_file(&file).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2:3: invalid UTF-8 (a vars file must be UTF-8 text)",
                file.display()
            )
        );
    }

    #[test]
    fn bad_lines_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.env");
        std::fs::write(&file, "A=1\nnot a var\n").unwrap();
        let e = read_vars_file(&file).unwrap_err().to_string();
        assert!(e.ends_with("v.env:2:1: expected KEY=VALUE"), "{e}");
        let e = collect(&[VarSource::Var("1X".into(), "2".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("variable name \"1X\" is invalid"), "{e}");
    }
}
