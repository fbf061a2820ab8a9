//! The test target for the hostile-input suite: a TargetDevice with one 16 MiB ramdisk LUN
//! behind one port, a PortalGroup on 127.0.0.1:0 served on a current-thread runtime with a
//! LocalSet, and a panic detector so a panic in a connection task fails the test.

pub mod initiator;

use backend::storage::{Storage, StorageSpec as BackendSpec};
use iscsi::login::{Auth, TargetAccess};
use iscsi::portal::{self, PortalGroup, TargetDef, Timers};
use scsi::alua::{relative_port_id, TPG_SINGLE};
use scsi::mutation::Mutation;
use scsi::{BackendOpener, LunConfig, LunId, PortConfig, StorageSpec, TargetDevice};
use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Once;
use std::time::Duration;
use tokio::net::TcpListener;

/// The one target of the fixture.
pub const TARGET: &str = "iqn.2024-01.org.dyad:bad-input";
/// Size of its LUN 0.
pub const LUN_BYTES: u64 = 16 << 20;
/// A test body that runs longer than this is hung.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Opens the ramdisks the fixture's LUNs are made of.
struct RamdiskOpener;

impl BackendOpener<Storage> for RamdiskOpener {
    fn open(&self, config: &LunConfig) -> Result<Storage, String> {
        match &config.storage {
            StorageSpec::Ramdisk { size } => backend::storage::open(
                &BackendSpec::Ramdisk { size: *size },
                config.block_size,
                config.read_only,
            )
            .map_err(|e| e.to_string()),
            StorageSpec::File { .. } => Err("the test fixture only makes ramdisks".into()),
        }
    }
}

fn lun_config() -> LunConfig {
    LunConfig {
        id: LunId(0),
        name: "lun0".into(),
        storage: StorageSpec::Ramdisk { size: LUN_BYTES },
        block_size: 512,
        pblock_exp: 0,
        pblock_offset: 0,
        serial: "BADINPUT0".into(),
        device_id: "bad-input-0000".into(),
        naa: [0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        eui64: [1, 2, 3, 4, 5, 6, 7, 8],
        vendor: "DYAD".into(),
        product: "bad input".into(),
        revision: "0001".into(),
        read_only: false,
        removable: false,
        write_cache: true,
        read_cache: true,
        thin: false,
    }
}

thread_local! {
    /// Panics on this thread since the fixture started; connection tasks run on the test's
    /// thread (current-thread runtime), so their panics land here.
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            default(info);
        }));
    });
}

/// The running target, as a test sees it.
pub struct Target {
    pub addr: SocketAddr,
    pub portal: Rc<PortalGroup<Storage>>,
    pub device: Rc<TargetDevice<Storage>>,
}

impl Target {
    /// Waits up to `within` for the portal to hold exactly `n` connections.
    pub async fn wait_connections(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.portal.connections() != n {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Tasks in LUN 0's task set.
    pub fn tasks_in_set(&self) -> usize {
        self.device.tasks_in_set(LunId(0))
    }
}

/// Timers long enough that no keep-alive ping interferes with a test that does not want one.
pub fn quiet_timers() -> Timers {
    Timers {
        nop_interval: Duration::from_secs(60),
        nop_timeout: Duration::from_secs(60),
        login_timeout: Duration::from_secs(2),
    }
}

/// Starts the target (adjusted by `configure`), runs `body` against it, and fails the test if
/// the body hangs or anything on the runtime panicked.
pub fn run<F, Fut>(configure: impl FnOnce(&mut PortalGroup<Storage>), body: F)
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = ()>,
{
    count_panics();
    PANICS.with(|p| p.set(0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let device = Rc::new(TargetDevice::new(1, Box::new(RamdiskOpener)));
        device
            .apply(Mutation::LunAdded(lun_config()))
            .expect("add LUN 0");
        let port = relative_port_id(1, 0);
        device
            .apply(Mutation::PortAdded(PortConfig {
                relative_id: port,
                tpg: TPG_SINGLE,
                target_name: TARGET.into(),
                port_name: format!("{TARGET},t,0x0001"),
                lun_map: None,
            }))
            .expect("add port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let access = TargetAccess {
            name: TARGET.into(),
            alias: None,
            auth: Auth::None,
            allowed_initiators: Vec::new(),
            allowed_portals: Vec::new(),
        };
        let mut pg = PortalGroup::new(
            1,
            vec![addr],
            vec![TargetDef { access, port }],
            device.clone(),
        );
        pg.timers = quiet_timers();
        configure(&mut pg);
        let portal = Rc::new(pg);
        tokio::task::spawn_local(portal::serve(listener, portal.clone()));
        let target = Target {
            addr,
            portal,
            device,
        };
        tokio::time::timeout(TEST_TIMEOUT, body(target))
            .await
            .expect("the test hung");
        // Let connection tasks notice what the test did last (closes, resets).
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
    let panics = PANICS.with(Cell::get);
    assert_eq!(panics, 0, "the target panicked {panics} time(s)");
}

/// `n` distinct ISIDs (random-qualifier format, RFC 7143 §11.12.5).
pub fn isid(n: u16) -> [u8; 6] {
    let [hi, lo] = n.to_be_bytes();
    [0x80, 0x12, 0x34, 0x00, hi, lo]
}
