//! Typed errors for everything the shared crate does, each pointing at what went wrong: a file
//! position (`file:line:col`) for input that does not parse, an object's identity for input that
//! parses but is wrong.
//!
//! Messages are written to be printed once, as `tool: error: <message>`, so they carry their own
//! context (the path, the object) instead of relying on a chain of causes.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::exit;

/// A position in an input file, 1-based like compilers and `kubectl` report them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file as the user named it (`-` or `<stdin>` for standard input).
    pub file: String,
    pub line: usize,
    /// Column; 0 when only the line is known.
    pub column: usize,
}

impl Location {
    pub fn new(file: impl Into<String>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// Every failure the shared crate reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {}", path.display(), describe_io(source))]
    Io { path: PathBuf, source: io::Error },

    /// Writing to stdout (or another stream) failed; a broken pipe is not reported.
    #[error("writing output: {}", describe_io(.0))]
    Output(#[source] io::Error),

    /// The input is not valid YAML or JSON, or breaks one of our limits.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },

    /// The input parses but an object in it is not acceptable.
    #[error("{at}: {object}: {message}")]
    Object {
        at: Location,
        /// `Kind/namespace/name` or as much of it as is known.
        object: String,
        message: String,
    },

    /// `${VAR}` substitution failed.
    #[error("{at}: {message}")]
    Substitution { at: Location, message: String },

    /// `--strict` substitution found variables that have no value; each is listed.
    #[error("undefined variables: {}", list_undefined(.0))]
    Undefined(Vec<(String, Location)>),

    /// A flag or argument the tool cannot work with.
    #[error("{0}")]
    Usage(String),

    /// A feature that exists in the peer tool but not (yet) here; never silently ignored.
    #[error("{0}")]
    Unsupported(String),
}

fn list_undefined(vars: &[(String, Location)]) -> String {
    vars.iter()
        .map(|(name, at)| format!("{name} ({at})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `io::Error`'s Display adds "(os error 2)"; users want the plain reason.
fn describe_io(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let text = err.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_owned(),
                None => text,
            }
        }
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The exit code this error maps to.
    pub fn exit_code(&self) -> u8 {
        exit::ERROR
    }

    /// True for a write to a closed pipe, which tools treat as a quiet success (`tool | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) | Error::Io { source: e, .. } if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
