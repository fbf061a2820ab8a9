//! Fuzzes the frame decoder with any byte stream, in chunks the input chooses, and decodes
//! each frame body as a message and as a Hello. Nothing may panic, no frame may exceed the
//! bound, and a failed decoder stays failed.
#![no_main]

use interlink::frame::MAX_BODY;
use interlink::{FrameDecoder, FrameError, Hello, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let max = if control & 0x80 != 0 {
        MAX_BODY
    } else {
        1 + usize::from(control) * 8
    };
    let chunk = 1 + usize::from(control & 0x0f);
    let mut dec = FrameDecoder::new(max);
    let mut failed = false;
    for piece in data.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            match dec.decode(&mut rest) {
                Ok(Some(frame)) => {
                    assert!(!failed);
                    assert!(!frame.body.is_empty() && frame.body.len() <= max);
                    let _ = Message::decode(frame.body);
                    let _ = Hello::decode(frame.body);
                }
                Ok(None) => assert!(rest.is_empty()),
                Err(FrameError::Poisoned) => {
                    assert!(failed);
                    break;
                }
                Err(_) => {
                    assert!(!failed);
                    failed = true;
                    assert_eq!(dec.decode(&mut rest).err(), Some(FrameError::Poisoned));
                    break;
                }
            }
        }
    }
});
