use document::Id;
use proptest::prelude::*;
use search::chunk::{CHUNK_OVERLAP_WORDS, CHUNK_WORDS_MAX};
use search::{ObjectText, chunk_object};

fn object(markdown: &str) -> ObjectText {
    ObjectText {
        object_id: Id::from_u128(7),
        title: "Runbook".into(),
        properties: Vec::new(),
        markdown: markdown.into(),
        comments: Vec::new(),
    }
}

fn words(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| format!("{tag}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn chunks_carry_their_heading_path() {
    let chunks = chunk_object(&object(
        "Intro text.\n# Paging\nWhen paged, ack.\n## Escalation\nCall the lead.\n# Handover\nWrite notes.",
    ));
    let paths: Vec<Vec<String>> = chunks.iter().map(|c| c.heading_path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            vec!["Runbook".to_string()],
            vec!["Runbook".into(), "Paging".into()],
            vec!["Runbook".into(), "Paging".into(), "Escalation".into()],
            vec!["Runbook".into(), "Handover".into()],
        ]
    );
    assert_eq!(chunks[2].text, "Call the lead.");
    assert_eq!(
        chunks[2].indexed_text(),
        "Runbook > Paging > Escalation\nCall the lead."
    );
}

#[test]
fn headings_inside_code_fences_are_text() {
    let chunks = chunk_object(&object("```\n# not a heading\n```\nafter"));
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].text.contains("# not a heading"));
}

#[test]
fn long_sections_are_cut_into_overlapping_windows() {
    let chunks = chunk_object(&object(&format!("# Long\n{}", words(400, "w"))));
    assert_eq!(chunks.len(), 3);
    let stride = CHUNK_WORDS_MAX - CHUNK_OVERLAP_WORDS;
    for (part, chunk) in chunks.iter().enumerate() {
        let first = part * stride;
        assert!(
            chunk.text.starts_with(&format!("w{first} ")),
            "{}",
            chunk.text
        );
        assert!(chunk.text.split_whitespace().count() <= CHUNK_WORDS_MAX);
    }
    assert!(chunks[2].text.ends_with("w399"));
}

#[test]
fn editing_one_section_keeps_the_other_chunks_ids_and_texts() {
    let before = chunk_object(&object(&format!(
        "# A\n{}\n# B\n{}\n# C\nthird",
        words(300, "a"),
        words(50, "b")
    )));
    let after = chunk_object(&object(&format!(
        "# A\n{}\n# B\n{} edited\n# C\nthird",
        words(300, "a"),
        words(50, "b")
    )));
    let id = Id::from_u128(7);
    let changed: Vec<&str> = after
        .iter()
        .filter(|c| {
            !before
                .iter()
                .any(|b| b.id(id) == c.id(id) && b.text_hash() == c.text_hash())
        })
        .map(|c| c.heading_path[1].as_str())
        .collect();
    assert_eq!(changed, vec!["B"], "only section B's chunk changed");
}

#[test]
fn properties_and_comments_are_sections_and_an_empty_page_keeps_its_title() {
    let chunks = chunk_object(&ObjectText {
        object_id: Id::from_u128(1),
        title: "Fix login".into(),
        properties: vec![("Status".into(), "Blocked".into())],
        markdown: String::new(),
        comments: vec!["Waiting on security review".into()],
    });
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].text, "Status: Blocked;");
    assert_eq!(chunks[1].heading_path, vec!["Fix login", "Comments"]);
    let only_title = chunk_object(&ObjectText {
        title: "Empty".into(),
        ..ObjectText::default()
    });
    assert_eq!(only_title.len(), 1);
    assert_eq!(only_title[0].indexed_text(), "Empty");
    assert!(chunk_object(&ObjectText::default()).is_empty());
}

proptest! {
    #[test]
    fn every_word_is_in_some_chunk_and_keys_are_unique(
        sections in prop::collection::vec((0usize..4, "[a-c]{1,3}", 0usize..400), 0..8)
    ) {
        let mut markdown = String::new();
        let mut expected = Vec::new();
        for (s, (level, heading, count)) in sections.iter().enumerate() {
            if *level > 0 {
                markdown += &format!("{} {heading}\n", "#".repeat(*level));
            }
            let body = words(*count, &format!("s{s}x"));
            expected.extend(body.split_whitespace().map(str::to_string));
            markdown += &body;
            markdown += "\n";
        }
        let chunks = chunk_object(&object(&markdown));
        let mut keys = std::collections::HashSet::new();
        for chunk in &chunks {
            prop_assert!(keys.insert(chunk.key.clone()), "duplicate key {}", chunk.key);
            prop_assert!(chunk.text.split_whitespace().count() <= CHUNK_WORDS_MAX);
        }
        let covered: std::collections::HashSet<&str> =
            chunks.iter().flat_map(|c| c.text.split_whitespace()).collect();
        for word in &expected {
            prop_assert!(covered.contains(word.as_str()), "{} lost", word);
        }
        prop_assert_eq!(chunk_object(&object(&markdown)), chunks, "not deterministic");
    }
}
