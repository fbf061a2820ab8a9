//! `dyad console a|b`: a running controller's serial console, reached through its Unix
//! socket in the enclosure directory (`qemu-a|qemu-b`: a QEMU board's first serial port,
//! the socket QEMU serves in the `dyad qemu` enclosure). With `-c 'VERB ARGS'` it runs one
//! command and exits with its outcome; without, it attaches the terminal like a serial line
//! (raw mode, Ctrl-] detaches, as in telnet), or, when standard input is not a terminal,
//! passes the bytes through (`echo devlist | dyad console a`).

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dyad_tests::console_client::{console_socket, controller_letter, ConsoleClient};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::termios::{self, OptionalActions, Termios};

use crate::run::DEFAULT_ENCLOSURE;

/// Telnet's escape character: Ctrl-].
const DETACH: u8 = 0x1d;
/// How long `-c` waits for the prompt and for the answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Once piped input has ended: how long the output must stay quiet at a prompt, or at
/// all, before we stop waiting for the console to close.
const DRAIN_AT_PROMPT: Duration = Duration::from_secs(1);
const DRAIN_ANYWAY: Duration = Duration::from_secs(30);
/// Exit status when the console cannot be reached.
const UNREACHABLE: u8 = 2;

#[derive(clap::Args)]
pub struct ConsoleArgs {
    /// Which controller: a or b (1 or 2 also do) of `dyad run`, or qemu-a or qemu-b of
    /// `dyad qemu`.
    #[arg(value_name = "a|b|qemu-a|qemu-b", value_parser = parse_target)]
    target: Target,
    /// The enclosure directory the controller runs in (its console is
    /// DIR/console-a.sock or DIR/console-b.sock).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_ENCLOSURE)]
    enclosure: PathBuf,
    /// Run one command, print its output and exit: 0 when it worked, 1 when it answered
    /// `error: ...`, 2 when the console cannot be reached.
    #[arg(short = 'c', long = "command", value_name = "'VERB ARGS'")]
    command: Option<String>,
}

fn parse_controller(text: &str) -> Result<u8, String> {
    match text.to_ascii_lowercase().as_str() {
        "a" | "1" => Ok(1),
        "b" | "2" => Ok(2),
        _ => Err(format!(
            "'{text}' is no controller: want a or b (or 1 or 2)"
        )),
    }
}

/// A console: a sim controller's, or a QEMU board's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Target {
    controller: u8,
    qemu: bool,
}

impl Target {
    fn socket(&self, enclosure: &Path) -> PathBuf {
        if self.qemu {
            crate::qemu::console_socket(
                &crate::qemu::enclosure_for_console(enclosure, DEFAULT_ENCLOSURE),
                controller_letter(self.controller),
            )
        } else {
            console_socket(enclosure, self.controller)
        }
    }
}

fn parse_target(text: &str) -> Result<Target, String> {
    let lower = text.to_ascii_lowercase();
    match lower.strip_prefix("qemu-") {
        Some(board) => Ok(Target {
            controller: parse_controller(board)?,
            qemu: true,
        }),
        None => Ok(Target {
            controller: parse_controller(text)?,
            qemu: false,
        }),
    }
}

fn name(controller: u8) -> char {
    controller_letter(controller).to_ascii_uppercase()
}

pub fn console(args: &ConsoleArgs) -> ExitCode {
    let socket = args.target.socket(&args.enclosure);
    let stream = match UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(e) => return unreachable(args, &socket, &e.to_string()),
    };
    if args.target.qemu {
        // A serial line says nothing until spoken to: Enter brings a fresh prompt.
        if let Err(e) = io::Write::write_all(&mut &stream, b"\r") {
            return unreachable(args, &socket, &e.to_string());
        }
    }
    match &args.command {
        Some(command) => one_command(args, &socket, stream, command),
        None => attach(args, stream),
    }
}

/// Exit status 2, saying which socket and what to do about it.
fn unreachable(args: &ConsoleArgs, socket: &Path, why: &str) -> ExitCode {
    if args.target.qemu {
        eprintln!(
            "dyad: cannot reach qemu-{}'s console at {}: {why}\n\
             dyad: the machines may not be running; start them with `make qemu` (or `dyad qemu`)",
            controller_letter(args.target.controller),
            socket.display()
        );
        return ExitCode::from(UNREACHABLE);
    }
    let enclosure = if args.enclosure == Path::new(DEFAULT_ENCLOSURE) {
        String::new()
    } else {
        format!(" --enclosure {}", args.enclosure.display())
    };
    eprintln!(
        "dyad: cannot reach controller {}'s console at {}: {why}\n\
         dyad: the controller may not be running; start it with `make run` \
         (or `dyad run{enclosure}{}`)",
        name(args.target.controller),
        socket.display(),
        if args.target.controller == 1 {
            String::new()
        } else {
            format!(" --controller {}", args.target.controller)
        },
    );
    ExitCode::from(UNREACHABLE)
}

fn one_command(args: &ConsoleArgs, socket: &Path, stream: UnixStream, command: &str) -> ExitCode {
    let reply = ConsoleClient::from_stream(stream, socket, COMMAND_TIMEOUT)
        .and_then(|mut client| client.run(command));
    match reply {
        Ok(reply) => {
            if !reply.output.is_empty() {
                println!("{}", reply.output);
            }
            if reply.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => unreachable(args, socket, &e.to_string()),
    }
}

/// How an attached session ended.
enum End {
    /// Ctrl-].
    Detached,
    /// The console closed the connection (`quit`, or the controller stopped).
    Closed,
    /// Piped input ended and the output drained.
    InputDone,
    /// Our output went away (`| head`).
    OutputGone,
    /// SIGINT, SIGTERM, SIGHUP or SIGQUIT.
    Signal(i32),
}

fn attach(args: &ConsoleArgs, stream: UnixStream) -> ExitCode {
    let stdin = io::stdin();
    let input = stdin.as_fd();
    let terminal = termios::isatty(input);
    let result = if terminal {
        eprintln!(
            "connected to controller {}'s console; Ctrl-] detaches",
            name(args.target.controller)
        );
        let raw = match RawMode::enter(input) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("dyad: cannot put the terminal in raw mode: {e}");
                return ExitCode::FAILURE;
            }
        };
        stop_signals::install();
        let result = pump(&stream, input, true, true, &mut io::stdout().lock());
        // Restored before anything more is printed, on every way out of `pump`.
        drop(raw);
        result
    } else {
        pump(
            &stream,
            input,
            false,
            !args.target.qemu,
            &mut io::stdout().lock(),
        )
    };
    match result {
        Ok(End::Detached) => {
            eprintln!(
                "\ndyad: detached from controller {}'s console",
                name(args.target.controller)
            );
            ExitCode::SUCCESS
        }
        Ok(End::Closed) => {
            if terminal {
                eprintln!(
                    "\ndyad: controller {}'s console closed the connection",
                    name(args.target.controller)
                );
            }
            ExitCode::SUCCESS
        }
        Ok(End::InputDone | End::OutputGone) => ExitCode::SUCCESS,
        Ok(End::Signal(signal)) => {
            eprintln!("\ndyad: stopped by signal {signal}");
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("\ndyad: console connection: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Copies bytes both ways until one of the `End`s. With `terminal`, a Ctrl-] typed
/// detaches; otherwise input is passed as it is and its end half-closes the connection
/// (unless not `half_close`: QEMU takes a half-close for a hang-up), after which we wait
/// for the console's answers to drain.
fn pump(
    stream: &UnixStream,
    input: BorrowedFd<'_>,
    terminal: bool,
    half_close: bool,
    stdout: &mut impl Write,
) -> io::Result<End> {
    let mut buf = [0u8; 4096];
    let mut input_open = true;
    let mut last_output = Instant::now();
    // The end of the output so far, to tell whether it stops at a prompt.
    let mut tail: Vec<u8> = Vec::new();
    // A bound on each wait, so a signal that lands just before poll is seen soon.
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    loop {
        if let Some(signal) = stop_signals::received() {
            return Ok(End::Signal(signal));
        }
        if !input_open {
            let quiet = last_output.elapsed();
            let at_prompt = tail.ends_with(b"> ");
            if (at_prompt && quiet >= DRAIN_AT_PROMPT) || quiet >= DRAIN_ANYWAY {
                return Ok(End::InputDone);
            }
        }
        let (from_console, from_input) = {
            let mut fds = vec![PollFd::new(stream, PollFlags::IN)];
            if input_open {
                fds.push(PollFd::from_borrowed_fd(input, PollFlags::IN));
            }
            match poll(&mut fds, Some(&tick)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready = |fd: &PollFd<'_>| {
                fd.revents()
                    .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
            };
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if from_console {
            let n = match io::Read::read(&mut &*stream, &mut buf) {
                Ok(0) => return Ok(End::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(End::Closed),
                Err(e) => return Err(e),
            };
            if stdout
                .write_all(&buf[..n])
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return Ok(End::OutputGone);
            }
            last_output = Instant::now();
            tail.extend_from_slice(&buf[..n]);
            let keep = tail.len().saturating_sub(16);
            tail.drain(..keep);
        }
        if from_input {
            let n = match rustix::io::read(input, &mut buf) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                // A terminal hung up.
                Err(rustix::io::Errno::IO) => 0,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                input_open = false;
                last_output = Instant::now();
                // Tell the console that no more comes; it answers what it has.
                if half_close {
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                }
                continue;
            }
            let mut typed = &buf[..n];
            let detach = terminal && typed.contains(&DETACH);
            if detach {
                let at = typed.iter().position(|&b| b == DETACH).unwrap_or(n);
                typed = &typed[..at];
            }
            match io::Write::write_all(&mut &*stream, typed) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    return Ok(End::Closed)
                }
                Err(e) => return Err(e),
            }
            if detach {
                return Ok(End::Detached);
            }
        }
    }
}

/// The terminal's settings before raw mode, for the panic hook (the release profile
/// aborts on panic, so no destructor would run).
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Puts the terminal back as it was.
fn restore_saved() {
    let saved = SAVED.lock().map(|mut s| s.take()).unwrap_or(None);
    if let Some(saved) = saved {
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &saved);
    }
}

/// The terminal in raw mode for as long as the value lives: every byte typed (Ctrl-C too)
/// goes to the console, and what comes back is shown untouched.
struct RawMode;

impl RawMode {
    fn enter(terminal: BorrowedFd<'_>) -> io::Result<RawMode> {
        let saved = termios::tcgetattr(terminal)?;
        let mut raw = saved.clone();
        raw.make_raw();
        if let Ok(mut slot) = SAVED.lock() {
            *slot = Some(saved);
        }
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_saved();
            hook(info);
        }));
        termios::tcsetattr(terminal, OptionalActions::Now, &raw)?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_saved();
    }
}

/// Signals that would otherwise end us with the terminal left raw: noted, and `pump` ends
/// at its next turn (poll returns EINTR at once).
mod stop_signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    const CAUGHT: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    extern "C" fn note(signal: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        RECEIVED.store(signal, Ordering::SeqCst);
    }

    pub fn install() {
        for signal in CAUGHT {
            // SAFETY: `note` is an extern "C" fn(c_int) that only stores to an atomic,
            // which is async-signal-safe; signal(2) with it replaces the default action.
            unsafe {
                libc::signal(signal, note as *const () as libc::sighandler_t);
            }
        }
    }

    pub fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    use std::thread;

    #[test]
    fn qemu_boards_by_name() {
        assert_eq!(
            parse_target("qemu-a"),
            Ok(Target {
                controller: 1,
                qemu: true
            })
        );
        assert_eq!(
            parse_target("QEMU-B").map(|t| (t.controller, t.qemu)),
            Ok((2, true))
        );
        assert_eq!(
            parse_target("b").map(|t| (t.controller, t.qemu)),
            Ok((2, false))
        );
        assert!(parse_target("qemu-c").is_err());
        let t = parse_target("qemu-b").unwrap();
        assert_eq!(
            t.socket(Path::new(DEFAULT_ENCLOSURE)),
            Path::new("var/qemu/qemu-b.console")
        );
        assert_eq!(t.socket(Path::new("/e")), Path::new("/e/qemu-b.console"));
    }

    #[test]
    fn controllers_by_letter_or_number() {
        assert_eq!(parse_controller("a"), Ok(1));
        assert_eq!(parse_controller("B"), Ok(2));
        assert_eq!(parse_controller("1"), Ok(1));
        assert_eq!(parse_controller("2"), Ok(2));
        assert!(parse_controller("c").is_err());
        assert!(parse_controller("3").is_err());
    }

    /// Piped input: passed through as it is, its end half-closes the connection, and
    /// everything the console writes until it closes comes out.
    #[test]
    fn pumps_piped_input_until_the_console_closes() {
        let dir = dyad_tests::TempDir::new("console-pump").unwrap();
        let socket = dir.path().join("console-a.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"banner\r\ndyad-a> ").unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(b"devlist\r\nLUN 0\r\ndyad-a> ").unwrap();
            got
        });
        let stream = UnixStream::connect(&socket).unwrap();
        let (input, mut feed) = UnixStream::pair().unwrap();
        feed.write_all(b"devlist\r\x1d").unwrap();
        drop(feed);
        let mut shown = Vec::new();
        let end = pump(&stream, input.as_fd(), false, true, &mut shown).unwrap();
        assert!(matches!(end, End::Closed));
        assert_eq!(shown, b"banner\r\ndyad-a> devlist\r\nLUN 0\r\ndyad-a> ");
        // Not a terminal: Ctrl-] is just a byte.
        assert_eq!(server.join().unwrap(), b"devlist\r\x1d");
    }

    /// A console that does not close when input ends: we stop once it is quiet at a prompt.
    #[test]
    fn piped_input_ends_once_the_output_rests_at_a_prompt() {
        let (stream, mut console) = UnixStream::pair().unwrap();
        let (input, mut feed) = UnixStream::pair().unwrap();
        feed.write_all(b"devlist\r").unwrap();
        drop(feed);
        let server = thread::spawn(move || {
            console.write_all(b"banner\r\ndyad-a> ").unwrap();
            let mut got = Vec::new();
            console.read_to_end(&mut got).unwrap();
            console.write_all(b"devlist\r\nLUN 0\r\ndyad-a> ").unwrap();
            // Held open past the drain.
            thread::sleep(DRAIN_AT_PROMPT * 3);
            got
        });
        let mut shown = Vec::new();
        let started = Instant::now();
        let end = pump(&stream, input.as_fd(), false, true, &mut shown).unwrap();
        assert!(matches!(end, End::InputDone));
        assert!(started.elapsed() < DRAIN_AT_PROMPT * 3);
        assert!(shown.ends_with(b"LUN 0\r\ndyad-a> "));
        assert_eq!(server.join().unwrap(), b"devlist\r");
    }

    #[test]
    fn ctrl_bracket_detaches_a_terminal_without_sending_it() {
        let (stream, mut console) = UnixStream::pair().unwrap();
        let (input, mut feed) = UnixStream::pair().unwrap();
        feed.write_all(b"lun list\r\x1dquit\r").unwrap();
        let end = pump(&stream, input.as_fd(), true, true, &mut Vec::new()).unwrap();
        assert!(matches!(end, End::Detached));
        drop(stream);
        let mut sent = Vec::new();
        console.read_to_end(&mut sent).unwrap();
        assert_eq!(sent, b"lun list\r");
    }
}
