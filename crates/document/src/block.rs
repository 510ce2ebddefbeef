//! Blocks: the content of a page. A page's children are blocks; some blocks have children
//! of their own (toggles, list items, tables and their rows).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::Id;
use crate::page::Parent;
use crate::rich_text::{self, RichText};
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Color {
    #[default]
    Default,
    Gray,
    Brown,
    Orange,
    Yellow,
    Green,
    Blue,
    Purple,
    Pink,
    Red,
    GrayBackground,
    BrownBackground,
    OrangeBackground,
    YellowBackground,
    GreenBackground,
    BlueBackground,
    PurpleBackground,
    PinkBackground,
    RedBackground,
}

impl Color {
    pub const ALL: [Color; 19] = [
        Color::Default,
        Color::Gray,
        Color::Brown,
        Color::Orange,
        Color::Yellow,
        Color::Green,
        Color::Blue,
        Color::Purple,
        Color::Pink,
        Color::Red,
        Color::GrayBackground,
        Color::BrownBackground,
        Color::OrangeBackground,
        Color::YellowBackground,
        Color::GreenBackground,
        Color::BlueBackground,
        Color::PurpleBackground,
        Color::PinkBackground,
        Color::RedBackground,
    ];

    pub fn is_default(&self) -> bool {
        *self == Color::Default
    }

    pub fn name(&self) -> &'static str {
        match self {
            Color::Default => "default",
            Color::Gray => "gray",
            Color::Brown => "brown",
            Color::Orange => "orange",
            Color::Yellow => "yellow",
            Color::Green => "green",
            Color::Blue => "blue",
            Color::Purple => "purple",
            Color::Pink => "pink",
            Color::Red => "red",
            Color::GrayBackground => "gray_background",
            Color::BrownBackground => "brown_background",
            Color::OrangeBackground => "orange_background",
            Color::YellowBackground => "yellow_background",
            Color::GreenBackground => "green_background",
            Color::BlueBackground => "blue_background",
            Color::PurpleBackground => "purple_background",
            Color::PinkBackground => "pink_background",
            Color::RedBackground => "red_background",
        }
    }

    pub fn from_name(name: &str) -> Option<Color> {
        Color::ALL.into_iter().find(|color| color.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Icon {
    Emoji(String),
    External(String),
}

/// Text shared by the text-bearing block kinds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TextContent {
    pub rich_text: Vec<RichText>,
    #[serde(default)]
    pub color: Color,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BlockKind {
    Paragraph(TextContent),
    Heading1 {
        text: TextContent,
        is_toggleable: bool,
    },
    Heading2 {
        text: TextContent,
        is_toggleable: bool,
    },
    Heading3 {
        text: TextContent,
        is_toggleable: bool,
    },
    BulletedListItem(TextContent),
    NumberedListItem(TextContent),
    ToDo {
        text: TextContent,
        checked: bool,
    },
    Toggle(TextContent),
    Quote(TextContent),
    Callout {
        text: TextContent,
        icon: Option<Icon>,
    },
    Code {
        rich_text: Vec<RichText>,
        caption: Vec<RichText>,
        language: String,
    },
    Divider,
    /// A sub-page. Its title lives on the page; the block carries none.
    ChildPage,
    /// An inline or full-page database. Its title lives on the database.
    ChildDatabase,
    Bookmark {
        url: String,
        caption: Vec<RichText>,
    },
    Equation {
        expression: String,
    },
    Table {
        table_width: u32,
        has_column_header: bool,
        has_row_header: bool,
    },
    TableRow {
        cells: Vec<Vec<RichText>>,
    },
}

/// Languages a code block accepts (Notion's list, abridged to those in common use).
pub const CODE_LANGUAGES: &[&str] = &[
    "bash",
    "c",
    "c#",
    "c++",
    "css",
    "diff",
    "docker",
    "go",
    "graphql",
    "haskell",
    "html",
    "java",
    "javascript",
    "json",
    "kotlin",
    "latex",
    "lua",
    "makefile",
    "markdown",
    "mermaid",
    "nix",
    "ocaml",
    "perl",
    "php",
    "plain text",
    "powershell",
    "python",
    "r",
    "ruby",
    "rust",
    "scala",
    "shell",
    "sql",
    "swift",
    "toml",
    "typescript",
    "xml",
    "yaml",
];

impl BlockKind {
    /// The type name used in the public API and the store.
    pub fn type_name(&self) -> &'static str {
        match self {
            BlockKind::Paragraph(_) => "paragraph",
            BlockKind::Heading1 { .. } => "heading_1",
            BlockKind::Heading2 { .. } => "heading_2",
            BlockKind::Heading3 { .. } => "heading_3",
            BlockKind::BulletedListItem(_) => "bulleted_list_item",
            BlockKind::NumberedListItem(_) => "numbered_list_item",
            BlockKind::ToDo { .. } => "to_do",
            BlockKind::Toggle(_) => "toggle",
            BlockKind::Quote(_) => "quote",
            BlockKind::Callout { .. } => "callout",
            BlockKind::Code { .. } => "code",
            BlockKind::Divider => "divider",
            BlockKind::ChildPage => "child_page",
            BlockKind::ChildDatabase => "child_database",
            BlockKind::Bookmark { .. } => "bookmark",
            BlockKind::Equation { .. } => "equation",
            BlockKind::Table { .. } => "table",
            BlockKind::TableRow { .. } => "table_row",
        }
    }

    /// Whether this kind may hold child blocks.
    pub fn accepts_children(&self) -> bool {
        matches!(
            self,
            BlockKind::Paragraph(_)
                | BlockKind::BulletedListItem(_)
                | BlockKind::NumberedListItem(_)
                | BlockKind::ToDo { .. }
                | BlockKind::Toggle(_)
                | BlockKind::Quote(_)
                | BlockKind::Callout { .. }
                | BlockKind::Table { .. }
                | BlockKind::Heading1 {
                    is_toggleable: true,
                    ..
                }
                | BlockKind::Heading2 {
                    is_toggleable: true,
                    ..
                }
                | BlockKind::Heading3 {
                    is_toggleable: true,
                    ..
                }
        )
    }

    /// The block's main text, if it has one.
    pub fn text(&self) -> Option<&TextContent> {
        match self {
            BlockKind::Paragraph(text)
            | BlockKind::BulletedListItem(text)
            | BlockKind::NumberedListItem(text)
            | BlockKind::Toggle(text)
            | BlockKind::Quote(text)
            | BlockKind::Heading1 { text, .. }
            | BlockKind::Heading2 { text, .. }
            | BlockKind::Heading3 { text, .. }
            | BlockKind::ToDo { text, .. }
            | BlockKind::Callout { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Every rich text list in the block, for mention trimming and indexing.
    pub fn rich_texts_mut(&mut self) -> Vec<&mut Vec<RichText>> {
        match self {
            BlockKind::Paragraph(text)
            | BlockKind::BulletedListItem(text)
            | BlockKind::NumberedListItem(text)
            | BlockKind::Toggle(text)
            | BlockKind::Quote(text)
            | BlockKind::Heading1 { text, .. }
            | BlockKind::Heading2 { text, .. }
            | BlockKind::Heading3 { text, .. }
            | BlockKind::ToDo { text, .. }
            | BlockKind::Callout { text, .. } => vec![&mut text.rich_text],
            BlockKind::Code {
                rich_text, caption, ..
            } => vec![rich_text, caption],
            BlockKind::Bookmark { caption, .. } => vec![caption],
            BlockKind::TableRow { cells } => cells.iter_mut().collect(),
            _ => Vec::new(),
        }
    }

    /// Plain text of the block, for search and Markdown.
    pub fn plain_text(&self) -> String {
        match self {
            BlockKind::Code {
                rich_text: runs, ..
            } => rich_text::plain_text(runs),
            BlockKind::Bookmark { url, .. } => url.clone(),
            BlockKind::Equation { expression } => expression.clone(),
            BlockKind::TableRow { cells } => cells
                .iter()
                .map(|cell| rich_text::plain_text(cell))
                .collect::<Vec<_>>()
                .join(" | "),
            other => other
                .text()
                .map(|text| rich_text::plain_text(&text.rich_text))
                .unwrap_or_default(),
        }
    }

    /// Checks the content's own limits. `field` names the block in error messages.
    pub fn validate(&self) -> Result<()> {
        let type_name = self.type_name();
        if let Some(text) = self.text() {
            rich_text::validate(&text.rich_text)
                .map_err(|e| e.within(&format!("{type_name}.rich_text")))?;
        }
        match self {
            BlockKind::Code {
                rich_text: runs,
                caption,
                language,
            } => {
                rich_text::validate(runs).map_err(|e| e.within("code.rich_text"))?;
                rich_text::validate(caption).map_err(|e| e.within("code.caption"))?;
                if !CODE_LANGUAGES.contains(&language.as_str()) {
                    return Err(Error::new(
                        "code.language",
                        format!(
                            "should be one of the supported languages, instead was `{language}`"
                        ),
                    ));
                }
            }
            BlockKind::Bookmark { url, caption } => {
                rich_text::validate_link_url(url).map_err(|e| e.within("bookmark.url"))?;
                rich_text::validate(caption).map_err(|e| e.within("bookmark.caption"))?;
            }
            BlockKind::Equation { expression } if expression.chars().count() > 1_000 => {
                return Err(Error::new("equation.expression", "length should be ≤ 1000"));
            }
            BlockKind::Table { table_width, .. } if *table_width == 0 || *table_width > 100 => {
                return Err(Error::new(
                    "table.table_width",
                    "should be between 1 and 100",
                ));
            }
            BlockKind::TableRow { cells } => {
                if cells.len() > 100 {
                    return Err(Error::new(
                        "table_row.cells",
                        "should have at most 100 cells",
                    ));
                }
                for (index, cell) in cells.iter().enumerate() {
                    rich_text::validate(cell)
                        .map_err(|e| e.within(&format!("table_row.cells[{index}]")))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A stored block. A page is also reachable as the `child_page` block with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub id: Id,
    /// The page or block this block is a child of.
    pub parent: Parent,
    pub kind: BlockKind,
    pub has_children: bool,
    pub in_trash: bool,
    pub created_time: Millis,
    pub created_by: Id,
    pub last_edited_time: Millis,
    pub last_edited_by: Id,
}

/// A block to be created, with its children (at most two levels, as Notion).
#[derive(Debug, Clone, PartialEq)]
pub struct NewBlock {
    pub kind: BlockKind,
    pub children: Vec<NewBlock>,
}

impl NewBlock {
    pub fn new(kind: BlockKind) -> Self {
        NewBlock {
            kind,
            children: Vec::new(),
        }
    }

    pub fn with_children(kind: BlockKind, children: Vec<NewBlock>) -> Self {
        NewBlock { kind, children }
    }

    /// Blocks in this tree, itself included.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(NewBlock::count).sum::<usize>()
    }

    pub fn depth(&self) -> usize {
        1 + self.children.iter().map(NewBlock::depth).max().unwrap_or(0)
    }
}

/// Validates a batch of blocks to append: counts, nesting, and each block's content.
pub fn validate_new_blocks(blocks: &[NewBlock], field: &str) -> Result<()> {
    use crate::limits::{ARRAY_ITEMS_MAX, BLOCK_NESTING_LEVELS_MAX, BLOCKS_PER_REQUEST_MAX};
    if blocks.len() > ARRAY_ITEMS_MAX {
        return Err(Error::new(
            field,
            format!(
                "should have at most {ARRAY_ITEMS_MAX} items, instead has {}",
                blocks.len()
            ),
        ));
    }
    let total: usize = blocks.iter().map(NewBlock::count).sum();
    if total > BLOCKS_PER_REQUEST_MAX {
        return Err(Error::new(
            field,
            format!(
                "a request may create at most {BLOCKS_PER_REQUEST_MAX} blocks, instead has {total}"
            ),
        ));
    }
    fn walk(blocks: &[NewBlock], field: &str, level: usize) -> Result<()> {
        for (index, block) in blocks.iter().enumerate() {
            let here = format!("{field}[{index}]");
            block.kind.validate().map_err(|e| e.within(&here))?;
            if matches!(block.kind, BlockKind::ChildPage | BlockKind::ChildDatabase) {
                return Err(Error::new(
                    format!("{here}.type"),
                    "child_page and child_database blocks are created through the pages and databases endpoints",
                ));
            }
            if block.children.is_empty() {
                continue;
            }
            if !block.kind.accepts_children() {
                return Err(Error::new(
                    format!("{here}.{}.children", block.kind.type_name()),
                    format!("a {} block cannot have children", block.kind.type_name()),
                ));
            }
            if level > BLOCK_NESTING_LEVELS_MAX {
                return Err(Error::new(
                    format!("{here}.{}.children", block.kind.type_name()),
                    format!(
                        "children may be nested at most {BLOCK_NESTING_LEVELS_MAX} levels deep in one request"
                    ),
                ));
            }
            if let BlockKind::Table { table_width, .. } = &block.kind {
                for (row_index, row) in block.children.iter().enumerate() {
                    match &row.kind {
                        BlockKind::TableRow { cells } if cells.len() == *table_width as usize => {}
                        BlockKind::TableRow { cells } => {
                            return Err(Error::new(
                                format!("{here}.table.children[{row_index}].table_row.cells"),
                                format!(
                                    "should have {table_width} cells to match table_width, instead has {}",
                                    cells.len()
                                ),
                            ));
                        }
                        _ => {
                            return Err(Error::new(
                                format!("{here}.table.children[{row_index}]"),
                                "a table's children must be table_row blocks",
                            ));
                        }
                    }
                }
            } else if block
                .children
                .iter()
                .any(|child| matches!(child.kind, BlockKind::TableRow { .. }))
            {
                return Err(Error::new(
                    format!("{here}.children"),
                    "table_row blocks may only be children of a table",
                ));
            }
            walk(
                &block.children,
                &format!("{here}.{}.children", block.kind.type_name()),
                level + 1,
            )?;
        }
        Ok(())
    }
    walk(blocks, field, 1)
}
