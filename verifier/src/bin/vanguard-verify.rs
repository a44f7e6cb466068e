//! `vanguard-verify FILE --key VKEY [--json] [--state DIR]`: offline verification of Vanguard
//! receipts, slices, checkpoints and consistency proofs. Exit status 0 valid, 1 invalid,
//! 2 unusable input. The logic lives in [`vanguard_verifier::cli`].
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    vanguard_verifier::cli::main()
}
