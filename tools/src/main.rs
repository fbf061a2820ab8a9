//! `dyad`: the host-side tool. `dyad run` starts one controller of the simulated enclosure
//! (what `make run` does); `dyad bench` measures it against tgtd in one interleaved run.

mod bench;
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
    /// Start one controller on this machine: a 1 GiB drive in slot 0 of ./var/enclosure,
    /// served over iSCSI on 127.0.0.1:3260. Ctrl-C stops it.
    Run {
        /// Firmware flags, after `--` (e.g. `-- --lun ramdisk:1G --listen 127.0.0.1:3261`);
        /// they replace the defaults they name.
        #[arg(last = true)]
        firmware_args: Vec<String>,
    },
    /// Benchmark the firmware against tgtd on the same LUN shape, interleaved.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { firmware_args } => run::run(firmware_args),
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
