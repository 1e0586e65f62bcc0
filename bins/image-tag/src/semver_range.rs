//! Semver ranges as Flux's ImagePolicy reads them (Masterminds/semver v3 constraints), which
//! differ from Cargo's: `||` alternatives, space- or comma-separated AND, hyphen ranges
//! (`1.2 - 1.4.5`), wildcards (`1.2.x`, `*`), `~`, `~>`, `^`, and partial versions. Versions are
//! parsed leniently (`v1.2` is 1.2.0). Pre-releases only match when the alternative asks for them
//! (one of its comparators has a pre-release, e.g. `>=1.0.0-0`).

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

/// A parsed range.
#[derive(Debug, Clone)]
pub struct Range {
    alternatives: Vec<Group>,
}

#[derive(Debug, Clone)]
struct Group {
    comparators: Vec<Comparator>,
    allows_prerelease: bool,
}

#[derive(Debug, Clone)]
enum Comparator {
    Ge(Version),
    Gt(Version),
    Le(Version),
    Lt(Version),
    Eq(Version),
    Ne(Version),
    /// `!=1.2.x`: outside [lo, hi).
    NotIn(Version, Version),
    Any,
}

/// Compares by precedence, ignoring build metadata (as semver and Masterminds do).
fn cmp(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

/// Parses a version the lenient way: optional `v`, missing minor/patch are 0.
pub fn parse_version(text: &str) -> Option<Version> {
    let t = text.strip_prefix('v').unwrap_or(text);
    let (t, build) = match t.split_once('+') {
        Some((a, b)) => (a, Some(b)),
        None => (t, None),
    };
    let (core, pre) = match t.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (t, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let num = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u64>().ok());
    let mut v = Version::new(num(0)?, num(1)?, num(2)?);
    if let Some(pre) = pre {
        v.pre = Prerelease::new(pre).ok()?;
        if v.pre.is_empty() {
            return None;
        }
    }
    if let Some(build) = build {
        v.build = BuildMetadata::new(build).ok()?;
    }
    Some(v)
}

/// A version in a constraint, with how many parts were given (wildcards count as missing).
struct Partial {
    version: Version,
    given: usize,
}

fn parse_partial(text: &str) -> Result<Partial, String> {
    let t = text.strip_prefix('v').unwrap_or(text);
    if matches!(t, "*" | "x" | "X" | "") {
        return Ok(Partial {
            version: Version::new(0, 0, 0),
            given: 0,
        });
    }
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let mut nums = [0u64; 3];
    let mut given = 0;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return Err(format!("{text:?} is not a version"));
    }
    for (i, p) in parts.iter().enumerate() {
        if matches!(*p, "*" | "x" | "X") {
            break;
        }
        nums[i] = p
            .parse()
            .map_err(|_| format!("{text:?} is not a version"))?;
        given = i + 1;
    }
    let full = format!("{}.{}.{}{rest}", nums[0], nums[1], nums[2]);
    let version = parse_version(&full).ok_or_else(|| format!("{text:?} is not a version"))?;
    Ok(Partial { version, given })
}

/// The first version above the partial's range: `1.2` → 1.3.0, `1` → 2.0.0.
fn bump(p: &Partial) -> Version {
    let v = &p.version;
    match p.given {
        0 => Version::new(u64::MAX, 0, 0),
        1 => Version::new(v.major + 1, 0, 0),
        2 => Version::new(v.major, v.minor + 1, 0),
        _ => Version::new(v.major, v.minor, v.patch + 1),
    }
}

fn comparators(op: &str, p: Partial, out: &mut Vec<Comparator>) -> Result<(), String> {
    let lo = Version {
        build: BuildMetadata::EMPTY,
        ..p.version.clone()
    };
    let exact = p.given == 3;
    match op {
        "" | "=" => {
            if p.given == 0 {
                out.push(Comparator::Any);
            } else if exact {
                out.push(Comparator::Eq(lo));
            } else {
                out.push(Comparator::Ge(lo));
                out.push(Comparator::Lt(bump(&p)));
            }
        }
        "!=" => {
            if p.given == 0 {
                out.push(Comparator::NotIn(
                    Version::new(0, 0, 0),
                    Version::new(u64::MAX, 0, 0),
                ));
            } else if exact {
                out.push(Comparator::Ne(lo));
            } else {
                out.push(Comparator::NotIn(lo, bump(&p)));
            }
        }
        ">" => {
            if exact {
                out.push(Comparator::Gt(lo));
            } else {
                out.push(Comparator::Ge(bump(&p)));
            }
        }
        ">=" | "=>" => out.push(Comparator::Ge(lo)),
        "<" => out.push(Comparator::Lt(lo)),
        "<=" | "=<" => {
            if exact {
                out.push(Comparator::Le(lo));
            } else {
                out.push(Comparator::Lt(bump(&p)));
            }
        }
        "~" | "~>" => {
            out.push(Comparator::Ge(lo.clone()));
            let hi = if p.given <= 1 {
                Version::new(lo.major + 1, 0, 0)
            } else {
                Version::new(lo.major, lo.minor + 1, 0)
            };
            if p.given > 0 {
                out.push(Comparator::Lt(hi));
            }
        }
        "^" => {
            out.push(Comparator::Ge(lo.clone()));
            let hi = match (lo.major, lo.minor, p.given) {
                (_, _, 0) => None,
                (0, _, 1) => Some(Version::new(1, 0, 0)),
                (0, 0, 2) => Some(Version::new(0, 1, 0)),
                (0, 0, _) => Some(Version::new(0, 0, lo.patch + 1)),
                (0, m, _) => Some(Version::new(0, m + 1, 0)),
                (ma, _, _) => Some(Version::new(ma + 1, 0, 0)),
            };
            if let Some(hi) = hi {
                out.push(Comparator::Lt(hi));
            }
        }
        other => return Err(format!("unknown operator {other:?}")),
    }
    Ok(())
}

const OPS: [&str; 12] = [
    "!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^", "",
];

impl Range {
    /// Parses a constraint string such as `>=1.0.0 <2.0.0 || ^3.1`.
    pub fn parse(text: &str) -> Result<Range, String> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let alt = alt.trim();
            if alt.is_empty() {
                return Err(format!("invalid semver range {text:?}: empty alternative"));
            }
            // Tokens: commas and spaces separate, but an operator may be followed by a space.
            let raw: Vec<&str> = alt
                .split([',', ' ', '\t'])
                .filter(|t| !t.is_empty())
                .collect();
            let mut tokens: Vec<String> = Vec::new();
            let mut i = 0;
            while i < raw.len() {
                let t = raw[i];
                if OPS[..11].contains(&t) && i + 1 < raw.len() {
                    tokens.push(format!("{t}{}", raw[i + 1]));
                    i += 2;
                } else {
                    tokens.push(t.to_owned());
                    i += 1;
                }
            }
            let mut group = Group {
                comparators: Vec::new(),
                allows_prerelease: false,
            };
            let mut j = 0;
            while j < tokens.len() {
                // Hyphen range: `A - B` = `>=A <=B`.
                if j + 2 < tokens.len() && tokens[j + 1] == "-" {
                    let a = parse_partial(&tokens[j])
                        .map_err(|e| format!("invalid semver range {text:?}: {e}"))?;
                    let b = parse_partial(&tokens[j + 2])
                        .map_err(|e| format!("invalid semver range {text:?}: {e}"))?;
                    group.allows_prerelease |=
                        !a.version.pre.is_empty() || !b.version.pre.is_empty();
                    comparators(">=", a, &mut group.comparators)?;
                    comparators("<=", b, &mut group.comparators)?;
                    j += 3;
                    continue;
                }
                let token = &tokens[j];
                let op = OPS
                    .iter()
                    .find(|op| token.starts_with(**op))
                    .copied()
                    .unwrap_or("");
                let p = parse_partial(token[op.len()..].trim())
                    .map_err(|e| format!("invalid semver range {text:?}: {e}"))?;
                group.allows_prerelease |= !p.version.pre.is_empty();
                comparators(op, p, &mut group.comparators)
                    .map_err(|e| format!("invalid semver range {text:?}: {e}"))?;
                j += 1;
            }
            alternatives.push(group);
        }
        Ok(Range { alternatives })
    }

    /// Whether `v` satisfies the range.
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|g| {
            (v.pre.is_empty() || g.allows_prerelease)
                && g.comparators.iter().all(|c| match c {
                    Comparator::Any => true,
                    Comparator::Ge(x) => cmp(v, x) != Ordering::Less,
                    Comparator::Gt(x) => cmp(v, x) == Ordering::Greater,
                    Comparator::Le(x) => cmp(v, x) != Ordering::Greater,
                    Comparator::Lt(x) => cmp(v, x) == Ordering::Less,
                    Comparator::Eq(x) => cmp(v, x) == Ordering::Equal,
                    Comparator::Ne(x) => cmp(v, x) != Ordering::Equal,
                    Comparator::NotIn(lo, hi) => {
                        cmp(v, lo) == Ordering::Less || cmp(v, hi) != Ordering::Less
                    }
                })
        })
    }
}

/// Compares versions by precedence (build metadata ignored).
pub fn compare(a: &Version, b: &Version) -> Ordering {
    cmp(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(range: &str, version: &str) -> bool {
        let r = Range::parse(range).expect("range parses");
        r.matches(&parse_version(version).expect("version parses"))
    }

    #[test]
    fn lenient_versions() {
        assert_eq!(parse_version("v1.2"), Some(Version::new(1, 2, 0)));
        assert_eq!(parse_version("1"), Some(Version::new(1, 0, 0)));
        assert!(parse_version("latest").is_none());
        assert!(parse_version("1.2.3.4").is_none());
        assert!(parse_version("1.2.3-").is_none());
        assert!(parse_version("1.2.3-01").is_none());
    }

    #[test]
    fn comparisons_and_and_or() {
        assert!(ok(">=1.0.0 <2.0.0", "1.9.9"));
        assert!(!ok(">=1.0.0 <2.0.0", "2.0.0"));
        assert!(ok(">=1.0.0, <2.0.0", "1.0.0"));
        assert!(ok("<1 || >=3", "3.1.0"));
        assert!(!ok("<1 || >=3", "2.0.0"));
        assert!(ok(">= 1.2", "1.2.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("!=1.2.3", "1.2.4"));
        assert!(!ok("!=1.2.x", "1.2.9"));
    }

    #[test]
    fn tilde_caret_wildcards() {
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(!ok("^0.0.3", "0.0.4"));
        assert!(ok("1.2.x", "1.2.7"));
        assert!(!ok("1.2.x", "1.3.0"));
        assert!(ok("*", "9.9.9"));
        assert!(ok(">1.2", "1.3.0"));
        assert!(!ok(">1.2", "1.2.9"));
        assert!(ok("<=1.2", "1.2.9"));
        assert!(!ok("<=1.2", "1.3.0"));
    }

    #[test]
    fn prereleases_only_when_asked() {
        assert!(!ok(">=1.0.0", "1.1.0-rc.1"));
        assert!(!ok("*", "1.1.0-rc.1"));
        assert!(ok(">=1.0.0-0", "1.1.0-rc.1"));
        assert!(ok(">=1.0.0-0 <2.0.0", "1.1.0-rc.1"));
        assert!(!ok(">=1.0.0-0 <2.0.0 || >=3", "3.1.0-rc.1"));
        assert!(ok("1.0.0-rc.1", "1.0.0-rc.1"));
    }

    #[test]
    fn bad_ranges() {
        assert!(Range::parse(">=abc").is_err());
        assert!(Range::parse("1.0 ||").is_err());
        assert!(Range::parse("%1.0").is_err());
    }
}
