//! The link's state above the channel: offline / unknown / online, the epoch, heartbeats and
//! the reconnect schedule. Pure: the caller passes the time (milliseconds of a monotonic
//! clock) and acts on what comes back.
//!
//! - Offline: no interlink key is configured; the enclosure refuses to link and says so.
//! - Unknown: configured, but no link is up (connecting, or waiting for the next attempt).
//! - Online: a handshake completed; heartbeats flow both ways.

use crate::hello::{Hello, PeerRefused};
use crate::message::{Heartbeat, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Offline,
    Unknown,
    Online,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Heartbeat period (default 100 ms).
    pub heartbeat_interval_ms: u64,
    /// The peer is lost after this many intervals without a frame from it (default 5).
    pub miss_limit: u32,
    /// First reconnect delay; doubles per failed attempt up to `backoff_max_ms`.
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// A handshake that has not completed after this long fails.
    pub handshake_timeout_ms: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            heartbeat_interval_ms: 100,
            miss_limit: 5,
            backoff_min_ms: 100,
            backoff_max_ms: 5_000,
            handshake_timeout_ms: 3_000,
        }
    }
}

/// Why a link went down (or never came up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDown {
    /// No interlink key: this enclosure does not link until one is set.
    NotConfigured,
    /// No frame from the peer for `miss_limit` heartbeat intervals.
    PeerLost,
    HandshakeTimeout,
    /// The transport closed or failed, or a handshake or frame check failed (the caller
    /// logs the specific error).
    Failed,
    /// A message of another link epoch.
    StaleEpoch {
        expected: u64,
        got: u64,
    },
    RefusedByPeer(PeerRefused),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Up { peer: Hello, epoch: u64 },
    Down { reason: LinkDown, epoch: u64 },
}

/// What the caller should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickAction {
    Idle,
    /// Open a connection and start a handshake (then call [`Link::connecting`]).
    Connect,
    /// Seal and send this heartbeat.
    SendHeartbeat(Heartbeat),
    /// Close the connection: the link is down.
    Drop(LinkEvent),
}

#[derive(Debug, Clone)]
struct Online {
    peer: Hello,
    last_rx_ms: u64,
    last_hb_tx_ms: u64,
    hb_seq: u64,
    peer_hb_seq: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Link {
    config: LinkConfig,
    keyed: bool,
    /// The current link's epoch, or the last one's.
    epoch: u64,
    online: Option<Online>,
    /// When the handshake in progress started.
    connecting_since: Option<u64>,
    failures: u32,
    next_attempt_ms: u64,
}

impl Link {
    /// `keyed`: whether an interlink key is configured. `last_epoch`: the highest epoch this
    /// controller has used (persisted or zero).
    pub fn new(config: LinkConfig, keyed: bool, last_epoch: u64) -> Self {
        Link {
            config,
            keyed,
            epoch: last_epoch,
            online: None,
            connecting_since: None,
            failures: 0,
            next_attempt_ms: 0,
        }
    }

    pub fn state(&self) -> LinkState {
        match (self.keyed, &self.online) {
            (false, _) => LinkState::Offline,
            (true, None) => LinkState::Unknown,
            (true, Some(_)) => LinkState::Online,
        }
    }

    /// The current (or last) link epoch: put it in this controller's `Hello::epoch`.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The peer's Hello while online.
    pub fn peer(&self) -> Option<&Hello> {
        self.online.as_ref().map(|o| &o.peer)
    }

    /// Why this controller cannot link right now, if it cannot at all.
    pub fn refusal(&self) -> Option<LinkDown> {
        (!self.keyed).then_some(LinkDown::NotConfigured)
    }

    /// A key was set or removed. Removing it drops a link that is up.
    pub fn set_keyed(&mut self, now_ms: u64, keyed: bool) -> Option<LinkEvent> {
        self.keyed = keyed;
        self.failures = 0;
        self.next_attempt_ms = now_ms;
        if !keyed {
            self.connecting_since = None;
            return self.down(now_ms, LinkDown::NotConfigured);
        }
        None
    }

    /// A connection was opened (or accepted) and its handshake started.
    pub fn connecting(&mut self, now_ms: u64) {
        self.connecting_since = Some(now_ms);
    }

    /// The handshake completed. `epoch` must be above every epoch seen before.
    pub fn up(&mut self, now_ms: u64, peer: Hello, epoch: u64) -> Result<LinkEvent, LinkDown> {
        if !self.keyed {
            return Err(LinkDown::NotConfigured);
        }
        if epoch <= self.epoch {
            return Err(LinkDown::StaleEpoch {
                expected: self.epoch + 1,
                got: epoch,
            });
        }
        self.epoch = epoch;
        self.connecting_since = None;
        self.failures = 0;
        self.online = Some(Online {
            peer: peer.clone(),
            last_rx_ms: now_ms,
            last_hb_tx_ms: now_ms,
            hb_seq: 0,
            peer_hb_seq: None,
        });
        Ok(LinkEvent::Up { peer, epoch })
    }

    /// The connection closed or any check failed: the link is down (if it was up) and the
    /// next attempt is scheduled.
    pub fn down(&mut self, now_ms: u64, reason: LinkDown) -> Option<LinkEvent> {
        self.connecting_since = None;
        let was_up = self.online.take().is_some();
        if self.keyed {
            let shift = self.failures.min(16);
            let delay = self
                .config
                .backoff_min_ms
                .saturating_mul(1u64 << shift)
                .min(self.config.backoff_max_ms);
            self.failures = self.failures.saturating_add(1);
            self.next_attempt_ms = now_ms.saturating_add(delay);
        }
        was_up.then_some(LinkEvent::Down {
            reason,
            epoch: self.epoch,
        })
    }

    /// Milliseconds until the next connection attempt (0: now), while Unknown and idle.
    pub fn next_attempt_in(&self, now_ms: u64) -> Option<u64> {
        (self.state() == LinkState::Unknown && self.connecting_since.is_none())
            .then(|| self.next_attempt_ms.saturating_sub(now_ms))
    }

    /// An authenticated message arrived on the current link (any frame counts as liveness).
    /// A heartbeat of another epoch, or a heartbeat sequence going back, and a `Refused`
    /// drop the link: the caller closes the connection on `Err`.
    pub fn on_message(&mut self, now_ms: u64, msg: &Message) -> Result<(), LinkEvent> {
        let epoch = self.epoch;
        let Some(online) = self.online.as_mut() else {
            return Ok(());
        };
        online.last_rx_ms = now_ms;
        let reason = match msg {
            Message::Heartbeat(hb) if hb.epoch != epoch => LinkDown::StaleEpoch {
                expected: epoch,
                got: hb.epoch,
            },
            Message::Heartbeat(hb) => {
                if online.peer_hb_seq.is_some_and(|s| hb.seq <= s) {
                    LinkDown::Failed
                } else {
                    online.peer_hb_seq = Some(hb.seq);
                    return Ok(());
                }
            }
            Message::Refused(r) => LinkDown::RefusedByPeer(*r),
            _ => return Ok(()),
        };
        // The link was up (checked above), so `down` reports the event.
        match self.down(now_ms, reason) {
            Some(event) => Err(event),
            None => Ok(()),
        }
    }

    /// A data frame arrived on the current link (liveness only).
    pub fn on_data(&mut self, now_ms: u64) {
        if let Some(o) = self.online.as_mut() {
            o.last_rx_ms = now_ms;
        }
    }

    /// Whether a message tagged with `epoch` (a transfer, a queued command) belongs to the
    /// current link; anything else is stale and must be dropped.
    pub fn is_current(&self, epoch: u64) -> bool {
        self.online.is_some() && epoch == self.epoch
    }

    /// Call at least every heartbeat interval (and when [`Link::next_attempt_in`] expires).
    pub fn on_tick(&mut self, now_ms: u64) -> TickAction {
        if !self.keyed {
            return TickAction::Idle;
        }
        let epoch = self.epoch;
        let interval = self.config.heartbeat_interval_ms.max(1);
        if let Some(online) = self.online.as_mut() {
            let silence = now_ms.saturating_sub(online.last_rx_ms);
            if silence >= interval.saturating_mul(self.config.miss_limit.max(1) as u64) {
                return match self.down(now_ms, LinkDown::PeerLost) {
                    Some(event) => TickAction::Drop(event),
                    None => TickAction::Idle,
                };
            }
            if now_ms.saturating_sub(online.last_hb_tx_ms) >= interval {
                online.last_hb_tx_ms = now_ms;
                online.hb_seq += 1;
                return TickAction::SendHeartbeat(Heartbeat {
                    epoch,
                    seq: online.hb_seq,
                    sent_us: now_ms.saturating_mul(1000),
                });
            }
            return TickAction::Idle;
        }
        if let Some(since) = self.connecting_since {
            if now_ms.saturating_sub(since) >= self.config.handshake_timeout_ms {
                self.down(now_ms, LinkDown::HandshakeTimeout);
                return TickAction::Drop(LinkEvent::Down {
                    reason: LinkDown::HandshakeTimeout,
                    epoch,
                });
            }
            return TickAction::Idle;
        }
        if now_ms >= self.next_attempt_ms {
            return TickAction::Connect;
        }
        TickAction::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hello::tests::sample;

    fn online(now: u64) -> Link {
        let mut l = Link::new(LinkConfig::default(), true, 4);
        assert_eq!(l.on_tick(now), TickAction::Connect);
        l.connecting(now);
        assert_eq!(l.on_tick(now + 1), TickAction::Idle);
        assert_eq!(
            l.up(now + 2, sample(2), 5),
            Ok(LinkEvent::Up {
                peer: sample(2),
                epoch: 5
            })
        );
        l
    }

    #[test]
    fn without_a_key_the_link_is_offline_and_says_why() {
        let mut l = Link::new(LinkConfig::default(), false, 0);
        assert_eq!(l.state(), LinkState::Offline);
        assert_eq!(l.refusal(), Some(LinkDown::NotConfigured));
        assert_eq!(l.on_tick(10_000), TickAction::Idle);
        assert_eq!(l.up(0, sample(2), 1), Err(LinkDown::NotConfigured));
        assert_eq!(l.set_keyed(5, true), None);
        assert_eq!(l.state(), LinkState::Unknown);
        assert_eq!(l.on_tick(5), TickAction::Connect);
    }

    #[test]
    fn heartbeats_every_interval_and_peer_lost_after_miss_limit() {
        let mut l = online(0);
        assert_eq!(l.state(), LinkState::Online);
        assert_eq!(l.on_tick(50), TickAction::Idle);
        assert_eq!(
            l.on_tick(102),
            TickAction::SendHeartbeat(Heartbeat {
                epoch: 5,
                seq: 1,
                sent_us: 102_000
            })
        );
        let hb = Message::Heartbeat(Heartbeat {
            epoch: 5,
            seq: 1,
            sent_us: 0,
        });
        assert_eq!(l.on_message(150, &hb), Ok(()));
        assert!(matches!(
            l.on_tick(202),
            TickAction::SendHeartbeat(Heartbeat { seq: 2, .. })
        ));
        // 5 intervals of silence after the last frame at 150.
        assert!(matches!(l.on_tick(649), TickAction::SendHeartbeat(_)));
        assert_eq!(
            l.on_tick(650),
            TickAction::Drop(LinkEvent::Down {
                reason: LinkDown::PeerLost,
                epoch: 5
            })
        );
        assert_eq!(l.state(), LinkState::Unknown);
        assert!(!l.is_current(5));
    }

    #[test]
    fn stale_epoch_heartbeat_and_refusal_drop_the_link() {
        let mut l = online(0);
        let old = Message::Heartbeat(Heartbeat {
            epoch: 4,
            seq: 9,
            sent_us: 0,
        });
        assert_eq!(
            l.on_message(10, &old),
            Err(LinkEvent::Down {
                reason: LinkDown::StaleEpoch {
                    expected: 5,
                    got: 4
                },
                epoch: 5
            })
        );
        let mut l = online(0);
        let hb = |seq| {
            Message::Heartbeat(Heartbeat {
                epoch: 5,
                seq,
                sent_us: 0,
            })
        };
        assert_eq!(l.on_message(10, &hb(3)), Ok(()));
        assert!(l.on_message(20, &hb(3)).is_err());
        let mut l = online(0);
        assert!(matches!(
            l.on_message(10, &Message::Refused(PeerRefused::OtherLunSet)),
            Err(LinkEvent::Down {
                reason: LinkDown::RefusedByPeer(PeerRefused::OtherLunSet),
                ..
            })
        ));
    }

    #[test]
    fn epochs_only_increase() {
        let mut l = online(0);
        l.down(10, LinkDown::Failed);
        assert_eq!(
            l.up(20, sample(2), 5),
            Err(LinkDown::StaleEpoch {
                expected: 6,
                got: 5
            })
        );
        assert!(l.up(20, sample(2), 6).is_ok());
        assert!(l.is_current(6) && !l.is_current(5));
    }

    #[test]
    fn reconnect_backoff_doubles_up_to_the_cap_and_resets_on_success() {
        let mut l = Link::new(LinkConfig::default(), true, 0);
        let mut now = 0;
        let mut delays = alloc::vec::Vec::new();
        for _ in 0..8 {
            assert_eq!(l.on_tick(now), TickAction::Connect);
            l.connecting(now);
            assert_eq!(l.down(now, LinkDown::Failed), None);
            let d = l.next_attempt_in(now).unwrap();
            delays.push(d);
            assert_eq!(l.on_tick(now + d - 1), TickAction::Idle);
            now += d;
        }
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        l.connecting(now);
        l.up(now, sample(2), 1).unwrap();
        l.down(now, LinkDown::Failed);
        assert_eq!(l.next_attempt_in(now), Some(100));
    }

    #[test]
    fn handshake_timeout() {
        let mut l = Link::new(LinkConfig::default(), true, 0);
        l.connecting(0);
        assert_eq!(l.on_tick(2_999), TickAction::Idle);
        assert!(matches!(
            l.on_tick(3_000),
            TickAction::Drop(LinkEvent::Down {
                reason: LinkDown::HandshakeTimeout,
                ..
            })
        ));
        assert_eq!(l.next_attempt_in(3_000), Some(100));
    }

    #[test]
    fn removing_the_key_takes_the_link_offline() {
        let mut l = online(0);
        assert_eq!(
            l.set_keyed(10, false),
            Some(LinkEvent::Down {
                reason: LinkDown::NotConfigured,
                epoch: 5
            })
        );
        assert_eq!(l.state(), LinkState::Offline);
    }
}
