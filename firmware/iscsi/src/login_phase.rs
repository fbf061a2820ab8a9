//! The login phase on the wire: reads Login Requests, lets the [`LoginMachine`] answer them,
//! and opens the session when the initiator reaches the full feature phase.

use crate::chap::ChapCredential;
use crate::login::{LoginMachine, LoginStep};
use crate::params::{SessionParams, SessionType};
use crate::pdu::{decode_request, LoginResponse, Opcode, Request};
use crate::portal::PortalGroup;
use crate::session::{SessionHandle, SessionInfo, SessionKey, SessionTable};
use crate::wire::PduReader;
use scsi::backend::BlockBackend;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Largest login data segment we read; a longer one fails the login (out of resources).
const MAX_LOGIN_SEGMENT: usize = 64 * 1024;

/// A session that reached the full feature phase.
pub struct LoggedIn {
    pub params: SessionParams,
    pub key: SessionKey,
    pub handle: Rc<SessionHandle>,
    /// The CHAP credential the initiator authenticated with (for discovery filtering).
    pub chap: Option<ChapCredential>,
    /// StatSN of the next response.
    pub statsn: u32,
    /// ExpCmdSN: the CmdSN of the login, which the first command carries.
    pub exp_cmdsn: u32,
}

fn failure(req_itt: u32, isid: [u8; 6], class: u8, detail: u8) -> LoginResponse {
    LoginResponse {
        transit: false,
        continue_: false,
        csg: 0,
        nsg: 0,
        version_max: 0,
        version_active: 0,
        isid,
        tsih: 0,
        itt: req_itt,
        statsn: 0,
        exp_cmdsn: 0,
        max_cmdsn: 0,
        status_class: class,
        status_detail: detail,
    }
}

async fn send<W: AsyncWrite + Unpin>(
    wr: &mut W,
    header: &LoginResponse,
    data: &[u8],
) -> io::Result<()> {
    let bhs = header.encode(data.len() as u32);
    let pad = crate::pdu::pad4(data.len()) - data.len();
    let mut out = Vec::with_capacity(bhs.len() + data.len() + pad);
    out.extend_from_slice(&bhs);
    out.extend_from_slice(data);
    out.resize(out.len() + pad, 0);
    wr.write_all(&out).await
}

/// Closes a session opened for a login whose final response was never sent (the write
/// failed, or the login timer dropped the future mid-write), so it does not linger in the
/// table and the console's list.
struct Unannounced<'a> {
    sessions: &'a SessionTable,
    key: &'a SessionKey,
    handle: &'a Rc<SessionHandle>,
    armed: bool,
}

impl Drop for Unannounced<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.sessions.close(self.key, self.handle);
        }
    }
}

/// The console's view of a session that just completed its login.
fn session_info(
    params: &SessionParams,
    isid: [u8; 6],
    chap: Option<&ChapCredential>,
    peer: SocketAddr,
    local: SocketAddr,
) -> SessionInfo {
    SessionInfo {
        // Assigned by the session table.
        id: 0,
        tsih: 0,
        initiator: params.initiator_name.clone(),
        initiator_alias: params.initiator_alias.clone(),
        isid,
        target: params.target_name.clone(),
        tag: params.tpgt,
        peer,
        local,
        session_type: params.session_type,
        header_digest: params.header_digest,
        data_digest: params.data_digest,
        chap_user: chap.map(|c| c.user.clone()),
        nexus: None,
    }
}

/// Runs the login phase of a connection from `peer` that arrived on `local`. `Ok(None)`
/// means the login failed and the connection should close.
pub async fn login<B, R, W>(
    rd: &mut PduReader<R>,
    wr: &mut W,
    portal: &PortalGroup<B>,
    over_limit: bool,
    peer: SocketAddr,
    local: SocketAddr,
) -> io::Result<Option<LoggedIn>>
where
    B: BlockBackend,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut machine = LoginMachine::new(portal.tag, peer.ip());
    let mut statsn: Option<u32> = None;
    loop {
        let header = rd.read_header().await?;
        if header.opcode() != Opcode::LoginRequest as u8 {
            // Anything but a Login Request before the full feature phase is a protocol error.
            return Ok(None);
        }
        let len = header.data_len();
        let req = match decode_request(&header.bhs, &header.ahs) {
            Ok(Request::Login(l)) => l,
            _ => return Ok(None),
        };
        let mut next_statsn = *statsn.get_or_insert(req.exp_statsn);
        let window = |mut h: LoginResponse, statsn: u32| {
            h.statsn = statsn;
            h.exp_cmdsn = req.cmdsn;
            h.max_cmdsn = req.cmdsn.wrapping_add(portal.queue_depth.saturating_sub(1));
            h
        };
        if len > MAX_LOGIN_SEGMENT {
            rd.skip_data(len).await?;
            let h = window(failure(req.itt, req.isid, 0x03, 0x02), next_statsn);
            send(wr, &h, &[]).await?;
            return Ok(None);
        }
        let data = rd.read_data_vec(len).await?;
        if over_limit {
            let h = window(failure(req.itt, req.isid, 0x03, 0x02), next_statsn);
            send(wr, &h, &[]).await?;
            return Ok(None);
        }
        if req.tsih != 0 {
            // Adding a connection to a session needs MC/S, which MaxConnections=1 rules out.
            let detail = if portal.sessions.exists(req.tsih) {
                0x06
            } else {
                0x0A
            };
            let h = window(failure(req.itt, req.isid, 0x02, detail), next_statsn);
            send(wr, &h, &[]).await?;
            return Ok(None);
        }
        match machine.step(portal, &req, &data) {
            LoginStep::Respond { header, data } => {
                send(wr, &window(header, next_statsn), &data).await?;
                next_statsn = next_statsn.wrapping_add(1);
                statsn = Some(next_statsn);
            }
            LoginStep::Fail { header, data } => {
                send(wr, &window(header, next_statsn), &data).await?;
                return Ok(None);
            }
            LoginStep::Complete {
                header,
                data,
                params,
            } => {
                let key = SessionKey {
                    initiator: params.initiator_name.clone(),
                    isid: req.isid,
                    target: match params.session_type {
                        SessionType::Discovery => String::new(),
                        SessionType::Normal => params.target_name.clone().unwrap_or_default(),
                    },
                    tag: portal.tag,
                };
                let chap = machine.chap_credential().cloned();
                let info = session_info(&params, req.isid, chap.as_ref(), peer, local);
                let handle = portal.sessions.open(key.clone(), info);
                let mut unannounced = Unannounced {
                    sessions: &portal.sessions,
                    key: &key,
                    handle: &handle,
                    armed: true,
                };
                let mut h = window(header, next_statsn);
                h.tsih = handle.tsih;
                send(wr, &h, &data).await?;
                unannounced.armed = false;
                drop(unannounced);
                return Ok(Some(LoggedIn {
                    params,
                    key,
                    handle,
                    chap,
                    statsn: next_statsn.wrapping_add(1),
                    exp_cmdsn: req.cmdsn,
                }));
            }
        }
    }
}
