//! The `cairn` command: a thin shell over the `cairn` library.

fn main() -> std::process::ExitCode {
    cairn::cli::main()
}
