//! Round trips between blocks and Markdown: helpers here, cases by topic below.

use super::*;
use crate::block::{BlockKind, Color, Icon, NewBlock, TextContent};
use crate::limits::RICH_TEXT_CONTENT_CHARS_MAX;
use crate::rich_text::{self, Annotations, Mention, RichText, RichTextKind};

mod blocks;
mod inline;
mod plain;
mod random;

fn content(text: &str) -> TextContent {
    TextContent {
        rich_text: if text.is_empty() {
            Vec::new()
        } else {
            vec![RichText::plain(text)]
        },
        color: Color::Default,
    }
}

fn paragraph(text: &str) -> BlockKind {
    BlockKind::Paragraph(content(text))
}

fn bullet(text: &str) -> BlockKind {
    BlockKind::BulletedListItem(content(text))
}

fn numbered(text: &str) -> BlockKind {
    BlockKind::NumberedListItem(content(text))
}

fn heading(level: usize, text: &str) -> BlockKind {
    let text = content(text);
    match level {
        1 => BlockKind::Heading1 {
            text,
            is_toggleable: false,
        },
        2 => BlockKind::Heading2 {
            text,
            is_toggleable: false,
        },
        _ => BlockKind::Heading3 {
            text,
            is_toggleable: false,
        },
    }
}

fn leaf(kind: BlockKind) -> BlockTree {
    BlockTree::new(kind)
}

fn styled(text: &str, edit: impl FnOnce(&mut Annotations)) -> RichText {
    let mut run = RichText::plain(text);
    edit(&mut run.annotations);
    run
}

fn code(text: &str) -> RichText {
    styled(text, |a| a.code = true)
}

/// The blocks a rendered tree should read back as.
fn expected(tree: &BlockTree) -> NewBlock {
    NewBlock {
        kind: tree.kind.clone(),
        children: tree.children.iter().map(expected).collect(),
    }
}

/// Rich text as Markdown says it: adjacent runs with the same formatting merged, edge
/// whitespace of emphasised text without the emphasis, line breaks outside code.
fn normalise_runs(runs: &[RichText]) -> Vec<RichText> {
    let mut pieces = Vec::new();
    for run in runs {
        let mut annotations = run.annotations.clone();
        annotations.color = Color::Default;
        let RichTextKind::Text { content, link } = &run.kind else {
            pieces.push(RichText {
                annotations,
                display: None,
                ..run.clone()
            });
            continue;
        };
        let piece = |text: &str, annotations: &Annotations| RichText {
            kind: RichTextKind::Text {
                content: text.to_string(),
                link: link.clone().filter(|url| !url.is_empty()),
            },
            annotations: annotations.clone(),
            display: None,
        };
        if annotations.code {
            let mut plain = annotations.clone();
            plain.code = false;
            for (index, part) in content.split('\n').enumerate() {
                if index > 0 {
                    pieces.push(piece("\n", &plain));
                }
                pieces.push(piece(part, &annotations));
            }
        } else if annotations.bold || annotations.italic || annotations.strikethrough {
            let is_edge = |c: char| c.is_whitespace() && c != '\n';
            let core = content.trim_matches(is_edge);
            let start = content.len() - content.trim_start_matches(is_edge).len();
            let plain = Annotations {
                bold: false,
                italic: false,
                strikethrough: false,
                ..annotations.clone()
            };
            pieces.push(piece(&content[..start], &plain));
            pieces.push(piece(core, &annotations));
            pieces.push(piece(&content[start + core.len()..], &plain));
        } else {
            pieces.push(piece(content, &annotations));
        }
    }
    let mut merged: Vec<RichText> = Vec::new();
    for piece in pieces {
        if let RichTextKind::Text { content, .. } = &piece.kind
            && content.is_empty()
        {
            continue;
        }
        if let (
            Some(RichText {
                kind: RichTextKind::Text { content, link },
                annotations,
                ..
            }),
            RichTextKind::Text {
                content: more,
                link: more_link,
            },
        ) = (merged.last_mut(), &piece.kind)
            && link == more_link
            && *annotations == piece.annotations
        {
            content.push_str(more);
            continue;
        }
        merged.push(piece);
    }
    merged
}

fn normalise(block: &NewBlock) -> NewBlock {
    let mut kind = block.kind.clone();
    for runs in kind.rich_texts_mut() {
        *runs = normalise_runs(runs);
    }
    match &mut kind {
        BlockKind::Code { caption, .. } | BlockKind::Bookmark { caption, .. } => caption.clear(),
        BlockKind::Table { has_row_header, .. } => *has_row_header = false,
        _ => {}
    }
    NewBlock {
        kind,
        children: block.children.iter().map(normalise).collect(),
    }
}

fn assert_round_trip(trees: &[BlockTree]) {
    let markdown = to_markdown(trees);
    let parsed =
        from_markdown(&markdown).unwrap_or_else(|error| panic!("{error}\n---\n{markdown}"));
    let parsed: Vec<NewBlock> = parsed.iter().map(normalise).collect();
    let wanted: Vec<NewBlock> = trees
        .iter()
        .map(|tree| normalise(&expected(tree)))
        .collect();
    assert_eq!(parsed, wanted, "markdown was:\n{markdown}");
}

fn parse(markdown: &str) -> Vec<NewBlock> {
    from_markdown(markdown).unwrap_or_else(|error| panic!("{error}"))
}

fn new(kind: BlockKind) -> NewBlock {
    NewBlock::new(kind)
}

fn table(width: u32, has_column_header: bool, rows: &[&[&str]]) -> BlockTree {
    BlockTree::with_children(
        BlockKind::Table {
            table_width: width,
            has_column_header,
            has_row_header: false,
        },
        rows.iter()
            .map(|cells| {
                leaf(BlockKind::TableRow {
                    cells: cells.iter().map(|cell| content(cell).rich_text).collect(),
                })
            })
            .collect(),
    )
}
