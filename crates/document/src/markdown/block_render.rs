//! Blocks to Markdown.

use super::block_parse::trim;
use super::inline_render::{escape_text, is_autolink_url, link_destination};
use super::table::render_table;
use super::{BlockTree, alert_for_icon, rich_text_to_markdown};
use crate::block::{BlockKind, TextContent};
use crate::rich_text::{self, RichText};

/// Renders blocks as GitHub-flavoured Markdown.
pub fn to_markdown(blocks: &[BlockTree]) -> String {
    let (lines, _) = render_siblings(blocks);
    let mut markdown = lines.join("\n");
    if !markdown.is_empty() {
        markdown.push('\n');
    }
    markdown
}

fn is_list_item(kind: &BlockKind) -> bool {
    matches!(
        kind,
        BlockKind::BulletedListItem(_) | BlockKind::NumberedListItem(_) | BlockKind::ToDo { .. }
    )
}

/// Renders sibling blocks, blank lines between them except between list items (which would
/// otherwise make a GFM "loose" list). Also says whether the first block written is a list item.
fn render_siblings(blocks: &[BlockTree]) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut first_is_list_item = false;
    let mut previous_is_list_item = None;
    let mut number = 0;
    for block in blocks {
        let numbered = matches!(block.kind, BlockKind::NumberedListItem(_));
        let block_lines = render_block(block, number + 1);
        if block_lines.is_empty() {
            continue;
        }
        number = if numbered { number + 1 } else { 0 };
        let list_item = is_list_item(&block.kind);
        match previous_is_list_item {
            None => first_is_list_item = list_item,
            Some(previous) if previous && list_item => {}
            Some(_) => lines.push(String::new()),
        }
        previous_is_list_item = Some(list_item);
        lines.extend(block_lines);
    }
    (lines, first_is_list_item)
}

/// The lines of one block and its children. `number` is its number if it is a numbered item.
fn render_block(block: &BlockTree, number: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let children = &block.children;
    match &block.kind {
        BlockKind::Paragraph(text) => {
            let line = block_text(&text.rich_text);
            // A lone `<br>` line is the empty paragraph, so a paragraph holding just a line
            // break takes the other spelling.
            lines.push(match line.as_str() {
                "" => "<br>".to_string(),
                "<br>" => "<br/>".to_string(),
                _ => line,
            });
            push_indented(&mut lines, children, 2, false);
        }
        BlockKind::Heading1 {
            text,
            is_toggleable,
        } => render_heading(&mut lines, 1, text, *is_toggleable, children),
        BlockKind::Heading2 {
            text,
            is_toggleable,
        } => render_heading(&mut lines, 2, text, *is_toggleable, children),
        BlockKind::Heading3 {
            text,
            is_toggleable,
        } => render_heading(&mut lines, 3, text, *is_toggleable, children),
        BlockKind::BulletedListItem(text) => {
            lines.push(with_marker("- ", &block_text(&text.rich_text)));
            push_indented(&mut lines, children, 2, true);
        }
        BlockKind::NumberedListItem(text) => {
            let marker = format!("{number}. ");
            lines.push(with_marker(&marker, &block_text(&text.rich_text)));
            push_indented(&mut lines, children, marker.len(), true);
        }
        BlockKind::ToDo { text, checked } => {
            let marker = if *checked { "- [x] " } else { "- [ ] " };
            lines.push(with_marker(marker, &block_text(&text.rich_text)));
            push_indented(&mut lines, children, 2, true);
        }
        BlockKind::Toggle(text) => push_details(&mut lines, block_text(&text.rich_text), children),
        BlockKind::Quote(text) => {
            let mut inner = vec![block_text(&text.rich_text)];
            push_after_blank(&mut inner, children);
            push_quoted(&mut lines, inner);
        }
        BlockKind::Callout { text, icon } => {
            let (alert, shown_icon) = alert_for_icon(icon.as_ref());
            let mut inner = vec![match shown_icon {
                Some(icon) => format!("[!{alert}] {icon}"),
                None => format!("[!{alert}]"),
            }];
            let text = block_text(&text.rich_text);
            if !text.is_empty() {
                inner.push(text);
            }
            push_after_blank(&mut inner, children);
            push_quoted(&mut lines, inner);
        }
        BlockKind::Code {
            rich_text: runs,
            language,
            ..
        } => {
            let code = rich_text::plain_text(runs);
            let fence = "`".repeat((longest_run(&code, '`') + 1).max(3));
            let info = if language == "plain text" {
                ""
            } else {
                language.as_str()
            };
            lines.push(format!("{fence}{info}"));
            if !code.is_empty() {
                lines.extend(code.split('\n').map(str::to_string));
            }
            lines.push(fence);
            push_after_blank(&mut lines, children);
        }
        BlockKind::Divider => {
            lines.push("---".to_string());
            push_after_blank(&mut lines, children);
        }
        BlockKind::ChildPage | BlockKind::ChildDatabase => {
            if let Some((id, title)) = &block.linked {
                let title = if title.trim().is_empty() {
                    "Untitled"
                } else {
                    title.as_str()
                };
                let mut line = String::from("[");
                escape_text(title, &mut line);
                line.push_str(&format!("](/{})", id.to_string().replace('-', "")));
                lines.push(line);
            }
        }
        BlockKind::Bookmark { url, .. } => {
            if is_autolink_url(url) {
                lines.push(format!("<{url}>"));
            } else {
                let mut line = String::from("[");
                escape_text(url, &mut line);
                line.push_str("](");
                line.push_str(&link_destination(url));
                line.push(')');
                lines.push(line);
            }
            push_after_blank(&mut lines, children);
        }
        BlockKind::Equation { expression } => {
            // A line ending in `$$` would close a `$$` block early; a math fence has no such line.
            let (open, close) = if expression
                .split('\n')
                .any(|line| trim(line).ends_with("$$"))
            {
                let fence = "`".repeat((longest_run(expression, '`') + 1).max(3));
                (format!("{fence}math"), fence)
            } else {
                ("$$".to_string(), "$$".to_string())
            };
            lines.push(open);
            if !expression.is_empty() {
                lines.extend(expression.split('\n').map(str::to_string));
            }
            lines.push(close);
            push_after_blank(&mut lines, children);
        }
        BlockKind::Table {
            table_width,
            has_column_header,
            ..
        } => {
            render_table(
                &mut lines,
                *table_width as usize,
                *has_column_header,
                children,
            );
        }
        // A row outside a table has no Markdown form; the store never hands one over.
        BlockKind::TableRow { .. } => {}
    }
    lines
}

fn render_heading(
    lines: &mut Vec<String>,
    level: usize,
    text: &TextContent,
    is_toggleable: bool,
    children: &[BlockTree],
) {
    let mut text = block_text(&text.rich_text);
    // GFM drops a closing run of `#`s that follows a space; escape the run so it stays text.
    let without_closing = text.trim_end_matches('#');
    if without_closing.len() < text.len()
        && (without_closing.is_empty() || without_closing.ends_with([' ', '\t']))
    {
        text.insert(without_closing.len(), '\\');
    }
    let line = with_marker(&format!("{} ", "#".repeat(level)), &text);
    if is_toggleable {
        push_details(lines, line, children);
    } else {
        lines.push(line);
        push_after_blank(lines, children);
    }
}

fn with_marker(marker: &str, text: &str) -> String {
    if text.is_empty() {
        marker.trim_end().to_string()
    } else {
        format!("{marker}{text}")
    }
}

/// Appends children indented by `width` columns, after a blank line unless a list item's
/// first child is itself a list item.
fn push_indented(
    lines: &mut Vec<String>,
    children: &[BlockTree],
    width: usize,
    under_list_item: bool,
) {
    let (child_lines, first_is_list_item) = render_siblings(children);
    if child_lines.is_empty() {
        return;
    }
    if !(under_list_item && first_is_list_item) {
        lines.push(String::new());
    }
    let indent = " ".repeat(width);
    lines.extend(child_lines.into_iter().map(|line| {
        if line.is_empty() {
            line
        } else {
            format!("{indent}{line}")
        }
    }));
}

fn push_after_blank(lines: &mut Vec<String>, children: &[BlockTree]) {
    let (child_lines, _) = render_siblings(children);
    if !child_lines.is_empty() {
        lines.push(String::new());
        lines.extend(child_lines);
    }
}

fn push_quoted(lines: &mut Vec<String>, inner: Vec<String>) {
    lines.extend(inner.into_iter().map(|line| {
        if line.is_empty() {
            ">".to_string()
        } else {
            format!("> {line}")
        }
    }));
}

fn push_details(lines: &mut Vec<String>, summary: String, children: &[BlockTree]) {
    lines.push(format!("<details><summary>{summary}</summary>"));
    let (child_lines, _) = render_siblings(children);
    if !child_lines.is_empty() {
        // GitHub reads Markdown inside `<details>` only after a blank line.
        lines.push(String::new());
        lines.extend(child_lines);
        lines.push(String::new());
    }
    lines.push("</details>".to_string());
}

/// A block's text as the rest of a line: inline Markdown that no block syntax can mistake for
/// its own, and whose edge whitespace survives the trimming every line gets.
fn block_text(runs: &[RichText]) -> String {
    let mut text = rich_text_to_markdown(runs);
    escape_line_start(&mut text);
    protect_edge_whitespace(&mut text);
    text
}

/// Escapes what would start a heading, quote, list item or thematic break at a line's start.
/// The inline escapes already cover fences, `$$`, `<details>` and the rest.
fn escape_line_start(text: &mut String) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if matches!(text.as_bytes().first(), Some(b'#' | b'>' | b'-' | b'+')) {
        text.insert(0, '\\');
    } else if (1..=9).contains(&digits) && matches!(text.as_bytes().get(digits), Some(b'.' | b')'))
    {
        text.insert(digits, '\\');
    }
}

pub(super) fn protect_edge_whitespace(text: &mut String) {
    let entity = |c: char| if c == ' ' { "&#32;" } else { "&#9;" };
    if let Some(first) = text.chars().next().filter(|c| matches!(c, ' ' | '\t')) {
        text.replace_range(..1, entity(first));
    }
    if let Some(last) = text.chars().last().filter(|c| matches!(c, ' ' | '\t')) {
        let at = text.len() - 1;
        text.replace_range(at.., entity(last));
    }
}

pub(super) fn longest_run(text: &str, character: char) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for c in text.chars() {
        current = if c == character { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}
