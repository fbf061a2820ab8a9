//! ctladm's SCSI verbs (`tur`, `inquiry`, `readcap`, `reportluns`): real commands sent to a
//! LUN through the console's own I_T nexus, as CTL's ioctl frontend does, so they meet the
//! same admission (reservations, unit attentions, ALUA) an initiator would.

use crate::configuration::live::LiveConfiguration;
use scsi::lun_address;
use scsi::nexus::NexusId;
use scsi::CommandOutcome;

const GOOD: u8 = 0x00;
const CHECK_CONDITION: u8 = 0x02;
const UNIT_ATTENTION: u8 = 0x06;
const SENSE_KEYS: [&str; 16] = [
    "NO SENSE",
    "RECOVERED ERROR",
    "NOT READY",
    "MEDIUM ERROR",
    "HARDWARE ERROR",
    "ILLEGAL REQUEST",
    "UNIT ATTENTION",
    "DATA PROTECT",
    "BLANK CHECK",
    "VENDOR SPECIFIC",
    "COPY ABORTED",
    "ABORTED COMMAND",
    "RESERVED",
    "VOLUME OVERFLOW",
    "MISCOMPARE",
    "COMPLETED",
];

async fn run(
    live: &LiveConfiguration,
    nexus: NexusId,
    lun: u32,
    cdb: &[u8],
    allocation: u32,
) -> Result<Vec<u8>, String> {
    if live.device().lun(scsi::LunId(lun)).is_none() {
        return Err(format!("there is no LUN {lun}"));
    }
    // The console's nexus meets unit attentions like any other; as ctladm retries, the
    // command is sent again after each, so the verb reports the LUN, not old news.
    let mut attempts = 0;
    loop {
        let outcome = live
            .device()
            .run_command(nexus, lun_address::encode(lun), cdb, allocation)
            .await;
        attempts += 1;
        if is_unit_attention(&outcome) && attempts < UA_RETRIES {
            continue;
        }
        check(&outcome)?;
        return Ok(outcome.data);
    }
}

/// How often a command is sent while it meets unit attentions.
const UA_RETRIES: u32 = 8;

fn is_unit_attention(o: &CommandOutcome) -> bool {
    o.status == CHECK_CONDITION && sense_codes(o).0 == UNIT_ATTENTION
}

/// Sense key, ASC and ASCQ of fixed or descriptor sense data.
fn sense_codes(o: &CommandOutcome) -> (u8, u8, u8) {
    let Some(sense) = &o.sense else {
        return (0, 0, 0);
    };
    let at = |i: usize| sense.get(i).copied().unwrap_or(0);
    match sense.first().map(|b| b & 0x7f) {
        Some(0x72 | 0x73) => (at(1) & 0x0f, at(2), at(3)),
        _ => (at(2) & 0x0f, at(12), at(13)),
    }
}

/// The outcome as an error naming the status and sense, unless it is GOOD.
fn check(o: &CommandOutcome) -> Result<(), String> {
    if o.status == GOOD {
        return Ok(());
    }
    if o.sense.is_none() {
        return Err(format!("SCSI status 0x{:02x}", o.status));
    }
    let (key, asc, ascq) = sense_codes(o);
    Err(format!(
        "CHECK CONDITION: {}, asc 0x{asc:02x} ascq 0x{ascq:02x}",
        SENSE_KEYS[usize::from(key)]
    ))
}

pub async fn tur(live: &LiveConfiguration, nexus: NexusId, lun: u32) -> Result<String, String> {
    run(live, nexus, lun, &[0x00, 0, 0, 0, 0, 0], 0).await?;
    Ok("Unit is ready".into())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_string()
}

pub async fn inquiry(live: &LiveConfiguration, nexus: NexusId, lun: u32) -> Result<String, String> {
    let data = run(live, nexus, lun, &[0x12, 0, 0, 0, 96, 0], 96).await?;
    if data.len() < 36 {
        return Err(format!(
            "INQUIRY returned {} bytes, fewer than 36",
            data.len()
        ));
    }
    let version = match data[2] {
        5 => "SPC-3".to_string(),
        6 => "SPC-4".to_string(),
        7 => "SPC-5".to_string(),
        v => format!("0x{v:02x}"),
    };
    Ok(format!(
        "Device type: {}\nVendor: {}\nProduct: {}\nRevision: {}\nSCSI version: {version}\nRemovable: {}\nTPGS: {}\n3PC: {}",
        data[0] & 0x1f,
        text(&data[8..16]),
        text(&data[16..32]),
        text(&data[32..36]),
        if data[1] & 0x80 != 0 { "yes" } else { "no" },
        (data[5] >> 4) & 3,
        if data[5] & 0x08 != 0 { "yes" } else { "no" },
    ))
}

pub async fn readcap(live: &LiveConfiguration, nexus: NexusId, lun: u32) -> Result<String, String> {
    let mut cdb = [0u8; 16];
    cdb[0] = 0x9e;
    cdb[1] = 0x10;
    cdb[13] = 32;
    let data = run(live, nexus, lun, &cdb, 32).await?;
    let Some(last) = data.get(0..8) else {
        return Err("READ CAPACITY(16) returned too little data".into());
    };
    let Some(bs) = data.get(8..12) else {
        return Err("READ CAPACITY(16) returned too little data".into());
    };
    let last = u64::from_be_bytes(last.try_into().unwrap_or([0; 8]));
    let bs = u32::from_be_bytes(bs.try_into().unwrap_or([0; 4]));
    let exp = data.get(13).map_or(0, |b| b & 0x0f);
    Ok(format!(
        "Disk Capacity: {}, Blocksize: {bs}, Physical blocksize: {}",
        last + 1,
        u64::from(bs) << exp
    ))
}

pub async fn reportluns(
    live: &LiveConfiguration,
    nexus: NexusId,
    port: Option<u16>,
) -> Result<String, String> {
    let numbers: Vec<u32> = match port {
        Some(p) => {
            let port = live
                .device()
                .port(p)
                .ok_or_else(|| format!("there is no target port {p}"))?;
            let mut n: Vec<u32> = match &port.lun_map {
                Some(map) => map
                    .iter()
                    .filter(|(_, lun)| live.device().has_lun(**lun))
                    .map(|(plun, _)| *plun)
                    .collect(),
                None => live.device().luns().iter().map(|l| l.id().0).collect(),
            };
            n.sort_unstable();
            n
        }
        None => {
            let alloc: u32 = 8 + 8 * 16384;
            let mut cdb = [0u8; 12];
            cdb[0] = 0xa0;
            cdb[6..10].copy_from_slice(&alloc.to_be_bytes());
            // REPORT LUNS may go to any LUN number; 0 answers even when unmapped.
            let outcome = live
                .device()
                .run_command(nexus, lun_address::encode(0), &cdb, alloc)
                .await;
            check(&outcome)?;
            outcome
                .data
                .get(8..)
                .unwrap_or_default()
                .chunks_exact(8)
                .filter_map(|c| c.try_into().ok().and_then(lun_address::decode))
                .collect()
        }
    };
    let mut out = format!("{} LUNs returned\n", numbers.len());
    for n in numbers {
        out.push_str(&format!("{n}\n"));
    }
    Ok(out)
}
