//! The result of a diff, whatever produced it: one [`Entry`] per object with its action, both
//! sides as shown (noise removed, ignore rules applied, Secrets masked) and the changed fields.
//! Every output format is written from this, so no format can show what another hides.

use gitops::cluster::compare::{self, Change, CompareOptions, IgnoreRule};
use gitops::cluster::{identity_of, ObjectKey};
use gitops::Identity;
use serde_json::Value;

use crate::mask;

/// What applying the desired state would do to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Created,
    Changed,
    Unchanged,
    Pruned,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Changed => "changed",
            Action::Unchanged => "unchanged",
            Action::Pruned => "pruned",
        }
    }

    pub fn differs(self) -> bool {
        self != Action::Unchanged
    }
}

/// One object of the diff.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The object's identity (the version of the desired side, else the live one).
    pub id: Identity,
    pub action: Action,
    /// The old side (live, or the `--from` revision), as shown.
    pub before: Option<Value>,
    /// The new side (the dry-run result, or the `--to` revision), as shown.
    pub after: Option<Value>,
    /// The changed fields, with masked values.
    pub changes: Vec<Change>,
}

/// How both sides are prepared for showing.
#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    pub compare: CompareOptions,
    /// Do not mask Secret values.
    pub show_secrets: bool,
}

impl Entry {
    /// An entry from the two sides as they are (live/dry-run, or two renders): noise removed,
    /// ignore rules applied, Secrets masked, then compared.
    pub fn new(before: Option<&Value>, after: Option<&Value>, options: &ShowOptions) -> Entry {
        let id = after
            .or(before)
            .map(identity_of)
            .unwrap_or_else(|| Identity {
                group: String::new(),
                version: String::new(),
                kind: String::new(),
                namespace: String::new(),
                name: String::new(),
            });
        let key = ObjectKey::from_identity(&id);
        let prepare = |v: &Value| {
            let mut out = compare::normalize(v, options.compare.keep_status);
            for rule in options.compare.ignore.iter().filter(|r| r.matches(&key)) {
                compare::remove_pointer(&mut out, &rule.pointer);
            }
            out
        };
        let mut before = before.map(prepare);
        let mut after = after.map(prepare);
        if !options.show_secrets {
            mask::mask_pair(before.as_mut(), after.as_mut());
        }
        let (action, changes) = match (&before, &after) {
            (Some(b), Some(a)) => {
                let changes = compare::compare(a, b, &CompareOptions::default()).changes;
                let action = if changes.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Changed
                };
                (action, changes)
            }
            (None, Some(_)) => (Action::Created, Vec::new()),
            (Some(_), None) => (Action::Pruned, Vec::new()),
            (None, None) => (Action::Unchanged, Vec::new()),
        };
        Entry {
            id,
            action,
            before,
            after,
            changes,
        }
    }

    /// `Kind.group` as kubectl names a kind.
    pub fn group_kind(&self) -> String {
        if self.id.group.is_empty() {
            self.id.kind.clone()
        } else {
            format!("{}.{}", self.id.kind, self.id.group)
        }
    }

    /// `deployment.apps/web -n shop`: the header naming the object, as kubectl and sync-once
    /// print objects.
    pub fn title(&self) -> String {
        let mut out = format!("{}/{}", self.group_kind().to_lowercase(), self.id.name);
        if !self.id.namespace.is_empty() {
            out.push_str(" -n ");
            out.push_str(&self.id.namespace);
        }
        out
    }
}

/// Every object of one diff.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub entries: Vec<Entry>,
    /// Revision diff: kustomizations (and plain files) whose inputs are identical at both
    /// revisions, so they were not rendered.
    pub skipped_units: usize,
    /// Revision diff: units rendered.
    pub rendered_units: usize,
    /// The names of the two sides (`live`/`merged`, or the revisions).
    pub from_label: String,
    pub to_label: String,
}

/// Counts per action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub changed: usize,
    pub created: usize,
    pub pruned: usize,
    pub unchanged: usize,
}

impl Summary {
    pub fn differs(&self) -> bool {
        self.changed + self.created + self.pruned > 0
    }
}

impl std::fmt::Display for Summary {
    /// `2 changed, 1 created, 1 pruned, 5 unchanged`, or `no differences, 5 unchanged`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.changed, "changed"),
            (self.created, "created"),
            (self.pruned, "pruned"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            parts.push("no differences".to_owned());
        }
        parts.push(format!("{} unchanged", self.unchanged));
        f.write_str(&parts.join(", "))
    }
}

impl Report {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for e in &self.entries {
            match e.action {
                Action::Changed => s.changed += 1,
                Action::Created => s.created += 1,
                Action::Pruned => s.pruned += 1,
                Action::Unchanged => s.unchanged += 1,
            }
        }
        s
    }

    pub fn differing(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.action.differs())
    }
}

/// Parses `--ignore` rules from a file: one `SELECTOR:POINTER` a line, `#` comments.
pub fn parse_ignore_file(text: &str, file: &str) -> Result<Vec<IgnoreRule>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            line.parse::<IgnoreRule>()
                .map_err(|e| format!("{file}:{}: {e}", i + 1))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_secret_is_changed_and_masked() {
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "a", "resourceVersion": "1"},
            "data": {"password": "b2xk", "user": "YWRtaW4="}});
        let mut desired = live.clone();
        desired["data"]["password"] = "bmV3".into();
        desired["metadata"]["resourceVersion"] = "2".into();
        let e = Entry::new(Some(&live), Some(&desired), &ShowOptions::default());
        assert_eq!(e.action, Action::Changed);
        let shown: Vec<String> = e.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["/data/password: \"*** (before)\" -> \"*** (after)\""]
        );
        let text = format!("{:?}", e);
        assert!(!text.contains("b2xk") && !text.contains("bmV3") && !text.contains("YWRtaW4="));

        let shown = ShowOptions {
            show_secrets: true,
            ..ShowOptions::default()
        };
        let e = Entry::new(Some(&live), Some(&desired), &shown);
        assert_eq!(e.changes[0].new, Some(json!("bmV3")));
    }

    #[test]
    fn summary_line() {
        let s = Summary {
            changed: 2,
            created: 1,
            pruned: 1,
            unchanged: 3,
        };
        assert_eq!(s.to_string(), "2 changed, 1 created, 1 pruned, 3 unchanged");
        assert_eq!(
            Summary::default().to_string(),
            "no differences, 0 unchanged"
        );
    }

    #[test]
    fn ignore_file_names_the_line() {
        let rules = parse_ignore_file("# x\nDeployment:/spec/replicas\n\n", "i.txt").unwrap();
        assert_eq!(rules.len(), 1);
        let e = parse_ignore_file("ok:/a\nbad\n", "i.txt").unwrap_err();
        assert!(e.starts_with("i.txt:2: "), "{e}");
    }
}
