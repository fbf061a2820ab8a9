//! Loads the kernel modules the image carries, each after the modules it depends on (the
//! order comes from their `.modinfo`, see [`super::modinfo`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::modinfo::{self, LoadOrder};
use super::sys;

/// What [`load_all`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The modules in the order they were loaded.
    pub order: Vec<String>,
    /// Modules that were there already (built in, or loaded before).
    pub already: Vec<String>,
    /// Dependencies not in the folder: built into the kernel (the host checked).
    pub builtin: Vec<String>,
    pub elapsed: Duration,
}

/// Module files by module name, each with its dependencies.
pub type ModuleFiles = BTreeMap<String, (PathBuf, Vec<String>)>;

/// The `.ko` files in `dir` by module name, with their dependencies.
pub fn scan(dir: &Path) -> Result<ModuleFiles, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut modules = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let file_name = entry.file_name();
        let Some(name) = modinfo::name_of_file(&file_name.to_string_lossy()) else {
            continue;
        };
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let info = modinfo::modinfo(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        modules.insert(info.name.unwrap_or(name), (path, info.depends));
    }
    Ok(modules)
}

/// The order to load every module of `dir` in.
pub fn plan(dir: &Path) -> Result<(LoadOrder, ModuleFiles), String> {
    let modules = scan(dir)?;
    let order = modinfo::load_order(modules.keys(), |name| {
        Ok(modules.get(name).map(|(_, deps)| deps.clone()))
    })?;
    Ok((order, modules))
}

/// Loads every module in `dir` (finit_module), dependencies first. A module the kernel has
/// already (EEXIST) counts as loaded.
pub fn load_all(dir: &Path) -> Result<Loaded, String> {
    let started = Instant::now();
    let (order, modules) = plan(dir)?;
    let mut already = Vec::new();
    for name in &order.order {
        let Some((path, _)) = modules.get(name) else {
            continue;
        };
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        match sys::finit_module(file.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => already.push(name.clone()),
            Err(e) => return Err(format!("loading module {name} ({}): {e}", path.display())),
        }
    }
    Ok(Loaded {
        order: order.order,
        already,
        builtin: order.absent.into_iter().collect(),
        elapsed: started.elapsed(),
    })
}
