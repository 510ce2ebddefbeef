//! Blocks as the plain text a reader sees, in Markdown's outline.

use super::BlockTree;
use crate::block::BlockKind;

/// The blocks' text as a reader sees it, a line per block and its children after it: no
/// Markdown syntax but a heading's `#`s, which keep the outline (search splits a page into
/// sections at them), so that what search shows of a page (highlights, passages) is plain
/// text. A child page or database is its title where the caller may see it and nothing
/// otherwise, as in [`to_markdown`](super::to_markdown).
pub fn to_plain_text(blocks: &[BlockTree]) -> String {
    let mut lines = Vec::new();
    push_plain_lines(blocks, &mut lines);
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

fn push_plain_lines(blocks: &[BlockTree], lines: &mut Vec<String>) {
    for block in blocks {
        let text = match &block.kind {
            BlockKind::ChildPage | BlockKind::ChildDatabase => block
                .linked
                .as_ref()
                .map(|(_, title)| title.clone())
                .unwrap_or_default(),
            kind => kind.plain_text(),
        };
        let level = match &block.kind {
            BlockKind::Heading1 { .. } => 1,
            BlockKind::Heading2 { .. } => 2,
            BlockKind::Heading3 { .. } => 3,
            _ => 0,
        };
        if level > 0 {
            // A heading is one line: a line break inside it would end it early.
            let heading = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !heading.is_empty() {
                lines.push(format!("{} {heading}", "#".repeat(level)));
            }
        } else if !text.trim().is_empty() {
            lines.extend(text.lines().map(outside_outline));
        }
        push_plain_lines(&block.children, lines);
    }
}

/// A line of a block's text, made so that search cannot take it for a heading or a code fence
/// (a `# comment` in a code block, say): the space after a leading run of `#`s becomes a
/// no-break space, which is whitespace too, so the words stay the same; a leading run of
/// backticks gets a zero-width space before it.
fn outside_outline(line: &str) -> String {
    let content = line.trim_start();
    let hashes = content.bytes().take_while(|b| *b == b'#').count();
    if hashes > 0 && content[hashes..].starts_with(' ') {
        let at = line.len() - content.len() + hashes;
        return format!("{}\u{a0}{}", &line[..at], &line[at + 1..]);
    }
    if content.starts_with("```") {
        return format!("\u{200b}{content}");
    }
    line.to_string()
}
