//! Fuzzes the key=value text parser, its reassembly across PDUs and the value decoders.
#![no_main]

use iscsi::text::{
    decode_binary, parse, parse_number, TextAccumulator, TextWriter, MAX_KEY_LEN, MAX_VALUE_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data);
    if let Ok(pairs) = &parsed {
        let mut w = TextWriter::new();
        for (k, v) in pairs {
            assert!(!k.is_empty() && k.len() <= MAX_KEY_LEN);
            assert!(v.len() <= MAX_VALUE_LEN);
            let _ = decode_binary(v);
            let _ = parse_number(v);
            w.push(k, v);
        }
        // What was accepted re-encodes to something that parses to the same pairs.
        assert_eq!(parse(w.as_bytes()).as_ref(), Ok(pairs));
    }

    // Splitting the same text over PDUs (at positions taken from the data itself) must not
    // change the outcome, as long as it fits the limit.
    let mut acc = TextAccumulator::new(data.len());
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut chunks = data.chunks(step).peekable();
    let mut result = None;
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        match acc.push(chunk, !last) {
            Ok(None) => assert!(!last),
            Ok(Some(pairs)) => result = Some(Ok(pairs)),
            Err(e) => {
                result = Some(Err(e));
                break;
            }
        }
    }
    if let Some(r) = result {
        assert_eq!(r, parsed);
    }
});
