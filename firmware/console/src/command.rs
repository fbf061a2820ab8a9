//! ctladm(8)'s verbs, parsed from a console line into typed commands for the executor.
//! Everything about the syntax is checked here, so a command that reaches the executor is
//! well formed; whether it makes sense for the running target (does LUN 7 exist?) is the
//! executor's to say.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use config::Backend;

use crate::getopt::{Arity, Options};
use crate::usage_error::UsageError;
use crate::{help, values, words};

/// Port LUN numbers stop below 16384: the most flat addressing (REPORT LUNS) can carry.
pub const MAX_PORT_LUN: u32 = 16383;

/// A console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `devlist [-b backend] [-v]`; `backend`: list only that backend's LUNs.
    Devlist {
        verbose: bool,
        backend: Option<Backend>,
    },
    /// `lunlist`
    Lunlist,
    /// `portlist [-i] [-l] [-p targ_port] [-v]`
    Portlist {
        maps: bool,
        initiators: bool,
        verbose: bool,
        port: Option<u16>,
    },
    /// `create -b backend ...`
    Create(CreateLun),
    /// `remove [-b backend] -l lun_id`
    Remove { lun: u32 },
    /// `modify [-b backend] -l lun_id [-o name=value]... [-s size]`, at least one of -o, -s.
    Modify {
        lun: u32,
        size: Option<u64>,
        options: Vec<(String, String)>,
    },
    /// `lunmap -p targ_port [-l pLUN [-L cLUN]]`: both map, `plun` alone unmaps, neither
    /// removes the port's map.
    Lunmap {
        port: u16,
        plun: Option<u32>,
        lun: Option<u32>,
    },
    /// `port -o on|off -p targ_port`
    Port { port: u16, enable: bool },
    /// `islist [-v]`
    Islist { verbose: bool },
    /// `islogout -a | -c id | -i initiator | -p portal`
    Islogout(SessionSelector),
    /// `isterminate -a | -c id | -i initiator | -p portal`
    Isterminate(SessionSelector),
    /// `tur LUN` or `tur -l LUN`
    Tur { lun: u32 },
    /// `inquiry LUN` or `inquiry -l LUN`
    Inquiry { lun: u32 },
    /// `readcap LUN` or `readcap -l LUN`
    Readcap { lun: u32 },
    /// `reportluns [-p targ_port]`
    Reportluns { port: Option<u16> },
    /// `config show`
    ConfigShow,
    /// `config check FILE`
    ConfigCheck { file: String },
    /// `config save [FILE]`
    ConfigSave { file: Option<String> },
    /// `config rollback`
    ConfigRollback,
    /// `slot list [-v]`: the backplane's slots; `-v` adds each drive's details.
    SlotList { verbose: bool },
    /// `slot locate N on|off` and `slot fault N on|off`: a slot's indicator.
    SlotIndicator {
        slot: u32,
        indicator: SlotLed,
        on: bool,
    },
    /// `help [VERB]`; the verb is one [`crate::help::find`] knows.
    Help { verb: Option<String> },
    /// `quit` or `exit`
    Quit,
}

/// `create`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLun {
    /// `-b`
    pub backend: Backend,
    /// `-B`, bytes.
    pub blocksize: Option<u32>,
    /// `-d`
    pub device_id: Option<String>,
    /// `-l`, the global LUN id.
    pub lun: Option<u32>,
    /// `-n`
    pub name: Option<String>,
    /// `-o name=value`, in the order given.
    pub options: Vec<(String, String)>,
    /// `-s`, bytes.
    pub size: Option<u64>,
    /// `-S`
    pub serial: Option<String>,
}

/// A slot's indicator LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotLed {
    /// `locate`: shows a person at the enclosure which slot is meant.
    Locate,
    /// `fault`: the drive in the slot must be replaced.
    Fault,
}

/// Which iSCSI sessions `islogout` and `isterminate` act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSelector {
    /// `-a`
    All,
    /// `-c`: a connection id, as `islist` shows it.
    Id(u32),
    /// `-i`: an initiator name.
    Initiator(String),
    /// `-p`: an initiator address.
    Portal(String),
}

/// Parses one console line. `Ok(None)` for a line with nothing to do (blank, or a comment).
pub fn parse(line: &str) -> Result<Option<Command>, UsageError> {
    let words = words::split(line).map_err(|e| UsageError::general(e.to_string()))?;
    let Some((verb, args)) = words.split_first() else {
        return Ok(None);
    };
    let command = match verb.as_str() {
        "devlist" => devlist(args),
        "lunlist" => no_arguments("lunlist", args, Command::Lunlist),
        "portlist" => portlist(args),
        "create" => create(args),
        "remove" => remove(args),
        "modify" => modify(args),
        "lunmap" => lunmap(args),
        "port" => port(args),
        "islist" => islist(args),
        "islogout" => sessions("islogout", args).map(Command::Islogout),
        "isterminate" => sessions("isterminate", args).map(Command::Isterminate),
        "tur" => lun_argument("tur", args).map(|lun| Command::Tur { lun }),
        "inquiry" => lun_argument("inquiry", args).map(|lun| Command::Inquiry { lun }),
        "readcap" => lun_argument("readcap", args).map(|lun| Command::Readcap { lun }),
        "reportluns" => reportluns(args),
        "config" => config(args),
        "slot" => slot(args),
        "help" => help_verb(args),
        "quit" => no_arguments("quit", args, Command::Quit),
        "exit" => no_arguments("exit", args, Command::Quit),
        _ => Err(UsageError::general(format!(
            "unknown verb '{verb}' (try 'help')"
        ))),
    }?;
    Ok(Some(command))
}

fn devlist(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan(
        "devlist",
        &[
            ('b', Arity::Once),
            ('v', Arity::Switch),
            ('x', Arity::Switch),
        ],
        args,
    )?;
    o.at_most(0)?;
    refuse_xml(&o)?;
    Ok(Command::Devlist {
        verbose: o.has('v'),
        backend: optional(&o, 'b', values::backend)?,
    })
}

fn portlist(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan(
        "portlist",
        &[
            ('i', Arity::Switch),
            ('l', Arity::Switch),
            ('p', Arity::Once),
            ('v', Arity::Switch),
            ('x', Arity::Switch),
        ],
        args,
    )?;
    o.at_most(0)?;
    refuse_xml(&o)?;
    Ok(Command::Portlist {
        maps: o.has('l'),
        initiators: o.has('i'),
        verbose: o.has('v'),
        port: optional(&o, 'p', values::port)?,
    })
}

fn create(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan(
        "create",
        &[
            ('b', Arity::Once),
            ('B', Arity::Once),
            ('d', Arity::Once),
            ('l', Arity::Once),
            ('n', Arity::Once),
            ('o', Arity::Many),
            ('s', Arity::Once),
            ('S', Arity::Once),
        ],
        args,
    )?;
    o.at_most(0)?;
    let backend = read(&o, "-b", o.required('b')?, values::backend)?;
    Ok(Command::Create(CreateLun {
        backend,
        blocksize: optional(&o, 'B', values::number_u32)?,
        device_id: o.value('d').map(String::from),
        lun: optional(&o, 'l', values::number_u32)?,
        name: o.value('n').map(String::from),
        options: lun_options(&o)?,
        size: optional(&o, 's', values::size)?,
        serial: o.value('S').map(String::from),
    }))
}

fn remove(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan("remove", &[('b', Arity::Once), ('l', Arity::Once)], args)?;
    o.at_most(0)?;
    // The LUN id alone names the LUN; -b is checked so a typo is not silently ignored.
    optional(&o, 'b', values::backend)?;
    let lun = read(&o, "-l", o.required('l')?, values::number_u32)?;
    Ok(Command::Remove { lun })
}

fn modify(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan(
        "modify",
        &[
            ('b', Arity::Once),
            ('l', Arity::Once),
            ('o', Arity::Many),
            ('s', Arity::Once),
        ],
        args,
    )?;
    o.at_most(0)?;
    optional(&o, 'b', values::backend)?;
    let lun = read(&o, "-l", o.required('l')?, values::number_u32)?;
    let size = optional(&o, 's', values::size)?;
    let options = lun_options(&o)?;
    if size.is_none() && options.is_empty() {
        return Err(o.error("nothing to change: give -s, -o or both"));
    }
    Ok(Command::Modify { lun, size, options })
}

fn lunmap(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan(
        "lunmap",
        &[('p', Arity::Once), ('l', Arity::Once), ('L', Arity::Once)],
        args,
    )?;
    o.at_most(0)?;
    let port = read(&o, "-p", o.required('p')?, values::port)?;
    if o.has('L') && !o.has('l') {
        return Err(o.error("-L needs -l"));
    }
    let plun = optional(&o, 'l', |what, text| {
        values::number(what, text, u64::from(MAX_PORT_LUN))
            .map(|n| u32::try_from(n).unwrap_or(MAX_PORT_LUN))
    })?;
    Ok(Command::Lunmap {
        port,
        plun,
        lun: optional(&o, 'L', values::number_u32)?,
    })
}

fn port(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan("port", &[('o', Arity::Once), ('p', Arity::Once)], args)?;
    o.at_most(0)?;
    let enable = match o.required('o')? {
        "on" => true,
        "off" => false,
        other => return Err(o.error(format!("-o '{other}' is not on or off"))),
    };
    let port = read(&o, "-p", o.required('p')?, values::port)?;
    Ok(Command::Port { port, enable })
}

fn islist(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan(
        "islist",
        &[('v', Arity::Switch), ('x', Arity::Switch)],
        args,
    )?;
    o.at_most(0)?;
    refuse_xml(&o)?;
    Ok(Command::Islist {
        verbose: o.has('v'),
    })
}

/// `islogout` and `isterminate`: exactly one selector.
fn sessions(verb: &'static str, args: &[String]) -> Result<SessionSelector, UsageError> {
    let o = Options::scan(
        verb,
        &[
            ('a', Arity::Switch),
            ('c', Arity::Once),
            ('i', Arity::Once),
            ('p', Arity::Once),
        ],
        args,
    )?;
    o.at_most(0)?;
    match ['a', 'c', 'i', 'p'].iter().filter(|&&f| o.has(f)).count() {
        0 => return Err(o.error("give one of -a, -c, -i or -p")),
        1 => {}
        _ => return Err(o.error("-a, -c, -i and -p exclude each other")),
    }
    if let Some(id) = optional(&o, 'c', values::number_u32)? {
        return Ok(SessionSelector::Id(id));
    }
    if let Some(name) = o.value('i') {
        return Ok(SessionSelector::Initiator(name.into()));
    }
    if let Some(address) = o.value('p') {
        return Ok(SessionSelector::Portal(address.into()));
    }
    Ok(SessionSelector::All)
}

/// `tur`, `inquiry` and `readcap`: the LUN as a word or with -l, once.
fn lun_argument(verb: &'static str, args: &[String]) -> Result<u32, UsageError> {
    let o = Options::scan(verb, &[('l', Arity::Once)], args)?;
    match (o.value('l'), o.positionals()) {
        (Some(text), []) => read(&o, "-l", text, values::number_u32),
        (None, [text]) => read(&o, "LUN", text, values::number_u32),
        (None, []) => Err(o.error(format!("needs a LUN: {verb} LUN or {verb} -l LUN"))),
        (Some(_), [extra, ..]) | (None, [_, extra, ..]) => {
            Err(o.error(format!("unexpected argument '{extra}'")))
        }
    }
}

fn reportluns(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan("reportluns", &[('p', Arity::Once)], args)?;
    o.at_most(0)?;
    Ok(Command::Reportluns {
        port: optional(&o, 'p', values::port)?,
    })
}

/// `config SUBCOMMAND [FILE]`: errors name the subcommand once it is known.
fn config(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan("config", &[], args)?;
    let Some((sub, rest)) = o.positionals().split_first() else {
        return Err(o.error("needs a subcommand: show, check, save or rollback"));
    };
    let (verb, takes_file) = match sub.as_str() {
        "show" => ("config show", false),
        "check" => ("config check", true),
        "save" => ("config save", true),
        "rollback" => ("config rollback", false),
        other => {
            return Err(o.error(format!(
                "unknown subcommand '{other}' (show, check, save or rollback)"
            )))
        }
    };
    let allowed = usize::from(takes_file);
    if let Some(extra) = rest.get(allowed) {
        return Err(UsageError::new(
            verb,
            format!("unexpected argument '{extra}'"),
        ));
    }
    let file = rest.first().cloned();
    if file.as_deref() == Some("") {
        return Err(UsageError::new(verb, "the file name is empty"));
    }
    Ok(match sub.as_str() {
        "show" => Command::ConfigShow,
        "check" => Command::ConfigCheck {
            file: file.ok_or_else(|| UsageError::new(verb, "needs a file"))?,
        },
        "save" => Command::ConfigSave { file },
        _ => Command::ConfigRollback,
    })
}

/// `slot SUBCOMMAND ...`: errors name the subcommand once it is known.
fn slot(args: &[String]) -> Result<Command, UsageError> {
    let Some((sub, rest)) = args.split_first() else {
        return Err(UsageError::new(
            "slot",
            "needs a subcommand: list, locate or fault",
        ));
    };
    match sub.as_str() {
        "list" => {
            let o = Options::scan("slot list", &[('v', Arity::Switch)], rest)?;
            o.at_most(0)?;
            Ok(Command::SlotList {
                verbose: o.has('v'),
            })
        }
        "locate" => slot_indicator("slot locate", SlotLed::Locate, rest),
        "fault" => slot_indicator("slot fault", SlotLed::Fault, rest),
        other => Err(UsageError::new(
            "slot",
            format!("unknown subcommand '{other}' (list, locate or fault)"),
        )),
    }
}

/// `slot locate|fault N on|off`.
fn slot_indicator(
    verb: &'static str,
    indicator: SlotLed,
    args: &[String],
) -> Result<Command, UsageError> {
    let o = Options::scan(verb, &[], args)?;
    let (slot, state) = match o.positionals() {
        [slot, state] => (slot, state),
        [] | [_] => return Err(o.error("needs a slot and on or off")),
        [_, _, extra, ..] => return Err(o.error(format!("unexpected argument '{extra}'"))),
    };
    let slot = read(&o, "slot", slot, values::number_u32)?;
    let on = match state.as_str() {
        "on" => true,
        "off" => false,
        other => return Err(o.error(format!("'{other}' is not on or off"))),
    };
    Ok(Command::SlotIndicator {
        slot,
        indicator,
        on,
    })
}

fn help_verb(args: &[String]) -> Result<Command, UsageError> {
    let o = Options::scan("help", &[], args)?;
    o.at_most(1)?;
    let verb = o.positionals().first();
    if let Some(verb) = verb {
        if help::find(verb).is_none() {
            return Err(o.error(format!("unknown verb '{verb}' (try 'help')")));
        }
    }
    Ok(Command::Help {
        verb: verb.cloned(),
    })
}

fn no_arguments(
    verb: &'static str,
    args: &[String],
    command: Command,
) -> Result<Command, UsageError> {
    let o = Options::scan(verb, &[], args)?;
    o.at_most(0)?;
    Ok(command)
}

/// ctladm's `-x` asks for XML, which nothing here produces.
fn refuse_xml(o: &Options) -> Result<(), UsageError> {
    if o.has('x') {
        return Err(o.error("XML output is not supported"));
    }
    Ok(())
}

/// Reads `text` (the value of `what`) with `reader`, blaming the verb on failure.
fn read<T>(
    o: &Options,
    what: &str,
    text: &str,
    reader: impl FnOnce(&str, &str) -> Result<T, String>,
) -> Result<T, UsageError> {
    reader(what, text).map_err(|message| o.error(message))
}

/// The value of an optional flag, read.
fn optional<T>(
    o: &Options,
    flag: char,
    reader: impl FnOnce(&str, &str) -> Result<T, String>,
) -> Result<Option<T>, UsageError> {
    o.value(flag)
        .map(|text| read(o, &format!("-{flag}"), text, reader))
        .transpose()
}

/// Every `-o name=value`, in order.
fn lun_options(o: &Options) -> Result<Vec<(String, String)>, UsageError> {
    o.values('o')
        .map(|text| read(o, "-o", text, values::option))
        .collect()
}
