fn main() -> std::process::ExitCode {
    gitops::cli::main("image-tag", image_tag::run)
}
