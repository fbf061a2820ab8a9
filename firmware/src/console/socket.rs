//! The sim board's console port: a Unix socket in the enclosure folder per controller
//! (`console-a.sock`, `console-b.sock`), each connection a shell of its own, as a terminal
//! server in front of a serial port would give.

use super::executor::ControllerConsole;
use crate::configuration::live::LiveConfiguration;
use board::sim::Enclosure;
use embedded_io_adapters::tokio_1::FromTokio;
use scsi::nexus::NexusId;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tokio::net::UnixListener;

/// The console socket of `controller` (1 → a, 2 → b) in `enclosure`.
pub fn socket_path(enclosure: &Path, controller: u8) -> PathBuf {
    enclosure.join(format!("console-{}.sock", controller_letter(controller)))
}

pub fn controller_letter(controller: u8) -> char {
    if controller == 2 {
        'b'
    } else {
        'a'
    }
}

/// Binds the socket (replacing a stale one left by a killed controller).
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    UnixListener::bind(path).map_err(|e| format!("console socket {}: {e}", path.display()))
}

/// Serves console sessions until the runtime stops.
pub async fn serve(listener: UnixListener, live: Rc<LiveConfiguration>, nexus: NexusId) {
    let letter = controller_letter(live.controller()).to_ascii_uppercase();
    // The socket lives in the enclosure folder (see `socket_path`): the sim board's
    // backplane, which the `slot` verbs show, is that folder.
    let enclosure = listener
        .local_addr()
        .ok()
        .and_then(|a| {
            a.as_pathname()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        })
        .and_then(|dir| Enclosure::open(&dir).ok());
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                crate::log::warning(&format!("console accept failed: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let live = live.clone();
        let enclosure = enclosure.clone();
        tokio::task::spawn_local(async move {
            let (rd, wr) = stream.into_split();
            let mut input = FromTokio::new(rd);
            let mut output = FromTokio::new(wr);
            let mut executor = ControllerConsole::new(live.clone(), nexus);
            if let Some(enclosure) = enclosure {
                executor = executor.with_enclosure(enclosure);
            }
            let prompt = format!("dyad-{}> ", letter.to_ascii_lowercase());
            let banner = format!(
                "dyad controller {letter} console; 'help' lists the commands, 'quit' leaves"
            );
            let _ =
                console::shell::run(&mut input, &mut output, &mut executor, &prompt, &banner).await;
        });
    }
}
