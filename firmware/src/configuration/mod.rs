//! The controller's configuration layer: ctl.conf (or the command line) planned into LUNs,
//! target ports and portal groups, applied live, and kept in the configuration store.

pub mod access;
pub mod legacy;
pub mod live;
pub mod lun_config;
pub mod plan;
pub mod store;
