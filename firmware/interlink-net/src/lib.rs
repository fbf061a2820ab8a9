//! The interlink's transport: a TCP/IP stack (smoltcp) over a board's frame NIC, polled
//! from the tokio runtime, giving the interlink protocol its byte streams.
//!
//! - [`device`]: the smoltcp device over any [`hal::nic::FrameNic`] (the sim board's UDP
//!   NIC, the qemu board's AF_PACKET NIC), errors counted, never a panic;
//! - [`stack`]: the interface, its sockets and the task that polls them, waiting on the
//!   NIC's readiness, smoltcp's timers and the application's wake-ups;
//! - [`bench`]: throughput and round-trip measurements over two connected streams.
//!
//! Addresses are static and link-local, one per controller ([`link_ip`], [`link_mac`]):
//! controller 1 is 169.254.77.1/16, controller 2 is 169.254.77.2/16. By convention
//! controller 1 listens on [`INTERLINK_PORT`] and controller 2 connects
//! ([`Stack::link`]).

pub mod bench;
pub mod device;
pub mod stack;

pub use device::{DeviceCounters, NicDevice};
pub use smoltcp::wire::Ipv4Address;
pub use stack::{
    LinkError, LinkReader, LinkStream, LinkWriter, Listener, Stack, StackConfig, StackError,
    MTU_JUMBO, MTU_STANDARD,
};

/// The interlink's TCP port.
pub const INTERLINK_PORT: u16 = 7700;

/// The prefix length of the interlink's addresses.
pub const LINK_PREFIX: u8 = 16;

/// Controller `controller`'s interlink address: 169.254.77.`controller`.
pub fn link_ip(controller: u8) -> Ipv4Address {
    Ipv4Address::new(169, 254, 77, controller)
}

/// The MAC a sim board gives controller `controller`'s interlink NIC: 02:da:d0:00:00:0N
/// (locally administered). A real NIC keeps its own.
pub fn link_mac(controller: u8) -> [u8; 6] {
    [0x02, 0xda, 0xd0, 0x00, 0x00, controller]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_per_controller() {
        assert_eq!(link_ip(1).to_string(), "169.254.77.1");
        assert_eq!(link_ip(2).to_string(), "169.254.77.2");
        assert_eq!(link_mac(2), [2, 0xda, 0xd0, 0, 0, 2]);
    }
}
