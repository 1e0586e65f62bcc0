//! Streams of Kubernetes objects: reading them from YAML and JSON (files, directories, stdin),
//! remembering where each came from, naming them, ordering them, and writing them back out.
//!
//! Objects are held as `serde_json::Value` (order-preserving maps): Kubernetes objects are JSON
//! data, JSON in and out is then free, and the YAML parser is only ever used at the edges.
//! YAML is parsed document by document so that every object knows its file and line, and so that
//! a bad document is reported where it is, not somewhere in a merged stream.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Location, Result};

/// Where an object came from: the file (as the user named it) and the line its document starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub file: Arc<str>,
    pub line: usize,
}

impl Source {
    pub fn new(file: impl Into<Arc<str>>, line: usize) -> Self {
        Source {
            file: file.into(),
            line,
        }
    }

    pub fn location(&self) -> Location {
        Location::new(&*self.file, self.line, 0)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One Kubernetes object and where it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object itself; always a JSON object (mapping).
    pub value: Value,
    pub source: Source,
}

/// Group, version, kind, namespace and name: what tells two objects apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects (and namespaced ones that have not been given one).
    pub namespace: String,
    pub name: String,
}

impl Identity {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `group.version.Kind.namespace.name`: the layout `kubectl diff` hands to
    /// `KUBECTL_EXTERNAL_DIFF`, and our one-file-per-object name (without extension).
    pub fn file_stem(&self) -> String {
        let mut out = String::new();
        if !self.group.is_empty() {
            out.push_str(&self.group);
            out.push('.');
        }
        out.push_str(&format!(
            "{}.{}.{}.{}",
            self.version, self.kind, self.namespace, self.name
        ));
        out
    }

    /// `Kind/namespace/name` (or `Kind/name`): the short form used in messages.
    pub fn short(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl fmt::Display for Identity {
    /// `group/version, Kind=kind, namespace/name`, as kubectl and kustomize print resource ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}, ", self.api_version(), self.kind)?;
        if self.namespace.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// Splits an `apiVersion` into group and version (`apps/v1` → `apps`, `v1`; `v1` → ``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

impl Object {
    pub fn new(value: Value, source: Source) -> Self {
        Object { value, source }
    }

    fn str_at(&self, path: &[&str]) -> Option<&str> {
        let mut v = &self.value;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str()
    }

    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"]).unwrap_or("")
    }
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"]).unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"]).unwrap_or("")
    }
    /// The namespace, `None` when unset or empty.
    pub fn namespace(&self) -> Option<&str> {
        self.str_at(&["metadata", "namespace"])
            .filter(|ns| !ns.is_empty())
    }

    pub fn identity(&self) -> Identity {
        let (group, version) = split_api_version(self.api_version());
        Identity {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: self.kind().to_owned(),
            namespace: self.namespace().unwrap_or("").to_owned(),
            name: self.name().to_owned(),
        }
    }

    /// `metadata.annotations[key]`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.str_at(&["metadata", "annotations", key])
    }
    /// `metadata.labels[key]`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.str_at(&["metadata", "labels", key])
    }

    /// The `metadata` mapping, created if missing (and replaced if it is not a mapping).
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let root = ensure_object(&mut self.value);
        ensure_object(
            root.entry("metadata")
                .or_insert_with(|| Value::Object(Map::new())),
        )
    }

    pub fn set_namespace(&mut self, namespace: &str) {
        self.metadata_mut()
            .insert("namespace".to_owned(), Value::String(namespace.to_owned()));
    }

    /// Checks the fields every object needs, so later stages can rely on them.
    pub fn validate(&self) -> Result<()> {
        let missing = |what: &str| Error::Object {
            at: self.source.location(),
            object: describe_partial(&self.value),
            message: format!("missing {what}"),
        };
        if self.api_version().is_empty() {
            return Err(missing("apiVersion"));
        }
        if self.kind().is_empty() {
            return Err(missing("kind"));
        }
        if self.name().is_empty() {
            return Err(missing("metadata.name"));
        }
        Ok(())
    }
}

fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just replaced with an object"),
    }
}

/// What is known of an object that failed validation, for the error message.
fn describe_partial(value: &Value) -> String {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match (kind, name) {
        ("", "") => "object".to_owned(),
        (kind, "") => format!("{kind} without a name"),
        ("", name) => format!("object {name} without a kind"),
        (kind, name) => format!("{kind}/{name}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Limits that keep hostile input (huge files, deep nesting) from exhausting memory. Alias bombs
/// are refused by the YAML parser itself ("repetition limit exceeded").
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// One YAML (or JSON) document's text and the line of the file it starts on.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    pub text: &'a str,
    /// 1-based line of `text`'s first line in the file.
    pub first_line: usize,
}

/// Reads every object under `path`: a file, a directory (recursively, `*.yaml`, `*.yml` and
/// `*.json`, in byte order of their paths), or `-` for stdin.
pub fn read_path(path: &Path) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    for (name, text) in read_sources(path)? {
        objects.extend(parse_stream(&text, &name)?);
    }
    Ok(objects)
}

/// The files behind `path` with their contents, in the order they are rendered. Each text is
/// checked to be UTF-8 (the error names the first bad byte's line and column). `-` is refused:
/// stdin is read with [`read_stream`] from the stream the entry point lends.
pub fn read_sources(path: &Path) -> Result<Vec<(Arc<str>, String)>> {
    if path == Path::new("-") {
        // The process's stdin belongs to the entry point (gitops::cli::Io): a tool reads `-`
        // with read_stream from the stdin it was lent.
        return Err(Error::Usage(
            "`-` (stdin) is read by the tool's entry point, not as a path".to_owned(),
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let files = if meta.is_dir() {
        manifest_files(path)?
    } else {
        vec![path.to_path_buf()]
    };
    files
        .into_iter()
        .map(|file| {
            let name: Arc<str> = Arc::from(file.display().to_string());
            let text = read_text(&file, &name)?;
            Ok((name, text))
        })
        .collect()
}

/// The manifest files below `dir`, sorted. Symlinks are followed, and a link that points back up
/// the tree is reported instead of walked forever.
pub fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(dir).to_path_buf();
            if e.loop_ancestor().is_some() {
                Error::io(
                    &at,
                    io::Error::other(
                        "symbolic link loop (the link points to a directory above it)",
                    ),
                )
            } else {
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("cannot read directory"));
                Error::io(&at, source)
            }
        })?;
        if entry.file_type().is_file() && is_manifest_file(entry.path()) {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// `*.yaml`, `*.yml`, `*.json`.
pub fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Reads a file as UTF-8 text, refusing files over [`MAX_INPUT_BYTES`].
pub fn read_text(path: &Path, name: &Arc<str>) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    decode(bytes, name)
}

/// Reads a stream (stdin, handed over by the entry point) as UTF-8 text named `name`, with the
/// same limit and checks as [`read_text`].
pub fn read_stream(mut reader: impl Read, name: &Arc<str>) -> Result<String> {
    let mut bytes = Vec::new();
    (&mut reader)
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(&**name, e))?;
    decode(bytes, name)
}

fn decode(bytes: Vec<u8>, name: &Arc<str>) -> Result<String> {
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::Syntax {
            at: Location::new(&**name, 1, 0),
            message: format!("input is larger than {} MiB", MAX_INPUT_BYTES >> 20),
        });
    }
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..3);
            }
            Ok(text)
        }
        Err(err) => {
            let good = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let column =
                good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
            Err(Error::Syntax {
                at: Location::new(&**name, line, column),
                message: "invalid UTF-8 (manifests must be UTF-8 text)".to_owned(),
            })
        }
    }
}

/// Parses a whole stream (YAML documents, or JSON values one after another) into objects,
/// skipping empty documents and flattening `List`s.
pub fn parse_stream(text: &str, file: &Arc<str>) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    if looks_like_json(text) {
        parse_json_stream(text, file, &mut objects)?;
    } else {
        for doc in split_documents(text) {
            if let Some(value) = parse_document(&doc, file)? {
                let line = content_line(&doc);
                push_flattened(value, Source::new(file.clone(), line), &mut objects)?;
            }
        }
    }
    Ok(objects)
}

/// JSON input starts with `{` or `[` (YAML documents practically never do).
pub fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

fn parse_json_stream(text: &str, file: &Arc<str>, out: &mut Vec<Object>) -> Result<()> {
    check_depth(text, file, 1)?;
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        let next = stream.next();
        let Some(next) = next else { break };
        let value = next.map_err(|e| Error::Syntax {
            at: Location::new(&**file, e.line(), e.column()),
            message: format!("invalid JSON: {}", strip_serde_position(&e.to_string())),
        })?;
        // The offset points at the whitespace before the value; report the value's own line.
        let skipped = text[start..].len() - text[start..].trim_start().len();
        let line = text[..start + skipped].matches('\n').count() + 1;
        push_flattened(value, Source::new(file.clone(), line), out)?;
    }
    Ok(())
}

/// Splits a YAML stream at its `---` lines. Per the YAML spec a `---` at the start of a line is
/// always a document marker (it cannot occur inside a scalar), so this is exact, and it gives
/// each document its starting line for error messages.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (line_no, line) in (1..).zip(text.split_inclusive('\n')) {
        if line_no > 1 && is_document_marker(line) {
            docs.push(Document {
                text: &text[start..offset],
                first_line: start_line,
            });
            start = offset;
            start_line = line_no;
        }
        offset += line.len();
    }
    docs.push(Document {
        text: &text[start..],
        first_line: start_line,
    });
    docs
}

fn is_document_marker(line: &str) -> bool {
    let rest = match line.strip_prefix("---") {
        Some(rest) => rest,
        None => return false,
    };
    rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r'])
}

/// The first line of a document that holds content (not a marker, comment or blank line).
pub fn content_line(doc: &Document<'_>) -> usize {
    for (i, line) in doc.text.lines().enumerate() {
        let t = line.trim_start();
        let t = t.strip_prefix("---").map_or(t, str::trim_start);
        if !t.is_empty() && !t.starts_with('#') {
            return doc.first_line + i;
        }
    }
    doc.first_line
}

/// The deepest nesting of collections accepted in YAML and JSON input: the recursion limit of
/// the parsers underneath (serde_yaml and serde_json stop at 128), checked up front by
/// [`check_depth`], because libyaml needs time quadratic in the depth of flow collections
/// before it gets there (100,000 levels of `[` took 40 s). Kubernetes objects nest a few dozen
/// levels at most; go-yaml (kustomize, kubectl) stops at 10,000.
pub const MAX_DEPTH: usize = 128;

/// Fails, naming `file:line:col`, when a YAML or JSON text nests flow collections (`[`, `{`)
/// or block collections on one line (`- - -`) deeper than [`MAX_DEPTH`]. One linear pass over
/// the text; brackets inside quoted scalars and comments do not count, and `first_line` is the
/// text's first line in the file.
pub fn check_depth(text: &str, file: &str, first_line: usize) -> Result<()> {
    let too_deep = |line: usize, column: usize| Error::Syntax {
        at: Location::new(file, line, column),
        message: format!("collections nested deeper than {MAX_DEPTH} levels"),
    };
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    for (line_no, line) in (first_line..).zip(text.split('\n')) {
        let bytes = line.as_bytes();
        // Block nesting on one line: `- - - x`, `? ? x`, each indicator one level deeper.
        let mut block = 0usize;
        // The previous byte that is not a space: a flow indicator or a quote only starts a
        // token after one of these (or at the start of the line).
        let mut token_start = true;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) => {
                    if b == b'\\' && q == b'"' {
                        i += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => match b {
                    b' ' | b'\t' => {
                        i += 1;
                        continue;
                    }
                    b'#' if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => break,
                    b'"' | b'\'' if token_start => quote = Some(b),
                    b'[' | b'{' if token_start => {
                        flow += 1;
                        if flow > MAX_DEPTH {
                            return Err(too_deep(line_no, i + 1));
                        }
                    }
                    b']' | b'}' if flow > 0 => flow -= 1,
                    b'-' | b'?' | b':'
                        if flow == 0
                            && token_start
                            && matches!(bytes.get(i + 1), None | Some(b' ' | b'\t')) =>
                    {
                        block += 1;
                        if block > MAX_DEPTH {
                            return Err(too_deep(line_no, i + 1));
                        }
                    }
                    _ => {}
                },
            }
            token_start = quote.is_none() && matches!(b, b'[' | b'{' | b',' | b':' | b'-' | b'?');
            i += 1;
        }
        // Outside flow collections a quoted scalar that runs on is rare; a stray quote (in a
        // block scalar) must not hide the rest of the file. (Deep block nesting by indentation
        // needs a line per level and so is bounded by the input size and the parser's limit.)
        if flow == 0 {
            quote = None;
        }
    }
    Ok(())
}

/// Parses one YAML document into a JSON value; `None` for an empty document. Duplicate mapping
/// keys are an error (as in kubectl), and every error carries the file position.
pub fn parse_document(doc: &Document<'_>, file: &Arc<str>) -> Result<Option<Value>> {
    parse_document_with(doc, file, false)
}

/// [`parse_document`] as go-yaml v2 reads YAML (and so kustomize its kustomization files): a key
/// repeated in a mapping takes its last value instead of being an error, and the plain scalars
/// YAML 1.1 calls booleans (`yes`, `no`, `on`, `off`, `y`, `n` in their spellings) are booleans.
pub fn parse_document_go_yaml_v2(doc: &Document<'_>, file: &Arc<str>) -> Result<Option<Value>> {
    parse_document_with(doc, file, true)
}

fn parse_document_with(
    doc: &Document<'_>,
    file: &Arc<str>,
    yaml_v2: bool,
) -> Result<Option<Value>> {
    check_depth(doc.text, file, doc.first_line)?;
    let mut found = None;
    for de in serde_yaml::Deserializer::from_str(doc.text) {
        let value = JsonSeed {
            text: doc.text,
            yaml_v2,
        }
        .deserialize(de)
        .map_err(|e| yaml_error(&e, doc, file))?;
        if value.is_null() {
            continue;
        }
        if found.is_some() {
            // A `...` end marker followed by more content; treat it like the next document.
            return Err(Error::Syntax {
                at: Location::new(&**file, doc.first_line, 0),
                message:
                    "more than one document after a `...` marker; separate documents with `---`"
                        .to_owned(),
            });
        }
        found = Some(value);
    }
    Ok(found)
}

/// Turns a serde_yaml error into one with the position in the file (not the document).
pub fn yaml_error(err: &serde_yaml::Error, doc: &Document<'_>, file: &Arc<str>) -> Error {
    let (mut line, mut column) = match err.location() {
        Some(loc) => (loc.line(), loc.column()),
        None => (1, 0),
    };
    // serde reports a duplicate key at the start of its mapping; point at the duplicate itself.
    if let Some(at) = duplicate_key_position(&err.to_string(), doc.text, line) {
        (line, column) = at;
    }
    let line = doc.first_line + line - 1;
    Error::Syntax {
        at: Location::new(&**file, line, column),
        message: format!("invalid YAML: {}", strip_serde_position(&err.to_string())),
    }
}

/// The (line, column) of the second occurrence of the duplicated key named in `message`, at or
/// after `from_line` (1-based, within `text`).
fn duplicate_key_position(message: &str, text: &str, from_line: usize) -> Option<(usize, usize)> {
    let rest = &message[message.find("duplicate key \"")? + "duplicate key \"".len()..];
    let key = &rest[..rest.find('"')?];
    let forms = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    // The duplicate sits at the same indentation as the first occurrence.
    let mut first_indent = None;
    for (i, line) in text.lines().enumerate().skip(from_line.saturating_sub(1)) {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if forms.iter().any(|f| trimmed.starts_with(f.as_str())) {
            let indent = line.len() - trimmed.len();
            match first_indent {
                None => first_indent = Some(indent),
                Some(first) if first == indent => return Some((i + 1, indent + 1)),
                Some(_) => {}
            }
        }
    }
    None
}

/// serde's messages end in "at line N column M" (relative to the document); we print the
/// absolute position in front instead.
fn strip_serde_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message.to_owned(),
    }
}

/// Adds `value` to `out` as objects: `List`s are flattened, empty documents skipped, and anything
/// that is not a mapping is an error at `source`.
pub fn push_flattened(value: Value, source: Source, out: &mut Vec<Object>) -> Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::Object(map) => {
            let is_list = map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array);
            if is_list {
                if let Some(Value::Array(items)) =
                    map.into_iter().find(|(k, _)| k == "items").map(|(_, v)| v)
                {
                    for item in items {
                        push_flattened(item, source.clone(), out)?;
                    }
                }
                Ok(())
            } else {
                out.push(Object::new(Value::Object(map), source));
                Ok(())
            }
        }
        other => Err(Error::Syntax {
            at: source.location(),
            message: format!(
                "expected a Kubernetes object (a mapping), found {}",
                json_type(&other)
            ),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Builds a `serde_json::Value` straight from the YAML parser, refusing duplicate keys and
/// turning scalar keys into strings (`1: a` → `"1"`), as Kubernetes' YAML-to-JSON step does.
/// `text` is the document being parsed: plain scalars borrow from it, which is how a plain
/// `0644` is told apart from a quoted `"0644"`.
#[derive(Clone, Copy)]
struct JsonSeed<'de> {
    text: &'de str,
    /// Read as go-yaml v2 reads: a repeated mapping key takes the last value (else it is an
    /// error), YAML 1.1 booleans are booleans.
    yaml_v2: bool,
}

impl<'de> DeserializeSeed<'de> for JsonSeed<'de> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(JsonVisitor {
            text: self.text,
            yaml_v2: self.yaml_v2,
        })
    }
}

struct JsonVisitor<'de> {
    text: &'de str,
    yaml_v2: bool,
}

impl JsonVisitor<'_> {
    /// Whether `v` (borrowed from the document) was written as a plain scalar: quoted scalars
    /// borrow the text between their quotes.
    fn is_plain(&self, v: &str) -> bool {
        let start = (v.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        start <= self.text.len()
            && (start == 0 || !matches!(self.text.as_bytes()[start - 1], b'\'' | b'"'))
    }
}

/// A plain scalar of digits with a leading zero. serde_yaml (YAML 1.2) keeps it a string, but
/// kustomize and kubectl (go-yaml) read `0644` as octal 420 and `09` as 9 — and Kubernetes
/// wants numbers there (`defaultMode: 0644`).
fn leading_zero_number(v: &str) -> Option<Value> {
    let (negative, digits) = match v.as_bytes().first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.len() < 2 || !digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = if digits.bytes().all(|b| b <= b'7') {
        i64::from_str_radix(digits, 8).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(Value::from(if negative { -magnitude } else { magnitude }))
}

impl<'de> Visitor<'de> for JsonVisitor<'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        // JSON has no NaN or infinity; Kubernetes would reject them too.
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("NaN and infinite numbers are not allowed"))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Value, E> {
        if self.is_plain(v) {
            if let Some(number) = leading_zero_number(v) {
                return Ok(number);
            }
            if self.yaml_v2 {
                // go-yaml v2's resolve table; `true`/`false` spellings are booleans already.
                match v {
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
                        return Ok(Value::Bool(true))
                    }
                    "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
                        return Ok(Value::Bool(false))
                    }
                    _ => {}
                }
            }
        }
        Ok(Value::String(v.to_owned()))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let seed = JsonSeed {
            text: self.text,
            yaml_v2: self.yaml_v2,
        };
        while let Some(item) = seq.next_element_seed(seed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if out.contains_key(&key) && !self.yaml_v2 {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(JsonSeed {
                text: self.text,
                yaml_v2: self.yaml_v2,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> std::result::Result<Value, A::Error> {
        Err(de::Error::custom(
            "YAML tags (`!tag value`) are not supported in Kubernetes manifests",
        ))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<String, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E>(self) -> std::result::Result<String, E> {
        Ok("null".to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Checks across a stream

/// Fails on two objects with the same identity, naming both sources.
pub fn check_unique(objects: &[Object]) -> Result<()> {
    let mut seen: std::collections::HashMap<Identity, &Source> = std::collections::HashMap::new();
    for obj in objects {
        let id = obj.identity();
        if let Some(first) = seen.get(&id) {
            return Err(Error::Object {
                at: obj.source.location(),
                object: id.short(),
                message: format!("defined twice (first at {first})"),
            });
        }
        seen.insert(id, &obj.source);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scope

/// Which kinds are cluster-scoped: the built-in ones (generated from the Kubernetes API's
/// discovery, see [`crate::k8s_schema`]), plus those declared by CRDs in the stream.
/// Unknown kinds are taken as namespaced, as kustomize does.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    cluster: HashSet<(String, String)>,
}

impl Scopes {
    /// Built-in kinds plus the cluster-scoped CRDs found in `objects`.
    pub fn learn(objects: &[Object]) -> Self {
        let mut scopes = Scopes::default();
        for obj in objects {
            if obj.kind() == "CustomResourceDefinition"
                && obj.value.pointer("/spec/scope").and_then(Value::as_str) == Some("Cluster")
            {
                let group = obj.value.pointer("/spec/group").and_then(Value::as_str);
                let kind = obj
                    .value
                    .pointer("/spec/names/kind")
                    .and_then(Value::as_str);
                if let (Some(group), Some(kind)) = (group, kind) {
                    scopes.cluster.insert((group.to_owned(), kind.to_owned()));
                }
            }
        }
        scopes
    }

    /// Built-in kinds are cluster-scoped as the Kubernetes API serves them (the generated
    /// [`crate::k8s_schema`]), whatever their version; kinds the API does not know are
    /// namespaced unless a CRD in the stream says otherwise.
    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        crate::k8s_schema::is_builtin_cluster_scoped(group, kind)
            || self.cluster.contains(&(group.to_owned(), kind.to_owned()))
    }

    /// Whether `obj` is namespaced.
    pub fn is_namespaced(&self, obj: &Object) -> bool {
        let (group, _) = split_api_version(obj.api_version());
        !self.is_cluster_scoped(group, obj.kind())
    }
}

/// Gives every namespaced object without a namespace the namespace `ns`.
pub fn default_namespace(objects: &mut [Object], ns: &str) {
    let scopes = Scopes::learn(objects);
    for obj in objects.iter_mut() {
        if obj.namespace().is_none() && scopes.is_namespaced(obj) {
            obj.set_namespace(ns);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ordering

/// Kinds `kustomize build` puts first and last (its "legacy" order), in that order.
const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn kind_rank(kind: &str) -> i32 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i32 - ORDER_FIRST.len() as i32;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return i as i32 + 1;
    }
    0
}

fn or_marker<'a>(s: &'a str, marker: &'a str) -> &'a str {
    if s.is_empty() {
        marker
    } else {
        s
    }
}

fn gvk_sort_key(id: &Identity) -> String {
    format!(
        "{}_{}_{}",
        or_marker(&id.group, "~G"),
        or_marker(&id.version, "~V"),
        or_marker(&id.kind, "~K")
    )
}

/// `kustomize build`'s default ("legacy") order: kinds by priority, then group/version/kind,
/// then `namespace|name` (with `~X` standing in for no namespace, so those sort last).
pub fn legacy_order(a: &Identity, b: &Identity) -> Ordering {
    let same_gvk = a.group == b.group && a.version == b.version && a.kind == b.kind;
    if !same_gvk {
        let (ra, rb) = (kind_rank(&a.kind), kind_rank(&b.kind));
        if ra != rb {
            return ra.cmp(&rb);
        }
        let (ka, kb) = (gvk_sort_key(a), gvk_sort_key(b));
        // kustomize puts core Namespaces after those of other groups with the same kind.
        if a.kind == "Namespace"
            && b.kind == "Namespace"
            && (a.group.is_empty() || b.group.is_empty())
        {
            return kb.cmp(&ka);
        }
        return ka.cmp(&kb);
    }
    let key = |id: &Identity| {
        format!(
            "{}|{}",
            or_marker(&id.namespace, "~X"),
            or_marker(&id.name, "~N")
        )
    };
    key(a).cmp(&key(b))
}

/// Sorts objects in the deterministic output order (see [`legacy_order`]).
pub fn sort(objects: &mut [Object]) {
    let mut keyed: Vec<(Identity, usize)> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.identity(), i))
        .collect();
    keyed.sort_by(|(a, ia), (b, ib)| legacy_order(a, b).then(ia.cmp(ib)));
    let mut taken: Vec<Option<Object>> = objects.iter().cloned().map(Some).collect();
    for (slot, (_, i)) in objects.iter_mut().zip(keyed) {
        if let Some(obj) = taken[i].take() {
            *slot = obj;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Output format of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Multi-document YAML, `---` between objects.
    #[default]
    Yaml,
    /// One JSON object, or a `v1` `List` when there are several (as `kubectl get -o json`).
    Json,
}

/// One object as a YAML document (without the `---` marker).
pub fn to_yaml(value: &Value) -> String {
    // kustomize's style (go-yaml v2 via sigs.k8s.io/yaml), so our output diffs cleanly against it.
    crate::yaml::to_string(value)
}

/// Writes objects in `format`. Errors are [`Error::Output`] (a broken pipe stays recognisable).
pub fn write_stream(out: &mut impl Write, objects: &[Object], format: Format) -> Result<()> {
    match format {
        Format::Yaml => {
            for (i, obj) in objects.iter().enumerate() {
                if i > 0 {
                    out.write_all(b"---\n").map_err(Error::Output)?;
                }
                out.write_all(to_yaml(&obj.value).as_bytes())
                    .map_err(Error::Output)?;
            }
        }
        Format::Json => {
            /// `{"apiVersion": "v1", "kind": "List", "items": [...]}` without copying the items.
            #[derive(serde::Serialize)]
            struct List<'a> {
                #[serde(rename = "apiVersion")]
                api_version: &'static str,
                kind: &'static str,
                items: Vec<&'a Value>,
            }
            let result = match objects {
                [one] => serde_json::to_writer_pretty(&mut *out, &one.value),
                many => serde_json::to_writer_pretty(
                    &mut *out,
                    &List {
                        api_version: "v1",
                        kind: "List",
                        items: many.iter().map(|o| &o.value).collect(),
                    },
                ),
            };
            result.map_err(|e| Error::Output(e.into()))?;
            out.write_all(b"\n").map_err(Error::Output)?;
        }
    }
    out.flush().map_err(Error::Output)
}

// ---------------------------------------------------------------------------------------------
// Typed settings files

/// Parses a settings file (a tool's configuration, a provenance record) into `T`: the same YAML
/// reader and limits as for manifests, then `T`'s own checks (unknown or missing fields), each
/// error once with its `file:line:col`. The file must hold one document.
pub fn from_yaml_str<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T> {
    let name: Arc<str> = Arc::from(file);
    let mut found: Option<Document<'_>> = None;
    for doc in split_documents(text) {
        if parse_document(&doc, &name)?.is_none() {
            continue;
        }
        if found.is_some() {
            return Err(Error::Syntax {
                at: Location::new(file, content_line(&doc), 0),
                message: "expected one YAML document, found another".to_owned(),
            });
        }
        found = Some(doc);
    }
    let doc = found.unwrap_or(Document {
        text: "{}",
        first_line: 1,
    });
    serde_yaml::from_str(doc.text).map_err(|e| yaml_error(&e, &doc, &name))
}

/// Writes a settings value as YAML, in the same style as objects ([`to_yaml`]).
pub fn to_yaml_string<T: serde::Serialize>(value: &T) -> Result<String> {
    let value = serde_json::to_value(value).map_err(|e| Error::Output(e.into()))?;
    Ok(to_yaml(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Object>> {
        parse_stream(text, &Arc::from("in.yaml"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn documents_remember_their_line() {
        let objs =
            parse("# c\n---\napiVersion: v1\nkind: A\n---\n\n---\n# x\napiVersion: v1\nkind: B\n")
                .unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].source.line, 3);
        assert_eq!(objs[1].source.line, 9);
    }

    #[test]
    fn lists_are_flattened() {
        let objs = parse("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A, metadata: {name: a}}\n- {apiVersion: v1, kind: B, metadata: {name: b}}\n").unwrap();
        assert_eq!(
            objs.iter().map(Object::kind).collect::<Vec<_>>(),
            ["A", "B"]
        );
    }

    #[test]
    fn json_one_per_line_and_pretty() {
        let objs =
            parse("{\"kind\":\"A\"}\n{\"kind\":\"B\"}\n\n  {\n \"kind\": \"C\"\n}\n").unwrap();
        assert_eq!(
            objs.iter().map(|o| o.source.line).collect::<Vec<_>>(),
            [1, 2, 4]
        );
    }

    #[test]
    fn bad_yaml_is_located_in_the_file() {
        let e = err("a: 1\n---\nkind: A\nmetadata:\n\tname: x\n");
        assert!(e.starts_with("in.yaml:5:"), "{e}");
        let e = err("---\nkind: A\nkind: B\n");
        assert!(
            e.starts_with("in.yaml:3:") && e.contains("duplicate key \"kind\""),
            "{e}"
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb =
            String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
        for i in 1..10 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            bomb.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        let e = err(&bomb);
        assert!(e.contains("repetition limit"), "{e}");
    }

    #[test]
    fn leading_zero_numbers_read_like_kustomize() {
        let objs = parse("kind: A\nmode: 0644\nneg: -010\nnine: 09\nq: '0644'\ndq: \"0644\"\nzero: 0\nlist: [0755, '0755']\n").unwrap();
        let v = &objs[0].value;
        assert_eq!(v["mode"], 420);
        assert_eq!(v["neg"], -8);
        assert_eq!(v["nine"], 9);
        assert_eq!(v["q"], "0644");
        assert_eq!(v["dq"], "0644");
        assert_eq!(v["zero"], 0);
        assert_eq!(v["list"], serde_json::json!([493, "0755"]));
    }

    #[test]
    fn scalar_documents_are_rejected() {
        assert!(err("just a string\n").contains("found a string"));
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = decode(b"a: 1\nb: \xff\n".to_vec(), &Arc::from("f")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f:2:4: invalid UTF-8 (manifests must be UTF-8 text)"
        );
    }

    fn id(group: &str, kind: &str, ns: &str, name: &str) -> Identity {
        Identity {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn legacy_order_matches_kustomize() {
        let mut ids = [
            id("", "ValidatingWebhookConfiguration", "", "z"),
            id("apps", "Deployment", "b", "x"),
            id("example.com", "Widget", "a", "w"),
            id("", "Service", "a", "s"),
            id("apps", "Deployment", "", "y"),
            id("apps", "Deployment", "a", "x"),
            id("", "Namespace", "", "a"),
            id("", "ConfigMap", "a", "c"),
        ];
        ids.sort_by(legacy_order);
        let got: Vec<String> = ids
            .iter()
            .map(|i| format!("{}/{}/{}", i.kind, i.namespace, i.name))
            .collect();
        assert_eq!(
            got,
            [
                "Namespace//a",
                "ConfigMap/a/c",
                "Service/a/s",
                "Deployment/a/x",
                "Deployment/b/x",
                "Deployment//y",
                "Widget/a/w",
                "ValidatingWebhookConfiguration//z",
            ]
        );
    }

    #[test]
    fn file_stem_follows_kubectl_diff() {
        assert_eq!(
            id("apps", "Deployment", "ns", "web").file_stem(),
            "apps.v1.Deployment.ns.web"
        );
        assert_eq!(
            id("", "Namespace", "", "ns").file_stem(),
            "v1.Namespace..ns"
        );
    }

    #[test]
    fn namespace_defaults_only_namespaced_kinds() {
        let mut objs = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ws.example.com}\nspec: {group: example.com, scope: Cluster, names: {kind: W}}\n---\napiVersion: example.com/v1\nkind: W\nmetadata: {name: w}\n").unwrap();
        default_namespace(&mut objs, "dev");
        let ns: Vec<_> = objs.iter().map(|o| o.namespace().unwrap_or("-")).collect();
        assert_eq!(ns, ["dev", "-", "-", "-"]);
    }

    #[test]
    fn duplicates_name_both_sources() {
        let objs = parse("apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: A\nmetadata: {name: a}\n").unwrap();
        let e = check_unique(&objs).unwrap_err().to_string();
        assert_eq!(e, "in.yaml:5: A/a: defined twice (first at in.yaml:1)");
    }
}
