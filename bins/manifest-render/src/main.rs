//! `manifest-render`: see the library for what it does.
fn main() -> std::process::ExitCode {
    gitops::cli::main_with_io("manifest-render", manifest_render::run)
}
