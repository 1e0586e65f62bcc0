//! Writing YAML exactly as `kustomize build` (and so `kubectl kustomize`) writes it.
//!
//! kustomize turns each resource into JSON and then into YAML with `sigs.k8s.io/yaml`, whose
//! emitter is go-yaml v2 (a port of libyaml). Users diff our output against theirs, so we follow
//! that emitter's decisions rather than any YAML library's defaults:
//!
//! - mapping keys are sorted with go-yaml v2's "natural" order (non-letters before letters,
//!   runs of digits compared as numbers: `a1 < a01 < a9 < a10 < aB`);
//! - 2-space indentation, sequences inside a mapping are not indented (`- ` at the key's column);
//! - a string is plain unless it would read back as another type (`"123"`, `"true"`, `"y"`,
//!   `"12:30"`, `"2001-12-14"` are double-quoted), contains indicators that forbid plain style
//!   (then `'single quoted'`), or holds characters only double quotes can carry (tabs, control
//!   characters, characters outside the Basic Multilingual Plane);
//! - strings with a newline are literal blocks (`|`, `|-`, `|+`, with an indentation indicator
//!   when the text starts with a space or a newline);
//! - plain and quoted scalars are folded at spaces once a line passes 80 columns;
//! - numbers take the route through Go's `encoding/json` and back (`1.0` → `1`, `1e-7` → `1e-07`).

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// go-yaml's preferred line width: plain and quoted scalars are folded at a space past it.
const BEST_WIDTH: usize = 80;

/// One value (normally a Kubernetes object) as a YAML document, ending in a newline, without a
/// `---` marker.
pub fn to_string(value: &Value) -> String {
    let mut e = Emitter {
        out: String::with_capacity(1024),
        column: 0,
        line_done: false,
    };
    match value {
        Value::Object(map) if !map.is_empty() => e.mapping(map, 0),
        Value::Array(items) if !items.is_empty() => e.sequence(items, 0),
        other => {
            e.inline_value(other, 2);
        }
    }
    e.newline_if_needed();
    e.out
}

/// Whether `s`, written unquoted as a value in block context, reads back as the string `s`, by
/// the rules kustomize's emitter follows (`7.2` is a number, `yes` a boolean, `*x` an alias,
/// `a: b` a mapping). For editors that change one value of a hand-written file in place and
/// quote only when they must, as `image-tag set` does with tags.
pub fn is_plain_string(s: &str) -> bool {
    select_style(s, false) == Style::Plain
}

/// The order go-yaml v2 sorts string mapping keys in.
pub fn key_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        // Kubernetes keys are ASCII: compare bytes as characters without allocating.
        return natural_order(a.as_bytes(), b.as_bytes(), |c| char::from(*c));
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    natural_order(&ar, &br, |c| *c)
}

fn natural_order<T>(ar: &[T], br: &[T], ch: impl Fn(&T) -> char) -> Ordering {
    let n = ar.len().min(br.len());
    for i in 0..n {
        let (ca, cb) = (ch(&ar[i]), ch(&br[i]));
        if ca == cb {
            continue;
        }
        let al = ca.is_alphabetic();
        let bl = cb.is_alphabetic();
        if al && bl {
            return ca.cmp(&cb);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ca == '0' || cb == '0' {
            let mut j = i;
            while j > 0 && ch(&ar[j - 1]).is_ascii_digit() {
                if ch(&ar[j - 1]) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
                j -= 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ch(&ar[ai]).is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ch(&ar[ai]) as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && ch(&br[bi]).is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(ch(&br[bi]) as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ca.cmp(&cb);
    }
    ar.len().cmp(&br.len())
}

/// How a scalar string is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
    /// The last thing written (a block scalar) ended its line.
    line_done: bool,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
    }

    fn put_char(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn newline(&mut self) {
        if std::mem::take(&mut self.line_done) {
            return;
        }
        self.out.push('\n');
        self.column = 0;
    }

    fn newline_if_needed(&mut self) {
        if !self.line_done {
            self.newline();
        }
    }

    fn indent_to(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push(' ');
        }
        self.column = indent;
    }

    /// A block mapping whose keys sit at column `indent`; the first key is written where the
    /// cursor is (after `- ` in a sequence, or at the start of a line).
    fn mapping(&mut self, map: &Map<String, Value>, indent: usize) {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| key_order(a.0, b.0));
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.newline();
                self.indent_to(indent);
            }
            if key.contains(is_break_char) || key.len() > 128 {
                // Not a simple key (multi-line, or longer than libyaml's 128): `? key` then `: value`.
                self.put("?");
                self.scalar(key, indent + 2, false);
                self.newline();
                self.indent_to(indent);
                self.put(":");
                self.value_after_indicator(value, indent, true);
                continue;
            }
            self.key(key);
            self.put(":");
            self.value_after_indicator(value, indent, true);
        }
    }

    /// The value of a mapping entry (`in_mapping`) or of a sequence item, after its `:` or `-`.
    fn value_after_indicator(&mut self, value: &Value, indent: usize, in_mapping: bool) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                if in_mapping {
                    self.newline();
                    self.indent_to(indent + 2);
                } else {
                    self.put(" ");
                }
                self.mapping(map, indent + 2);
            }
            Value::Array(items) if !items.is_empty() => {
                if in_mapping {
                    // Sequences in a mapping are "indentless".
                    self.newline();
                    self.indent_to(indent);
                    self.sequence(items, indent);
                } else {
                    self.put(" ");
                    self.sequence(items, indent + 2);
                }
            }
            other => self.inline_value(other, indent + 2),
        }
    }

    /// A block sequence whose `-` sit at column `indent`; the first is written at the cursor.
    fn sequence(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.newline();
                self.indent_to(indent);
            }
            self.put("-");
            self.value_after_indicator(item, indent, false);
        }
    }

    /// A scalar or an empty collection after `key:` or `-` (a space goes first); `indent` is
    /// where folded lines and block scalar lines continue.
    fn inline_value(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Null => self.put_after_space("null"),
            Value::Bool(true) => self.put_after_space("true"),
            Value::Bool(false) => self.put_after_space("false"),
            Value::Number(n) => {
                let text = number(n);
                self.put_after_space(&text);
            }
            Value::String(s) => self.scalar(s, indent, true),
            Value::Object(_) => self.put_after_space("{}"),
            Value::Array(_) => self.put_after_space("[]"),
        }
    }

    fn put_after_space(&mut self, s: &str) {
        if self.column > 0 && !self.out.ends_with(' ') {
            self.put(" ");
        }
        self.put(s);
    }

    fn key(&mut self, key: &str) {
        let style = select_style(key, true);
        match style {
            Style::Plain => self.put(key),
            Style::Single => self.single_quoted(key, 0, false),
            Style::Double | Style::Literal => self.double_quoted(key, 0, false),
        }
    }

    /// A string value (not a key), preceded by a space.
    fn scalar(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let style = select_style(s, false);
        self.put(" ");
        match style {
            Style::Plain => self.plain(s, indent, allow_breaks),
            Style::Single => self.single_quoted(s, indent, allow_breaks),
            Style::Double => self.double_quoted(s, indent, allow_breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn break_line(&mut self, indent: usize) {
        self.newline();
        self.indent_to(indent);
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        if !allow_breaks || s.len() + self.column <= BEST_WIDTH {
            self.put(s);
            return;
        }
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if !spaces && self.column > BEST_WIDTH && !next_space {
                    self.break_line(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
    }

    fn single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.put_char('\'');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                    && !next_space
                {
                    self.break_line(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else if is_break_char(c) {
                // Only reachable for the rare Unicode line separators: go-yaml starts a new
                // (indented) line after them.
                self.out.push(c);
                self.column = 0;
                breaks = true;
                spaces = false;
            } else {
                if std::mem::take(&mut breaks) {
                    for _ in self.column..indent {
                        self.out.push(' ');
                    }
                    self.column = self.column.max(indent);
                }
                if c == '\'' {
                    self.put_char('\'');
                }
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('\'');
    }

    fn double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.put_char('"');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break_char(c) || c == '"' || c == '\\' {
                self.put_char('\\');
                let short = match c {
                    '\0' => Some('0'),
                    '\u{7}' => Some('a'),
                    '\u{8}' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\u{b}' => Some('v'),
                    '\u{c}' => Some('f'),
                    '\r' => Some('r'),
                    '\u{1b}' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match short {
                    Some(e) => self.put_char(e),
                    None => {
                        let v = c as u32;
                        let text = if v <= 0xFF {
                            format!("x{v:02X}")
                        } else if v <= 0xFFFF {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        self.put(&text);
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                {
                    self.break_line(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put_char('\\');
                    }
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put_char('|');
        if s.starts_with([' ', '\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
            self.put_char('2');
        }
        let mut rev = s.chars().rev();
        let last = rev.next();
        let before = rev.next();
        match (last, before) {
            (Some(l), _) if !is_break_char(l) => self.put_char('-'),
            (Some(_), None) => self.put_char('+'),
            (Some(_), Some(b)) if is_break_char(b) => self.put_char('+'),
            (None, _) => self.put_char('-'),
            _ => {}
        }
        // Lines, without trailing spaces on empty ones (go-yaml only indents text).
        let mut breaks = true;
        self.newline();
        for c in s.chars() {
            if is_break_char(c) {
                if c == '\n' {
                    self.out.push('\n');
                    self.column = 0;
                } else {
                    self.out.push(c);
                    self.column = 0;
                }
                breaks = true;
            } else {
                if breaks {
                    self.indent_to(indent);
                    breaks = false;
                }
                self.put_char(c);
            }
        }
        // A block that ends with a line break has ended its line already.
        self.line_done = self.out.ends_with('\n');
    }
}

fn is_break_char(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable` (as go-yaml has it: nothing outside the Basic Multilingual Plane).
fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

/// The scalar style go-yaml v2 ends up with for a string (`key`: in simple-key position).
fn select_style(s: &str, key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if !resolves_to_non_string(s) && !is_base60_float(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    let mut style = requested;
    if key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain {
        if !a.block_plain_allowed {
            style = Style::Single;
        }
        if s.is_empty() && key {
            style = Style::Single;
        }
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || key) {
        style = Style::Double;
    }
    style
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// libyaml's `yaml_emitter_analyze_scalar`, for block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let mut it = s.chars().peekable();
    let mut i = 0usize;
    while let Some(c) = it.next() {
        let next = it.peek().copied();
        let is_last = next.is_none();
        let followed_by_whitespace =
            next.is_none_or(|n| matches!(n, ' ' | '\t') || is_break_char(n));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if is_last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break_char(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if is_last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t') || is_break_char(c);
        i += 1;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether go-yaml v2 would read the plain scalar `s` as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return true; // null
    };
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF",
    ];
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => {
            SPECIAL.contains(&s)
        }
        b'.' => SPECIAL.contains(&s) || go_parse_float(s),
        b'+' | b'-' | b'0'..=b'9' => {
            if SPECIAL.contains(&s) || is_timestamp(s) {
                return true;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            go_parse_int(&plain) || (is_yaml_float(&plain) && go_parse_float(&plain))
        }
        _ => false,
    }
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint` succeeds.
fn go_parse_int(s: &str) -> bool {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return false;
    }
    match u64::from_str_radix(digits, radix) {
        Ok(v) => !neg || v <= 1 << 63,
        Err(_) => false,
    }
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat(s, 64)` succeeds (decimal forms, `inf`/`nan`, no overflow).
fn go_parse_float(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return true;
    }
    if body.starts_with("0x") || body.starts_with("0X") {
        return false; // hex floats need a p exponent; never produced by the callers' inputs
    }
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return false;
    }
    match s.parse::<f64>() {
        Ok(v) => v.is_finite(),
        Err(_) => false,
    }
}

/// go-yaml v2's timestamp forms: `2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00` (also `t`),
/// `2006-1-2 15:4:5.999999999`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let num = |i: &mut usize, max_len: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && *i - start < max_len && b[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        s[start..*i].parse().ok()
    };
    let Some(month) = num(&mut i, 2) else {
        return false;
    };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(&mut i, 2) else {
        return false;
    };
    let year: u32 = s[..4].parse().unwrap_or(0);
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    let Some(h) = num(&mut i, 2) else {
        return false;
    };
    if b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(m) = num(&mut i, 2) else {
        return false;
    };
    if b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(sec) = num(&mut i, 2) else {
        return false;
    };
    if h > 23 || m > 59 || sec > 59 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if sep == b' ' {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let z = &s[i + 1..];
            z.len() == 5
                && z.as_bytes()[2] == b':'
                && z[..2].parse::<u32>().is_ok()
                && z[3..].parse::<u32>().is_ok()
        }
        _ => false,
    }
}

fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&c) = b.first() else { return false };
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = usize::from(c == b'+' || c == b'-');
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let g = &s[start..i];
        let ok = match g.len() {
            1 => true,
            2 => g.as_bytes()[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// A number as kustomize prints it: Go's `encoding/json` text, read back by go-yaml v2 (as an
/// integer when it has no fraction or exponent) and printed with `%g`-like shortest form.
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let json = go_json_float(f);
    if !json.contains(['.', 'e']) {
        let body = json.strip_prefix('-').unwrap_or(&json);
        let fits = if json.starts_with('-') {
            body.parse::<u64>().is_ok_and(|v| v <= 1 << 63)
        } else {
            body.parse::<u64>().is_ok()
        };
        if fits {
            return json;
        }
    }
    go_format_g(f)
}

/// The shortest decimal digits of `f` and its decimal exponent (`d.ddd × 10^exp`).
fn shortest_digits(f: f64) -> (String, i32) {
    let text = format!("{:e}", f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Go `encoding/json` float encoding ('f' between 1e-6 and 1e21, else 'e' with `e-7` style).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    let sign = if f < 0.0 { "-" } else { "" };
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (digits, exp) = shortest_digits(f);
        let mut out = format!("{sign}{}", &digits[..1]);
        if digits.len() > 1 {
            let _ = write!(out, ".{}", &digits[1..]);
        }
        let _ = write!(out, "e{}{}", if exp < 0 { '-' } else { '+' }, exp.abs());
        out
    } else {
        let (digits, exp) = shortest_digits(f);
        format!("{sign}{}", fixed(&digits, exp))
    }
}

fn fixed(digits: &str, exp: i32) -> String {
    if digits == "0" {
        return "0".to_owned();
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    }
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)`.
fn go_format_g(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let (digits, exp) = shortest_digits(f);
    // Go uses %e when the exponent is < -4 or >= 6 for the shortest representation.
    if !(-4..6).contains(&exp) {
        let mut out = format!("{sign}{}", &digits[..1]);
        if digits.len() > 1 {
            let _ = write!(out, ".{}", &digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        out
    } else {
        format!("{sign}{}", fixed(&digits, exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_the_ones_that_read_back_as_strings() {
        for plain in [
            "v1.2.3",
            "ghcr.io/acme/app:v1",
            "sha256:abc",
            "1.2.3",
            "latest",
        ] {
            assert!(is_plain_string(plain), "{plain}");
        }
        for quoted in [
            "7.2", "1", "true", "yes", "n", "null", "", "0x1f", "1e3", "*x", "a: b", "- x",
        ] {
            assert!(!is_plain_string(quoted), "{quoted}");
        }
    }
    use serde_json::json;

    fn s(v: Value) -> String {
        to_string(&v)
    }

    #[test]
    fn keys_sort_naturally() {
        let mut keys = vec![
            "aB",
            "a10",
            "a9",
            "a01",
            "a1",
            "a_b",
            "a-b",
            "Zed",
            "app",
            "app.kubernetes.io/name",
        ];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(
            keys,
            [
                "Zed",
                "a-b",
                "a_b",
                "a1",
                "a01",
                "a9",
                "a10",
                "aB",
                "app",
                "app.kubernetes.io/name"
            ]
        );
    }

    #[test]
    fn strings_that_read_as_other_types_are_double_quoted() {
        for q in [
            "123",
            "true",
            "yes",
            "on",
            "",
            "y",
            "n",
            "NO",
            "1.5",
            "null",
            "~",
            "0x1F",
            "1e3",
            "0777",
            "1_000",
            ".inf",
            "12:30",
            "2001-12-14",
            "1.0",
            "+1",
            "0b101",
            "0o17",
            "08",
            ".5",
            "True",
            "Off",
            "2001-12-14T21:59:43.10-05:00",
        ] {
            assert_eq!(s(json!({ "k": q })), format!("k: \"{q}\"\n"), "{q}");
        }
        for p in [
            "=",
            "<<",
            "?x",
            "a,b",
            ":x",
            "0x",
            "2001-13-14",
            "-x",
            "1e400",
            "é",
            "a'b",
            "é unicode",
        ] {
            assert_eq!(s(json!({ "k": p })), format!("k: {p}\n"), "{p}");
        }
    }

    #[test]
    fn indicators_single_quote() {
        assert_eq!(s(json!({"k": "a: b"})), "k: 'a: b'\n");
        assert_eq!(s(json!({"k": "it's: x"})), "k: 'it''s: x'\n");
        assert_eq!(s(json!({"k": "- a"})), "k: '- a'\n");
        assert_eq!(s(json!({"k": "#x"})), "k: '#x'\n");
        assert_eq!(s(json!({"k": "x #y"})), "k: 'x #y'\n");
        assert_eq!(s(json!({"k": "---"})), "k: '---'\n");
        assert_eq!(s(json!({"k": "trailing "})), "k: 'trailing '\n");
        assert_eq!(s(json!({"k": "  "})), "k: '  '\n");
        assert_eq!(s(json!({"k": "x:"})), "k: 'x:'\n");
    }

    #[test]
    fn special_characters_double_quote() {
        assert_eq!(s(json!({"k": "tab\there"})), "k: \"tab\\there\"\n");
        assert_eq!(s(json!({"k": "a\u{1}b"})), "k: \"a\\x01b\"\n");
        assert_eq!(s(json!({"k": "😀 smile"})), "k: \"\\U0001F600 smile\"\n");
        assert_eq!(
            s(json!({"k": "trailing space on line  \nnext"})),
            "k: \"trailing space on line  \\nnext\"\n"
        );
    }

    #[test]
    fn literal_blocks() {
        assert_eq!(
            s(json!({"d": {"k": "line1\nline2\n"}})),
            "d:\n  k: |\n    line1\n    line2\n"
        );
        assert_eq!(s(json!({"k": "line1\nline2"})), "k: |-\n  line1\n  line2\n");
        assert_eq!(
            s(json!({"k": "line1\nline2\n\n"})),
            "k: |+\n  line1\n  line2\n\n"
        );
        assert_eq!(s(json!({"k": " lead\nx"})), "k: |2-\n   lead\n  x\n");
        assert_eq!(
            s(json!({"k": "\nleading newline"})),
            "k: |2-\n\n  leading newline\n"
        );
        assert_eq!(
            s(json!({"k": "a\n\nb\n", "z": 1})),
            "k: |\n  a\n\n  b\nz: 1\n"
        );
    }

    #[test]
    fn long_strings_fold_at_80_columns() {
        let long = "this is a very long string that goes on and on and on and on and on and on and on and on and on and on and on";
        assert_eq!(
            s(json!({"data": {"s11": long}})),
            "data:\n  s11: this is a very long string that goes on and on and on and on and on and on\n    and on and on and on and on and on\n"
        );
        assert_eq!(
            s(json!({"spec": {"list": [long, [long]]}})),
            "spec:\n  list:\n  - this is a very long string that goes on and on and on and on and on and on and\n    on and on and on and on and on\n  - - this is a very long string that goes on and on and on and on and on and on and\n      on and on and on and on and on\n"
        );
        let q = "'quoted start' and then some very long text that goes on and on and on and on and on and on";
        assert_eq!(
            s(json!({"data": {"f3": q}})),
            "data:\n  f3: '''quoted start'' and then some very long text that goes on and on and on and\n    on and on and on'\n"
        );
        let d = "short words then a tab\there and a very long tail that is longer than eighty characters for sure yes";
        assert_eq!(
            s(json!({"data": {"f1": d}})),
            "data:\n  f1: \"short words then a tab\\there and a very long tail that is longer than eighty\n    characters for sure yes\"\n"
        );
    }

    #[test]
    fn collections_and_numbers() {
        let v = json!({"spec": {"b": true, "n": null, "e": {}, "l": [], "f": 1.5, "f2": 1.0, "f3": 1e10, "f4": 0.0000001, "f5": 1e23, "big": 12345678901_u64, "i2": -3,
            "nested": [{"a": 1, "b": [1, 2]}, ["x", "y"], {}]}});
        assert_eq!(
            s(v),
            "spec:\n  b: true\n  big: 12345678901\n  e: {}\n  f: 1.5\n  f2: 1\n  f3: 10000000000\n  f4: 1e-07\n  f5: 1e+23\n  i2: -3\n  l: []\n  \"n\": null\n  nested:\n  - a: 1\n    b:\n    - 1\n    - 2\n  - - x\n    - \"y\"\n  - {}\n"
        );
        assert_eq!(
            number(&serde_json::Number::from_f64(1234567.5).unwrap()),
            "1.2345675e+06"
        );
        assert_eq!(number(&serde_json::Number::from_f64(0.25).unwrap()), "0.25");
        assert_eq!(
            number(&serde_json::Number::from_f64(1e20).unwrap()),
            "1e+20"
        );
    }

    #[test]
    fn odd_keys() {
        let v = json!({"": 2, "   ": 3, "k": "x"});
        assert_eq!(s(v), "\"\": 2\n'   ': 3\nk: x\n");
    }
}
