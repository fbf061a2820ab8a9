//! A client of a controller's serial console, as a program sees it: the simulated
//! controllers serve their console on a Unix socket in the enclosure directory
//! (`console-a.sock`, `console-b.sock`), and the byte stream is what a serial terminal
//! shows. On connect the firmware writes a banner line and its prompt (`dyad-a> `); it
//! echoes what it receives; after Enter it writes the command's output lines, each ending
//! `\r\n` (a failed command's start with `error: `), then the prompt again.
//!
//! [`ConsoleClient::run`] types one command and returns its output without the echo,
//! the prompt or the carriage returns.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// What a failed command's output lines start with.
pub const ERROR_PREFIX: &str = "error: ";

/// The console socket of controller `controller` (1: A, 2: B) in `enclosure`.
pub fn console_socket(enclosure: &Path, controller: u8) -> PathBuf {
    enclosure.join(format!("console-{}.sock", controller_letter(controller)))
}

/// `a` for controller 1, `b` for controller 2 (and so on, should there be more).
pub fn controller_letter(controller: u8) -> char {
    char::from(b'a' + controller.saturating_sub(1).min(25))
}

/// One command's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleReply {
    /// The output lines joined with `\n` (no trailing newline), without the echoed command
    /// line and without `\r`.
    pub output: String,
    /// No output line starts with `error: `.
    pub ok: bool,
}

impl ConsoleReply {
    /// The output's lines.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.output.lines()
    }

    /// The `error: ` lines, without that prefix.
    pub fn errors(&self) -> impl Iterator<Item = &str> {
        self.output
            .lines()
            .filter_map(|l| l.strip_prefix(ERROR_PREFIX))
    }
}

/// A connection to one controller's console, sitting at its prompt between commands.
#[derive(Debug)]
pub struct ConsoleClient {
    stream: UnixStream,
    socket: PathBuf,
    timeout: Duration,
    /// As the firmware writes it, e.g. `dyad-a> `.
    prompt: Vec<u8>,
    /// What came before the first prompt, `\r` removed.
    banner: String,
    closed: bool,
}

impl ConsoleClient {
    /// Connects to the console at `socket` and waits for its first prompt. While the socket
    /// does not exist yet (or nobody accepts on it: a controller starting or restarting) it
    /// tries again until `timeout`; the same `timeout` then bounds each wait for a reply.
    pub fn connect(socket: &Path, timeout: Duration) -> io::Result<ConsoleClient> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) && Instant::now() < deadline =>
                {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "cannot connect to the console at {} (is the controller running?): {e}",
                            socket.display()
                        ),
                    ))
                }
            }
        };
        ConsoleClient::from_stream(stream, socket, timeout)
    }

    /// Takes over a connection made elsewhere (`socket` is only for messages) and waits for
    /// the first prompt for up to `timeout`, which then bounds each wait for a reply.
    pub fn from_stream(
        stream: UnixStream,
        socket: &Path,
        timeout: Duration,
    ) -> io::Result<ConsoleClient> {
        let mut client = ConsoleClient {
            stream,
            socket: socket.to_path_buf(),
            timeout,
            prompt: Vec::new(),
            banner: String::new(),
            closed: false,
        };
        let mut buf = Vec::new();
        let prompt_at = client.read_until(&mut buf, "(the first prompt)", |b| {
            find_first_prompt(b).is_some()
        })?;
        if !prompt_at {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the console at {} closed the connection before its first prompt; it sent: {:?}",
                    client.socket.display(),
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        let start = find_first_prompt(&buf).unwrap_or(0);
        client.prompt = buf[start..].to_vec();
        client.banner = clean(&buf[..start]).trim_end_matches('\n').to_string();
        Ok(client)
    }

    /// The banner the console wrote before its first prompt (`\r` removed).
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// The prompt, e.g. `dyad-a> `.
    pub fn prompt(&self) -> String {
        String::from_utf8_lossy(&self.prompt).into_owned()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Types `line` and Enter, and returns the output up to the next prompt. `quit` (which
    /// closes the connection) returns what came before the close; any other command that
    /// the console answers by closing is an error, as is a line with a newline in it.
    pub fn run(&mut self, line: &str) -> io::Result<ConsoleReply> {
        if line.contains(['\r', '\n']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a console command is one line: {line:?}"),
            ));
        }
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "the console at {} has closed the connection; cannot run `{line}`",
                    self.socket.display()
                ),
            ));
        }
        let mut typed = line.as_bytes().to_vec();
        typed.push(b'\r');
        self.stream.write_all(&typed).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot send `{line}` to the console at {}: {e}",
                    self.socket.display()
                ),
            )
        })?;
        let mut buf = Vec::new();
        let prompt = self.prompt.clone();
        let complete = self.read_until(&mut buf, line, |b| reply_complete(b, &prompt))?;
        if !complete {
            self.closed = true;
            if line.trim() != "quit" {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the console at {} closed the connection after `{line}`; it sent: {:?}",
                        self.socket.display(),
                        String::from_utf8_lossy(&buf)
                    ),
                ));
            }
        }
        Ok(parse_reply(&buf, &self.prompt))
    }

    /// Reads into `buf` until `done(buf)` (`Ok(true)`) or the end of the stream
    /// (`Ok(false)`), or fails after the timeout naming `what` was waited for.
    fn read_until(
        &mut self,
        buf: &mut Vec<u8>,
        what: &str,
        done: impl Fn(&[u8]) -> bool,
    ) -> io::Result<bool> {
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 4096];
        while !done(buf) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out(what, buf));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.timed_out(what, buf));
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "reading the console at {} (waiting for `{what}`): {e}",
                            self.socket.display()
                        ),
                    ))
                }
            }
        }
        Ok(true)
    }

    fn timed_out(&self, what: &str, buf: &[u8]) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the console at {} did not answer `{what}` with a prompt within {:?}; it sent: {:?}",
                self.socket.display(),
                self.timeout,
                String::from_utf8_lossy(buf)
            ),
        )
    }
}

/// Where the first prompt starts, once `buf` ends with one: the text after the last `\r\n`
/// (or all of it, with no banner), which must end with `> `.
fn find_first_prompt(buf: &[u8]) -> Option<usize> {
    if !buf.ends_with(b"> ") {
        return None;
    }
    let start = buf
        .windows(2)
        .rposition(|w| w == b"\r\n")
        .map_or(0, |i| i + 2);
    Some(start)
}

/// Whether `buf` holds a whole reply: it ends with `\r\n` and the prompt.
fn reply_complete(buf: &[u8], prompt: &[u8]) -> bool {
    buf.len() >= prompt.len() + 2
        && buf.ends_with(prompt)
        && buf[..buf.len() - prompt.len()].ends_with(b"\r\n")
}

/// The reply in `buf` (the echoed line, the output, the prompt): the echo line and the
/// prompt dropped, `\r` removed, lines joined with `\n`.
fn parse_reply(buf: &[u8], prompt: &[u8]) -> ConsoleReply {
    let body = buf.strip_suffix(prompt).unwrap_or(buf);
    let text = clean(body);
    // The first line is the echo of what was typed.
    let output = match text.split_once('\n') {
        Some((_, rest)) => rest,
        None => "",
    };
    let output = output.strip_suffix('\n').unwrap_or(output).to_string();
    let ok = !output.lines().any(|l| l.starts_with(ERROR_PREFIX));
    ConsoleReply { output, ok }
}

/// The bytes as text, `\r` removed.
fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\r', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    const PROMPT: &[u8] = b"dyad-a> ";

    #[test]
    fn socket_names() {
        let dir = Path::new("/e");
        assert_eq!(console_socket(dir, 1), PathBuf::from("/e/console-a.sock"));
        assert_eq!(console_socket(dir, 2), PathBuf::from("/e/console-b.sock"));
    }

    #[test]
    fn first_prompt_after_the_banner() {
        let buf = b"dyad controller A, firmware 0.1.0\r\ndyad-a> ";
        let at = find_first_prompt(buf).unwrap();
        assert_eq!(&buf[at..], PROMPT);
        assert_eq!(find_first_prompt(b"dyad controller A\r\ndyad-a"), None);
        assert_eq!(find_first_prompt(b"dyad-b> "), Some(0));
    }

    #[test]
    fn a_reply_is_complete_only_at_a_prompt_on_its_own_line() {
        assert!(!reply_complete(b"devlist\r\n", PROMPT));
        assert!(!reply_complete(b"devlist\r\nlun 0\r\ndyad-a", PROMPT));
        // `dyad-a> ` inside a line is output, not the prompt.
        assert!(!reply_complete(b"echo dyad-a> \r\nx dyad-a> ", PROMPT));
        assert!(reply_complete(b"devlist\r\nlun 0\r\ndyad-a> ", PROMPT));
        assert!(reply_complete(b"\r\ndyad-a> ", PROMPT));
    }

    #[test]
    fn output_lines_without_echo_prompt_or_cr() {
        let reply = parse_reply(
            b"devlist\r\nLUN Backend  Size\r\n  0 block    1G\r\ndyad-a> ",
            PROMPT,
        );
        assert_eq!(
            reply,
            ConsoleReply {
                output: "LUN Backend  Size\n  0 block    1G".to_string(),
                ok: true
            }
        );
        assert_eq!(reply.lines().count(), 2);
    }

    #[test]
    fn no_output() {
        let reply = parse_reply(b"\r\ndyad-a> ", PROMPT);
        assert_eq!(reply.output, "");
        assert!(reply.ok);
        let reply = parse_reply(b"save\r\ndyad-a> ", PROMPT);
        assert_eq!(reply.output, "");
        assert!(reply.ok);
    }

    #[test]
    fn an_error_line_fails_the_reply() {
        let reply = parse_reply(
            b"lun create\r\nerror: lun create needs a name\r\nusage: lun create NAME\r\ndyad-a> ",
            PROMPT,
        );
        assert!(!reply.ok);
        assert_eq!(
            reply.output,
            "error: lun create needs a name\nusage: lun create NAME"
        );
        assert_eq!(
            reply.errors().collect::<Vec<_>>(),
            ["lun create needs a name"]
        );
        // Only at the start of a line.
        let reply = parse_reply(b"help\r\n  the error: prefix\r\ndyad-a> ", PROMPT);
        assert!(reply.ok);
    }

    #[test]
    fn a_closed_connection_leaves_what_came() {
        let reply = parse_reply(b"quit\r\nbye\r\n", PROMPT);
        assert_eq!(reply.output, "bye");
        assert!(reply.ok);
    }

    /// A console in a thread that answers like the firmware, byte stream and all: banner,
    /// prompt, echo, output in small pieces.
    fn fake_console(listener: UnixListener) -> thread::JoinHandle<()> {
        fn serve(listener: UnixListener) -> io::Result<()> {
            let (mut s, _) = listener.accept()?;
            s.write_all(b"dyad controller A\r\n")?;
            s.write_all(b"dyad-a> ")?;
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while s.read(&mut byte)? == 1 {
                if byte[0] == b'\r' || byte[0] == b'\n' {
                    s.write_all(b"\r\n")?;
                    match String::from_utf8_lossy(&std::mem::take(&mut line)).as_ref() {
                        "quit" => return Ok(()),
                        "hang" => thread::sleep(Duration::from_secs(1)),
                        "devlist" => {
                            for part in [&b"LUN 0 "[..], b"disk0\r", b"\nLUN 1 disk1\r\n"] {
                                s.write_all(part)?;
                                thread::sleep(Duration::from_millis(5));
                            }
                        }
                        "" => {}
                        other => {
                            s.write_all(format!("error: unknown command {other}\r\n").as_bytes())?
                        }
                    }
                    s.write_all(b"dyad-a> ")?;
                } else {
                    s.write_all(&byte)?;
                    line.push(byte[0]);
                }
            }
            Ok(())
        }
        // The client going away mid-answer is no failure of the fake.
        thread::spawn(move || {
            let _ = serve(listener);
        })
    }

    #[test]
    fn talks_to_a_console_socket() {
        let dir = crate::TempDir::new("console").unwrap();
        let socket = console_socket(dir.path(), 1);
        // The client is started first: it waits for the socket to appear.
        let path = socket.clone();
        let client = thread::spawn(move || {
            let mut c = ConsoleClient::connect(&path, Duration::from_secs(10)).unwrap();
            let devlist = c.run("devlist").unwrap();
            let empty = c.run("").unwrap();
            let wrong = c.run("frobnicate").unwrap();
            let quit = c.run("quit").unwrap();
            let after = c.run("devlist").unwrap_err();
            (
                c.banner().to_string(),
                c.prompt(),
                devlist,
                empty,
                wrong,
                quit,
                after,
            )
        });
        thread::sleep(Duration::from_millis(200));
        let server = fake_console(UnixListener::bind(&socket).unwrap());
        let (banner, prompt, devlist, empty, wrong, quit, after) = client.join().unwrap();
        server.join().unwrap();
        assert_eq!(banner, "dyad controller A");
        assert_eq!(prompt, "dyad-a> ");
        assert_eq!(devlist.output, "LUN 0 disk0\nLUN 1 disk1");
        assert!(devlist.ok);
        assert_eq!(empty.output, "");
        assert_eq!(wrong.output, "error: unknown command frobnicate");
        assert!(!wrong.ok);
        assert_eq!(quit.output, "");
        assert_eq!(after.kind(), io::ErrorKind::NotConnected);
    }

    #[test]
    fn a_silent_console_times_out_naming_socket_and_command() {
        let dir = crate::TempDir::new("console").unwrap();
        let socket = console_socket(dir.path(), 2);
        let server = fake_console(UnixListener::bind(&socket).unwrap());
        let mut c = ConsoleClient::connect(&socket, Duration::from_millis(300)).unwrap();
        let e = c.run("hang").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let message = e.to_string();
        assert!(message.contains("console-b.sock"), "{message}");
        assert!(message.contains("`hang`"), "{message}");
        drop(c);
        server.join().unwrap();
    }

    #[test]
    fn no_socket_is_a_clear_error() {
        let dir = crate::TempDir::new("console").unwrap();
        let socket = console_socket(dir.path(), 1);
        let e = ConsoleClient::connect(&socket, Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("console-a.sock"), "{e}");
    }

    #[test]
    fn a_command_is_one_line() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut c = ConsoleClient {
            stream: a,
            socket: PathBuf::from("x"),
            timeout: Duration::from_millis(10),
            prompt: PROMPT.to_vec(),
            banner: String::new(),
            closed: false,
        };
        let e = c.run("a\nb").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
