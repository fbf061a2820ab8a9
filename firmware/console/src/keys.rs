//! Turns the bytes a terminal sends into editing keys: printable characters, control keys,
//! and the ANSI escape sequences of the arrow, Home, End and Delete keys. Every other escape
//! sequence is swallowed whole, so its bytes never end up in the line.

/// One key press, as the line editor acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable ASCII character (0x20..=0x7e).
    Insert(u8),
    /// CR, LF, or CR LF (counted once).
    Enter,
    /// Backspace (0x08) or DEL (0x7f): the character before the cursor.
    Backspace,
    /// The Delete key (`ESC [ 3 ~`): the character under the cursor.
    Delete,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D.
    CtrlD,
    /// Ctrl-U.
    KillLine,
    /// Ctrl-W.
    KillWord,
    /// Ctrl-A, or the Home key.
    Home,
    /// Ctrl-E, or the End key.
    End,
    Left,
    Right,
    Up,
    Down,
}

/// Longest escape sequence followed. No terminal sends longer ones for the keys we know, so a
/// longer run is line noise: giving up on it lets the user's typing show again instead of
/// vanishing into a sequence that never ends.
pub const MAX_ESCAPE: u8 = 32;

const BS: u8 = 0x08;
const DEL: u8 = 0x7f;
const ESC: u8 = 0x1b;
const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Where the decoder is within an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC, with `len` intermediate bytes (0x20..=0x2f) so far.
    Escape {
        len: u8,
    },
    /// After `ESC [` (CSI) or `ESC O` (SS3, `ss3`): parameter and intermediate bytes up to a
    /// final byte. Only the first numeric parameter matters (`ESC [ 3 ~`), so only it is kept,
    /// saturating rather than growing.
    Sequence {
        ss3: bool,
        len: u8,
        first: u16,
        in_first: bool,
    },
}

/// A byte-fed decoder of terminal input into [`Key`]s.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    state: State,
    /// The previous byte was a CR, so a LF now is the second half of a CR LF line end.
    after_cr: bool,
}

impl Default for KeyDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyDecoder {
    pub const fn new() -> Self {
        KeyDecoder {
            state: State::Ground,
            after_cr: false,
        }
    }

    /// The key `byte` completes, if any.
    pub fn decode(&mut self, byte: u8) -> Option<Key> {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.state {
            State::Ground => self.ground(byte, after_cr),
            State::Escape { len } => self.escape(byte, len),
            State::Sequence {
                ss3,
                len,
                first,
                in_first,
            } => self.sequence(byte, ss3, len, first, in_first),
        }
    }

    fn ground(&mut self, byte: u8, after_cr: bool) -> Option<Key> {
        match byte {
            CR => {
                self.after_cr = true;
                Some(Key::Enter)
            }
            LF if after_cr => None,
            LF => Some(Key::Enter),
            0x01 => Some(Key::Home),
            0x03 => Some(Key::Interrupt),
            0x04 => Some(Key::CtrlD),
            0x05 => Some(Key::End),
            BS | DEL => Some(Key::Backspace),
            0x15 => Some(Key::KillLine),
            0x17 => Some(Key::KillWord),
            ESC => {
                self.state = State::Escape { len: 0 };
                None
            }
            0x20..=0x7e => Some(Key::Insert(byte)),
            // Other control bytes (Tab, Ctrl-L, ...) and anything non-ASCII.
            _ => None,
        }
    }

    /// After ESC: `[` or `O` open a sequence with parameters; intermediates (`ESC ( B`) run to
    /// a final byte; any other printable byte ends a two-byte sequence (Alt-x).
    fn escape(&mut self, byte: u8, len: u8) -> Option<Key> {
        match byte {
            b'[' | b'O' if len == 0 => {
                self.state = State::Sequence {
                    ss3: byte == b'O',
                    len: 0,
                    first: 0,
                    in_first: true,
                };
                None
            }
            0x20..=0x2f => {
                self.state = if len >= MAX_ESCAPE {
                    State::Ground
                } else {
                    State::Escape { len: len + 1 }
                };
                None
            }
            0x30..=0x7e => {
                self.state = State::Ground;
                None
            }
            _ => self.interrupted(byte),
        }
    }

    fn sequence(
        &mut self,
        byte: u8,
        ss3: bool,
        len: u8,
        first: u16,
        in_first: bool,
    ) -> Option<Key> {
        match byte {
            // Parameter bytes (digits, `;`, `<=>?`) and intermediates.
            0x20..=0x3f => {
                if len >= MAX_ESCAPE {
                    self.state = State::Ground;
                    return None;
                }
                let (first, in_first) = match byte {
                    b'0'..=b'9' if in_first => (
                        first
                            .saturating_mul(10)
                            .saturating_add(u16::from(byte - b'0')),
                        true,
                    ),
                    _ => (first, false),
                };
                self.state = State::Sequence {
                    ss3,
                    len: len + 1,
                    first,
                    in_first,
                };
                None
            }
            0x40..=0x7e => {
                self.state = State::Ground;
                // Modifiers (`ESC [ 1 ; 5 C`, Ctrl-Right) are ignored: the arrow still moves.
                match byte {
                    b'A' => Some(Key::Up),
                    b'B' => Some(Key::Down),
                    b'C' => Some(Key::Right),
                    b'D' => Some(Key::Left),
                    b'H' => Some(Key::Home),
                    b'F' => Some(Key::End),
                    b'~' if !ss3 => match first {
                        1 | 7 => Some(Key::Home),
                        3 => Some(Key::Delete),
                        4 | 8 => Some(Key::End),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => self.interrupted(byte),
        }
    }

    /// A byte that cannot be part of the sequence ends it unfinished and counts on its own, so
    /// Enter or Ctrl-C always work, even after a stray ESC. A new ESC starts a new sequence.
    fn interrupted(&mut self, byte: u8) -> Option<Key> {
        self.state = State::Ground;
        self.ground(byte, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        let mut d = KeyDecoder::new();
        bytes.iter().filter_map(|&b| d.decode(b)).collect()
    }

    #[test]
    fn printable_and_control_keys() {
        assert_eq!(
            keys(b"a~ \x01\x03\x04\x05\x08\x7f\x15\x17"),
            [
                Key::Insert(b'a'),
                Key::Insert(b'~'),
                Key::Insert(b' '),
                Key::Home,
                Key::Interrupt,
                Key::CtrlD,
                Key::End,
                Key::Backspace,
                Key::Backspace,
                Key::KillLine,
                Key::KillWord,
            ]
        );
    }

    #[test]
    fn line_ends() {
        assert_eq!(keys(b"\r"), [Key::Enter]);
        assert_eq!(keys(b"\n"), [Key::Enter]);
        assert_eq!(keys(b"\r\n"), [Key::Enter]);
        assert_eq!(keys(b"\r\r"), [Key::Enter, Key::Enter]);
        assert_eq!(keys(b"\n\n"), [Key::Enter, Key::Enter]);
        assert_eq!(keys(b"\r\n\n"), [Key::Enter, Key::Enter]);
        assert_eq!(keys(b"\n\r"), [Key::Enter, Key::Enter]);
        // Only a LF right after the CR is its partner.
        assert_eq!(keys(b"\rx\n"), [Key::Enter, Key::Insert(b'x'), Key::Enter]);
    }

    #[test]
    fn ignores_other_controls_and_non_ascii() {
        assert_eq!(keys(b"\t\x00\x0c\x1f\x80\xc3\xa9\xff"), []);
    }

    #[test]
    fn arrows_home_end_delete() {
        assert_eq!(
            keys(b"\x1b[A\x1b[B\x1b[C\x1b[D\x1bOA\x1bOB\x1bOC\x1bOD"),
            [
                Key::Up,
                Key::Down,
                Key::Right,
                Key::Left,
                Key::Up,
                Key::Down,
                Key::Right,
                Key::Left,
            ]
        );
        assert_eq!(
            keys(b"\x1b[H\x1b[F\x1bOH\x1bOF\x1b[1~\x1b[7~\x1b[4~\x1b[8~\x1b[3~"),
            [
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home,
                Key::Home,
                Key::End,
                Key::End,
                Key::Delete,
            ]
        );
        assert_eq!(keys(b"\x1b[1;5C"), [Key::Right]);
    }

    #[test]
    fn swallows_unknown_sequences() {
        // F5, Page Up, a colour, cursor position report, charset, Alt-x, SS3 F1, F12 (`24~`).
        for seq in [
            &b"\x1b[15~"[..],
            b"\x1b[5~",
            b"\x1b[1;31m",
            b"\x1b[12;40R",
            b"\x1b(B",
            b"\x1bx",
            b"\x1bOP",
            b"\x1b[24~",
            b"\x1b[?1049h",
            b"\x1b[99999999999~",
        ] {
            let mut input = Vec::from(seq);
            input.push(b'z');
            assert_eq!(keys(&input), [Key::Insert(b'z')], "{seq:?}");
        }
    }

    #[test]
    fn a_control_byte_ends_a_sequence_and_counts() {
        assert_eq!(keys(b"\x1b\r"), [Key::Enter]);
        assert_eq!(keys(b"\x1b[12\x03"), [Key::Interrupt]);
        assert_eq!(keys(b"\x1bO\x7f"), [Key::Backspace]);
        assert_eq!(keys(b"\x1b[1\x1b[A"), [Key::Up]);
        assert_eq!(keys(b"\x1b\x1b[B"), [Key::Down]);
        assert_eq!(keys(b"\x1b[\xc3x"), [Key::Insert(b'x')]);
    }

    #[test]
    fn gives_up_on_overlong_sequences() {
        let mut input = Vec::from(&b"\x1b["[..]);
        input.extend(core::iter::repeat_n(b'1', usize::from(MAX_ESCAPE)));
        // The sequence is at its bound; the next parameter byte abandons it, and what follows
        // is typing again.
        input.extend_from_slice(b"12ab");
        assert_eq!(
            keys(&input),
            [Key::Insert(b'2'), Key::Insert(b'a'), Key::Insert(b'b')]
        );
        let mut input = Vec::from(&b"\x1b"[..]);
        input.extend(core::iter::repeat_n(b'(', usize::from(MAX_ESCAPE) + 1));
        input.push(b'y');
        assert_eq!(keys(&input), [Key::Insert(b'y')]);
    }
}
