//! The engine's connections, stored densely by the driver's slot: ring, then direct-descriptor
//! index, as the driver stores its own. No hash table: an idle connection costs its entry and
//! nothing around it (a hash map at its usual load carried about as much again in empty
//! buckets). The slot's generation is checked, so a stale `ConnId` finds nothing.

use ringws_uring::ConnId;

/// Connections of one worker, by slot.
#[derive(Debug)]
pub(crate) struct ConnTable<C> {
    /// `rings[ring][index]`: the generation that holds the slot and its state.
    rings: Vec<Vec<Option<(u32, C)>>>,
    len: usize,
}

impl<C> ConnTable<C> {
    pub(crate) fn new() -> Self {
        Self { rings: Vec::new(), len: 0 }
    }

    /// Connections in the table.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `slots`: how many slots the ring has, so its vector is reserved once and never grows (a
    /// growing vector leaves its old copies in the allocator: measured, tens of bytes per
    /// connection at a million).
    fn entry(&mut self, id: ConnId, slots: usize) -> &mut Option<(u32, C)> {
        let ring = usize::from(id.ring());
        if self.rings.len() <= ring {
            self.rings.resize_with(ring + 1, Vec::new);
        }
        let entries = &mut self.rings[ring];
        let index = id.index() as usize;
        if entries.len() <= index {
            entries.reserve_exact(slots.max(index + 1) - entries.len());
            entries.resize_with(index + 1, || None);
        }
        &mut entries[index]
    }

    /// Stores `conn` for `id`, replacing whatever an older connection left in the slot. `slots`
    /// is the ring's slot count ([`ringws_uring::Io::ring_slots`]).
    pub(crate) fn insert(&mut self, id: ConnId, slots: usize, conn: C) {
        let generation = id.generation();
        if self.entry(id, slots).replace((generation, conn)).is_none() {
            self.len += 1;
        }
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&C> {
        let (generation, conn) =
            self.rings.get(usize::from(id.ring()))?.get(id.index() as usize)?.as_ref()?;
        (*generation == id.generation()).then_some(conn)
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut C> {
        let (generation, conn) =
            self.rings.get_mut(usize::from(id.ring()))?.get_mut(id.index() as usize)?.as_mut()?;
        (*generation == id.generation()).then_some(conn)
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<C> {
        let entry = self.rings.get_mut(usize::from(id.ring()))?.get_mut(id.index() as usize)?;
        if entry.as_ref().is_some_and(|(generation, _)| *generation == id.generation()) {
            self.len -= 1;
            return entry.take().map(|(_, conn)| conn);
        }
        None
    }

    /// Every connection with its id (`worker` is this table's worker).
    pub(crate) fn iter_mut(&mut self, worker: u8) -> impl Iterator<Item = (ConnId, &mut C)> {
        self.rings.iter_mut().enumerate().flat_map(move |(ring, slots)| {
            slots.iter_mut().enumerate().filter_map(move |(index, entry)| {
                let (generation, conn) = entry.as_mut()?;
                Some((ConnId::new(worker, ring as u8, *generation, index as u32), conn))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_id_finds_nothing_and_removes_nothing() {
        let mut table = ConnTable::new();
        let old = ConnId::new(0, 2, 7, 100);
        table.insert(old, 0, "old");
        assert_eq!(table.get(old), Some(&"old"));
        let new = ConnId::new(0, 2, 8, 100); // the slot reused
        table.insert(new, 0, "new");
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(old), None);
        assert_eq!(table.remove(old), None);
        assert_eq!(table.remove(new), Some("new"));
        assert_eq!(table.len(), 0);
        assert_eq!(table.get(ConnId::new(0, 9, 1, 5)), None, "a ring never seen");
    }

    #[test]
    fn iteration_gives_back_each_id() {
        let mut table = ConnTable::new();
        let ids = [ConnId::new(1, 0, 1, 3), ConnId::new(1, 1, 4, 0), ConnId::new(1, 1, 2, 9)];
        for (n, id) in ids.iter().enumerate() {
            table.insert(*id, 16, n);
        }
        let mut seen: Vec<(ConnId, usize)> = table.iter_mut(1).map(|(id, n)| (id, *n)).collect();
        seen.sort_by_key(|(_, n)| *n);
        assert_eq!(seen, vec![(ids[0], 0), (ids[1], 1), (ids[2], 2)]);
    }
}
