//! Markdown to blocks.

use std::fmt;

use super::inline_parse::split_long_runs;
use super::inline_render::is_autolink_url;
use super::table::{is_table_start, parse_table};
use super::{MARKDOWN_NESTING_LEVELS_MAX, icon_for_alert, parse_inline};
use crate::block::{BlockKind, CODE_LANGUAGES, Color, Icon, NewBlock, TextContent};
use crate::error::{Error, Result};
use crate::rich_text::RichText;

/// A line of the document (or of a container's inside, with the container's prefix removed),
/// with its 1-based number in the document for error messages.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) number: usize,
    pub(super) text: String,
}

/// Parses Markdown into blocks to append. Errors name the offending line (field "markdown",
/// message "line N: ...").
pub fn from_markdown(text: &str) -> Result<Vec<NewBlock>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<Line> = text
        .split('\n')
        .enumerate()
        .map(|(index, line)| Line {
            number: index + 1,
            text: line.strip_suffix('\r').unwrap_or(line).to_string(),
        })
        .collect();
    let mut position = 0;
    parse_blocks(&lines, &mut position, 0, false)
}

pub(super) fn line_error(line: usize, message: impl fmt::Display) -> Error {
    Error::new("markdown", format!("line {line}: {message}"))
}

/// Builds a block and checks it as the API checks a block to append.
pub(super) fn new_block(kind: BlockKind, children: Vec<NewBlock>, line: usize) -> Result<NewBlock> {
    kind.validate().map_err(|error| line_error(line, error))?;
    Ok(NewBlock { kind, children })
}

fn check_depth(depth: usize, line: usize) -> Result<()> {
    if depth > MARKDOWN_NESTING_LEVELS_MAX {
        return Err(line_error(
            line,
            format!("blocks may be nested at most {MARKDOWN_NESTING_LEVELS_MAX} levels deep"),
        ));
    }
    Ok(())
}

pub(super) fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

fn trim_start(text: &str) -> &str {
    text.trim_start_matches([' ', '\t'])
}

/// Columns of leading whitespace (tabs to the next multiple of 4), or None for a blank line.
fn indent_of(text: &str) -> Option<usize> {
    let mut columns = 0;
    for c in text.chars() {
        match c {
            ' ' => columns += 1,
            '\t' => columns += 4 - columns % 4,
            _ => return Some(columns),
        }
    }
    None
}

/// Removes up to `columns` columns of leading whitespace.
fn strip_columns(text: &str, columns: usize) -> String {
    let mut stripped = 0;
    for (index, c) in text.char_indices() {
        if stripped >= columns {
            return text[index..].to_string();
        }
        match c {
            ' ' => stripped += 1,
            '\t' => {
                let next = stripped + 4 - stripped % 4;
                if next > columns {
                    return format!("{}{}", " ".repeat(next - columns), &text[index + 1..]);
                }
                stripped = next;
            }
            _ => return text[index..].to_string(),
        }
    }
    String::new()
}

fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// What a line (without its indentation) starts.
pub(super) enum Start<'a> {
    Heading {
        level: usize,
        text: &'a str,
    },
    Fence {
        fence: char,
        length: usize,
        info: &'a str,
    },
    Equation(&'a str),
    Divider,
    Quote,
    DetailsOpen(&'a str),
    DetailsClose,
    ListItem(ListMarker<'a>),
    Text,
}

#[derive(Clone, Copy)]
pub(super) struct ListMarker<'a> {
    numbered: bool,
    number_is_one: bool,
    checked: Option<bool>,
    text: &'a str,
}

pub(super) fn classify(content: &str) -> Start<'_> {
    if let Some(fence) = content.chars().next().filter(|c| matches!(c, '`' | '~')) {
        let length = content.chars().take_while(|c| *c == fence).count();
        let info = trim(&content[length..]);
        // A backtick fence's info string may not hold a backtick (that is a code span).
        if length >= 3 && (fence == '~' || !info.contains('`')) {
            return Start::Fence {
                fence,
                length,
                info,
            };
        }
    }
    if let Some(rest) = content.strip_prefix("$$") {
        return Start::Equation(rest);
    }
    let hashes = content.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&hashes) {
        let rest = &content[hashes..];
        if rest.is_empty() || rest.starts_with([' ', '\t']) {
            return Start::Heading {
                level: hashes.min(3),
                text: heading_content(rest),
            };
        }
    }
    if is_divider(content) {
        return Start::Divider;
    }
    if content.starts_with('>') {
        return Start::Quote;
    }
    if starts_with_ignoring_case(content, "<details")
        && content[8..].starts_with(['>', ' ', '\t'])
        && let Some(end) = content.find('>')
    {
        return Start::DetailsOpen(&content[end + 1..]);
    }
    if trim(content).eq_ignore_ascii_case("</details>") {
        return Start::DetailsClose;
    }
    match list_marker(content) {
        Some(marker) => Start::ListItem(marker),
        None => Start::Text,
    }
}

/// A heading's text without the optional closing run of `#`s.
fn heading_content(rest: &str) -> &str {
    let text = trim(rest);
    let without_closing = text.trim_end_matches('#');
    if without_closing.is_empty() {
        ""
    } else if without_closing.ends_with([' ', '\t']) {
        trim(without_closing)
    } else {
        text
    }
}

fn is_divider(content: &str) -> bool {
    let mut marker = None;
    let mut count = 0;
    for c in content.chars() {
        match c {
            ' ' | '\t' => {}
            '-' | '*' | '_' if marker.is_none_or(|marker| marker == c) => {
                marker = Some(c);
                count += 1;
            }
            _ => return false,
        }
    }
    count >= 3
}

fn list_marker(content: &str) -> Option<ListMarker<'_>> {
    let bytes = content.as_bytes();
    let (numbered, number_is_one, length) = match bytes.first()? {
        b'-' | b'*' | b'+' => (false, false, 1),
        b'0'..=b'9' => {
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 9 || !matches!(bytes.get(digits), Some(b'.' | b')')) {
                return None;
            }
            (
                true,
                content[..digits].parse::<u32>().ok() == Some(1),
                digits + 1,
            )
        }
        _ => return None,
    };
    let rest = &content[length..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let text = trim(rest);
    let task = match text.get(..3) {
        Some("[ ]") => Some(false),
        Some("[x]" | "[X]") => Some(true),
        _ => None,
    };
    match task {
        Some(checked) if text.len() == 3 || text[3..].starts_with([' ', '\t']) => {
            Some(ListMarker {
                numbered,
                number_is_one,
                checked: Some(checked),
                text: trim(&text[3..]),
            })
        }
        _ => Some(ListMarker {
            numbered,
            number_is_one,
            checked: None,
            text,
        }),
    }
}

/// Whether a line ends the paragraph (or list item text) above it, as in GFM: a list item
/// interrupts a paragraph only if it has text and, numbered, starts at 1.
fn interrupts_text(content: &str, in_list_item: bool) -> bool {
    match classify(content) {
        Start::Text => false,
        Start::ListItem(marker) => {
            in_list_item
                || ((!marker.text.is_empty() || marker.checked.is_some())
                    && (!marker.numbered || marker.number_is_one))
        }
        _ => true,
    }
}

fn text_content(source: &str) -> TextContent {
    TextContent {
        rich_text: parse_inline(source),
        color: Color::Default,
    }
}

pub(super) fn heading_kind(level: usize, text: &str, is_toggleable: bool) -> BlockKind {
    let text = text_content(text);
    match level {
        1 => BlockKind::Heading1 {
            text,
            is_toggleable,
        },
        2 => BlockKind::Heading2 {
            text,
            is_toggleable,
        },
        _ => BlockKind::Heading3 {
            text,
            is_toggleable,
        },
    }
}

/// Parses blocks from `position` to the end of `lines`, or, inside `<details>`, up to (not
/// past) its `</details>`.
fn parse_blocks(
    lines: &[Line],
    position: &mut usize,
    depth: usize,
    in_details: bool,
) -> Result<Vec<NewBlock>> {
    let mut blocks = Vec::new();
    while let Some(line) = lines.get(*position) {
        let Some(indent) = indent_of(&line.text) else {
            *position += 1;
            continue;
        };
        let content = trim_start(&line.text);
        let block = match classify(content) {
            Start::DetailsClose if in_details => return Ok(blocks),
            Start::DetailsClose => {
                return Err(line_error(
                    line.number,
                    "`</details>` closes no `<details>`",
                ));
            }
            Start::Fence {
                fence,
                length,
                info,
            } => parse_fence(lines, position, indent, (fence, length), info)?,
            Start::Equation(rest) => parse_equation(lines, position, rest)?,
            Start::Divider => {
                *position += 1;
                new_block(BlockKind::Divider, Vec::new(), line.number)?
            }
            Start::Heading { level, text } => {
                *position += 1;
                new_block(heading_kind(level, text, false), Vec::new(), line.number)?
            }
            Start::Quote => parse_quote(lines, position, depth)?,
            Start::DetailsOpen(rest) => parse_details(lines, position, rest, depth)?,
            Start::ListItem(marker) => parse_list_item(lines, position, indent, marker, depth)?,
            Start::Text if is_table_start(lines, *position) => parse_table(lines, position)?,
            Start::Text => parse_paragraph(lines, position, indent, depth)?,
        };
        blocks.push(block);
    }
    Ok(blocks)
}

fn parse_fence(
    lines: &[Line],
    position: &mut usize,
    indent: usize,
    (fence, length): (char, usize),
    info: &str,
) -> Result<NewBlock> {
    let opening = lines[*position].number;
    *position += 1;
    let mut content = Vec::new();
    loop {
        let Some(line) = lines.get(*position) else {
            let closing = fence.to_string().repeat(length);
            return Err(line_error(
                opening,
                format!("the code block is never closed; end it with a line of {closing}"),
            ));
        };
        *position += 1;
        if is_closing_fence(&line.text, fence, length, indent.max(3)) {
            break;
        }
        content.push(strip_columns(&line.text, indent));
    }
    let code = content.join("\n");
    let kind = if info
        .split_whitespace()
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("math"))
    {
        BlockKind::Equation { expression: code }
    } else {
        let rich_text = if code.is_empty() {
            Vec::new()
        } else {
            split_long_runs(vec![RichText::plain(code)])
        };
        BlockKind::Code {
            rich_text,
            caption: Vec::new(),
            language: language_for(info),
        }
    };
    new_block(kind, Vec::new(), opening)
}

fn is_closing_fence(text: &str, fence: char, length: usize, indent_max: usize) -> bool {
    let content = trim(text);
    indent_of(text).is_some_and(|indent| indent <= indent_max)
        && content.chars().all(|c| c == fence)
        && content.chars().count() >= length
}

/// Notion's name for a fence's language; anything unknown is "plain text".
fn language_for(info: &str) -> String {
    let info = info.trim().to_ascii_lowercase();
    if CODE_LANGUAGES.contains(&info.as_str()) {
        return info;
    }
    let word = info.split_whitespace().next().unwrap_or("");
    let word = match word {
        "js" | "jsx" | "mjs" | "cjs" | "node" => "javascript",
        "ts" | "tsx" => "typescript",
        "py" | "python3" => "python",
        "rs" => "rust",
        "sh" | "zsh" | "console" => "shell",
        "yml" => "yaml",
        "md" => "markdown",
        "golang" => "go",
        "cpp" | "cc" | "cxx" | "hpp" => "c++",
        "cs" | "csharp" => "c#",
        "dockerfile" => "docker",
        "tex" => "latex",
        "kt" | "kts" => "kotlin",
        "rb" => "ruby",
        "ps1" | "pwsh" => "powershell",
        "htm" | "xhtml" => "html",
        "hs" => "haskell",
        "ml" => "ocaml",
        "gql" => "graphql",
        "make" | "mk" => "makefile",
        "patch" => "diff",
        "jsonc" | "json5" => "json",
        "psql" | "postgresql" | "mysql" | "sqlite" => "sql",
        other => other,
    };
    if CODE_LANGUAGES.contains(&word) {
        word.to_string()
    } else {
        "plain text".to_string()
    }
}

fn parse_equation(lines: &[Line], position: &mut usize, rest: &str) -> Result<NewBlock> {
    let opening = lines[*position].number;
    *position += 1;
    let rest = trim(rest);
    if let Some(expression) = rest.strip_suffix("$$") {
        return new_block(
            BlockKind::Equation {
                expression: trim(expression).to_string(),
            },
            Vec::new(),
            opening,
        );
    }
    let mut content = Vec::new();
    if !rest.is_empty() {
        content.push(rest.to_string());
    }
    loop {
        let Some(line) = lines.get(*position) else {
            return Err(line_error(
                opening,
                "the block equation is never closed; end it with a line of $$",
            ));
        };
        *position += 1;
        if let Some(last) = trim(&line.text).strip_suffix("$$") {
            if !trim(last).is_empty() {
                content.push(trim(last).to_string());
            }
            break;
        }
        content.push(line.text.clone());
    }
    new_block(
        BlockKind::Equation {
            expression: content.join("\n"),
        },
        Vec::new(),
        opening,
    )
}

/// Takes the text lines that follow a paragraph's or list item's first line: lines that
/// neither are blank nor start another block.
fn take_continuation(
    lines: &[Line],
    position: &mut usize,
    source: &mut String,
    in_list_item: bool,
    indent_min: usize,
) {
    while let Some(line) = lines.get(*position) {
        let Some(indent) = indent_of(&line.text) else {
            break;
        };
        let content = trim_start(&line.text);
        if interrupts_text(content, in_list_item)
            || is_table_start(lines, *position)
            || (source.is_empty() && indent < indent_min)
        {
            break;
        }
        if !source.is_empty() {
            source.push('\n');
        }
        source.push_str(trim(content));
        *position += 1;
    }
}

/// The lines after a block indented at least `threshold` columns (blank lines among them) are
/// its children; they are parsed with their common indentation removed.
fn parse_region(
    lines: &[Line],
    position: &mut usize,
    threshold: usize,
    opening: usize,
    depth: usize,
) -> Result<Vec<NewBlock>> {
    let start = *position;
    let mut end = start;
    let mut taken = start;
    let mut indent_min = usize::MAX;
    while let Some(line) = lines.get(end) {
        match indent_of(&line.text) {
            None => end += 1,
            Some(indent) if indent >= threshold => {
                end += 1;
                taken = end;
                indent_min = indent_min.min(indent);
            }
            Some(_) => break,
        }
    }
    if taken == start {
        return Ok(Vec::new());
    }
    *position = taken;
    check_depth(depth + 1, opening)?;
    let region: Vec<Line> = lines[start..taken]
        .iter()
        .map(|line| Line {
            number: line.number,
            text: strip_columns(&line.text, indent_min),
        })
        .collect();
    parse_blocks(&region, &mut 0, depth + 1, false)
}

fn parse_paragraph(
    lines: &[Line],
    position: &mut usize,
    indent: usize,
    depth: usize,
) -> Result<NewBlock> {
    let opening = lines[*position].number;
    let mut source = trim(&lines[*position].text).to_string();
    *position += 1;
    let first_line_end = *position;
    take_continuation(lines, position, &mut source, false, 0);
    if *position == first_line_end
        && let Some(url) = source
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix('>'))
        && is_autolink_url(url)
    {
        return new_block(
            BlockKind::Bookmark {
                url: url.to_string(),
                caption: Vec::new(),
            },
            Vec::new(),
            opening,
        );
    }
    let text = if *position == first_line_end && source == "<br>" {
        TextContent::default()
    } else {
        text_content(&source)
    };
    let children = parse_region(lines, position, indent + 1, opening, depth)?;
    new_block(BlockKind::Paragraph(text), children, opening)
}

fn parse_list_item(
    lines: &[Line],
    position: &mut usize,
    indent: usize,
    marker: ListMarker<'_>,
    depth: usize,
) -> Result<NewBlock> {
    let opening = lines[*position].number;
    *position += 1;
    // Children are indented at least two columns past the marker's start: GFM wants the
    // content column (3 under `1. `), but two is what people write.
    let threshold = indent + 2;
    let mut source = marker.text.to_string();
    take_continuation(lines, position, &mut source, true, threshold);
    let children = parse_region(lines, position, threshold, opening, depth)?;
    let text = text_content(&source);
    let kind = match marker {
        ListMarker {
            checked: Some(checked),
            ..
        } => BlockKind::ToDo { text, checked },
        ListMarker { numbered: true, .. } => BlockKind::NumberedListItem(text),
        ListMarker { .. } => BlockKind::BulletedListItem(text),
    };
    new_block(kind, children, opening)
}

fn parse_quote(lines: &[Line], position: &mut usize, depth: usize) -> Result<NewBlock> {
    let opening = lines[*position].number;
    let mut inner = Vec::new();
    while let Some(line) = lines.get(*position) {
        let Some(rest) = trim_start(&line.text).strip_prefix('>') else {
            break;
        };
        let rest = rest.strip_prefix([' ', '\t']).unwrap_or(rest);
        inner.push(Line {
            number: line.number,
            text: rest.to_string(),
        });
        *position += 1;
    }
    check_depth(depth + 1, opening)?;
    if let Some((alert, after)) = inner.first().and_then(|line| alert_marker(&line.text)) {
        let after = trim(after);
        let mut icon = icon_for_alert(&alert);
        let mut first_text = String::new();
        if !after.is_empty() {
            match parse_icon(after) {
                Some(explicit) => icon = Some(explicit),
                None => first_text = after.to_string(),
            }
        }
        let (text, children) = leading_text(&inner[1..], first_text, depth + 1)?;
        return new_block(BlockKind::Callout { text, icon }, children, opening);
    }
    let (text, children) = leading_text(&inner, String::new(), depth + 1)?;
    new_block(BlockKind::Quote(text), children, opening)
}

/// Splits a quote's inside into its text (a paragraph on its first line, after any `first`
/// text) and its children.
fn leading_text(
    lines: &[Line],
    first: String,
    depth: usize,
) -> Result<(TextContent, Vec<NewBlock>)> {
    let mut position = 0;
    let mut source = first;
    let starts_with_text = lines.first().is_some_and(|line| {
        indent_of(&line.text).is_some()
            && matches!(classify(trim_start(&line.text)), Start::Text)
            && !is_table_start(lines, 0)
    });
    if !source.is_empty() || starts_with_text {
        take_continuation(lines, &mut position, &mut source, false, 0);
    }
    let text = text_content(&source);
    let children = parse_blocks(lines, &mut position, depth, false)?;
    Ok((text, children))
}

/// `[!NOTE]` and the rest of the line after it.
fn alert_marker(text: &str) -> Option<(String, &str)> {
    let rest = trim_start(text).strip_prefix("[!")?;
    let end = rest.find(']')?;
    let word = &rest[..end];
    let after = &rest[end + 1..];
    if word.is_empty()
        || !word.chars().all(|c| c.is_ascii_alphabetic())
        || !(after.is_empty() || after.starts_with([' ', '\t']))
    {
        return None;
    }
    Some((word.to_ascii_uppercase(), after))
}

fn parse_icon(text: &str) -> Option<Icon> {
    if let Some(url) = text
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
    {
        return is_autolink_url(url).then(|| Icon::External(url.to_string()));
    }
    looks_like_emoji(text).then(|| Icon::Emoji(text.to_string()))
}

/// Whether `text` is one emoji (possibly joined from several, with modifiers): enough to tell
/// an icon after an alert marker from text.
fn looks_like_emoji(text: &str) -> bool {
    let mut pictographic = false;
    for c in text.chars() {
        let code = c as u32;
        let emoji = matches!(
            code,
            0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x2194..=0x21AA | 0x231A..=0x23FF
                | 0x24C2 | 0x25AA..=0x27BF | 0x2934 | 0x2935 | 0x2B05..=0x2B55 | 0x3030 | 0x303D
                | 0x3297 | 0x3299 | 0x1F000..=0x1FAFF
        );
        let modifier = matches!(code, 0x200D | 0x20E3 | 0xFE0E | 0xFE0F | 0xE0020..=0xE007F)
            || c.is_ascii_digit()
            || matches!(c, '#' | '*');
        if !(emoji || modifier) {
            return false;
        }
        pictographic |= emoji || code == 0x20E3;
    }
    pictographic && text.chars().count() <= 16
}

fn parse_details(
    lines: &[Line],
    position: &mut usize,
    rest: &str,
    depth: usize,
) -> Result<NewBlock> {
    let opening = lines[*position].number;
    *position += 1;
    let mut summary_line = trim(rest).to_string();
    if summary_line.is_empty() {
        let mut next = *position;
        while lines
            .get(next)
            .is_some_and(|line| indent_of(&line.text).is_none())
        {
            next += 1;
        }
        if let Some(line) = lines.get(next)
            && starts_with_ignoring_case(trim_start(&line.text), "<summary>")
        {
            summary_line = trim(&line.text).to_string();
            *position = next + 1;
        }
    }
    let mut summary = "";
    let mut closed = false;
    if starts_with_ignoring_case(&summary_line, "<summary>") {
        let after = &summary_line["<summary>".len()..];
        match after.to_ascii_lowercase().rfind("</summary>") {
            Some(end) => {
                summary = &after[..end];
                closed =
                    trim(&after[end + "</summary>".len()..]).eq_ignore_ascii_case("</details>");
            }
            None => summary = after,
        }
    }
    let summary = trim(summary);
    let kind = match classify(summary) {
        Start::Heading { level, text } => heading_kind(level, text, true),
        _ => BlockKind::Toggle(text_content(summary)),
    };
    if closed {
        return new_block(kind, Vec::new(), opening);
    }
    check_depth(depth + 1, opening)?;
    let children = parse_blocks(lines, position, depth + 1, true)?;
    if *position >= lines.len() {
        return Err(line_error(
            opening,
            "`<details>` is never closed by `</details>`",
        ));
    }
    *position += 1;
    new_block(kind, children, opening)
}
