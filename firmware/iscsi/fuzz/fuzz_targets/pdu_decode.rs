//! Fuzzes the BHS/AHS decoder with arbitrary headers: it must never panic, and what it
//! accepts must be self-consistent.
#![no_main]

use iscsi::pdu::{decode_request, total_ahs_len, Request, BHS_LEN, MAX_CDB_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((bhs, rest)) = data.split_first_chunk::<BHS_LEN>() else {
        return;
    };
    // Both the AHS the header declares (the connection's normal path) and whatever
    // follows (a length mismatch the decoder must catch).
    let declared = rest.get(..total_ahs_len(bhs)).unwrap_or(rest);
    for ahs in [declared, rest] {
        match decode_request(bhs, ahs) {
            Ok(Request::ScsiCommand(cmd)) => {
                assert!(cmd.cdb_len >= 16 && cmd.cdb_len <= MAX_CDB_LEN);
                assert_eq!(cmd.cdb().len(), cmd.cdb_len);
                assert!(cmd.attr <= 4);
                assert!(!(cmd.read && cmd.write));
            }
            Ok(Request::Text {
                final_, continue_, ..
            }) => assert!(!(final_ && continue_)),
            Ok(_) => assert!(ahs.is_empty()),
            Err(e) => {
                let reason = e.reject_reason();
                assert!((0x02..=0x0c).contains(&reason));
            }
        }
    }
});
