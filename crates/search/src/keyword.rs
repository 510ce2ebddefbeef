//! BM25 over the same chunks, on tantivy: English stemming, queries taken as plain words (any
//! user input is a query; none is query syntax), filtering by allowed chunk ids inside the collector, and highlighted
//! snippets.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TokenStream;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::{Error, Result};

/// Memory tantivy's writer may buffer before it flushes a segment.
pub const KEYWORD_WRITER_HEAP_BYTES: usize = 32 * 1024 * 1024;

/// Characters of a highlighted snippet, at most.
pub const SNIPPET_CHARS_MAX: usize = 240;

/// Longest query accepted, in bytes.
pub const QUERY_BYTES_MAX: usize = 2_000;

/// Distinct terms of a query that take part in ranking; later ones are ignored.
pub const QUERY_TERMS_MAX: usize = 64;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    object_id: Field,
    text: Field,
}

pub struct KeywordIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

/// A highlighted passage: `text` with byte ranges of the matched terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Highlight {
    pub text: String,
    pub ranges: Vec<(usize, usize)>,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let chunk_id = builder.add_u64_field("chunk_id", INDEXED | FAST | STORED);
    let object_id = builder.add_text_field("object_id", STRING);
    let text_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let text = builder.add_text_field("text", text_options);
    (
        builder.build(),
        Fields {
            chunk_id,
            object_id,
            text,
        },
    )
}

fn keyword_error(error: tantivy::TantivyError) -> Error {
    Error::Keyword(error.to_string())
}

impl KeywordIndex {
    /// Opens the index in `dir` (creating it), or an in-memory one.
    pub fn open(dir: Option<&Path>) -> Result<KeywordIndex> {
        let (schema, fields) = schema();
        let index = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let directory = tantivy::directory::MmapDirectory::open(dir)
                    .map_err(|e| Error::Keyword(e.to_string()))?;
                let index =
                    Index::open_or_create(directory, schema.clone()).map_err(keyword_error)?;
                if index.schema() != schema {
                    return Err(Error::Keyword(
                        "the keyword index on disk has another schema".into(),
                    ));
                }
                index
            }
            None => Index::create_in_ram(schema),
        };
        let writer = index
            .writer_with_num_threads(1, KEYWORD_WRITER_HEAP_BYTES)
            .map_err(keyword_error)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(keyword_error)?;
        Ok(KeywordIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// Number of chunks searchable now.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces all chunks of the given objects, then commits (durable when this returns) and
    /// makes them searchable.
    pub fn replace(&self, objects: &[(String, Vec<(u64, String)>)]) -> Result<()> {
        let mut writer = self.writer.lock().map_err(|_| Error::Poisoned)?;
        for (object_id, chunks) in objects {
            writer.delete_term(Term::from_field_text(self.fields.object_id, object_id));
            for (chunk_id, text) in chunks {
                let mut doc = TantivyDocument::default();
                doc.add_u64(self.fields.chunk_id, *chunk_id);
                doc.add_text(self.fields.object_id, object_id);
                doc.add_text(self.fields.text, text);
                writer.add_document(doc).map_err(keyword_error)?;
            }
        }
        writer.commit().map_err(keyword_error)?;
        drop(writer);
        self.reader.reload().map_err(keyword_error)
    }

    /// Removes everything (before a rebuild).
    pub fn clear(&self) -> Result<()> {
        let mut writer = self.writer.lock().map_err(|_| Error::Poisoned)?;
        writer.delete_all_documents().map_err(keyword_error)?;
        writer.commit().map_err(keyword_error)?;
        drop(writer);
        self.reader.reload().map_err(keyword_error)
    }

    fn parse(&self, query: &str) -> Result<Box<dyn Query>> {
        if query.len() > QUERY_BYTES_MAX {
            return Err(Error::QueryTooLong {
                bytes: query.len(),
                max: QUERY_BYTES_MAX,
            });
        }
        // The text is words, never query syntax: `title:* OR body:*` asks for the words
        // "title", "or" and "body". Each distinct term (after the field's own analyzer, so
        // stemming agrees with the index) is an optional clause, as a lenient parser's default.
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.fields.text)
            .map_err(keyword_error)?;
        let mut stream = analyzer.token_stream(query);
        let mut terms: Vec<Term> = Vec::new();
        while let Some(token) = stream.next() {
            let term = Term::from_field_text(self.fields.text, &token.text);
            if !terms.contains(&term) {
                terms.push(term);
            }
            if terms.len() == QUERY_TERMS_MAX {
                break;
            }
        }
        let clauses = terms
            .into_iter()
            .map(|term| {
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, query)
            })
            .collect();
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// The best `limit` chunks for `query` by BM25, among `allowed` when given, best first.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        allowed: Option<Arc<HashSet<u64>>>,
    ) -> Result<Vec<(u64, f32)>> {
        if limit == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let parsed = self.parse(query)?;
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit).order_by_score();
        let hits = match allowed {
            Some(allowed) => {
                let filter = FilterCollector::new(
                    "chunk_id".to_string(),
                    move |id: u64| allowed.contains(&id),
                    top,
                );
                searcher.search(&*parsed, &filter).map_err(keyword_error)?
            }
            None => searcher.search(&*parsed, &top).map_err(keyword_error)?,
        };
        let mut out = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let doc: TantivyDocument = searcher.doc(address).map_err(keyword_error)?;
            let id = doc
                .get_first(self.fields.chunk_id)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| Error::Keyword("a keyword document has no chunk id".into()))?;
            out.push((id, score));
        }
        Ok(out)
    }

    /// Highlights `query`'s terms in each text (the best passage of each).
    pub fn highlight(&self, query: &str, texts: &[&str]) -> Result<Vec<Highlight>> {
        let parsed = self.parse(query)?;
        let searcher = self.reader.searcher();
        let mut generator = SnippetGenerator::create(&searcher, &*parsed, self.fields.text)
            .map_err(keyword_error)?;
        generator.set_max_num_chars(SNIPPET_CHARS_MAX);
        Ok(texts
            .iter()
            .map(|text| {
                let snippet = generator.snippet(text);
                if snippet.fragment().is_empty() {
                    return Highlight {
                        text: leading_passage(text),
                        ranges: Vec::new(),
                    };
                }
                Highlight {
                    text: snippet.fragment().to_string(),
                    ranges: snippet
                        .highlighted()
                        .iter()
                        .map(|range| (range.start, range.end))
                        .collect(),
                }
            })
            .collect())
    }
}

/// The first [`SNIPPET_CHARS_MAX`] characters, cut at a word boundary.
pub fn leading_passage(text: &str) -> String {
    if text.chars().count() <= SNIPPET_CHARS_MAX {
        return text.to_string();
    }
    let cut: String = text.chars().take(SNIPPET_CHARS_MAX).collect();
    match cut.rfind(char::is_whitespace) {
        Some(space) if space > SNIPPET_CHARS_MAX / 2 => format!("{}…", cut[..space].trim_end()),
        _ => format!("{cut}…"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn index() -> KeywordIndex {
        let index = KeywordIndex::open(None).unwrap();
        index
            .replace(&[(
                "page".to_string(),
                vec![
                    (
                        1,
                        "On-call runbook: title and body of the pager rota".to_string(),
                    ),
                    (2, "Release process, OR gates and AND reviews".to_string()),
                ],
            )])
            .unwrap();
        index
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Any text up to the limit is a query of plain words (Tantivy's query syntax,
        /// `title:* OR body:*`, ranges, quotes, boosts, never reaches a parser that can
        /// refuse it); search and highlight both answer.
        #[test]
        fn any_text_is_a_query(
            text in prop_oneof![
                ".{0,200}",
                "[a-z:*()\\[\\]{}\"'^~+\\-!&| ]{0,80}",
            ]
        ) {
            let index = index();
            prop_assert!(index.search(&text, 10, None).is_ok());
            prop_assert!(index.highlight(&text, &["the pager rota"]).is_ok());
        }
    }

    #[test]
    fn syntax_reads_as_words_and_long_text_is_refused() {
        let index = index();
        let hits = index.search("title:* OR body:*", 10, None).unwrap();
        assert_eq!(hits.first().map(|hit| hit.0), Some(1));
        let long = "word ".repeat(QUERY_BYTES_MAX / 5 + 1);
        assert!(matches!(
            index.search(&long, 10, None),
            Err(Error::QueryTooLong { .. })
        ));
    }
}
