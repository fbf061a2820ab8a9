//! A logical unit: its configuration, its storage backend, and its per-nexus state.

use crate::backend::{BlockBackend, Geometry};
use crate::commands::statistics::Statistics;
use crate::commands::{BufferState, MediumState, SanitizeState};
use crate::mutation::MutationError;
use crate::nexus::NexusId;
use crate::reservations::{PersistentReservations, Spc2Reservation};
use crate::task_set::TaskSet;
use crate::ua::{PendingAttentions, UnitAttention};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use core::cell::{Cell, Ref, RefCell};
use serde::{Deserialize, Serialize};

/// A LUN's global identity: the same number on both controllers (CTL's `ctl-lun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LunId(pub u32);

/// Where a LUN's data lives, as the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageSpec {
    /// A sparse in-memory disk of `size` bytes.
    Ramdisk { size: u64 },
    /// A regular file or block device; created (sparse) or extended to `size` if given.
    File { path: String, size: Option<u64> },
}

/// Everything that defines a LUN, mirrored verbatim to the HA peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LunConfig {
    pub id: LunId,
    pub name: String,
    pub storage: StorageSpec,
    /// Logical block size: 512 or 4096.
    pub block_size: u32,
    /// Physical block = logical block << `pblock_exp` (READ CAPACITY(16) LOGICAL BLOCKS PER
    /// PHYSICAL BLOCK EXPONENT).
    pub pblock_exp: u8,
    /// LOWEST ALIGNED LOGICAL BLOCK ADDRESS.
    pub pblock_offset: u16,
    /// Unit serial number (VPD 0x80).
    pub serial: String,
    /// Vendor-specific device id for the T10 vendor designator (VPD 0x83).
    pub device_id: String,
    /// NAA IEEE Registered Extended (type 6) designator, 16 bytes.
    pub naa: [u8; 16],
    /// EUI-64 designator.
    pub eui64: [u8; 8],
    pub vendor: String,
    pub product: String,
    pub revision: String,
    pub read_only: bool,
    pub removable: bool,
    /// Initial WCE of the Caching mode page.
    pub write_cache: bool,
    /// Initial RCD (read cache disable) is the negation of this.
    pub read_cache: bool,
    /// Thin provisioned: LBPME, UNMAP and WRITE SAME with UNMAP deallocate, deallocated
    /// blocks read as zeros (LBPRZ).
    pub thin: bool,
}

/// Changeable mode parameters of one LUN: the current values, and in the same shape the
/// default and saved values MODE SENSE reports. Fields that never change are not here; the
/// mode page encoders in `commands/mode_sense.rs` write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeParameters {
    /// Caching page: write cache enable.
    pub wce: bool,
    /// Caching page: read cache disable.
    pub rcd: bool,
    /// Control page: descriptor-format sense.
    pub d_sense: bool,
    /// Control page: software write protect.
    pub swp: bool,
    /// Control page: queue algorithm modifier (0 restricted, 1 unrestricted reordering).
    pub qam: u8,
    /// Control page: queue error management (0 the other tasks continue after a CHECK
    /// CONDITION, 1 every task of every nexus is aborted, 3 only the failing nexus's are).
    pub qerr: u8,
    /// Control page: task aborted status.
    pub tas: bool,
    /// Informational Exceptions Control page: disable exception control.
    pub dexcpt: bool,
    /// Informational Exceptions Control page: TEST (report a false exception).
    pub ie_test: bool,
    /// Informational Exceptions Control page: method of reporting informational exceptions.
    pub mrie: u8,
    /// Informational Exceptions Control page: INTERVAL TIMER, in 100 ms units.
    pub interval_timer: u32,
    /// Informational Exceptions Control page: REPORT COUNT.
    pub report_count: u32,
    /// Logical Block Provisioning page: single initiator threshold unit attention.
    pub situa: bool,
    /// Logical Block Provisioning page: the available-resources soft threshold is enabled.
    pub available_threshold_enabled: bool,
    /// Available-resources THRESHOLD COUNT, in threshold sets (VPD B2h THRESHOLD EXPONENT).
    pub available_threshold_count: u32,
    /// Logical Block Provisioning page: the used-resources soft threshold is enabled.
    pub used_threshold_enabled: bool,
    /// Used-resources THRESHOLD COUNT, in threshold sets.
    pub used_threshold_count: u32,
}

impl ModeParameters {
    /// The default values: what a LUN starts with when nothing was saved.
    pub fn from_config(c: &LunConfig) -> Self {
        ModeParameters {
            wce: c.write_cache,
            rcd: !c.read_cache,
            d_sense: false,
            swp: false,
            qam: 0,
            qerr: 0,
            tas: true,
            // No failure prediction exists to report: exceptions start disabled.
            dexcpt: true,
            ie_test: false,
            mrie: 0,
            interval_timer: 0,
            report_count: 0,
            situa: false,
            available_threshold_enabled: false,
            available_threshold_count: 0,
            used_threshold_enabled: false,
            used_threshold_count: 0,
        }
    }
}

/// State of a LUN that commands change.
#[derive(Debug, Default)]
pub struct LunState {
    pub attentions: BTreeMap<NexusId, PendingAttentions>,
    pub mode: Option<ModeParameters>,
}

pub struct Lun<B> {
    /// Fixed for the LUN's life, kept apart from `config` so that the data path reads them
    /// without borrowing it.
    id: LunId,
    thin: bool,
    /// `config.read_only`, read by every write's admission.
    read_only: Cell<bool>,
    /// Changed only by [`crate::mutation::Mutation::LunModified`].
    config: RefCell<LunConfig>,
    pub backend: B,
    /// Follows the backend when the LUN is resized.
    geometry: Cell<Geometry>,
    pub(crate) state: RefCell<LunState>,
    pub(crate) tasks: TaskSet,
    /// State of the command families that keep some (medium, buffer, sanitize, counters).
    pub(crate) medium: RefCell<MediumState>,
    pub(crate) buffer: RefCell<BufferState>,
    pub(crate) sanitize: RefCell<SanitizeState>,
    pub(crate) stats: Statistics,
    /// SPC-4 persistent reservations and the SPC-2 RESERVE/RELEASE reservation; changed only
    /// through [`crate::mutation::Mutation`].
    pub(crate) reservations: RefCell<PersistentReservations>,
    pub(crate) spc2: RefCell<Spc2Reservation>,
    /// A thin-provisioning soft threshold was reported and has not been uncrossed since.
    pub(crate) threshold_reached: Cell<bool>,
}

/// What a LUN modification changed, so the device can raise the unit attentions for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Modified {
    /// The number of logical blocks (CAPACITY DATA HAS CHANGED).
    pub capacity: bool,
    /// Vendor, product or revision (INQUIRY DATA HAS CHANGED).
    pub inquiry: bool,
    /// Write protection or the caching bits (MODE PARAMETERS CHANGED).
    pub mode: bool,
}

// What needs no backend: also for the handlers generic over any `B`.
impl<B> Lun<B> {
    pub fn id(&self) -> LunId {
        self.id
    }

    /// The LUN's configuration as last applied. Do not hold it across an `await` or a
    /// mutation: `LunModified` replaces it.
    pub fn config(&self) -> Ref<'_, LunConfig> {
        self.config.borrow()
    }

    /// Thin provisioned (fixed for the LUN's life).
    pub fn thin(&self) -> bool {
        self.thin
    }

    /// Block size and number of blocks, as the backend last reported them.
    pub fn geometry(&self) -> Geometry {
        self.geometry.get()
    }

    /// The mode parameters a LUN of this configuration starts with (MODE SENSE defaults).
    pub fn default_mode(&self) -> ModeParameters {
        ModeParameters::from_config(&self.config.borrow())
    }

    /// Number of logical blocks.
    pub fn blocks(&self) -> u64 {
        self.geometry.get().blocks
    }

    pub fn block_size(&self) -> u32 {
        self.geometry.get().block_size
    }
}

impl<B: BlockBackend> Lun<B> {
    pub fn new(config: LunConfig, backend: B) -> Self {
        let geometry = backend.geometry();
        let mode = ModeParameters::from_config(&config);
        backend.set_write_cache(mode.wce);
        Lun {
            id: config.id,
            thin: config.thin,
            read_only: Cell::new(config.read_only),
            config: RefCell::new(config),
            backend,
            geometry: Cell::new(geometry),
            state: RefCell::new(LunState {
                attentions: BTreeMap::new(),
                mode: Some(mode),
            }),
            tasks: TaskSet::default(),
            medium: RefCell::default(),
            buffer: RefCell::default(),
            sanitize: RefCell::default(),
            stats: Statistics::default(),
            reservations: RefCell::default(),
            spc2: RefCell::default(),
            threshold_reached: Cell::new(false),
        }
    }

    pub fn mode(&self) -> ModeParameters {
        self.state
            .borrow()
            .mode
            .unwrap_or_else(|| self.default_mode())
    }

    pub fn set_mode(&self, mode: ModeParameters) {
        self.backend.set_write_cache(mode.wce);
        self.state.borrow_mut().mode = Some(mode);
    }

    /// Whether sense for this LUN is reported in descriptor format.
    pub fn descriptor_sense(&self) -> bool {
        self.mode().d_sense
    }

    /// Write-protected by configuration or by the Control page's SWP.
    pub fn write_protected(&self) -> bool {
        self.read_only.get() || self.mode().swp
    }

    pub fn raise(&self, nexus: NexusId, ua: UnitAttention) {
        self.state
            .borrow_mut()
            .attentions
            .entry(nexus)
            .or_default()
            .raise(ua);
    }

    pub fn raise_all(&self, ua: UnitAttention, except: Option<NexusId>) {
        let mut st = self.state.borrow_mut();
        for (n, p) in st.attentions.iter_mut() {
            if Some(*n) != except {
                p.raise(ua);
            }
        }
    }

    /// Reports and clears the highest-priority unit attention pending for `nexus`.
    pub fn take_attention(&self, nexus: NexusId) -> Option<UnitAttention> {
        self.state
            .borrow_mut()
            .attentions
            .get_mut(&nexus)
            .and_then(|p| p.take())
    }

    /// The unit attention that would be reported next to `nexus`, left pending.
    pub fn peek_attention(&self, nexus: NexusId) -> Option<UnitAttention> {
        self.state
            .borrow()
            .attentions
            .get(&nexus)
            .and_then(|p| p.peek())
    }

    pub fn has_attention(&self, nexus: NexusId) -> bool {
        self.state
            .borrow()
            .attentions
            .get(&nexus)
            .is_some_and(|p| !p.is_empty())
    }

    pub(crate) fn nexus_added(&self, nexus: NexusId) {
        let mut st = self.state.borrow_mut();
        let p = st.attentions.entry(nexus).or_default();
        p.raise(UnitAttention::PowerOnReset);
    }

    pub(crate) fn nexus_removed(&self, nexus: NexusId) {
        self.state.borrow_mut().attentions.remove(&nexus);
    }

    /// Applies a new configuration (ctladm `modify`): only the size, the INQUIRY identity
    /// strings, write protection and the initial caching bits may differ. Either everything
    /// is applied or, on error, nothing changed.
    pub(crate) fn modify(&self, new: LunConfig) -> Result<Modified, MutationError> {
        let old = self.config.borrow().clone();
        if let Some(field) = immutable_difference(&old, &new) {
            return Err(MutationError::Immutable(field));
        }
        let resize = match (&old.storage, &new.storage) {
            (StorageSpec::Ramdisk { size: a }, StorageSpec::Ramdisk { size: b }) if a != b => {
                Some(*b)
            }
            // No size means "the whole file": that is what the medium already is, so there
            // is nothing to resize to.
            (StorageSpec::File { size: a, .. }, StorageSpec::File { size: Some(b), .. })
                if *a != Some(*b) =>
            {
                Some(*b)
            }
            _ => None,
        };
        let block_size = self.block_size();
        if let Some(bytes) = resize {
            if bytes < u64::from(block_size) {
                return Err(MutationError::Backend(format!(
                    "LUN {}: {bytes} bytes is smaller than one {block_size}-byte block",
                    old.id.0
                )));
            }
        }
        // The backend first, as it may refuse; read-only before the resize because undoing it
        // cannot fail the way a resize can.
        let protect = old.read_only != new.read_only;
        if protect {
            self.backend.set_read_only(new.read_only).map_err(|e| {
                MutationError::Backend(format!(
                    "LUN {}: the backend cannot be made {} ({:?}); remove and re-add the LUN",
                    old.id.0,
                    if new.read_only {
                        "read-only"
                    } else {
                        "writable"
                    },
                    e.kind
                ))
            })?;
        }
        let before = self.geometry.get();
        if let Some(bytes) = resize {
            if let Err(e) = self.backend.resize(bytes) {
                if protect {
                    // Back to what it was: it was in that state a moment ago.
                    let _ = self.backend.set_read_only(old.read_only);
                }
                return Err(MutationError::Backend(format!(
                    "LUN {}: cannot resize to {bytes} bytes ({:?})",
                    old.id.0, e.kind
                )));
            }
            self.geometry.set(self.backend.geometry());
        }

        let caching = old.write_cache != new.write_cache || old.read_cache != new.read_cache;
        if caching {
            // The configured values are the defaults; the current values follow them too, so
            // the change takes effect now, as the operator expects of `modify`.
            let mut mode = self.mode();
            if old.write_cache != new.write_cache {
                mode.wce = new.write_cache;
            }
            if old.read_cache != new.read_cache {
                mode.rcd = !new.read_cache;
            }
            self.set_mode(mode);
        }
        let modified = Modified {
            capacity: self.geometry.get().blocks != before.blocks,
            inquiry: old.vendor != new.vendor
                || old.product != new.product
                || old.revision != new.revision,
            // The mode parameter header's WP bit follows write protection.
            mode: protect || caching,
        };
        self.read_only.set(new.read_only);
        *self.config.borrow_mut() = new;
        Ok(modified)
    }
}

impl<B: BlockBackend> Lun<B> {
    /// Whether the LUN's drive is in the enclosure (not pulled).
    pub fn medium_present(&self) -> bool {
        self.medium.borrow().is_present()
    }

    /// The drive came back, at `path` when it moved: the backend reopens it, the configured
    /// path follows, and the medium is present again. Returns whether the number of blocks
    /// changed. Nothing changes on error.
    pub(crate) fn medium_inserted(&self, path: Option<&str>) -> Result<bool, MutationError> {
        let id = self.id.0;
        let moved = match (path, &self.config.borrow().storage) {
            (None, _) => None,
            (Some(new), StorageSpec::File { path: old, .. }) => {
                (new != old.as_str()).then(|| String::from(new))
            }
            (Some(_), StorageSpec::Ramdisk { .. }) => {
                return Err(MutationError::Backend(format!(
                    "LUN {id}: a ramdisk has no medium to find elsewhere"
                )))
            }
        };
        self.backend.attach_medium(path).map_err(|e| {
            MutationError::Backend(format!(
                "LUN {id}: its medium cannot be opened again ({:?})",
                e.kind
            ))
        })?;
        if let Some(new) = moved {
            if let StorageSpec::File { path, .. } = &mut self.config.borrow_mut().storage {
                *path = new;
            }
        }
        self.medium.borrow_mut().set_present(true);
        let before = self.geometry.get();
        self.geometry.set(self.backend.geometry());
        Ok(self.geometry.get().blocks != before.blocks)
    }
}

/// The first field `modify` may not change that differs between `old` and `new`.
fn immutable_difference(old: &LunConfig, new: &LunConfig) -> Option<&'static str> {
    // Destructured in full so that a field added to `LunConfig` has to be classified here.
    let LunConfig {
        id,
        name,
        storage,
        block_size,
        pblock_exp,
        pblock_offset,
        serial,
        device_id,
        naa,
        eui64,
        vendor: _,
        product: _,
        revision: _,
        read_only: _,
        removable,
        write_cache: _,
        read_cache: _,
        thin,
    } = old;
    // The size within `storage` may change, its kind and path may not.
    let storage = match (storage, &new.storage) {
        (StorageSpec::Ramdisk { .. }, StorageSpec::Ramdisk { .. }) => None,
        (StorageSpec::File { path: a, .. }, StorageSpec::File { path: b, .. }) => {
            (a != b).then_some("path")
        }
        _ => Some("storage"),
    };
    let fixed = [
        (*id != new.id, "id"),
        (*name != new.name, "name"),
        (*block_size != new.block_size, "block_size"),
        (*pblock_exp != new.pblock_exp, "pblock_exp"),
        (*pblock_offset != new.pblock_offset, "pblock_offset"),
        (*serial != new.serial, "serial"),
        (*device_id != new.device_id, "device_id"),
        (*naa != new.naa, "naa"),
        (*eui64 != new.eui64, "eui64"),
        (*removable != new.removable, "removable"),
        (*thin != new.thin, "thin"),
    ];
    storage.or_else(|| {
        fixed
            .into_iter()
            .find_map(|(differs, field)| differs.then_some(field))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::*;
    use crate::mutation::Mutation;
    use crate::status::ScsiStatus;
    use alloc::string::ToString;

    const TUR: [u8; 6] = [0x00, 0, 0, 0, 0, 0];
    const READ_CAPACITY10: [u8; 10] = [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    /// One edit of a LUN's configuration.
    type Change = fn(&mut LunConfig);

    fn modify(f: &Fixture, change: impl FnOnce(&mut LunConfig)) -> Result<(), MutationError> {
        let mut config = f.device.lun(LunId(0)).expect("LUN 0").config().clone();
        change(&mut config);
        f.device.apply(Mutation::LunModified {
            id: LunId(0),
            config,
        })
    }

    fn lun0(f: &Fixture) -> alloc::rc::Rc<Lun<TestBackend>> {
        f.device.lun(LunId(0)).expect("LUN 0")
    }

    fn last_lba(f: &Fixture) -> u32 {
        crate::cdb::be32(&good(f.run(0, &READ_CAPACITY10)), 0)
    }

    #[track_caller]
    fn attention(f: &Fixture, nexus: NexusId, want: (u8, u8, u8)) {
        let r = f.run_on(nexus, 0, &TUR);
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), want);
    }

    #[test]
    fn a_new_size_resizes_the_backend_and_reports_capacity_data_changed_to_every_nexus() {
        let f = Fixture::new();
        let other = f.login();
        modify(&f, |c| {
            c.storage = StorageSpec::Ramdisk { size: 4096 * 512 }
        })
        .unwrap();
        assert_eq!(lun0(&f).blocks(), 4096);
        assert_eq!(lun0(&f).backend.geometry().blocks, 4096);
        for n in [f.nexus, other] {
            attention(&f, n, (0x06, 0x2A, 0x09));
            good(f.run_on(n, 0, &TUR));
        }
        assert_eq!(last_lba(&f), 4095);
        good(f.run(0, &[0x28, 0, 0, 0, 0x0F, 0xFF, 0, 0, 1, 0]));

        modify(&f, |c| c.storage = StorageSpec::Ramdisk { size: 100 * 512 }).unwrap();
        attention(&f, f.nexus, (0x06, 0x2A, 0x09));
        assert_eq!(last_lba(&f), 99);
        let r = f.run(0, &[0x28, 0, 0, 0, 0, 100, 0, 0, 1, 0]);
        assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "past the new end");
        assert_eq!(
            lun0(&f).config().storage,
            StorageSpec::Ramdisk { size: 100 * 512 }
        );

        // Bytes that do not make another block change the configuration, not the capacity.
        modify(&f, |c| {
            c.storage = StorageSpec::Ramdisk {
                size: 100 * 512 + 7,
            }
        })
        .unwrap();
        good(f.run(0, &TUR));
        assert_eq!(last_lba(&f), 99);
    }

    #[test]
    fn a_field_that_cannot_change_is_refused_and_nothing_changes() {
        let f = Fixture::new();
        let before = lun0(&f).config().clone();
        let cases: [(&str, Change); 8] = [
            ("block_size", |c| c.block_size = 4096),
            ("serial", |c| c.serial = "OTHER".to_string()),
            ("thin", |c| c.thin = true),
            ("name", |c| c.name = "renamed".to_string()),
            ("pblock_exp", |c| c.pblock_exp = 0),
            ("naa", |c| c.naa[0] = 0x50),
            ("removable", |c| c.removable = true),
            ("storage", |c| {
                c.storage = StorageSpec::File {
                    path: "/tmp/lun0".to_string(),
                    size: Some(1 << 20),
                }
            }),
        ];
        for (field, change) in cases {
            let r = modify(&f, |c| {
                // Together with changes that are allowed: none of them may happen either.
                c.storage = StorageSpec::Ramdisk { size: 8192 * 512 };
                c.vendor = "OTHER".to_string();
                c.read_only = true;
                change(c);
            });
            assert_eq!(r, Err(MutationError::Immutable(field)));
            assert!(r.unwrap_err().to_string().contains(field));
        }
        let mut c = before.clone();
        c.id = LunId(5);
        assert_eq!(
            f.device.apply(Mutation::LunModified {
                id: LunId(0),
                config: c
            }),
            Err(MutationError::Immutable("id"))
        );
        assert_eq!(*lun0(&f).config(), before);
        assert_eq!(lun0(&f).blocks(), 2048);
        assert!(!lun0(&f).write_protected());
        assert!(!lun0(&f).backend.is_read_only());
        good(f.run(0, &TUR));
    }

    #[test]
    fn a_refused_resize_changes_nothing() {
        let f = Fixture::new();
        let before = lun0(&f).config().clone();
        // Less than one block: refused before the backend is asked.
        let r = modify(&f, |c| c.storage = StorageSpec::Ramdisk { size: 511 });
        assert!(matches!(r, Err(MutationError::Backend(_))), "{r:?}");
        // The backend refuses: write protection, applied first, is undone.
        let r = modify(&f, |c| {
            c.storage = StorageSpec::Ramdisk {
                size: MAX_TEST_BYTES + 512,
            };
            c.read_only = true;
        });
        assert!(matches!(r, Err(MutationError::Backend(_))), "{r:?}");
        assert_eq!(*lun0(&f).config(), before);
        assert!(!lun0(&f).write_protected());
        assert!(!lun0(&f).backend.is_read_only());
        assert_eq!(lun0(&f).blocks(), 2048);
        good(f.run(0, &TUR));
        assert_eq!(
            f.device.apply(Mutation::LunModified {
                id: LunId(3),
                config: lun_config(3, 8)
            }),
            Err(MutationError::NoSuchLun(LunId(3)))
        );
    }

    #[test]
    fn new_identity_strings_are_new_inquiry_data() {
        let f = Fixture::new();
        modify(&f, |c| {
            c.vendor = "ACME".to_string();
            c.product = "BIGDISK".to_string();
            c.revision = "0002".to_string();
        })
        .unwrap();
        attention(&f, f.nexus, (0x06, 0x3F, 0x03));
        good(f.run(0, &TUR));
        let d = good(f.run(0, &[0x12, 0, 0, 0, 36, 0]));
        assert_eq!(&d[8..16], b"ACME    ");
        assert_eq!(&d[16..23], b"BIGDISK");
        assert_eq!(&d[32..36], b"0002");
        // The same configuration again changes nothing and tells nobody.
        modify(&f, |_| {}).unwrap();
        good(f.run(0, &TUR));
    }

    #[test]
    fn read_only_switches_write_protection_both_ways() {
        let f = Fixture::new();
        let write10 = [0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        let mode_sense = [0x1A, 0x08, 0x08, 0, 255, 0];
        modify(&f, |c| c.read_only = true).unwrap();
        assert!(lun0(&f).write_protected());
        assert!(lun0(&f).backend.is_read_only());
        attention(&f, f.nexus, (0x06, 0x2A, 0x01));
        let r = f.run_with_data(f.nexus, 0, &write10, &[0; 512]);
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
        assert_eq!(good(f.run(0, &mode_sense))[2] & 0x80, 0x80, "WP");

        modify(&f, |c| c.read_only = false).unwrap();
        attention(&f, f.nexus, (0x06, 0x2A, 0x01));
        assert!(!lun0(&f).backend.is_read_only());
        good(f.run_with_data(f.nexus, 0, &write10, &[0; 512]));
        assert_eq!(good(f.run(0, &mode_sense))[2] & 0x80, 0);
    }

    #[test]
    fn caching_changes_the_current_and_default_values() {
        let f = Fixture::new();
        let other = f.login();
        modify(&f, |c| {
            c.write_cache = false;
            c.read_cache = false;
        })
        .unwrap();
        let l = lun0(&f);
        assert!(!l.mode().wce && l.mode().rcd);
        assert!(!l.default_mode().wce && l.default_mode().rcd);
        for n in [f.nexus, other] {
            attention(&f, n, (0x06, 0x2A, 0x01));
        }
        // Only what changed follows: a current RCD set by MODE SELECT stays.
        l.set_mode(ModeParameters {
            rcd: false,
            ..l.mode()
        });
        modify(&f, |c| c.write_cache = true).unwrap();
        assert!(l.mode().wce && !l.mode().rcd);
    }
}
