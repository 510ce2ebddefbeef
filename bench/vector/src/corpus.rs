//! The corpus: WordNet 3.0 from Debian's `wordnet-base`, one document per synset.

use std::path::Path;

use crate::BenchResult;

/// Where `apt-get install wordnet-base` puts the database.
pub const WORDNET_DIR: &str = "/usr/share/wordnet";

/// The data files and the part-of-speech name each contributes to a document.
const DATA_FILES: [(&str, &str); 4] = [
    ("data.noun", "noun"),
    ("data.verb", "verb"),
    ("data.adj", "adj"),
    ("data.adv", "adv"),
];

/// Synsets in WordNet 3.0 (82,115 nouns, 13,767 verbs, 18,156 adjectives, 3,621 adverbs).
pub const WORDNET_SYNSETS: usize = 117_659;

/// Reads every synset as `"lemma, lemma (pos): gloss"`, in file order.
pub fn load(dir: &Path) -> BenchResult<Vec<String>> {
    let mut documents = Vec::with_capacity(WORDNET_SYNSETS);
    for (file, pos) in DATA_FILES {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|error| {
            format!(
                "{}: {error} (install it with `apt-get install -y wordnet-base`)",
                path.display()
            )
        })?;
        for (number, line) in text.lines().enumerate() {
            // The license header lines start with two spaces.
            if line.starts_with("  ") || line.is_empty() {
                continue;
            }
            let document = parse_line(line, pos)
                .ok_or_else(|| format!("{}:{}: not a synset line", path.display(), number + 1))?;
            documents.push(document);
        }
    }
    Ok(documents)
}

/// One line of a `data.*` file: `offset lex_filenum ss_type w_cnt word lex_id [word lex_id...]
/// p_cnt [pointers...] [frames...] | gloss`, where `w_cnt` is two hex digits.
fn parse_line(line: &str, pos: &str) -> Option<String> {
    let (fields, gloss) = line.split_once(" | ")?;
    let mut fields = fields.split(' ');
    let _offset = fields.next()?;
    let _lex_filenum = fields.next()?;
    let _ss_type = fields.next()?;
    let word_count = usize::from_str_radix(fields.next()?, 16).ok()?;
    let mut lemmas = Vec::with_capacity(word_count);
    for _ in 0..word_count {
        let word = fields.next()?;
        let _lex_id = fields.next()?;
        lemmas.push(clean_lemma(word));
    }
    Some(format!(
        "{} ({pos}): {}",
        lemmas.join(", "),
        gloss.trim_end()
    ))
}

/// Underscores stand for spaces, and adjectives may carry a syntactic marker such as `(a)`,
/// `(p)` or `(ip)` that is not part of the word.
fn clean_lemma(word: &str) -> String {
    let word = match word.find('(') {
        Some(marker) if word.ends_with(')') => &word[..marker],
        _ => word,
    };
    word.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_lemmas_pos_and_gloss() {
        let line = "00002312 00 a 02 abaxial 0 dorsal 4 002 ;c 06037666 n 0000 ! 00002527 a 0101 \
                    | facing away from the axis of an organ or organism  ";
        assert_eq!(
            parse_line(line, "adj").unwrap(),
            "abaxial, dorsal (adj): facing away from the axis of an organ or organism"
        );
        let marked = "01 00 s 02 galore(ip) 0 long_ago 0 000 | in abundance";
        assert_eq!(
            parse_line(marked, "adj").unwrap(),
            "galore, long ago (adj): in abundance"
        );
        assert!(parse_line("no gloss here", "noun").is_none());
    }
}
