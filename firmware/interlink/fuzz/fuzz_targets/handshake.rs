//! Fuzzes the handshake state machines and an established channel with arbitrary frames.
//! The first byte picks the victim: a responder, an initiator (after its first message), or
//! either end of an established link. Without the key nothing may bring a link up or
//! deliver a message, and nothing may panic.
#![no_main]

use interlink::frame::MAX_BODY;
use interlink::hello::PROTOCOL_VERSION;
use interlink::{
    Fingerprint, FrameDecoder, HaMode, Handshake, Hello, Limits, Psk, SecureChannel, Step,
};
use libfuzzer_sys::fuzz_target;

fn hello(controller: u8) -> Hello {
    Hello {
        protocol_version: PROTOCOL_VERSION,
        controller,
        ha_mode: HaMode::SerializeOnly,
        limits: Limits {
            max_frame: MAX_BODY as u32,
            max_transfer: 1 << 20,
            max_luns: 64,
            max_ports: 16,
            max_initiators_per_port: 16,
        },
        config_fingerprint: Fingerprint([1; 32]),
        lun_set: Fingerprint([2; 32]),
        epoch: 0,
    }
}

fn frames(data: &[u8], mut each: impl FnMut(interlink::Frame<'_>) -> bool) {
    let mut dec = FrameDecoder::new(MAX_BODY);
    let mut rest = data;
    while !rest.is_empty() {
        match dec.decode(&mut rest) {
            Ok(Some(f)) => {
                if !each(f) {
                    return;
                }
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// An established pair, as a real handshake makes it.
fn pair(psk: &Psk) -> (SecureChannel, SecureChannel) {
    let (mut ini, m1) = Handshake::initiator(psk, hello(1)).unwrap();
    let mut res = Handshake::responder(psk, hello(2)).unwrap();
    let one = |hs: &mut Handshake, wire: &[u8]| {
        let mut dec = FrameDecoder::new(MAX_BODY);
        let mut rest = wire;
        let f = dec.decode(&mut rest).unwrap().unwrap();
        hs.on_frame(f).unwrap()
    };
    let Step::Send(m2) = one(&mut res, &m1) else {
        panic!()
    };
    let Step::Established(i) = one(&mut ini, &m2) else {
        panic!()
    };
    let Step::Established(r) = one(&mut res, &i.send) else {
        panic!()
    };
    (i.channel, r.channel)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let psk = Psk::new([0x42; 32]).unwrap();
    match mode % 4 {
        0 => {
            let mut hs = Handshake::responder(&psk, hello(2)).unwrap();
            let mut sent = 0;
            frames(data, |f| match hs.on_frame(f) {
                Ok(Step::Send(_)) => {
                    // Only a genuine first message (which needs the key) gets an answer.
                    sent += 1;
                    true
                }
                Ok(Step::Established(_)) => panic!("a link came up from fuzz input"),
                Err(_) => false,
            });
            assert_eq!(sent, 0, "a forged first message was accepted");
        }
        1 => {
            let (mut hs, _) = Handshake::initiator(&psk, hello(1)).unwrap();
            frames(data, |f| match hs.on_frame(f) {
                Ok(_) => panic!("the initiator accepted a forged response"),
                Err(_) => false,
            });
        }
        m => {
            let (i, r) = pair(&psk);
            let mut ch = if m == 2 { i } else { r };
            frames(data, |f| match ch.open(f) {
                Ok(got) => panic!("a forged frame was delivered: {got:?}"),
                Err(_) => {
                    assert!(ch.is_failed());
                    false
                }
            });
        }
    }
});
