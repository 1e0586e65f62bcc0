//! The test harness: runs the real, built binaries with arguments, stdin and environment, and
//! asserts on exit code, stdout and stderr — each test in a fresh temporary directory.
//! Services the tests need (the OCI registry, git over HTTP, provider API mocks, the test API
//! server) are started by modules here on 127.0.0.1 with a free port and stopped on drop.
//!
//! `make test` builds the binaries before running the tests; run `cargo build --workspace`
//! first when running `cargo test` by hand.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The directory holding the built binaries (`target/debug`, honouring `CARGO_TARGET_DIR`).
pub fn bin_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // cargo reads a relative CARGO_TARGET_DIR against the directory it was started in (the
    // workspace root under `make`), while tests run in their package's directory.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| workspace.join(dir))
        .unwrap_or_else(|| workspace.join("target"));
    target.join("debug")
}

/// The path of a built binary; panics with a hint when it has not been built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` (make test does) before the tests",
        path.display()
    );
    path
}

/// A command under test.
pub struct Cmd {
    command: Command,
    stdin: Option<Vec<u8>>,
    line: String,
}

/// What a finished command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    line: String,
}

impl Cmd {
    /// A built binary of this workspace, e.g. `Cmd::new("manifest-render")`.
    pub fn new(name: &str) -> Self {
        Self::program(bin(name))
    }

    /// Any program (git, kubectl, skopeo…), found on PATH.
    pub fn program(program: impl AsRef<OsStr>) -> Self {
        let mut command = Command::new(program.as_ref());
        // Deterministic output: no colours, no user configuration leaking in.
        command.env("NO_COLOR", "1").env_remove("GITOPS_LOG");
        Cmd {
            line: program.as_ref().to_string_lossy().into_owned(),
            command,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.line.push(' ');
        self.line.push_str(&arg.as_ref().to_string_lossy());
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Runs to completion.
    pub fn run(mut self) -> Run {
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.line));
        if let Some(input) = self.stdin.take() {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // The child may exit before reading everything; that is its business.
            let _ = stdin.write_all(&input);
        }
        let out = child.wait_with_output().expect("wait for child");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            line: self.line,
        }
    }
}

impl Run {
    /// Asserts the exit code, showing everything when it is not the expected one.
    pub fn code(self, expected: i32) -> Self {
        assert_eq!(
            self.code, expected,
            "`{}` exited {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.line, self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn success(self) -> Self {
        self.code(0)
    }

    pub fn stdout_is(self, expected: &str) -> Self {
        assert_eq!(self.stdout, expected, "stdout of `{}`", self.line);
        self
    }

    pub fn stdout_contains(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout of `{}` lacks {needle:?}:\n{}",
            self.line,
            self.stdout
        );
        self
    }

    pub fn stderr_is(self, expected: &str) -> Self {
        assert_eq!(self.stderr, expected, "stderr of `{}`", self.line);
        self
    }

    pub fn stderr_contains(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr of `{}` lacks {needle:?}:\n{}",
            self.line,
            self.stderr
        );
        self
    }
}

/// A fresh temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gitops-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Writes `content` to `dir/rel`, creating parent directories.
pub fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dirs");
    }
    std::fs::write(&path, content).expect("write fixture");
    path
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for test services).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Runs `git ARGS` in `dir` with a fixed author and no system or user configuration (HOME is
/// `dir`), fails the test on a non-zero exit, and returns stdout trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub mod cluster;
pub mod git_http;
pub mod providers;
pub mod registry;

/// Whether a test that needs an external program must be skipped. In CI (`CI` set) nothing may
/// be skipped — `.ci/run` installs every program — so a missing one fails the test there;
/// elsewhere the test prints why it is skipped.
pub fn skip_without(available: bool, what: &str) -> bool {
    if available {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing in CI: .ci/run must install it"
    );
    eprintln!("SKIPPED: {what} is not available");
    true
}
