//! `${VAR}` substitution with the semantics of Flux's postBuild (the fluxcd/pkg envsubst fork of
//! drone/envsubst), so manifests that work with Flux render the same here.
//!
//! Supported: `${var}`, the defaults `${var:=d}` `${var:-d}` `${var=d}` `${var-d}` (all four use
//! the default when the value is unset *or empty*, as Flux does), `${#var}`, case changes
//! `${var^}` `${var^^}` `${var,}` `${var,,}`, substrings `${var:pos}` `${var:pos:len}`, pattern
//! removal `${var#p}` `${var##p}` `${var%p}` `${var%%p}`, and replacement `${var/p/r}`
//! `${var//p/r}` `${var/#p/r}` `${var/%p/r}`. Defaults may nest (`${a:=${b}}`).
//! `${var+x}`, `${var:?x}` and `${var:+x}` are rejected. `$$` is an escaped `$` (so `$${var}`
//! yields a literal `${var}`), and a bare `$var` is left alone. Substitution works on the text
//! of a document, like Flux does, so a value can become a number or a boolean.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Location, Result};
use crate::manifest::Object;

/// The annotation (or label) with value `disabled` that turns substitution off for an object.
pub const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";
pub const DISABLED: &str = "disabled";

/// Whether `obj` opted out of substitution.
pub fn is_disabled(obj: &Object) -> bool {
    obj.annotation(DISABLE_KEY) == Some(DISABLED) || obj.label(DISABLE_KEY) == Some(DISABLED)
}

/// Variable values, checked against Flux's name rule `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    pub fn new() -> Self {
        Vars::default()
    }

    /// Sets `name` (later values win). Names that Flux would refuse are refused here too.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<()> {
        if !is_valid_name(name) {
            return Err(Error::Usage(format!(
                "variable name {name:?} is invalid: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"
            )));
        }
        self.values.insert(name.to_owned(), value.into());
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Flux's rule for variable names (ASCII letters, digits and `_`, not starting with a digit).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// How missing variables are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A missing variable becomes the empty string (Flux's default).
    #[default]
    Lenient,
    /// A missing variable (used without a default) is an error; all of them are collected.
    Strict,
}

/// Substitutes variables in `text`, a document that starts at `first_line` of `file`.
///
/// In strict mode missing variables are appended to `undefined` with their position and the
/// returned text is only a best effort; the caller reports them all at once.
pub fn substitute(
    text: &str,
    vars: &Vars,
    mode: Mode,
    file: &Arc<str>,
    first_line: usize,
    undefined: &mut Vec<(String, Location)>,
) -> Result<String> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut parser = Parser {
        text,
        pos: 0,
        file,
        first_line,
        depth: 0,
    };
    let nodes = parser.parse_top()?;
    let mut out = String::with_capacity(text.len());
    let ctx = Eval {
        vars,
        mode,
        parser: &parser,
    };
    for node in &nodes {
        ctx.eval(node, &mut out, undefined);
    }
    Ok(out)
}

#[derive(Debug)]
enum Node {
    Text(String),
    Func(Func),
}

#[derive(Debug)]
struct Func {
    param: String,
    /// The operator as Flux names it: "" (plain), "len", ":=", "^^", "//", "#", ":" …
    op: String,
    args: Vec<Vec<Node>>,
    /// Byte offset of the `${`, for error positions.
    at: usize,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    file: &'a Arc<str>,
    first_line: usize,
    /// How many `${` are open at `pos` (defaults nest: `${a:=${b}}`).
    depth: usize,
}

/// How deeply substitutions may nest in defaults: parsing and evaluating recurse once per
/// level, so 100,000 nested `${a:=` would overflow the stack instead of failing.
const MAX_NESTING: usize = 64;

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }
    fn peek2(&self) -> Option<char> {
        let mut it = self.text[self.pos..].chars();
        it.next();
        it.next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn at_open(&self) -> bool {
        self.text[self.pos..].starts_with("${")
    }

    fn location(&self, offset: usize) -> Location {
        let before = &self.text[..offset];
        let line = before.matches('\n').count();
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Location::new(&**self.file, self.first_line + line, column)
    }

    fn error(&self, at: usize, message: impl Into<String>) -> Error {
        Error::Substitution {
            at: self.location(at),
            message: message.into(),
        }
    }

    fn parse_top(&mut self) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        while self.pos < self.text.len() {
            let rest = &self.text[self.pos..];
            let Some(dollar) = rest.find('$') else {
                text.push_str(rest);
                self.pos = self.text.len();
                break;
            };
            text.push_str(&rest[..dollar]);
            self.pos += dollar;
            if self.text[self.pos..].starts_with("$$") {
                text.push('$');
                self.pos += 2;
            } else if self.at_open() {
                if !text.is_empty() {
                    nodes.push(Node::Text(std::mem::take(&mut text)));
                }
                nodes.push(Node::Func(self.parse_func()?));
            } else {
                text.push('$');
                self.pos += 1;
            }
        }
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        Ok(nodes)
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                self.bump();
            } else {
                break;
            }
        }
        self.text[start..self.pos].to_owned()
    }

    fn expect_close(&mut self, at: usize) -> Result<()> {
        match self.bump() {
            Some('}') => Ok(()),
            None => Err(self.error(at, "missing closing brace")),
            Some(_) => Err(self.error(at, "bad substitution")),
        }
    }

    /// Parses from `${` to its `}`.
    fn parse_func(&mut self) -> Result<Func> {
        if self.depth >= MAX_NESTING {
            return Err(self.error(
                self.pos,
                format!("substitutions nested deeper than {MAX_NESTING} levels"),
            ));
        }
        self.depth += 1;
        let func = self.parse_one_func();
        self.depth -= 1;
        func
    }

    fn parse_one_func(&mut self) -> Result<Func> {
        let at = self.pos;
        self.pos += 2;
        let func = |param: String, op: &str, args| Func {
            param,
            op: op.to_owned(),
            args,
            at,
        };
        if self.peek() == Some('#') {
            self.bump();
            let name = self.ident();
            if name.is_empty() {
                return Err(self.error(at, "bad substitution"));
            }
            self.expect_close(at)?;
            return Ok(func(name, "len", vec![]));
        }
        let name = self.ident();
        if name.is_empty() {
            return Err(self.error(at, "unable to parse variable name"));
        }
        let unsupported = |p: &Self, form: &str| {
            p.error(
                at,
                format!("unsupported substitution ${{{name}{form}...}}: Flux does not support ${{var+x}}, ${{var:?x}} or ${{var:+x}}"),
            )
        };
        match self.peek() {
            Some('}') => {
                self.bump();
                Ok(func(name, "", vec![]))
            }
            Some(':') => match self.peek2() {
                Some(c @ ('=' | '-')) => {
                    self.pos += 2;
                    let op = format!(":{c}");
                    let args = self.parse_default_args(at)?;
                    Ok(func(name, &op, args))
                }
                Some(c @ ('?' | '+')) => Err(unsupported(self, &format!(":{c}"))),
                _ => {
                    self.bump();
                    let mut args = vec![self.parse_param(|c| c == ':' || c == '}', false, at)?];
                    match self.bump() {
                        Some('}') => {}
                        Some(':') => {
                            args.push(self.parse_param(|c| c == '}', false, at)?);
                            self.expect_close(at)?;
                        }
                        _ => return Err(self.error(at, "missing closing brace")),
                    }
                    Ok(func(name, ":", args))
                }
            },
            Some(c @ ('=' | '-')) => {
                self.bump();
                let args = self.parse_default_args(at)?;
                Ok(func(name, &c.to_string(), args))
            }
            Some('+') => Err(unsupported(self, "+")),
            Some(',' | '^') => {
                let mut op = String::new();
                while op.len() < 2 {
                    match self.peek() {
                        Some(c @ (',' | '^')) => {
                            op.push(c);
                            self.bump();
                        }
                        _ => break,
                    }
                }
                self.expect_close(at)?;
                Ok(func(name, &op, vec![]))
            }
            Some('/') => {
                self.bump();
                let mut op = String::from("/");
                if let Some(c @ ('/' | '#' | '%')) = self.peek() {
                    op.push(c);
                    self.bump();
                }
                let pattern = if self.peek() == Some('/') {
                    vec![]
                } else {
                    self.parse_param(|c| c == '/', true, at)?
                };
                if self.bump() != Some('/') {
                    return Err(self.error(at, "bad substitution"));
                }
                let mut args = vec![pattern];
                if self.peek() == Some('}') {
                    self.bump();
                } else {
                    args.push(self.parse_param(|c| c == '}', true, at)?);
                    self.expect_close(at)?;
                }
                Ok(func(name, &op, args))
            }
            Some(c @ ('#' | '%')) => {
                let mut op = String::new();
                while op.len() < 2 && self.peek() == Some(c) {
                    op.push(c);
                    self.bump();
                }
                let arg = self.parse_param(|c| c == '}', false, at)?;
                self.expect_close(at)?;
                Ok(func(name, &op, vec![arg]))
            }
            None => Err(self.error(at, "missing closing brace")),
            Some(_) => Err(self.error(at, "missing closing brace")),
        }
    }

    /// The default of `${var:=default}`: text and nested substitutions up to the `}`.
    fn parse_default_args(&mut self, at: usize) -> Result<Vec<Vec<Node>>> {
        let arg = self.parse_param(|c| c == '}', false, at)?;
        self.expect_close(at)?;
        Ok(if arg.is_empty() { vec![] } else { vec![arg] })
    }

    /// Text (and nested `${…}`) up to a character `stop` accepts, which is not consumed.
    /// With `escapes`, `$$` is `$`, `\/` is `/` and `\\` is `\` (replacement arguments).
    fn parse_param(
        &mut self,
        stop: fn(char) -> bool,
        escapes: bool,
        at: usize,
    ) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        loop {
            if self.at_open() {
                if !text.is_empty() {
                    nodes.push(Node::Text(std::mem::take(&mut text)));
                }
                nodes.push(Node::Func(self.parse_func()?));
                continue;
            }
            let Some(c) = self.peek() else {
                return Err(self.error(at, "missing closing brace"));
            };
            if escapes {
                let rest = &self.text[self.pos..];
                if rest.starts_with("$$") {
                    text.push('$');
                    self.pos += 2;
                    continue;
                }
                if rest.starts_with("\\/") || rest.starts_with("\\\\") {
                    text.push(rest.as_bytes()[1] as char);
                    self.pos += 2;
                    continue;
                }
            }
            if stop(c) {
                break;
            }
            text.push(c);
            self.bump();
        }
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        Ok(nodes)
    }
}

struct Eval<'a> {
    vars: &'a Vars,
    mode: Mode,
    parser: &'a Parser<'a>,
}

impl Eval<'_> {
    fn eval(&self, node: &Node, out: &mut String, undefined: &mut Vec<(String, Location)>) {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Func(f) => {
                let args: Vec<String> = f
                    .args
                    .iter()
                    .map(|arg| {
                        let mut s = String::new();
                        for n in arg {
                            self.eval(n, &mut s, undefined);
                        }
                        s
                    })
                    .collect();
                let value = match self.vars.get(&f.param) {
                    Some(v) => v,
                    None => {
                        let has_default = matches!(f.op.as_str(), "=" | ":=" | ":-" | "-");
                        if self.mode == Mode::Strict && !has_default {
                            undefined.push((f.param.clone(), self.parser.location(f.at)));
                        }
                        ""
                    }
                };
                out.push_str(&apply(&f.op, value, &args));
            }
        }
    }
}

fn apply(op: &str, s: &str, args: &[String]) -> String {
    match op {
        "len" => s.len().to_string(),
        "," => map_first(s, |c| c.to_lowercase().collect()),
        ",," => s.to_lowercase(),
        "^" => map_first(s, |c| c.to_uppercase().collect()),
        "^^" => s.to_uppercase(),
        "#" => trim_shortest(s, &args[0]),
        "##" => trim_longest(s, &args[0]),
        "%" => reverse(&trim_shortest(&reverse(s), &reverse(&args[0]))),
        "%%" => reverse(&trim_longest(&reverse(s), &reverse(&args[0]))),
        ":" => substring(s, args),
        "/" => match args {
            [p] => s.replacen(p.as_str(), "", 1),
            [p, r] => s.replacen(p.as_str(), r, 1),
            _ => s.to_owned(),
        },
        "//" => match args {
            [p] => s.replace(p.as_str(), ""),
            [p, r] => s.replace(p.as_str(), r),
            _ => s.to_owned(),
        },
        "/#" => match args {
            [p, r] if s.starts_with(p.as_str()) => s.replacen(p.as_str(), r, 1),
            _ => s.to_owned(),
        },
        "/%" => match args {
            [p, r] if s.ends_with(p.as_str()) => format!("{}{r}", &s[..s.len() - p.len()]),
            _ => s.to_owned(),
        },
        // Plain `${var}`, the defaults, and unknown combinations (`,^`) behave like Flux's
        // toDefault: the value, or the default when the value is empty.
        _ => {
            if s.is_empty() && !args.is_empty() {
                args.concat()
            } else {
                s.to_owned()
            }
        }
    }
}

fn map_first(s: &str, f: impl Fn(char) -> String) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => f(c) + chars.as_str(),
        None => String::new(),
    }
}

fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

/// Prefix lengths (in bytes, at character boundaries), longest first, excluding the empty one.
fn prefixes(s: &str) -> impl Iterator<Item = usize> + '_ {
    let mut ends: Vec<usize> = s.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    ends.reverse();
    ends.into_iter()
}

fn trim_shortest(s: &str, pattern: &str) -> String {
    let mut shortest = None;
    for end in prefixes(s) {
        match glob_match(pattern, &s[..end]) {
            Some(true) => shortest = Some(end),
            Some(false) => {}
            None => return s.to_owned(),
        }
    }
    shortest.map_or_else(|| s.to_owned(), |end| s[end..].to_owned())
}

fn trim_longest(s: &str, pattern: &str) -> String {
    for end in prefixes(s) {
        match glob_match(pattern, &s[..end]) {
            Some(true) => return s[end..].to_owned(),
            Some(false) => {}
            None => return s.to_owned(),
        }
    }
    s.to_owned()
}

/// `${var:pos}` / `${var:pos:len}` with bash's rules for negative and out-of-range values.
fn substring(s: &str, args: &[String]) -> String {
    let len = s.len() as i64;
    let Ok(mut pos) = args[0].parse::<i64>() else {
        return s.to_owned();
    };
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    let slice = |from: i64, to: i64| -> String {
        let from = floor_boundary(s, from as usize);
        let to = floor_boundary(s, to as usize);
        s[from..to.max(from)].to_owned()
    };
    let Some(length) = args.get(1) else {
        return if pos < len {
            slice(pos, len)
        } else {
            String::new()
        };
    };
    let Ok(length) = length.parse::<i64>() else {
        return s.to_owned();
    };
    if length < 0 {
        let end = len + length;
        return if end < pos {
            String::new()
        } else {
            slice(pos, end)
        };
    }
    if pos + length >= len {
        return if pos < len {
            slice(pos, len)
        } else {
            String::new()
        };
    }
    slice(pos, pos + length)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Shell-style pattern match: `*` any run, `?` one character, `[a-z]` / `[!a-z]` / `[^a-z]`
/// classes, `\x` a literal. `None` for a malformed pattern (Flux then leaves the value alone).
fn glob_match(pattern: &str, text: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' if ti < t.len() => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' if ti < t.len() => {
                    let (matched, next) = match_class(&p, pi)?;
                    if matched(t[ti]) {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && ti < t.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 >= p.len() => return None,
                c if c != '*'
                    && c != '?'
                    && c != '['
                    && c != '\\'
                    && ti < t.len()
                    && c == t[ti] =>
                {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    // Validate the class even when there is no text left to match.
                    let _ = match_class(&p, pi)?;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return Some(true);
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return Some(false),
        }
    }
}

type ClassMatcher = Box<dyn Fn(char) -> bool>;

/// Parses the class starting at `p[start] == '['`; returns its matcher and the index after `]`.
fn match_class(p: &[char], start: usize) -> Option<(ClassMatcher, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&c| c != ']') {
            hi = p[i + 1];
            i += 2;
        }
        ranges.push((lo, hi));
    }
    Some((
        Box::new(move |c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negate),
        i,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.set("NAME", "Hello-World").unwrap();
        v.set("EMPTY", "").unwrap();
        v.set("PATH_", "/usr/local/bin/tool.tar.gz").unwrap();
        v.set("N", "3").unwrap();
        v
    }

    fn sub(text: &str) -> String {
        let mut undefined = vec![];
        substitute(
            text,
            &vars(),
            Mode::Lenient,
            &Arc::from("f"),
            1,
            &mut undefined,
        )
        .unwrap()
    }

    fn sub_err(text: &str) -> String {
        let mut undefined = vec![];
        substitute(
            text,
            &vars(),
            Mode::Lenient,
            &Arc::from("f"),
            1,
            &mut undefined,
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn plain_and_missing() {
        assert_eq!(sub("a: ${NAME}"), "a: Hello-World");
        assert_eq!(sub("a: ${MISSING}!"), "a: !");
        assert_eq!(sub("replicas: ${N}"), "replicas: 3");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        for form in [
            "${X:=d}",
            "${X:-d}",
            "${X=d}",
            "${X-d}",
            "${EMPTY:=d}",
            "${EMPTY=d}",
            "${EMPTY-d}",
        ] {
            assert_eq!(sub(form), "d", "{form}");
        }
        assert_eq!(sub("${N:=d}"), "3");
        assert_eq!(sub("${X:=}"), "");
        assert_eq!(sub("${X:=${N}0}"), "30");
        assert_eq!(sub("${X:=a b:c}"), "a b:c");
    }

    #[test]
    fn length_and_case() {
        assert_eq!(sub("${#NAME}"), "11");
        assert_eq!(sub("${NAME^^}"), "HELLO-WORLD");
        assert_eq!(sub("${NAME,,}"), "hello-world");
        assert_eq!(sub("${NAME,}"), "hello-World");
        assert_eq!(sub("${EMPTY^}"), "");
        let mut v = Vars::new();
        v.set("L", "abc").unwrap();
        let out = substitute("${L^}", &v, Mode::Lenient, &Arc::from("f"), 1, &mut vec![]).unwrap();
        assert_eq!(out, "Abc");
    }

    #[test]
    fn substrings() {
        assert_eq!(sub("${NAME:6}"), "World");
        assert_eq!(sub("${NAME:0:5}"), "Hello");
        assert_eq!(
            sub("${NAME:-5}"),
            "Hello-World",
            "`:-` is a default, not a negative offset"
        );
        assert_eq!(sub("${NAME:1:-1}"), "ello-Worl");
        assert_eq!(sub("${NAME:20}"), "");
        assert_eq!(sub("${NAME:6:100}"), "World");
        assert_eq!(sub("${NAME:x}"), "Hello-World");
    }

    #[test]
    fn pattern_removal() {
        assert_eq!(sub("${PATH_#*/}"), "usr/local/bin/tool.tar.gz");
        assert_eq!(sub("${PATH_##*/}"), "tool.tar.gz");
        assert_eq!(sub("${PATH_%.*}"), "/usr/local/bin/tool.tar");
        assert_eq!(sub("${PATH_%%.*}"), "/usr/local/bin/tool");
        assert_eq!(sub("${NAME#H?l}"), "lo-World");
        assert_eq!(sub("${NAME#[A-Z]}"), "ello-World");
        assert_eq!(sub("${NAME#nomatch}"), "Hello-World");
    }

    #[test]
    fn replacement() {
        assert_eq!(sub("${NAME/l/L}"), "HeLlo-World");
        assert_eq!(sub("${NAME//l/L}"), "HeLLo-WorLd");
        assert_eq!(sub("${NAME/#Hello/Bye}"), "Bye-World");
        assert_eq!(sub("${NAME/#World/x}"), "Hello-World");
        assert_eq!(sub("${NAME/%World/You}"), "Hello-You");
        assert_eq!(sub("${NAME//l/}"), "Heo-Word");
        assert_eq!(sub("${PATH_//\\//_}"), "_usr_local_bin_tool.tar.gz");
    }

    #[test]
    fn escapes_and_bare_dollars() {
        assert_eq!(sub("$${NAME}"), "${NAME}");
        assert_eq!(sub("cost: $5 $NAME $"), "cost: $5 $NAME $");
        assert_eq!(sub("$$$${NAME}"), "$${NAME}");
        assert_eq!(sub("$$${NAME}"), "$Hello-World");
    }

    #[test]
    fn unsupported_forms_are_rejected() {
        for form in ["${X+y}", "${X:?y}", "${X:+y}"] {
            let e = sub_err(&format!("a: b\nc: {form}\n"));
            assert!(
                e.starts_with("f:2:4: unsupported substitution"),
                "{form}: {e}"
            );
        }
    }

    #[test]
    fn malformed_forms_are_located() {
        assert_eq!(sub_err("x\n  ${NAME"), "f:2:3: missing closing brace");
        assert_eq!(sub_err("${}"), "f:1:1: unable to parse variable name");
        assert_eq!(sub_err("${NAME.x}"), "f:1:1: missing closing brace");
    }

    #[test]
    fn strict_mode_lists_every_missing_variable() {
        let mut undefined = vec![];
        let text = "a: ${A}\nb: ${B:=ok}\nc: ${C^^} ${NAME}\n";
        substitute(
            text,
            &vars(),
            Mode::Strict,
            &Arc::from("f.yaml"),
            10,
            &mut undefined,
        )
        .unwrap();
        let got: Vec<String> = undefined
            .iter()
            .map(|(n, at)| format!("{n}@{at}"))
            .collect();
        assert_eq!(got, ["A@f.yaml:10:4", "C@f.yaml:12:4"]);
    }

    #[test]
    fn deep_nesting_fails_instead_of_overflowing_the_stack() {
        let text = format!("k: {}\n", "${a:=".repeat(100_000));
        let mut undefined = Vec::new();
        let err = substitute(
            &text,
            &vars(),
            Mode::Strict,
            &Arc::from("f.yaml"),
            3,
            &mut undefined,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.yaml:3:324: substitutions nested deeper than 64 levels"
        );
    }

    #[test]
    fn variable_names_follow_flux() {
        assert!(is_valid_name("_a1"));
        assert!(is_valid_name("APP_NAME"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
        assert!(Vars::new().set("a.b", "x").is_err());
    }
}
