//! The sim board's interlink NIC: Ethernet frames carried one per UDP datagram between two
//! host ports, the framing QEMU's `-netdev dgram` uses, so a sim controller can be cabled to
//! another or to a QEMU guest.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use hal::nic::{self, ErrorType, FrameNic, STANDARD_FRAME};

use super::slots::SimError;

/// A frame NIC over a connected, non-blocking UDP socket.
#[derive(Debug)]
pub struct UdpFrameNic {
    socket: UdpSocket,
    mac: [u8; 6],
    max_frame: usize,
}

impl UdpFrameNic {
    /// Binds `local` and sends to (and only hears from) `peer`; standard frames.
    pub fn bind(local: SocketAddr, peer: SocketAddr, mac: [u8; 6]) -> io::Result<UdpFrameNic> {
        let socket = UdpSocket::bind(local)?;
        socket.connect(peer)?;
        socket.set_nonblocking(true)?;
        Ok(UdpFrameNic {
            socket,
            mac,
            max_frame: STANDARD_FRAME,
        })
    }

    /// Carries frames of up to `bytes` (jumbo frames: 9014).
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// The bound address (a port 0 resolved).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

impl nic::Error for SimError {
    fn kind(&self) -> nic::ErrorKind {
        match self.0.kind() {
            // A connected UDP socket hears ICMP port unreachable as this: nobody listens.
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotConnected => {
                nic::ErrorKind::LinkDown
            }
            io::ErrorKind::InvalidInput => nic::ErrorKind::FrameTooLong,
            io::ErrorKind::WouldBlock => nic::ErrorKind::Busy,
            _ => nic::ErrorKind::Io,
        }
    }
}

impl ErrorType for UdpFrameNic {
    type Error = SimError;
}

impl FrameNic for UdpFrameNic {
    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, SimError> {
        match self.socket.recv(buf) {
            Ok(n) if n > self.max_frame => Err(SimError(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a {n}-byte frame, longer than {}", self.max_frame),
            ))),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(SimError(e)),
        }
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), SimError> {
        if frame.len() > self.max_frame {
            return Err(SimError(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte frame, longer than {}",
                    frame.len(),
                    self.max_frame
                ),
            )));
        }
        self.socket.send(frame)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::nic::Error as _;
    use std::time::{Duration, Instant};

    fn loopback(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn two_nics_cabled_back_to_back_exchange_frames() {
        // Bind both first on free ports, then cable them to each other.
        let a_sock = UdpSocket::bind(loopback(0)).unwrap();
        let b_sock = UdpSocket::bind(loopback(0)).unwrap();
        let (a_addr, b_addr) = (a_sock.local_addr().unwrap(), b_sock.local_addr().unwrap());
        drop((a_sock, b_sock));
        let mut a = UdpFrameNic::bind(a_addr, b_addr, [2, 0, 0, 0, 0, 1]).unwrap();
        let mut b = UdpFrameNic::bind(b_addr, a_addr, [2, 0, 0, 0, 0, 2]).unwrap();
        let mut buf = [0u8; STANDARD_FRAME];
        assert_eq!(b.receive(&mut buf).unwrap(), None);
        let frame: Vec<u8> = (0..100u8).collect();
        a.transmit(&frame).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let n = loop {
            if let Some(n) = b.receive(&mut buf).unwrap() {
                break n;
            }
            assert!(Instant::now() < deadline, "no frame arrived");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(&buf[..n], &frame[..]);
        assert_eq!(a.mac_address(), [2, 0, 0, 0, 0, 1]);
        let long = vec![0u8; STANDARD_FRAME + 1];
        assert_eq!(
            a.transmit(&long).unwrap_err().kind(),
            hal::nic::ErrorKind::FrameTooLong
        );
    }
}
