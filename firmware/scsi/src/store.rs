//! Where a LUN's saved parameters live (saved mode pages now, persistent reservations later):
//! the firmware provides a store that writes atomically; tests use memory.

use crate::lun::LunId;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

pub trait ParameterStore {
    /// The bytes last saved under `key` for `lun`.
    fn load(&self, lun: LunId, key: &str) -> Option<Vec<u8>>;
    /// Saves `data` under `key` so that a crash leaves either the old or the new value.
    fn save(&self, lun: LunId, key: &str, data: &[u8]) -> Result<(), String>;
}

/// A store that forgets everything at restart.
#[derive(Default)]
pub struct MemoryStore {
    values: RefCell<BTreeMap<(LunId, String), Vec<u8>>>,
}

impl ParameterStore for MemoryStore {
    fn load(&self, lun: LunId, key: &str) -> Option<Vec<u8>> {
        self.values.borrow().get(&(lun, String::from(key))).cloned()
    }

    fn save(&self, lun: LunId, key: &str, data: &[u8]) -> Result<(), String> {
        self.values
            .borrow_mut()
            .insert((lun, String::from(key)), data.to_vec());
        Ok(())
    }
}
