//! `sync-once`: see the library for what it does.
fn main() -> std::process::ExitCode {
    gitops::cli::main_with_io("sync-once", sync_once::run)
}
