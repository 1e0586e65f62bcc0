//! Exit codes shared by every tool, as documented in the README.
//!
//! They follow `kubectl diff` and `flux diff`: a difference is not an error, so pipelines can tell
//! "something changed" (1) from "something broke" (2).

/// Success, or nothing to do.
pub const OK: u8 = 0;
/// A difference was found: diff tools and every `--check` mode.
pub const DIFFERENCE: u8 = 1;
/// An error: bad input, an unreachable service, a conflict. Nothing was half-written.
pub const ERROR: u8 = 2;
/// Interrupted by SIGINT (128 + 2, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// What a tool's `run` reports when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is as it should be; exit 0.
    Ok,
    /// The tool found a difference (diff, `--check`); exit 1.
    Difference,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => OK,
            Outcome::Difference => DIFFERENCE,
        }
    }
}
