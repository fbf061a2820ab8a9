//! A byte-fed line editor for a raw terminal (a UART or a socket in raw mode): it echoes what
//! is typed, edits the line in the middle, walks the history, and hands back whole lines. It
//! does no I/O itself, so the same code runs on a board, in the simulator and in tests.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::history::History;
use crate::keys::{Key, KeyDecoder};

/// Longest line, in bytes. Far beyond any command; the bound keeps a stuck sender or line
/// noise from growing the line without end.
pub const MAX_LINE: usize = 1024;

/// Echoed when a key cannot be honoured because the line is full.
const BEL: &[u8] = b"\x07";
/// Erases to the end of the screen line.
const ERASE_TO_END: &[u8] = b"\x1b[K";

/// What a fed byte completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorEvent {
    /// Enter: the line typed (printable ASCII only, at most [`MAX_LINE`] bytes). The editor has
    /// echoed `\r\n`.
    Line(String),
    /// Ctrl-C: the line was discarded. Nothing was echoed; the caller shows `^C`.
    Interrupt,
    /// Ctrl-D on an empty line.
    EndOfInput,
}

#[derive(Debug, Clone)]
pub struct LineEditor {
    prompt: String,
    /// Printable ASCII only, so every byte is one character and one screen column.
    line: Vec<u8>,
    /// Byte offset in `line`, at most its length.
    cursor: usize,
    keys: KeyDecoder,
    history: History,
}

impl LineEditor {
    pub fn new(prompt: &str) -> Self {
        LineEditor {
            prompt: prompt.into(),
            line: Vec::new(),
            cursor: 0,
            keys: KeyDecoder::new(),
            history: History::new(),
        }
    }

    /// The prompt used from the next redraw or [`print_prompt`](Self::print_prompt) on.
    pub fn set_prompt(&mut self, prompt: &str) {
        self.prompt = prompt.into();
    }

    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// Writes the prompt followed by the line being edited, if any, with the cursor where it
    /// belongs: what a fresh screen line needs after other output.
    pub fn print_prompt(&self, echo: &mut impl FnMut(&[u8])) {
        echo(self.prompt.as_bytes());
        echo(&self.line);
        self.cursor_back(echo);
    }

    /// The line being edited.
    pub fn line(&self) -> &str {
        // Only printable ASCII is ever inserted, so this never falls back.
        core::str::from_utf8(&self.line).unwrap_or_default()
    }

    /// The cursor's byte offset in [`line`](Self::line).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.entries()
    }

    /// Takes one byte from the terminal, writes what the terminal must show through `echo`,
    /// and reports a finished line, Ctrl-C or Ctrl-D.
    pub fn feed(&mut self, byte: u8, echo: &mut impl FnMut(&[u8])) -> Option<EditorEvent> {
        let key = self.keys.decode(byte)?;
        match key {
            Key::Insert(c) => self.insert(c, echo),
            Key::Enter => {
                echo(b"\r\n");
                let line = self.take_line();
                self.history.push(&line);
                return Some(EditorEvent::Line(line));
            }
            Key::Interrupt => {
                self.take_line();
                self.history.stop();
                return Some(EditorEvent::Interrupt);
            }
            Key::CtrlD if self.line.is_empty() => {
                self.history.stop();
                return Some(EditorEvent::EndOfInput);
            }
            // On a non-empty line Ctrl-D deletes under the cursor, as in readline.
            Key::CtrlD | Key::Delete => {
                if self.cursor < self.line.len() {
                    self.line.remove(self.cursor);
                    self.redraw(echo);
                }
            }
            Key::Backspace => self.backspace(echo),
            Key::KillLine => {
                if !self.line.is_empty() {
                    self.line.clear();
                    self.cursor = 0;
                    self.redraw(echo);
                }
            }
            Key::KillWord => self.kill_word(echo),
            Key::Home => self.move_to(0, echo),
            Key::End => self.move_to(self.line.len(), echo),
            Key::Left => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    echo(b"\x1b[D");
                }
            }
            Key::Right => {
                if self.cursor < self.line.len() {
                    self.cursor += 1;
                    echo(b"\x1b[C");
                }
            }
            Key::Up => {
                let current = String::from(self.line());
                if let Some(entry) = self.history.older(&current) {
                    let entry = Vec::from(entry.as_bytes());
                    self.replace_line(entry, echo);
                }
            }
            Key::Down => {
                if let Some(entry) = self.history.newer() {
                    let entry = Vec::from(entry.as_bytes());
                    self.replace_line(entry, echo);
                }
            }
        }
        None
    }

    fn insert(&mut self, c: u8, echo: &mut impl FnMut(&[u8])) {
        if self.line.len() >= MAX_LINE {
            echo(BEL);
            return;
        }
        self.line.insert(self.cursor, c);
        self.cursor += 1;
        if self.cursor == self.line.len() {
            // Typing at the end, the common case: one byte on the wire, no redraw.
            echo(&[c]);
        } else {
            self.redraw(echo);
        }
    }

    fn backspace(&mut self, echo: &mut impl FnMut(&[u8])) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        self.line.remove(self.cursor);
        if self.cursor == self.line.len() {
            echo(b"\x08 \x08");
        } else {
            self.redraw(echo);
        }
    }

    /// Ctrl-W: the word before the cursor and the blanks after it, as in a shell.
    fn kill_word(&mut self, echo: &mut impl FnMut(&[u8])) {
        let before = self.line.get(..self.cursor).unwrap_or_default();
        let blanks = before.iter().rev().take_while(|&&b| b == b' ').count();
        let word = before
            .iter()
            .rev()
            .skip(blanks)
            .take_while(|&&b| b != b' ')
            .count();
        if blanks + word == 0 {
            return;
        }
        let start = self.cursor - blanks - word;
        self.line.drain(start..self.cursor);
        self.cursor = start;
        self.redraw(echo);
    }

    fn move_to(&mut self, cursor: usize, echo: &mut impl FnMut(&[u8])) {
        if cursor != self.cursor {
            self.cursor = cursor;
            self.redraw(echo);
        }
    }

    /// Shows a history entry (or the draft) in place of the line, cursor at its end.
    fn replace_line(&mut self, line: Vec<u8>, echo: &mut impl FnMut(&[u8])) {
        self.line = line;
        self.line.truncate(MAX_LINE);
        self.cursor = self.line.len();
        self.redraw(echo);
    }

    fn take_line(&mut self) -> String {
        self.cursor = 0;
        core::mem::take(&mut self.line)
            .into_iter()
            .map(char::from)
            .collect()
    }

    /// Rewrites the whole screen line: back to column 0, the prompt and the line, erase what
    /// an older, longer line left, and step back to the cursor. Costs a line's worth of bytes,
    /// but is right whatever changed.
    fn redraw(&self, echo: &mut impl FnMut(&[u8])) {
        echo(b"\r");
        echo(self.prompt.as_bytes());
        echo(&self.line);
        echo(ERASE_TO_END);
        self.cursor_back(echo);
    }

    /// Moves the terminal's cursor from the end of the line back to the editor's cursor.
    fn cursor_back(&self, echo: &mut impl FnMut(&[u8])) {
        let back = self.line.len().saturating_sub(self.cursor);
        if back > 0 {
            echo(format!("\x1b[{back}D").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Feeds `input`, returning the events and everything echoed.
    fn run(editor: &mut LineEditor, input: &[u8]) -> (Vec<EditorEvent>, Vec<u8>) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        for &b in input {
            if let Some(e) = editor.feed(b, &mut |bytes: &[u8]| out.extend_from_slice(bytes)) {
                events.push(e);
            }
        }
        (events, out)
    }

    fn lines(input: &[u8]) -> Vec<EditorEvent> {
        run(&mut LineEditor::new("> "), input).0
    }

    fn line(text: &str) -> EditorEvent {
        EditorEvent::Line(text.into())
    }

    #[test]
    fn echoes_typing_and_ends_lines_with_crlf() {
        let mut e = LineEditor::new("> ");
        let (events, out) = run(&mut e, b"tur 0\r");
        assert_eq!(events, [line("tur 0")]);
        assert_eq!(out, b"tur 0\r\n");
        assert_eq!(e.line(), "");
        assert_eq!(e.cursor(), 0);
    }

    #[test]
    fn cr_lf_and_lf_each_end_one_line() {
        assert_eq!(
            lines(b"a\r\nb\nc\r\r\n"),
            [line("a"), line("b"), line("c"), line("")]
        );
    }

    #[test]
    fn backspace_and_del() {
        let mut e = LineEditor::new("> ");
        let (events, out) = run(&mut e, b"ab\x08c\x7f\x7f\x7fd\r");
        assert_eq!(events, [line("d")]);
        assert_eq!(out, b"ab\x08 \x08c\x08 \x08\x08 \x08d\r\n");
    }

    #[test]
    fn inserts_in_the_middle() {
        let mut e = LineEditor::new("> ");
        let (_, out) = run(&mut e, b"ac\x1b[Db");
        assert_eq!(e.line(), "abc");
        assert_eq!(e.cursor(), 2);
        assert_eq!(out, b"ac\x1b[D\r> abc\x1b[K\x1b[1D");
        assert_eq!(run(&mut e, b"\r").0, [line("abc")]);
    }

    #[test]
    fn left_and_right_stop_at_the_ends() {
        let mut e = LineEditor::new("> ");
        let (_, out) = run(&mut e, b"a\x1b[C\x1b[D\x1b[D\x1bOD");
        assert_eq!(out, b"a\x1b[D");
        assert_eq!(e.cursor(), 0);
        let (_, out) = run(&mut e, b"\x1b[C\x1bOC");
        assert_eq!(out, b"\x1b[C");
        assert_eq!(e.cursor(), 1);
    }

    #[test]
    fn home_and_end() {
        for (home, end) in [
            (&b"\x01"[..], &b"\x05"[..]),
            (b"\x1b[H", b"\x1b[F"),
            (b"\x1bOH", b"\x1bOF"),
            (b"\x1b[1~", b"\x1b[4~"),
            (b"\x1b[7~", b"\x1b[8~"),
        ] {
            let mut e = LineEditor::new("> ");
            run(&mut e, b"bc");
            let (_, out) = run(&mut e, home);
            assert_eq!(out, b"\r> bc\x1b[K\x1b[2D");
            run(&mut e, b"a");
            let (_, out) = run(&mut e, end);
            assert_eq!(out, b"\r> abc\x1b[K");
            assert_eq!(run(&mut e, b"d\r").0, [line("abcd")]);
        }
    }

    #[test]
    fn backspace_and_delete_in_the_middle() {
        let mut e = LineEditor::new("> ");
        run(&mut e, b"abcd\x1b[D\x1b[D");
        let (_, out) = run(&mut e, b"\x7f");
        assert_eq!((e.line(), e.cursor()), ("acd", 1));
        assert_eq!(out, b"\r> acd\x1b[K\x1b[2D");
        let (_, out) = run(&mut e, b"\x1b[3~");
        assert_eq!((e.line(), e.cursor()), ("ad", 1));
        assert_eq!(out, b"\r> ad\x1b[K\x1b[1D");
        // Ctrl-D on a non-empty line deletes under the cursor, and at the end does nothing.
        let (events, _) = run(&mut e, b"\x04\x04\x08\x1b[3~");
        assert_eq!(events, []);
        assert_eq!(e.line(), "");
        // Nothing before the cursor: Backspace does nothing.
        run(&mut e, b"x\x01");
        let (_, out) = run(&mut e, b"\x08");
        assert_eq!((e.line(), out.as_slice()), ("x", &b""[..]));
    }

    #[test]
    fn ctrl_u_kills_the_line() {
        let mut e = LineEditor::new("> ");
        let (_, out) = run(&mut e, b"create -b\x1b[D\x15");
        assert_eq!(&out[out.len() - 6..], b"\r> \x1b[K");
        assert_eq!((e.line(), e.cursor()), ("", 0));
        let (_, out) = run(&mut e, b"\x15");
        assert_eq!(out, b"");
        assert_eq!(run(&mut e, b"lunlist\r").0, [line("lunlist")]);
    }

    #[test]
    fn ctrl_w_kills_the_word_before_the_cursor() {
        let mut e = LineEditor::new("> ");
        let (_, out) = run(&mut e, b"lunmap -p 1  \x17");
        assert_eq!(e.line(), "lunmap -p ");
        assert!(out.ends_with(b"\r> lunmap -p \x1b[K"));
        run(&mut e, b"\x17\x17");
        assert_eq!(e.line(), "");
        let (_, out) = run(&mut e, b"\x17");
        assert_eq!(out, b"");
        run(&mut e, b"ab cd\x1b[D\x17");
        assert_eq!((e.line(), e.cursor()), ("ab d", 3));
    }

    #[test]
    fn ctrl_c_discards_the_line() {
        let mut e = LineEditor::new("> ");
        let (events, out) = run(&mut e, b"remove -l 3\x03");
        assert_eq!(events, [EditorEvent::Interrupt]);
        assert_eq!(out, b"remove -l 3");
        assert_eq!(e.line(), "");
        assert_eq!(e.history().count(), 0);
        assert_eq!(run(&mut e, b"x\r").0, [line("x")]);
    }

    #[test]
    fn ctrl_d_on_an_empty_line_ends_input() {
        assert_eq!(lines(b"\x04"), [EditorEvent::EndOfInput]);
        assert_eq!(lines(b"a\x08\x04"), [EditorEvent::EndOfInput]);
    }

    #[test]
    fn history_up_and_down() {
        let mut e = LineEditor::new("> ");
        run(&mut e, b"one\rtwo\rtwo\r\r");
        assert_eq!(e.history().collect::<Vec<_>>(), ["one", "two"]);
        let (_, out) = run(&mut e, b"dr\x1b[A");
        assert_eq!(e.line(), "two");
        assert!(out.ends_with(b"\r> two\x1b[K"));
        run(&mut e, b"\x1bOA");
        assert_eq!(e.line(), "one");
        // At the oldest entry Up stays.
        let (_, out) = run(&mut e, b"\x1b[A");
        assert_eq!((e.line(), out.as_slice()), ("one", &b""[..]));
        run(&mut e, b"\x1b[B");
        assert_eq!(e.line(), "two");
        run(&mut e, b"\x1bOB");
        assert_eq!(e.line(), "dr");
        let (_, out) = run(&mut e, b"\x1b[B");
        assert_eq!((e.line(), out.as_slice()), ("dr", &b""[..]));
        // A recalled line can be edited and entered.
        assert_eq!(run(&mut e, b"\x15\x1b[A!\r").0, [line("two!")]);
        assert_eq!(e.history().collect::<Vec<_>>(), ["one", "two", "two!"]);
    }

    #[test]
    fn history_keeps_32_entries() {
        let mut e = LineEditor::new("> ");
        for i in 0..40u8 {
            run(&mut e, &[b'a' + i % 26, b'0' + i / 26, b'\r']);
        }
        assert_eq!(e.history().count(), 32);
        assert_eq!(e.history().next(), Some("i0"));
    }

    #[test]
    fn swallows_unknown_escape_sequences() {
        let mut e = LineEditor::new("> ");
        let (events, out) = run(
            &mut e,
            b"a\x1b[15~\x1b[1;31m\x1b[?25l\x1bOP\x1b(Bb\x1b[200~c\r",
        );
        assert_eq!(events, [line("abc")]);
        assert_eq!(out, b"abc\r\n");
    }

    #[test]
    fn ignores_other_controls_and_non_ascii() {
        let mut e = LineEditor::new("> ");
        let (events, out) = run(&mut e, "a\tb\x0c\x00é€\u{7}c\r".as_bytes());
        assert_eq!(events, [line("abc")]);
        assert_eq!(out, b"abc\r\n");
    }

    #[test]
    fn refuses_input_beyond_the_maximum_with_a_bell() {
        let mut e = LineEditor::new("> ");
        let input = vec![b'x'; MAX_LINE];
        let (_, out) = run(&mut e, &input);
        assert_eq!(out.len(), MAX_LINE);
        let (_, out) = run(&mut e, b"yz");
        assert_eq!(out, b"\x07\x07");
        assert_eq!(e.line().len(), MAX_LINE);
        // Still editable: make room, and typing works again.
        let (_, out) = run(&mut e, b"\x7fy");
        assert_eq!(out, b"\x08 \x08y");
        let (events, _) = run(&mut e, b"\r");
        let mut expected = vec![b'x'; MAX_LINE - 1];
        expected.push(b'y');
        assert_eq!(
            events,
            [EditorEvent::Line(String::from_utf8(expected).unwrap())]
        );
    }

    #[test]
    fn prompt_printing_and_changing() {
        let mut e = LineEditor::new("dyad-a> ");
        let mut out = Vec::new();
        e.print_prompt(&mut |b: &[u8]| out.extend_from_slice(b));
        assert_eq!(out, b"dyad-a> ");
        e.set_prompt("dyad-b> ");
        assert_eq!(e.prompt(), "dyad-b> ");
        run(&mut e, b"ab\x1b[D");
        out.clear();
        e.print_prompt(&mut |b: &[u8]| out.extend_from_slice(b));
        assert_eq!(out, b"dyad-b> ab\x1b[1D");
        let (_, out) = run(&mut e, b"\x01");
        assert_eq!(out, b"\rdyad-b> ab\x1b[K\x1b[2D");
    }
}
