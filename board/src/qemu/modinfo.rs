//! Kernel module metadata without kmod: the `.modinfo` section of a `.ko` file (an ELF
//! relocatable object) holds `key=value` strings, among them `name=` and `depends=` (the
//! modules whose symbols it uses). Debian's kernel package ships no `modules.dep` (depmod
//! runs at install time), so both the host (choosing what goes into the image) and the
//! machine (choosing the order to load it in) work the order out from these.

use std::collections::{BTreeMap, BTreeSet};

/// A module's name as the kernel knows it: dashes in file and dependency names are
/// underscores.
pub fn normalise(name: &str) -> String {
    name.trim().replace('-', "_")
}

/// The module name of a `.ko` file name (`net-failover.ko` → `net_failover`).
pub fn name_of_file(file_name: &str) -> Option<String> {
    file_name.strip_suffix(".ko").map(normalise)
}

/// What a module says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// `name=`, normalised (older modules may lack it).
    pub name: Option<String>,
    /// `depends=`, normalised; empty when it depends on nothing.
    pub depends: Vec<String>,
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// The contents of the section called `wanted` in a little-endian ELF64 file.
pub fn elf_section<'a>(elf: &'a [u8], wanted: &str) -> Result<&'a [u8], String> {
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a little-endian 64-bit ELF file".into());
    }
    let bad = || "malformed ELF section table".to_string();
    let shoff = usize::try_from(u64_at(elf, 0x28).ok_or_else(bad)?).map_err(|_| bad())?;
    let shentsize = usize::from(u16_at(elf, 0x3a).ok_or_else(bad)?);
    let shnum = usize::from(u16_at(elf, 0x3c).ok_or_else(bad)?);
    let shstrndx = usize::from(u16_at(elf, 0x3e).ok_or_else(bad)?);
    if shentsize < 64 || shstrndx >= shnum {
        return Err(bad());
    }
    let section = |index: usize| -> Option<(u32, &'a [u8])> {
        let header = shoff.checked_add(index.checked_mul(shentsize)?)?;
        let name = u32_at(elf, header)?;
        let offset = usize::try_from(u64_at(elf, header + 24)?).ok()?;
        let size = usize::try_from(u64_at(elf, header + 32)?).ok()?;
        Some((name, elf.get(offset..offset.checked_add(size)?)?))
    };
    let (_, names) = section(shstrndx).ok_or_else(bad)?;
    for index in 0..shnum {
        let (name, data) = section(index).ok_or_else(bad)?;
        let name = names.get(name as usize..).ok_or_else(bad)?;
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        if name == wanted.as_bytes() {
            return Ok(data);
        }
    }
    Err(format!("no {wanted} section"))
}

/// Reads the `.modinfo` section of a module file's bytes.
pub fn modinfo(ko: &[u8]) -> Result<ModInfo, String> {
    let section = elf_section(ko, ".modinfo")?;
    let mut info = ModInfo::default();
    for entry in section.split(|&b| b == 0) {
        let Ok(entry) = std::str::from_utf8(entry) else {
            continue;
        };
        if let Some(name) = entry.strip_prefix("name=") {
            info.name = Some(normalise(name));
        } else if let Some(depends) = entry.strip_prefix("depends=") {
            info.depends = depends
                .split(',')
                .filter(|d| !d.trim().is_empty())
                .map(normalise)
                .collect();
        }
    }
    Ok(info)
}

/// A load order: every module after the modules it depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOrder {
    /// The modules to load, in order.
    pub order: Vec<String>,
    /// Dependencies that are not modules here: built into the kernel, or missing (the
    /// caller knows which).
    pub absent: BTreeSet<String>,
}

/// The modules `wanted` and everything they depend on, each after its dependencies.
/// `depends_of(name)` gives a module's dependencies, `Ok(None)` when there is no such
/// module (it is then reported in [`LoadOrder::absent`]); a dependency cycle is an error.
pub fn load_order<I, S>(
    wanted: I,
    mut depends_of: impl FnMut(&str) -> Result<Option<Vec<String>>, String>,
) -> Result<LoadOrder, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<String, Mark> = BTreeMap::new();
    let mut result = LoadOrder::default();
    // An explicit stack (module, its dependencies, how many are handled) instead of
    // recursion; the chains are short, but the input is a file's word.
    for root in wanted {
        let root = normalise(root.as_ref());
        if marks.contains_key(&root) || result.absent.contains(&root) {
            continue;
        }
        let Some(deps) = depends_of(&root)? else {
            result.absent.insert(root);
            continue;
        };
        marks.insert(root.clone(), Mark::Visiting);
        let mut stack: Vec<(String, Vec<String>, usize)> = vec![(root, deps, 0)];
        while let Some((name, deps, next)) = stack.last_mut() {
            if let Some(dep) = deps.get(*next).cloned() {
                *next += 1;
                match marks.get(&dep) {
                    Some(Mark::Done) => continue,
                    Some(Mark::Visiting) => {
                        return Err(format!("modules {name} and {dep} depend on each other"))
                    }
                    None if result.absent.contains(&dep) => continue,
                    None => {}
                }
                match depends_of(&dep)? {
                    Some(dep_deps) => {
                        marks.insert(dep.clone(), Mark::Visiting);
                        stack.push((dep, dep_deps, 0));
                    }
                    None => {
                        result.absent.insert(dep);
                    }
                }
            } else {
                let name = name.clone();
                stack.pop();
                marks.insert(name.clone(), Mark::Done);
                result.order.push(name);
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with a null section, `.shstrtab` and `.modinfo`.
    pub(crate) fn fake_ko(modinfo: &[u8]) -> Vec<u8> {
        let names = b"\0.shstrtab\0.modinfo\0";
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        let names_at = elf.len();
        elf.extend_from_slice(names);
        let info_at = elf.len();
        elf.extend_from_slice(modinfo);
        while !elf.len().is_multiple_of(8) {
            elf.push(0);
        }
        let shoff = elf.len();
        let mut header = |name: u32, offset: usize, size: usize| {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[24..32].copy_from_slice(&(offset as u64).to_le_bytes());
            h[32..40].copy_from_slice(&(size as u64).to_le_bytes());
            elf.extend_from_slice(&h);
        };
        header(0, 0, 0);
        header(1, names_at, names.len());
        header(11, info_at, modinfo.len());
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        elf
    }

    #[test]
    fn reads_name_and_depends() {
        let ko = fake_ko(b"license=GPL\0depends=net_failover,virtio-ring\0\0name=virtio_net\0vermagic=6.1.0 SMP\0");
        assert_eq!(
            modinfo(&ko).unwrap(),
            ModInfo {
                name: Some("virtio_net".into()),
                depends: vec!["net_failover".into(), "virtio_ring".into()],
            }
        );
        let ko = fake_ko(b"depends=\0name=failover\0");
        assert_eq!(modinfo(&ko).unwrap().depends, Vec::<String>::new());
    }

    #[test]
    fn refuses_what_is_not_a_module() {
        assert!(modinfo(b"#!/bin/sh\n").is_err());
        let mut ko = fake_ko(b"name=x\0");
        ko.truncate(100);
        assert!(modinfo(&ko).is_err());
    }

    fn table(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn dependencies_come_first_and_builtins_are_absent() {
        let modules = table(&[
            ("virtio_net", &["net_failover", "virtio_ring", "virtio"]),
            ("net_failover", &["failover"]),
            ("failover", &[]),
            ("virtio", &["virtio_ring"]),
            ("virtio_ring", &[]),
            ("nvme", &["nvme_core"]),
            ("nvme_core", &["t10_pi"]),
            ("t10_pi", &["crc_t10dif", "crc64_rocksoft"]),
            ("crc_t10dif", &["crct10dif_common"]),
            ("crct10dif_common", &[]),
        ]);
        let order = load_order(["virtio-net", "nvme", "af_packet"], |n| {
            Ok(modules.get(n).cloned())
        })
        .unwrap();
        let at = |n: &str| order.order.iter().position(|m| m == n).unwrap();
        for (module, deps) in &modules {
            for dep in deps.iter().filter(|d| modules.contains_key(*d)) {
                assert!(
                    at(dep) < at(module),
                    "{dep} before {module}: {:?}",
                    order.order
                );
            }
        }
        assert_eq!(order.order.len(), modules.len());
        assert_eq!(
            order.absent.into_iter().collect::<Vec<_>>(),
            ["af_packet", "crc64_rocksoft"]
        );
    }

    #[test]
    fn a_cycle_is_an_error() {
        let modules = table(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        let e = load_order(["a"], |n| Ok(modules.get(n).cloned())).unwrap_err();
        assert!(e.contains("depend on each other"), "{e}");
    }
}
