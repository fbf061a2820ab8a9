//! Fault injection on the sim board's interlink NIC: a cut cable, lost, late, doubled,
//! reordered and damaged frames, set at run time (from tests, and from the console's
//! `interlink fault ...` verb) through a [`FaultHandle`] shared with the NIC.
//!
//! The verbs, one per command, each changing one part of the plan and leaving the rest:
//!
//! ```text
//! cut            the cable is cut: no frame leaves and none is heard, both ways
//! drop PCT       PCT % of the frames sent are lost
//! delay MS       every frame sent arrives MS ms late
//! dup [PCT]      PCT % (default 100) of the frames sent arrive twice
//! reorder [PCT]  PCT % (default 100) of the frames sent arrive 1 ms late, after later ones
//! corrupt [PCT]  PCT % (default 100) of the frames sent have one byte flipped past the
//!                Ethernet header (the frames carry no FCS: the IP and TCP checksums catch it)
//! clear          no faults
//! ```
//!
//! All but `cut` act on the frames this NIC sends; a cut on either NIC stops both directions.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The longest delay `delay MS` takes, in milliseconds.
pub const MAX_DELAY_MS: u32 = 10_000;

/// What the NIC does to the frames it carries. The default is no faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultPlan {
    /// The cable is cut: nothing is sent or heard.
    pub cut: bool,
    /// Percent of the frames sent that are lost.
    pub drop_pct: u8,
    /// Milliseconds every frame sent is held back.
    pub delay_ms: u32,
    /// Percent of the frames sent that are sent twice.
    pub dup_pct: u8,
    /// Percent of the frames sent that are held back 1 ms so later frames overtake them.
    pub reorder_pct: u8,
    /// Percent of the frames sent with one byte flipped.
    pub corrupt_pct: u8,
}

/// One `interlink fault` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCommand {
    Cut,
    Drop(u8),
    Delay(u32),
    Dup(u8),
    Reorder(u8),
    Corrupt(u8),
    Clear,
}

/// Why a fault command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultParseError {
    /// Nothing was given.
    Empty,
    /// The first word is no verb.
    UnknownVerb(String),
    /// The verb needs a number and got none.
    MissingArgument(&'static str),
    /// The verb's argument is not a whole number.
    BadNumber { verb: &'static str, text: String },
    /// The verb's argument is past its largest value.
    OutOfRange {
        verb: &'static str,
        value: u64,
        max: u32,
    },
    /// Words after the verb's argument.
    ExtraArgument { verb: &'static str, text: String },
}

impl fmt::Display for FaultParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultParseError::Empty => write!(
                f,
                "no fault given (cut, drop PCT, delay MS, dup, reorder, corrupt, clear)"
            ),
            FaultParseError::UnknownVerb(v) => write!(
                f,
                "unknown fault `{v}` (cut, drop PCT, delay MS, dup, reorder, corrupt, clear)"
            ),
            FaultParseError::MissingArgument(verb) => {
                write!(f, "`{verb}` needs {}", argument_name(verb))
            }
            FaultParseError::BadNumber { verb, text } => {
                write!(f, "`{verb}`: `{text}` is not {}", argument_name(verb))
            }
            FaultParseError::OutOfRange { verb, value, max } => {
                write!(f, "`{verb}`: {value} is more than {max}")
            }
            FaultParseError::ExtraArgument { verb, text } => {
                write!(f, "`{verb}`: unexpected `{text}`")
            }
        }
    }
}

impl std::error::Error for FaultParseError {}

fn argument_name(verb: &str) -> &'static str {
    if verb == "delay" {
        "a delay in milliseconds (0-10000)"
    } else {
        "a percentage (0-100)"
    }
}

fn number(verb: &'static str, text: &str, max: u32) -> Result<u32, FaultParseError> {
    let text = text.strip_suffix('%').unwrap_or(text);
    let text = if verb == "delay" {
        text.strip_suffix("ms").unwrap_or(text)
    } else {
        text
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FaultParseError::BadNumber {
            verb,
            text: text.to_string(),
        });
    }
    let value: u64 = text.parse().unwrap_or(u64::MAX);
    if value > u64::from(max) {
        return Err(FaultParseError::OutOfRange { verb, value, max });
    }
    Ok(value as u32)
}

impl FaultCommand {
    /// Reads one command: `drop 10`, `delay 5`, `cut`, ...
    pub fn parse(text: &str) -> Result<FaultCommand, FaultParseError> {
        let mut words = text.split_whitespace();
        let verb = words.next().ok_or(FaultParseError::Empty)?;
        let verb: &'static str = match verb.to_ascii_lowercase().as_str() {
            "cut" => "cut",
            "drop" => "drop",
            "delay" => "delay",
            "dup" => "dup",
            "reorder" => "reorder",
            "corrupt" => "corrupt",
            "clear" => "clear",
            _ => return Err(FaultParseError::UnknownVerb(verb.to_string())),
        };
        let argument = words.next();
        if let Some(extra) = words.next() {
            return Err(FaultParseError::ExtraArgument {
                verb,
                text: extra.to_string(),
            });
        }
        let pct = |default: Option<u8>| -> Result<u8, FaultParseError> {
            match (argument, default) {
                (Some(text), _) => number(verb, text, 100).map(|v| v as u8),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(FaultParseError::MissingArgument(verb)),
            }
        };
        Ok(match verb {
            "cut" | "clear" => {
                if let Some(text) = argument {
                    return Err(FaultParseError::ExtraArgument {
                        verb,
                        text: text.to_string(),
                    });
                }
                if verb == "cut" {
                    FaultCommand::Cut
                } else {
                    FaultCommand::Clear
                }
            }
            "drop" => FaultCommand::Drop(pct(None)?),
            "delay" => {
                let text = argument.ok_or(FaultParseError::MissingArgument(verb))?;
                FaultCommand::Delay(number(verb, text, MAX_DELAY_MS)?)
            }
            "dup" => FaultCommand::Dup(pct(Some(100))?),
            "reorder" => FaultCommand::Reorder(pct(Some(100))?),
            _ => FaultCommand::Corrupt(pct(Some(100))?),
        })
    }
}

impl FaultPlan {
    /// No faults.
    pub const CLEAR: FaultPlan = FaultPlan {
        cut: false,
        drop_pct: 0,
        delay_ms: 0,
        dup_pct: 0,
        reorder_pct: 0,
        corrupt_pct: 0,
    };

    /// A plan from commands separated by commas or semicolons, starting from no faults:
    /// `FaultPlan::parse("drop 10, delay 5")`.
    pub fn parse(text: &str) -> Result<FaultPlan, FaultParseError> {
        let mut plan = FaultPlan::CLEAR;
        let mut any = false;
        for part in text.split([',', ';']) {
            if part.trim().is_empty() {
                continue;
            }
            plan.apply(FaultCommand::parse(part)?);
            any = true;
        }
        if any {
            Ok(plan)
        } else {
            Err(FaultParseError::Empty)
        }
    }

    /// Changes the part of the plan `command` names.
    pub fn apply(&mut self, command: FaultCommand) {
        match command {
            FaultCommand::Cut => self.cut = true,
            FaultCommand::Drop(p) => self.drop_pct = p,
            FaultCommand::Delay(ms) => self.delay_ms = ms,
            FaultCommand::Dup(p) => self.dup_pct = p,
            FaultCommand::Reorder(p) => self.reorder_pct = p,
            FaultCommand::Corrupt(p) => self.corrupt_pct = p,
            FaultCommand::Clear => *self = FaultPlan::CLEAR,
        }
    }

    /// Whether no fault is set.
    pub fn is_clear(&self) -> bool {
        *self == FaultPlan::CLEAR
    }
}

impl fmt::Display for FaultPlan {
    /// `clear`, or the faults set: `cut, drop 10%, delay 5 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clear() {
            return f.write_str("clear");
        }
        let mut parts = Vec::new();
        if self.cut {
            parts.push("cut".to_string());
        }
        for (name, pct) in [
            ("drop", self.drop_pct),
            ("dup", self.dup_pct),
            ("reorder", self.reorder_pct),
            ("corrupt", self.corrupt_pct),
        ] {
            if pct > 0 {
                parts.push(format!("{name} {pct}%"));
            }
        }
        if self.delay_ms > 0 {
            parts.push(format!("delay {} ms", self.delay_ms));
        }
        f.write_str(&parts.join(", "))
    }
}

/// The plan a NIC follows, shared with whoever changes it (tests, the console).
#[derive(Debug, Clone, Default)]
pub struct FaultHandle(Arc<Mutex<FaultPlan>>);

impl FaultHandle {
    /// A handle with no faults set.
    pub fn new() -> FaultHandle {
        FaultHandle::default()
    }

    fn lock(&self) -> MutexGuard<'_, FaultPlan> {
        // A plan is plain data: a panic elsewhere cannot leave it half-written.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The plan now.
    pub fn plan(&self) -> FaultPlan {
        *self.lock()
    }

    /// Replaces the plan.
    pub fn set(&self, plan: FaultPlan) {
        *self.lock() = plan;
    }

    /// Applies one command.
    pub fn apply(&self, command: FaultCommand) -> FaultPlan {
        let mut plan = self.lock();
        plan.apply(command);
        *plan
    }

    /// Reads and applies one command (the console verb's words after `interlink fault`);
    /// the plan it leaves.
    pub fn command(&self, text: &str) -> Result<FaultPlan, FaultParseError> {
        Ok(self.apply(FaultCommand::parse(text)?))
    }

    /// No faults.
    pub fn clear(&self) {
        self.set(FaultPlan::CLEAR);
    }
}

/// A small fast generator for the fault dice (xorshift64*): deterministic from its seed.
#[derive(Debug, Clone)]
pub(crate) struct Dice(u64);

impl Dice {
    pub(crate) fn new(seed: u64) -> Dice {
        Dice(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True `pct` times in a hundred.
    pub(crate) fn chance(&mut self, pct: u8) -> bool {
        pct > 0 && (pct >= 100 || self.next() % 100 < u64::from(pct))
    }

    /// A number in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(FaultCommand::parse("cut"), Ok(FaultCommand::Cut));
        assert_eq!(FaultCommand::parse(" drop 10 "), Ok(FaultCommand::Drop(10)));
        assert_eq!(FaultCommand::parse("drop 10%"), Ok(FaultCommand::Drop(10)));
        assert_eq!(FaultCommand::parse("delay 5"), Ok(FaultCommand::Delay(5)));
        assert_eq!(FaultCommand::parse("delay 5ms"), Ok(FaultCommand::Delay(5)));
        assert_eq!(FaultCommand::parse("dup"), Ok(FaultCommand::Dup(100)));
        assert_eq!(FaultCommand::parse("dup 3"), Ok(FaultCommand::Dup(3)));
        assert_eq!(
            FaultCommand::parse("reorder"),
            Ok(FaultCommand::Reorder(100))
        );
        assert_eq!(
            FaultCommand::parse("CORRUPT 1"),
            Ok(FaultCommand::Corrupt(1))
        );
        assert_eq!(FaultCommand::parse("clear"), Ok(FaultCommand::Clear));
    }

    #[test]
    fn plans_accumulate_and_clear() {
        let plan = FaultPlan::parse("drop 10, delay 5; corrupt 2").unwrap();
        assert_eq!(plan.drop_pct, 10);
        assert_eq!(plan.delay_ms, 5);
        assert_eq!(plan.corrupt_pct, 2);
        assert_eq!(plan.to_string(), "drop 10%, corrupt 2%, delay 5 ms");
        let handle = FaultHandle::new();
        handle.set(plan);
        assert_eq!(
            handle.command("cut").unwrap().to_string(),
            "cut, drop 10%, corrupt 2%, delay 5 ms"
        );
        assert_eq!(handle.command("clear").unwrap(), FaultPlan::CLEAR);
        assert_eq!(handle.plan().to_string(), "clear");
    }

    #[test]
    fn an_empty_command_is_refused() {
        assert_eq!(FaultCommand::parse("  "), Err(FaultParseError::Empty));
        assert_eq!(FaultPlan::parse(" , "), Err(FaultParseError::Empty));
        assert!(FaultParseError::Empty
            .to_string()
            .contains("no fault given"));
    }

    #[test]
    fn an_unknown_verb_is_named() {
        let e = FaultCommand::parse("explode 3").unwrap_err();
        assert_eq!(e, FaultParseError::UnknownVerb("explode".into()));
        assert!(e.to_string().contains("`explode`"), "{e}");
    }

    #[test]
    fn drop_and_delay_need_a_number() {
        assert_eq!(
            FaultCommand::parse("drop"),
            Err(FaultParseError::MissingArgument("drop"))
        );
        let e = FaultCommand::parse("delay").unwrap_err();
        assert_eq!(e, FaultParseError::MissingArgument("delay"));
        assert!(e.to_string().contains("milliseconds"), "{e}");
    }

    #[test]
    fn a_bad_number_is_named() {
        let e = FaultCommand::parse("drop ten").unwrap_err();
        assert_eq!(
            e,
            FaultParseError::BadNumber {
                verb: "drop",
                text: "ten".into()
            }
        );
        assert!(e.to_string().contains("`ten` is not a percentage"), "{e}");
        assert!(matches!(
            FaultCommand::parse("drop -1"),
            Err(FaultParseError::BadNumber { .. })
        ));
        assert!(matches!(
            FaultCommand::parse("delay 1.5"),
            Err(FaultParseError::BadNumber { .. })
        ));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let e = FaultCommand::parse("drop 101").unwrap_err();
        assert_eq!(
            e,
            FaultParseError::OutOfRange {
                verb: "drop",
                value: 101,
                max: 100
            }
        );
        assert!(e.to_string().contains("101 is more than 100"), "{e}");
        assert!(matches!(
            FaultCommand::parse("delay 10001"),
            Err(FaultParseError::OutOfRange { max: 10_000, .. })
        ));
        assert!(matches!(
            FaultCommand::parse("corrupt 99999999999999999999999"),
            Err(FaultParseError::OutOfRange { .. })
        ));
    }

    #[test]
    fn extra_words_are_refused() {
        let e = FaultCommand::parse("drop 10 20").unwrap_err();
        assert_eq!(
            e,
            FaultParseError::ExtraArgument {
                verb: "drop",
                text: "20".into()
            }
        );
        assert!(e.to_string().contains("unexpected `20`"), "{e}");
        assert!(matches!(
            FaultCommand::parse("cut now"),
            Err(FaultParseError::ExtraArgument { verb: "cut", .. })
        ));
        assert!(matches!(
            FaultCommand::parse("clear 1"),
            Err(FaultParseError::ExtraArgument { verb: "clear", .. })
        ));
    }

    #[test]
    fn dice_follow_the_odds() {
        let mut dice = Dice::new(7);
        assert!(!dice.chance(0));
        assert!(dice.chance(100));
        let hits = (0..10_000).filter(|_| dice.chance(10)).count();
        assert!((800..1200).contains(&hits), "{hits}");
    }
}
