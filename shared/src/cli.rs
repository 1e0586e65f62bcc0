//! The one entry point every binary goes through, so that all tools behave alike at the edges:
//! TLS provider installed before any client exists, diagnostics on stderr as `tool: …`, errors as
//! one `tool: error: …` line (plus an optional `hint:`), a broken pipe treated as success, and
//! Ctrl-C exiting 130 after removing half-written temporary files.

// The one module that owns the process streams (see clippy.toml's disallowed lists).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]
use std::fmt;
use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::{atomic, exit, scrub, Error, Outcome};

/// `-v` / `-q`, flattened into every tool's arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Verbosity {
    /// More diagnostics on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl Verbosity {
    fn level(&self) -> tracing::Level {
        match (self.quiet, self.verbose) {
            (true, _) => tracing::Level::ERROR,
            (false, 0) => tracing::Level::WARN,
            (false, 1) => tracing::Level::INFO,
            (false, 2) => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        }
    }
}

/// A tool's parsed command line.
pub trait Command: Parser {
    fn verbosity(&self) -> &Verbosity;
}

/// A failure a tool reports: printed once, mapped to an exit code.
pub trait Failure: fmt::Display {
    fn exit_code(&self) -> u8 {
        exit::ERROR
    }
    /// A second line telling the user what to do about it.
    fn hint(&self) -> Option<String> {
        None
    }
    fn is_broken_pipe(&self) -> bool {
        false
    }
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        Error::exit_code(self)
    }
    // No hints here: a hint names flags, and only a tool knows its own (manifest-render's
    // `Failure` impl says how to define a missing variable).
    fn is_broken_pipe(&self) -> bool {
        Error::is_broken_pipe(self)
    }
}

/// Runs a tool: parses `A` from the command line, sets up the process, calls `run`, and turns
/// its result into the exit code. `main` is `gitops::cli::main("tool", tool::run)`.
pub fn main<A, E>(tool: &'static str, run: impl FnOnce(A) -> Result<Outcome, E>) -> ExitCode
where
    A: Command,
    E: Failure,
{
    #[cfg(feature = "tls")]
    {
        // reqwest (oci-client, gix) and kube each pull rustls; with more than one provider
        // compiled in, rustls refuses to pick one and every client panics at start.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    if let Some(dir) = std::env::var_os(GENERATE_DOCS_ENV) {
        return match generate_docs::<A>(std::path::Path::new(&dir)) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(err) => {
                eprintln!("{tool}: error: {err}");
                ExitCode::from(exit::ERROR)
            }
        };
    }
    let args = match A::try_parse() {
        Ok(args) => args,
        // --help and --version are output, printed as clap renders them.
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::from(exit::OK);
        }
        Err(err) => {
            let (message, hint) = usage_error(&err, &A::command());
            eprintln!("{tool}: error: {}", scrub::scrub(&message));
            if let Some(hint) = hint {
                eprintln!("hint: {}", scrub::scrub(&hint));
            }
            return ExitCode::from(exit::ERROR);
        }
    };
    init_logging(tool, args.verbosity());
    install_interrupt_handler(tool);
    let result = run(args);
    // Input that ended because of Ctrl-C (a producer upstream in the pipe died of the same
    // signal) looks complete: never report success after an interrupt.
    atomic::checkpoint();
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) if err.is_broken_pipe() => ExitCode::from(exit::OK),
        Err(err) => {
            // Scrubbed: an error may quote a server's reply, which may echo a credential.
            eprintln!("{tool}: error: {}", scrub::scrub(&err.to_string()));
            if let Some(hint) = err.hint() {
                eprintln!("hint: {}", scrub::scrub(&hint));
            }
            ExitCode::from(err.exit_code())
        }
    }
}

/// Ctrl-C: the signal handler itself raises [`atomic::interrupt_flag`] (so that every commit
/// point sees it before any thread resumes), and a thread then waits for a commit under way,
/// removes temporary files and exits with 130.
fn install_interrupt_handler(tool: &'static str) {
    use signal_hook::consts::SIGINT;
    if signal_hook::flag::register(SIGINT, atomic::interrupt_flag()).is_err() {
        return;
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT]) else {
        return;
    };
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _guard = atomic::on_interrupt();
            eprintln!("{tool}: interrupted");
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    });
}

/// The process streams, owned by the entry point and lent to a tool's `run` ([`main_with_io`]),
/// so that no library reads the process's stdin or writes its stdout/stderr behind the tool's
/// back, and tests can hand in buffers. stdout is block-buffered and flushed once `run` returns.
pub struct Io<'a> {
    pub stdin: &'a mut dyn io::BufRead,
    pub stdout: &'a mut dyn io::Write,
    pub stderr: &'a mut dyn io::Write,
}

impl fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Io { stdin, stdout, stderr }")
    }
}

/// Whether the process's stdout is a terminal (colour decisions): asked here, where the
/// process streams live, so that libraries never touch them.
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Whether the process's stderr is a terminal (progress display).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// As [`main`], for a tool whose `run` receives the process streams:
/// `gitops::cli::main_with_io("tool", tool::run)` with `run(args, &mut Io) -> Result<Outcome, E>`.
pub fn main_with_io<A, E>(
    tool: &'static str,
    run: impl FnOnce(A, &mut Io<'_>) -> Result<Outcome, E>,
) -> ExitCode
where
    A: Command,
    E: Failure,
{
    main(tool, |args: A| {
        let stdin = io::stdin();
        let mut stdin = stdin.lock();
        // stdout is line-buffered; a block buffer saves a write per line on large streams.
        let mut stdout = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        // Not locked for the whole run: worker threads may log while the tool waits for them.
        // Scrubbed like errors and log lines: a tool's own warnings may quote a server too.
        let mut stderr = scrub::Writer::new(io::stderr());
        let result = run(
            args,
            &mut Io {
                stdin: &mut stdin,
                stdout: &mut stdout,
                stderr: &mut stderr,
            },
        );
        let flushed = io::Write::flush(&mut stdout);
        match (result, flushed) {
            (Err(err), _) => Err(WithStreams::Tool(err)),
            (Ok(_), Err(err)) => Err(WithStreams::Output(Error::Output(err))),
            (Ok(outcome), Ok(())) => Ok(outcome),
        }
    })
}

/// A tool's failure, or the entry point's own when the last flush of stdout fails.
enum WithStreams<E> {
    Tool(E),
    Output(Error),
}

impl<E: Failure> fmt::Display for WithStreams<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WithStreams::Tool(err) => err.fmt(f),
            WithStreams::Output(err) => err.fmt(f),
        }
    }
}

impl<E: Failure> Failure for WithStreams<E> {
    fn exit_code(&self) -> u8 {
        match self {
            WithStreams::Tool(err) => err.exit_code(),
            WithStreams::Output(err) => Failure::exit_code(err),
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            WithStreams::Tool(err) => err.hint(),
            WithStreams::Output(err) => Failure::hint(err),
        }
    }
    fn is_broken_pipe(&self) -> bool {
        match self {
            WithStreams::Tool(err) => err.is_broken_pipe(),
            WithStreams::Output(err) => Failure::is_broken_pipe(err),
        }
    }
}

/// A clap usage error as our one `error:` line and a `hint:`. clap renders a paragraph
/// (`error: …`, indented details, `tip: …`, `Usage: …`, "For more information, try '--help'");
/// its first paragraph becomes the message (details joined onto it), its tips the hint, else a
/// pointer to the `--help` of the (sub)command the usage line names.
fn usage_error(err: &clap::Error, cmd: &clap::Command) -> (String, Option<String>) {
    if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let names: Vec<&str> = cmd
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(clap::Command::get_name)
            .collect();
        return (
            "a subcommand is required".to_owned(),
            Some(format!(
                "one of {}; see '{} --help'",
                names.join(", "),
                cmd.get_name()
            )),
        );
    }
    let text = err.render().to_string();
    let mut message = Vec::new();
    let mut tips = Vec::new();
    let mut usage = None;
    let mut in_first_paragraph = true;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            in_first_paragraph = false;
        } else if let Some(tip) = trimmed.strip_prefix("tip:") {
            tips.push(tip.trim().to_owned());
        } else if let Some(u) = trimmed.strip_prefix("Usage:") {
            usage = Some(u.trim().to_owned());
        } else if in_first_paragraph {
            let line = trimmed.strip_prefix("error:").unwrap_or(trimmed);
            message.push(line.trim().to_owned());
        }
    }
    let message = message.join(" ");
    let hint = if tips.is_empty() {
        // `Usage: image-tag pin [OPTIONS] [FILE]` → `image-tag pin`; without a usage line, the
        // subcommands named on the command line.
        let command: Vec<String> = match usage.as_deref() {
            Some(usage) => usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .map(str::to_owned)
                .collect(),
            None => {
                let mut path = vec![cmd.get_name().to_owned()];
                let mut current = cmd;
                for arg in std::env::args().skip(1) {
                    if let Some(sub) = current.find_subcommand(&arg) {
                        path.push(sub.get_name().to_owned());
                        current = sub;
                    }
                }
                path
            }
        };
        Some(format!("see '{} --help'", command.join(" ")))
    } else {
        Some(tips.join("; "))
    };
    (message, hint)
}

/// When set to a directory, a binary writes its man pages (`man1/<name>.1`, and
/// `man1/<name>-<subcommand>.1` for each subcommand, as git names its pages) and shell
/// completions (`completions/`) there and exits: `make install` uses it, so the pages always
/// match the clap definitions (`git promote --help` opens `man git-promote`; `image-tag(1)`
/// refers to `image-tag-pin(1)`, which exists).
pub const GENERATE_DOCS_ENV: &str = "GITOPS_GENERATE_DOCS";

fn generate_docs<A: Command>(dir: &std::path::Path) -> Result<(), Error> {
    let mut cmd = A::command();
    let name = cmd.get_name().to_owned();
    let man_dir = dir.join("man1");
    std::fs::create_dir_all(&man_dir).map_err(|e| Error::io(&man_dir, e))?;
    // Built without the `help` subcommand, so that each subcommand's display name is
    // `<name>-<subcommand>`: the page names the parent's page lists.
    let mut pages = cmd.clone().disable_help_subcommand(true);
    pages.build();
    write_man_pages(pages, &man_dir)?;
    let comp_dir = dir.join("completions");
    std::fs::create_dir_all(&comp_dir).map_err(|e| Error::io(&comp_dir, e))?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd, &name, &comp_dir)
            .map_err(|e| Error::io(&comp_dir, e))?;
    }
    Ok(())
}

/// The man page of `cmd` and, recursively, of each visible subcommand.
fn write_man_pages(cmd: clap::Command, dir: &std::path::Path) -> Result<(), Error> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_man_pages(sub, dir)?;
    }
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render(&mut page).map_err(|e| Error::io(dir, e))?;
    atomic::write_file(&dir.join(man.get_filename()), &page)
}

fn init_logging(tool: &'static str, verbosity: &Verbosity) {
    let ansi = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    // kube's client logs every failed request at error level, retried ones included, which
    // would bury the one error line a tool reports: its own lines show from -vv on.
    let level = verbosity.level();
    let kube = if level >= tracing::Level::DEBUG {
        level.as_str()
    } else {
        "off"
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("{level},kube_client={kube}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(ansi)
        .event_format(ToolFormat { tool })
        .try_init();
}

/// `tool: warning: message` — the shape users know from git and kubectl, not tracing's default.
struct ToolFormat {
    tool: &'static str,
}

impl<S, N> FormatEvent<S, N> for ToolFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error: ",
            tracing::Level::WARN => "warning: ",
            tracing::Level::INFO => "",
            tracing::Level::DEBUG => "debug: ",
            tracing::Level::TRACE => "trace: ",
        };
        // Formatted into a buffer first so that the whole line (fields, response headers and
        // bodies that a debug/trace event dumps) passes through the scrubber before stderr.
        let mut line = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut line), event)?;
        writeln!(writer, "{}: {level}{}", self.tool, scrub::scrub(&line))
    }
}
