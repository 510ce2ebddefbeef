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
