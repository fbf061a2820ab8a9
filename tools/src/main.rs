//! `dyad`: the host-side tool. `dyad run` starts one controller of the simulated enclosure
//! (what `make run` does); `dyad console` talks to a running controller's console; `dyad
//! bench` measures the firmware against tgtd in one interleaved run.

mod bench;
mod console;
mod defmt_log;
mod enclosure;
mod image;
mod locate;
mod loopback;
mod qemu;
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
    /// Handle the sim enclosure's drives: list the slots, pull a drive, insert it again
    /// (into its own slot or another), move it.
    ///
    /// A running controller notices within 200 ms: a pulled drive's LUNs report NOT READY,
    /// MEDIUM NOT PRESENT until it is back, and follow it into whatever slot it goes.
    Enclosure(enclosure::EnclosureArgs),
    /// Boot the enclosure as two QEMU machines (boards A and B) from the board firmware;
    /// Ctrl-C stops both cleanly.
    ///
    /// Consoles: `dyad console qemu-a|qemu-b`; iSCSI: board A at 127.0.0.1:13260, B at
    /// 13261. TCG unless --accel kvm (or ACCEL=kvm).
    Qemu(qemu::QemuArgs),
    /// Build, sign, verify, inspect and flash firmware images; play the boot ROM.
    Image(image::ImageArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Console(args) => Ok(console::console(&args)),
        Command::Bench(args) => bench::bench(&args),
        Command::Enclosure(args) => enclosure::enclosure(&args),
        Command::Qemu(args) => qemu::qemu(&args),
        Command::Image(args) => Ok(image::image(args)),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("dyad: {message}");
            ExitCode::FAILURE
        }
    }
}
