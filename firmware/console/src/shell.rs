//! The console's read–edit–execute loop over any async byte stream (a board's UART, the sim
//! board's Unix socket). Its byte protocol is fixed, because a host tool and the tests script
//! it: a banner line, then the prompt; after each entered line, the line's echo ends in one
//! `\r\n`, then come the command's output lines (errors as `error: ...`), each ending in
//! `\r\n`, then the prompt again. A script reads up to the prompt.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

use embedded_io_async::{Read, Write};

use crate::command::{self, Command};
use crate::help;
use crate::line_editor::{EditorEvent, LineEditor};

/// Runs the commands the shell does not handle itself: the firmware's side of the console.
pub trait Executor {
    /// Runs one command. `Ok(text)`: its output, lines separated by `\n` (may be empty).
    /// `Err(message)`: printed as `error: message`.
    fn execute(&mut self, command: Command) -> impl Future<Output = Result<String, String>>;
}

/// Why the shell stopped other than by `quit`, Ctrl-D or the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellError<R, W> {
    /// Reading the input failed.
    Read(R),
    /// Writing the output failed.
    Write(W),
}

impl<R: fmt::Debug, W: fmt::Debug> fmt::Display for ShellError<R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShellError::Read(e) => write!(f, "console input: {e:?}"),
            ShellError::Write(e) => write!(f, "console output: {e:?}"),
        }
    }
}

impl<R: fmt::Debug, W: fmt::Debug> core::error::Error for ShellError<R, W> {}

/// Bytes read at a time. A person types a byte at a time; a script or a paste sends more, and
/// their echo goes out in one write.
const CHUNK: usize = 64;

/// Serves the console on `input`/`output` until `quit`/`exit`, Ctrl-D on an empty line, or
/// the end of the input (a read of 0 bytes), all of which return `Ok`. Writes `banner` and
/// `\r\n` first, then `prompt`.
pub async fn run<R: Read, W: Write, E: Executor>(
    input: &mut R,
    output: &mut W,
    executor: &mut E,
    prompt: &str,
    banner: &str,
) -> Result<(), ShellError<R::Error, W::Error>> {
    let mut editor = LineEditor::new(prompt);
    // Everything for the terminal is gathered here and written in one go: on a UART, one
    // write per echoed byte would cost a transfer each.
    let mut out = Vec::new();
    out.extend_from_slice(banner.as_bytes());
    out.extend_from_slice(b"\r\n");
    editor.print_prompt(&mut |bytes: &[u8]| out.extend_from_slice(bytes));
    send(output, &mut out).await.map_err(ShellError::Write)?;

    let mut chunk = [0u8; CHUNK];
    loop {
        let read = input.read(&mut chunk).await.map_err(ShellError::Read)?;
        if read == 0 {
            return Ok(());
        }
        for &byte in chunk.get(..read).unwrap_or_default() {
            let event = editor.feed(byte, &mut |bytes: &[u8]| out.extend_from_slice(bytes));
            match event {
                None => {}
                Some(EditorEvent::Line(line)) => {
                    // The echo and its `\r\n` go out before the command runs, which may take a
                    // while.
                    send(output, &mut out).await.map_err(ShellError::Write)?;
                    if run_line(&line, executor, &mut out).await == Flow::Quit {
                        send(output, &mut out).await.map_err(ShellError::Write)?;
                        return Ok(());
                    }
                    editor.print_prompt(&mut |bytes: &[u8]| out.extend_from_slice(bytes));
                }
                Some(EditorEvent::Interrupt) => {
                    out.extend_from_slice(b"^C\r\n");
                    editor.print_prompt(&mut |bytes: &[u8]| out.extend_from_slice(bytes));
                }
                Some(EditorEvent::EndOfInput) => {
                    send(output, &mut out).await.map_err(ShellError::Write)?;
                    return Ok(());
                }
            }
        }
        send(output, &mut out).await.map_err(ShellError::Write)?;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// Parses and runs one line, appending its output or error to `out`.
async fn run_line<E: Executor>(line: &str, executor: &mut E, out: &mut Vec<u8>) -> Flow {
    let result = match command::parse(line) {
        Ok(None) => return Flow::Continue,
        Ok(Some(Command::Quit)) => return Flow::Quit,
        Ok(Some(Command::Help { verb })) => help::text(verb.as_deref()),
        Ok(Some(command)) => executor.execute(command).await,
        Err(usage) => Err(usage.to_string()),
    };
    match result {
        Ok(text) => print_lines(out, "", &text),
        // An error is never silent, even with an empty message.
        Err(message) if message.is_empty() => out.extend_from_slice(b"error: \r\n"),
        Err(message) => print_lines(out, "error: ", &message),
    }
    Flow::Continue
}

/// Appends `text`'s lines, each with `prefix` and ending in `\r\n` (the terminal is raw, so a
/// bare `\n` would not return the carriage). A final `\n` does not add an empty line; a `\r`
/// before a `\n` is not doubled.
fn print_lines(out: &mut Vec<u8>, prefix: &str, text: &str) {
    if text.is_empty() {
        return;
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    for line in body.split('\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(line.strip_suffix('\r').unwrap_or(line).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes and flushes what `out` gathered, and empties it.
async fn send<W: Write>(output: &mut W, out: &mut Vec<u8>) -> Result<(), W::Error> {
    if !out.is_empty() {
        output.write_all(out).await?;
        out.clear();
    }
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(prefix: &str, text: &str) -> String {
        let mut out = Vec::new();
        print_lines(&mut out, prefix, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn output_lines_end_in_crlf() {
        assert_eq!(lines("", ""), "");
        assert_eq!(lines("", "a"), "a\r\n");
        assert_eq!(lines("", "a\n"), "a\r\n");
        assert_eq!(lines("", "a\r\nb"), "a\r\nb\r\n");
        assert_eq!(lines("", "a\n\nb\n"), "a\r\n\r\nb\r\n");
        assert_eq!(lines("", "\n"), "\r\n");
        assert_eq!(lines("error: ", "x\ny"), "error: x\r\nerror: y\r\n");
    }
}
