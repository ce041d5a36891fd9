//! `widen`: the one user-facing program.
//!
//! Every subcommand lives in its own `cmd_<name>.rs` with a `clap::Args` struct named `Args`
//! (its doc comment is the subcommand's help) and `pub fn run(args: Args) ->
//! anyhow::Result<ExitCode>`. Adding a subcommand is one line in the `commands!` list below.
//! Exit codes: 0 success, 1 failure (any file failed, or an error returned by `run`),
//! 2 usage error (from clap).

use std::process::ExitCode;

use clap::Parser;

mod batch;
mod models;
mod scoring;

/// Declares the subcommand modules, the `Cli` enum (variant `CheckBw` is `widen check-bw`)
/// and its dispatch.
macro_rules! commands {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(mod $module;)*

        /// widen: restore the missing high band of narrow-band speech.
        #[derive(Debug, Parser)]
        #[command(name = "widen", version, propagate_version = true)]
        enum Cli {
            $($variant($module::Args),)*
        }

        impl Cli {
            fn run(self) -> anyhow::Result<ExitCode> {
                match self {
                    $(Cli::$variant(args) => $module::run(args),)*
                }
            }
        }
    };
}

commands! {
    Enhance => cmd_enhance,
    Info => cmd_info,
    CheckBw => cmd_check_bw,
    MakeDataset => cmd_make_dataset,
    Eval => cmd_eval,
    VocoderEval => cmd_vocoder_eval,
    Live => cmd_live,
}

fn main() -> ExitCode {
    match Cli::parse().run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
