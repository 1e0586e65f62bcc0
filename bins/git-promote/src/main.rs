fn main() -> std::process::ExitCode {
    gitops::cli::main_with_io("git-promote", git_promote::run)
}
