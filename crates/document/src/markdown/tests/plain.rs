//! Blocks to plain text.

use super::*;

#[test]
fn plain_text_keeps_only_the_outline() {
    let bold = styled("bold", |a| a.bold = true);
    let mut link = RichText::plain("a link");
    if let RichTextKind::Text { link: url, .. } = &mut link.kind {
        *url = Some("https://example.com/x".to_string());
    }
    let text = |runs: Vec<RichText>| TextContent {
        rich_text: runs,
        color: Color::Default,
    };
    let trees = [
        leaf(heading(1, "Plans")),
        leaf(BlockKind::Paragraph(text(vec![
            RichText::plain("Some "),
            bold,
            RichText::plain(" text with "),
            link,
        ]))),
        BlockTree::with_children(bullet("item"), vec![leaf(numbered("step"))]),
        leaf(BlockKind::Divider),
        leaf(BlockKind::ChildPage),
    ];
    assert_eq!(
        to_plain_text(&trees),
        "# Plans\nSome bold text with a link\nitem\nstep\n"
    );
    assert_eq!(to_plain_text(&[]), "");
}

#[test]
fn text_that_looks_like_a_heading_or_a_fence_is_neither() {
    let code = BlockKind::Code {
        rich_text: vec![RichText::plain("# install\npip install x\n```")],
        caption: Vec::new(),
        language: "shell".into(),
    };
    let plain = to_plain_text(&[leaf(paragraph("## not a heading")), leaf(code)]);
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(
        lines,
        [
            "##\u{a0}not a heading",
            "#\u{a0}install",
            "pip install x",
            "\u{200b}```"
        ]
    );
    // The words are the ones the text holds.
    assert_eq!(
        plain.split_whitespace().collect::<Vec<_>>(),
        [
            "##",
            "not",
            "a",
            "heading",
            "#",
            "install",
            "pip",
            "install",
            "x",
            "\u{200b}```"
        ]
    );
}
