//! Selecting resources the way kustomize's `target:` and replacement `select:` do: group,
//! version, kind, name and namespace as anchored regular expressions (name and namespace match
//! the original or the current value), plus Kubernetes label and annotation selectors.

use crate::Error;
use gitops::manifest::Scopes;
use regex::Regex;
use serde_json::{Map, Value};

use super::kustomization::Selector;
use super::resource::{effective_namespace, Res};

/// A compiled selector.
pub struct Compiled {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<Vec<Requirement>>,
    annotations: Option<Vec<Requirement>>,
}

fn anchored(s: &Option<String>, what: &str) -> Result<Option<Regex>, Error> {
    match s.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => Regex::new(&format!("^(?:{p})$")).map(Some).map_err(|e| {
            Error::Invalid(format!(
                "target {what} {p:?} is not a valid regular expression: {e}"
            ))
        }),
    }
}

impl Compiled {
    pub fn new(s: &Selector) -> Result<Self, Error> {
        Ok(Compiled {
            group: anchored(&s.group, "group")?,
            version: anchored(&s.version, "version")?,
            kind: anchored(&s.kind, "kind")?,
            name: anchored(&s.name, "name")?,
            namespace: anchored(&s.namespace, "namespace")?,
            labels: s
                .label_selector
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(parse_selector)
                .transpose()?,
            annotations: s
                .annotation_selector
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(parse_selector)
                .transpose()?,
        })
    }

    pub fn matches(&self, res: &Res, scopes: &Scopes) -> bool {
        if let Some(ns) = &self.namespace {
            let cur_ns = match res.obj.namespace() {
                Some(ns) => ns,
                None if scopes.is_cluster_scoped(res.group(), res.kind()) => "",
                None => "default",
            };
            if !ns.is_match(effective_namespace(&res.org, scopes)) && !ns.is_match(cur_ns) {
                return false;
            }
        }
        if let Some(name) = &self.name {
            if !name.is_match(&res.org.name) && !name.is_match(res.name()) {
                return false;
            }
        }
        let ok = |r: &Option<Regex>, v: &str| r.as_ref().is_none_or(|r| r.is_match(v));
        if !ok(&self.group, res.group())
            || !ok(&self.version, res.version())
            || !ok(&self.kind, res.kind())
        {
            return false;
        }
        if let Some(reqs) = &self.labels {
            if !reqs.iter().all(|r| r.matches(&res.string_map("labels"))) {
                return false;
            }
        }
        if let Some(reqs) = &self.annotations {
            if !reqs
                .iter()
                .all(|r| r.matches(&res.string_map("annotations")))
            {
                return false;
            }
        }
        true
    }
}

enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, m: &Map<String, Value>) -> bool {
        let get = |k: &str| m.get(k).and_then(Value::as_str);
        match self {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => m.contains_key(k),
            Requirement::NotExists(k) => !m.contains_key(k),
        }
    }
}

/// Kubernetes label selector syntax: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
fn parse_selector(s: &str) -> Result<Vec<Requirement>, Error> {
    let bad = || Error::Invalid(format!("invalid label/annotation selector {s:?}"));
    // Split on commas outside parentheses.
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    let mut out = Vec::new();
    for part in parts {
        let p = part.trim();
        if p.is_empty() {
            return Err(bad());
        }
        let set = |rest: &str| -> Result<Vec<String>, Error> {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
        };
        if let Some(k) = p.strip_prefix('!') {
            out.push(Requirement::NotExists(k.trim().to_owned()));
        } else if let Some((k, v)) = p.split_once("!=") {
            out.push(Requirement::NotEq(k.trim().to_owned(), v.trim().to_owned()));
        } else if let Some((k, v)) = p.split_once("==") {
            out.push(Requirement::Eq(k.trim().to_owned(), v.trim().to_owned()));
        } else if let Some((k, v)) = p.split_once('=') {
            out.push(Requirement::Eq(k.trim().to_owned(), v.trim().to_owned()));
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            out.push(Requirement::NotIn(k.trim().to_owned(), set(rest)?));
        } else if let Some((k, rest)) = p.split_once(" in ") {
            out.push(Requirement::In(k.trim().to_owned(), set(rest)?));
        } else if p.contains(' ') || p.contains('(') {
            return Err(bad());
        } else {
            out.push(Requirement::Exists(p.to_owned()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let labels = match json!({"tier": "web", "env": "dev"}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let ok = |s: &str| {
            parse_selector(s)
                .unwrap()
                .iter()
                .all(|r| r.matches(&labels))
        };
        assert!(ok("tier=web,env in (dev,qa)"));
        assert!(ok("tier==web,!missing,env"));
        assert!(!ok("env notin (dev)"));
        assert!(!ok("tier!=web"));
        assert!(parse_selector("a b").is_err());
    }
}
