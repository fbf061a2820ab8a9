//! Fuzzes the console's command parser (`console::parse`) with any line: valid UTF-8 as is,
//! other bytes converted lossily. Besides never panicking: every refusal has a message, and
//! a `help VERB` the parser accepts has a help text.
#![no_main]

use console::{parse, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    match parse(&line) {
        Ok(Some(Command::Help { verb })) => {
            if let Err(e) = console::help::text(verb.as_deref()) {
                panic!("help accepted {verb:?} but has no text: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => assert!(!e.message.is_empty(), "an empty refusal for {line:?}"),
    }
});
