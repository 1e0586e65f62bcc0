//! The value parsers of `--var KEY=VALUE` and `--vars-file FILE`, which remember their position
//! on the command line so that a later flag wins over an earlier one, whichever kind it is.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use gitops_render::VarSource;

/// A flag value with its position on the command line. clap calls value parsers in argument
/// order, so a counter taken there orders `--var` against `--vars-file`, which clap keeps in
/// separate lists.
#[derive(Debug, Clone)]
pub struct Ordered<T> {
    pub seq: usize,
    pub value: T,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn ordered<T>(value: T) -> Ordered<T> {
    Ordered {
        seq: SEQ.fetch_add(1, AtomicOrdering::Relaxed),
        value,
    }
}

/// clap value parser for `--var KEY=VALUE`.
pub fn parse_var_flag(s: &str) -> Result<Ordered<(String, String)>, String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    if !gitops::envsubst::is_valid_name(key) {
        return Err(format!(
            "variable name {key:?} is invalid: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"
        ));
    }
    Ok(ordered((key.to_owned(), value.to_owned())))
}

/// clap value parser for `--vars-file FILE` (the file is read by the render, with proper errors).
pub fn parse_file_flag(s: &str) -> Result<Ordered<PathBuf>, String> {
    Ok(ordered(PathBuf::from(s)))
}

/// Both flag lists merged in command-line order.
pub fn var_sources(
    vars: Vec<Ordered<(String, String)>>,
    files: Vec<Ordered<PathBuf>>,
) -> Vec<VarSource> {
    let mut items: Vec<(usize, VarSource)> = vars
        .into_iter()
        .map(|o| (o.seq, VarSource::Var(o.value.0, o.value.1)))
        .chain(files.into_iter().map(|o| (o.seq, VarSource::File(o.value))))
        .collect();
    items.sort_by_key(|(seq, _)| *seq);
    items.into_iter().map(|(_, source)| source).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_flags_win_across_kinds() {
        let first = parse_var_flag("A=first").unwrap();
        let file = parse_file_flag("v.env").unwrap();
        let last = parse_var_flag("B=last").unwrap();
        assert_eq!(
            var_sources(vec![first, last], vec![file]),
            [
                VarSource::Var("A".into(), "first".into()),
                VarSource::File("v.env".into()),
                VarSource::Var("B".into(), "last".into()),
            ]
        );
    }

    #[test]
    fn bad_flags_say_why() {
        assert_eq!(
            parse_var_flag("X").unwrap_err(),
            "expected KEY=VALUE, got \"X\""
        );
        assert!(parse_var_flag("1X=2")
            .unwrap_err()
            .starts_with("variable name \"1X\" is invalid"));
    }
}
