//! Round trips of random pages.

use proptest::prelude::*;

use super::*;
use crate::block::CODE_LANGUAGES;

fn text_strategy() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "",
        "",
        "",
        "# ",
        "- ",
        "1. ",
        "> ",
        "```",
        "$$",
        "---",
        "<details>",
        "[!NOTE] ",
        "| ",
        "  ",
        "[ ] ",
    ]);
    (
        prefix,
        "[a-z0-9 _*`~\\[\\]<>&#!$|\\\\().:+\\-=\t\n\u{a0}é]{0,12}",
    )
        .prop_map(|(prefix, text)| format!("{prefix}{text}"))
}

fn run_strategy() -> impl Strategy<Value = RichText> {
    let link = prop::sample::select(vec![
        None,
        None,
        Some("https://example.com"),
        Some("https://example.com/a_(b)*c\\d"),
        Some("https://example.com/a b"),
        Some("/0123456789abcdef0123456789abcdef"),
    ]);
    let text_run = (
        "[a-z0-9 _*`~\\[\\]<>&!$|\\\\\n]{1,8}",
        any::<[bool; 5]>(),
        link,
    )
        .prop_map(
            |(content, [bold, italic, strikethrough, underline, code], link)| RichText {
                kind: RichTextKind::Text {
                    content,
                    link: link.map(str::to_string),
                },
                annotations: Annotations {
                    bold,
                    italic,
                    strikethrough,
                    underline,
                    code,
                    color: Color::Default,
                },
                display: None,
            },
        );
    let equation = (
        prop::sample::select(vec!["x^2", "\\frac{a}{b}", "a \\$ b", "\\\\"]),
        any::<[bool; 2]>(),
    )
        .prop_map(|(expression, [bold, underline])| RichText {
            kind: RichTextKind::Equation {
                expression: expression.to_string(),
            },
            annotations: Annotations {
                bold,
                underline,
                ..Default::default()
            },
            display: None,
        });
    prop_oneof![6 => text_run, 1 => equation]
}

fn rich_text_strategy() -> impl Strategy<Value = Vec<RichText>> {
    prop_oneof![
        1 => text_strategy().prop_map(|text| if text.is_empty() { Vec::new() } else { vec![RichText::plain(text)] }),
        2 => prop::collection::vec(run_strategy(), 0..5),
    ]
}

fn text_content_strategy() -> impl Strategy<Value = TextContent> {
    rich_text_strategy().prop_map(|rich_text| TextContent {
        rich_text,
        color: Color::Default,
    })
}

fn leaf_strategy() -> BoxedStrategy<BlockTree> {
    let icon = prop::sample::select(vec![
        None,
        Some(Icon::Emoji("💡".into())),
        Some(Icon::Emoji("⚠️".into())),
        Some(Icon::Emoji("🛑".into())),
        Some(Icon::Emoji("❗".into())),
        Some(Icon::Emoji("🎯".into())),
        Some(Icon::Emoji("👩‍💻".into())),
        Some(Icon::External("https://example.com/icon.png".into())),
    ]);
    let table = (
        1..4u32,
        any::<bool>(),
        prop::collection::vec(prop::collection::vec(rich_text_strategy(), 3), 0..3),
    )
        .prop_map(|(width, header, rows)| {
            let rows: Vec<BlockTree> = rows
                .into_iter()
                .map(|cells| {
                    leaf(BlockKind::TableRow {
                        cells: cells.into_iter().take(width as usize).collect(),
                    })
                })
                .collect();
            // An all-empty header row means "no column header" in Markdown.
            let has_column_header = header
                && rows.first().is_some_and(|row| match &row.kind {
                    BlockKind::TableRow { cells } => {
                        cells.iter().any(|cell| !normalise_runs(cell).is_empty())
                    }
                    _ => false,
                });
            BlockTree::with_children(
                BlockKind::Table {
                    table_width: width,
                    has_column_header,
                    has_row_header: false,
                },
                rows,
            )
        });
    prop_oneof![
        4 => text_content_strategy().prop_map(|text| leaf(BlockKind::Paragraph(text))),
        2 => (1..=3usize, text_content_strategy()).prop_map(|(level, text)| leaf(match level {
            1 => BlockKind::Heading1 { text, is_toggleable: false },
            2 => BlockKind::Heading2 { text, is_toggleable: false },
            _ => BlockKind::Heading3 { text, is_toggleable: false },
        })),
        1 => (text_content_strategy(), icon).prop_map(|(text, icon)| leaf(BlockKind::Callout { text, icon })),
        2 => ("[a-z `~$\\\\\n\t]{0,20}", prop::sample::select(CODE_LANGUAGES.to_vec())).prop_map(|(code, language)| {
            leaf(BlockKind::Code {
                rich_text: vec![RichText::plain(code)],
                caption: Vec::new(),
                language: language.to_string(),
            })
        }),
        1 => Just(leaf(BlockKind::Divider)),
        1 => "[a-z \\\\^{}$\n]{0,12}".prop_map(|expression| leaf(BlockKind::Equation { expression: expression.trim_matches('$').to_string() })),
        1 => prop::sample::select(vec!["https://example.com", "https://example.com/a_(b)?q=[1]"])
            .prop_map(|url| leaf(BlockKind::Bookmark { url: url.to_string(), caption: Vec::new() })),
        1 => table,
    ]
    .boxed()
}

fn block_strategy(depth: u32) -> BoxedStrategy<BlockTree> {
    if depth == 0 {
        return leaf_strategy();
    }
    let children = prop::collection::vec(block_strategy(depth - 1), 0..3);
    prop_oneof![
        3 => leaf_strategy(),
        2 => (text_content_strategy(), children.clone()).prop_map(|(text, children)| BlockTree::with_children(BlockKind::BulletedListItem(text), children)),
        2 => (text_content_strategy(), children.clone()).prop_map(|(text, children)| BlockTree::with_children(BlockKind::NumberedListItem(text), children)),
        2 => (text_content_strategy(), any::<bool>(), children.clone())
            .prop_map(|(text, checked, children)| BlockTree::with_children(BlockKind::ToDo { text, checked }, children)),
        1 => (text_content_strategy(), children.clone()).prop_map(|(text, children)| BlockTree::with_children(BlockKind::Toggle(text), children)),
        1 => (text_content_strategy(), children.clone()).prop_map(|(text, children)| BlockTree::with_children(BlockKind::Quote(text), children)),
        1 => (text_content_strategy(), children.clone()).prop_map(|(text, children)| {
            BlockTree::with_children(BlockKind::Callout { text, icon: Some(Icon::Emoji("💡".into())) }, children)
        }),
        1 => (text_content_strategy(), children.clone()).prop_map(|(text, children)| BlockTree::with_children(BlockKind::Paragraph(text), children)),
        1 => (text_content_strategy(), children).prop_map(|(text, children)| {
            BlockTree::with_children(BlockKind::Heading2 { text, is_toggleable: true }, children)
        }),
    ]
    .boxed()
}

proptest! {
    // Failures are not persisted to a seed file: the cases found so far are unit tests above.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn markdown_round_trips(trees in prop::collection::vec(block_strategy(2), 0..6)) {
        let markdown = to_markdown(&trees);
        let parsed = from_markdown(&markdown).map_err(|error| TestCaseError::fail(format!("{error}\n---\n{markdown}")))?;
        let parsed: Vec<NewBlock> = parsed.iter().map(normalise).collect();
        let wanted: Vec<NewBlock> = trees.iter().map(|tree| normalise(&expected(tree))).collect();
        prop_assert_eq!(parsed, wanted, "markdown was:\n{}", markdown);
    }

    #[test]
    fn inline_round_trips(runs in prop::collection::vec(run_strategy(), 0..8)) {
        let markdown = rich_text_to_markdown(&runs);
        prop_assert_eq!(normalise_runs(&parse_inline(&markdown)), normalise_runs(&runs), "markdown was: {}", markdown);
    }

    #[test]
    fn any_text_parses_without_panicking(text in "[-#>*_`~$|<>\\[\\]()!&;:\\\\ a1\n]{0,80}") {
        let _ = from_markdown(&text);
        let _ = parse_inline(&text);
    }
}
