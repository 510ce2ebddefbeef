//! Structure-following chunking, pure: an object's text in, chunks with stable ids out.
//!
//! A page becomes sections: its properties (for data source rows), one section per heading of
//! its Markdown body (the heading path is kept with the chunk), and its comments. Each section is
//! cut into windows of at most [`CHUNK_WORDS_MAX`] words that overlap by [`CHUNK_OVERLAP_WORDS`].
//! A window's key is its heading path (without the page title) and its part number within the
//! section, so editing one section leaves every other section's chunk ids and texts unchanged,
//! and the indexer re-embeds only the chunks whose text changed.

use document::Id;
use sha2::{Digest, Sha256};

/// Words per chunk, at most. all-MiniLM-L6-v2 reads 256 word-piece tokens; English prose runs at
/// about 1.3 tokens per word, so 160 words plus the heading path is about 200–250 tokens.
pub const CHUNK_WORDS_MAX: usize = 160;

/// Words repeated at the start of the next chunk of the same section, so that a sentence cut at
/// a window boundary is still whole in one chunk.
pub const CHUNK_OVERLAP_WORDS: usize = 32;

/// Heading levels deeper than this are folded into the nearest kept level.
pub const HEADING_DEPTH_MAX: usize = 6;

/// Chunks per object, at most: a page longer than this (about 250,000 words) is indexed up to
/// here, and the rest is left out rather than letting one page dominate the index.
pub const CHUNKS_PER_OBJECT_MAX: usize = 2_000;

/// What the indexer reads of one page or data source, already trimmed of anything that belongs
/// to other objects (mentions of other pages are rendered without their titles).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectText {
    pub object_id: Id,
    pub title: String,
    /// `(name, value)` of each non-empty property other than the title.
    pub properties: Vec<(String, String)>,
    /// The body as Markdown.
    pub markdown: String,
    /// Plain text of each comment, oldest first.
    pub comments: Vec<String>,
}

/// One chunk of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Stable within the object: heading path without the title, and the part number.
    pub key: String,
    /// Position of the chunk within the object.
    pub ordinal: usize,
    /// Title first, then the headings above the chunk.
    pub heading_path: Vec<String>,
    pub text: String,
}

impl Chunk {
    /// The text that is embedded and keyword-indexed: the heading path, then the chunk text.
    pub fn indexed_text(&self) -> String {
        let path = self
            .heading_path
            .iter()
            .filter(|h| !h.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" > ");
        match (path.is_empty(), self.text.is_empty()) {
            (true, _) => self.text.clone(),
            (false, true) => path,
            (false, false) => format!("{path}\n{}", self.text),
        }
    }

    /// SHA-256 of [`Chunk::indexed_text`], hex: equal hashes mean the stored vector still fits.
    pub fn text_hash(&self) -> String {
        hex::encode(Sha256::digest(self.indexed_text().as_bytes()))
    }

    /// The id of this chunk in the indexes: 63 bits of SHA-256 over the object id and the key,
    /// so it is stable across edits elsewhere in the object and positive as an `i64`.
    pub fn id(&self, object_id: Id) -> i64 {
        chunk_id(object_id, &self.key)
    }
}

/// See [`Chunk::id`].
pub fn chunk_id(object_id: Id, key: &str) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(object_id.to_string().as_bytes());
    hasher.update([0u8]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(bytes) >> 1) as i64
}

struct Section {
    /// Headings below the title.
    headings: Vec<String>,
    /// A prefix for the key, so that sections with the same headings stay apart.
    kind: &'static str,
    words: Vec<String>,
}

/// Splits an object into chunks. Deterministic: the same text always gives the same chunks.
pub fn chunk_object(object: &ObjectText) -> Vec<Chunk> {
    let title = object.title.trim().to_string();
    let mut sections = Vec::new();
    let property_words: Vec<String> = object
        .properties
        .iter()
        .flat_map(|(name, value)| {
            format!("{name}: {value};")
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    if !property_words.is_empty() {
        sections.push(Section {
            headings: Vec::new(),
            kind: "p",
            words: property_words,
        });
    }
    sections.extend(markdown_sections(&object.markdown));
    let comment_words: Vec<String> = object
        .comments
        .iter()
        .flat_map(|c| c.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    if !comment_words.is_empty() {
        sections.push(Section {
            headings: vec!["Comments".to_string()],
            kind: "c",
            words: comment_words,
        });
    }

    let mut chunks = Vec::new();
    let mut seen_keys = std::collections::HashMap::<String, usize>::new();
    for section in sections {
        // Two sections under identical headings get distinct keys by order of appearance.
        let plain = format!("{}:{}", section.kind, section.headings.join("\u{1f}"));
        let seen = seen_keys.entry(plain.clone()).or_insert(0);
        let base = if *seen == 0 {
            plain
        } else {
            format!("{plain}\u{1e}{seen}")
        };
        *seen += 1;
        let mut heading_path = vec![title.clone()];
        heading_path.extend(section.headings.iter().cloned());
        for (part, window) in windows(&section.words).into_iter().enumerate() {
            if chunks.len() == CHUNKS_PER_OBJECT_MAX {
                return chunks;
            }
            chunks.push(Chunk {
                key: format!("{base}#{part}"),
                ordinal: chunks.len(),
                heading_path: heading_path.clone(),
                text: window.join(" "),
            });
        }
    }
    if chunks.is_empty() && !title.is_empty() {
        chunks.push(Chunk {
            key: "t:#0".to_string(),
            ordinal: 0,
            heading_path: vec![title],
            text: String::new(),
        });
    }
    chunks
}

/// Overlapping windows of at most [`CHUNK_WORDS_MAX`] words covering every word.
fn windows(words: &[String]) -> Vec<&[String]> {
    let stride = CHUNK_WORDS_MAX - CHUNK_OVERLAP_WORDS;
    let mut out = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let end = (start + CHUNK_WORDS_MAX).min(words.len());
        out.push(&words[start..end]);
        if end == words.len() {
            break;
        }
        start += stride;
    }
    out
}

/// Splits Markdown at ATX headings (outside code fences), keeping the heading stack.
fn markdown_sections(markdown: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut in_fence = false;
    let flush =
        |stack: &[(usize, String)], words: &mut Vec<String>, sections: &mut Vec<Section>| {
            if !words.is_empty() {
                sections.push(Section {
                    headings: stack.iter().map(|(_, h)| h.clone()).collect(),
                    kind: "b",
                    words: std::mem::take(words),
                });
            }
        };
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && let Some((level, heading)) = heading_of(trimmed) {
            flush(&stack, &mut words, &mut sections);
            while stack.last().is_some_and(|(l, _)| *l >= level) {
                stack.pop();
            }
            if stack.len() < HEADING_DEPTH_MAX {
                stack.push((level, heading));
            }
            continue;
        }
        words.extend(line.split_whitespace().map(str::to_string));
    }
    flush(&stack, &mut words, &mut sections);
    sections
}

/// `# Heading` → `(1, "Heading")`; Notion's toggle headings render the same way.
fn heading_of(line: &str) -> Option<(usize, String)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > HEADING_DEPTH_MAX {
        return None;
    }
    let rest = &line[level..];
    if !rest.starts_with(' ') {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim().to_string();
    Some((level, text))
}
