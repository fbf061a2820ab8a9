//! The configuration as typed values: what a ctl.conf says, in storage terms, with the
//! groups ctld predefines.
//!
//! Values are kept as written (`None` where a statement was left out) so that
//! [`Config::to_text`](crate::Config::to_text) writes back what the administrator wrote;
//! the effective values (the defaults ctld applies) come from methods.

use crate::error::Place;
use crate::lun_options::LunOptions;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The iSCSI port every portal listens on unless `listen` names another.
pub const ISCSI_PORT: u16 = 3260;

/// ctld's `MAX_LUNS`: LUN numbers in a target run from 0 to 1023.
pub const MAX_LUNS_PER_TARGET: u32 = 1024;

/// The groups ctld creates before reading the file. `default` may be redefined once;
/// the others are fixed.
pub const DEFAULT_AUTH_GROUP: &str = "default";
pub const NO_AUTHENTICATION: &str = "no-authentication";
pub const NO_ACCESS: &str = "no-access";
pub const DEFAULT_PORTAL_GROUP: &str = "default";

/// A whole ctl.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `debug N`: ctld's log verbosity; kept for the firmware's log level.
    pub debug: Option<u64>,
    /// `timeout N`: login timeout in seconds (0: none).
    pub timeout: Option<u64>,
    /// `maxproc N`: ctld's limit on login child processes. dyad has no processes; kept so
    /// a FreeBSD file loads and saves unchanged, with no effect.
    pub maxproc: Option<u64>,
    /// `pidfile PATH`: dyad writes no pid file; kept so a FreeBSD file loads and saves
    /// unchanged, with no effect.
    pub pidfile: Option<String>,
    /// `interlink-key HEX`: the pre-shared key both controllers of the enclosure prove on
    /// their interlink (dyad's own statement; ctld has no interlink). Without one the
    /// controller refuses to link and says so.
    pub interlink_key: Option<InterlinkKey>,
    /// The predefined groups first (`default`, `no-authentication`, `no-access`), then the
    /// file's, in file order.
    pub auth_groups: Vec<AuthGroup>,
    /// The predefined `default` first, then the file's, in file order.
    pub portal_groups: Vec<PortalGroup>,
    /// Global LUNs (`lun NAME { }`), in file order. Inline LUNs live in their target.
    pub luns: Vec<Lun>,
    pub targets: Vec<Target>,
}

impl Default for Config {
    /// An empty file: only the predefined groups.
    fn default() -> Self {
        Config {
            debug: None,
            timeout: None,
            maxproc: None,
            pidfile: None,
            interlink_key: None,
            auth_groups: vec![
                AuthGroup::predefined(DEFAULT_AUTH_GROUP).unwrap_or_default(),
                AuthGroup::predefined(NO_AUTHENTICATION).unwrap_or_default(),
                AuthGroup::predefined(NO_ACCESS).unwrap_or_default(),
            ],
            portal_groups: vec![PortalGroup::predefined_default()],
            luns: Vec::new(),
            targets: Vec::new(),
        }
    }
}

impl Config {
    pub fn auth_group(&self, name: &str) -> Option<&AuthGroup> {
        self.auth_groups.iter().find(|g| g.name == name)
    }

    pub fn portal_group(&self, name: &str) -> Option<&PortalGroup> {
        self.portal_groups.iter().find(|g| g.name == name)
    }

    /// A global LUN by name.
    pub fn lun(&self, name: &str) -> Option<&Lun> {
        self.luns.iter().find(|l| l.name == name)
    }

    /// A target by name; iSCSI names compare without regard to ASCII case.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Every LUN definition: the global ones, then each target's inline ones.
    pub fn all_luns(&self) -> impl Iterator<Item = &Lun> {
        self.luns.iter().chain(self.targets.iter().flat_map(|t| {
            t.luns.iter().filter_map(|m| match &m.lun {
                TargetLunSource::Inline(l) => Some(&**l),
                TargetLunSource::Named(_) => None,
            })
        }))
    }

    /// The LUN a target's `lun N ...` line exposes.
    pub fn resolve<'a>(&'a self, mapping: &'a TargetLun) -> Option<&'a Lun> {
        match &mapping.lun {
            TargetLunSource::Inline(l) => Some(&**l),
            TargetLunSource::Named(n) => self.lun(n),
        }
    }
}

/// The interlink's pre-shared key: 32 bytes, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InterlinkKey(pub [u8; 32]);

impl core::fmt::Debug for InterlinkKey {
    // The key stays out of logs and debug output.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InterlinkKey(..)")
    }
}

impl InterlinkKey {
    /// Reads 64 hex digits (an `0x` before them is allowed); an all-zero key is refused,
    /// as a key nobody chose.
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(alloc::format!(
                "interlink-key must be 64 hex digits (32 bytes), not {} characters",
                digits.len()
            ));
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            let pair = digits.get(2 * i..2 * i + 2).unwrap_or("00");
            *byte = u8::from_str_radix(pair, 16)
                .map_err(|_| String::from("interlink-key is not hex"))?;
        }
        if key == [0; 32] {
            return Err("interlink-key must not be all zeros".into());
        }
        Ok(InterlinkKey(key))
    }

    /// As ctl.conf writes it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| alloc::format!("{b:02x}")).collect()
    }
}

/// How initiators prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// No authentication (initiator-name and initiator-portal lists still apply).
    None,
    /// Nobody gets in.
    Deny,
    Chap,
    ChapMutual,
}

impl AuthType {
    pub fn keyword(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Deny => "deny",
            AuthType::Chap => "chap",
            AuthType::ChapMutual => "chap-mutual",
        }
    }

    pub fn from_keyword(s: &str) -> Option<Self> {
        [
            AuthType::None,
            AuthType::Deny,
            AuthType::Chap,
            AuthType::ChapMutual,
        ]
        .into_iter()
        .find(|t| t.keyword() == s)
    }
}

/// `chap USER SECRET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chap {
    pub user: String,
    pub secret: String,
    pub place: Place,
}

/// `chap-mutual USER SECRET MUTUAL-USER MUTUAL-SECRET`: the target answers the initiator's
/// challenge with the mutual pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapMutual {
    pub user: String,
    pub secret: String,
    pub mutual_user: String,
    pub mutual_secret: String,
    pub place: Place,
}

/// `initiator-portal ADDR[/PREFIX]` (matched at login by `iscsi::access::InitiatorNetwork`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitiatorPortal {
    pub addr: IpAddr,
    /// Bits of `addr` that must match; `None`: all of them.
    pub prefix: Option<u8>,
}

/// What an auth-group (or a target's inline authentication) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    /// `auth-type`, if written.
    pub auth_type: Option<AuthType>,
    pub auth_type_place: Place,
    pub chap: Vec<Chap>,
    pub chap_mutual: Vec<ChapMutual>,
    /// `initiator-name`: if any, only these initiators may log in.
    pub initiator_names: Vec<String>,
    /// `initiator-portal`: if any, only initiators from these addresses may log in.
    pub initiator_portals: Vec<InitiatorPortal>,
}

impl AuthSettings {
    /// The authentication in force: the written `auth-type`, else what the credentials
    /// imply, else `none` when only name or portal lists are given (they are the check),
    /// else `deny` (an empty group lets nobody in, as ctld's `default` does).
    pub fn effective_type(&self) -> AuthType {
        if let Some(t) = self.auth_type {
            t
        } else if !self.chap_mutual.is_empty() {
            AuthType::ChapMutual
        } else if !self.chap.is_empty() {
            AuthType::Chap
        } else if !self.initiator_names.is_empty() || !self.initiator_portals.is_empty() {
            AuthType::None
        } else {
            AuthType::Deny
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == AuthSettings::default()
    }
}

/// `auth-group NAME { }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthGroup {
    pub name: String,
    pub auth: AuthSettings,
    pub place: Place,
}

impl AuthGroup {
    /// ctld's predefined groups: `default` (empty, so it denies), `no-authentication`
    /// (`auth-type none`) and `no-access` (`auth-type deny`).
    pub fn predefined(name: &str) -> Option<AuthGroup> {
        let auth_type = match name {
            DEFAULT_AUTH_GROUP => None,
            NO_AUTHENTICATION => Some(AuthType::None),
            NO_ACCESS => Some(AuthType::Deny),
            _ => return None,
        };
        Some(AuthGroup {
            name: name.into(),
            auth: AuthSettings {
                auth_type,
                ..AuthSettings::default()
            },
            place: Place::default(),
        })
    }
}

/// `discovery-filter`: which targets SendTargets shows an initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryFilter {
    /// Every target.
    None,
    /// Targets the initiator's portal may reach.
    Portal,
    /// ... and whose initiator-name list admits it.
    PortalName,
    /// ... and whose authentication it passed during discovery.
    PortalNameAuth,
}

impl DiscoveryFilter {
    pub fn keyword(self) -> &'static str {
        match self {
            DiscoveryFilter::None => "none",
            DiscoveryFilter::Portal => "portal",
            DiscoveryFilter::PortalName => "portal-name",
            DiscoveryFilter::PortalNameAuth => "portal-name-auth",
        }
    }

    pub fn from_keyword(s: &str) -> Option<Self> {
        [
            DiscoveryFilter::None,
            DiscoveryFilter::Portal,
            DiscoveryFilter::PortalName,
            DiscoveryFilter::PortalNameAuth,
        ]
        .into_iter()
        .find(|f| f.keyword() == s)
    }
}

/// `listen ADDR[:PORT]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub place: Place,
}

/// `portal-group NAME { }`: the addresses a set of targets is reached on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalGroup {
    pub name: String,
    pub listen: Vec<Listen>,
    /// `discovery-auth-group`; `None`: `default`, which denies discovery.
    pub discovery_auth_group: Option<String>,
    pub discovery_auth_group_place: Place,
    pub discovery_filter: Option<DiscoveryFilter>,
    /// `tag`: the portal group tag (TPGT); `None`: assigned by dyad.
    pub tag: Option<u16>,
    /// `foreign`: the ports are the HA peer's; create the target ports but do not listen.
    pub foreign: bool,
    pub place: Place,
}

impl PortalGroup {
    pub fn new(name: &str, place: Place) -> Self {
        PortalGroup {
            name: name.into(),
            listen: Vec::new(),
            discovery_auth_group: None,
            discovery_auth_group_place: Place::default(),
            discovery_filter: None,
            tag: None,
            foreign: false,
            place,
        }
    }

    /// ctld's `default` portal group: port 3260 on every IPv4 and IPv6 address.
    pub fn predefined_default() -> Self {
        let mut pg = PortalGroup::new(DEFAULT_PORTAL_GROUP, Place::default());
        pg.listen = default_listens();
        pg
    }

    pub fn effective_discovery_auth_group(&self) -> &str {
        self.discovery_auth_group
            .as_deref()
            .unwrap_or(DEFAULT_AUTH_GROUP)
    }

    pub fn effective_discovery_filter(&self) -> DiscoveryFilter {
        self.discovery_filter.unwrap_or(DiscoveryFilter::None)
    }
}

/// 0.0.0.0:3260 and [::]:3260.
pub fn default_listens() -> Vec<Listen> {
    vec![
        Listen {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ISCSI_PORT),
            place: Place::default(),
        },
        Listen {
            addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), ISCSI_PORT),
            place: Place::default(),
        },
    ]
}

/// `backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A file, block device or backplane slot.
    Block,
    /// Memory, for testing.
    Ramdisk,
}

impl Backend {
    pub fn keyword(self) -> &'static str {
        match self {
            Backend::Block => "block",
            Backend::Ramdisk => "ramdisk",
        }
    }
}

/// `path`: where a block LUN's data lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LunPath {
    /// `slot:N`: the drive in backplane slot N.
    Slot(u32),
    /// A file or device node.
    File(String),
}

impl LunPath {
    /// As written in ctl.conf.
    pub fn text(&self) -> String {
        match self {
            LunPath::Slot(n) => alloc::format!("slot:{n}"),
            LunPath::File(p) => p.clone(),
        }
    }
}

/// Where a LUN's statements were written, for errors about them. Never part of a LUN's
/// value.
#[derive(Debug, Clone, Default)]
pub struct LunPlaces {
    pub backend: Place,
    pub path: Place,
    pub size: Place,
    pub blocksize: Place,
    pub ctl_lun: Place,
    /// Each `option NAME`.
    pub options: BTreeMap<String, Place>,
}

impl PartialEq for LunPlaces {
    fn eq(&self, _: &LunPlaces) -> bool {
        true
    }
}

impl Eq for LunPlaces {}

impl LunPlaces {
    /// Where `option NAME` was written, or else `fallback`.
    pub fn option(&self, name: &str, fallback: Place) -> Place {
        self.options.get(name).copied().unwrap_or(fallback)
    }
}

/// The logical block size when `blocksize` is left out.
pub const DEFAULT_BLOCK_SIZE: u32 = 512;

/// `lun NAME { }` or a target's `lun N { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lun {
    /// The global name; an inline LUN is named `TARGET,lun,N` as ctld names it.
    pub name: String,
    pub backend: Option<Backend>,
    pub path: Option<LunPath>,
    /// Bytes.
    pub size: Option<u64>,
    pub blocksize: Option<u32>,
    /// Unit serial number (VPD 0x80).
    pub serial: Option<String>,
    /// T10 vendor identification designator (VPD 0x83).
    pub device_id: Option<String>,
    /// Fixed global LUN id, the same on both controllers.
    pub ctl_lun: Option<u32>,
    pub options: LunOptions,
    /// Where the `lun` keyword was.
    pub place: Place,
    pub places: LunPlaces,
}

impl Lun {
    pub fn new(name: &str, place: Place) -> Self {
        Lun {
            name: name.into(),
            backend: None,
            path: None,
            size: None,
            blocksize: None,
            serial: None,
            device_id: None,
            ctl_lun: None,
            options: LunOptions::default(),
            place,
            places: LunPlaces::default(),
        }
    }

    /// `block` unless written otherwise, as in ctld.
    pub fn effective_backend(&self) -> Backend {
        self.backend.unwrap_or(Backend::Block)
    }

    pub fn block_size(&self) -> u32 {
        self.blocksize.unwrap_or(DEFAULT_BLOCK_SIZE)
    }
}

/// How a target authenticates its initiators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetAuth {
    /// Nothing written: the `default` auth-group.
    Default,
    /// `auth-group NAME`.
    Group { name: String, place: Place },
    /// `auth-type`, `chap`, `chap-mutual`, `initiator-name`, `initiator-portal` in the
    /// target itself.
    Inline(AuthSettings),
}

/// `portal-group NAME [AUTH-GROUP]` in a target: one target port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPortalGroup {
    pub name: String,
    /// Authentication on this port instead of the target's.
    pub auth_group: Option<String>,
    pub place: Place,
}

/// What a target's `lun N` exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetLunSource {
    /// `lun N NAME`: a global LUN.
    Named(String),
    /// `lun N { }`.
    Inline(Box<Lun>),
}

/// One entry of a target's LUN map: LUN number `number` on its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLun {
    pub number: u32,
    pub lun: TargetLunSource,
    pub place: Place,
}

/// `target NAME { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub alias: Option<String>,
    pub auth: TargetAuth,
    /// No entries: the `default` portal group.
    pub portal_groups: Vec<TargetPortalGroup>,
    pub luns: Vec<TargetLun>,
    pub place: Place,
}

impl Target {
    pub fn new(name: &str, place: Place) -> Self {
        Target {
            name: name.into(),
            alias: None,
            auth: TargetAuth::Default,
            portal_groups: Vec::new(),
            luns: Vec::new(),
            place,
        }
    }

    /// The portal groups the target is reached through.
    pub fn effective_portal_groups(&self) -> Vec<&str> {
        if self.portal_groups.is_empty() {
            vec![DEFAULT_PORTAL_GROUP]
        } else {
            self.portal_groups.iter().map(|p| p.name.as_str()).collect()
        }
    }
}
