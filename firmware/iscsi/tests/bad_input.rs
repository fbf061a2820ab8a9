//! End-to-end regression suite of hostile and malformed iSCSI input against the real connection
//! engine over TCP on 127.0.0.1: every case gets the RFC 7143 answer, never a panic or a hang.

// Each test binary uses a different part of the shared fixture.
#[allow(dead_code)]
mod support;

use iscsi::portal::{TargetDef, Timers};
use std::time::{Duration, Instant};
use support::initiator::{
    cdb, op, parse_text, text, text_value, Bhs, Initiator, LoginFields, Pdu, INITIATOR,
    READ_TIMEOUT, RESERVED,
};
use support::{isid, run, Target, TARGET};
use tokio::task::JoinSet;

/// How long "silently ignored" is watched for.
const SILENCE: Duration = Duration::from_millis(500);

/// Reject reasons (RFC 7143 §11.17.1).
const PROTOCOL_ERROR: u8 = 0x04;
const COMMAND_NOT_SUPPORTED: u8 = 0x05;
const TASK_IN_PROGRESS: u8 = 0x07;
const INVALID_PDU_FIELD: u8 = 0x09;

/// TMF functions (RFC 7143 §11.5.1).
const ABORT_TASK: u8 = 1;
const LOGICAL_UNIT_RESET: u8 = 5;
const TARGET_COLD_RESET: u8 = 7;

/// SCSI status codes.
const GOOD: u8 = 0x00;
const CHECK_CONDITION: u8 = 0x02;
const TASK_ABORTED: u8 = 0x40;

/// A normal session on the fixture's target, unit attentions taken.
async fn session(t: &Target, n: u16) -> Initiator {
    let mut i = Initiator::connect(t.addr, isid(n)).await;
    i.login(Some(TARGET), &[]).await;
    i.clear_unit_attentions().await;
    i
}

/// Asserts `p` is a Reject for `rejected` with one of `reasons`.
fn assert_reject(p: &Pdu, reasons: &[u8], rejected: &Bhs) {
    assert_eq!(
        p.opcode(),
        op::REJECT,
        "expected a Reject, got {:#04x}",
        p.opcode()
    );
    assert!(
        reasons.contains(&p.byte2()),
        "Reject reason {:#04x}, expected one of {reasons:02x?}",
        p.byte2()
    );
    assert_eq!(p.itt(), RESERVED, "a Reject's ITT is reserved");
    assert_eq!(p.data, rejected.0, "a Reject carries the rejected BHS");
}

/// Sends a WRITE(10) without data and returns its ITT, CmdSN and first R2T.
async fn write_awaiting_r2t(i: &mut Initiator, lba: u32, blocks: u16) -> (u32, u32, Pdu) {
    let itt = i.itt();
    let cmdsn = i.cmdsn;
    let b = i.command(
        itt,
        &cdb::write10(lba, blocks),
        u32::from(blocks) * 512,
        false,
        true,
    );
    i.send(b, &[], &[]).await.expect("send WRITE");
    let r2t = i.recv().await;
    assert_eq!(r2t.opcode(), op::R2T, "a write without data gets an R2T");
    assert_eq!(r2t.itt(), itt);
    assert_eq!(r2t.u32_at(40), 0, "R2T buffer offset");
    assert_eq!(
        r2t.u32_at(44),
        u32::from(blocks) * 512,
        "R2T desired length"
    );
    (itt, cmdsn, r2t)
}

/// `len` bytes of a pattern unique to `seed`.
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|k| (k.wrapping_mul(31) ^ seed.wrapping_mul(0x9e37_79b9) >> 8) as u8)
        .collect()
}

// --- 1. unknown opcodes -----------------------------------------------------------------------

#[test]
fn unknown_opcode_is_rejected_and_the_connection_keeps_working() {
    run(
        |_| {},
        |t| async move {
            let mut i = session(&t, 1).await;
            // Reserved initiator opcodes and target opcodes, with and without a data segment.
            for (n, opcode) in [0x07u8, 0x1c, 0x21, 0x3f].into_iter().enumerate() {
                let data = vec![0xa5u8; n * 5];
                let itt = i.itt();
                let b = Bhs::new(opcode)
                    .flags(0x80)
                    .itt(itt)
                    .cmdsn(i.cmdsn)
                    .exp_statsn(i.exp_statsn)
                    .data_len(data.len() as u32);
                i.send(b, &[], &data).await.unwrap();
                let r = i.recv().await;
                assert_reject(&r, &[COMMAND_NOT_SUPPORTED], &b);
            }
            i.ping(b"still there").await;
        },
    );
}

// --- 2. data segment over MaxRecvDataSegmentLength ------------------------------------------

#[test]
fn oversized_data_segment_drops_only_that_connection() {
    run(
        |pg| pg.limits.max_recv_data_segment_length = 8192,
        |t| async move {
            let mut other = session(&t, 1).await;
            other.ping(b"").await;
            let mut bad = session(&t, 2).await;
            assert_eq!(bad.target_mrdsl, 8192, "declared MaxRecvDataSegmentLength");
            // Exactly the limit is fine.
            bad.ping(&[7u8; 8192]).await;
            let itt = bad.itt();
            let b = Bhs::new(op::NOP_OUT)
                .flags(0x80)
                .itt(itt)
                .ttt(RESERVED)
                .cmdsn(bad.take_cmdsn())
                .exp_statsn(bad.exp_statsn);
            // The target may reset the connection while this is still being written.
            let _ = bad.send(b, &[], &[7u8; 8193]).await;
            let got = bad.expect_closed(READ_TIMEOUT).await;
            assert!(got.is_empty(), "no answer to an oversized PDU");
            other.ping(b"unaffected").await;
            assert!(t.wait_connections(1, Duration::from_secs(1)).await);
        },
    );
}

// --- 3. malformed AHS ------------------------------------------------------------------------

/// A PDU with a malformed AHS and the Reject reasons it may get.
struct BadAhs {
    what: &'static str,
    opcode: u8,
    /// TotalAHSLength in words.
    words: u8,
    ahs: Vec<u8>,
    data: Vec<u8>,
    reasons: &'static [u8],
}

#[test]
fn malformed_ahs_is_rejected_without_consuming_cmdsn() {
    run(
        |_| {},
        |t| async move {
            let mut i = session(&t, 1).await;
            let tur = cdb::test_unit_ready();
            let mut long_cdb = vec![0u8, 18, 1, 0];
            long_cdb.extend([0u8; 20]);
            let scsi = |what, words, ahs: Vec<u8>, reasons| BadAhs {
                what,
                opcode: op::SCSI_COMMAND,
                words,
                ahs,
                data: Vec::new(),
                reasons,
            };
            let cases = [
                scsi(
                    "AHSLength runs past TotalAHSLength",
                    2,
                    vec![0, 40, 1, 0, 0, 0, 0, 0],
                    &[PROTOCOL_ERROR],
                ),
                BadAhs {
                    data: vec![0x5a; 101],
                    ..scsi(
                        "the same, with a data segment to skip",
                        2,
                        vec![0, 40, 1, 0, 0, 0, 0, 0],
                        &[PROTOCOL_ERROR],
                    )
                },
                scsi(
                    "extended CDB AHS without its reserved byte",
                    1,
                    vec![0, 0, 1, 0],
                    &[PROTOCOL_ERROR],
                ),
                scsi(
                    "second AHS of type 0",
                    2,
                    vec![0, 1, 1, 0, 0, 0, 0, 0],
                    &[INVALID_PDU_FIELD],
                ),
                scsi(
                    "unknown AHS type",
                    1,
                    vec![0, 1, 0x3c, 0],
                    &[INVALID_PDU_FIELD],
                ),
                scsi(
                    "extended CDB longer than 32 bytes",
                    6,
                    long_cdb,
                    &[COMMAND_NOT_SUPPORTED],
                ),
                scsi(
                    "bidirectional read AHS of the wrong length",
                    2,
                    vec![0, 4, 2, 0, 0, 0, 0x10, 0],
                    &[PROTOCOL_ERROR],
                ),
                scsi(
                    "255 words of 0xff",
                    255,
                    vec![0xff; 1020],
                    &[PROTOCOL_ERROR, INVALID_PDU_FIELD],
                ),
                BadAhs {
                    opcode: op::NOP_OUT,
                    ..scsi("AHS on a NOP-Out", 1, vec![0, 1, 1, 0], &[PROTOCOL_ERROR])
                },
            ];
            for c in cases {
                let itt = i.itt();
                let b = Bhs::new(c.opcode)
                    .flags(0x81)
                    .itt(itt)
                    .ttt(RESERVED)
                    .cmdsn(i.cmdsn)
                    .exp_statsn(i.exp_statsn)
                    .ahs_words(c.words)
                    .data_len(c.data.len() as u32);
                let b = if c.opcode == op::SCSI_COMMAND {
                    b.u32_at(20, 0).cdb(&tur)
                } else {
                    b
                };
                i.send(b, &c.ahs, &c.data).await.unwrap();
                let r = i.recv().await;
                assert_reject(&r, c.reasons, &b);
                // RFC 7143 §7.3: a rejected command's CmdSN is not considered received.
                assert_eq!(
                    r.exp_cmdsn(),
                    i.cmdsn,
                    "{}: ExpCmdSN after the Reject",
                    c.what
                );
            }
            i.ping(b"").await;
        },
    );
}

// --- 4. CmdSN outside the window -------------------------------------------------------------

#[test]
fn cmdsn_outside_the_window_is_ignored() {
    run(
        |_| {},
        |t| async move {
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            let r = i.login(Some(TARGET), &[]).await;
            let (exp, max) = (r.exp_cmdsn(), r.max_cmdsn());
            assert!(max.wrapping_sub(exp) < 0x8000_0000, "MaxCmdSN >= ExpCmdSN");
            let nop = |i: &mut Initiator, cmdsn: u32| {
                Bhs::new(op::NOP_OUT)
                    .flags(0x80)
                    .itt(i.itt())
                    .ttt(RESERVED)
                    .cmdsn(cmdsn)
                    .exp_statsn(i.exp_statsn)
            };
            let tur = |i: &mut Initiator, cmdsn: u32| {
                Bhs::new(op::SCSI_COMMAND)
                    .flags(0x81)
                    .itt(i.itt())
                    .cmdsn(cmdsn)
                    .exp_statsn(i.exp_statsn)
                    .cdb(&cdb::test_unit_ready())
            };
            for b in [
                nop(&mut i, max.wrapping_add(1)),
                tur(&mut i, max.wrapping_add(10)),
                nop(&mut i, exp.wrapping_sub(1)),
                tur(&mut i, exp.wrapping_sub(100)),
            ] {
                i.send(b, &[], &[]).await.unwrap();
            }
            i.expect_silence(SILENCE).await;
            i.cmdsn = exp;
            let r = i.ping(b"").await;
            assert_eq!(
                r.exp_cmdsn(),
                exp.wrapping_add(1),
                "only the ping was received"
            );
        },
    );
}

// --- 5. Data-Out for unknown tasks -----------------------------------------------------------

#[test]
fn data_out_for_an_unknown_task() {
    run(
        |_| {},
        |t| async move {
            let mut i = session(&t, 1).await;
            // Unsolicited: silently dropped (the command may have ended early).
            let b = i.data_out(0x7777, RESERVED, 0, 0, true);
            i.send(b, &[], &[1u8; 512]).await.unwrap();
            i.expect_silence(SILENCE).await;
            // Claiming an R2T that was never sent: Reject, invalid PDU field.
            let b = i.data_out(0x7778, 0x0bad_0001, 0, 0, true).data_len(512);
            i.send(b, &[], &[2u8; 512]).await.unwrap();
            let r = i.recv().await;
            assert_reject(&r, &[INVALID_PDU_FIELD], &b);
            i.ping(b"").await;
        },
    );
}

// --- 6. Data-Out sequence errors -------------------------------------------------------------

/// A write's Data-Out gone wrong: (DataSN, buffer offset, length, F) per PDU, sent for the
/// R2T's TTT xor `ttt_xor`, and the ASCQs of ABORTED COMMAND, 4Bh it may end with.
struct BadDataOut {
    what: &'static str,
    ttt_xor: u32,
    pdus: Vec<(u32, u32, usize, bool)>,
    ascqs: &'static [u8],
}

#[test]
fn data_out_sequence_errors_end_the_command_not_the_session() {
    run(
        |_| {},
        |t| async move {
            let mut i = session(&t, 1).await;
            let data = pattern(6, 4096);
            let one = |what, datasn, offset, len| BadDataOut {
                what,
                ttt_xor: 0,
                pdus: vec![(datasn, offset, len, true)],
                ascqs: &[0],
            };
            let cases = [
                one("wrong DataSN", 1, 0, 4096),
                one("wrong buffer offset", 0, 512, 3584),
                one("more data than the R2T asked", 0, 0, 8192),
                BadDataOut {
                    pdus: vec![(0, 0, 2048, false), (5, 2048, 2048, true)],
                    ..one("DataSN gap in the second PDU", 0, 0, 0)
                },
                BadDataOut {
                    ttt_xor: 0x5555,
                    ascqs: &[0, 1],
                    ..one("a TTT this command was not given", 0, 0, 4096)
                },
            ];
            for (n, c) in cases.into_iter().enumerate() {
                let what = c.what;
                let lba = 1000 + 8 * n as u32;
                let (itt, _, r2t) = write_awaiting_r2t(&mut i, lba, 8).await;
                let big = pattern(n as u32, 8192);
                for (datasn, offset, len, final_) in c.pdus {
                    let b = i.data_out(itt, r2t.ttt() ^ c.ttt_xor, datasn, offset, final_);
                    let at = offset as usize;
                    i.send(b, &[], &big[at..at + len]).await.unwrap();
                }
                let out = i.finish(itt, &[]).await;
                assert_eq!(out.status, CHECK_CONDITION, "{what}");
                let (key, asc, ascq) = out.sense_code().expect("sense data");
                assert_eq!((key, asc), (0x0b, 0x4b), "{what}: ABORTED COMMAND, 4Bh");
                assert!(c.ascqs.contains(&ascq), "{what}: ASCQ {ascq:#04x}");
                // Nothing of it reached the medium.
                let back = i.read(lba, 8).await;
                assert_eq!(back.status, GOOD);
                assert!(back.data.iter().all(|&b| b == 0), "{what}: data written");
            }
            // The session still works end to end.
            assert_eq!(i.write(1000, &data, false).await.status, GOOD);
            let back = i.read(1000, 8).await;
            assert_eq!(back.data, data);
            i.ping(b"").await;
        },
    );
}

// --- 7. login -------------------------------------------------------------------------------

/// Sends one Login Request on a fresh connection; expects the failure `status` and a close.
async fn login_fails(t: &Target, fields: LoginFields, data: &[u8], status: (u8, u8), what: &str) {
    let mut i = Initiator::connect(t.addr, fields.isid).await;
    let r = i.login_pdu(&fields, data).await;
    assert_eq!(r.login_status(), status, "{what}: login status");
    assert!(!r.final_(), "{what}: a failed login does not transit");
    let rest = i.expect_closed(READ_TIMEOUT).await;
    assert!(rest.is_empty(), "{what}: PDUs after the failure");
}

fn names() -> Vec<u8> {
    text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)])
}

#[test]
fn malformed_login_text_fails_the_login() {
    run(
        |_| {},
        |t| async move {
            let cat = |tail: &[u8]| [names(), tail.to_vec()].concat();
            let cases: Vec<(&str, Vec<u8>)> = vec![
                ("unterminated last key", cat(b"MaxBurstLength=512")),
                (
                    "repeated key with different values",
                    cat(b"MaxBurstLength=512\0MaxBurstLength=1024\0"),
                ),
                ("key without '='", cat(b"JustAKey\0")),
                ("empty key", cat(b"=value\0")),
                ("non-UTF-8", cat(b"X-vendor-key=\xff\xfe\0")),
                ("nothing but garbage", b"\x01\x02\x03".to_vec()),
            ];
            for (n, (what, data)) in cases.into_iter().enumerate() {
                let fields = LoginFields::new(isid(n as u16));
                login_fails(&t, fields, &data, (2, 0), what).await;
            }
            // The portal is unharmed.
            session(&t, 100).await.ping(b"").await;
        },
    );
}

#[test]
fn huge_login_text_fails_the_login() {
    run(
        |_| {},
        |t| async move {
            // Over 64 KiB in 8 KiB pieces with the C bit: each piece gets an empty answer
            // (RFC 7143 §6.3) until the text is too long.
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            let fields = LoginFields {
                transit: false,
                continue_: true,
                ..LoginFields::new(isid(1))
            };
            let piece = vec![b'a'; 8192];
            let mut failed = None;
            for n in 1..=9 {
                let r = i.login_pdu(&fields, &piece).await;
                if r.login_status() != (0, 0) {
                    failed = Some((n, r.login_status()));
                    break;
                }
                assert!(!r.final_() && !r.continue_(), "answer to a continued text");
                assert!(r.data.is_empty(), "answer to a continued text is empty");
            }
            let (n, status) = failed.expect("65 KiB of login text was accepted");
            assert_eq!(n, 9, "failed only past 64 KiB");
            assert!(
                matches!(status.0, 2 | 3),
                "initiator or target error: {status:?}"
            );
            assert!(i.expect_closed(READ_TIMEOUT).await.is_empty());

            // One PDU over 64 KiB.
            login_fails(
                &t,
                LoginFields::new(isid(2)),
                &vec![b'b'; 64 * 1024 + 1],
                (3, 2),
                "one 64 KiB + 1 PDU",
            )
            .await;
            session(&t, 3).await.ping(b"").await;
        },
    );
}

#[test]
fn login_header_errors() {
    run(
        |_| {},
        |t| async move {
            let version = LoginFields {
                version_max: 1,
                version_min: 1,
                ..LoginFields::new(isid(1))
            };
            login_fails(&t, version, &names(), (2, 5), "version-min 1").await;

            let unknown = text(&[
                ("InitiatorName", INITIATOR),
                ("TargetName", "iqn.2024-01.org.dyad:no-such-target"),
            ]);
            login_fails(
                &t,
                LoginFields::new(isid(2)),
                &unknown,
                (2, 3),
                "unknown target",
            )
            .await;

            let tsih = LoginFields {
                tsih: 0x4242,
                ..LoginFields::new(isid(3))
            };
            login_fails(&t, tsih, &names(), (2, 0x0a), "TSIH of no session").await;

            session(&t, 4).await.ping(b"").await;
        },
    );
}

#[test]
fn non_login_pdu_before_login_drops_the_connection() {
    run(
        |_| {},
        |t| async move {
            // As the very first PDU.
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            let b = Bhs::new(op::NOP_OUT)
                .immediate()
                .flags(0x80)
                .itt(1)
                .ttt(RESERVED);
            i.send(b, &[], &[]).await.unwrap();
            assert!(i.expect_closed(READ_TIMEOUT).await.is_empty());

            // In the middle of a login that has not transited yet.
            let mut i = Initiator::connect(t.addr, isid(2)).await;
            let fields = LoginFields {
                transit: false,
                ..LoginFields::new(isid(2))
            };
            let r = i.login_pdu(&fields, &names()).await;
            assert_eq!(r.login_status(), (0, 0));
            assert!(!r.final_());
            let b = Bhs::new(op::SCSI_COMMAND)
                .flags(0x81)
                .itt(2)
                .cmdsn(1)
                .cdb(&cdb::test_unit_ready());
            i.send(b, &[], &[]).await.unwrap();
            assert!(i.expect_closed(READ_TIMEOUT).await.is_empty());

            // A Text Request first.
            let mut i = Initiator::connect(t.addr, isid(3)).await;
            let b = i.text_request(3, RESERVED, true, false);
            i.send(b, &[], &text(&[("SendTargets", "All")]))
                .await
                .unwrap();
            assert!(i.expect_closed(READ_TIMEOUT).await.is_empty());

            assert!(t.wait_connections(0, Duration::from_secs(1)).await);
        },
    );
}

// --- 8. immediate data violations ------------------------------------------------------------

#[test]
fn forbidden_or_oversized_immediate_data_drops_the_connection() {
    run(
        |_| {},
        |t| async move {
            // ImmediateData=No negotiated.
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            let r = i.login(Some(TARGET), &[("ImmediateData", "No")]).await;
            assert_eq!(text_value(&r.data, "ImmediateData").as_deref(), Some("No"));
            let itt = i.itt();
            let b = i.command(itt, &cdb::write10(0, 1), 512, false, true);
            let _ = i.send(b, &[], &[1u8; 512]).await;
            assert!(i.expect_closed(READ_TIMEOUT).await.is_empty());

            // More immediate data than FirstBurstLength.
            let mut i = Initiator::connect(t.addr, isid(2)).await;
            let r = i.login(Some(TARGET), &[("FirstBurstLength", "4096")]).await;
            assert_eq!(
                text_value(&r.data, "FirstBurstLength").as_deref(),
                Some("4096")
            );
            i.clear_unit_attentions().await;
            // Up to FirstBurstLength is fine.
            assert_eq!(i.write(0, &pattern(8, 4096), true).await.status, GOOD);
            let itt = i.itt();
            let b = i.command(itt, &cdb::write10(0, 16), 8192, false, true);
            let _ = i.send(b, &[], &[2u8; 8192]).await;
            assert!(i.expect_closed(READ_TIMEOUT).await.is_empty());

            // Immediate data on a READ.
            let mut i = session(&t, 3).await;
            let itt = i.itt();
            let b = i.command(itt, &cdb::read10(0, 1), 512, true, false);
            let _ = i.send(b, &[], &[3u8; 512]).await;
            assert!(i.expect_closed(READ_TIMEOUT).await.is_empty());

            assert!(t.wait_connections(0, Duration::from_secs(1)).await);
        },
    );
}

// --- 9. duplicate ITT ------------------------------------------------------------------------

#[test]
fn duplicate_itt_while_gathering_data_is_rejected() {
    run(
        |_| {},
        |t| async move {
            let mut i = session(&t, 1).await;
            let (itt, _, r2t) = write_awaiting_r2t(&mut i, 2000, 8).await;
            let dup = i.command(itt, &cdb::test_unit_ready(), 0, false, false);
            i.send(dup, &[], &[]).await.unwrap();
            let r = i.recv().await;
            assert_reject(
                &r,
                &[PROTOCOL_ERROR, TASK_IN_PROGRESS, INVALID_PDU_FIELD],
                &dup,
            );
            // The first command is unharmed.
            let data = pattern(9, 4096);
            i.answer_r2t(&r2t, &data).await;
            let out = i.finish(itt, &data).await;
            assert_eq!(out.status, GOOD);
            i.cmdsn = i.target_exp_cmdsn;
            assert_eq!(i.read(2000, 8).await.data, data);
            i.ping(b"").await;
        },
    );
}

#[test]
fn rejected_command_does_not_consume_its_cmdsn() {
    run(
        |_| {},
        |t| async move {
            let mut i = session(&t, 1).await;
            let (itt, _, r2t) = write_awaiting_r2t(&mut i, 2100, 8).await;
            let cmdsn = i.cmdsn;
            let dup = i.command(itt, &cdb::test_unit_ready(), 0, false, false);
            i.send(dup, &[], &[]).await.unwrap();
            let r = i.recv().await;
            assert_reject(
                &r,
                &[PROTOCOL_ERROR, TASK_IN_PROGRESS, INVALID_PDU_FIELD],
                &dup,
            );
            let data = pattern(10, 4096);
            i.answer_r2t(&r2t, &data).await;
            assert_eq!(i.finish(itt, &data).await.status, GOOD);
            // The initiator plugs the CmdSN gap the Reject left with a command of that CmdSN.
            i.cmdsn = cmdsn;
            let itt = i.itt();
            let b = Bhs::new(op::NOP_OUT)
                .flags(0x80)
                .itt(itt)
                .ttt(RESERVED)
                .cmdsn(i.take_cmdsn())
                .exp_statsn(i.exp_statsn);
            i.send(b, &[], &[]).await.unwrap();
            let answer = i.recv_within(Duration::from_secs(1)).await.unwrap();
            assert!(
                answer.is_some(),
                "the NOP-Out re-using the rejected command's CmdSN {cmdsn} was ignored"
            );
            assert_eq!(r.exp_cmdsn(), cmdsn, "ExpCmdSN in the Reject");
        },
    );
}

// --- 10. NOP-In keep-alive -------------------------------------------------------------------

fn fast_keep_alive() -> Timers {
    Timers {
        nop_interval: Duration::from_millis(200),
        nop_timeout: Duration::from_millis(200),
        login_timeout: Duration::from_secs(2),
    }
}

#[test]
fn unanswered_nop_in_drops_the_connection() {
    run(
        |pg| pg.timers = fast_keep_alive(),
        |t| async move {
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            i.auto_pong = false;
            i.login(Some(TARGET), &[]).await;
            let start = Instant::now();
            let ping = i.recv().await;
            assert!(ping.is_ping(), "a NOP-In ping, got {:#04x}", ping.opcode());
            assert_ne!(ping.ttt(), RESERVED, "a ping asks for an answer");
            let pinged = start.elapsed();
            assert!(
                pinged >= Duration::from_millis(150),
                "pinged after {pinged:?}"
            );
            assert!(pinged < Duration::from_secs(1), "pinged after {pinged:?}");
            assert!(i.expect_closed(Duration::from_secs(2)).await.is_empty());
            let dropped = start.elapsed();
            assert!(
                dropped >= Duration::from_millis(350),
                "dropped after {dropped:?}"
            );
            assert!(
                dropped < Duration::from_millis(1500),
                "dropped after {dropped:?}"
            );
            assert!(t.wait_connections(0, Duration::from_secs(1)).await);
            assert_eq!(t.portal.sessions.len(), 0);
        },
    );
}

#[test]
fn answered_nop_in_keeps_the_connection() {
    run(
        |pg| pg.timers = fast_keep_alive(),
        |t| async move {
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            i.auto_pong = false;
            i.login(Some(TARGET), &[]).await;
            let until = Instant::now() + Duration::from_millis(1500);
            let mut pings = 0;
            while let Some(wait) = until.checked_duration_since(Instant::now()) {
                match i.recv_within(wait).await.expect("connection lost") {
                    Some(p) if p.is_ping() => {
                        pings += 1;
                        i.pong(&p).await.unwrap();
                    }
                    Some(p) => panic!("unexpected opcode {:#04x}", p.opcode()),
                    None => break,
                }
            }
            assert!(pings >= 3, "only {pings} pings in 1.5 s");
            i.ping(b"alive").await;
            assert_eq!(t.portal.connections(), 1);
        },
    );
}

#[test]
fn keep_alive_tears_down_a_connection_stalled_mid_pdu() {
    run(
        |pg| pg.timers = fast_keep_alive(),
        |t| async move {
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            i.auto_pong = false;
            i.login(Some(TARGET), &[]).await;
            // A NOP-Out announcing 1000 bytes of data, of which 10 ever come.
            let itt = i.itt();
            let b = Bhs::new(op::NOP_OUT)
                .flags(0x80)
                .itt(itt)
                .ttt(RESERVED)
                .cmdsn(i.take_cmdsn())
                .exp_statsn(i.exp_statsn)
                .data_len(1000);
            i.send_raw(&b.0).await.unwrap();
            i.send_raw(&[0u8; 10]).await.unwrap();
            // The ping goes unanswered; the target gives up on the connection.
            i.expect_closed(Duration::from_secs(2)).await;
            assert!(
                t.wait_connections(0, Duration::from_secs(2)).await,
                "the target closed its side but the connection task is still running \
                 ({} connection(s), {} session(s))",
                t.portal.connections(),
                t.portal.sessions.len()
            );
            assert_eq!(t.portal.sessions.len(), 0);
        },
    );
}

// --- 11. session reinstatement ---------------------------------------------------------------

#[test]
fn login_with_the_same_isid_reinstates_the_session() {
    run(
        |_| {},
        |t| async move {
            let mut a = session(&t, 1).await;
            let mut b = session(&t, 2).await;
            a.ping(b"").await;
            b.ping(b"").await;
            let mut c = Initiator::connect(t.addr, isid(1)).await;
            c.login(Some(TARGET), &[]).await;
            assert_ne!(c.tsih, a.tsih, "a new session gets a new TSIH");
            assert!(a.expect_closed(READ_TIMEOUT).await.is_empty());
            b.ping(b"other ISID unaffected").await;
            c.clear_unit_attentions().await;
            c.ping(b"").await;
            assert!(t.wait_connections(2, Duration::from_secs(1)).await);
            assert_eq!(t.portal.sessions.len(), 2);
        },
    );
}

#[test]
fn reinstatement_ends_a_connection_stalled_mid_pdu() {
    run(
        |_| {},
        |t| async move {
            let mut a = session(&t, 1).await;
            let itt = a.itt();
            let b = Bhs::new(op::NOP_OUT)
                .flags(0x80)
                .itt(itt)
                .ttt(RESERVED)
                .cmdsn(a.take_cmdsn())
                .exp_statsn(a.exp_statsn)
                .data_len(1000);
            a.send_raw(&b.0).await.unwrap();
            a.send_raw(&[0u8; 10]).await.unwrap();
            let mut c = Initiator::connect(t.addr, isid(1)).await;
            c.login(Some(TARGET), &[]).await;
            a.expect_closed(READ_TIMEOUT).await;
            assert!(t.wait_connections(1, Duration::from_secs(1)).await);
        },
    );
}

// --- 12. many sessions -----------------------------------------------------------------------

#[test]
fn sixty_four_concurrent_sessions_write_and_read_back() {
    const SESSIONS: u16 = 64;
    const BLOCKS: u16 = 32;
    run(
        |_| {},
        |t| async move {
            let all_in = std::rc::Rc::new(tokio::sync::Barrier::new(usize::from(SESSIONS) + 1));
            let mut set = JoinSet::new();
            for n in 0..SESSIONS {
                let addr = t.addr;
                let all_in = all_in.clone();
                set.spawn_local(async move {
                    let mut i = Initiator::connect(addr, isid(n)).await;
                    i.login(Some(TARGET), &[]).await;
                    all_in.wait().await;
                    i.clear_unit_attentions().await;
                    let lba = u32::from(n) * 64;
                    let data = pattern(u32::from(n), usize::from(BLOCKS) * 512);
                    // Half with immediate data, half with R2T-solicited Data-Out.
                    let w = i.write(lba, &data, n % 2 == 0).await;
                    assert_eq!(w.status, GOOD, "session {n}: WRITE");
                    let r = i.read(lba, BLOCKS).await;
                    assert_eq!(r.status, GOOD, "session {n}: READ");
                    assert!(r.data == data, "session {n}: data read back differs");
                    i.logout().await;
                });
            }
            all_in.wait().await;
            assert_eq!(t.portal.sessions.len(), usize::from(SESSIONS));
            while let Some(r) = set.join_next().await {
                r.expect("a session failed");
            }
            assert!(t.wait_connections(0, Duration::from_secs(2)).await);
        },
    );
}

// --- 13. task management ---------------------------------------------------------------------

#[test]
fn abort_task_of_a_write_awaiting_data() {
    run(
        |_| {},
        |t| async move {
            let mut i = session(&t, 1).await;
            let (itt, cmdsn, _r2t) = write_awaiting_r2t(&mut i, 3000, 8).await;
            assert_eq!(t.tasks_in_set(), 1);
            let response = i.task_management(ABORT_TASK, itt, cmdsn).await;
            assert_eq!(response, 0, "Function Complete");
            i.expect_silence(SILENCE).await;
            assert_eq!(t.tasks_in_set(), 0, "the aborted write left the task set");
            i.ping(b"").await;
            let back = i.read(3000, 8).await;
            assert!(
                back.data.iter().all(|&b| b == 0),
                "aborted write reached the medium"
            );
        },
    );
}

#[test]
fn lun_reset_raises_a_unit_attention_on_other_sessions() {
    run(
        |_| {},
        |t| async move {
            let mut a = session(&t, 1).await;
            let mut b = session(&t, 2).await;
            let response = a.task_management(LOGICAL_UNIT_RESET, RESERVED, 0).await;
            assert_eq!(response, 0, "Function Complete");
            let r = b.test_unit_ready().await;
            assert_eq!(r.status, CHECK_CONDITION);
            assert_eq!(
                r.sense_code(),
                Some((6, 0x29, 0x03)),
                "BUS DEVICE RESET FUNCTION OCCURRED"
            );
            assert_eq!(b.test_unit_ready().await.status, GOOD);
        },
    );
}

#[test]
fn lun_reset_reports_task_aborted_for_another_sessions_pending_write() {
    run(
        |_| {},
        |t| async move {
            let mut a = session(&t, 1).await;
            let mut b = session(&t, 2).await;
            let (itt, _, r2t) = write_awaiting_r2t(&mut b, 3100, 8).await;
            assert_eq!(a.task_management(LOGICAL_UNIT_RESET, RESERVED, 0).await, 0);
            // B keeps answering its outstanding R2T, as RFC 7143 §11.5.1 asks.
            b.answer_r2t(&r2t, &pattern(13, 4096)).await;
            let r = b
                .recv_within(Duration::from_secs(1))
                .await
                .unwrap()
                .expect("no status for the aborted write");
            assert_eq!(r.opcode(), op::SCSI_RESPONSE);
            assert_eq!(r.itt(), itt);
            assert_eq!(r.bhs[3], TASK_ABORTED, "TAS=1: TASK ABORTED status");
        },
    );
}

#[test]
fn target_cold_reset_ends_the_sessions_after_the_response() {
    run(
        |_| {},
        |t| async move {
            let mut a = session(&t, 1).await;
            let mut b = session(&t, 2).await;
            let response = a.task_management(TARGET_COLD_RESET, RESERVED, 0).await;
            assert_eq!(response, 0, "Function Complete");
            assert!(a.expect_closed(READ_TIMEOUT).await.is_empty());
            // RFC 7143 §11.5.1: all connections to all initiators are closed.
            b.expect_closed(READ_TIMEOUT).await;
            assert!(t.wait_connections(0, Duration::from_secs(1)).await);
            assert_eq!(t.portal.sessions.len(), 0);
            let mut c = Initiator::connect(t.addr, isid(3)).await;
            c.login(Some(TARGET), &[]).await;
            c.ping(b"").await;
        },
    );
}

// --- 14. text requests -----------------------------------------------------------------------

#[test]
fn send_targets_all_in_a_discovery_session() {
    run(
        |_| {},
        |t| async move {
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            i.login(None, &[]).await;
            let itt = i.itt();
            let b = i.text_request(itt, RESERVED, true, false);
            i.send(b, &[], &text(&[("SendTargets", "All")]))
                .await
                .unwrap();
            let r = i.recv().await;
            assert_eq!(r.opcode(), op::TEXT_RESPONSE);
            assert_eq!(r.itt(), itt);
            assert!(r.final_() && !r.continue_());
            assert_eq!(r.ttt(), RESERVED);
            let pairs = parse_text(&r.data);
            let address = format!("{}:{},1", t.addr.ip(), t.addr.port());
            assert_eq!(
                pairs,
                vec![
                    ("TargetName".to_owned(), TARGET.to_owned()),
                    ("TargetAddress".to_owned(), address)
                ]
            );
        },
    );
}

#[test]
fn long_send_targets_answer_is_continued() {
    const EXTRA: usize = 40;
    run(
        |pg| {
            let mut targets = pg.targets();
            let template = targets[0].clone();
            for n in 0..EXTRA {
                let mut extra: TargetDef = template.clone();
                extra.access.name = format!(
                    "iqn.2024-01.org.dyad:bad-input-extra-{n:03}-{}",
                    "x".repeat(60)
                );
                targets.push(extra);
            }
            pg.set_targets(targets);
        },
        |t| async move {
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            i.login(None, &[("MaxRecvDataSegmentLength", "512")]).await;
            let itt = i.itt();
            let mut ttt = RESERVED;
            let mut request = text(&[("SendTargets", "All")]);
            let mut answer = Vec::new();
            let mut pdus = 0;
            loop {
                let b = i.text_request(itt, ttt, true, false);
                i.send(b, &[], &request).await.unwrap();
                request.clear();
                let r = i.recv().await;
                pdus += 1;
                assert_eq!(r.opcode(), op::TEXT_RESPONSE, "PDU {pdus}");
                assert_eq!(r.itt(), itt);
                assert!(r.data.len() <= 512, "PDU {pdus}: {} bytes", r.data.len());
                answer.extend_from_slice(&r.data);
                if r.final_() {
                    assert!(!r.continue_());
                    assert_eq!(r.ttt(), RESERVED, "the last response has no TTT");
                    break;
                }
                assert!(r.continue_(), "PDU {pdus}: neither F nor C");
                assert_ne!(
                    r.ttt(),
                    RESERVED,
                    "PDU {pdus}: a continued response needs a TTT"
                );
                ttt = r.ttt();
                assert!(pdus < 100, "the answer never ends");
            }
            assert!(
                pdus > 1,
                "the answer fit in one PDU; the test needs a longer one"
            );
            let pairs = parse_text(&answer);
            let names: Vec<_> = pairs.iter().filter(|(k, _)| k == "TargetName").collect();
            let addresses = pairs.iter().filter(|(k, _)| k == "TargetAddress").count();
            assert_eq!(names.len(), EXTRA + 1);
            assert_eq!(addresses, EXTRA + 1);
            assert_eq!(names[0].1, TARGET);
        },
    );
}

#[test]
fn text_request_continued_with_the_c_bit() {
    run(
        |_| {},
        |t| async move {
            let mut i = Initiator::connect(t.addr, isid(1)).await;
            i.login(None, &[]).await;
            let itt = i.itt();
            let whole = text(&[("SendTargets", "All")]);
            let (first, rest) = whole.split_at(5);
            let b = i.text_request(itt, RESERVED, false, true);
            i.send(b, &[], first).await.unwrap();
            let r = i.recv().await;
            assert_eq!(r.opcode(), op::TEXT_RESPONSE);
            assert!(
                !r.final_() && r.data.is_empty(),
                "an empty, non-final answer"
            );
            assert_ne!(r.ttt(), RESERVED, "F=0 answers carry a TTT");
            let b = i.text_request(itt, r.ttt(), true, false);
            i.send(b, &[], rest).await.unwrap();
            let r = i.recv().await;
            assert_eq!(
                r.opcode(),
                op::TEXT_RESPONSE,
                "got opcode {:#04x}",
                r.opcode()
            );
            assert!(r.final_());
            assert_eq!(text_value(&r.data, "TargetName").as_deref(), Some(TARGET));
        },
    );
}
