//! Provisional vectors: how a chunk whose text just changed is found by meaning before the model
//! has re-embedded all of it (pure: no I/O, in memory only).
//!
//! Embedding a whole ~200-token chunk costs tens of milliseconds on two cores, so under a steady
//! stream of edits the full re-embedding of each changed chunk lags behind. Meanwhile the chunk
//! keeps two kinds of provisional vectors, each of a *passage* of its current text:
//!
//! - the vector of the **changed passage** (the words an edit added or replaced, with a few words
//!   of context either side): short, so the model embeds it in a few milliseconds;
//! - the vector of an **earlier version** of the chunk, while that version is still a passage of
//!   the current text (an append to the chunk keeps the old text as its start).
//!
//! A passage no longer in the chunk's text drops out at once ([`Provisional::retain_passages`]),
//! so no provisional vector ever stands for text the chunk does not hold; the chunk's full vector
//! replaces them all when it lands. Nothing here is durable: after a restart, chunks waiting for
//! vectors are re-embedded in full, and are found by keyword meanwhile.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Provisional vectors one chunk keeps, at most (the lowest sequence numbers go first, and the
/// edits they held are not found by meaning again until the full vector lands). Under a steady
/// 20 edits/s on 20 pages a hot chunk got its full vector about every 20 s, so 16 dropped
/// passages the bench then missed for up to 20 s; 64 leaves room for a minute of edits at one a
/// second.
pub const PROVISIONAL_PER_CHUNK_MAX: usize = 64;
/// Provisional vectors the whole index keeps, at most (about 30 MB at 384 dimensions); beyond
/// this new ones are refused, and the chunks wait for their full vectors.
pub const PROVISIONAL_VECTORS_MAX: usize = 20_000;
/// Words of unchanged text kept on each side of a changed passage.
pub const PASSAGE_CONTEXT_WORDS: usize = 8;
/// Words a changed passage may have, at most (about 60–80 tokens): a larger change waits for the
/// full re-embedding, which it costs about as much as.
pub const PASSAGE_WORDS_MAX: usize = 48;
/// Passages one semantic hit names, at most: its best, then any other of its provisional vectors
/// that ranked among the query's nearest vectors (see `ContentIndex::semantic`).
pub const MATCHED_PASSAGES_PER_HIT_MAX: usize = 8;

/// One provisional vector.
#[derive(Debug, Clone)]
struct Entry {
    /// Orders provisional vectors of a chunk: a full-chunk vector made from the text as it was
    /// at sequence `s` covers every entry at or below `s`.
    seq: u64,
    /// The passage of the chunk's text the vector was embedded from.
    passage: Arc<str>,
    vector: Vec<f32>,
}

/// The provisional vectors of the chunks waiting for their full vectors.
#[derive(Debug, Default)]
pub struct Provisional {
    by_chunk: HashMap<u64, Vec<Entry>>,
    total: usize,
    /// Vectors dropped for [`PROVISIONAL_PER_CHUNK_MAX`] or refused for
    /// [`PROVISIONAL_VECTORS_MAX`], since the start.
    dropped: u64,
}

/// A passage whose provisional vector matched a query.
#[derive(Debug, Clone, PartialEq)]
pub struct PassageMatch {
    pub passage: Arc<str>,
    /// Cosine similarity of the passage's vector to the query (the vectors are unit length).
    pub score: f32,
}

/// A chunk's provisional matches for a query.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionalHit {
    pub chunk_id: u64,
    /// Each of the chunk's provisional vectors, most similar first (never empty).
    pub passages: Vec<PassageMatch>,
}

impl ProvisionalHit {
    /// The chunk's score: its best passage's (minus infinity for a hit without passages, which
    /// `Provisional::search` never returns).
    pub fn score(&self) -> f32 {
        self.passages
            .first()
            .map_or(f32::NEG_INFINITY, |best| best.score)
    }
}

impl Provisional {
    pub fn new() -> Provisional {
        Provisional::default()
    }

    /// Provisional vectors held.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Provisional vectors dropped or refused for lack of room since the start: each is a
    /// passage not findable by meaning until its chunk's full vector lands.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds a vector of `passage` for `chunk_id` (a chunk's lowest `seq` goes first when it
    /// is full). Returns whether it was kept: not when the index is full, nor when the chunk
    /// already has an entry with the same passage.
    pub fn add(&mut self, chunk_id: u64, seq: u64, passage: Arc<str>, vector: Vec<f32>) -> bool {
        let entries = self.by_chunk.entry(chunk_id).or_default();
        let duplicate = entries.iter().any(|e| e.passage == passage);
        if duplicate || self.total >= PROVISIONAL_VECTORS_MAX {
            if entries.is_empty() {
                self.by_chunk.remove(&chunk_id);
            }
            self.dropped += u64::from(!duplicate);
            return false;
        }
        if entries.len() == PROVISIONAL_PER_CHUNK_MAX
            && let Some(oldest) = entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.seq)
                .map(|(i, _)| i)
        {
            entries.swap_remove(oldest);
            self.total -= 1;
            self.dropped += 1;
        }
        entries.push(Entry {
            seq,
            passage,
            vector,
        });
        self.total += 1;
        true
    }

    /// Keeps only the chunk's vectors whose passage is still part of `text` (its new indexed
    /// text).
    pub fn retain_passages(&mut self, chunk_id: u64, text: &str) {
        let Some(entries) = self.by_chunk.get_mut(&chunk_id) else {
            return;
        };
        let before = entries.len();
        entries.retain(|e| contains_passage(text, &e.passage));
        self.total -= before - entries.len();
        if entries.is_empty() {
            self.by_chunk.remove(&chunk_id);
        }
    }

    /// Drops every provisional vector of the chunk (its full vector landed, or it is gone).
    pub fn remove(&mut self, chunk_id: u64) {
        if let Some(entries) = self.by_chunk.remove(&chunk_id) {
            self.total -= entries.len();
        }
    }

    pub fn clear(&mut self) {
        self.by_chunk.clear();
        self.total = 0;
    }

    /// The allowed chunks with provisional vectors, each with every passage scored against
    /// `query` (a unit vector), chunks by their best passage, best first, at most `k`. Exact: the
    /// set is small (chunks edited in the last moments).
    pub fn search(&self, query: &[f32], k: usize, allowed: &HashSet<u64>) -> Vec<ProvisionalHit> {
        let mut hits: Vec<ProvisionalHit> = self
            .by_chunk
            .iter()
            .filter(|(chunk_id, _)| allowed.contains(chunk_id))
            .filter_map(|(chunk_id, entries)| {
                let mut passages: Vec<PassageMatch> = entries
                    .iter()
                    .filter(|e| e.vector.len() == query.len())
                    .map(|e| PassageMatch {
                        passage: e.passage.clone(),
                        score: vector_index::dot(query, &e.vector),
                    })
                    .collect();
                passages.sort_by(|a, b| {
                    b.score
                        .total_cmp(&a.score)
                        .then_with(|| a.passage.cmp(&b.passage))
                });
                (!passages.is_empty()).then_some(ProvisionalHit {
                    chunk_id: *chunk_id,
                    passages,
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score()
                .total_cmp(&a.score())
                .then_with(|| a.chunk_id.cmp(&b.chunk_id))
        });
        hits.truncate(k);
        hits
    }
}

/// Whether `passage` occurs in `text` as whole words (bounded by whitespace or the ends).
pub fn contains_passage(text: &str, passage: &str) -> bool {
    if passage.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(found) = text[from..].find(passage) {
        let start = from + found;
        let end = start + passage.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if before.is_none_or(char::is_whitespace) && after.is_none_or(char::is_whitespace) {
            return true;
        }
        // Step past the first character of this match.
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The passage of `new` (words separated by single spaces, as chunk texts are) that an edit
/// from `old` added or replaced, with up to [`PASSAGE_CONTEXT_WORDS`] unchanged words either
/// side; `None` when nothing was added (a pure deletion or no change) or the passage would
/// exceed [`PASSAGE_WORDS_MAX`] words. `old` is `None` for a new chunk: all of it is the passage.
pub fn changed_passage(old: Option<&str>, new: &str) -> Option<String> {
    let new_words: Vec<&str> = new.split_whitespace().collect();
    let old_words: Vec<&str> = old
        .map(|o| o.split_whitespace().collect())
        .unwrap_or_default();
    let prefix = old_words
        .iter()
        .zip(&new_words)
        .take_while(|(a, b)| a == b)
        .count();
    let room = old_words.len().min(new_words.len()) - prefix;
    let suffix = old_words
        .iter()
        .rev()
        .zip(new_words.iter().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    let changed_end = new_words.len() - suffix;
    if changed_end <= prefix {
        return None;
    }
    let start = prefix.saturating_sub(PASSAGE_CONTEXT_WORDS);
    let end = (changed_end + PASSAGE_CONTEXT_WORDS).min(new_words.len());
    (end - start <= PASSAGE_WORDS_MAX).then(|| new_words[start..end].join(" "))
}

/// The words a chunk carries over from the chunk before it in the same section (the window
/// overlap of chunking): the longest run of words that ends `previous`
/// and starts `next`, or `None` when they share none. For a chunk that did not exist before an
/// edit, this is its "old" text for [`changed_passage`], so that its passage is the words the
/// edit added, not the whole new window.
pub fn carried_over(previous: &str, next: &str) -> Option<String> {
    let previous: Vec<&str> = previous.split_whitespace().collect();
    let next: Vec<&str> = next.split_whitespace().collect();
    (1..=previous.len().min(next.len()))
        .rev()
        .find(|&k| previous[previous.len() - k..] == next[..k])
        .map(|k| next[..k].join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_window_carries_over_the_tail_of_the_one_before() {
        assert_eq!(carried_over("a b c d e", "d e f g").as_deref(), Some("d e"));
        assert_eq!(carried_over("a b c", "x y"), None);
        // The longest shared run wins, and a run inside `previous` does not count.
        assert_eq!(carried_over("x a a", "a a b").as_deref(), Some("a a"));
        assert_eq!(carried_over("a b x", "a b c"), None);
        // The passage of a new window is then only what the edit added, with context.
        let previous = (0..160)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let added = (0..20)
            .map(|i| format!("n{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let next = format!(
            "{} {added}",
            (128..160)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(
            changed_passage(None, &next),
            None,
            "the whole window is too long"
        );
        let old = carried_over(&previous, &next).unwrap();
        assert_eq!(
            changed_passage(Some(&old), &next).as_deref(),
            Some(format!("w152 w153 w154 w155 w156 w157 w158 w159 {added}").as_str())
        );
    }

    fn unit(values: &[f32]) -> Vec<f32> {
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        values.iter().map(|v| v / norm).collect()
    }

    #[test]
    fn passages_match_whole_words_only() {
        assert!(contains_passage("alpha beta gamma", "beta gamma"));
        assert!(contains_passage("Title\nalpha beta", "alpha"));
        assert!(contains_passage("alpha beta", "alpha beta"));
        assert!(!contains_passage("alphabet beta", "alpha"));
        assert!(!contains_passage("alpha betamax", "alpha beta"));
        assert!(contains_passage("xbeta beta", "beta"));
        assert!(!contains_passage("alpha", ""));
        assert!(contains_passage("é café", "café"));
    }

    #[test]
    fn an_append_yields_the_new_words_with_context() {
        let old = "a b c d e f g h i j";
        let new = "a b c d e f g h i j k l";
        assert_eq!(
            changed_passage(Some(old), new).as_deref(),
            Some("c d e f g h i j k l")
        );
        // A replacement in the middle keeps context on both sides.
        let old: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
        let mut new = old.clone();
        new[15] = "changed".into();
        let passage = changed_passage(Some(&old.join(" ")), &new.join(" ")).unwrap();
        assert_eq!(passage, new[7..24].join(" "));
        // A deletion adds nothing; no change changes nothing.
        assert_eq!(changed_passage(Some("a b c"), "a c"), None);
        assert_eq!(changed_passage(Some("a b c"), "a b c"), None);
        // A new chunk is its own passage, if short enough.
        assert_eq!(changed_passage(None, "x y").as_deref(), Some("x y"));
        let long: Vec<String> = (0..PASSAGE_WORDS_MAX + 1).map(|i| i.to_string()).collect();
        assert_eq!(changed_passage(None, &long.join(" ")), None);
    }

    #[test]
    fn repeated_words_do_not_overlap_prefix_and_suffix() {
        // "a a" -> "a a a": prefix 2, and the suffix may not reuse those words.
        assert_eq!(
            changed_passage(Some("a a"), "a a a").as_deref(),
            Some("a a a")
        );
    }

    #[test]
    fn search_ranks_chunks_by_their_best_passage_and_respects_allowed() {
        let mut p = Provisional::new();
        assert!(p.add(1, 1, "one".into(), unit(&[1.0, 0.0])));
        assert!(p.add(1, 2, "two".into(), unit(&[0.6, 0.8])));
        assert!(p.add(2, 3, "three".into(), unit(&[0.0, 1.0])));
        let allowed: HashSet<u64> = [1, 2].into();
        let hits = p.search(&unit(&[0.0, 1.0]), 10, &allowed);
        assert_eq!(hits.len(), 2);
        let passages = |hit: &ProvisionalHit| -> Vec<String> {
            hit.passages.iter().map(|m| m.passage.to_string()).collect()
        };
        assert_eq!(
            (hits[0].chunk_id, passages(&hits[0])),
            (2, vec!["three".into()])
        );
        // Every passage of a chunk is scored, best first.
        assert_eq!(
            (hits[1].chunk_id, passages(&hits[1])),
            (1, vec!["two".to_string(), "one".to_string()])
        );
        assert!((hits[1].score() - 0.8).abs() < 1e-6);
        let only_one: HashSet<u64> = [1].into();
        assert_eq!(p.search(&unit(&[0.0, 1.0]), 10, &only_one).len(), 1);
        assert_eq!(p.search(&unit(&[0.0, 1.0]), 1, &allowed).len(), 1);
    }

    #[test]
    fn passages_leave_with_their_text_and_a_chunk_keeps_each_passage_once() {
        let mut p = Provisional::new();
        p.add(1, 1, "alpha beta".into(), unit(&[1.0, 0.0]));
        p.add(1, 2, "gamma".into(), unit(&[0.0, 1.0]));
        p.add(1, 3, "delta".into(), unit(&[0.0, 1.0]));
        assert_eq!(p.len(), 3);
        p.retain_passages(1, "T\nalpha beta delta");
        assert_eq!(p.len(), 2);
        // A vector of a whole earlier text stays beside the passages it holds.
        assert!(p.add(1, 4, "alpha beta delta".into(), unit(&[1.0, 1.0])));
        assert_eq!(p.len(), 3);
        p.remove(1);
        assert!(p.is_empty());
        // The same passage twice is kept once.
        assert!(p.add(5, 1, "x".into(), unit(&[1.0, 0.0])));
        assert!(!p.add(5, 2, "x".into(), unit(&[1.0, 0.0])));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn a_chunk_keeps_at_most_its_share() {
        let mut p = Provisional::new();
        for seq in 0..(PROVISIONAL_PER_CHUNK_MAX as u64 + 5) {
            assert!(p.add(9, seq, format!("w{seq}").into(), unit(&[1.0, 0.0])));
        }
        assert_eq!(p.len(), PROVISIONAL_PER_CHUNK_MAX);
        assert_eq!(p.dropped(), 5, "each vector pushed out is counted");
        let hits = p.search(&unit(&[1.0, 0.0]), 1, &[9].into());
        assert_eq!(hits.len(), 1);
        // The oldest went first.
        p.retain_passages(9, "w0 w1 w2 w3 w4");
        assert!(p.is_empty());
    }
}
