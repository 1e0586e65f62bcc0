//! The output formats of a [`Report`]: a unified diff per object for people (coloured on a
//! terminal), `-o json` for programs, `-o markdown` for a pull-request comment, and the two
//! directories `KUBECTL_EXTERNAL_DIFF` is run on, laid out as `kubectl diff` lays them out.
//! All of them are written from the masked sides of the report, never from the input.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use similar::TextDiff;

use crate::report::{Entry, Report};

/// The format of stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A unified diff per object, then a summary line.
    #[default]
    Human,
    /// One JSON document: the summary and every object with its action and changed fields.
    Json,
    /// A pull-request comment: a summary table and a collapsible diff per object.
    Markdown,
}

/// GitHub's limit on the body of an issue or pull-request comment (characters); GitLab and
/// Azure DevOps allow more, so a comment within it fits all three.
pub const COMMENT_LIMIT: usize = 65_536;

/// The text of one side as shown in a diff: YAML, or nothing for an absent side.
pub fn side_text(side: Option<&Value>) -> String {
    side.map(gitops::manifest::to_yaml).unwrap_or_default()
}

/// The unified diff of one entry, with `--- a/NAME` / `+++ b/NAME` headers.
pub fn unified(entry: &Entry, from: &str, to: &str) -> String {
    let old = side_text(entry.before.as_ref());
    let new = side_text(entry.after.as_ref());
    let stem = entry.id.file_stem();
    let from_name = if entry.before.is_some() {
        format!("{from}/{stem}")
    } else {
        "/dev/null".to_owned()
    };
    let to_name = if entry.after.is_some() {
        format!("{to}/{stem}")
    } else {
        "/dev/null".to_owned()
    };
    TextDiff::from_lines(old.as_str(), new.as_str())
        .unified_diff()
        .context_radius(3)
        .header(&from_name, &to_name)
        .to_string()
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The human format: a header and a unified diff per differing object, then the summary.
pub fn write_human(out: &mut dyn Write, report: &Report, color: bool) -> std::io::Result<()> {
    for entry in report.differing() {
        let title = format!("{} {}", entry.title(), entry.action.name());
        if color {
            writeln!(out, "{BOLD}{title}{RESET}")?;
        } else {
            writeln!(out, "{title}")?;
        }
        let diff = unified(entry, &report.from_label, &report.to_label);
        for line in diff.lines() {
            let paint = if !color {
                None
            } else if line.starts_with("+++") || line.starts_with("---") {
                Some(BOLD)
            } else if line.starts_with('+') {
                Some(GREEN)
            } else if line.starts_with('-') {
                Some(RED)
            } else if line.starts_with("@@") {
                Some(CYAN)
            } else {
                None
            };
            match paint {
                Some(p) => writeln!(out, "{p}{line}{RESET}")?,
                None => writeln!(out, "{line}")?,
            }
        }
    }
    writeln!(out, "{}", report.summary())
}

/// `-o json`.
pub fn to_json(report: &Report) -> Value {
    let s = report.summary();
    let objects: Vec<Value> = report
        .entries
        .iter()
        .map(|e| {
            let changes: Vec<Value> = e
                .changes
                .iter()
                .map(|c| json!({"path": c.path, "old": c.old, "new": c.new}))
                .collect();
            json!({
                "id": e.id.to_string(),
                "apiVersion": e.id.api_version(),
                "kind": e.id.kind,
                "namespace": e.id.namespace,
                "name": e.id.name,
                "action": e.action.name(),
                "changes": changes,
            })
        })
        .collect();
    let mut doc = json!({
        "from": report.from_label,
        "to": report.to_label,
        "summary": {"changed": s.changed, "created": s.created, "pruned": s.pruned,
                    "unchanged": s.unchanged},
        "objects": objects,
    });
    if report.rendered_units + report.skipped_units > 0 {
        doc["units"] = json!({"rendered": report.rendered_units, "skipped": report.skipped_units});
    }
    doc
}

pub fn write_json(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_json(report))?;
    writeln!(out)
}

/// A Markdown table cell: pipes escaped, line breaks removed.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A code fence longer than any run of backticks in `text`, so the content cannot end it.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// `-o markdown`: a heading with the summary, a table of the differing objects, and a
/// collapsible diff per object, the whole at most `limit` characters: diffs that do not fit
/// are cut at a line with a note, and objects beyond the limit are only named.
pub fn markdown(report: &Report, limit: usize) -> String {
    let summary = report.summary();
    let mut head = format!(
        "### kubectl gitops diff: {} → {}\n\n**{summary}**\n\n",
        cell(&report.from_label),
        cell(&report.to_label)
    );
    let differing: Vec<&Entry> = report.differing().collect();
    if differing.is_empty() {
        return head;
    }
    // What is always written last, so reserve room for it.
    let tail_reserve = 200;
    let mut table = String::from("| Action | Kind | Namespace | Name |\n|---|---|---|---|\n");
    let mut rows_cut = 0;
    for (i, e) in differing.iter().enumerate() {
        let row = format!(
            "| {} | {} | {} | {} |\n",
            e.action.name(),
            cell(&e.group_kind()),
            cell(&e.id.namespace),
            cell(&e.id.name)
        );
        if head.chars().count() + table.chars().count() + row.chars().count() + tail_reserve
            > limit / 2
        {
            rows_cut = differing.len() - i;
            break;
        }
        table.push_str(&row);
    }
    if rows_cut > 0 {
        table.push_str(&format!("| … | {rows_cut} more | | |\n"));
    }
    head.push_str(&table);
    head.push('\n');
    let mut out = head;
    let mut used = out.chars().count();
    let mut not_shown = 0;
    for e in &differing {
        let diff = unified(e, &report.from_label, &report.to_label);
        let summary_line = format!(
            "<details><summary>{} <code>{}</code></summary>\n\n",
            e.action.name(),
            html_escape(&e.title())
        );
        let f = fence(&diff);
        let frame = summary_line.chars().count() + 2 * f.len() + "diff\n\n\n</details>\n\n".len();
        let room = limit.saturating_sub(used + frame + tail_reserve);
        if not_shown > 0 || room < 200 {
            not_shown += 1;
            continue;
        }
        let (body, cut) = cut_lines(&diff, room.saturating_sub(60));
        let mut block = summary_line;
        block.push_str(&format!("{f}diff\n{body}"));
        if !body.ends_with('\n') {
            block.push('\n');
        }
        block.push_str(&format!("{f}\n"));
        if cut > 0 {
            block.push_str(&format!("\n_… {cut} more lines not shown_\n"));
        }
        block.push_str("\n</details>\n\n");
        used += block.chars().count();
        out.push_str(&block);
    }
    if not_shown > 0 {
        out.push_str(&format!(
            "_{not_shown} more diffs not shown: the comment would exceed {limit} characters; run `kubectl gitops diff` locally to see them._\n"
        ));
    }
    out
}

/// The first lines of `text` within `max` characters, and how many lines were left out.
fn cut_lines(text: &str, max: usize) -> (String, usize) {
    let mut out = String::new();
    let mut count = 0;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if count + line.chars().count() + 1 > max {
            return (out, lines.len() - i);
        }
        out.push_str(line);
        out.push('\n');
        count += line.chars().count() + 1;
    }
    (out, 0)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes the two sides into `LIVE`/`MERGED`-style directories, one file per object named
/// `group.version.Kind.namespace.name` as `kubectl diff` does (an object absent on a side has no
/// file there).
pub fn write_sides(report: &Report, from_dir: &Path, to_dir: &Path) -> std::io::Result<()> {
    for e in &report.entries {
        let stem = e.id.file_stem();
        if let Some(before) = &e.before {
            std::fs::write(from_dir.join(&stem), gitops::manifest::to_yaml(before))?;
        }
        if let Some(after) = &e.after {
            std::fs::write(to_dir.join(&stem), gitops::manifest::to_yaml(after))?;
        }
    }
    Ok(())
}

/// The program and arguments `kubectl diff` runs for `KUBECTL_EXTERNAL_DIFF`: the first word
/// is the program; further words are kept only if they are made of letters, digits, `-` and
/// `=` (kubectl drops anything else, so a shell-like value cannot smuggle in more).
pub fn external_command(value: &str) -> Option<(String, Vec<String>)> {
    let mut words = value.split(' ');
    let program = words.next().filter(|p| !p.is_empty())?.to_owned();
    let args = words
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '=')
        })
        .map(str::to_owned)
        .collect();
    Some((program, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ShowOptions;
    use serde_json::json;

    fn cm(name: &str, value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "a"}, "data": {"k": value}})
    }

    fn report(n: usize, lines: usize) -> Report {
        let show = ShowOptions::default();
        let entries = (0..n)
            .map(|i| {
                let old = cm(&format!("c{i}"), &"x\n".repeat(lines));
                let new = cm(&format!("c{i}"), &"y\n".repeat(lines));
                Entry::new(Some(&old), Some(&new), &show)
            })
            .collect();
        Report {
            entries,
            from_label: "live".into(),
            to_label: "merged".into(),
            ..Report::default()
        }
    }

    #[test]
    fn human_output_has_header_diff_and_summary() {
        let mut out = Vec::new();
        write_human(&mut out, &report(1, 1), false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("configmap/c0 -n a changed\n--- live/v1.ConfigMap.a.c0\n+++ merged/v1.ConfigMap.a.c0\n"), "{text}");
        assert!(text.contains("   k: |\n-    x\n+    y\n"), "{text}");
        assert!(text.ends_with("1 changed, 0 unchanged\n"), "{text}");
        assert!(!text.contains('\x1b'));
        let mut out = Vec::new();
        write_human(&mut out, &report(1, 1), true).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("\x1b[32m+"));
    }

    #[test]
    fn markdown_stays_under_the_limit_with_closed_fences() {
        for (n, lines) in [(3, 5), (40, 400), (2000, 2)] {
            let text = markdown(&report(n, lines), COMMENT_LIMIT);
            assert!(
                text.chars().count() <= COMMENT_LIMIT,
                "{n}x{lines}: {}",
                text.len()
            );
            assert_eq!(
                text.matches("<details>").count(),
                text.matches("</details>").count()
            );
            assert_eq!(text.matches("```").count() % 2, 0, "fences are closed");
            assert!(text.contains(&format!("**{n} changed, 0 unchanged**")));
        }
        let big = markdown(&report(40, 400), COMMENT_LIMIT);
        assert!(big.contains("more diffs not shown") || big.contains("more lines not shown"));
    }

    #[test]
    fn fences_outgrow_backticks_in_the_content() {
        assert_eq!(fence("a ```` b"), "`````");
        assert_eq!(fence("plain"), "```");
    }

    #[test]
    fn external_command_filters_words_like_kubectl() {
        assert_eq!(
            external_command("colordiff -N -u --color=always $(rm) x;y"),
            Some((
                "colordiff".into(),
                vec!["-N".into(), "-u".into(), "--color=always".into()]
            ))
        );
        assert_eq!(external_command(""), None);
    }
}
