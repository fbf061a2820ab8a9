//! The line editor's command history: the last [`HISTORY_LEN`] lines entered, walked with Up
//! and Down. The line being typed when the walk starts is kept and comes back past the newest
//! entry, as in a shell.

use alloc::collections::VecDeque;
use alloc::string::String;

/// Lines remembered. A console session re-runs a handful of commands; 32 is plenty and keeps
/// the memory bounded on a board (32 × 1 KiB at worst).
pub const HISTORY_LEN: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct History {
    /// Oldest first.
    entries: VecDeque<String>,
    /// The entry shown while walking, or `None` when editing the new line.
    shown: Option<usize>,
    /// The new line as it was when the walk began.
    draft: String,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers an entered line, unless it is blank or repeats the newest entry (a command run
    /// ten times in a row should not push everything else out). Ends any walk.
    pub fn push(&mut self, line: &str) {
        self.shown = None;
        self.draft.clear();
        if line.trim().is_empty() || self.entries.back().is_some_and(|last| last == line) {
            return;
        }
        if self.entries.len() >= HISTORY_LEN {
            self.entries.pop_front();
        }
        self.entries.push_back(line.into());
    }

    /// Forgets the walk (the line was abandoned), keeping the entries.
    pub fn stop(&mut self) {
        self.shown = None;
        self.draft.clear();
    }

    /// Up: the entry before the one shown; `current` is the line on screen, kept as the draft
    /// when the walk begins. `None` at the oldest entry or with no history.
    pub fn older(&mut self, current: &str) -> Option<&str> {
        let index = match self.shown {
            None => {
                let newest = self.entries.len().checked_sub(1)?;
                self.draft = current.into();
                newest
            }
            Some(shown) => shown.checked_sub(1)?,
        };
        self.shown = Some(index);
        self.entries.get(index).map(String::as_str)
    }

    /// Down: the entry after the one shown, or past the newest the draft. `None` when not
    /// walking.
    pub fn newer(&mut self) -> Option<&str> {
        let next = self.shown? + 1;
        if next < self.entries.len() {
            self.shown = Some(next);
            self.entries.get(next).map(String::as_str)
        } else {
            self.shown = None;
            Some(self.draft.as_str())
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    fn entries(h: &History) -> Vec<&str> {
        h.entries().collect()
    }

    #[test]
    fn skips_blank_lines_and_consecutive_duplicates() {
        let mut h = History::new();
        for line in ["a", "", "   ", "a", "b", "a", "a"] {
            h.push(line);
        }
        assert_eq!(entries(&h), ["a", "b", "a"]);
    }

    #[test]
    fn keeps_the_newest_entries() {
        let mut h = History::new();
        for i in 0..HISTORY_LEN + 5 {
            h.push(&format!("cmd {i}"));
        }
        assert_eq!(h.entries().count(), HISTORY_LEN);
        assert_eq!(h.entries().next(), Some("cmd 5"));
        assert_eq!(h.entries().last(), Some("cmd 36"));
    }

    #[test]
    fn walks_back_and_returns_to_the_draft() {
        let mut h = History::new();
        assert_eq!(h.older("x"), None);
        assert_eq!(h.newer(), None);
        h.push("one");
        h.push("two");
        assert_eq!(h.older("dra"), Some("two"));
        assert_eq!(h.older("ignored"), Some("one"));
        assert_eq!(h.older("ignored"), None);
        assert_eq!(h.newer(), Some("two"));
        assert_eq!(h.newer(), Some("dra"));
        assert_eq!(h.newer(), None);
        assert_eq!(h.older(""), Some("two"));
        h.stop();
        assert_eq!(h.newer(), None);
    }
}
