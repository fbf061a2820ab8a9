//! Splits ctl.conf text into tokens the way ctld's `token.l` does, remembering where each
//! one starts.
//!
//! ctld's rules: `#` starts a comment to the end of the line; `{`, `}` and `;` stand alone;
//! a quoted string is `"` + at least one character that is not `"` + `"`, with no escapes
//! (a backslash is an ordinary character, and a string may run over several lines);
//! anything else up to white space or one of those characters is a word. Unlike ctld, a
//! newline is a token here: dyad ends a statement at the end of its line (or at `;` or `}`),
//! which catches a missing argument where it is missing instead of on the next line.

use crate::error::{ConfigError, Place};
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// An unquoted word: a keyword, a name, a number, a path.
    Word(String),
    /// The text between a pair of `"`. Never a keyword: quoting is how a name that spells a
    /// keyword is written.
    Quoted(String),
    OpenBrace,
    CloseBrace,
    Semicolon,
    Newline,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub place: Place,
}

/// Characters that end a word.
fn ends_word(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c' | '{' | '}' | ';' | '#' | '"'
    )
}

struct Cursor<'a> {
    chars: core::iter::Peekable<core::str::Chars<'a>>,
    line: u32,
    column: u32,
}

impl Cursor<'_> {
    fn place(&self) -> Place {
        Place::new(self.line, self.column)
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }
}

/// The tokens of `text`, ending with one [`TokenKind::End`].
pub fn tokenize(file: &str, text: &str) -> Result<Vec<Token>, ConfigError> {
    let mut cur = Cursor {
        chars: text.chars().peekable(),
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    while let Some(c) = cur.peek() {
        let place = cur.place();
        let kind = match c {
            '\n' => {
                cur.bump();
                TokenKind::Newline
            }
            ' ' | '\t' | '\r' | '\x0b' | '\x0c' => {
                cur.bump();
                continue;
            }
            '#' => {
                while cur.peek().is_some_and(|c| c != '\n') {
                    cur.bump();
                }
                continue;
            }
            '{' => {
                cur.bump();
                TokenKind::OpenBrace
            }
            '}' => {
                cur.bump();
                TokenKind::CloseBrace
            }
            ';' => {
                cur.bump();
                TokenKind::Semicolon
            }
            '"' => {
                cur.bump();
                let mut s = String::new();
                loop {
                    match cur.bump() {
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err(ConfigError::new(
                            file,
                            place,
                            "quoted string is not closed: expected '\"' before the end of the file"
                                .into(),
                        )),
                    }
                }
                if s.is_empty() {
                    // ctld has no empty string: `""` is not a string token there.
                    return Err(ConfigError::new(
                        file,
                        place,
                        "empty quoted string: ctl.conf values cannot be empty".into(),
                    ));
                }
                TokenKind::Quoted(s)
            }
            _ => {
                let mut s = String::new();
                while let Some(c) = cur.peek().filter(|&c| !ends_word(c)) {
                    s.push(c);
                    cur.bump();
                }
                TokenKind::Word(s)
            }
        };
        tokens.push(Token { kind, place });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        place: cur.place(),
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize("t", text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn words_quotes_braces_comments() {
        use TokenKind::*;
        assert_eq!(
            kinds("lun a { # note\n  path \"/x y\\z\"; }"),
            vec![
                Word("lun".into()),
                Word("a".into()),
                OpenBrace,
                Newline,
                Word("path".into()),
                Quoted("/x y\\z".into()),
                Semicolon,
                CloseBrace,
                End
            ]
        );
    }

    #[test]
    fn places_count_lines_and_characters() {
        let t = tokenize("t", "a\n  \"é\n\" b").unwrap();
        let places: Vec<(u32, u32)> = t.iter().map(|t| (t.place.line, t.place.column)).collect();
        assert_eq!(places, vec![(1, 1), (1, 2), (2, 3), (3, 3), (3, 4)]);
    }

    #[test]
    fn unterminated_and_empty_quotes() {
        let e = tokenize("c", "alias \"abc").unwrap_err();
        assert_eq!((e.line, e.column), (1, 7));
        assert!(e.message.contains("not closed"));
        let e = tokenize("c", "\n alias \"\"").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8));
        assert!(e.message.contains("empty"));
    }
}
