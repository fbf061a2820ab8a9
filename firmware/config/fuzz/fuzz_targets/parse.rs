//! Fuzzes the ctl.conf parser (`config::Config::parse`) with any text: valid UTF-8 as is,
//! other bytes converted lossily. Besides never panicking, every configuration it accepts
//! must survive the round trip: written by `to_text` and read again, it is the same
//! configuration, and writing that gives the same text.
#![no_main]

use config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = Config::parse("fuzz.conf", &text) else {
        return;
    };
    let saved = config.to_text();
    let again = match Config::parse("saved.conf", &saved) {
        Ok(c) => c,
        Err(e) => panic!("to_text output does not parse: {e}\n--- input\n{text}\n--- saved\n{saved}"),
    };
    assert_eq!(again, config, "round trip changed the configuration\n--- saved\n{saved}");
    assert_eq!(again.to_text(), saved, "to_text is not canonical");
});
