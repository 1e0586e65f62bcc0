fn main() -> std::process::ExitCode {
    gitops::cli::main("git-promote", git_promote::run)
}
