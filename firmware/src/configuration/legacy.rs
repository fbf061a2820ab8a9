//! The command-line configuration (`--lun`, `--target`, `--listen`, `--chap`, ...) as the
//! ctl.conf it stands for, so one path serves both: one portal group, one target without a
//! LUN map (every LUN at its global id), LUN `lunN` at id N.

use super::lun_config::pblockoffset_for;
use crate::options::{parse_credentials, LunSource, LunSpec, Options};
use config::{
    AuthSettings, AuthType, Backend, Chap, ChapMutual, Config, Listen, Lun, LunPath, Place,
    PortalGroup, ProvisioningType, Target, TargetAuth, TargetPortalGroup, NO_AUTHENTICATION,
};

const PORTAL_GROUP: &str = "pg0";

pub fn config_from_options(options: &Options) -> Result<Config, String> {
    let mut config = Config::default();
    let mut pg = PortalGroup::new(PORTAL_GROUP, Place::default());
    pg.listen.push(Listen {
        addr: options.listen,
        place: Place::default(),
    });
    pg.discovery_auth_group = Some(NO_AUTHENTICATION.into());
    pg.tag = Some(1);
    config.portal_groups.push(pg);
    for (i, text) in options.luns.iter().enumerate() {
        let spec = LunSpec::parse(text)?;
        config
            .luns
            .push(lun_from_spec(&format!("lun{i}"), i as u32, &spec));
    }
    let mut target = Target::new(&options.target, Place::default());
    target.alias = options.alias.clone();
    target.portal_groups.push(TargetPortalGroup {
        name: PORTAL_GROUP.into(),
        auth_group: None,
        place: Place::default(),
    });
    target.auth = target_auth(options)?;
    config.targets.push(target);
    config.validate("command line").map_err(|e| e.to_string())?;
    Ok(config)
}

fn target_auth(options: &Options) -> Result<TargetAuth, String> {
    let mut settings = AuthSettings {
        initiator_names: options.allow_initiators.clone(),
        ..AuthSettings::default()
    };
    match (&options.chap, &options.chap_mutual) {
        (None, None) => {
            if settings.initiator_names.is_empty() {
                return Ok(TargetAuth::Group {
                    name: NO_AUTHENTICATION.into(),
                    place: Place::default(),
                });
            }
            settings.auth_type = Some(AuthType::None);
        }
        (None, Some(_)) => return Err("--chap-mutual needs --chap".into()),
        (Some(c), None) => {
            let (user, secret) = parse_credentials(c)?;
            settings.chap.push(Chap {
                user,
                secret,
                place: Place::default(),
            });
        }
        (Some(c), Some(m)) => {
            let (user, secret) = parse_credentials(c)?;
            let (mutual_user, mutual_secret) = parse_credentials(m)?;
            settings.chap_mutual.push(ChapMutual {
                user,
                secret,
                mutual_user,
                mutual_secret,
                place: Place::default(),
            });
        }
    }
    Ok(TargetAuth::Inline(settings))
}

fn lun_from_spec(name: &str, id: u32, spec: &LunSpec) -> Lun {
    let mut lun = Lun::new(name, Place::default());
    lun.ctl_lun = Some(id);
    lun.size = spec.size;
    lun.blocksize = Some(spec.block_size);
    match &spec.source {
        LunSource::Slot(n) => {
            lun.backend = Some(Backend::Block);
            lun.path = Some(LunPath::Slot(*n));
            lun.size = Some(spec.size.unwrap_or(1 << 30));
        }
        LunSource::File(p) => {
            lun.backend = Some(Backend::Block);
            lun.path = Some(LunPath::File(p.to_string_lossy().into_owned()));
        }
        LunSource::Ramdisk => lun.backend = Some(Backend::Ramdisk),
    }
    lun.serial = spec.serial.clone();
    lun.device_id = spec.device_id.clone();
    let o = &mut lun.options;
    o.vendor = spec.vendor.clone();
    o.product = spec.product.clone();
    o.revision = spec.revision.clone();
    o.naa = spec.naa;
    o.eui = spec.eui64;
    if let Some(pbs) = spec.physical_block_size {
        o.pblocksize = Some(pbs);
        if spec.physical_block_offset != 0 {
            o.pblockoffset = Some(pblockoffset_for(
                spec.block_size,
                pbs,
                spec.physical_block_offset,
            ));
        }
    }
    o.readonly = spec.read_only.then_some(true);
    o.removable = spec.removable.then_some(true);
    o.provisioning_type = spec.thin.then_some(ProvisioningType::Thin);
    o.writecache = (!spec.write_cache).then_some(false);
    o.readcache = (!spec.read_cache).then_some(false);
    lun
}
