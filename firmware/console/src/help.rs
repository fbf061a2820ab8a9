//! The console's help: `help` lists every verb with a one-line summary, `help VERB` prints its
//! usage and flags, in the style of ctladm(8). The table here is also the list of verbs that
//! `help VERB` accepts.

use alloc::format;
use alloc::string::String;

/// One verb's help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerbHelp {
    pub name: &'static str,
    /// Other names for the verb (`exit` for `quit`).
    pub aliases: &'static [&'static str],
    /// Lower case, no full stop: it follows the name in the list.
    pub summary: &'static str,
    /// The synopsis without `usage: `; continuation lines are indented under the verb.
    pub usage: &'static str,
    /// What the verb does, then its flags: the lines, without line ends.
    pub description: &'static [&'static str],
}

/// Every verb, in the order `help` lists them: LUNs, ports, iSCSI sessions, SCSI commands,
/// the configuration, the console.
pub const VERBS: &[VerbHelp] = &[
    VerbHelp {
        name: "create",
        aliases: &[],
        summary: "create a LUN",
        usage:
            "create -b backend [-B blocksize] [-d device_id] [-l lun_id] [-n name]\n              \
                [-o name=value]... [-s size] [-S serial]",
        description: &[
            "Create a LUN. Initiators on the ports that map it are told that the",
            "reported LUNs changed.",
            "",
            "  -b backend      block (a file or a backplane slot) or ramdisk (memory)",
            "  -B blocksize    logical block size in bytes (default 512)",
            "  -d device_id    T10 vendor identification designator (VPD page 0x83)",
            "  -l lun_id       the global LUN id (default: the lowest free id)",
            "  -n name         the LUN's name, as in ctl.conf's lun statement",
            "  -o name=value   a LUN option, as ctl.conf's option statement; repeatable.",
            "                  A block LUN names its backing store with -o file=PATH.",
            "  -s size         size in bytes, or with a K, M, G, T, P or E suffix",
            "                  (default for a block LUN: the size of its backing store)",
            "  -S serial       unit serial number (VPD page 0x80)",
        ],
    },
    VerbHelp {
        name: "remove",
        aliases: &[],
        summary: "remove a LUN",
        usage: "remove [-b backend] -l lun_id",
        description: &[
            "Remove a LUN. Commands in flight finish first; initiators on the ports",
            "that mapped it are told that the reported LUNs changed.",
            "",
            "  -b backend      block or ramdisk (accepted for ctladm compatibility)",
            "  -l lun_id       the LUN to remove",
        ],
    },
    VerbHelp {
        name: "modify",
        aliases: &[],
        summary: "change a LUN's size or options",
        usage: "modify [-b backend] -l lun_id [-o name=value]... [-s size]",
        description: &[
            "Change a LUN's size or options; give -s, -o or both. Initiators are told",
            "that the capacity or the mode parameters changed.",
            "",
            "  -b backend      block or ramdisk (accepted for ctladm compatibility)",
            "  -l lun_id       the LUN to change",
            "  -o name=value   a LUN option, as ctl.conf's option statement; repeatable",
            "  -s size         the new size in bytes, or with a K, M, G, T, P or E suffix",
        ],
    },
    VerbHelp {
        name: "devlist",
        aliases: &[],
        summary: "list the LUNs and their backends",
        usage: "devlist [-b backend] [-v]",
        description: &[
            "List the LUNs: id, backend, size, block size, serial number and",
            "device id.",
            "",
            "  -b backend      only the LUNs of this backend (block or ramdisk)",
            "  -v              also each LUN's options",
            "",
            "ctladm's -x (XML output) is not supported.",
        ],
    },
    VerbHelp {
        name: "lunlist",
        aliases: &[],
        summary: "list the LUNs with their SCSI identity",
        usage: "lunlist",
        description: &[
            "List the LUNs known to the target, with the vendor, product and revision",
            "each reports in its INQUIRY data.",
        ],
    },
    VerbHelp {
        name: "port",
        aliases: &[],
        summary: "enable or disable a port",
        usage: "port -o on|off -p targ_port",
        description: &[
            "Enable or disable a port. A disabled port accepts no logins; its sessions",
            "are dropped.",
            "",
            "  -o on|off       enable (on) or disable (off) the port",
            "  -p targ_port    the port, as portlist numbers it",
        ],
    },
    VerbHelp {
        name: "portlist",
        aliases: &[],
        summary: "list the ports",
        usage: "portlist [-i] [-l] [-p targ_port] [-v]",
        description: &[
            "List the ports: number, state, frontend and name.",
            "",
            "  -i              also the initiators logged in at each port",
            "  -l              also each port's LUN map",
            "  -p targ_port    only this port",
            "  -v              also the details of each port",
            "",
            "ctladm's -x (XML output) is not supported.",
        ],
    },
    VerbHelp {
        name: "lunmap",
        aliases: &[],
        summary: "map a port's LUN numbers to LUNs",
        usage: "lunmap -p targ_port [-l pLUN [-L cLUN]]",
        description: &[
            "Change a port's LUN map: which LUN an initiator reaches at each LUN number",
            "of the port. Initiators on the port are told that the reported LUNs changed.",
            "",
            "  -p targ_port    the port",
            "  -l pLUN         a LUN number on the port (0 to 16383). With -L, map it to",
            "                  the LUN cLUN; alone, unmap it",
            "  -L cLUN         the global LUN id to map pLUN to",
            "",
            "With neither -l nor -L, the port's map is removed: the port then shows every",
            "LUN under its global id.",
        ],
    },
    VerbHelp {
        name: "islist",
        aliases: &[],
        summary: "list the iSCSI sessions",
        usage: "islist [-v]",
        description: &[
            "List the iSCSI sessions: connection id, initiator address, initiator",
            "name and target name.",
            "",
            "  -v              also each session's negotiated parameters",
            "",
            "ctladm's -x (XML output) is not supported.",
        ],
    },
    VerbHelp {
        name: "islogout",
        aliases: &[],
        summary: "ask iSCSI initiators to log out",
        usage: "islogout -a | -c connection-id | -i initiator | -p portal",
        description: &[
            "Ask initiators to log out (an Asynchronous Message), leaving them time to",
            "finish their commands. Give exactly one of:",
            "",
            "  -a              every session",
            "  -c id           the session with this connection id (see islist)",
            "  -i initiator    the sessions of this initiator name",
            "  -p portal       the sessions from this initiator address",
        ],
    },
    VerbHelp {
        name: "isterminate",
        aliases: &[],
        summary: "drop iSCSI sessions",
        usage: "isterminate -a | -c connection-id | -i initiator | -p portal",
        description: &[
            "Drop sessions at once, aborting their commands. Give exactly one of:",
            "",
            "  -a              every session",
            "  -c id           the session with this connection id (see islist)",
            "  -i initiator    the sessions of this initiator name",
            "  -p portal       the sessions from this initiator address",
        ],
    },
    VerbHelp {
        name: "tur",
        aliases: &[],
        summary: "send TEST UNIT READY to a LUN",
        usage: "tur lun_id | tur -l lun_id",
        description: &[
            "Send TEST UNIT READY to a LUN and print the status (and sense data,",
            "if any).",
        ],
    },
    VerbHelp {
        name: "inquiry",
        aliases: &[],
        summary: "send INQUIRY to a LUN",
        usage: "inquiry lun_id | inquiry -l lun_id",
        description: &[
            "Send a standard INQUIRY to a LUN and print the device type, vendor,",
            "product, revision and SCSI version.",
        ],
    },
    VerbHelp {
        name: "readcap",
        aliases: &[],
        summary: "send READ CAPACITY to a LUN",
        usage: "readcap lun_id | readcap -l lun_id",
        description: &[
            "Send READ CAPACITY(16) to a LUN and print its number of blocks and",
            "block size.",
        ],
    },
    VerbHelp {
        name: "reportluns",
        aliases: &[],
        summary: "send REPORT LUNS",
        usage: "reportluns [-p targ_port]",
        description: &[
            "Send REPORT LUNS and print the LUN numbers reported.",
            "",
            "  -p targ_port    as an initiator on this port sees them (default: every LUN,",
            "                  under its global id)",
        ],
    },
    VerbHelp {
        name: "config",
        aliases: &[],
        summary: "show, check, save or roll back the configuration",
        usage: "config show | config check file | config save [file] | config rollback",
        description: &[
            "The configuration, in ctl.conf(5) form. Every change made on the console",
            "is applied live and saved to the controller's configuration store, which",
            "keeps the version before it; a restart comes back to the stored state.",
            "",
            "  show            print the running configuration",
            "  check file      read and check a configuration file, changing nothing",
            "  save [file]     write the running configuration to the store again, or",
            "                  to file",
            "  rollback        go back to the stored previous version (twice: forth",
            "                  again)",
        ],
    },
    VerbHelp {
        name: "slot",
        aliases: &[],
        summary: "list the backplane's slots, light their locate and fault LEDs",
        usage: "slot list [-v] | slot locate slot on|off | slot fault slot on|off",
        description: &[
            "The backplane: which drive sits in which slot, and each slot's LEDs. A",
            "LUN whose ctl.conf path is slot:N holds its data on the drive it was first",
            "bound to, wherever that drive sits: moved to another slot, it keeps its",
            "LUN; pulled out, the LUN reports NOT READY, MEDIUM NOT PRESENT until the",
            "drive is back.",
            "",
            "  list            every slot: its drive (transport, designator, serial,",
            "                  capacity, logical and physical block size), its locate",
            "                  and fault LEDs, the LUN the drive holds, and its health",
            "    -v            also each drive's model, designators and health in words",
            "  locate slot on|off",
            "                  light or darken the slot's locate LED",
            "  fault slot on|off",
            "                  light or darken the slot's fault LED",
        ],
    },
    VerbHelp {
        name: "help",
        aliases: &[],
        summary: "list the verbs, or show one verb's usage",
        usage: "help [verb]",
        description: &["With no verb, list every verb. With a verb, print its usage and flags."],
    },
    VerbHelp {
        name: "quit",
        aliases: &["exit"],
        summary: "leave the console",
        usage: "quit | exit",
        description: &["Leave the console. The controller keeps running."],
    },
];

/// The help of a verb, by its name or an alias.
pub fn find(verb: &str) -> Option<&'static VerbHelp> {
    VERBS
        .iter()
        .find(|v| v.name == verb || v.aliases.contains(&verb))
}

/// `help` (`None`) or `help VERB`, lines separated by `\n`, no final newline. An unknown verb
/// is an error message.
pub fn text(verb: Option<&str>) -> Result<String, String> {
    let Some(verb) = verb else {
        return Ok(list());
    };
    let help = find(verb).ok_or_else(|| format!("unknown verb '{verb}' (try 'help')"))?;
    let mut text = format!("usage: {}\n", help.usage);
    for line in help.description {
        text.push('\n');
        text.push_str(line);
    }
    Ok(text)
}

fn list() -> String {
    let mut text = String::from("Verbs (help VERB for a verb's usage and flags):\n");
    for verb in VERBS {
        text.push_str(&format!("\n  {:<12} {}", verb.name, verb.summary));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn lists_every_verb_once() {
        let list = text(None).unwrap();
        for verb in VERBS {
            assert_eq!(
                list.matches(&format!("\n  {} ", verb.name)).count(),
                1,
                "{}",
                verb.name
            );
        }
        assert!(list.contains("\n  create       create a LUN\n"));
    }

    #[test]
    fn every_verb_has_usage_and_fits_a_terminal() {
        let mut names = Vec::new();
        for verb in VERBS {
            let text = text(Some(verb.name)).unwrap();
            assert!(text.starts_with(&format!("usage: {}", verb.name)), "{text}");
            assert!(!text.ends_with('\n'));
            for line in text.lines() {
                assert!(line.len() <= 80, "{}: {line}", verb.name);
                assert!(
                    line.is_ascii() && !line.contains('\t'),
                    "{}: {line}",
                    verb.name
                );
            }
            names.push(verb.name);
            names.extend(verb.aliases);
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn aliases_find_their_verb() {
        assert_eq!(find("exit").map(|v| v.name), Some("quit"));
        assert_eq!(text(Some("exit")), text(Some("quit")));
    }

    #[test]
    fn refuses_an_unknown_verb() {
        assert_eq!(
            text(Some("foo")),
            Err("unknown verb 'foo' (try 'help')".into())
        );
        assert_eq!(find(""), None);
    }

    #[test]
    fn create_usage_is_ctladm_style() {
        let text = text(Some("create")).unwrap();
        assert!(text.starts_with(
            "usage: create -b backend [-B blocksize] [-d device_id] [-l lun_id] [-n name]\n              [-o name=value]... [-s size] [-S serial]\n\nCreate a LUN."
        ));
    }
}
