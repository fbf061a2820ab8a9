//! ctl.conf's auth-groups as the iSCSI layer's login policy: authentication type, CHAP
//! credentials, initiator-name and initiator-portal lists.

use config::{AuthSettings, AuthType, Config, TargetAuth, DEFAULT_AUTH_GROUP};
use iscsi::access::InitiatorNetwork;
use iscsi::login::{Auth, ChapCredential};

/// Authentication and the two allow-lists of one auth-group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRules {
    pub auth: Auth,
    pub initiator_names: Vec<String>,
    pub initiator_portals: Vec<InitiatorNetwork>,
}

impl AccessRules {
    pub fn from_settings(settings: &AuthSettings) -> Self {
        let credentials = || {
            let mut creds: Vec<ChapCredential> = settings
                .chap
                .iter()
                .map(|c| ChapCredential {
                    user: c.user.clone(),
                    secret: c.secret.clone(),
                    mutual: None,
                })
                .collect();
            creds.extend(settings.chap_mutual.iter().map(|c| ChapCredential {
                user: c.user.clone(),
                secret: c.secret.clone(),
                mutual: Some((c.mutual_user.clone(), c.mutual_secret.clone())),
            }));
            creds
        };
        let auth = match settings.effective_type() {
            AuthType::None => Auth::None,
            AuthType::Deny => Auth::Deny,
            AuthType::Chap | AuthType::ChapMutual => Auth::Chap(credentials()),
        };
        AccessRules {
            auth,
            initiator_names: settings.initiator_names.clone(),
            initiator_portals: settings
                .initiator_portals
                .iter()
                .map(|p| InitiatorNetwork {
                    addr: p.addr,
                    prefix: p.prefix.unwrap_or(if p.addr.is_ipv4() { 32 } else { 128 }),
                })
                .collect(),
        }
    }

    /// The rules of auth-group `name` (validation made sure it exists; a missing one denies).
    pub fn of_group(config: &Config, name: &str) -> Self {
        match config.auth_group(name) {
            Some(group) => Self::from_settings(&group.auth),
            None => AccessRules {
                auth: Auth::Deny,
                initiator_names: Vec::new(),
                initiator_portals: Vec::new(),
            },
        }
    }

    /// A target's rules on one of its portal groups: `portal-group NAME AUTH-GROUP` wins over
    /// the target's own.
    pub fn of_target(config: &Config, auth: &TargetAuth, port_group: Option<&str>) -> Self {
        if let Some(group) = port_group {
            return Self::of_group(config, group);
        }
        match auth {
            TargetAuth::Default => Self::of_group(config, DEFAULT_AUTH_GROUP),
            TargetAuth::Group { name, .. } => Self::of_group(config, name),
            TargetAuth::Inline(settings) => Self::from_settings(settings),
        }
    }
}
