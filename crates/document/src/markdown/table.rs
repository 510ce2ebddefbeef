//! GFM pipe tables, both ways.

use super::block_parse::{Line, Start, classify, line_error, new_block, trim};
use super::block_render::protect_edge_whitespace;
use super::{BlockTree, parse_inline, rich_text_to_markdown};
use crate::block::{BlockKind, NewBlock};
use crate::error::Result;
use crate::rich_text::RichText;

// Writing.

pub(super) fn render_table(
    lines: &mut Vec<String>,
    width: usize,
    has_column_header: bool,
    children: &[BlockTree],
) {
    if width == 0 {
        return;
    }
    let rows: Vec<&[Vec<RichText>]> = children
        .iter()
        .filter_map(|row| match &row.kind {
            BlockKind::TableRow { cells } => Some(cells.as_slice()),
            _ => None,
        })
        .collect();
    // GFM tables always have a header row; an empty one stands for "no column header".
    let (header, body) = match rows.split_first() {
        Some((first, rest)) if has_column_header => (*first, rest),
        _ => (&[][..], &rows[..]),
    };
    lines.push(table_row_line(header, width));
    lines.push(format!("|{}", " --- |".repeat(width)));
    lines.extend(body.iter().map(|cells| table_row_line(cells, width)));
}

fn table_row_line(cells: &[Vec<RichText>], width: usize) -> String {
    let mut line = String::from("|");
    for index in 0..width {
        let mut cell = cells
            .get(index)
            .map(|runs| rich_text_to_markdown(runs))
            .unwrap_or_default();
        protect_edge_whitespace(&mut cell);
        line.push(' ');
        line.push_str(&cell.replace('|', "\\|"));
        line.push_str(" |");
    }
    line
}

// Reading.

fn has_unescaped_pipe(text: &str) -> bool {
    let mut previous = None;
    for c in text.chars() {
        if c == '|' && previous != Some('\\') {
            return true;
        }
        previous = Some(c);
    }
    false
}

/// A table row's cells: split at pipes not preceded by a backslash, `\|` read as `|`.
fn split_row(line: &str) -> Vec<String> {
    let line = trim(line);
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = match line.strip_suffix('|') {
        Some(inner) if !inner.ends_with('\\') => inner,
        _ => line,
    };
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells.iter().map(|cell| trim(cell).to_string()).collect()
}

fn is_delimiter_cell(cell: &str) -> bool {
    let cell = cell.strip_prefix(':').unwrap_or(cell);
    let cell = cell.strip_suffix(':').unwrap_or(cell);
    !cell.is_empty() && cell.bytes().all(|b| b == b'-')
}

/// Whether a table starts at `index`: a row of cells, then a delimiter row of as many cells.
pub(super) fn is_table_start(lines: &[Line], index: usize) -> bool {
    let (Some(header), Some(delimiter)) = (lines.get(index), lines.get(index + 1)) else {
        return false;
    };
    if !has_unescaped_pipe(&header.text) || !delimiter.text.contains('|') {
        return false;
    }
    let delimiters = split_row(&delimiter.text);
    delimiters.iter().all(|cell| is_delimiter_cell(cell))
        && delimiters.len() == split_row(&header.text).len()
}

pub(super) fn parse_table(lines: &[Line], position: &mut usize) -> Result<NewBlock> {
    let opening = lines[*position].number;
    let header = split_row(&lines[*position].text);
    let width = header.len();
    *position += 2;
    let has_column_header = header.iter().any(|cell| !cell.is_empty());
    let mut rows = Vec::new();
    if has_column_header {
        rows.push((opening, header));
    }
    while let Some(line) = lines.get(*position) {
        let content = trim(&line.text);
        // As in GFM, a table ends at a blank line or another block, not at a line without pipes.
        if content.is_empty() || !matches!(classify(content), Start::Text) {
            break;
        }
        rows.push((line.number, split_row(content)));
        *position += 1;
    }
    let table_width = u32::try_from(width).unwrap_or(u32::MAX);
    let kind = BlockKind::Table {
        table_width,
        has_column_header,
        has_row_header: false,
    };
    kind.validate()
        .map_err(|error| line_error(opening, error))?;
    let children = rows
        .into_iter()
        .map(|(number, mut cells)| {
            cells.resize(width, String::new());
            let cells = cells.iter().map(|cell| parse_inline(cell)).collect();
            new_block(BlockKind::TableRow { cells }, Vec::new(), number)
        })
        .collect::<Result<Vec<_>>>()?;
    new_block(kind, children, opening)
}
