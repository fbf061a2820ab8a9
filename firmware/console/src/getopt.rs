//! getopt(3)-style scanning of a verb's arguments, as ctladm does it: flags may be joined
//! (`-lv`), a value attached (`-l5`) or in the next word (`-l 5`), and `--` ends the flags.
//! Unlike POSIX getopt, flags may also follow positional words (`tur 5 -v` names `-v` as the
//! problem rather than calling it an extra argument), as GNU getopt allows.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::usage_error::UsageError;

/// How often a flag may appear, and whether it takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// No value; repeating it changes nothing (`-v -v`).
    Switch,
    /// One value, at most once.
    Once,
    /// A value, any number of times (`-o a=1 -o b=2`).
    Many,
}

/// The flags a verb takes.
pub type Spec = [(char, Arity)];

/// A verb's arguments, scanned.
#[derive(Debug, Clone)]
pub struct Options {
    verb: &'static str,
    /// Flags in the order given, with their values.
    given: Vec<(char, Option<String>)>,
    positionals: Vec<String>,
}

impl Options {
    /// Scans `args` (the words after the verb) against `spec`.
    pub fn scan(verb: &'static str, spec: &Spec, args: &[String]) -> Result<Self, UsageError> {
        let mut options = Options {
            verb,
            given: Vec::new(),
            positionals: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg == "--" {
                options.positionals.extend(args.cloned());
                break;
            }
            // A lone `-` is a word, as in getopt.
            let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
                options.positionals.push(arg.clone());
                continue;
            };
            for (at, flag) in cluster.char_indices() {
                let arity = spec
                    .iter()
                    .find(|(f, _)| *f == flag)
                    .map(|(_, arity)| *arity)
                    .ok_or_else(|| {
                        // Help is per verb: `slot list` is in `help slot`.
                        let help = verb.split(' ').next().unwrap_or(verb);
                        options.error(format!("unknown flag -{flag} (try 'help {help}')"))
                    })?;
                if arity == Arity::Switch {
                    options.given.push((flag, None));
                    continue;
                }
                // The value is the rest of this word, or else the next word.
                let rest = cluster.get(at + flag.len_utf8()..).unwrap_or_default();
                let value = if rest.is_empty() {
                    args.next().cloned().unwrap_or_default()
                } else {
                    String::from(rest)
                };
                // An empty value (`-n ''`) is as good as none: no flag here means "nothing".
                if value.is_empty() {
                    return Err(options.error(format!("-{flag} needs a value")));
                }
                if arity == Arity::Once && options.has(flag) {
                    return Err(options.error(format!("-{flag} given more than once")));
                }
                options.given.push((flag, Some(value)));
                break;
            }
        }
        Ok(options)
    }

    /// An error about this verb.
    pub fn error(&self, message: impl Into<String>) -> UsageError {
        UsageError::new(self.verb, message)
    }

    /// Whether `flag` was given.
    pub fn has(&self, flag: char) -> bool {
        self.given.iter().any(|(f, _)| *f == flag)
    }

    /// The value of a flag given once.
    pub fn value(&self, flag: char) -> Option<&str> {
        self.values(flag).next()
    }

    /// Every value of a repeatable flag, in order.
    pub fn values(&self, flag: char) -> impl Iterator<Item = &str> {
        self.given
            .iter()
            .filter(move |(f, _)| *f == flag)
            .filter_map(|(_, v)| v.as_deref())
    }

    /// A value the verb cannot do without.
    pub fn required(&self, flag: char) -> Result<&str, UsageError> {
        self.value(flag)
            .ok_or_else(|| self.error(format!("-{flag} is required")))
    }

    /// The words that are not flags or their values.
    pub fn positionals(&self) -> &[String] {
        &self.positionals
    }

    /// Refuses positional words beyond the first `allowed`.
    pub fn at_most(&self, allowed: usize) -> Result<(), UsageError> {
        match self.positionals.get(allowed) {
            Some(extra) => Err(self.error(format!("unexpected argument '{extra}'"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const SPEC: &Spec = &[
        ('v', Arity::Switch),
        ('q', Arity::Switch),
        ('l', Arity::Once),
        ('o', Arity::Many),
    ];

    fn scan(args: &str) -> Result<Options, UsageError> {
        let words: Vec<String> = args.split_whitespace().map(String::from).collect();
        Options::scan("verb", SPEC, &words)
    }

    fn error(args: &str) -> String {
        scan(args).unwrap_err().to_string()
    }

    #[test]
    fn joined_attached_and_separate() {
        let o = scan("-vl5 -o a=1 -oa=2 x -q -- -l y").unwrap();
        assert!(o.has('v') && o.has('q'));
        assert_eq!(o.value('l'), Some("5"));
        assert_eq!(o.values('o').collect::<Vec<_>>(), ["a=1", "a=2"]);
        assert_eq!(o.positionals(), ["x", "-l", "y"]);
        let o = scan("-l -v - -vv").unwrap();
        assert_eq!(o.value('l'), Some("-v"));
        assert_eq!(o.positionals(), ["-"]);
        assert!(!o.has('q'));
        assert!(o.at_most(1).is_ok());
    }

    #[test]
    fn refuses_unknown_flags() {
        assert_eq!(error("-vx"), "verb: unknown flag -x (try 'help verb')");
        assert_eq!(error("-é"), "verb: unknown flag -é (try 'help verb')");
    }

    #[test]
    fn refuses_a_missing_value() {
        assert_eq!(error("-v -l"), "verb: -l needs a value");
        assert_eq!(error("-vo"), "verb: -o needs a value");
    }

    #[test]
    fn refuses_an_empty_value() {
        let words = ["-l".to_string(), String::new()];
        assert_eq!(
            Options::scan("verb", SPEC, &words).unwrap_err().to_string(),
            "verb: -l needs a value"
        );
    }

    #[test]
    fn refuses_a_repeated_single_valued_flag() {
        assert_eq!(error("-l 1 -l1"), "verb: -l given more than once");
    }

    #[test]
    fn refuses_extra_words_and_missing_required_flags() {
        let o = scan("a b").unwrap();
        assert_eq!(
            o.at_most(1).unwrap_err().to_string(),
            "verb: unexpected argument 'b'"
        );
        assert_eq!(
            o.required('l').unwrap_err().to_string(),
            "verb: -l is required"
        );
    }
}
