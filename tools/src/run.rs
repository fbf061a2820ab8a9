//! `dyad run`: one controller of the simulated enclosure in the foreground, with the lines
//! to paste into another terminal to reach it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use dyad_tests::{Firmware, FirmwareConfig, DEFAULT_TARGET_IQN};

use crate::{locate, signals};

const DEFAULT_LISTEN: &str = "127.0.0.1:3260";
const DEFAULT_ENCLOSURE: &str = "var/enclosure";
const DEFAULT_LUN: &str = "slot:0,size=1G";

/// Removes `--flag VALUE` or `--flag=VALUE` from `args`; the last one given wins.
fn take_flag(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, String> {
    let mut value = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == flag {
            if i + 1 >= args.len() {
                return Err(format!("{flag} needs a value"));
            }
            value = Some(args.remove(i + 1));
            args.remove(i);
        } else if let Some(v) = args[i].strip_prefix(&format!("{flag}=")) {
            value = Some(v.to_string());
            args.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(value)
}

pub fn run(mut args: Vec<String>) -> Result<ExitCode, String> {
    let binary = locate::firmware()?;
    // The flags the launcher must know to print where to connect are taken out and passed
    // on through the configuration; the rest go to the firmware as given.
    let listen_text = take_flag(&mut args, "--listen")?.unwrap_or(DEFAULT_LISTEN.to_string());
    let listen: SocketAddr = listen_text
        .parse()
        .map_err(|e| format!("--listen {listen_text}: {e} (want ADDR:PORT)"))?;
    let enclosure = PathBuf::from(
        take_flag(&mut args, "--enclosure")?.unwrap_or(DEFAULT_ENCLOSURE.to_string()),
    );
    let target_iqn = take_flag(&mut args, "--target")?.unwrap_or(DEFAULT_TARGET_IQN.to_string());
    let controller = match take_flag(&mut args, "--controller")? {
        Some(n) => n.parse().map_err(|e| format!("--controller {n}: {e}"))?,
        None => 1,
    };
    if !args.iter().any(|a| a == "--lun" || a.starts_with("--lun=")) {
        args.extend(["--lun".to_string(), DEFAULT_LUN.to_string()]);
    }
    std::fs::create_dir_all(&enclosure)
        .map_err(|e| format!("cannot create {}: {e}", enclosure.display()))?;

    signals::install();
    let mut firmware = Firmware::start_with(FirmwareConfig {
        binary,
        controller,
        enclosure: Some(enclosure.clone()),
        listen: Some(listen),
        target_iqn: target_iqn.clone(),
        args,
        echo: true,
        own_process_group: true,
        ready_timeout: Duration::from_secs(60),
    })
    .map_err(|e| e.to_string())?;
    if let Some(pid) = firmware.pid() {
        signals::forward_to(pid);
    }

    // A wildcard listen address is reachable from here as loopback.
    let mut reach = listen;
    if reach.ip().is_unspecified() {
        reach.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    println!(
        "dyad: controller {controller} of enclosure {} is up; from another terminal:\n  \
         iscsi-ls -s iscsi://{reach}\n  \
         iscsi-inq iscsi://{reach}/{target_iqn}/0\n  \
         iscsi-readcapacity16 iscsi://{reach}/{target_iqn}/0\n\
         dyad: Ctrl-C stops it.",
        enclosure.display()
    );

    let status = firmware
        .wait()
        .map_err(|e| format!("waiting for the firmware: {e}"))?;
    if status.success() {
        // The firmware has said that it stopped; nothing to add.
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("dyad: the firmware ended with {status}");
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn takes_flags_in_both_spellings() {
        let mut args = strings(&[
            "--lun",
            "ramdisk:1G",
            "--listen",
            "0.0.0.0:3261",
            "--chap=u:s",
        ]);
        assert_eq!(
            take_flag(&mut args, "--listen"),
            Ok(Some("0.0.0.0:3261".to_string()))
        );
        assert_eq!(take_flag(&mut args, "--chap"), Ok(Some("u:s".to_string())));
        assert_eq!(take_flag(&mut args, "--target"), Ok(None));
        assert_eq!(args, strings(&["--lun", "ramdisk:1G"]));
    }

    #[test]
    fn a_flag_without_value_is_an_error() {
        let mut args = strings(&["--listen"]);
        assert!(take_flag(&mut args, "--listen").is_err());
    }
}
