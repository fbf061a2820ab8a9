//! The login phase (RFC 7143 §6.3, §11.12–§11.13) as a pure state machine: it takes each
//! Login Request header and data segment and says what to answer, until the login
//! completes with negotiated [`SessionParams`] or fails with a status class/detail.
//!
//! The runtime owns the socket, the sequence numbers and the TSIH: it fills `statsn`,
//! `exp_cmdsn`, `max_cmdsn` and `tsih` in the returned headers before sending them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::access::{initiator_name_allowed, initiator_portal_allowed, InitiatorNetwork};
pub use crate::chap::ChapCredential;
use crate::chap::{ChapError, ChapKeys, ChapProgress, ChapTarget};
use crate::params::{is_login_key, Negotiator, SessionParams, SessionType, TargetLimits};
use crate::pdu::{LoginRequest, LoginResponse};
use crate::text::{TextAccumulator, TextError, TextWriter, DEFAULT_TEXT_LIMIT};

/// Login stages (CSG/NSG values).
pub const STAGE_SECURITY: u8 = 0;
pub const STAGE_OPERATIONAL: u8 = 1;
pub const STAGE_FULL_FEATURE: u8 = 3;

/// The only protocol version there is (RFC 7143 §11.12).
pub const VERSION: u8 = 0;

/// Login PDUs one login may take before we give up on the initiator.
pub const MAX_LOGIN_PDUS: u32 = 128;
/// Largest login response text: the initiator's MaxRecvDataSegmentLength during login is
/// the 8192-byte default (RFC 7143 §13, MaxRecvDataSegmentLength).
pub const MAX_RESPONSE_TEXT: usize = 8192;
/// Longest iSCSI name (RFC 7143 §4.2.7).
pub const MAX_NAME_LEN: usize = 223;

/// A Login Response status (RFC 7143 §11.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginStatus {
    pub class: u8,
    pub detail: u8,
}

impl LoginStatus {
    pub const SUCCESS: Self = Self::new(0, 0);
    pub const TARGET_MOVED_TEMPORARILY: Self = Self::new(1, 1);
    pub const TARGET_MOVED_PERMANENTLY: Self = Self::new(1, 2);
    pub const INITIATOR_ERROR: Self = Self::new(2, 0);
    pub const AUTHENTICATION_FAILURE: Self = Self::new(2, 1);
    pub const AUTHORIZATION_FAILURE: Self = Self::new(2, 2);
    pub const NOT_FOUND: Self = Self::new(2, 3);
    pub const TARGET_REMOVED: Self = Self::new(2, 4);
    pub const UNSUPPORTED_VERSION: Self = Self::new(2, 5);
    pub const TOO_MANY_CONNECTIONS: Self = Self::new(2, 6);
    pub const MISSING_PARAMETER: Self = Self::new(2, 7);
    pub const CANT_INCLUDE_IN_SESSION: Self = Self::new(2, 8);
    pub const SESSION_TYPE_NOT_SUPPORTED: Self = Self::new(2, 9);
    pub const SESSION_DOES_NOT_EXIST: Self = Self::new(2, 0x0a);
    pub const INVALID_DURING_LOGIN: Self = Self::new(2, 0x0b);
    pub const TARGET_ERROR: Self = Self::new(3, 0);
    pub const SERVICE_UNAVAILABLE: Self = Self::new(3, 1);
    pub const OUT_OF_RESOURCES: Self = Self::new(3, 2);

    pub const fn new(class: u8, detail: u8) -> Self {
        Self { class, detail }
    }
}

/// How a target (or the discovery service) authenticates initiators: an auth-group's
/// `auth-type` with its `chap`/`chap-mutual` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    /// Every login is refused.
    Deny,
    /// CHAP as any of these users (the initiator's CHAP_N picks one); an empty list admits
    /// nobody. The credentials' Debug leaves the secrets out.
    Chap(Vec<ChapCredential>),
}

/// What the configuration says about one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetAccess {
    /// The canonical iSCSI name.
    pub name: String,
    pub alias: Option<String>,
    pub auth: Auth,
    /// Initiator names allowed to log in (`initiator-name`); empty allows any.
    pub allowed_initiators: Vec<String>,
    /// Networks initiators may connect from (`initiator-portal`); empty allows any.
    pub allowed_portals: Vec<InitiatorNetwork>,
}

/// Who may open discovery sessions on a portal group: its `discovery-auth-group`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryAccess {
    pub auth: Auth,
    /// Initiator names allowed to log in; empty allows any.
    pub allowed_initiators: Vec<String>,
    /// Networks initiators may connect from; empty allows any.
    pub allowed_portals: Vec<InitiatorNetwork>,
}

/// The configuration the login machine consults; implemented by the runtime.
pub trait LoginPolicy {
    /// The target with this iSCSI name, if it exists on this portal group.
    fn target(&self, name: &str) -> Option<TargetAccess>;
    /// Who may open discovery sessions and how they authenticate.
    fn discovery(&self) -> DiscoveryAccess;
    /// What the target supports.
    fn limits(&self) -> TargetLimits;
}

/// ctld's checks once it knows what the initiator logs in to (login.c, `login`): `deny`
/// first (authentication failure), then the `initiator-name` and `initiator-portal` lists
/// (authorization failure). They come before, and regardless of, CHAP: a refused initiator
/// is not told whether its credentials would have worked.
fn admit(
    auth: &Auth,
    allowed_initiators: &[String],
    allowed_portals: &[InitiatorNetwork],
    initiator: &str,
    peer: IpAddr,
) -> Result<(), Failure> {
    if *auth == Auth::Deny {
        return Err(Failure::new(
            LoginStatus::AUTHENTICATION_FAILURE,
            "access denied",
        ));
    }
    if !initiator_name_allowed(allowed_initiators, initiator) {
        return Err(Failure::new(
            LoginStatus::AUTHORIZATION_FAILURE,
            "initiator name not allowed",
        ));
    }
    if !initiator_portal_allowed(allowed_portals, peer) {
        return Err(Failure::new(
            LoginStatus::AUTHORIZATION_FAILURE,
            "initiator address not allowed",
        ));
    }
    Ok(())
}

/// What to do with one Login Request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginStep {
    /// Send this response and wait for the next Login Request.
    Respond {
        header: LoginResponse,
        data: Vec<u8>,
    },
    /// Send this final response (T=1, NSG=3); the connection enters full feature phase.
    Complete {
        header: LoginResponse,
        data: Vec<u8>,
        params: SessionParams,
    },
    /// Send this failure response and close the connection.
    Fail {
        header: LoginResponse,
        data: Vec<u8>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a PDU in this stage; `None` before the first one, where the initiator
    /// picks the security or the operational stage.
    Stage(Option<u8>),
    Done,
    Failed,
}

/// Where authentication stands. Debug leaves secrets out (ChapCredential's and ChapTarget's
/// Debug omit them).
#[derive(Clone, Debug)]
enum AuthState {
    /// No authentication needed, or done: with the CHAP credential used, if any.
    Done(Option<ChapCredential>),
    /// CHAP required, AuthMethod=CHAP not agreed yet.
    NeedChap(Vec<ChapCredential>),
    Chap(ChapTarget),
}

/// Identifiers that must not change during a login (RFC 7143 §11.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LoginIds {
    isid: [u8; 6],
    tsih: u16,
    cid: u16,
}

/// The login state of one connection.
#[derive(Debug)]
pub struct LoginMachine {
    tpgt: u16,
    /// The address the initiator connects from, for `initiator-portal`.
    peer: IpAddr,
    phase: Phase,
    accumulator: TextAccumulator,
    pdus: u32,
    ids: Option<LoginIds>,
    /// Set by the first complete text.
    auth: Option<AuthState>,
    negotiator: Option<Negotiator>,
    /// Declarative login keys as first sent, so repeats can be checked.
    declared: BTreeMap<&'static str, String>,
    failure: Option<&'static str>,
}

/// A reason to fail the login.
struct Failure {
    status: LoginStatus,
    why: &'static str,
}

impl Failure {
    fn new(status: LoginStatus, why: &'static str) -> Self {
        Self { status, why }
    }
}

fn chap_failure(e: &ChapError) -> Failure {
    match e {
        ChapError::Random => Failure::new(LoginStatus::TARGET_ERROR, "random generator failed"),
        _ => Failure::new(
            LoginStatus::AUTHENTICATION_FAILURE,
            "CHAP authentication failed",
        ),
    }
}

fn find<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN
}

/// The declarative login keys whose repeats are checked rather than refused: libiscsi
/// re-sends them in the operational stage after a security stage answered `AuthMethod=None`.
const DECLARATIVE: [&str; 4] = [
    "InitiatorName",
    "InitiatorAlias",
    "TargetName",
    "SessionType",
];

impl LoginMachine {
    /// A login on a connection of portal group `tpgt` from the initiator address `peer`.
    pub fn new(tpgt: u16, peer: IpAddr) -> Self {
        Self {
            tpgt,
            peer,
            phase: Phase::Stage(None),
            accumulator: TextAccumulator::new(DEFAULT_TEXT_LIMIT),
            pdus: 0,
            ids: None,
            auth: None,
            negotiator: None,
            declared: BTreeMap::new(),
            failure: None,
        }
    }

    /// Whether the login failed (every further step fails too).
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Whether the login completed.
    pub fn is_complete(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Why the login failed, for the log.
    pub fn failure_reason(&self) -> Option<&'static str> {
        self.failure
    }

    /// The CHAP credential the initiator authenticated with, once it has (none when the
    /// target or discovery needs no authentication). A discovery session keeps it for
    /// the `portal-name-auth` filter; the console shows its user.
    pub fn chap_credential(&self) -> Option<&ChapCredential> {
        match &self.auth {
            Some(AuthState::Done(c)) => c.as_ref(),
            _ => None,
        }
    }

    /// Handles one Login Request with its data segment (without padding or digest).
    pub fn step(&mut self, policy: &dyn LoginPolicy, req: &LoginRequest, data: &[u8]) -> LoginStep {
        match self.phase {
            Phase::Failed => {
                return self.fail(
                    req,
                    Failure::new(LoginStatus::INITIATOR_ERROR, "login already failed"),
                )
            }
            Phase::Done => {
                return self.fail(
                    req,
                    Failure::new(LoginStatus::INVALID_DURING_LOGIN, "login already complete"),
                )
            }
            Phase::Stage(_) => {}
        }
        match self.step_inner(policy, req, data) {
            Ok(step) => step,
            Err(f) => self.fail(req, f),
        }
    }

    fn step_inner(
        &mut self,
        policy: &dyn LoginPolicy,
        req: &LoginRequest,
        data: &[u8],
    ) -> Result<LoginStep, Failure> {
        self.pdus = self.pdus.saturating_add(1);
        if self.pdus > MAX_LOGIN_PDUS {
            return Err(Failure::new(
                LoginStatus::INITIATOR_ERROR,
                "too many login PDUs",
            ));
        }
        self.check_header(req)?;

        let pairs = match self.accumulator.push(data, req.continue_) {
            Ok(Some(pairs)) => pairs,
            // RFC 7143 §6.3: each PDU of a continued text gets an empty response.
            Ok(None) => return Ok(self.respond(req, false, Vec::new())),
            Err(TextError::TooLong) => {
                return Err(Failure::new(
                    LoginStatus::OUT_OF_RESOURCES,
                    "login text too long",
                ))
            }
            Err(_) => {
                return Err(Failure::new(
                    LoginStatus::INITIATOR_ERROR,
                    "malformed login text",
                ))
            }
        };

        let mut out = TextWriter::new();
        if self.auth.is_none() {
            self.start(policy, &pairs, &mut out)?;
        } else {
            self.check_redeclared(&pairs)?;
        }

        let operational: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| !is_login_key(k))
            .cloned()
            .collect();

        let step = match req.csg {
            STAGE_SECURITY => self.security(req, &pairs, &operational, out)?,
            _ => self.operational(req, &pairs, &operational, out)?,
        };
        Ok(step)
    }

    /// Header rules: version, T/C bits, stage numbers and identifiers.
    fn check_header(&mut self, req: &LoginRequest) -> Result<(), Failure> {
        if req.version_min > VERSION {
            return Err(Failure::new(
                LoginStatus::UNSUPPORTED_VERSION,
                "version-min above 0",
            ));
        }
        if req.transit && req.continue_ {
            return Err(Failure::new(
                LoginStatus::INITIATOR_ERROR,
                "T and C both set",
            ));
        }
        if req.csg != STAGE_SECURITY && req.csg != STAGE_OPERATIONAL {
            return Err(Failure::new(LoginStatus::INITIATOR_ERROR, "invalid CSG"));
        }
        if req.transit
            && (req.nsg <= req.csg
                || (req.nsg != STAGE_OPERATIONAL && req.nsg != STAGE_FULL_FEATURE))
        {
            return Err(Failure::new(LoginStatus::INITIATOR_ERROR, "invalid NSG"));
        }
        if let Phase::Stage(Some(expected)) = self.phase {
            if req.csg != expected {
                return Err(Failure::new(LoginStatus::INITIATOR_ERROR, "unexpected CSG"));
            }
        }
        let ids = LoginIds {
            isid: req.isid,
            tsih: req.tsih,
            cid: req.cid,
        };
        match self.ids {
            None => self.ids = Some(ids),
            Some(first) if first != ids => {
                return Err(Failure::new(
                    LoginStatus::INITIATOR_ERROR,
                    "ISID, TSIH or CID changed during login",
                ))
            }
            Some(_) => {}
        }
        // Until the stage is settled by a response with T=1, the initiator stays in it.
        if self.phase == Phase::Stage(None) {
            self.phase = Phase::Stage(Some(req.csg));
        }
        Ok(())
    }

    /// The first complete text: who the initiator is, which target and session type it
    /// wants, and how it must authenticate.
    fn start(
        &mut self,
        policy: &dyn LoginPolicy,
        pairs: &[(String, String)],
        out: &mut TextWriter,
    ) -> Result<(), Failure> {
        let initiator = find(pairs, "InitiatorName").ok_or(Failure::new(
            LoginStatus::MISSING_PARAMETER,
            "InitiatorName missing",
        ))?;
        if !valid_name(initiator) {
            return Err(Failure::new(
                LoginStatus::INITIATOR_ERROR,
                "invalid InitiatorName",
            ));
        }
        let session_type = match find(pairs, "SessionType") {
            None | Some("Normal") => SessionType::Normal,
            Some("Discovery") => SessionType::Discovery,
            Some(_) => {
                return Err(Failure::new(
                    LoginStatus::SESSION_TYPE_NOT_SUPPORTED,
                    "unknown SessionType",
                ))
            }
        };
        let alias = find(pairs, "InitiatorAlias");

        let (auth, target) = match session_type {
            SessionType::Discovery => {
                let d = policy.discovery();
                admit(
                    &d.auth,
                    &d.allowed_initiators,
                    &d.allowed_portals,
                    initiator,
                    self.peer,
                )?;
                (d.auth, None)
            }
            SessionType::Normal => {
                let name = find(pairs, "TargetName").ok_or(Failure::new(
                    LoginStatus::MISSING_PARAMETER,
                    "TargetName missing",
                ))?;
                if !valid_name(name) {
                    return Err(Failure::new(LoginStatus::NOT_FOUND, "invalid TargetName"));
                }
                let access = policy
                    .target(name)
                    .ok_or(Failure::new(LoginStatus::NOT_FOUND, "unknown target"))?;
                admit(
                    &access.auth,
                    &access.allowed_initiators,
                    &access.allowed_portals,
                    initiator,
                    self.peer,
                )?;
                (access.auth.clone(), Some(access))
            }
        };
        let auth = match auth {
            // admit() refused Deny already; kept so the match stays exhaustive.
            Auth::Deny => {
                return Err(Failure::new(
                    LoginStatus::AUTHENTICATION_FAILURE,
                    "access denied",
                ))
            }
            Auth::None => AuthState::Done(None),
            Auth::Chap(credentials) => AuthState::NeedChap(credentials),
        };

        let mut negotiator = Negotiator::new(session_type, policy.limits());
        let params = negotiator.params_mut();
        params.initiator_name = initiator.to_owned();
        params.initiator_alias = alias.map(str::to_owned);
        params.target_name = target.as_ref().map(|t| t.name.clone());
        params.tpgt = self.tpgt;

        // RFC 7143 §13 (TargetPortalGroupTag): the portal group tag goes in the first response of a normal
        // session (with the alias, when there is one).
        if let Some(t) = &target {
            if let Some(a) = &t.alias {
                out.push("TargetAlias", a);
            }
            out.push_num("TargetPortalGroupTag", u64::from(self.tpgt));
        }

        for key in DECLARATIVE {
            if let Some(v) = find(pairs, key) {
                self.declared.insert(key, v.to_owned());
            }
        }
        self.declared
            .entry("SessionType")
            .or_insert_with(|| "Normal".to_owned());
        self.auth = Some(auth);
        self.negotiator = Some(negotiator);
        Ok(())
    }

    /// Declarative keys sent again must say the same thing.
    fn check_redeclared(&mut self, pairs: &[(String, String)]) -> Result<(), Failure> {
        for key in DECLARATIVE {
            let Some(v) = find(pairs, key) else { continue };
            match self.declared.get(key) {
                Some(first) if first != v => {
                    return Err(Failure::new(
                        LoginStatus::INITIATOR_ERROR,
                        "login key changed",
                    ))
                }
                Some(_) => {}
                None => {
                    // Only the alias may come late; a late TargetName cannot change which
                    // target the login was authorised for.
                    if key != "InitiatorAlias" {
                        return Err(Failure::new(
                            LoginStatus::INITIATOR_ERROR,
                            "login key sent after the first request",
                        ));
                    }
                    self.declared.insert(key, v.to_owned());
                    if let Some(n) = self.negotiator.as_mut() {
                        n.params_mut().initiator_alias = Some(v.to_owned());
                    }
                }
            }
        }
        Ok(())
    }

    fn security(
        &mut self,
        req: &LoginRequest,
        pairs: &[(String, String)],
        operational: &[(String, String)],
        mut out: TextWriter,
    ) -> Result<LoginStep, Failure> {
        let auth_method = find(pairs, "AuthMethod");
        let chap_keys = ChapKeys::from_pairs(pairs);
        let has_chap_keys = chap_keys != ChapKeys::default();
        let offers = |m: &str| auth_method.is_some_and(|l| l.split(',').any(|x| x == m));

        let auth = self.auth.take().ok_or(Failure::new(
            LoginStatus::TARGET_ERROR,
            "no authentication state",
        ))?;
        let auth = match auth {
            AuthState::Done(credential) => {
                if has_chap_keys {
                    return Err(Failure::new(
                        LoginStatus::INITIATOR_ERROR,
                        "unexpected CHAP keys",
                    ));
                }
                if auth_method.is_some() {
                    if self.declared.contains_key("AuthMethod") {
                        return Err(Failure::new(
                            LoginStatus::INITIATOR_ERROR,
                            "AuthMethod repeated",
                        ));
                    }
                    if !offers("None") {
                        return Err(Failure::new(
                            LoginStatus::AUTHENTICATION_FAILURE,
                            "initiator insists on authentication the target does not use",
                        ));
                    }
                    out.push("AuthMethod", "None");
                }
                AuthState::Done(credential)
            }
            AuthState::NeedChap(credentials) => match auth_method {
                None if has_chap_keys => {
                    return Err(Failure::new(
                        LoginStatus::INITIATOR_ERROR,
                        "CHAP keys before AuthMethod",
                    ))
                }
                None => AuthState::NeedChap(credentials),
                Some(_) if !offers("CHAP") => {
                    return Err(Failure::new(
                        LoginStatus::AUTHENTICATION_FAILURE,
                        "initiator does not offer CHAP",
                    ))
                }
                Some(_) => {
                    out.push("AuthMethod", "CHAP");
                    let mut chap = ChapTarget::new(credentials);
                    match chap.step(&chap_keys, &mut out) {
                        Ok(ChapProgress::Authenticated) => {
                            AuthState::Done(chap.credential().cloned())
                        }
                        Ok(ChapProgress::InProgress) => AuthState::Chap(chap),
                        Err(e) => return Err(chap_failure(&e)),
                    }
                }
            },
            AuthState::Chap(mut chap) => {
                if auth_method.is_some() {
                    return Err(Failure::new(
                        LoginStatus::INITIATOR_ERROR,
                        "AuthMethod repeated",
                    ));
                }
                match chap.step(&chap_keys, &mut out) {
                    Ok(ChapProgress::Authenticated) => AuthState::Done(chap.credential().cloned()),
                    Ok(ChapProgress::InProgress) => AuthState::Chap(chap),
                    Err(e) => return Err(chap_failure(&e)),
                }
            }
        };
        if let Some(m) = auth_method {
            self.declared_auth_method(m);
        }
        let authenticated = matches!(auth, AuthState::Done(_));
        let never_agreed = matches!(auth, AuthState::NeedChap(_));
        self.auth = Some(auth);

        // Operational keys may come early when no authentication is needed; negotiating
        // them here is harmless and what RFC 3720 initiators expect.
        self.negotiate(operational, &mut out)?;

        if !req.transit {
            return self.respond_checked(req, false, out);
        }
        if authenticated {
            if req.nsg == STAGE_FULL_FEATURE {
                return self.complete(req, out);
            }
            self.phase = Phase::Stage(Some(req.nsg));
            return self.respond_checked(req, true, out);
        }
        if never_agreed {
            // The initiator wants to leave the security stage without ever offering CHAP.
            return Err(Failure::new(
                LoginStatus::AUTHENTICATION_FAILURE,
                "authentication required",
            ));
        }
        // RFC 7143 §6.3: the target answers T=0 until it is ready to move on.
        self.respond_checked(req, false, out)
    }

    fn declared_auth_method(&mut self, m: &str) {
        self.declared
            .entry("AuthMethod")
            .or_insert_with(|| m.to_owned());
    }

    fn operational(
        &mut self,
        req: &LoginRequest,
        pairs: &[(String, String)],
        operational: &[(String, String)],
        mut out: TextWriter,
    ) -> Result<LoginStep, Failure> {
        if !matches!(self.auth, Some(AuthState::Done(_))) {
            // Skipping (or abandoning) the security stage when the target requires CHAP.
            return Err(Failure::new(
                LoginStatus::AUTHENTICATION_FAILURE,
                "authentication required",
            ));
        }
        if pairs
            .iter()
            .any(|(k, _)| k == "AuthMethod" || ChapKeys::is_chap_key(k))
        {
            return Err(Failure::new(
                LoginStatus::INITIATOR_ERROR,
                "security keys in the operational stage",
            ));
        }
        self.negotiate(operational, &mut out)?;
        if let Some(n) = self.negotiator.as_mut() {
            n.declare(&mut out);
        }
        if req.transit {
            // check_header ensured NSG is 3 here.
            return self.complete(req, out);
        }
        self.respond_checked(req, false, out)
    }

    fn negotiate(
        &mut self,
        operational: &[(String, String)],
        out: &mut TextWriter,
    ) -> Result<(), Failure> {
        let n = self
            .negotiator
            .as_mut()
            .ok_or(Failure::new(LoginStatus::TARGET_ERROR, "no negotiator"))?;
        n.negotiate(operational, out)
            .map_err(|_| Failure::new(LoginStatus::INITIATOR_ERROR, "key negotiated twice"))
    }

    fn complete(&mut self, req: &LoginRequest, out: TextWriter) -> Result<LoginStep, Failure> {
        let n = self
            .negotiator
            .take()
            .ok_or(Failure::new(LoginStatus::TARGET_ERROR, "no negotiator"))?;
        let params = n.finish().map_err(|_| {
            Failure::new(
                LoginStatus::INITIATOR_ERROR,
                "FirstBurstLength exceeds MaxBurstLength",
            )
        })?;
        if out.len() > MAX_RESPONSE_TEXT {
            return Err(Failure::new(
                LoginStatus::INITIATOR_ERROR,
                "login response too long",
            ));
        }
        self.phase = Phase::Done;
        Ok(LoginStep::Complete {
            header: self.header(req, true, LoginStatus::SUCCESS),
            data: out.into_bytes(),
            params,
        })
    }

    fn respond_checked(
        &mut self,
        req: &LoginRequest,
        transit: bool,
        out: TextWriter,
    ) -> Result<LoginStep, Failure> {
        // Only an initiator flooding us with keys gets here; answering would overrun its
        // receive limit.
        if out.len() > MAX_RESPONSE_TEXT {
            return Err(Failure::new(
                LoginStatus::INITIATOR_ERROR,
                "login response too long",
            ));
        }
        Ok(self.respond(req, transit, out.into_bytes()))
    }

    fn respond(&self, req: &LoginRequest, transit: bool, data: Vec<u8>) -> LoginStep {
        LoginStep::Respond {
            header: self.header(req, transit, LoginStatus::SUCCESS),
            data,
        }
    }

    fn fail(&mut self, req: &LoginRequest, f: Failure) -> LoginStep {
        self.phase = Phase::Failed;
        self.accumulator.reset();
        if self.failure.is_none() {
            self.failure = Some(f.why);
        }
        LoginStep::Fail {
            header: self.header(req, false, f.status),
            data: Vec::new(),
        }
    }

    fn header(&self, req: &LoginRequest, transit: bool, status: LoginStatus) -> LoginResponse {
        LoginResponse {
            transit,
            continue_: false,
            csg: req.csg & 0x03,
            nsg: if transit { req.nsg & 0x03 } else { 0 },
            version_max: VERSION,
            version_active: VERSION,
            isid: req.isid,
            tsih: req.tsih,
            itt: req.itt,
            statsn: 0,
            exp_cmdsn: 0,
            max_cmdsn: 0,
            status_class: status.class,
            status_detail: status.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chap::md5_response;
    use crate::text::{decode_binary, encode_hex, parse};

    const TARGET: &str = "iqn.2024-01.org.dyad:disk0";
    const INITIATOR: &str = "iqn.2024-01.org.example:host";
    /// Where the test initiator connects from.
    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));

    struct Policy {
        auth: Auth,
        discovery: DiscoveryAccess,
        allowed: Vec<String>,
        portals: Vec<InitiatorNetwork>,
    }

    impl Policy {
        fn none() -> Self {
            Self {
                auth: Auth::None,
                discovery: DiscoveryAccess::default(),
                allowed: vec![],
                portals: vec![],
            }
        }

        fn chap(mutual: bool) -> Self {
            let mut credential = ChapCredential::new("user", "secretsecret");
            if mutual {
                credential = credential.with_mutual("tuser", "tsecretsecret");
            }
            Self {
                auth: Auth::Chap(vec![credential]),
                ..Self::none()
            }
        }
    }

    impl LoginPolicy for Policy {
        fn target(&self, name: &str) -> Option<TargetAccess> {
            (name == TARGET).then(|| TargetAccess {
                name: TARGET.into(),
                alias: Some("disk0".into()),
                auth: self.auth.clone(),
                allowed_initiators: self.allowed.clone(),
                allowed_portals: self.portals.clone(),
            })
        }

        fn discovery(&self) -> DiscoveryAccess {
            self.discovery.clone()
        }

        fn limits(&self) -> TargetLimits {
            TargetLimits::default()
        }
    }

    fn req(transit: bool, csg: u8, nsg: u8) -> LoginRequest {
        LoginRequest {
            transit,
            continue_: false,
            csg,
            nsg,
            version_max: 0,
            version_min: 0,
            isid: [0x80, 0, 0, 0, 0, 1],
            tsih: 0,
            itt: 0x10,
            cid: 0,
            cmdsn: 1,
            exp_statsn: 0,
        }
    }

    fn text(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut w = TextWriter::new();
        for (k, v) in pairs {
            w.push(k, v);
        }
        w.into_bytes()
    }

    fn kv(data: &[u8]) -> Vec<(String, String)> {
        parse(data).unwrap()
    }

    fn get(data: &[u8], key: &str) -> Option<String> {
        kv(data).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn expect_respond(step: LoginStep) -> (LoginResponse, Vec<u8>) {
        match step {
            LoginStep::Respond { header, data } => {
                assert_eq!((header.status_class, header.status_detail), (0, 0));
                (header, data)
            }
            other => panic!("expected Respond, got {other:?}"),
        }
    }

    fn expect_complete(step: LoginStep) -> (LoginResponse, Vec<u8>, SessionParams) {
        match step {
            LoginStep::Complete {
                header,
                data,
                params,
            } => (header, data, params),
            other => panic!("expected Complete, got {other:?}"),
        }
    }

    fn expect_fail(step: LoginStep, status: LoginStatus) {
        match step {
            LoginStep::Fail { header, data } => {
                assert_eq!(
                    LoginStatus::new(header.status_class, header.status_detail),
                    status
                );
                assert!(!header.transit);
                assert!(data.is_empty());
            }
            other => panic!("expected Fail({status:?}), got {other:?}"),
        }
    }

    fn opneg_keys() -> Vec<u8> {
        text(&[
            ("HeaderDigest", "CRC32C,None"),
            ("DataDigest", "None"),
            ("InitialR2T", "Yes"),
            ("ImmediateData", "Yes"),
            ("MaxBurstLength", "262144"),
            ("FirstBurstLength", "65536"),
            ("MaxRecvDataSegmentLength", "65536"),
        ])
    }

    #[test]
    fn normal_login_without_security_stage() {
        // libiscsi without a CHAP user: one PDU, CSG=1 -> NSG=3.
        let mut m = LoginMachine::new(7, PEER);
        let mut data = text(&[
            ("InitiatorName", INITIATOR),
            ("TargetName", TARGET),
            ("SessionType", "Normal"),
        ]);
        data.extend(opneg_keys());
        let (h, d, p) = expect_complete(m.step(&Policy::none(), &req(true, 1, 3), &data));
        assert!(h.transit);
        assert_eq!(
            (h.csg, h.nsg, h.itt, h.isid),
            (1, 3, 0x10, [0x80, 0, 0, 0, 0, 1])
        );
        assert_eq!(get(&d, "TargetPortalGroupTag").as_deref(), Some("7"));
        assert_eq!(get(&d, "TargetAlias").as_deref(), Some("disk0"));
        assert_eq!(get(&d, "HeaderDigest").as_deref(), Some("CRC32C"));
        assert_eq!(
            get(&d, "MaxRecvDataSegmentLength").as_deref(),
            Some("262144")
        );
        assert!(p.header_digest && !p.data_digest);
        assert_eq!(p.max_xmit_data_segment_length, 65_536);
        assert_eq!(p.max_recv_data_segment_length, 262_144);
        assert_eq!(p.initiator_name, INITIATOR);
        assert_eq!(p.target_name.as_deref(), Some(TARGET));
        assert_eq!((p.tpgt, p.session_type), (7, SessionType::Normal));
        assert!(m.is_complete());
        // Nothing more is accepted.
        expect_fail(
            m.step(&Policy::none(), &req(true, 1, 3), &[]),
            LoginStatus::INVALID_DURING_LOGIN,
        );
    }

    #[test]
    fn normal_login_through_security_stage_with_auth_none() {
        // Linux open-iscsi style: security (AuthMethod=None) then operational.
        let mut m = LoginMachine::new(1, PEER);
        let p = Policy::none();
        let (h, d) = expect_respond(m.step(
            &p,
            &req(true, 0, 1),
            &text(&[
                ("InitiatorName", INITIATOR),
                ("InitiatorAlias", "host"),
                ("TargetName", TARGET),
                ("SessionType", "Normal"),
                ("AuthMethod", "CHAP,None"),
            ]),
        ));
        assert!(h.transit);
        assert_eq!((h.csg, h.nsg), (0, 1));
        assert_eq!(get(&d, "AuthMethod").as_deref(), Some("None"));
        assert_eq!(get(&d, "TargetPortalGroupTag").as_deref(), Some("1"));
        // libiscsi re-sends its declarative keys here; same values are fine.
        let mut data = text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]);
        data.extend(opneg_keys());
        let (h, d, params) = expect_complete(m.step(&p, &req(true, 1, 3), &data));
        assert_eq!((h.csg, h.nsg), (1, 3));
        assert_eq!(get(&d, "TargetPortalGroupTag"), None);
        assert_eq!(params.initiator_alias.as_deref(), Some("host"));
    }

    #[test]
    fn security_straight_to_full_feature() {
        let mut m = LoginMachine::new(1, PEER);
        let (_, _, p) = expect_complete(m.step(
            &Policy::none(),
            &req(true, 0, 3),
            &text(&[
                ("InitiatorName", INITIATOR),
                ("TargetName", TARGET),
                ("AuthMethod", "None"),
            ]),
        ));
        // No declaration was made, so the defaults hold both ways.
        assert_eq!(p.max_recv_data_segment_length, 8192);
        assert_eq!(p.max_xmit_data_segment_length, 8192);
    }

    #[test]
    fn operational_stage_in_several_pdus() {
        let mut m = LoginMachine::new(1, PEER);
        let p = Policy::none();
        let (h, d) = expect_respond(m.step(
            &p,
            &req(false, 1, 0),
            &text(&[
                ("InitiatorName", INITIATOR),
                ("TargetName", TARGET),
                ("MaxBurstLength", "65536"),
            ]),
        ));
        assert!(!h.transit);
        assert_eq!(get(&d, "MaxBurstLength").as_deref(), Some("65536"));
        let (_, _, params) =
            expect_complete(m.step(&p, &req(true, 1, 3), &text(&[("FirstBurstLength", "8192")])));
        assert_eq!(params.max_burst_length, 65_536);
        assert_eq!(params.first_burst_length, 8192);
    }

    /// Drives libiscsi's CHAP sequence; returns the machine after the CHAP_A step, the
    /// challenge id and bytes.
    fn chap_until_challenge(m: &mut LoginMachine, p: &Policy) -> (u8, Vec<u8>) {
        let (h, d) = expect_respond(m.step(
            p,
            &req(true, 0, 1),
            &text(&[
                ("InitiatorName", INITIATOR),
                ("TargetName", TARGET),
                ("SessionType", "Normal"),
                ("AuthMethod", "CHAP,None"),
            ]),
        ));
        // Not ready to leave the security stage yet.
        assert!(!h.transit);
        assert_eq!(get(&d, "AuthMethod").as_deref(), Some("CHAP"));
        let (h, d) = expect_respond(m.step(p, &req(false, 0, 1), &text(&[("CHAP_A", "5")])));
        assert!(!h.transit);
        assert_eq!(get(&d, "CHAP_A").as_deref(), Some("5"));
        let id: u8 = get(&d, "CHAP_I").unwrap().parse().unwrap();
        let c = decode_binary(&get(&d, "CHAP_C").unwrap()).unwrap();
        assert!(c.len() >= 16);
        (id, c)
    }

    #[test]
    fn chap_one_way() {
        let p = Policy::chap(false);
        let mut m = LoginMachine::new(1, PEER);
        let (id, c) = chap_until_challenge(&mut m, &p);
        let r = md5_response(id, b"secretsecret", &c);
        let (h, d) = expect_respond(m.step(
            &p,
            &req(true, 0, 1),
            &text(&[("CHAP_N", "user"), ("CHAP_R", &encode_hex(&r))]),
        ));
        assert!(h.transit);
        assert_eq!((h.csg, h.nsg), (0, 1));
        assert!(d.is_empty());
        let (_, _, params) = expect_complete(m.step(&p, &req(true, 1, 3), &opneg_keys()));
        assert_eq!(params.target_name.as_deref(), Some(TARGET));
    }

    #[test]
    fn chap_mutual() {
        let p = Policy::chap(true);
        let mut m = LoginMachine::new(1, PEER);
        let (id, c) = chap_until_challenge(&mut m, &p);
        let r = md5_response(id, b"secretsecret", &c);
        let their_c = [0x5au8; 32];
        let (h, d) = expect_respond(m.step(
            &p,
            &req(true, 0, 1),
            &text(&[
                ("CHAP_N", "user"),
                ("CHAP_R", &encode_hex(&r)),
                ("CHAP_I", "1"),
                ("CHAP_C", &encode_hex(&their_c)),
            ]),
        ));
        assert!(h.transit);
        assert_eq!(get(&d, "CHAP_N").as_deref(), Some("tuser"));
        let expected = md5_response(1, b"tsecretsecret", &their_c);
        assert_eq!(get(&d, "CHAP_R"), Some(encode_hex(&expected)));
        expect_complete(m.step(&p, &req(true, 1, 3), &opneg_keys()));
    }

    #[test]
    fn chap_wrong_response_fails_and_stays_failed() {
        let p = Policy::chap(false);
        let mut m = LoginMachine::new(1, PEER);
        let (id, c) = chap_until_challenge(&mut m, &p);
        let r = md5_response(id, b"wrongsecret!", &c);
        expect_fail(
            m.step(
                &p,
                &req(true, 0, 1),
                &text(&[("CHAP_N", "user"), ("CHAP_R", &encode_hex(&r))]),
            ),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
        assert!(m.is_failed());
        assert!(m.failure_reason().is_some());
        expect_fail(
            m.step(&p, &req(true, 1, 3), &opneg_keys()),
            LoginStatus::INITIATOR_ERROR,
        );
    }

    #[test]
    fn chap_bad_algorithm_fails() {
        for list in ["56", "", "6,7"] {
            let p = Policy::chap(false);
            let mut m = LoginMachine::new(1, PEER);
            expect_respond(m.step(
                &p,
                &req(true, 0, 1),
                &text(&[
                    ("InitiatorName", INITIATOR),
                    ("TargetName", TARGET),
                    ("AuthMethod", "CHAP"),
                ]),
            ));
            expect_fail(
                m.step(&p, &req(false, 0, 1), &text(&[("CHAP_A", list)])),
                LoginStatus::AUTHENTICATION_FAILURE,
            );
        }
    }

    #[test]
    fn chap_required_but_skipped() {
        let p = Policy::chap(false);
        // Straight to the operational stage.
        let mut m = LoginMachine::new(1, PEER);
        let mut data = text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]);
        data.extend(opneg_keys());
        expect_fail(
            m.step(&p, &req(true, 1, 3), &data),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
        // Offering only None.
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            m.step(
                &p,
                &req(true, 0, 1),
                &text(&[
                    ("InitiatorName", INITIATOR),
                    ("TargetName", TARGET),
                    ("AuthMethod", "None"),
                ]),
            ),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
        // Leaving the security stage without offering anything.
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            m.step(
                &p,
                &req(true, 0, 1),
                &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
            ),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
        // Abandoning CHAP after the challenge.
        let mut m = LoginMachine::new(1, PEER);
        chap_until_challenge(&mut m, &p);
        expect_fail(
            m.step(&p, &req(true, 0, 1), &[]),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
    }

    #[test]
    fn auth_none_target_refuses_chap_only_initiator() {
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            m.step(
                &Policy::none(),
                &req(true, 0, 1),
                &text(&[
                    ("InitiatorName", INITIATOR),
                    ("TargetName", TARGET),
                    ("AuthMethod", "CHAP"),
                ]),
            ),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
    }

    #[test]
    fn deny() {
        let p = Policy {
            auth: Auth::Deny,
            ..Policy::none()
        };
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            m.step(
                &p,
                &req(true, 0, 1),
                &text(&[
                    ("InitiatorName", INITIATOR),
                    ("TargetName", TARGET),
                    ("AuthMethod", "None"),
                ]),
            ),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
    }

    #[test]
    fn discovery_login() {
        let mut m = LoginMachine::new(1, PEER);
        let p = Policy::none();
        let (h, d) = expect_respond(m.step(
            &p,
            &req(true, 0, 1),
            &text(&[
                ("InitiatorName", INITIATOR),
                ("SessionType", "Discovery"),
                ("AuthMethod", "None"),
            ]),
        ));
        assert!(h.transit);
        // No portal group tag for discovery sessions.
        assert_eq!(get(&d, "TargetPortalGroupTag"), None);
        let (_, d, params) = expect_complete(m.step(
            &p,
            &req(true, 1, 3),
            &text(&[
                ("HeaderDigest", "None"),
                ("DataDigest", "None"),
                ("MaxBurstLength", "262144"),
                ("MaxRecvDataSegmentLength", "32768"),
            ]),
        ));
        assert_eq!(get(&d, "MaxBurstLength").as_deref(), Some("Irrelevant"));
        assert_eq!(params.session_type, SessionType::Discovery);
        assert_eq!(params.target_name, None);
        assert_eq!(params.max_xmit_data_segment_length, 32_768);
    }

    #[test]
    fn discovery_uses_discovery_auth() {
        let p = Policy {
            discovery: DiscoveryAccess {
                auth: Auth::Deny,
                ..DiscoveryAccess::default()
            },
            ..Policy::none()
        };
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            m.step(
                &p,
                &req(true, 1, 3),
                &text(&[("InitiatorName", INITIATOR), ("SessionType", "Discovery")]),
            ),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
    }

    #[test]
    fn failure_classes() {
        let p = Policy::none();
        let ok = text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]);
        let cases: Vec<(LoginRequest, Vec<u8>, LoginStatus)> = vec![
            (
                LoginRequest {
                    version_min: 1,
                    version_max: 1,
                    ..req(true, 1, 3)
                },
                ok.clone(),
                LoginStatus::UNSUPPORTED_VERSION,
            ),
            (
                req(true, 1, 3),
                text(&[("TargetName", TARGET)]),
                LoginStatus::MISSING_PARAMETER,
            ),
            (
                req(true, 1, 3),
                text(&[("InitiatorName", INITIATOR)]),
                LoginStatus::MISSING_PARAMETER,
            ),
            (
                req(true, 1, 3),
                text(&[("InitiatorName", INITIATOR), ("TargetName", "iqn.x:nope")]),
                LoginStatus::NOT_FOUND,
            ),
            (
                req(true, 1, 3),
                text(&[
                    ("InitiatorName", INITIATOR),
                    ("TargetName", TARGET),
                    ("SessionType", "Bogus"),
                ]),
                LoginStatus::SESSION_TYPE_NOT_SUPPORTED,
            ),
            (
                req(true, 1, 3),
                text(&[("InitiatorName", ""), ("TargetName", TARGET)]),
                LoginStatus::INITIATOR_ERROR,
            ),
            (
                LoginRequest {
                    continue_: true,
                    ..req(true, 1, 3)
                },
                ok.clone(),
                LoginStatus::INITIATOR_ERROR,
            ),
            (req(true, 2, 3), ok.clone(), LoginStatus::INITIATOR_ERROR),
            (req(true, 3, 3), ok.clone(), LoginStatus::INITIATOR_ERROR),
            (req(true, 1, 1), ok.clone(), LoginStatus::INITIATOR_ERROR),
            (req(true, 0, 2), ok.clone(), LoginStatus::INITIATOR_ERROR),
            (
                req(true, 1, 3),
                b"garbage".to_vec(),
                LoginStatus::INITIATOR_ERROR,
            ),
            (
                req(true, 1, 3),
                [ok.clone(), text(&[("InitiatorName", "again")])].concat(),
                LoginStatus::INITIATOR_ERROR,
            ),
            (
                req(true, 1, 3),
                [ok.clone(), text(&[("AuthMethod", "None")])].concat(),
                LoginStatus::INITIATOR_ERROR,
            ),
            (
                req(true, 1, 3),
                [
                    ok.clone(),
                    text(&[("MaxBurstLength", "65536"), ("FirstBurstLength", "131072")]),
                ]
                .concat(),
                LoginStatus::INITIATOR_ERROR,
            ),
        ];
        for (i, (r, data, status)) in cases.into_iter().enumerate() {
            let mut m = LoginMachine::new(1, PEER);
            let step = m.step(&p, &r, &data);
            assert!(
                matches!(&step, LoginStep::Fail { header, .. } if LoginStatus::new(header.status_class, header.status_detail) == status),
                "case {i}: {step:?}"
            );
        }
    }

    #[test]
    fn authorization_failure() {
        let p = Policy {
            allowed: vec!["iqn.2024-01.org.example:other".into()],
            ..Policy::none()
        };
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            m.step(
                &p,
                &req(true, 1, 3),
                &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
            ),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
        let p = Policy {
            allowed: vec![INITIATOR.to_uppercase()],
            ..Policy::none()
        };
        let mut m = LoginMachine::new(1, PEER);
        expect_complete(m.step(
            &p,
            &req(true, 1, 3),
            &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
        ));
    }

    #[test]
    fn continued_text() {
        let p = Policy::none();
        let mut m = LoginMachine::new(1, PEER);
        let mut all = text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]);
        all.extend(opneg_keys());
        let (a, b) = all.split_at(20);
        let (h, d) = expect_respond(m.step(
            &p,
            &LoginRequest {
                continue_: true,
                ..req(false, 1, 3)
            },
            a,
        ));
        assert!(!h.transit && !h.continue_);
        assert!(d.is_empty());
        let (_, _, params) = expect_complete(m.step(&p, &req(true, 1, 3), b));
        assert_eq!(params.initiator_name, INITIATOR);
    }

    #[test]
    fn huge_text_is_out_of_resources() {
        let p = Policy::none();
        let mut m = LoginMachine::new(1, PEER);
        let chunk = vec![b'a'; 8192];
        let cont = LoginRequest {
            continue_: true,
            ..req(false, 1, 3)
        };
        let mut last = None;
        for _ in 0..9 {
            last = Some(m.step(&p, &cont, &chunk));
            if m.is_failed() {
                break;
            }
        }
        expect_fail(last.unwrap(), LoginStatus::OUT_OF_RESOURCES);
    }

    #[test]
    fn too_many_unknown_keys() {
        let p = Policy::none();
        let mut m = LoginMachine::new(1, PEER);
        let mut w = TextWriter::new();
        w.push("InitiatorName", INITIATOR);
        w.push("TargetName", TARGET);
        for i in 0..1000 {
            w.push(&format!("X-unknown-key-{i}"), "1");
        }
        expect_fail(
            m.step(&p, &req(true, 1, 3), w.as_bytes()),
            LoginStatus::INITIATOR_ERROR,
        );
    }

    #[test]
    fn ids_must_not_change() {
        let p = Policy::none();
        let mut m = LoginMachine::new(1, PEER);
        expect_respond(m.step(
            &p,
            &req(false, 1, 3),
            &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
        ));
        let r = LoginRequest {
            isid: [0x80, 0, 0, 0, 0, 2],
            ..req(true, 1, 3)
        };
        expect_fail(m.step(&p, &r, &[]), LoginStatus::INITIATOR_ERROR);
    }

    #[test]
    fn stage_must_follow_responses() {
        let p = Policy::none();
        let mut m = LoginMachine::new(1, PEER);
        // T=0 in the security stage: the next PDU must still be in the security stage.
        expect_respond(m.step(
            &p,
            &req(false, 0, 1),
            &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
        ));
        expect_fail(
            m.step(&p, &req(true, 1, 3), &[]),
            LoginStatus::INITIATOR_ERROR,
        );
    }

    #[test]
    fn too_many_pdus() {
        let p = Policy::none();
        let mut m = LoginMachine::new(1, PEER);
        expect_respond(m.step(
            &p,
            &req(false, 1, 3),
            &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
        ));
        let mut last = None;
        for _ in 0..MAX_LOGIN_PDUS {
            last = Some(m.step(&p, &req(false, 1, 3), &[]));
        }
        expect_fail(last.unwrap(), LoginStatus::INITIATOR_ERROR);
    }

    #[test]
    fn debug_hides_secrets() {
        let s = format!("{:?}", Policy::chap(true).auth);
        assert!(!s.contains("secretsecret"));
        let p = Policy::chap(true);
        let mut m = LoginMachine::new(1, PEER);
        expect_respond(m.step(
            &p,
            &req(false, 0, 1),
            &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
        ));
        assert!(!format!("{m:?}").contains("secretsecret"));
        chap_until_challenge(&mut LoginMachine::new(1, PEER), &p);
        let mut m = LoginMachine::new(1, PEER);
        chap_until_challenge(&mut m, &p);
        assert!(!format!("{m:?}").contains("secretsecret"));
    }

    fn net(s: &str) -> InitiatorNetwork {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A one-PDU normal login from `peer` against `p`.
    fn login_from(p: &Policy, peer: IpAddr) -> LoginStep {
        LoginMachine::new(1, peer).step(
            p,
            &req(true, 1, 3),
            &text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]),
        )
    }

    #[test]
    fn authorization_failure_by_ipv4_portal() {
        let p = Policy {
            portals: vec![net("192.0.2.10")],
            ..Policy::none()
        };
        expect_complete(login_from(&p, ip("192.0.2.10")));
        expect_fail(
            login_from(&p, ip("192.0.2.11")),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
        // The same host through a dual-stack listener.
        expect_complete(login_from(&p, ip("::ffff:192.0.2.10")));
    }

    #[test]
    fn authorization_failure_by_ipv4_prefix() {
        let p = Policy {
            portals: vec![net("198.51.100.0/24"), net("192.0.2.0/28")],
            ..Policy::none()
        };
        expect_complete(login_from(&p, ip("192.0.2.15")));
        expect_complete(login_from(&p, ip("198.51.100.200")));
        expect_fail(
            login_from(&p, ip("192.0.2.16")),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
        expect_fail(
            login_from(&p, ip("2001:db8::1")),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
    }

    #[test]
    fn authorization_failure_by_ipv6_portal() {
        let p = Policy {
            portals: vec![net("[2001:db8:1::]/48"), net("[fd00::7]")],
            ..Policy::none()
        };
        expect_complete(login_from(&p, ip("2001:db8:1:2::3")));
        expect_complete(login_from(&p, ip("fd00::7")));
        expect_fail(
            login_from(&p, ip("fd00::8")),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
        expect_fail(
            login_from(&p, ip("2001:db8:2::1")),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
        expect_fail(
            login_from(&p, ip("192.0.2.10")),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
    }

    #[test]
    fn authorization_needs_both_name_and_portal() {
        let p = Policy {
            allowed: vec![INITIATOR.into()],
            portals: vec![net("192.0.2.0/24")],
            ..Policy::none()
        };
        expect_complete(login_from(&p, PEER));
        expect_fail(
            login_from(&p, ip("203.0.113.1")),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
        let p = Policy {
            allowed: vec!["iqn.2024-01.org.example:other".into()],
            ..p
        };
        expect_fail(login_from(&p, PEER), LoginStatus::AUTHORIZATION_FAILURE);
    }

    #[test]
    fn authorization_is_checked_before_chap() {
        // A refused initiator gets 02/02 on its first PDU, before any challenge.
        let p = Policy {
            portals: vec![net("203.0.113.0/24")],
            ..Policy::chap(false)
        };
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            m.step(
                &p,
                &req(true, 0, 1),
                &text(&[
                    ("InitiatorName", INITIATOR),
                    ("TargetName", TARGET),
                    ("AuthMethod", "CHAP"),
                ]),
            ),
            LoginStatus::AUTHORIZATION_FAILURE,
        );
    }

    #[test]
    fn deny_is_an_authentication_failure_even_for_listed_initiators() {
        // ctld checks `deny` before the name and portal lists.
        let p = Policy {
            auth: Auth::Deny,
            allowed: vec!["iqn.2024-01.org.example:other".into()],
            ..Policy::none()
        };
        expect_fail(login_from(&p, PEER), LoginStatus::AUTHENTICATION_FAILURE);
    }

    fn discovery_from(p: &Policy, peer: IpAddr) -> LoginStep {
        LoginMachine::new(1, peer).step(
            p,
            &req(true, 1, 3),
            &text(&[("InitiatorName", INITIATOR), ("SessionType", "Discovery")]),
        )
    }

    #[test]
    fn discovery_refused_by_initiator_name() {
        let p = Policy {
            discovery: DiscoveryAccess {
                allowed_initiators: vec!["iqn.2024-01.org.example:other".into()],
                ..DiscoveryAccess::default()
            },
            ..Policy::none()
        };
        expect_fail(discovery_from(&p, PEER), LoginStatus::AUTHORIZATION_FAILURE);
        let p = Policy {
            discovery: DiscoveryAccess {
                allowed_initiators: vec![INITIATOR.to_uppercase()],
                ..DiscoveryAccess::default()
            },
            ..Policy::none()
        };
        expect_complete(discovery_from(&p, PEER));
    }

    #[test]
    fn discovery_refused_by_portal() {
        let p = Policy {
            discovery: DiscoveryAccess {
                allowed_portals: vec![net("192.0.2.0/30")],
                ..DiscoveryAccess::default()
            },
            ..Policy::none()
        };
        expect_fail(discovery_from(&p, PEER), LoginStatus::AUTHORIZATION_FAILURE);
        expect_complete(discovery_from(&p, ip("192.0.2.3")));
    }

    /// Policy with two CHAP users; returns the machine after the challenge.
    fn two_users() -> Policy {
        Policy {
            auth: Auth::Chap(vec![
                ChapCredential::new("alice", "alicesecret1"),
                ChapCredential::new("bob", "bobsecret123").with_mutual("tbob", "tbobsecret12"),
            ]),
            ..Policy::none()
        }
    }

    fn chap_answer(m: &mut LoginMachine, p: &Policy, user: &str, secret: &[u8]) -> LoginStep {
        let (id, c) = chap_until_challenge(m, p);
        let r = md5_response(id, secret, &c);
        m.step(
            p,
            &req(true, 0, 1),
            &text(&[("CHAP_N", user), ("CHAP_R", &encode_hex(&r))]),
        )
    }

    #[test]
    fn several_chap_users() {
        let p = two_users();
        let mut m = LoginMachine::new(1, PEER);
        expect_respond(chap_answer(&mut m, &p, "alice", b"alicesecret1"));
        expect_complete(m.step(&p, &req(true, 1, 3), &opneg_keys()));
        assert_eq!(m.chap_credential().map(|c| c.user.as_str()), Some("alice"));

        // Bob's entry needs mutual CHAP, so a one-way answer as bob fails.
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            chap_answer(&mut m, &p, "bob", b"bobsecret123"),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
        assert_eq!(m.chap_credential(), None);
    }

    #[test]
    fn chap_user_with_another_users_secret_fails() {
        let p = two_users();
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            chap_answer(&mut m, &p, "alice", b"bobsecret123"),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
    }

    #[test]
    fn unknown_chap_user_fails() {
        let p = two_users();
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            chap_answer(&mut m, &p, "mallory", b"alicesecret1"),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
    }

    #[test]
    fn empty_chap_list_admits_nobody() {
        let p = Policy {
            auth: Auth::Chap(Vec::new()),
            ..Policy::none()
        };
        let mut m = LoginMachine::new(1, PEER);
        expect_fail(
            chap_answer(&mut m, &p, "", b""),
            LoginStatus::AUTHENTICATION_FAILURE,
        );
    }

    #[test]
    fn no_credential_without_chap() {
        let mut m = LoginMachine::new(1, PEER);
        let mut data = text(&[("InitiatorName", INITIATOR), ("TargetName", TARGET)]);
        data.extend(opneg_keys());
        expect_complete(m.step(&Policy::none(), &req(true, 1, 3), &data));
        assert_eq!(m.chap_credential(), None);
    }
}
