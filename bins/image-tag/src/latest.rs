//! `image-tag latest`: the newest tag of a repository by the rules of Flux's ImagePolicy, so a
//! pipeline can ask the same question Flux's image automation answers. Tags are first filtered
//! by `--filter` (an unanchored regular expression) and optionally rewritten by `--extract`
//! (`$name`, `${name}`, `$1`); the policy then runs on the extracted values and the original tag
//! is reported:
//! - `--semver RANGE`: the highest version in the range (see [`crate::semver_range`]);
//! - `--numerical asc|desc`: values parsed as numbers (a value that is not a number is an error,
//!   as in Flux); `asc` picks the largest, `desc` the smallest;
//! - `--alphabetical asc|desc`: byte order; `asc` picks the last, `desc` the first.

use std::collections::BTreeMap;
use std::io::Write;

use gitops::registry::Registry;
use gitops::Outcome;
use regex::Regex;

use crate::semver_range::{compare, parse_version, Range};
use crate::{emit, reference, Result, ToolError};

/// `asc` or `desc`, as in Flux (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum Order {
    Asc,
    Desc,
}

/// `image-tag latest` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("policy").required(true).args(["semver", "numerical", "alphabetical"])))]
pub struct Args {
    /// The repository (`registry/repo`; a tag, if given, is ignored).
    pub repository: String,
    /// Highest version in this range (Masterminds/Flux syntax: `>=1.0.0 <2.0.0`, `^1.2`, `1.x`,
    /// `||`); pre-releases only when the range names one (`>=1.0.0-0`).
    #[arg(long, value_name = "RANGE")]
    pub semver: Option<String>,
    /// Tags as numbers: `asc` picks the largest, `desc` the smallest.
    #[arg(long, value_name = "ORDER", ignore_case = true)]
    pub numerical: Option<Order>,
    /// Tags as strings: `asc` picks the last in byte order, `desc` the first.
    #[arg(long, value_name = "ORDER", ignore_case = true)]
    pub alphabetical: Option<Order>,
    /// Only tags matching this regular expression (unanchored, like Flux's `filterTags.pattern`).
    #[arg(long, value_name = "REGEX")]
    pub filter: Option<String>,
    /// Compare this expansion of the filter's captures instead of the tag, e.g. `$ts`
    /// (Flux's `filterTags.extract`).
    #[arg(long, value_name = "TEMPLATE", requires = "filter")]
    pub extract: Option<String>,
    /// Print `repository:tag` instead of the tag alone.
    #[arg(long)]
    pub reference: bool,
}

/// The policy, validated before any network traffic.
#[derive(Debug)]
pub enum Policy {
    Semver(Range),
    Numerical(Order),
    Alphabetical(Order),
}

/// Applies the filter: extracted value → original tag (a later tag with the same value wins,
/// as in Flux's map).
pub fn filter(
    tags: &[String],
    pattern: Option<&Regex>,
    extract: Option<&str>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for tag in tags {
        match pattern {
            None => {
                out.insert(tag.clone(), tag.clone());
            }
            Some(re) => {
                if let Some(caps) = re.captures(tag) {
                    let value = match extract {
                        Some(template) if !template.is_empty() => {
                            let mut s = String::new();
                            caps.expand(template, &mut s);
                            s
                        }
                        _ => tag.clone(),
                    };
                    out.insert(value, tag.clone());
                }
            }
        }
    }
    out
}

/// The winning value among `values` (already filtered), or an error for numerical values that
/// are not numbers.
pub fn select(policy: &Policy, values: &[&String]) -> std::result::Result<Option<String>, String> {
    match policy {
        Policy::Semver(range) => Ok(values
            .iter()
            .filter_map(|v| {
                parse_version(v)
                    .filter(|p| range.matches(p))
                    .map(|p| (p, *v))
            })
            .max_by(|a, b| compare(&a.0, &b.0).then_with(|| a.1.cmp(b.1)))
            .map(|(_, v)| v.clone())),
        Policy::Numerical(order) => {
            let mut best: Option<(f64, &String)> = None;
            for v in values {
                let n: f64 = v
                    .parse()
                    .map_err(|_| format!("failed to parse invalid numeric value '{v}'"))?;
                let better = match (best, order) {
                    (None, _) => true,
                    (Some((b, _)), Order::Asc) => n >= b,
                    (Some((b, _)), Order::Desc) => n <= b,
                };
                if better {
                    best = Some((n, v));
                }
            }
            Ok(best.map(|(_, v)| v.clone()))
        }
        Policy::Alphabetical(order) => Ok(match order {
            Order::Asc => values.iter().max().map(|v| (*v).clone()),
            Order::Desc => values.iter().min().map(|v| (*v).clone()),
        }),
    }
}

/// Runs `latest`.
pub async fn run(args: &Args, registry: &Registry, out: &mut impl Write) -> Result<Outcome> {
    let policy = match (&args.semver, args.numerical, args.alphabetical) {
        (Some(r), _, _) => Policy::Semver(Range::parse(r).map_err(ToolError::Message)?),
        (_, Some(o), _) => Policy::Numerical(o),
        (_, _, Some(o)) => Policy::Alphabetical(o),
        _ => {
            return Err(ToolError::Message(
                "one of --semver, --numerical, --alphabetical is required".into(),
            ))
        }
    };
    let pattern = match &args.filter {
        Some(p) => Some(Regex::new(p).map_err(|e| {
            ToolError::Message(format!(
                "--filter: invalid regular expression: {}",
                e.to_string().lines().last().unwrap_or("")
            ))
        })?),
        None => None,
    };
    let repo = reference::parse(&args.repository)?;
    let tags = registry.tags(&repo).await?;
    let filtered = filter(&tags, pattern.as_ref(), args.extract.as_deref());
    let values: Vec<&String> = filtered.keys().collect();
    let winner = select(&policy, &values)
        .map_err(|e| ToolError::Message(format!("{}: {e}", args.repository)))?;
    let Some(value) = winner else {
        return Err(ToolError::Message(format!(
            "{}: none of its {} tags matches the policy",
            args.repository,
            tags.len()
        )));
    };
    let tag = &filtered[&value];
    if args.reference {
        emit(
            out,
            &format!("{}:{tag}", reference::name_of(&args.repository)),
        )?;
    } else {
        emit(out, tag)?;
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn latest(
        list: &[&str],
        policy: Policy,
        pattern: Option<&str>,
        extract: Option<&str>,
    ) -> Option<String> {
        let t = tags(list);
        let re = pattern.map(|p| Regex::new(p).expect("regex"));
        let f = filter(&t, re.as_ref(), extract);
        let values: Vec<&String> = f.keys().collect();
        select(&policy, &values)
            .expect("select")
            .map(|v| f[&v].clone())
    }

    #[test]
    fn semver_policy() {
        let list = ["1.0.0", "v1.2.0", "1.10.0", "2.0.0-rc.1", "latest", "1.9.9"];
        let r = |s: &str| Policy::Semver(Range::parse(s).expect("range"));
        assert_eq!(
            latest(&list, r(">=1.0.0"), None, None).as_deref(),
            Some("1.10.0")
        );
        assert_eq!(
            latest(&list, r("<1.5"), None, None).as_deref(),
            Some("v1.2.0")
        );
        assert_eq!(
            latest(&list, r(">=1.0.0-0"), None, None).as_deref(),
            Some("2.0.0-rc.1")
        );
        assert_eq!(latest(&list, r(">=3"), None, None), None);
    }

    #[test]
    fn numerical_with_extract() {
        let list = [
            "main-abc1234-1700000000",
            "main-def5678-1700000100",
            "dev-0000000-1800000000",
            "latest",
        ];
        let got = latest(
            &list,
            Policy::Numerical(Order::Asc),
            Some(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)"),
            Some("$ts"),
        );
        assert_eq!(got.as_deref(), Some("main-def5678-1700000100"));
        let got = latest(
            &list,
            Policy::Numerical(Order::Desc),
            Some(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)"),
            Some("$ts"),
        );
        assert_eq!(got.as_deref(), Some("main-abc1234-1700000000"));
        // Without a filter a non-numeric tag is an error, as in Flux.
        let t = tags(&list);
        let f = filter(&t, None, None);
        let values: Vec<&String> = f.keys().collect();
        assert!(select(&Policy::Numerical(Order::Asc), &values).is_err());
    }

    #[test]
    fn alphabetical() {
        let list = [
            "RELEASE.2023-01-01",
            "RELEASE.2024-05-01",
            "RELEASE.2022-12-31",
        ];
        assert_eq!(
            latest(&list, Policy::Alphabetical(Order::Asc), None, None).as_deref(),
            Some("RELEASE.2024-05-01")
        );
        assert_eq!(
            latest(&list, Policy::Alphabetical(Order::Desc), None, None).as_deref(),
            Some("RELEASE.2022-12-31")
        );
    }
}
