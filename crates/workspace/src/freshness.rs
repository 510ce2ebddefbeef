//! Edit → searchable latency, measured by the indexer itself: no queries involved, so the
//! measure takes no model time and never mistakes one edit's passage for another's.
//!
//! Pure bookkeeping (no I/O, times passed in). For each object a keyword pass re-chunked with
//! changed text, [`Freshness::applied`] records the *keyword* lag of the pass's edits to it
//! (change-log commit time → the pass's chunks are in BM25) and opens an entry, numbered by a
//! ticket, that waits for the chunks that lost their vector. A chunk stops waiting when its
//! pass's changed passage gets a provisional vector ([`Freshness::passage_landed`]) or a vector of
//! text read after the entry opened lands ([`Freshness::vector_landed`]); an object whose chunks
//! all have vectors again settles every entry opened before ([`Freshness::object_settled`]). When
//! an entry waits for nothing more, the *meaning* lag of its edits is recorded. A settled entry
//! whose edit was overwritten meanwhile is recorded at the time it settled: the measure may
//! overstate, never understate.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use document::Id;

/// Latencies kept per measure (the newest); the summary's percentiles are over these.
pub const FRESHNESS_SAMPLES_MAX: usize = 4_096;
/// Entries waiting for vectors that are tracked, at most; beyond this (a bulk load) the oldest
/// are dropped unrecorded and counted in [`FreshnessSummary::edits_untracked`].
pub const FRESHNESS_OPEN_ENTRIES_MAX: usize = 10_000;

/// Percentiles of one latency measure over the newest samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagStats {
    /// Samples the percentiles are over (at most [`FRESHNESS_SAMPLES_MAX`]).
    pub samples: usize,
    pub p50_ms: u32,
    pub p90_ms: u32,
    pub p99_ms: u32,
    pub max_ms: u32,
}

/// What the tracker reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreshnessSummary {
    /// Change-log commit → findable by keyword, per edit.
    pub keyword: Option<LagStats>,
    /// Change-log commit → findable by meaning (a provisional or full vector of text that holds
    /// the edit), per edit.
    pub meaning: Option<LagStats>,
    /// Edits recorded since the server started (keyword stage).
    pub edits_recorded: u64,
    /// Edits not findable by meaning yet.
    pub edits_awaiting_meaning: usize,
    /// Edits dropped from the meaning measure because too many waited at once.
    pub edits_untracked: u64,
}

#[derive(Debug, Default)]
struct Samples {
    newest: VecDeque<u32>,
}

impl Samples {
    fn push(&mut self, lag_ms: i64) {
        if self.newest.len() == FRESHNESS_SAMPLES_MAX {
            self.newest.pop_front();
        }
        self.newest
            .push_back(u32::try_from(lag_ms.max(0)).unwrap_or(u32::MAX));
    }

    fn stats(&self) -> Option<LagStats> {
        if self.newest.is_empty() {
            return None;
        }
        let mut sorted: Vec<u32> = self.newest.iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)];
        Some(LagStats {
            samples: sorted.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: sorted[sorted.len() - 1],
        })
    }
}

#[derive(Debug)]
struct Entry {
    object_id: Id,
    /// Change-log commit times of the edits, in ms.
    edit_times_ms: Vec<i64>,
    /// Chunks still without a vector that holds the edits.
    waiting: HashSet<u64>,
}

/// The tracker. See the module documentation.
#[derive(Debug, Default)]
pub struct Freshness {
    keyword: Samples,
    meaning: Samples,
    open: BTreeMap<u64, Entry>,
    /// Open tickets by chunk and by object.
    by_chunk: HashMap<u64, Vec<u64>>,
    by_object: HashMap<Id, Vec<u64>>,
    next_ticket: u64,
    edits_recorded: u64,
    edits_untracked: u64,
}

impl Freshness {
    pub fn new() -> Freshness {
        Freshness::default()
    }

    /// The ticket the next entry gets: every entry opened so far has a smaller one.
    pub fn next_ticket(&self) -> u64 {
        self.next_ticket
    }

    /// The keyword stage put `object_id`'s chunks into BM25 at `now_ms`, for edits committed at
    /// `edit_times_ms`; `waiting` are its chunks without a vector. Records the keyword lags and,
    /// when nothing waits, the meaning lags too. Returns the entry's ticket (for its passages)
    /// when something waits.
    pub fn applied(
        &mut self,
        object_id: Id,
        edit_times_ms: &[i64],
        waiting: &[u64],
        now_ms: i64,
    ) -> Option<u64> {
        if edit_times_ms.is_empty() {
            return None;
        }
        for time in edit_times_ms {
            self.keyword.push(now_ms - time);
        }
        self.edits_recorded += edit_times_ms.len() as u64;
        if waiting.is_empty() {
            for time in edit_times_ms {
                self.meaning.push(now_ms - time);
            }
            return None;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        for chunk in waiting {
            self.by_chunk.entry(*chunk).or_default().push(ticket);
        }
        self.by_object.entry(object_id).or_default().push(ticket);
        self.open.insert(
            ticket,
            Entry {
                object_id,
                edit_times_ms: edit_times_ms.to_vec(),
                waiting: waiting.iter().copied().collect(),
            },
        );
        while self.open.len() > FRESHNESS_OPEN_ENTRIES_MAX {
            let Some((oldest, _)) = self.open.first_key_value() else {
                break;
            };
            let oldest = *oldest;
            if let Some(entry) = self.remove(oldest) {
                self.edits_untracked += entry.edit_times_ms.len() as u64;
            }
        }
        Some(ticket)
    }

    /// The changed passage of entry `ticket` in `chunk` is searchable by meaning.
    pub fn passage_landed(&mut self, ticket: u64, chunk: u64, now_ms: i64) {
        if let Some(entry) = self.open.get_mut(&ticket)
            && entry.waiting.remove(&chunk)
            && entry.waiting.is_empty()
        {
            self.resolve(ticket, now_ms);
        }
    }

    /// A vector of `chunk`'s text as it was after every entry numbered below `tickets_below`
    /// opened is searchable: those entries stop waiting for the chunk.
    pub fn vector_landed(&mut self, chunk: u64, tickets_below: u64, now_ms: i64) {
        for ticket in below(self.by_chunk.get(&chunk), tickets_below) {
            self.passage_landed(ticket, chunk, now_ms);
        }
    }

    /// Every chunk of `object_id` has a vector of its text as it was after every entry numbered
    /// below `tickets_below` opened: those entries are settled.
    pub fn object_settled(&mut self, object_id: Id, tickets_below: u64, now_ms: i64) {
        for ticket in below(self.by_object.get(&object_id), tickets_below) {
            self.resolve(ticket, now_ms);
        }
    }

    /// Entries of `object_id` are dropped unrecorded (the object is gone).
    pub fn object_gone(&mut self, object_id: Id) {
        for ticket in self.by_object.get(&object_id).cloned().unwrap_or_default() {
            self.remove(ticket);
        }
    }

    pub fn summary(&self) -> FreshnessSummary {
        FreshnessSummary {
            keyword: self.keyword.stats(),
            meaning: self.meaning.stats(),
            edits_recorded: self.edits_recorded,
            edits_awaiting_meaning: self.open.values().map(|e| e.edit_times_ms.len()).sum(),
            edits_untracked: self.edits_untracked,
        }
    }

    fn resolve(&mut self, ticket: u64, now_ms: i64) {
        if let Some(entry) = self.remove(ticket) {
            for time in entry.edit_times_ms {
                self.meaning.push(now_ms - time);
            }
        }
    }

    fn remove(&mut self, ticket: u64) -> Option<Entry> {
        let entry = self.open.remove(&ticket)?;
        for chunk in &entry.waiting {
            if let Some(tickets) = self.by_chunk.get_mut(chunk) {
                tickets.retain(|t| *t != ticket);
                if tickets.is_empty() {
                    self.by_chunk.remove(chunk);
                }
            }
        }
        if let Some(tickets) = self.by_object.get_mut(&entry.object_id) {
            tickets.retain(|t| *t != ticket);
            if tickets.is_empty() {
                self.by_object.remove(&entry.object_id);
            }
        }
        Some(entry)
    }
}

/// The tickets in `tickets` numbered below `bound`.
fn below(tickets: Option<&Vec<u64>>, bound: u64) -> Vec<u64> {
    tickets
        .into_iter()
        .flatten()
        .copied()
        .filter(|t| *t < bound)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Id {
        Id::from_u128(n)
    }

    #[test]
    fn an_edit_without_changed_vectors_is_fresh_by_meaning_when_applied() {
        let mut f = Freshness::new();
        assert_eq!(f.applied(id(1), &[1_000, 1_010], &[], 1_050), None);
        let s = f.summary();
        assert_eq!(s.keyword.unwrap().max_ms, 50);
        assert_eq!(s.meaning.unwrap().samples, 2);
        assert_eq!(s.edits_awaiting_meaning, 0);
    }

    #[test]
    fn an_entry_waits_for_every_changed_chunk() {
        let mut f = Freshness::new();
        let t = f.applied(id(1), &[1_000], &[7, 8], 1_040).unwrap();
        assert_eq!(f.summary().keyword.unwrap().p50_ms, 40);
        f.passage_landed(t, 7, 1_300);
        assert!(f.summary().meaning.is_none(), "chunk 8 still waits");
        // A passage of another entry does not count for this one.
        f.passage_landed(t + 1, 8, 1_400);
        assert!(f.summary().meaning.is_none());
        // A vector of text read before the entry opened does not cover it.
        f.vector_landed(8, t, 1_500);
        assert!(f.summary().meaning.is_none());
        f.vector_landed(8, t + 1, 1_600);
        let s = f.summary();
        assert_eq!(s.meaning.unwrap().max_ms, 600);
        assert_eq!(s.edits_awaiting_meaning, 0);
    }

    #[test]
    fn settling_an_object_covers_only_entries_opened_before() {
        let mut f = Freshness::new();
        let a = f.applied(id(1), &[0], &[1], 10).unwrap();
        let below = f.next_ticket();
        let b = f.applied(id(1), &[20], &[1], 30).unwrap();
        assert!(a < below && b >= below);
        f.object_settled(id(1), below, 100);
        let s = f.summary();
        assert_eq!(s.meaning.unwrap().samples, 1);
        assert_eq!(s.edits_awaiting_meaning, 1);
        f.object_gone(id(1));
        let s = f.summary();
        assert_eq!(s.edits_awaiting_meaning, 0);
        assert_eq!(
            s.meaning.unwrap().samples,
            1,
            "a gone object's edits are not recorded"
        );
    }

    #[test]
    fn too_many_open_entries_drop_the_oldest_unrecorded() {
        let mut f = Freshness::new();
        for n in 0..(FRESHNESS_OPEN_ENTRIES_MAX as u128 + 3) {
            f.applied(id(n), &[0], &[n as u64], 1);
        }
        let s = f.summary();
        assert_eq!(s.edits_untracked, 3);
        assert_eq!(s.edits_awaiting_meaning, FRESHNESS_OPEN_ENTRIES_MAX);
        // The dropped entries' chunks are forgotten too.
        f.vector_landed(0, u64::MAX, 5);
        assert!(f.summary().meaning.is_none());
        f.vector_landed(3, u64::MAX, 5);
        assert_eq!(f.summary().meaning.unwrap().samples, 1);
    }

    #[test]
    fn percentiles_are_over_the_newest_samples() {
        let mut f = Freshness::new();
        for n in 0..(FRESHNESS_SAMPLES_MAX as i64 + 100) {
            f.applied(id(1), &[0], &[], n);
        }
        let k = f.summary().keyword.unwrap();
        assert_eq!(k.samples, FRESHNESS_SAMPLES_MAX);
        assert_eq!(k.max_ms, FRESHNESS_SAMPLES_MAX as u32 + 99);
        assert!(k.p50_ms >= 100 + FRESHNESS_SAMPLES_MAX as u32 / 2 - 1);
        assert_eq!(
            f.summary().edits_recorded,
            FRESHNESS_SAMPLES_MAX as u64 + 100
        );
    }
}
