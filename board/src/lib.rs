//! Board support for dyad controllers: the `sim` board, where the enclosure is a folder on the
//! host, and (later) the `qemu` board.

pub mod backplane;
pub mod host_fs;
pub mod qemu;
pub mod sim;
