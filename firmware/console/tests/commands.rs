//! Every verb's accepted forms parse into the right command, and every kind of malformed line
//! is refused with a message naming the verb and the problem.

use config::Backend;
use console::{parse, Command, CreateLun, SessionSelector};

/// Asserts each line parses into its command.
fn accepts(cases: &[(&str, Command)]) {
    for (line, command) in cases {
        assert_eq!(parse(line), Ok(Some(command.clone())), "{line}");
    }
}

/// Asserts each line is refused with exactly this message.
fn refuses(cases: &[(&str, &str)]) {
    for (line, message) in cases {
        match parse(line) {
            Err(e) => assert_eq!(e.to_string(), *message, "{line}"),
            Ok(c) => panic!("{line}: accepted as {c:?}"),
        }
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn create(backend: Backend) -> CreateLun {
    CreateLun {
        backend,
        blocksize: None,
        device_id: None,
        lun: None,
        name: None,
        options: Vec::new(),
        size: None,
        serial: None,
    }
}

#[test]
fn blank_and_comment_lines_are_nothing() {
    for line in ["", "   ", "\t", "# a comment", "   # indented comment"] {
        assert_eq!(parse(line), Ok(None), "{line:?}");
    }
}

#[test]
fn devlist() {
    accepts(&[
        (
            "devlist",
            Command::Devlist {
                verbose: false,
                backend: None,
            },
        ),
        (
            "devlist -v",
            Command::Devlist {
                verbose: true,
                backend: None,
            },
        ),
        (
            "devlist -v -v",
            Command::Devlist {
                verbose: true,
                backend: None,
            },
        ),
        (
            "devlist -b ramdisk",
            Command::Devlist {
                verbose: false,
                backend: Some(Backend::Ramdisk),
            },
        ),
        (
            "devlist -vbblock",
            Command::Devlist {
                verbose: true,
                backend: Some(Backend::Block),
            },
        ),
        (
            "devlist # all of them",
            Command::Devlist {
                verbose: false,
                backend: None,
            },
        ),
    ]);
}

#[test]
fn lunlist() {
    accepts(&[
        ("lunlist", Command::Lunlist),
        ("  lunlist  ", Command::Lunlist),
    ]);
}

#[test]
fn portlist() {
    let plain = Command::Portlist {
        maps: false,
        initiators: false,
        verbose: false,
        port: None,
    };
    accepts(&[
        ("portlist", plain.clone()),
        (
            "portlist -l",
            Command::Portlist {
                maps: true,
                initiators: false,
                verbose: false,
                port: None,
            },
        ),
        (
            "portlist -i",
            Command::Portlist {
                maps: false,
                initiators: true,
                verbose: false,
                port: None,
            },
        ),
        (
            "portlist -v",
            Command::Portlist {
                maps: false,
                initiators: false,
                verbose: true,
                port: None,
            },
        ),
        (
            "portlist -liv -p 3",
            Command::Portlist {
                maps: true,
                initiators: true,
                verbose: true,
                port: Some(3),
            },
        ),
        (
            "portlist -p65535",
            Command::Portlist {
                maps: false,
                initiators: false,
                verbose: false,
                port: Some(65535),
            },
        ),
        (
            "portlist -lp 0",
            Command::Portlist {
                maps: true,
                initiators: false,
                verbose: false,
                port: Some(0),
            },
        ),
    ]);
}

#[test]
fn create_lun() {
    let full = CreateLun {
        backend: Backend::Block,
        blocksize: Some(4096),
        device_id: Some("dev id".into()),
        lun: Some(7),
        name: Some("disk0".into()),
        options: pairs(&[
            ("file", "/var/disk 0.img"),
            ("vendor", "ACME"),
            ("readonly", "on"),
        ]),
        size: Some(1 << 30),
        serial: Some("SN-1".into()),
    };
    accepts(&[
        (
            "create -b ramdisk",
            Command::Create(create(Backend::Ramdisk)),
        ),
        (
            "create -b ramdisk -s 512M",
            Command::Create(CreateLun {
                size: Some(512 << 20),
                ..create(Backend::Ramdisk)
            }),
        ),
        (
            "create -bramdisk -s4096",
            Command::Create(CreateLun {
                size: Some(4096),
                ..create(Backend::Ramdisk)
            }),
        ),
        (
            "create -b block -B 4096 -d 'dev id' -l 7 -n disk0 -o 'file=/var/disk 0.img' \
             -o vendor=ACME -oreadonly=on -s 1G -S SN-1",
            Command::Create(full.clone()),
        ),
        (
            "create -S SN-1 -s 1G -oreadonly=on -o vendor=ACME -o \"file=/var/disk 0.img\" \
             -n disk0 -l7 -d dev\\ id -B4096 -b block",
            Command::Create(CreateLun {
                options: pairs(&[
                    ("readonly", "on"),
                    ("vendor", "ACME"),
                    ("file", "/var/disk 0.img"),
                ]),
                ..full
            }),
        ),
        (
            "create -b ramdisk -l 4294967295 -o vendor=",
            Command::Create(CreateLun {
                lun: Some(u32::MAX),
                options: pairs(&[("vendor", "")]),
                ..create(Backend::Ramdisk)
            }),
        ),
    ]);
}

#[test]
fn remove() {
    accepts(&[
        ("remove -l 3", Command::Remove { lun: 3 }),
        ("remove -b block -l 3", Command::Remove { lun: 3 }),
        ("remove -l0 -bramdisk", Command::Remove { lun: 0 }),
    ]);
}

#[test]
fn modify() {
    accepts(&[
        (
            "modify -l 3 -s 2G",
            Command::Modify {
                lun: 3,
                size: Some(2 << 30),
                options: vec![],
            },
        ),
        (
            "modify -b block -l 3 -o readonly=on -o vendor=X",
            Command::Modify {
                lun: 3,
                size: None,
                options: pairs(&[("readonly", "on"), ("vendor", "X")]),
            },
        ),
        (
            "modify -l3 -s 4096 -o unmap=off",
            Command::Modify {
                lun: 3,
                size: Some(4096),
                options: pairs(&[("unmap", "off")]),
            },
        ),
    ]);
}

#[test]
fn lunmap() {
    accepts(&[
        (
            "lunmap -p 1",
            Command::Lunmap {
                port: 1,
                plun: None,
                lun: None,
            },
        ),
        (
            "lunmap -p 1 -l 0",
            Command::Lunmap {
                port: 1,
                plun: Some(0),
                lun: None,
            },
        ),
        (
            "lunmap -p 1 -l 0 -L 5",
            Command::Lunmap {
                port: 1,
                plun: Some(0),
                lun: Some(5),
            },
        ),
        (
            "lunmap -L5 -l16383 -p65535",
            Command::Lunmap {
                port: 65535,
                plun: Some(16383),
                lun: Some(5),
            },
        ),
    ]);
}

#[test]
fn port() {
    accepts(&[
        (
            "port -o on -p 2",
            Command::Port {
                port: 2,
                enable: true,
            },
        ),
        (
            "port -p2 -ooff",
            Command::Port {
                port: 2,
                enable: false,
            },
        ),
    ]);
}

#[test]
fn islist() {
    accepts(&[
        ("islist", Command::Islist { verbose: false }),
        ("islist -v", Command::Islist { verbose: true }),
    ]);
}

#[test]
fn islogout_and_isterminate() {
    for (verb, make) in [
        (
            "islogout",
            Command::Islogout as fn(SessionSelector) -> Command,
        ),
        ("isterminate", Command::Isterminate),
    ] {
        accepts(&[
            (&format!("{verb} -a"), make(SessionSelector::All)),
            (&format!("{verb} -c 12"), make(SessionSelector::Id(12))),
            (
                &format!("{verb} -i iqn.1994-05.com.redhat:host"),
                make(SessionSelector::Initiator(
                    "iqn.1994-05.com.redhat:host".into(),
                )),
            ),
            (
                &format!("{verb} -p 10.0.0.5"),
                make(SessionSelector::Portal("10.0.0.5".into())),
            ),
            (&format!("{verb} -a -a"), make(SessionSelector::All)),
        ]);
    }
}

#[test]
fn scsi_commands() {
    accepts(&[
        ("tur 0", Command::Tur { lun: 0 }),
        ("tur -l 5", Command::Tur { lun: 5 }),
        ("tur -l5", Command::Tur { lun: 5 }),
        ("inquiry 1", Command::Inquiry { lun: 1 }),
        ("inquiry -l 1", Command::Inquiry { lun: 1 }),
        ("readcap 2", Command::Readcap { lun: 2 }),
        ("readcap -l 4294967295", Command::Readcap { lun: u32::MAX }),
        ("reportluns", Command::Reportluns { port: None }),
        ("reportluns -p 4", Command::Reportluns { port: Some(4) }),
    ]);
}

#[test]
fn config() {
    accepts(&[
        ("config show", Command::ConfigShow),
        (
            "config check /etc/ctl.conf",
            Command::ConfigCheck {
                file: "/etc/ctl.conf".into(),
            },
        ),
        (
            "config check -- -odd.conf",
            Command::ConfigCheck {
                file: "-odd.conf".into(),
            },
        ),
        ("config save", Command::ConfigSave { file: None }),
        (
            "config save 'my ctl.conf'",
            Command::ConfigSave {
                file: Some("my ctl.conf".into()),
            },
        ),
        ("config rollback", Command::ConfigRollback),
    ]);
}

#[test]
fn help_and_quit() {
    accepts(&[
        ("help", Command::Help { verb: None }),
        (
            "help create",
            Command::Help {
                verb: Some("create".into()),
            },
        ),
        (
            "help exit",
            Command::Help {
                verb: Some("exit".into()),
            },
        ),
        (
            "help config",
            Command::Help {
                verb: Some("config".into()),
            },
        ),
        ("quit", Command::Quit),
        ("exit", Command::Quit),
    ]);
}

#[test]
fn refuses_unknown_verbs() {
    refuses(&[
        ("foo", "unknown verb 'foo' (try 'help')"),
        ("Devlist", "unknown verb 'Devlist' (try 'help')"),
        ("reqsense 0", "unknown verb 'reqsense' (try 'help')"),
        ("'' -v", "unknown verb '' (try 'help')"),
        ("help foo", "help: unknown verb 'foo' (try 'help')"),
    ]);
}

#[test]
fn refuses_unknown_flags() {
    refuses(&[
        (
            "devlist -q",
            "devlist: unknown flag -q (try 'help devlist')",
        ),
        (
            "lunlist -v",
            "lunlist: unknown flag -v (try 'help lunlist')",
        ),
        (
            "portlist -f iscsi",
            "portlist: unknown flag -f (try 'help portlist')",
        ),
        (
            "create -b block -t 0",
            "create: unknown flag -t (try 'help create')",
        ),
        (
            "remove -l 1 -o x=y",
            "remove: unknown flag -o (try 'help remove')",
        ),
        (
            "lunmap -p 1 -x",
            "lunmap: unknown flag -x (try 'help lunmap')",
        ),
        (
            "port -o on -p 1 -w 5",
            "port: unknown flag -w (try 'help port')",
        ),
        (
            "islogout -v",
            "islogout: unknown flag -v (try 'help islogout')",
        ),
        ("tur -c 10 0", "tur: unknown flag -c (try 'help tur')"),
        (
            "config -f show",
            "config: unknown flag -f (try 'help config')",
        ),
        ("help -v", "help: unknown flag -v (try 'help help')"),
        ("quit -f", "quit: unknown flag -f (try 'help quit')"),
        ("exit -f", "exit: unknown flag -f (try 'help exit')"),
    ]);
}

#[test]
fn refuses_xml_output() {
    refuses(&[
        ("devlist -x", "devlist: XML output is not supported"),
        ("devlist -vx", "devlist: XML output is not supported"),
        ("portlist -x", "portlist: XML output is not supported"),
        ("islist -x", "islist: XML output is not supported"),
    ]);
}

#[test]
fn refuses_a_missing_value() {
    refuses(&[
        ("devlist -b", "devlist: -b needs a value"),
        ("create -b", "create: -b needs a value"),
        ("create -b ramdisk -s", "create: -s needs a value"),
        ("create -b ramdisk -n ''", "create: -n needs a value"),
        ("portlist -lp", "portlist: -p needs a value"),
        ("tur -l", "tur: -l needs a value"),
        ("islogout -i", "islogout: -i needs a value"),
    ]);
}

#[test]
fn refuses_a_repeated_single_valued_flag() {
    refuses(&[
        (
            "create -b ramdisk -b block",
            "create: -b given more than once",
        ),
        (
            "create -b ramdisk -s 1G -s2G",
            "create: -s given more than once",
        ),
        ("lunmap -p 1 -p 2", "lunmap: -p given more than once"),
        ("tur -l 1 -l 1", "tur: -l given more than once"),
    ]);
}

#[test]
fn refuses_bad_numbers() {
    refuses(&[
        ("remove -l x", "remove: -l 'x' is not a number"),
        ("remove -l -1", "remove: -l '-1' is not a number"),
        ("remove -l 0x10", "remove: -l '0x10' is not a number"),
        ("tur abc", "tur: LUN 'abc' is not a number"),
        ("tur 4294967296", "tur: LUN '4294967296' is out of range (0 to 4294967295)"),
        ("inquiry -l 1.5", "inquiry: -l '1.5' is not a number"),
        ("create -b ramdisk -B 4k", "create: -B '4k' is not a number"),
        ("create -b ramdisk -l 99999999999", "create: -l '99999999999' is out of range (0 to 4294967295)"),
        ("portlist -p 65536", "portlist: -p '65536' is out of range (0 to 65535)"),
        ("port -o on -p x", "port: -p 'x' is not a number"),
        ("lunmap -p 1 -l 16384", "lunmap: -l '16384' is out of range (0 to 16383)"),
        ("lunmap -p 1 -l 0 -L y", "lunmap: -L 'y' is not a number"),
        ("islogout -c c1", "islogout: -c 'c1' is not a number"),
        ("reportluns -p 70000", "reportluns: -p '70000' is out of range (0 to 65535)"),
        (
            "readcap 010",
            "readcap: LUN '010' has a leading zero, which ctladm would read as octal: write it without",
        ),
    ]);
}

#[test]
fn refuses_bad_sizes() {
    refuses(&[
        ("create -b ramdisk -s 12Q", "create: -s '12Q' is not a size"),
        ("create -b ramdisk -s 16E", "create: -s '16E' is too large"),
        ("modify -l 1 -s big", "modify: -s 'big' is not a size"),
        ("modify -l 1 -s auto", "modify: -s 'auto' is not a size"),
    ]);
}

#[test]
fn refuses_bad_backends() {
    refuses(&[
        (
            "create -b file",
            "create: -b 'file' is not a backend (block or ramdisk)",
        ),
        (
            "devlist -b x",
            "devlist: -b 'x' is not a backend (block or ramdisk)",
        ),
        (
            "remove -b ram -l 1",
            "remove: -b 'ram' is not a backend (block or ramdisk)",
        ),
        (
            "modify -b BLOCK -l 1 -s 1G",
            "modify: -b 'BLOCK' is not a backend (block or ramdisk)",
        ),
    ]);
}

#[test]
fn refuses_options_not_name_equals_value() {
    refuses(&[
        (
            "create -b ramdisk -o vendor",
            "create: -o 'vendor' is not name=value",
        ),
        (
            "create -b ramdisk -o =x",
            "create: -o '=x' is not name=value",
        ),
        (
            "modify -l 1 -o readonly",
            "modify: -o 'readonly' is not name=value",
        ),
    ]);
}

#[test]
fn refuses_missing_required_flags() {
    refuses(&[
        ("create", "create: -b is required"),
        ("create -s 1G", "create: -b is required"),
        ("remove", "remove: -l is required"),
        ("remove -b block", "remove: -l is required"),
        ("modify -s 1G", "modify: -l is required"),
        ("lunmap", "lunmap: -p is required"),
        ("lunmap -l 1 -L 2", "lunmap: -p is required"),
        ("port -p 1", "port: -o is required"),
        ("port -o on", "port: -p is required"),
    ]);
}

#[test]
fn refuses_modify_without_a_change() {
    refuses(&[
        (
            "modify -l 1",
            "modify: nothing to change: give -s, -o or both",
        ),
        (
            "modify -b block -l 1",
            "modify: nothing to change: give -s, -o or both",
        ),
    ]);
}

#[test]
fn refuses_plun_target_without_plun() {
    refuses(&[("lunmap -p 1 -L 2", "lunmap: -L needs -l")]);
}

#[test]
fn refuses_a_bad_port_state() {
    refuses(&[
        ("port -o enable -p 1", "port: -o 'enable' is not on or off"),
        ("port -o ON -p 1", "port: -o 'ON' is not on or off"),
    ]);
}

#[test]
fn refuses_session_selectors_not_exactly_one() {
    refuses(&[
        ("islogout", "islogout: give one of -a, -c, -i or -p"),
        ("isterminate", "isterminate: give one of -a, -c, -i or -p"),
        (
            "islogout -a -c 1",
            "islogout: -a, -c, -i and -p exclude each other",
        ),
        (
            "isterminate -i x -p y",
            "isterminate: -a, -c, -i and -p exclude each other",
        ),
    ]);
}

#[test]
fn refuses_a_missing_lun() {
    refuses(&[
        ("tur", "tur: needs a LUN: tur LUN or tur -l LUN"),
        (
            "inquiry",
            "inquiry: needs a LUN: inquiry LUN or inquiry -l LUN",
        ),
        (
            "readcap",
            "readcap: needs a LUN: readcap LUN or readcap -l LUN",
        ),
    ]);
}

#[test]
fn refuses_extra_words() {
    refuses(&[
        ("devlist all", "devlist: unexpected argument 'all'"),
        ("lunlist 0", "lunlist: unexpected argument '0'"),
        ("portlist 1", "portlist: unexpected argument '1'"),
        (
            "create -b ramdisk disk0",
            "create: unexpected argument 'disk0'",
        ),
        ("remove -l 1 2", "remove: unexpected argument '2'"),
        ("modify -l 1 -s 1G x", "modify: unexpected argument 'x'"),
        ("lunmap -p 1 2", "lunmap: unexpected argument '2'"),
        ("port -o on -p 1 now", "port: unexpected argument 'now'"),
        ("islist all", "islist: unexpected argument 'all'"),
        ("islogout -a now", "islogout: unexpected argument 'now'"),
        ("tur 1 2", "tur: unexpected argument '2'"),
        ("tur -l 1 2", "tur: unexpected argument '2'"),
        ("reportluns 1", "reportluns: unexpected argument '1'"),
        ("help create remove", "help: unexpected argument 'remove'"),
        ("quit now", "quit: unexpected argument 'now'"),
        ("config show all", "config show: unexpected argument 'all'"),
        ("config check a b", "config check: unexpected argument 'b'"),
        ("config save a b", "config save: unexpected argument 'b'"),
        (
            "config rollback now",
            "config rollback: unexpected argument 'now'",
        ),
    ]);
}

#[test]
fn refuses_bad_config_subcommands() {
    refuses(&[
        (
            "config",
            "config: needs a subcommand: show, check, save or rollback",
        ),
        (
            "config load x",
            "config: unknown subcommand 'load' (show, check, save or rollback)",
        ),
        ("config check", "config check: needs a file"),
        ("config check ''", "config check: the file name is empty"),
        ("config save \"\"", "config save: the file name is empty"),
    ]);
}

#[test]
fn refuses_unterminated_quotes() {
    refuses(&[
        (
            "create -b ramdisk -n 'disk 0",
            "unterminated single quote (')",
        ),
        (
            "create -b ramdisk -n \"disk 0",
            "unterminated double quote (\")",
        ),
        ("tur 0 \\", "'\\' at the end of the line escapes nothing"),
    ]);
}

#[test]
fn usage_errors_name_their_verb() {
    let e = parse("lunmap -p 1 -L 2").unwrap_err();
    assert_eq!(e.verb, Some("lunmap"));
    assert_eq!(e.message, "-L needs -l");
    let e = parse("foo").unwrap_err();
    assert_eq!(e.verb, None);
}

#[test]
fn slot() {
    use console::SlotLed;
    accepts(&[
        ("slot list", Command::SlotList { verbose: false }),
        ("slot list -v", Command::SlotList { verbose: true }),
        (
            "slot locate 3 on",
            Command::SlotIndicator {
                slot: 3,
                indicator: SlotLed::Locate,
                on: true,
            },
        ),
        (
            "slot locate 10 off",
            Command::SlotIndicator {
                slot: 10,
                indicator: SlotLed::Locate,
                on: false,
            },
        ),
        (
            "slot fault 23 on",
            Command::SlotIndicator {
                slot: 23,
                indicator: SlotLed::Fault,
                on: true,
            },
        ),
        (
            "help slot",
            Command::Help {
                verb: Some("slot".into()),
            },
        ),
    ]);
}

#[test]
fn refuses_bad_slot_commands() {
    refuses(&[
        ("slot", "slot: needs a subcommand: list, locate or fault"),
        (
            "slot blink 3",
            "slot: unknown subcommand 'blink' (list, locate or fault)",
        ),
        ("slot list all", "slot list: unexpected argument 'all'"),
        (
            "slot list -x",
            "slot list: unknown flag -x (try 'help slot')",
        ),
        ("slot locate", "slot locate: needs a slot and on or off"),
        ("slot locate 3", "slot locate: needs a slot and on or off"),
        ("slot fault 3 blink", "slot fault: 'blink' is not on or off"),
        (
            "slot fault 3 on now",
            "slot fault: unexpected argument 'now'",
        ),
        (
            "slot locate three on",
            "slot locate: slot 'three' is not a number",
        ),
    ]);
}
