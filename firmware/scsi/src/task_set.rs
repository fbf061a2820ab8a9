//! A LUN's task set: commands in order of arrival, the ordering rules between them, and the
//! abort marks task management leaves on them.

use crate::nexus::NexusId;
use crate::table::AccessClass;
use crate::wait_queue::WaitQueue;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};

/// SAM task attributes (iSCSI ATTR field values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAttribute {
    Simple,
    Ordered,
    HeadOfQueue,
    Aca,
}

impl TaskAttribute {
    /// From the iSCSI ATTR field: 0 untagged and 1 simple are both simple.
    pub fn from_iscsi(attr: u8) -> Self {
        match attr {
            2 => TaskAttribute::Ordered,
            3 => TaskAttribute::HeadOfQueue,
            4 => TaskAttribute::Aca,
            _ => TaskAttribute::Simple,
        }
    }
}

/// How an aborted task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortKind {
    /// Aborted by its own nexus: no response is sent for it.
    Silent,
    /// Aborted by another nexus with TAS set: it ends with TASK ABORTED status.
    TaskAborted,
}

pub(crate) struct TaskEntry {
    pub seq: u64,
    pub nexus: NexusId,
    pub tag: u64,
    pub attr: TaskAttribute,
    pub access: AccessClass,
    /// Block range [start, end) for Read and Write access.
    pub start: u64,
    pub end: u64,
    pub running: Cell<bool>,
    pub aborted: Cell<Option<AbortKind>>,
}

impl TaskEntry {
    /// Whether `self` (later) must wait for `earlier`.
    fn waits_for(&self, earlier: &TaskEntry) -> bool {
        if self.attr == TaskAttribute::HeadOfQueue {
            return false;
        }
        if self.attr == TaskAttribute::Ordered || earlier.attr == TaskAttribute::Ordered {
            return true;
        }
        let overlap = self.start < earlier.end && earlier.start < self.end;
        match (earlier.access, self.access) {
            (_, AccessClass::Free) | (AccessClass::Free, _) => false,
            (AccessClass::Write, AccessClass::Flush) => true,
            (AccessClass::Flush, _) | (_, AccessClass::Flush) => false,
            (AccessClass::Read, AccessClass::Read) => false,
            _ => overlap,
        }
    }
}

#[derive(Default)]
pub(crate) struct TaskSet {
    entries: RefCell<VecDeque<Rc<TaskEntry>>>,
    next_seq: Cell<u64>,
    pub changed: WaitQueue,
}

impl TaskSet {
    pub fn insert(
        &self,
        nexus: NexusId,
        tag: u64,
        attr: TaskAttribute,
        access: AccessClass,
        range: (u64, u64),
    ) -> Rc<TaskEntry> {
        let seq = self.next_seq.get();
        self.next_seq.set(seq.wrapping_add(1));
        let entry = Rc::new(TaskEntry {
            seq,
            nexus,
            tag,
            attr,
            access,
            start: range.0,
            end: range.1,
            running: Cell::new(false),
            aborted: Cell::new(None),
        });
        self.entries.borrow_mut().push_back(entry.clone());
        entry
    }

    pub fn remove(&self, entry: &TaskEntry) {
        let mut entries = self.entries.borrow_mut();
        if let Ok(i) = entries.binary_search_by_key(&entry.seq, |e| e.seq) {
            entries.remove(i);
        }
        drop(entries);
        self.changed.notify_all();
    }

    /// Whether an earlier task still in the set orders before `entry`.
    pub fn blocked(&self, entry: &TaskEntry) -> bool {
        self.entries
            .borrow()
            .iter()
            .take_while(|e| e.seq != entry.seq)
            .any(|e| entry.waits_for(e))
    }

    /// Marks every task matching `pred` aborted; returns how many were marked.
    pub fn abort_where(&self, mut pred: impl FnMut(&TaskEntry) -> Option<AbortKind>) -> usize {
        let mut n = 0;
        for e in self.entries.borrow().iter() {
            if e.aborted.get().is_none() {
                if let Some(kind) = pred(e) {
                    e.aborted.set(Some(kind));
                    n += 1;
                }
            }
        }
        if n > 0 {
            self.changed.notify_all();
        }
        n
    }

    /// Whether an aborted task is still executing (its I/O has not come back).
    pub fn aborted_running(&self) -> bool {
        self.entries
            .borrow()
            .iter()
            .any(|e| e.running.get() && e.aborted.get().is_some())
    }

    pub fn any_of(&self, nexus: NexusId) -> bool {
        self.entries.borrow().iter().any(|e| e.nexus == nexus)
    }

    pub fn contains(&self, nexus: NexusId, tag: u64) -> bool {
        self.entries
            .borrow()
            .iter()
            .any(|e| e.nexus == nexus && e.tag == tag)
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with(entries: &[(AccessClass, u64, u64)]) -> (TaskSet, alloc::vec::Vec<Rc<TaskEntry>>) {
        let set = TaskSet::default();
        let v = entries
            .iter()
            .enumerate()
            .map(|(i, &(a, s, e))| {
                set.insert(NexusId(1), i as u64, TaskAttribute::Simple, a, (s, e))
            })
            .collect();
        (set, v)
    }

    #[test]
    fn overlapping_write_waits_and_reads_do_not() {
        let (set, t) = set_with(&[
            (AccessClass::Write, 0, 8),
            (AccessClass::Read, 4, 12),
            (AccessClass::Read, 100, 108),
            (AccessClass::Read, 100, 108),
        ]);
        assert!(!set.blocked(&t[0]));
        assert!(set.blocked(&t[1]));
        assert!(!set.blocked(&t[2]));
        assert!(!set.blocked(&t[3]));
        set.remove(&t[0]);
        assert!(!set.blocked(&t[1]));
    }

    #[test]
    fn flush_waits_for_earlier_writes_only() {
        let (set, t) = set_with(&[
            (AccessClass::Read, 0, 8),
            (AccessClass::Write, 50, 58),
            (AccessClass::Flush, 0, 0),
        ]);
        assert!(set.blocked(&t[2]));
        set.remove(&t[1]);
        assert!(!set.blocked(&t[2]));
    }

    #[test]
    fn ordered_waits_for_everything_before() {
        let set = TaskSet::default();
        let a = set.insert(
            NexusId(1),
            1,
            TaskAttribute::Simple,
            AccessClass::Free,
            (0, 0),
        );
        let b = set.insert(
            NexusId(1),
            2,
            TaskAttribute::Ordered,
            AccessClass::Free,
            (0, 0),
        );
        let c = set.insert(
            NexusId(1),
            3,
            TaskAttribute::Simple,
            AccessClass::Free,
            (0, 0),
        );
        let d = set.insert(
            NexusId(1),
            4,
            TaskAttribute::HeadOfQueue,
            AccessClass::Free,
            (0, 0),
        );
        assert!(set.blocked(&b));
        assert!(set.blocked(&c));
        assert!(!set.blocked(&d));
        set.remove(&a);
        assert!(!set.blocked(&b));
    }
}
