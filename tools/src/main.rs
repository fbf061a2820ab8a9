//! `dyad`: the host-side tool. `dyad run` starts one controller of the simulated enclosure
//! (what `make run` does); `dyad console` talks to a running controller's console; `dyad
//! bench` measures the firmware against tgtd in one interleaved run.

mod bench;
mod console;
mod locate;
mod loopback;
mod run;
mod signals;
mod workload;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dyad",
    version,
    about = "Host tools for the dyad storage controller"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start one controller on this machine from a ctl.conf; Ctrl-C stops it.
    ///
    /// By default it serves ./var/enclosure/ctl.conf, written the first time from a
    /// commented sample: a 1 GiB drive in slot 0 as LUN 0 of iqn.2026-11.dev.dyad:target0
    /// on 127.0.0.1:3260. Once it is up it prints how to reach each target and its console.
    Run(run::RunArgs),
    /// Talk to a running controller's console: attach the terminal, or run one command.
    ///
    /// Attached, every key goes to the console (Ctrl-C too); Ctrl-] detaches. With
    /// standard input not a terminal the bytes pass through as they are, e.g. `echo devlist
    /// | dyad console a`. Exit status with -c: 0 when the command worked, 1 when it
    /// answered `error: ...`, 2 when the console cannot be reached.
    Console(console::ConsoleArgs),
    /// Benchmark the firmware against tgtd on the same LUN shape, interleaved.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Console(args) => Ok(console::console(&args)),
        Command::Bench(args) => bench::bench(&args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("dyad: {message}");
            ExitCode::FAILURE
        }
    }
}
