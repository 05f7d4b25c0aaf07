//! Identities that cross the kernel boundary: [`ConnId`] for users and [`UserData`] for SQEs.
//!
//! Both pack a generation next to the slot, so an id kept after its connection closed can never
//! reach the connection that reuses the slot. Pure code: tested without a kernel, and by Miri.

use std::fmt;

const INDEX_BITS: u32 = 24;
const GEN_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

/// The largest direct-descriptor index a slot can name.
pub(crate) const MAX_INDEX: u32 = INDEX_MASK as u32;

/// The layout both ids share: a tag (worker or op kind) 8 bits, ring 8 bits, generation 24 bits,
/// index 24 bits, high to low.
const fn pack(tag: u8, ring: u8, generation: u32, index: u32) -> u64 {
    ((tag as u64) << 56)
        | ((ring as u64) << 48)
        | (((generation as u64) & GEN_MASK) << INDEX_BITS)
        | ((index as u64) & INDEX_MASK)
}

const fn tag_of(raw: u64) -> u8 {
    (raw >> 56) as u8
}

const fn ring_of(raw: u64) -> u8 {
    (raw >> 48) as u8
}

const fn generation_of(raw: u64) -> u32 {
    ((raw >> INDEX_BITS) & GEN_MASK) as u32
}

const fn index_of(raw: u64) -> u32 {
    (raw & INDEX_MASK) as u32
}

/// Identifies one connection for its whole life: worker, ring, generation and slot.
///
/// Layout (high to low): worker 8 bits, ring 8 bits, generation 24 bits, index 24 bits. The index
/// is the connection's direct-descriptor slot in its ring's fixed-file table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// Packs the parts; each is truncated to its field width.
    pub fn new(worker: u8, ring: u8, generation: u32, index: u32) -> Self {
        Self(pack(worker, ring, generation, index))
    }

    /// The worker (core) that owns the connection.
    pub fn worker(self) -> u8 {
        tag_of(self.0)
    }

    /// The ring, within its worker, whose fixed-file table holds the descriptor.
    pub fn ring(self) -> u8 {
        ring_of(self.0)
    }

    /// The slot's generation when the connection opened.
    pub fn generation(self) -> u32 {
        generation_of(self.0)
    }

    /// The direct-descriptor index.
    pub fn index(self) -> u32 {
        index_of(self.0)
    }

    /// The packed value, e.g. to send across threads.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`ConnId::to_u64`].
    pub fn from_u64(raw: u64) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ConnId({}/{}/{}#{})",
            self.worker(),
            self.ring(),
            self.index(),
            self.generation()
        )
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What an in-flight operation is, recovered from its completion's `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum OpKind {
    /// Multishot accept on the worker's listener.
    Accept = 1,
    /// Multishot receive with buffer selection.
    Recv = 2,
    /// A vectored send.
    Send = 3,
    /// Cancel every operation on a connection's descriptor.
    Cancel = 4,
    /// Close a direct descriptor.
    Close = 5,
    /// A poll on another ring's descriptor, to wake the home ring.
    RingPoll = 6,
    /// A message from another worker (msg_ring).
    Mailbox = 7,
    /// Cancel the multishot accept.
    AcceptCancel = 8,
    /// The completion of a msg_ring this ring sent (ignored).
    MsgSent = 9,
    /// Shut down the write side of a connection (after its queue drained).
    Shutdown = 10,
    /// An outgoing connection's socket, created into a direct descriptor (index = dial slot).
    DialSocket = 11,
    /// Binding an outgoing connection to its source address (index = dial slot).
    DialBind = 12,
    /// Connecting an outgoing connection (index = dial slot).
    DialConnect = 13,
    /// Closing the descriptor of a dial that failed (index = dial slot).
    DialClose = 14,
    /// Setting a socket option on a dialed socket (index = dial slot).
    SockOpt = 15,
    /// Reading an accepted connection's peer address (getsockopt SO_PEERNAME).
    PeerName = 16,
}

impl OpKind {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Accept,
            2 => Self::Recv,
            3 => Self::Send,
            4 => Self::Cancel,
            5 => Self::Close,
            6 => Self::RingPoll,
            7 => Self::Mailbox,
            8 => Self::AcceptCancel,
            9 => Self::MsgSent,
            10 => Self::Shutdown,
            11 => Self::DialSocket,
            12 => Self::DialBind,
            13 => Self::DialConnect,
            14 => Self::DialClose,
            15 => Self::SockOpt,
            16 => Self::PeerName,
            _ => return None,
        })
    }
}

/// The `user_data` of a submission: kind 8 bits, ring 8 bits, generation 24 bits, index 24 bits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserData(u64);

impl UserData {
    /// Packs an operation on a connection slot (or `index` 0 / generation 0 for ring-wide ops).
    pub(crate) fn new(kind: OpKind, ring: u8, generation: u32, index: u32) -> Self {
        Self(pack(kind as u8, ring, generation, index))
    }

    /// The operation kind; `None` for a value this driver never submitted.
    pub(crate) fn kind(self) -> Option<OpKind> {
        OpKind::from_u8(tag_of(self.0))
    }

    /// The ring within the worker.
    pub(crate) fn ring(self) -> u8 {
        ring_of(self.0)
    }

    /// The generation of the slot when the op was submitted.
    pub(crate) fn generation(self) -> u32 {
        generation_of(self.0)
    }

    /// The slot index.
    pub(crate) fn index(self) -> u32 {
        index_of(self.0)
    }

    /// The raw value for the SQE.
    pub(crate) fn to_u64(self) -> u64 {
        self.0
    }

    /// From a CQE's `user_data`.
    pub(crate) fn from_u64(raw: u64) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UserData({:?} ring {} slot {}#{})",
            self.kind(),
            self.ring(),
            self.index(),
            self.generation()
        )
    }
}

/// The next generation for a reused slot; wraps within the 24-bit field.
pub(crate) fn next_generation(generation: u32) -> u32 {
    (generation + 1) & GEN_MASK as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn conn_id_round_trips(worker in any::<u8>(), ring in any::<u8>(),
                               generation in 0u32..1 << 24, index in 0u32..1 << 24) {
            let id = ConnId::new(worker, ring, generation, index);
            prop_assert_eq!((id.worker(), id.ring(), id.generation(), id.index()),
                            (worker, ring, generation, index));
            prop_assert_eq!(ConnId::from_u64(id.to_u64()), id);
        }

        #[test]
        fn user_data_round_trips(kind in 1u8..=15, ring in any::<u8>(),
                                 generation in 0u32..1 << 24, index in 0u32..1 << 24) {
            let kind = OpKind::from_u8(kind).unwrap();
            let ud = UserData::from_u64(UserData::new(kind, ring, generation, index).to_u64());
            prop_assert_eq!((ud.kind(), ud.ring(), ud.generation(), ud.index()),
                            (Some(kind), ring, generation, index));
        }

        #[test]
        fn fields_do_not_bleed(generation in any::<u32>(), index in any::<u32>()) {
            let id = ConnId::new(3, 4, generation, index);
            prop_assert_eq!((id.worker(), id.ring()), (3, 4));
            prop_assert_eq!(id.generation(), generation & 0xff_ffff);
            prop_assert_eq!(id.index(), index & 0xff_ffff);
        }
    }

    #[test]
    fn generations_differ_after_reuse() {
        let a = ConnId::new(0, 0, 7, 42);
        let b = ConnId::new(0, 0, next_generation(7), 42);
        assert_ne!(a, b);
        assert_eq!(next_generation(0xff_ffff), 0);
        assert_eq!(UserData::from_u64(0).kind(), None);
    }
}
