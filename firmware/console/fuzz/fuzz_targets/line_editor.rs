//! Fuzzes the console's line editor with any byte stream, as line noise on a UART or a
//! confused terminal would send. Besides never panicking: the line never grows past
//! `MAX_LINE`, the cursor stays within it, every line handed back is printable ASCII of at
//! most `MAX_LINE` bytes, and no single byte makes the editor echo more than one redraw.
#![no_main]

use console::{EditorEvent, LineEditor, MAX_LINE};
use libfuzzer_sys::fuzz_target;

const PROMPT: &str = "dyad-a> ";

fuzz_target!(|data: &[u8]| {
    let mut editor = LineEditor::new(PROMPT);
    for &byte in data {
        let mut echoed = 0usize;
        let event = editor.feed(byte, &mut |bytes: &[u8]| echoed += bytes.len());
        // A redraw: CR, the prompt, the line, ESC [ K, ESC [ n D, and the CR LF of Enter.
        assert!(echoed <= PROMPT.len() + MAX_LINE + 16, "{echoed} bytes echoed for one byte");
        assert!(editor.line().len() <= MAX_LINE);
        assert!(editor.cursor() <= editor.line().len());
        if let Some(EditorEvent::Line(line)) = event {
            assert!(line.len() <= MAX_LINE, "a line of {} bytes", line.len());
            assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line:?}");
            assert!(editor.line().is_empty());
        }
    }
});
