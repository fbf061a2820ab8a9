//! The shell's byte protocol, checked byte for byte: a script types lines into an in-memory
//! input and reads the exact stream a terminal (or the host tool) would receive.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use console::{run, Command, Executor, ShellError};
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

/// Polls a future that never waits (the in-memory streams are always ready) to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Input delivered in the given chunks, one per read (split further if the buffer is small),
/// then end of input.
struct Script(VecDeque<Vec<u8>>);

impl Script {
    fn new(chunks: &[&[u8]]) -> Self {
        Script(chunks.iter().map(|c| c.to_vec()).collect())
    }
}

impl ErrorType for Script {
    type Error = Infallible;
}

impl Read for Script {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let Some(chunk) = self.0.front_mut() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.0.pop_front();
        }
        Ok(n)
    }
}

#[derive(Default)]
struct Screen(Vec<u8>);

impl ErrorType for Screen {
    type Error = Infallible;
}

impl Write for Screen {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
}

/// Records the commands it gets, and answers a few with canned output.
#[derive(Default)]
struct Fake(Vec<Command>);

impl Executor for Fake {
    async fn execute(&mut self, command: Command) -> Result<String, String> {
        self.0.push(command.clone());
        match command {
            Command::Devlist { .. } => Ok("LUN Backend\n  0 ramdisk\n".into()),
            Command::Lunlist => Ok(String::new()),
            Command::Tur { lun: 0 } => Ok("LUN 0 is ready".into()),
            Command::Tur { lun } => Err(format!("LUN {lun} does not exist")),
            Command::Islist { .. } => Err("first\nsecond".into()),
            _ => Ok("done".into()),
        }
    }
}

const BANNER: &str = "dyad controller 1 console";
const PROMPT: &str = "dyad-a> ";

/// Runs a session over `chunks`; the screen and the commands executed.
fn session(chunks: &[&[u8]]) -> (String, Vec<Command>) {
    let mut input = Script::new(chunks);
    let mut screen = Screen::default();
    let mut fake = Fake::default();
    block_on(run(&mut input, &mut screen, &mut fake, PROMPT, BANNER)).unwrap();
    (String::from_utf8(screen.0).unwrap(), fake.0)
}

#[test]
fn banner_then_prompt_then_end_of_input() {
    let (screen, commands) = session(&[]);
    assert_eq!(screen, "dyad controller 1 console\r\ndyad-a> ");
    assert!(commands.is_empty());
}

#[test]
fn a_scripted_session_byte_for_byte() {
    let (screen, commands) = session(&[
        b"devlist -v\r\n",
        b"lunlist\r",
        b"tur 0\n",
        b"tur 9\r\n",
        b"islist\r\n",
        b"\r\n",
        b"# nothing\r\n",
        b"foo\r\n",
        b"create -s 12Q -b ramdisk\r\n",
        b"quit\r\n",
        b"devlist\r\n",
    ]);
    assert_eq!(
        screen,
        "dyad controller 1 console\r\n\
         dyad-a> devlist -v\r\n\
         LUN Backend\r\n  0 ramdisk\r\n\
         dyad-a> lunlist\r\n\
         dyad-a> tur 0\r\n\
         LUN 0 is ready\r\n\
         dyad-a> tur 9\r\n\
         error: LUN 9 does not exist\r\n\
         dyad-a> islist\r\n\
         error: first\r\nerror: second\r\n\
         dyad-a> \r\n\
         dyad-a> # nothing\r\n\
         dyad-a> foo\r\n\
         error: unknown verb 'foo' (try 'help')\r\n\
         dyad-a> create -s 12Q -b ramdisk\r\n\
         error: create: -s '12Q' is not a size\r\n\
         dyad-a> quit\r\n"
    );
    assert_eq!(
        commands,
        [
            Command::Devlist {
                verbose: true,
                backend: None
            },
            Command::Lunlist,
            Command::Tur { lun: 0 },
            Command::Tur { lun: 9 },
            Command::Islist { verbose: false },
        ]
    );
}

#[test]
fn typing_a_byte_at_a_time_and_typeahead_in_one_chunk() {
    let typed: Vec<&[u8]> = b"tur 0\r".chunks(1).collect();
    let (one_by_one, _) = session(&typed);
    let (all_at_once, _) = session(&[b"tur 0\r"]);
    assert_eq!(one_by_one, all_at_once);
    // Two commands in one read: the second runs after the first's output and prompt.
    let (screen, commands) = session(&[b"tur 0\rtur 0\r"]);
    assert_eq!(
        screen,
        "dyad controller 1 console\r\ndyad-a> tur 0\r\nLUN 0 is ready\r\ndyad-a> tur 0\r\nLUN 0 is ready\r\ndyad-a> "
    );
    assert_eq!(commands.len(), 2);
    // A chunk longer than the shell's read buffer.
    let long = "devlist # ".to_string() + &"x".repeat(300) + "\r";
    let (screen, commands) = session(&[long.as_bytes()]);
    assert!(
        screen.ends_with("x\r\nLUN Backend\r\n  0 ramdisk\r\ndyad-a> "),
        "{screen}"
    );
    assert_eq!(commands.len(), 1);
}

#[test]
fn help_is_answered_by_the_shell() {
    let (screen, commands) = session(&[b"help\r", b"help lunmap\r", b"help nope\r"]);
    assert!(commands.is_empty());
    let list = console::help::text(None).unwrap().replace('\n', "\r\n");
    let lunmap = console::help::text(Some("lunmap"))
        .unwrap()
        .replace('\n', "\r\n");
    assert_eq!(
        screen,
        format!(
            "{BANNER}\r\n{PROMPT}help\r\n{list}\r\n{PROMPT}help lunmap\r\n{lunmap}\r\n\
             {PROMPT}help nope\r\nerror: help: unknown verb 'nope' (try 'help')\r\n{PROMPT}"
        )
    );
}

#[test]
fn ctrl_c_discards_the_line() {
    let (screen, commands) = session(&[b"tur 9\x03", b"tur 0\r"]);
    assert_eq!(
        screen,
        "dyad controller 1 console\r\ndyad-a> tur 9^C\r\ndyad-a> tur 0\r\nLUN 0 is ready\r\ndyad-a> "
    );
    assert_eq!(commands, [Command::Tur { lun: 0 }]);
}

#[test]
fn ctrl_d_on_an_empty_line_ends_the_session() {
    let (screen, commands) = session(&[b"tu\x7f\x7f\x04", b"tur 0\r"]);
    assert_eq!(
        screen,
        "dyad controller 1 console\r\ndyad-a> tu\x08 \x08\x08 \x08"
    );
    assert!(commands.is_empty());
}

#[test]
fn exit_ends_the_session() {
    let (screen, _) = session(&[b"exit\rtur 0\r"]);
    assert_eq!(screen, "dyad controller 1 console\r\ndyad-a> exit\r\n");
}

#[test]
fn edited_and_recalled_lines_run_as_shown() {
    // Typed "tur 9", corrected to "tur 0" with Backspace; then recalled with Up.
    let (_, commands) = session(&[b"tur 9\x7f0\r", b"\x1b[A\r"]);
    assert_eq!(commands, [Command::Tur { lun: 0 }, Command::Tur { lun: 0 }]);
}

#[test]
fn an_empty_error_message_still_says_error() {
    struct Silent;
    impl Executor for Silent {
        async fn execute(&mut self, _: Command) -> Result<String, String> {
            Err(String::new())
        }
    }
    let mut input = Script::new(&[b"lunlist\r"]);
    let mut screen = Screen::default();
    block_on(run(&mut input, &mut screen, &mut Silent, "> ", "hi")).unwrap();
    assert_eq!(
        String::from_utf8(screen.0).unwrap(),
        "hi\r\n> lunlist\r\nerror: \r\n> "
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Broken;

impl embedded_io_async::Error for Broken {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BrokenPipe
    }
}

struct BrokenInput;

impl ErrorType for BrokenInput {
    type Error = Broken;
}

impl Read for BrokenInput {
    async fn read(&mut self, _: &mut [u8]) -> Result<usize, Broken> {
        Err(Broken)
    }
}

struct BrokenScreen;

impl ErrorType for BrokenScreen {
    type Error = Broken;
}

impl Write for BrokenScreen {
    async fn write(&mut self, _: &[u8]) -> Result<usize, Broken> {
        Err(Broken)
    }
}

#[test]
fn stream_errors_end_the_session() {
    let result = block_on(run(
        &mut BrokenInput,
        &mut Screen::default(),
        &mut Fake::default(),
        "> ",
        "",
    ));
    assert_eq!(result, Err(ShellError::Read(Broken)));
    let result = block_on(run(
        &mut Script::new(&[]),
        &mut BrokenScreen,
        &mut Fake::default(),
        "> ",
        "",
    ));
    assert_eq!(result, Err(ShellError::Write(Broken)));
    assert_eq!(
        ShellError::<Broken, Infallible>::Read(Broken).to_string(),
        "console input: Broken"
    );
}
