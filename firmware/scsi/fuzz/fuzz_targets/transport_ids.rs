//! Fuzzes the iSCSI TransportID parser (`scsi::transport_id`), which reads what SPEC_I_PT and
//! REGISTER AND MOVE parameter lists carry. Besides not panicking, every TransportID it
//! accepts must survive a round trip: encoded as dyad reports it (READ FULL STATUS) and parsed
//! again, it names the same initiator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scsi::reservations::{iscsi_name_transport_id, iscsi_transport_id};
use scsi::transport_id::parse_list;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_list(data, 0, data.len()) else {
        return;
    };
    for s in parsed {
        let encoded = if s.any_isid {
            iscsi_name_transport_id(&s.initiator.name)
        } else {
            iscsi_transport_id(&s.initiator)
        };
        let again = parse_list(&encoded, 0, encoded.len()).expect("our own TransportID parses");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].initiator, s.initiator);
        assert_eq!(again[0].any_isid, s.any_isid);
    }
});
