//! The board build's defmt log (issue 6): the static, non-PIE firmware built by
//! `make firmware-defmt` writes binary defmt frames to its log port, and `defmt-print`
//! decodes them against the same ELF into the lines an administrator reads.

use std::process::{Command, Stdio};

use dyad_tests::{paths, Firmware, FirmwareConfig, TempDir};

fn board_firmware() -> std::path::PathBuf {
    paths::target_dir()
        .join("x86_64-unknown-linux-gnu")
        .join("release")
        .join("dyad-firmware")
}

#[test]
fn the_log_port_carries_defmt_frames_that_defmt_print_decodes() {
    let binary = board_firmware();
    paths::require_file(&binary, "build it with `make firmware-defmt`").expect("board build");
    let dir = TempDir::new("defmt").expect("temporary folder");
    let port = dir.path().join("log-port");
    let mut firmware = Firmware::start_with(FirmwareConfig {
        binary: binary.clone(),
        args: vec![
            "--lun".into(),
            "ramdisk:8M".into(),
            "--log-port".into(),
            port.to_string_lossy().into_owned(),
        ],
        ..FirmwareConfig::default()
    })
    .expect("start the board build");
    let reply = firmware
        .console("create -b ramdisk -s 4M -n logged")
        .expect("console");
    assert!(reply.ok, "{}", reply.output);
    let reply = firmware.console("remove -l 7").expect("console");
    assert!(!reply.ok);
    firmware.stop().expect("stop");

    let raw = std::fs::read(&port).expect("the log port");
    assert!(!raw.is_empty(), "nothing on the log port");
    // Binary frames, not text: rzCOBS frames end in 0x00.
    assert!(raw.contains(&0), "the log port holds no defmt frames");
    let decoded = Command::new("defmt-print")
        .arg("-e")
        .arg(&binary)
        .stdin(std::fs::File::open(&port).expect("log port"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run defmt-print (installed by `make deps`)");
    let text = String::from_utf8_lossy(&decoded.stdout);
    for line in [
        "INFO  controller 1 ready",
        "console: Create(",
        "logged",
        "refused: there is no LUN 7",
        "INFO  stopping",
    ] {
        assert!(text.contains(line), "decoded log lacks '{line}':\n{text}");
    }
}
