//! A page's blocks as Markdown and Markdown back to blocks, for
//! `GET/PATCH /v1/pages/{id}/markdown`.
//!
//! The dialect is GitHub-flavoured Markdown (GFM), so that what [`to_markdown`] writes reads
//! well on GitHub and in any GFM viewer, and [`from_markdown`] reads it back to the same blocks.
//! Inline, the reader follows CommonMark's rules (delimiter runs, flanking, backslash escapes,
//! code spans, link destinations), so that what it reads as emphasis GitHub shows as emphasis.
//!
//! | Block | Markdown |
//! |---|---|
//! | paragraph | its text; an empty paragraph is a line holding only `<br>` |
//! | heading_1, _2, _3 | `# `, `## `, `### ` (`####` to `######` read as heading_3) |
//! | bulleted_list_item | `- ` (`* ` and `+ ` read too) |
//! | numbered_list_item | `1. `, `2. `, … (`1) ` reads too; the numbers themselves are not kept) |
//! | to_do | `- [ ] ` / `- [x] ` |
//! | toggle | `<details><summary>text</summary>`, a blank line, the children, a blank line, `</details>` |
//! | toggleable heading | the same, with the heading's `#`s inside the summary: `<summary>## text</summary>` |
//! | quote | `> text`; children follow inside the quote after a `>` line |
//! | callout | a GitHub alert: `> [!TIP]`, then `> text`, then the children as in a quote. The alert names the icon: NOTE is no icon, TIP 💡, IMPORTANT ❗, WARNING ⚠️, CAUTION 🛑; any other icon follows the marker, `> [!NOTE] 🎯` or `> [!NOTE] <https://…/icon.png>` (GitHub then shows a plain quote). `> [!NOTE] text` on one line reads too |
//! | code | a backtick fence longer than any run of backticks inside, the language as info string (none for "plain text"); common aliases (`js`, `py`, `sh`, …) read as Notion's names, unknown languages as "plain text" |
//! | divider | `---` (`***` and `___` read too) |
//! | equation | `$$`, the expression, `$$`; a `math` fence when a line of the expression ends in `$$` (`$$ x $$` on one line reads too) |
//! | bookmark | the URL alone on its line: `<https://…>` |
//! | table | a GFM pipe table; with no column header the header row is empty |
//! | child_page, child_database | `[Title](/<id without dashes>)`, or nothing when the caller may not see it |
//!
//! Children of list items, to-dos and paragraphs are indented to the item's content column
//! (2 spaces under `- `, 3 under `1. `, 2 under a paragraph; the reader takes 2 under any list
//! item). Blank lines separate blocks, except consecutive list items. A line break inside a
//! block's text is written `<br>`; when reading, the lines of one paragraph join with line
//! breaks (Notion's meaning rather than GFM's soft break, which a viewer shows as a space).
//!
//! Inline: `**bold**`, `*italic*`, `~~strikethrough~~`, `` `code` ``, `<u>underline</u>`,
//! `[text](url)`, `$equation$`. Where CommonMark could not open or close an emphasis
//! delimiter (`a**"b"**c`, or italic text right before bold text) that span is written
//! `<b>`, `<i>` or `<s>` instead. Mentions are written as their text, page and database
//! mentions as a link to `/<id without dashes>`. Markdown-special characters in text are
//! escaped with `\`, and whitespace at either end of a block's text is written `&#32;` (or
//! `&#9;`), so that text reads back exactly. The reader also takes `__bold__`, `_italic_`,
//! `~single tildes~`, `<strong>`, `<em>`, `<del>`, `<ins>`, `<br/>`, autolinks (`<https://…>`),
//! images (read as links), a few HTML entities, and a backslash or two spaces ending a line.
//!
//! Round trips are exact for everything above except what Markdown cannot say:
//! - colours (of blocks and text), `has_row_header`, the captions of code blocks and bookmarks,
//!   and annotations inside code blocks are dropped;
//! - mentions read back as text (page and database mentions as links), and child page and
//!   child database lines read back as paragraphs holding a link, since those blocks are only
//!   created through the pages and databases endpoints;
//! - whitespace at either end of bold, italic or strikethrough text loses that emphasis (GFM
//!   cannot open or close emphasis next to whitespace), and a line break inside a code run is
//!   written outside the code span;
//! - an inline equation that is empty, has whitespace at either end or holds an unescaped `$`
//!   reads back as text; so does a link whose URL holds a line break or is longer than 4,000
//!   characters; a bookmark URL without a scheme reads back as a link, and a table with a
//!   column header whose header cells are all empty reads back without one;
//! - children of blocks that cannot have children (a code block, a divider, …) are written
//!   after the block and read back as its siblings.
//!
//! From Markdown, containers nest at most [`MARKDOWN_NESTING_LEVELS_MAX`] levels deep; text
//! runs longer than the 2,000-character limit are split into several runs; and every block is
//! checked as an API request's block would be, the error naming the line it starts on. The
//! limits on one append request (blocks per request, two levels of children) are the caller's
//! to apply with `block::validate_new_blocks`: it may split a long document into requests.
//!
//! Writing goes `block_render` (blocks) → `inline_render` (rich text); reading goes
//! `block_parse` (blocks) → `inline_parse` (rich text); `table` does pipe tables both ways;
//! `plain` writes the text without the syntax, for search.
//! The alert vocabulary, shared by both directions, lives here.

mod block_parse;
mod block_render;
mod inline_parse;
mod inline_render;
mod plain;
mod table;
#[cfg(test)]
mod tests;

pub use block_parse::from_markdown;
pub use block_render::to_markdown;
pub use inline_parse::parse_inline;
pub use inline_render::rich_text_to_markdown;
pub use plain::to_plain_text;

use crate::block::{BlockKind, Icon};
use crate::ids::Id;

/// Levels of nested containers (list items, quotes, toggles, indented children) that
/// [`from_markdown`] accepts, so that a hostile document cannot exhaust the parser's stack.
pub const MARKDOWN_NESTING_LEVELS_MAX: usize = 32;

/// A stored block with its children, as the store hands it to rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockTree {
    pub kind: BlockKind,
    pub children: Vec<BlockTree>,
    /// For child_page / child_database: the title and id of the page or database (already
    /// permission-checked by the caller; None means the caller may not see it: render nothing).
    pub linked: Option<(Id, String)>,
}

impl BlockTree {
    pub fn new(kind: BlockKind) -> Self {
        BlockTree {
            kind,
            children: Vec::new(),
            linked: None,
        }
    }

    pub fn with_children(kind: BlockKind, children: Vec<BlockTree>) -> Self {
        BlockTree {
            kind,
            children,
            linked: None,
        }
    }
}

/// GitHub alert types and the callout icons they stand for. NOTE stands for no icon.
const ALERT_ICONS: [(&str, &str); 4] = [
    ("TIP", "💡"),
    ("IMPORTANT", "❗"),
    ("WARNING", "⚠️"),
    ("CAUTION", "🛑"),
];

/// The alert type for a callout icon, and the icon to write after the marker when the type
/// alone does not name it.
fn alert_for_icon(icon: Option<&Icon>) -> (&'static str, Option<String>) {
    match icon {
        None => ("NOTE", None),
        Some(Icon::Emoji(emoji)) => match ALERT_ICONS.iter().find(|(_, known)| known == emoji) {
            Some((alert, _)) => (alert, None),
            None => ("NOTE", Some(emoji.clone())),
        },
        Some(Icon::External(url)) => ("NOTE", Some(format!("<{url}>"))),
    }
}

fn icon_for_alert(alert: &str) -> Option<Icon> {
    ALERT_ICONS
        .iter()
        .find(|(known, _)| *known == alert)
        .map(|(_, emoji)| Icon::Emoji(emoji.to_string()))
}
