//! Splits a console line into words the way sh(1) would for a simple command: blanks separate
//! words, quotes group (`'a b'`, `"a b"`), a backslash takes the next character literally
//! (outside single quotes), and `#` at the start of a word comments out the rest.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a line did not split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordsError {
    /// The quote character (`'` or `"`) that was never closed.
    UnterminatedQuote(char),
    /// A `\` as the last character: there is no next line to continue on.
    TrailingBackslash,
}

impl fmt::Display for WordsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WordsError::UnterminatedQuote('"') => f.write_str("unterminated double quote (\")"),
            WordsError::UnterminatedQuote(q) => write!(f, "unterminated single quote ({q})"),
            WordsError::TrailingBackslash => {
                f.write_str("'\\' at the end of the line escapes nothing")
            }
        }
    }
}

impl core::error::Error for WordsError {}

/// The words of `line`. Quotes may join parts of one word (`a'b c'` is `ab c`), and a quoted
/// empty string is an (empty) word.
pub fn split(line: &str) -> Result<Vec<String>, WordsError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Distinguishes "no word yet" from a word that is empty because it was written `''`.
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\\' => {
                word.push(chars.next().ok_or(WordsError::TrailingBackslash)?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(WordsError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err(WordsError::UnterminatedQuote('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(WordsError::UnterminatedQuote('"')),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn splits_words() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   \t ", &[]),
            ("devlist", &["devlist"]),
            (
                "  create  -b\tramdisk -s 1G ",
                &["create", "-b", "ramdisk", "-s", "1G"],
            ),
            ("a 'b c' d", &["a", "b c", "d"]),
            ("a \"b c\" d", &["a", "b c", "d"]),
            ("a'b c'd", &["ab cd"]),
            ("'' \"\"", &["", ""]),
            ("-n ''", &["-n", ""]),
            ("a\\ b", &["a b"]),
            ("\\'x", &["'x"]),
            ("'a\\b'", &["a\\b"]),
            ("\"a\\\"b\\\\\"", &["a\"b\\"]),
            ("\"it's\"", &["it's"]),
            ("'say \"hi\"'", &["say \"hi\""]),
            ("# all comment", &[]),
            ("tur 0 # the first LUN", &["tur", "0"]),
            ("tur 0#1", &["tur", "0#1"]),
            ("a '#b' \\#c", &["a", "#b", "#c"]),
        ];
        for (line, words) in cases {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            assert_eq!(split(line), Ok(words), "{line:?}");
        }
    }

    #[test]
    fn refuses_an_unterminated_single_quote() {
        assert_eq!(
            split("create -n 'a b"),
            Err(WordsError::UnterminatedQuote('\''))
        );
        assert_eq!(
            WordsError::UnterminatedQuote('\'').to_string(),
            "unterminated single quote (')"
        );
    }

    #[test]
    fn refuses_an_unterminated_double_quote() {
        assert_eq!(
            split("create -n \"a b"),
            Err(WordsError::UnterminatedQuote('"'))
        );
        assert_eq!(split("\"a\\"), Err(WordsError::UnterminatedQuote('"')));
        assert_eq!(
            WordsError::UnterminatedQuote('"').to_string(),
            "unterminated double quote (\")"
        );
    }

    #[test]
    fn refuses_a_trailing_backslash() {
        assert_eq!(split("tur 0\\"), Err(WordsError::TrailingBackslash));
    }
}
