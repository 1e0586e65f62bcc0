//! Branch names as Git accepts them: the rules of `git check-ref-format --branch`, checked
//! before anything is pushed so a bad name in a config file or a template is one clear error
//! instead of a failed `git push` halfway through a promotion.

/// Checks `name` (without `refs/heads/`) against `git check-ref-format --branch`; the error says
/// which rule it breaks.
pub fn check_branch_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{name:?} is not a valid branch name: {why}"));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name == "@" {
        return bad("\"@\" alone is reserved");
    }
    if name.starts_with('-') {
        return bad("it starts with '-'");
    }
    if name.starts_with('/') || name.ends_with('/') {
        return bad("it starts or ends with '/'");
    }
    if name.ends_with('.') {
        return bad("it ends with '.'");
    }
    if name.contains("..") {
        return bad("it contains \"..\"");
    }
    if name.contains("@{") {
        return bad("it contains \"@{\"");
    }
    if let Some(c) = name.chars().find(|c| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return bad(&format!("it contains {c:?}"));
    }
    for part in name.split('/') {
        if part.is_empty() {
            return bad("it contains \"//\"");
        }
        if part.starts_with('.') {
            return bad("a component starts with '.'");
        }
        if part.ends_with(".lock") {
            return bad("a component ends with \".lock\"");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_git_accepts_pass() {
        for good in [
            "main",
            "promote/prod/web-0123456789ab",
            "rel-1.2",
            "a@b",
            "x_y.z",
        ] {
            assert_eq!(check_branch_name(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn names_git_refuses_are_explained() {
        for (bad, why) in [
            ("", "empty"),
            ("@", "reserved"),
            ("-x", "starts with '-'"),
            ("a b", "' '"),
            ("a..b", "\"..\""),
            ("a/.b", "starts with '.'"),
            ("a.lock", ".lock"),
            ("a/", "ends with '/'"),
            ("a//b", "\"//\""),
            ("a.", "ends with '.'"),
            ("a@{1}", "@{"),
            ("a:b", "':'"),
            ("a~1", "'~'"),
            ("a\nb", "'\\n'"),
            ("a*", "'*'"),
        ] {
            let e = check_branch_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
