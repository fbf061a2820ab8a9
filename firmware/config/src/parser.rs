//! Recursive-descent parser from tokens to a [`Config`]: the statements of each context
//! of ctl.conf(5), their arguments, and the statements dyad refuses by name. Checks that
//! need the whole file (references, duplicates across blocks) are `validate.rs`'s.

use crate::error::{ConfigError, Place};
use crate::lexer::{Token, TokenKind};
use crate::model::*;
use crate::size::parse_number;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Statements ctld has and dyad refuses, per context, with what they do.
const UNSUPPORTED_GLOBAL: [(&str, &str); 5] = [
    ("isns-server", "iSNS registration"),
    ("isns-period", "iSNS registration"),
    ("isns-timeout", "iSNS registration"),
    ("transport-group", "NVMe over Fabrics"),
    ("controller", "NVMe over Fabrics"),
];
const UNSUPPORTED_PORTAL_GROUP: [(&str, &str); 6] = [
    ("listen-iser", "iSER"),
    ("offload", "hardware offload"),
    ("option", "kernel port options"),
    ("redirect", "login redirection"),
    ("dscp", "DSCP marking"),
    ("pcp", "VLAN priority"),
];
const UNSUPPORTED_TARGET: [(&str, &str); 2] = [
    ("port", "binding to physical ports"),
    ("redirect", "login redirection"),
];

fn refusal(keyword: &str, list: &[(&str, &str)]) -> Option<String> {
    list.iter()
        .find(|(k, _)| *k == keyword)
        .map(|(k, what)| format!("'{k}' ({what}) is not supported by dyad"))
}

/// A token as an error message names it.
fn describe(kind: &TokenKind) -> String {
    fn clip(s: &str) -> String {
        let mut out: String = s.chars().take(40).collect();
        if s.chars().nth(40).is_some() {
            out.push_str("...");
        }
        out
    }
    match kind {
        TokenKind::Word(w) => format!("'{}'", clip(w)),
        TokenKind::Quoted(q) => format!("\"{}\"", clip(q)),
        TokenKind::OpenBrace => "'{'".into(),
        TokenKind::CloseBrace => "'}'".into(),
        TokenKind::Semicolon => "';'".into(),
        TokenKind::Newline => "end of line".into(),
        TokenKind::End => "end of file".into(),
    }
}

/// A statement's arguments as written, for "after '...'" in messages.
fn context(keyword: &str, args: &[&str]) -> String {
    let mut s = String::from(keyword);
    for a in args {
        s.push(' ');
        s.extend(a.chars().take(40));
    }
    s
}

pub struct Parser<'a> {
    file: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    end: Token,
    config: Config,
    default_auth_group_defined: Option<Place>,
    default_portal_group_defined: Option<Place>,
}

/// A value argument and where it was.
type Value = (String, Place);

impl<'a> Parser<'a> {
    pub fn new(file: &'a str, tokens: Vec<Token>) -> Self {
        let end = tokens.last().cloned().unwrap_or(Token {
            kind: TokenKind::End,
            place: Place::new(1, 1),
        });
        Parser {
            file,
            tokens,
            pos: 0,
            end,
            config: Config::default(),
            default_auth_group_defined: None,
            default_portal_group_defined: None,
        }
    }

    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&self.end)
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn error(&self, at: Place, message: String) -> ConfigError {
        ConfigError::new(self.file, at, message)
    }

    fn expected(&self, what: &str, after: &str) -> ConfigError {
        let t = self.peek();
        self.error(
            t.place,
            format!(
                "expected {what} after '{after}', found {}",
                describe(&t.kind)
            ),
        )
    }

    /// The next argument, which must be a word or a quoted string on this line.
    fn value(&mut self, what: &str, after: &str) -> Result<Value, ConfigError> {
        match &self.peek().kind {
            TokenKind::Word(s) | TokenKind::Quoted(s) => {
                let v = (s.clone(), self.peek().place);
                self.advance();
                Ok(v)
            }
            _ => Err(self.expected(what, after)),
        }
    }

    /// A value if one follows on this line.
    fn optional_value(&mut self) -> Option<Value> {
        match &self.peek().kind {
            TokenKind::Word(s) | TokenKind::Quoted(s) => {
                let v = (s.clone(), self.peek().place);
                self.advance();
                Some(v)
            }
            _ => None,
        }
    }

    fn number(&mut self, what: &str, after: &str) -> Result<(u64, Place), ConfigError> {
        let (text, place) = self.value(what, after)?;
        let n = parse_number(&text)
            .map_err(|e| self.error(place, format!("{after} '{text}' {}", e.reason())))?;
        Ok((n, place))
    }

    /// A statement ends at `;`, at the end of its line, or before the `}` closing its
    /// block.
    fn end_of_statement(&mut self, after: &str) -> Result<(), ConfigError> {
        match self.peek().kind {
            TokenKind::Semicolon | TokenKind::Newline => {
                self.advance();
                Ok(())
            }
            TokenKind::CloseBrace | TokenKind::End => Ok(()),
            _ => Err(self.expected("end of line or ';'", after)),
        }
    }

    fn skip_newlines(&mut self) {
        while self.peek().kind == TokenKind::Newline {
            self.advance();
        }
    }

    /// The `{` opening a block, which may be on the next line.
    fn open_block(&mut self, after: &str) -> Result<Place, ConfigError> {
        self.skip_newlines();
        if self.peek().kind != TokenKind::OpenBrace {
            return Err(self.expected("'{'", after));
        }
        Ok(self.advance().place)
    }

    /// The next statement keyword in a block, or `None` at its `}` (consumed).
    fn next_in_block(&mut self, block: &str, opened: Place) -> Result<Option<Value>, ConfigError> {
        loop {
            let t = self.peek().clone();
            match t.kind {
                TokenKind::Newline | TokenKind::Semicolon => {
                    self.advance();
                }
                TokenKind::CloseBrace => {
                    self.advance();
                    return Ok(None);
                }
                TokenKind::End => {
                    return Err(self.error(
                        t.place,
                        format!(
                        "expected '}}' to close '{block}' opened at {}:{}:{}, found end of file",
                        self.file, opened.line, opened.column
                    ),
                    ))
                }
                TokenKind::Word(w) => {
                    self.advance();
                    return Ok(Some((w, t.place)));
                }
                _ => {
                    return Err(self.error(
                        t.place,
                        format!(
                            "expected a statement in '{block}', found {}",
                            describe(&t.kind)
                        ),
                    ))
                }
            }
        }
    }

    fn once<T>(
        &self,
        slot: &Option<T>,
        first: Place,
        what: &str,
        owner: &str,
        at: Place,
    ) -> Result<(), ConfigError> {
        if slot.is_some() {
            return Err(ConfigError::conflict(
                self.file,
                at,
                format!("{what} for {owner} specified more than once; first"),
                first,
            ));
        }
        Ok(())
    }

    pub fn parse(mut self) -> Result<Config, ConfigError> {
        // Where each global setting was first written.
        let mut first: [Place; 5] = [Place::default(); 5];
        const PIDFILE: usize = 3;
        const INTERLINK_KEY: usize = 4;
        loop {
            let t = self.peek().clone();
            let (keyword, place) = match t.kind {
                TokenKind::Newline | TokenKind::Semicolon => {
                    self.advance();
                    continue;
                }
                TokenKind::End => break,
                TokenKind::Word(w) => {
                    self.advance();
                    (w, t.place)
                }
                _ => {
                    return Err(self.error(
                        t.place,
                        format!("expected a statement, found {}", describe(&t.kind)),
                    ))
                }
            };
            match keyword.as_str() {
                "auth-group" => self.auth_group(place)?,
                "portal-group" => self.portal_group(place)?,
                "lun" => {
                    let (name, _) = self.value("a LUN name", "lun")?;
                    let lun = self.lun_body(&name, place, &context("lun", &[&name]))?;
                    self.config.luns.push(lun);
                }
                "target" => self.target(place)?,
                "debug" | "timeout" | "maxproc" => {
                    let (n, _) = self.number("a number", &keyword)?;
                    let (slot, i) = match keyword.as_str() {
                        "debug" => (&mut self.config.debug, 0),
                        "timeout" => (&mut self.config.timeout, 1),
                        _ => (&mut self.config.maxproc, 2),
                    };
                    if slot.is_some() {
                        let prior = first.get(i).copied().unwrap_or_default();
                        return Err(ConfigError::conflict(
                            self.file,
                            place,
                            format!("'{keyword}' specified more than once; first"),
                            prior,
                        ));
                    }
                    *slot = Some(n);
                    if let Some(p) = first.get_mut(i) {
                        *p = place;
                    }
                    self.end_of_statement(&keyword)?;
                }
                "pidfile" => {
                    let (path, _) = self.value("a path", "pidfile")?;
                    let prior = first.get(PIDFILE).copied().unwrap_or_default();
                    self.once(&self.config.pidfile, prior, "pidfile", "the configuration", place)?;
                    self.config.pidfile = Some(path);
                    if let Some(p) = first.get_mut(PIDFILE) {
                        *p = place;
                    }
                    self.end_of_statement("pidfile")?;
                }
                "interlink-key" => {
                    let (text, at) = self.value("64 hex digits", "interlink-key")?;
                    let prior = first.get(INTERLINK_KEY).copied().unwrap_or_default();
                    self.once(
                        &self.config.interlink_key,
                        prior,
                        "interlink-key",
                        "the configuration",
                        place,
                    )?;
                    let key = InterlinkKey::parse(&text).map_err(|e| self.error(at, e))?;
                    self.config.interlink_key = Some(key);
                    if let Some(p) = first.get_mut(INTERLINK_KEY) {
                        *p = place;
                    }
                    self.end_of_statement("interlink-key")?;
                }
                other => {
                    return Err(self.error(
                        place,
                        refusal(other, &UNSUPPORTED_GLOBAL).unwrap_or_else(|| {
                            format!("unknown statement '{other}'; expected auth-group, portal-group, lun, target, debug, timeout, maxproc, pidfile or interlink-key")
                        }),
                    ))
                }
            }
        }
        Ok(self.config)
    }

    fn auth_group(&mut self, place: Place) -> Result<(), ConfigError> {
        let (name, _) = self.value("an auth-group name", "auth-group")?;
        let after = context("auth-group", &[&name]);
        let opened = self.open_block(&after)?;
        let mut auth = AuthSettings::default();
        while let Some((kw, at)) = self.next_in_block(&after, opened)? {
            if !self.auth_statement(&kw, at, &mut auth)? {
                return Err(self.error(at, format!("unknown statement '{kw}' in auth-group '{name}'; expected auth-type, chap, chap-mutual, initiator-name or initiator-portal")));
            }
        }
        let group = AuthGroup { name, auth, place };
        match group.name.as_str() {
            DEFAULT_AUTH_GROUP if self.default_auth_group_defined.is_none() => {
                // ctld lets a file redefine `default` once.
                self.default_auth_group_defined = Some(place);
                if let Some(g) = self
                    .config
                    .auth_groups
                    .iter_mut()
                    .find(|g| g.name == DEFAULT_AUTH_GROUP)
                {
                    *g = group;
                }
            }
            NO_AUTHENTICATION | NO_ACCESS => {
                return Err(self.error(
                    place,
                    format!(
                        "auth-group '{}' is predefined and cannot be redefined",
                        group.name
                    ),
                ))
            }
            _ => self.config.auth_groups.push(group),
        }
        Ok(())
    }

    /// An auth statement, in an auth-group or a target. `false` if `keyword` is not one.
    fn auth_statement(
        &mut self,
        keyword: &str,
        at: Place,
        auth: &mut AuthSettings,
    ) -> Result<bool, ConfigError> {
        match keyword {
            "auth-type" => {
                let (t, place) = self.value("none, deny, chap or chap-mutual", "auth-type")?;
                let Some(new) = AuthType::from_keyword(&t) else {
                    return Err(self.error(
                        place,
                        format!("auth-type '{t}' must be none, deny, chap or chap-mutual"),
                    ));
                };
                if let Some(old) = auth.auth_type.filter(|old| *old != new) {
                    return Err(ConfigError::conflict(
                        self.file,
                        at,
                        format!(
                            "auth-type {} conflicts with auth-type {}",
                            new.keyword(),
                            old.keyword()
                        ),
                        auth.auth_type_place,
                    ));
                }
                if auth.auth_type.is_none() {
                    auth.auth_type = Some(new);
                    auth.auth_type_place = at;
                }
            }
            "chap" => {
                let (user, _) = self.value("a CHAP user name", "chap")?;
                let (secret, _) = self.value("a CHAP secret", &context("chap", &[&user]))?;
                auth.chap.push(Chap {
                    user,
                    secret,
                    place: at,
                });
            }
            "chap-mutual" => {
                let (user, _) = self.value("a CHAP user name", "chap-mutual")?;
                let (secret, _) = self.value("a CHAP secret", &context("chap-mutual", &[&user]))?;
                let (mutual_user, _) = self.value(
                    "a mutual CHAP user name",
                    &context("chap-mutual", &[&user, "..."]),
                )?;
                let (mutual_secret, _) = self.value(
                    "a mutual CHAP secret",
                    &context("chap-mutual", &[&user, "...", &mutual_user]),
                )?;
                auth.chap_mutual.push(ChapMutual {
                    user,
                    secret,
                    mutual_user,
                    mutual_secret,
                    place: at,
                });
            }
            "initiator-name" => {
                let (name, _) = self.value("an initiator name", "initiator-name")?;
                auth.initiator_names.push(name);
            }
            "initiator-portal" => {
                let (text, place) = self.value("an address", "initiator-portal")?;
                let portal = parse_initiator_portal(&text)
                    .map_err(|m| self.error(place, format!("initiator-portal '{text}': {m}")))?;
                auth.initiator_portals.push(portal);
            }
            _ => return Ok(false),
        }
        self.end_of_statement(keyword)?;
        Ok(true)
    }

    fn portal_group(&mut self, place: Place) -> Result<(), ConfigError> {
        let (name, _) = self.value("a portal-group name", "portal-group")?;
        let after = context("portal-group", &[&name]);
        let opened = self.open_block(&after)?;
        let mut pg = PortalGroup::new(&name, place);
        let mut tag_place = Place::default();
        let mut filter_place = Place::default();
        while let Some((kw, at)) = self.next_in_block(&after, opened)? {
            let owner = format!("portal-group '{name}'");
            match kw.as_str() {
                "listen" => {
                    let (text, vplace) = self.value("an address", "listen")?;
                    let addr = parse_listen(&text)
                        .map_err(|m| self.error(vplace, format!("listen '{text}': {m}")))?;
                    pg.listen.push(Listen { addr, place: at });
                }
                "discovery-auth-group" => {
                    let (group, _) = self.value("an auth-group name", &kw)?;
                    self.once(&pg.discovery_auth_group, pg.discovery_auth_group_place, &kw, &owner, at)?;
                    pg.discovery_auth_group = Some(group);
                    pg.discovery_auth_group_place = at;
                }
                "discovery-filter" => {
                    let (f, vplace) =
                        self.value("none, portal, portal-name or portal-name-auth", &kw)?;
                    self.once(&pg.discovery_filter, filter_place, &kw, &owner, at)?;
                    pg.discovery_filter = Some(DiscoveryFilter::from_keyword(&f).ok_or_else(|| {
                        self.error(vplace, format!("discovery-filter '{f}' must be none, portal, portal-name or portal-name-auth"))
                    })?);
                    filter_place = at;
                }
                "tag" => {
                    let (n, vplace) = self.number("a portal group tag", &kw)?;
                    self.once(&pg.tag, tag_place, &kw, &owner, at)?;
                    pg.tag = Some(u16::try_from(n).map_err(|_| {
                        self.error(vplace, format!("tag {n} is too large: a portal group tag is 0 to 65535"))
                    })?);
                    tag_place = at;
                }
                "foreign" => pg.foreign = true,
                other => {
                    return Err(self.error(
                        at,
                        refusal(other, &UNSUPPORTED_PORTAL_GROUP).unwrap_or_else(|| {
                            format!("unknown statement '{other}' in portal-group '{name}'; expected listen, discovery-auth-group, discovery-filter, tag or foreign")
                        }),
                    ))
                }
            }
            self.end_of_statement(&kw)?;
        }
        if pg.name == DEFAULT_PORTAL_GROUP {
            if let Some(first) = self.default_portal_group_defined {
                return Err(ConfigError::conflict(
                    self.file,
                    place,
                    "portal-group 'default' redefined more than once; first".into(),
                    first,
                ));
            }
            // ctld lets a file redefine `default` once; with no `listen` it keeps
            // listening everywhere.
            self.default_portal_group_defined = Some(place);
            if pg.listen.is_empty() {
                pg.listen = default_listens();
            }
            if let Some(g) = self
                .config
                .portal_groups
                .iter_mut()
                .find(|g| g.name == DEFAULT_PORTAL_GROUP)
            {
                *g = pg;
            }
        } else {
            self.config.portal_groups.push(pg);
        }
        Ok(())
    }

    /// The `{ ... }` of a LUN, global (`lun NAME`) or inline (`lun N` in a target).
    fn lun_body(&mut self, name: &str, place: Place, after: &str) -> Result<Lun, ConfigError> {
        let opened = self.open_block(after)?;
        let mut lun = Lun::new(name, place);
        let owner = format!("LUN '{name}'");
        while let Some((kw, at)) = self.next_in_block(after, opened)? {
            match kw.as_str() {
                "backend" => {
                    let (b, vplace) = self.value("block or ramdisk", &kw)?;
                    self.once(&lun.backend, lun.places.backend, &kw, &owner, at)?;
                    lun.backend = Some(match b.as_str() {
                        "block" => Backend::Block,
                        "ramdisk" => Backend::Ramdisk,
                        _ => {
                            return Err(self.error(
                                vplace,
                                format!("backend '{b}' must be block or ramdisk"),
                            ))
                        }
                    });
                    lun.places.backend = at;
                }
                "path" => {
                    let (p, vplace) = self.value("a path or slot:N", &kw)?;
                    self.once(&lun.path, lun.places.path, &kw, &owner, at)?;
                    lun.path = Some(parse_lun_path(&p).map_err(|m| self.error(vplace, m))?);
                    lun.places.path = at;
                }
                "size" => {
                    let (n, _) = self.number("a size", &kw)?;
                    self.once(&lun.size, lun.places.size, &kw, &owner, at)?;
                    lun.size = Some(n);
                    lun.places.size = at;
                }
                "blocksize" => {
                    let (n, vplace) = self.number("a block size", &kw)?;
                    self.once(&lun.blocksize, lun.places.blocksize, &kw, &owner, at)?;
                    lun.blocksize = Some(u32::try_from(n).map_err(|_| {
                        self.error(vplace, format!("blocksize {n} is too large"))
                    })?);
                    lun.places.blocksize = at;
                }
                "ctl-lun" => {
                    let (n, vplace) = self.number("a LUN id", &kw)?;
                    self.once(&lun.ctl_lun, lun.places.ctl_lun, &kw, &owner, at)?;
                    lun.ctl_lun = Some(u32::try_from(n).map_err(|_| {
                        self.error(vplace, format!("ctl-lun {n} is too large"))
                    })?);
                    lun.places.ctl_lun = at;
                }
                "serial" => {
                    let (s, _) = self.value("a serial number", &kw)?;
                    self.once(&lun.serial, Place::default(), &kw, &owner, at)?;
                    lun.serial = Some(s);
                }
                "device-id" => {
                    let (s, _) = self.value("a device id", &kw)?;
                    self.once(&lun.device_id, Place::default(), &kw, &owner, at)?;
                    lun.device_id = Some(s);
                }
                "device-type" => {
                    // Every dyad LUN is a direct-access block device, so only that type
                    // is accepted, and it needs no keeping.
                    let (t, vplace) = self.value("a device type", &kw)?;
                    if !matches!(t.to_ascii_lowercase().as_str(), "0" | "disk" | "direct") {
                        return Err(self.error(vplace, format!("device-type '{t}' is not supported by dyad: only direct-access (disk) LUNs")));
                    }
                }
                "option" => {
                    let (oname, _) = self.value("an option name", &kw)?;
                    let (ovalue, vplace) =
                        self.value("an option value", &context("option", &[&oname]))?;
                    if let Some(first) = lun.places.options.get(&oname) {
                        return Err(ConfigError::conflict(
                            self.file,
                            at,
                            format!("option {oname} for {owner} specified more than once; first"),
                            *first,
                        ));
                    }
                    let mut options = core::mem::take(&mut lun.options);
                    let result = options.set(&oname, &ovalue);
                    lun.options = options;
                    result.map_err(|m| {
                        self.error(if m.starts_with("option") { vplace } else { at }, m)
                    })?;
                    lun.places.options.insert(oname, at);
                }
                other => {
                    return Err(self.error(at, format!("unknown statement '{other}' in {owner}; expected backend, path, size, blocksize, serial, device-id, device-type, ctl-lun or option")))
                }
            }
            self.end_of_statement(&kw)?;
        }
        Ok(lun)
    }

    fn target(&mut self, place: Place) -> Result<(), ConfigError> {
        let (name, _) = self.value("a target name", "target")?;
        let after = context("target", &[&name]);
        let opened = self.open_block(&after)?;
        let mut target = Target::new(&name, place);
        let mut alias_place = Place::default();
        let mut inline = AuthSettings::default();
        // The first inline auth statement, to name when `auth-group` is also written.
        let mut inline_first: Option<(String, Place)> = None;
        while let Some((kw, at)) = self.next_in_block(&after, opened)? {
            match kw.as_str() {
                "alias" => {
                    let (a, _) = self.value("an alias", &kw)?;
                    self.once(&target.alias, alias_place, &kw, &format!("target '{name}'"), at)?;
                    target.alias = Some(a);
                    alias_place = at;
                    self.end_of_statement(&kw)?;
                }
                "auth-group" => {
                    let (group, _) = self.value("an auth-group name", &kw)?;
                    if let TargetAuth::Group { place: first, .. } = target.auth {
                        return Err(ConfigError::conflict(self.file, at, format!("auth-group for target '{name}' specified more than once; first"), first));
                    }
                    if let Some((ikw, iplace)) = &inline_first {
                        return Err(ConfigError::conflict(self.file, at, format!("target '{name}' cannot use both auth-group and {ikw}, written"), *iplace));
                    }
                    target.auth = TargetAuth::Group { name: group, place: at };
                    self.end_of_statement(&kw)?;
                }
                "auth-type" | "chap" | "chap-mutual" | "initiator-name" | "initiator-portal" => {
                    if let TargetAuth::Group { place: gplace, .. } = target.auth {
                        return Err(ConfigError::conflict(self.file, at, format!("target '{name}' cannot use both {kw} and auth-group, written"), gplace));
                    }
                    if inline_first.is_none() {
                        inline_first = Some((kw.clone(), at));
                    }
                    self.auth_statement(&kw, at, &mut inline)?;
                }
                "portal-group" => {
                    let (pg, _) = self.value("a portal-group name", &kw)?;
                    let auth_group = self.optional_value().map(|(a, _)| a);
                    target.portal_groups.push(TargetPortalGroup { name: pg, auth_group, place: at });
                    self.end_of_statement(&kw)?;
                }
                "lun" => {
                    let (n, nplace) = self.number("a LUN number", "lun")?;
                    if n >= u64::from(MAX_LUNS_PER_TARGET) {
                        return Err(self.error(nplace, too_big(n)));
                    }
                    let number = n as u32;
                    let lun_after = format!("lun {n}");
                    let lun = if let Some((lun_name, _)) = self.optional_value() {
                        self.end_of_statement(&context("lun", &[&format!("{n}"), &lun_name]))?;
                        TargetLunSource::Named(lun_name)
                    } else {
                        let mut probe = self.pos;
                        while self.tokens.get(probe).is_some_and(|t| t.kind == TokenKind::Newline) {
                            probe += 1;
                        }
                        if !self.tokens.get(probe).is_some_and(|t| t.kind == TokenKind::OpenBrace) {
                            return Err(self.expected("a LUN name or '{'", &lun_after));
                        }
                        let lun_name = format!("{name},lun,{n}");
                        let lun = self.lun_body(&lun_name, at, &lun_after)?;
                        self.end_of_statement(&lun_after)?;
                        TargetLunSource::Inline(alloc::boxed::Box::new(lun))
                    };
                    target.luns.push(TargetLun { number, lun, place: at });
                }
                other => {
                    return Err(self.error(
                        at,
                        refusal(other, &UNSUPPORTED_TARGET).unwrap_or_else(|| {
                            format!("unknown statement '{other}' in target '{name}'; expected alias, auth-group, auth-type, chap, chap-mutual, initiator-name, initiator-portal, portal-group or lun")
                        }),
                    ))
                }
            }
        }
        if inline_first.is_some() {
            target.auth = TargetAuth::Inline(inline);
        }
        self.config.targets.push(target);
        Ok(())
    }
}

/// The message for a LUN number past ctld's `MAX_LUNS`.
pub(crate) fn too_big(n: u64) -> String {
    format!(
        "LUN number {n} is too big: a target has at most {MAX_LUNS_PER_TARGET} LUNs, numbered 0 to {}",
        MAX_LUNS_PER_TARGET - 1
    )
}

/// `slot:N` or a file path.
pub fn parse_lun_path(text: &str) -> Result<LunPath, String> {
    match text.strip_prefix("slot:") {
        Some(n) => {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("path '{text}': slot:N needs a slot number"));
            }
            n.parse()
                .map(LunPath::Slot)
                .map_err(|_| format!("path '{text}': slot number is too large"))
        }
        None => Ok(LunPath::File(text.into())),
    }
}

/// `A.B.C.D[:PORT]` or `[IPV6][:PORT]`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    const HOW: &str = "expected an IPv4 address or a bracketed IPv6 address, optionally followed by :PORT (dyad does not resolve host names)";
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, tail) = rest.split_once(']').ok_or(HOW)?;
        let addr: Ipv6Addr = v6.parse().map_err(|_| HOW)?;
        (IpAddr::V6(addr), tail)
    } else {
        let end = text.find(':').unwrap_or(text.len());
        let (v4, tail) = text.split_at(end);
        let addr: Ipv4Addr = v4.parse().map_err(|_| HOW)?;
        (IpAddr::V4(addr), tail)
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => ISCSI_PORT,
        None => return Err(HOW.into()),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("port '{p}' must be 1 to 65535")),
        },
    };
    Ok(SocketAddr::new(host, port))
}

/// `ADDR[/PREFIX]`, IPv6 with or without brackets.
pub fn parse_initiator_portal(text: &str) -> Result<InitiatorPortal, String> {
    const HOW: &str = "expected an IPv4 or IPv6 address, optionally followed by /PREFIX";
    let (addr, prefix) = match text.rsplit_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = match addr.strip_prefix('[') {
        Some(rest) => IpAddr::V6(
            rest.strip_suffix(']')
                .ok_or(HOW)?
                .parse()
                .map_err(|_| HOW)?,
        ),
        None => addr.parse().map_err(|_| HOW)?,
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("prefix length '{p}' must be 0 to {max}")),
        },
    };
    Ok(InitiatorPortal { addr, prefix })
}
