//! Block syntax, whole documents and errors.

use super::*;
use crate::markdown::block_parse::heading_kind;

#[test]
fn paragraphs_are_separated_by_blank_lines() {
    let trees = [leaf(paragraph("Hello")), leaf(paragraph("World"))];
    assert_eq!(to_markdown(&trees), "Hello\n\nWorld\n");
    assert_eq!(
        parse("Hello\n\nWorld\n"),
        vec![new(paragraph("Hello")), new(paragraph("World"))]
    );
    assert_round_trip(&trees);
}

#[test]
fn paragraph_lines_join_with_line_breaks() {
    assert_eq!(
        parse("one\ntwo  \nthree\\\nfour"),
        vec![new(paragraph("one\ntwo\nthree\nfour"))]
    );
    assert_eq!(to_markdown(&[leaf(paragraph("one\ntwo"))]), "one<br>two\n");
}

#[test]
fn empty_paragraphs_are_br_lines() {
    let trees = [
        leaf(paragraph("a")),
        leaf(paragraph("")),
        leaf(paragraph("\n")),
        leaf(paragraph("b")),
    ];
    assert_eq!(to_markdown(&trees), "a\n\n<br>\n\n<br/>\n\nb\n");
    assert_round_trip(&trees);
}

#[test]
fn headings() {
    let trees = [
        leaf(heading(1, "One")),
        leaf(heading(2, "Two")),
        leaf(heading(3, "Three")),
    ];
    assert_eq!(to_markdown(&trees), "# One\n\n## Two\n\n### Three\n");
    assert_round_trip(&trees);
    assert_eq!(
        parse("#### Four\n###### Six ##\n#\n# C#\n# a \\#"),
        vec![
            new(heading(3, "Four")),
            new(heading(3, "Six")),
            new(heading(1, "")),
            new(heading(1, "C#")),
            new(heading(1, "a #"))
        ]
    );
    assert_eq!(to_markdown(&[leaf(heading(1, "a #"))]), "# a \\#\n");
    assert_round_trip(&[
        leaf(heading(2, "##")),
        leaf(heading(1, "a ##")),
        leaf(heading(3, "")),
    ]);
}

#[test]
fn nested_lists() {
    let trees = [
        BlockTree::with_children(
            bullet("one"),
            vec![
                leaf(numbered("first")),
                BlockTree::with_children(numbered("second"), vec![leaf(bullet("deep"))]),
            ],
        ),
        leaf(bullet("two")),
        leaf(numbered("again")),
    ];
    let markdown = to_markdown(&trees);
    assert_eq!(
        markdown,
        "- one\n  1. first\n  2. second\n     - deep\n- two\n1. again\n"
    );
    assert_round_trip(&trees);
    // Two-space indentation under numbered items, `*` bullets and `1)` read as well.
    assert_eq!(
        parse("1) a\n  * b\n    + c\n2. d"),
        vec![
            NewBlock::with_children(
                numbered("a"),
                vec![NewBlock::with_children(bullet("b"), vec![new(bullet("c"))])]
            ),
            new(numbered("d")),
        ]
    );
}

#[test]
fn list_item_text_continues_and_paragraph_children_follow_a_blank_line() {
    let trees = [BlockTree::with_children(
        bullet("item"),
        vec![
            leaf(paragraph("child paragraph")),
            leaf(bullet("child item")),
        ],
    )];
    assert_eq!(
        to_markdown(&trees),
        "- item\n\n  child paragraph\n\n  - child item\n"
    );
    assert_round_trip(&trees);
    assert_eq!(
        parse("- item\n  continued\nlazily"),
        vec![new(bullet("item\ncontinued\nlazily"))]
    );
    assert_eq!(parse("-\n  text"), vec![new(bullet("text"))]);
}

#[test]
fn to_dos() {
    let to_do = |text: &str, checked: bool| BlockKind::ToDo {
        text: content(text),
        checked,
    };
    let trees = [
        BlockTree::with_children(to_do("open", false), vec![leaf(to_do("sub", true))]),
        leaf(to_do("done", true)),
        leaf(to_do("", false)),
    ];
    assert_eq!(
        to_markdown(&trees),
        "- [ ] open\n  - [x] sub\n- [x] done\n- [ ]\n"
    );
    assert_round_trip(&trees);
    assert_eq!(
        parse("* [X] shout\n1. [ ] numbered"),
        vec![new(to_do("shout", true)), new(to_do("numbered", false))]
    );
    assert_eq!(parse("- [x]not a task"), vec![new(bullet("[x]not a task"))]);
}

#[test]
fn paragraphs_with_children() {
    let trees = [BlockTree::with_children(
        paragraph("parent"),
        vec![leaf(paragraph("indented"))],
    )];
    assert_eq!(to_markdown(&trees), "parent\n\n  indented\n");
    assert_round_trip(&trees);
}

#[test]
fn toggles_are_details() {
    let trees = [
        BlockTree::with_children(
            BlockKind::Toggle(content("More")),
            vec![
                leaf(paragraph("hidden")),
                BlockTree::with_children(
                    BlockKind::Toggle(content("inner")),
                    vec![leaf(bullet("x"))],
                ),
            ],
        ),
        leaf(BlockKind::Toggle(content(""))),
    ];
    let markdown = to_markdown(&trees);
    assert_eq!(
        markdown,
        "<details><summary>More</summary>\n\nhidden\n\n<details><summary>inner</summary>\n\n- x\n\n</details>\n\n</details>\n\n\
         <details><summary></summary>\n</details>\n"
    );
    assert_round_trip(&trees);
    // Other spellings: summary on its own line, `open`, closed on the summary line.
    assert_eq!(
        parse(
            "<details open>\n<summary>Title</summary>\n\ntext\n</details>\n<details><summary>x</summary></details>"
        ),
        vec![
            NewBlock::with_children(
                BlockKind::Toggle(content("Title")),
                vec![new(paragraph("text"))]
            ),
            new(BlockKind::Toggle(content("x"))),
        ]
    );
}

#[test]
fn toggleable_headings() {
    let trees = [
        BlockTree::with_children(
            heading_kind(2, "Section", true),
            vec![leaf(paragraph("body"))],
        ),
        leaf(heading_kind(1, "", true)),
    ];
    assert_eq!(
        to_markdown(&trees),
        "<details><summary>## Section</summary>\n\nbody\n\n</details>\n\n<details><summary>#</summary>\n</details>\n"
    );
    assert_round_trip(&trees);
    // A toggle whose text starts with `#` stays a toggle.
    assert_round_trip(&[leaf(BlockKind::Toggle(content("# not a heading")))]);
}

#[test]
fn quotes() {
    let trees = [
        BlockTree::with_children(
            BlockKind::Quote(content("wise words")),
            vec![leaf(bullet("a")), leaf(paragraph("b"))],
        ),
        leaf(BlockKind::Quote(content("second"))),
        BlockTree::with_children(
            BlockKind::Quote(content("")),
            vec![leaf(paragraph("only child"))],
        ),
    ];
    let markdown = to_markdown(&trees);
    assert_eq!(
        markdown,
        "> wise words\n>\n> - a\n>\n> b\n\n> second\n\n>\n>\n> only child\n"
    );
    assert_round_trip(&trees);
    assert_eq!(
        parse(">no space\n>two"),
        vec![new(BlockKind::Quote(content("no space\ntwo")))]
    );
}

#[test]
fn callouts_are_github_alerts() {
    let callout = |text: &str, icon: Option<Icon>| BlockKind::Callout {
        text: content(text),
        icon,
    };
    let emoji = |text: &str| Some(Icon::Emoji(text.to_string()));
    let trees = [
        leaf(callout("plain", None)),
        leaf(callout("tip", emoji("💡"))),
        leaf(callout("careful", emoji("⚠️"))),
        BlockTree::with_children(callout("custom", emoji("🎯")), vec![leaf(bullet("child"))]),
        leaf(callout(
            "remote",
            Some(Icon::External("https://example.com/icon.png".into())),
        )),
        BlockTree::with_children(
            callout("", emoji("🛑")),
            vec![leaf(paragraph("only children"))],
        ),
        leaf(callout("", emoji("❗"))),
    ];
    let markdown = to_markdown(&trees);
    assert_eq!(
        markdown,
        "> [!NOTE]\n> plain\n\n> [!TIP]\n> tip\n\n> [!WARNING]\n> careful\n\n> [!NOTE] 🎯\n> custom\n>\n> - child\n\n\
         > [!NOTE] <https://example.com/icon.png>\n> remote\n\n> [!CAUTION]\n>\n> only children\n\n> [!IMPORTANT]\n"
    );
    assert_round_trip(&trees);
    // The one-line form, lower case, and text that is no icon.
    assert_eq!(
        parse("> [!note] Heads up\n> more\n\n> [!Tip] 日本 text"),
        vec![
            new(callout("Heads up\nmore", None)),
            new(callout("日本 text", emoji("💡")))
        ]
    );
    // A quote whose text looks like a marker stays a quote.
    assert_round_trip(&[leaf(BlockKind::Quote(content("[!NOTE] not a callout")))]);
    assert_round_trip(&[leaf(BlockKind::Quote(TextContent {
        rich_text: vec![RichText::link("!NOTE", "https://example.com")],
        color: Color::Default,
    }))]);
}

#[test]
fn code_blocks() {
    let code_block = |text: &str, language: &str| BlockKind::Code {
        rich_text: if text.is_empty() {
            Vec::new()
        } else {
            vec![RichText::plain(text)]
        },
        caption: Vec::new(),
        language: language.to_string(),
    };
    let trees = [
        leaf(code_block("fn main() {}\n", "rust")),
        leaf(code_block("```\nnested ``` fence\n````", "markdown")),
        leaf(code_block("", "plain text")),
        leaf(code_block("  indented\n\n\ttab", "python")),
        BlockTree::with_children(
            bullet("in a list"),
            vec![leaf(code_block("a\n\n  b", "c++"))],
        ),
    ];
    let markdown = to_markdown(&trees);
    assert!(
        markdown.starts_with(
            "```rust\nfn main() {}\n\n```\n\n`````markdown\n```\nnested ``` fence\n````\n`````\n"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("- in a list\n\n  ```c++\n  a\n\n    b\n  ```"),
        "{markdown}"
    );
    assert_round_trip(&trees);
    assert_eq!(
        parse("```js\nx\n```\n\n~~~ Python extra\ny\n~~~\n\n```klingon\nz\n```\n\n```\n```"),
        vec![
            new(code_block("x", "javascript")),
            new(code_block("y", "python")),
            new(code_block("z", "plain text")),
            new(code_block("", "plain text")),
        ]
    );
    let error = from_markdown("text\n\n```rust\nunclosed").unwrap_err();
    assert_eq!(error.field, "markdown");
    assert!(
        error
            .message
            .starts_with("line 3: the code block is never closed"),
        "{}",
        error.message
    );
}

#[test]
fn dividers_and_equations() {
    let equation = |expression: &str| BlockKind::Equation {
        expression: expression.to_string(),
    };
    let trees = [
        leaf(BlockKind::Divider),
        leaf(equation("e^{i\\pi} + 1 = 0")),
        leaf(equation("a \\\\\n  b")),
        leaf(equation("")),
    ];
    assert_eq!(
        to_markdown(&trees),
        "---\n\n$$\ne^{i\\pi} + 1 = 0\n$$\n\n$$\na \\\\\n  b\n$$\n\n$$\n$$\n"
    );
    assert_round_trip(&trees);
    assert_eq!(
        parse("***\n\n- - -\n\n$$ x^2 $$\n\n```math\ny\n```"),
        vec![
            new(BlockKind::Divider),
            new(BlockKind::Divider),
            new(equation("x^2")),
            new(equation("y"))
        ]
    );
    let error = from_markdown("$$\nx").unwrap_err();
    assert_eq!(
        error.message,
        "line 1: the block equation is never closed; end it with a line of $$"
    );
}

#[test]
fn bookmarks() {
    let bookmark = |url: &str| BlockKind::Bookmark {
        url: url.to_string(),
        caption: Vec::new(),
    };
    let trees = [
        leaf(bookmark("https://example.com/a_(b)?q=1")),
        leaf(paragraph("after")),
    ];
    assert_eq!(
        to_markdown(&trees),
        "<https://example.com/a_(b)?q=1>\n\nafter\n"
    );
    assert_round_trip(&trees);
    // Inside a paragraph an autolink is a link, not a bookmark.
    assert_eq!(
        parse("see <https://example.com>"),
        vec![new(BlockKind::Paragraph(TextContent {
            rich_text: vec![
                RichText::plain("see "),
                RichText::link("https://example.com", "https://example.com")
            ],
            color: Color::Default,
        }))]
    );
}

#[test]
fn child_pages_are_links_or_nothing() {
    let id = Id::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let trees = [
        BlockTree {
            kind: BlockKind::ChildPage,
            children: Vec::new(),
            linked: Some((id, "Road [map]".into())),
        },
        BlockTree {
            kind: BlockKind::ChildDatabase,
            children: Vec::new(),
            linked: None,
        },
        BlockTree {
            kind: BlockKind::ChildDatabase,
            children: Vec::new(),
            linked: Some((id, String::new())),
        },
    ];
    let markdown = to_markdown(&trees);
    assert_eq!(
        markdown,
        "[Road \\[map\\]](/0123456789abcdef0123456789abcdef)\n\n[Untitled](/0123456789abcdef0123456789abcdef)\n"
    );
    // They read back as links, since child pages are made through the pages endpoint.
    assert_eq!(
        parse(&markdown)[0],
        new(BlockKind::Paragraph(TextContent {
            rich_text: vec![RichText::link(
                "Road [map]",
                "/0123456789abcdef0123456789abcdef"
            )],
            color: Color::Default,
        }))
    );
}

#[test]
fn tables() {
    let trees = [
        table(
            2,
            true,
            &[&["Name", "Value"], &["a | b", "`x`"], &["", " padded "]],
        ),
        table(1, false, &[&["solo"]]),
    ];
    let markdown = to_markdown(&trees);
    assert_eq!(
        markdown,
        "| Name | Value |\n| --- | --- |\n| a \\| b | \\`x\\` |\n|  | &#32;padded&#32; |\n\n|  |\n| --- |\n| solo |\n"
    );
    assert_round_trip(&trees);
    let with_code = BlockTree::with_children(
        BlockKind::Table {
            table_width: 1,
            has_column_header: false,
            has_row_header: false,
        },
        vec![leaf(BlockKind::TableRow {
            cells: vec![vec![code("a|b"), RichText::plain("\\|")]],
        })],
    );
    assert_round_trip(&[with_code]);
    // Rows without outer pipes, short and long rows, alignment colons.
    assert_eq!(
        parse("a | b\n:-- | --:\n1\n| 2 | 3 | 4 |\n\nafter"),
        vec![
            expected(&table(2, true, &[&["a", "b"], &["1", ""], &["2", "3"]])),
            new(paragraph("after"))
        ]
    );
    // A table in a list item.
    assert_round_trip(&[BlockTree::with_children(
        bullet("data"),
        vec![table(2, true, &[&["h", "i"], &["1", "2"]])],
    )]);
}

#[test]
fn a_document_as_an_agent_writes_it() {
    let markdown = "# Release plan\n\
        Intro with **bold**, *italic* and a [link](https://example.com).  \n\
        Second line of the intro.\n\
        \n\
        ## Steps\n\
        1. Prepare\n    \
            * check `config.toml`\n    \
            * run tests\n\
        2. Ship\n\
        \n   \
           Details for shipping.\n\
        \n\
        - [ ] write notes\n\
        - [x] tag release\n\
        \n\
        > [!WARNING]\n\
        > Do not deploy on Fridays.\n\
        \n\
        ```sh\n\
        cargo build --release\n\
        ```\n\
        \n\
        | Step | Owner |\n\
        |:-----|------:|\n\
        | Prepare | Ada |\n\
        | Ship | Grace |\n\
        \n\
        ***\n\
        Thanks!\n";
    let blocks = parse(markdown);
    let types: Vec<&str> = blocks.iter().map(|block| block.kind.type_name()).collect();
    assert_eq!(
        types,
        [
            "heading_1",
            "paragraph",
            "heading_2",
            "numbered_list_item",
            "numbered_list_item",
            "to_do",
            "to_do",
            "callout",
            "code",
            "table",
            "divider",
            "paragraph"
        ]
    );
    assert_eq!(
        blocks[1].kind.plain_text(),
        "Intro with bold, italic and a link.\nSecond line of the intro."
    );
    assert_eq!(blocks[3].children.len(), 2);
    assert_eq!(blocks[3].children[0].kind.plain_text(), "check config.toml");
    assert_eq!(blocks[4].children.len(), 1);
    assert_eq!(
        blocks[4].children[0].kind,
        paragraph("Details for shipping.")
    );
    assert_eq!(
        blocks[7].kind,
        BlockKind::Callout {
            text: content("Do not deploy on Fridays."),
            icon: Some(Icon::Emoji("⚠️".into()))
        }
    );
    assert!(matches!(&blocks[8].kind, BlockKind::Code { language, .. } if language == "shell"));
    assert_eq!(blocks[9].children.len(), 3);
    // And it renders back to Markdown that reads the same.
    let trees: Vec<BlockTree> = blocks.iter().map(tree_of).collect();
    assert_round_trip(&trees);
}

fn tree_of(block: &NewBlock) -> BlockTree {
    BlockTree::with_children(
        block.kind.clone(),
        block.children.iter().map(tree_of).collect(),
    )
}

#[test]
fn long_text_is_split_into_runs() {
    let long = "x".repeat(4_500);
    let runs = parse_inline(&long);
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|run| run.plain_text().chars().count() <= RICH_TEXT_CONTENT_CHARS_MAX)
    );
    assert_eq!(rich_text::plain_text(&runs), long);
    let code_block = parse(&format!("```\n{long}\n```"));
    let BlockKind::Code {
        rich_text: runs, ..
    } = &code_block[0].kind
    else {
        panic!("expected code")
    };
    assert_eq!(runs.len(), 3);
}

#[test]
fn errors_name_the_line() {
    let message = |markdown: &str| from_markdown(markdown).unwrap_err().to_string();
    assert_eq!(
        message("a\n\n</details>"),
        "markdown: line 3: `</details>` closes no `<details>`"
    );
    assert_eq!(
        message("a\n<details>\n<summary>x</summary>\n\ntext"),
        "markdown: line 2: `<details>` is never closed by `</details>`"
    );
    let url = format!("https://example.com/{}", "a".repeat(2_000));
    assert!(message(&format!("one\n\n[link]({url})")).starts_with(
        "markdown: line 3: paragraph.rich_text[0].text.link.url: length should be ≤ 2000"
    ));
    let wide = format!("|{}\n|{}", " a |".repeat(101), " - |".repeat(101));
    assert_eq!(
        message(&wide),
        "markdown: line 1: table.table_width: should be between 1 and 100"
    );
    let deep = ">".repeat(MARKDOWN_NESTING_LEVELS_MAX + 5);
    assert!(message(&deep).contains("nested at most"));
    let deep_list: String = (0..100)
        .map(|level| format!("{}- item\n", "  ".repeat(level)))
        .collect();
    assert!(message(&deep_list).contains("nested at most"));
}

#[test]
fn empty_documents() {
    assert_eq!(to_markdown(&[]), "");
    assert_eq!(parse(""), Vec::new());
    assert_eq!(parse("\n\n  \n"), Vec::new());
    assert_eq!(parse("\u{feff}a\r\nb\r\n"), vec![new(paragraph("a\nb"))]);
}
