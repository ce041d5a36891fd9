//! `widen`: the one user-facing program.
//!
//! MERGE: minimal dispatch written on branch h-dataset only to wire `make-dataset`; the real
//! main.rs (all subcommands) comes from another branch — keep its version and add the
//! `MakeDataset` variant and `mod cmd_make_dataset;` from here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_make_dataset;

#[derive(Debug, Parser)]
#[command(
    name = "widen",
    version,
    about = "Restore the missing high band of narrow-band speech"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build wide-band/narrow-band training pairs from a folder of audio.
    MakeDataset(cmd_make_dataset::MakeDatasetArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::MakeDataset(args) => cmd_make_dataset::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
