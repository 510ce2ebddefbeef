//! Rich text to inline Markdown.

use std::collections::HashSet;

use super::block_render::longest_run;
use super::inline_parse::{
    Emphasis, InlineParser, annotations_of, flatten, is_punctuation, push_run,
};
use crate::rich_text::{Annotations, RichText, RichTextKind};

/// Passes [`rich_text_to_markdown`] makes, each writing one more emphasis span as HTML tags,
/// before it writes all of them so.
const TAGGED_SPAN_PASSES_MAX: usize = 16;

// ---------------------------------------------------------------------------------------------

/// A span of inline formatting, opened and closed around the text it applies to.
#[derive(Debug, Clone, PartialEq)]
enum Style {
    Link(String),
    Underline,
    Strikethrough,
    Bold,
    Italic,
}

#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    Text(String),
    Code(String),
    Equation(String),
}

/// A piece of rich text with the styles around it, in the order links, underline,
/// strikethrough, bold, italic.
struct Segment {
    leaf: Leaf,
    styles: Vec<Style>,
}

/// Inline rich text to Markdown (bold `**`, italic `*`, strikethrough `~~`, code `` ` ``,
/// links `[t](u)`, underline as `<u>..</u>`, inline equation `$..$`, mentions rendered as their
/// plain text / a link for page mentions).
pub fn rich_text_to_markdown(runs: &[RichText]) -> String {
    let segments = segments(runs);
    // Emphasis delimiters work only where CommonMark's flanking rules let them: not, say,
    // between a letter and punctuation (`a**"b"**`), nor where a closing and an opening run
    // touch. The first span whose delimiters would not work is written with HTML tags
    // instead, and so on; should the text still not read back as meant, or too many spans
    // need it, all emphasis becomes tags.
    let mut tagged = HashSet::new();
    for _ in 0..TAGGED_SPAN_PASSES_MAX {
        let rendered = render_segments(&segments, Tagged::Spans(&tagged));
        match first_unflanked_span(&rendered) {
            Some(span) => {
                tagged.insert(span);
            }
            None if flatten(InlineParser::new(&rendered.markdown).items())
                == intended_runs(&segments) =>
            {
                return rendered.markdown;
            }
            None => break,
        }
    }
    render_segments(&segments, Tagged::Every).markdown
}

/// A `*`, `**` or `~~` delimiter written for an emphasis span.
struct Marker {
    start: usize,
    end: usize,
    character: char,
    span: usize,
    opening: bool,
}

struct Rendered {
    markdown: String,
    markers: Vec<Marker>,
    /// Spans opened so far, numbered in order from 0.
    spans: usize,
}

/// Which spans, numbered in the order they open, to write as HTML tags (only emphasis has a
/// choice: links are always Markdown, underline always a tag).
enum Tagged<'a> {
    Spans(&'a HashSet<usize>),
    Every,
}

impl Tagged<'_> {
    fn contains(&self, span: usize) -> bool {
        match self {
            Tagged::Spans(spans) => spans.contains(&span),
            Tagged::Every => true,
        }
    }
}

/// Writes the segments, opening and closing styles around them.
fn render_segments(segments: &[Segment], tagged: Tagged<'_>) -> Rendered {
    let mut rendered = Rendered {
        markdown: String::new(),
        markers: Vec::new(),
        spans: 0,
    };
    let mut open: Vec<(Style, usize)> = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        let kept = open
            .iter()
            .take_while(|(style, _)| segment.styles.contains(style))
            .count();
        while open.len() > kept {
            if let Some((style, span)) = open.pop() {
                write_marker(&mut rendered, &style, span, false, tagged.contains(span));
            }
        }
        // The styles that last longest open first, outermost, so that fewer markers close
        // and reopen at the next change.
        let mut opening: Vec<&Style> = segment
            .styles
            .iter()
            .filter(|style| !open.iter().any(|(opened, _)| opened == *style))
            .collect();
        opening.sort_by_key(|style| {
            std::cmp::Reverse(
                segments[index..]
                    .iter()
                    .take_while(|later| later.styles.contains(style))
                    .count(),
            )
        });
        for style in opening {
            let span = rendered.spans;
            rendered.spans += 1;
            write_marker(&mut rendered, style, span, true, tagged.contains(span));
            open.push((style.clone(), span));
        }
        let out = &mut rendered.markdown;
        match &segment.leaf {
            Leaf::Text(text) => escape_text(text, out),
            Leaf::Code(code) => code_span(code, out),
            Leaf::Equation(expression) if is_inline_equation(expression) => {
                out.push('$');
                out.push_str(expression);
                out.push('$');
            }
            Leaf::Equation(expression) => escape_text(expression, out),
        }
    }
    while let Some((style, span)) = open.pop() {
        write_marker(&mut rendered, &style, span, false, tagged.contains(span));
    }
    rendered
}

fn write_marker(rendered: &mut Rendered, style: &Style, span: usize, opening: bool, as_tag: bool) {
    let out = &mut rendered.markdown;
    let delimiter = match style {
        Style::Link(url) => {
            if opening {
                out.push('[');
            } else {
                out.push_str("](");
                out.push_str(&link_destination(url));
                out.push(')');
            }
            return;
        }
        Style::Underline => None,
        Style::Strikethrough => Some("~~"),
        Style::Bold => Some("**"),
        Style::Italic => Some("*"),
    };
    match delimiter {
        Some(delimiter) if !as_tag => {
            let start = out.len();
            out.push_str(delimiter);
            let character = if delimiter == "~~" { '~' } else { '*' };
            rendered.markers.push(Marker {
                start,
                end: out.len(),
                character,
                span,
                opening,
            });
        }
        _ => {
            let name = match style {
                Style::Underline => "u",
                Style::Strikethrough => "s",
                Style::Bold => "b",
                _ => "i",
            };
            out.push_str(if opening { "<" } else { "</" });
            out.push_str(name);
            out.push('>');
        }
    }
}

/// The first span with a delimiter that cannot do its job where it stands: an opening
/// delimiter in a run that is not left-flanking, a closing one in a run that is not
/// right-flanking, or an opening one in a run that also closes (CommonMark may pair such runs
/// otherwise than meant).
fn first_unflanked_span(rendered: &Rendered) -> Option<usize> {
    let markers = &rendered.markers;
    let mut first = 0;
    while first < markers.len() {
        let mut last = first;
        while markers.get(last + 1).is_some_and(|next| {
            next.character == markers[first].character && next.start == markers[last].end
        }) {
            last += 1;
        }
        let run = &markers[first..=last];
        let before = rendered.markdown[..run[0].start].chars().next_back();
        let after = rendered.markdown[run[run.len() - 1].end..].chars().next();
        let (left_flanking, right_flanking) = flanking(before, after);
        let mixed =
            run.iter().any(|marker| marker.opening) && run.iter().any(|marker| !marker.opening);
        let failing = run.iter().find(|marker| {
            if marker.opening {
                !left_flanking || mixed
            } else {
                !right_flanking
            }
        });
        if let Some(marker) = failing {
            return Some(marker.span);
        }
        first = last + 1;
    }
    None
}

/// CommonMark's left- and right-flanking for a delimiter run between `before` and `after`.
pub(super) fn flanking(before: Option<char>, after: Option<char>) -> (bool, bool) {
    let whitespace = |c: Option<char>| c.is_none_or(char::is_whitespace);
    let punctuation = |c: Option<char>| c.is_some_and(is_punctuation);
    let left =
        !whitespace(after) && (!punctuation(after) || whitespace(before) || punctuation(before));
    let right =
        !whitespace(before) && (!punctuation(before) || whitespace(after) || punctuation(after));
    (left, right)
}

/// The runs that rendered segments should read back as.
fn intended_runs(segments: &[Segment]) -> Vec<RichText> {
    let mut runs = Vec::new();
    for segment in segments {
        let mut active = [0usize; 4];
        let mut links = Vec::new();
        for style in &segment.styles {
            match style {
                Style::Link(url) => links.push(url.clone()),
                Style::Underline => active[Emphasis::Underline.index()] = 1,
                Style::Strikethrough => active[Emphasis::Strikethrough.index()] = 1,
                Style::Bold => active[Emphasis::Bold.index()] = 1,
                Style::Italic => active[Emphasis::Italic.index()] = 1,
            }
        }
        match &segment.leaf {
            Leaf::Text(text) => push_run(&mut runs, text.clone(), false, &active, &links),
            Leaf::Code(code) => push_run(&mut runs, code.clone(), true, &active, &links),
            Leaf::Equation(expression) if is_inline_equation(expression) => runs.push(RichText {
                kind: RichTextKind::Equation {
                    expression: expression.clone(),
                },
                annotations: annotations_of(&active, false),
                display: None,
            }),
            Leaf::Equation(expression) => {
                push_run(&mut runs, expression.clone(), false, &active, &links)
            }
        }
    }
    runs
}

fn styles_of(annotations: &Annotations, link: Option<&str>, emphasis: bool) -> Vec<Style> {
    let mut styles = Vec::new();
    if let Some(url) = link.filter(|url| !url.is_empty()) {
        styles.push(Style::Link(url.to_string()));
    }
    if annotations.underline {
        styles.push(Style::Underline);
    }
    if emphasis {
        if annotations.strikethrough {
            styles.push(Style::Strikethrough);
        }
        if annotations.bold {
            styles.push(Style::Bold);
        }
        if annotations.italic {
            styles.push(Style::Italic);
        }
    }
    styles
}

fn segments(runs: &[RichText]) -> Vec<Segment> {
    let mut segments = Vec::new();
    for run in runs {
        let annotations = &run.annotations;
        match &run.kind {
            RichTextKind::Text { content, link } => {
                push_text_segments(&mut segments, content, annotations, link.as_deref());
            }
            RichTextKind::Mention(_) => {
                push_text_segments(
                    &mut segments,
                    &run.plain_text(),
                    annotations,
                    run.href().as_deref(),
                );
            }
            RichTextKind::Equation { expression } => {
                push_segment(
                    &mut segments,
                    Leaf::Equation(expression.clone()),
                    styles_of(annotations, None, true),
                );
            }
        }
    }
    segments
}

fn push_text_segments(
    segments: &mut Vec<Segment>,
    content: &str,
    annotations: &Annotations,
    link: Option<&str>,
) {
    let styles = styles_of(annotations, link, true);
    if annotations.code {
        // A code span cannot hold a line break, so the break goes between two spans.
        for (index, piece) in content.split('\n').enumerate() {
            if index > 0 {
                push_segment(segments, Leaf::Text("\n".to_string()), styles.clone());
            }
            push_segment(segments, Leaf::Code(piece.to_string()), styles.clone());
        }
        return;
    }
    if !(annotations.bold || annotations.italic || annotations.strikethrough) {
        push_segment(segments, Leaf::Text(content.to_string()), styles);
        return;
    }
    // Emphasis cannot open before or close after whitespace, so edge whitespace goes outside.
    let is_edge = |c: char| c.is_whitespace() && c != '\n';
    let core = content.trim_matches(is_edge);
    let start = content.len() - content.trim_start_matches(is_edge).len();
    let plain = styles_of(annotations, link, false);
    push_segment(
        segments,
        Leaf::Text(content[..start].to_string()),
        plain.clone(),
    );
    push_segment(segments, Leaf::Text(core.to_string()), styles);
    push_segment(
        segments,
        Leaf::Text(content[start + core.len()..].to_string()),
        plain,
    );
}

fn push_segment(segments: &mut Vec<Segment>, leaf: Leaf, styles: Vec<Style>) {
    if matches!(&leaf, Leaf::Text(text) | Leaf::Code(text) | Leaf::Equation(text) if text.is_empty())
    {
        return;
    }
    if let Some(last) = segments.last_mut()
        && last.styles == styles
    {
        match (&mut last.leaf, &leaf) {
            (Leaf::Text(text), Leaf::Text(more)) | (Leaf::Code(text), Leaf::Code(more)) => {
                text.push_str(more);
                return;
            }
            _ => {}
        }
    }
    segments.push(Segment { leaf, styles });
}

/// Writes plain text with every character that inline Markdown would read as syntax escaped.
/// Where a character's meaning depends on its neighbour and the neighbour lies outside this
/// text, it is escaped anyway.
pub(super) fn escape_text(text: &str, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).map(|before| chars[before]);
        let next = chars.get(index + 1).copied();
        match c {
            '\n' => out.push_str("<br>"),
            '\r' => out.push_str("&#13;"),
            // Before punctuation a backslash would escape it; before whitespace, which may
            // become `<br>` or `&#32;`, it might too.
            '\\' if next.is_none_or(|next| next.is_ascii_punctuation() || next.is_whitespace()) => {
                out.push_str("\\\\");
            }
            '*' | '`' | '~' | '$' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            // An underscore inside a word (snake_case) is no emphasis in GFM.
            '_' if !(previous.is_some_and(char::is_alphanumeric)
                && next.is_some_and(char::is_alphanumeric)) =>
            {
                out.push_str("\\_");
            }
            '<' if next.is_none_or(|next| {
                next.is_ascii_alphabetic() || matches!(next, '/' | '!' | '?')
            }) =>
            {
                out.push_str("\\<");
            }
            '&' if next.is_none_or(|next| next == '#' || next.is_ascii_alphanumeric()) => {
                out.push_str("\\&")
            }
            // `!` before a link would make it an image.
            '!' if next.is_none() => out.push_str("\\!"),
            _ => out.push(c),
        }
    }
}

fn code_span(code: &str, out: &mut String) {
    let fence = "`".repeat(longest_run(code, '`') + 1);
    // A code span drops one space at each end when both ends have one, and cannot start or
    // end with a backtick, so such content is padded.
    let pad = code.starts_with('`')
        || code.ends_with('`')
        || (code.starts_with(' ') && code.ends_with(' ') && !code.chars().all(|c| c == ' '));
    out.push_str(&fence);
    if pad {
        out.push(' ');
    }
    out.push_str(code);
    if pad {
        out.push(' ');
    }
    out.push_str(&fence);
}

/// Whether `$expression$` reads back as this expression.
fn is_inline_equation(expression: &str) -> bool {
    let chars: Vec<char> = expression.chars().collect();
    if chars.first().is_none_or(|c| c.is_whitespace())
        || chars.last().is_none_or(|c| c.is_whitespace())
    {
        return false;
    }
    let mut index = 0;
    while index < chars.len() {
        match chars[index] {
            '\\' if index + 1 == chars.len() => return false,
            '\\' => index += 2,
            '$' => return false,
            _ => index += 1,
        }
    }
    true
}

pub(super) fn link_destination(url: &str) -> String {
    let mut destination = String::new();
    if url.chars().any(|c| c == ' ' || c.is_ascii_control()) {
        destination.push('<');
        for c in url.chars() {
            if matches!(c, '<' | '>' | '\\') {
                destination.push('\\');
            }
            destination.push(c);
        }
        destination.push('>');
    } else {
        for c in url.chars() {
            if matches!(c, '<' | '(' | ')' | '\\') {
                destination.push('\\');
            }
            destination.push(c);
        }
    }
    destination
}

/// Whether `<url>` is a GFM autolink: a scheme, a colon, and no space, control character or
/// angle bracket.
pub(super) fn is_autolink_url(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && (2..=32).contains(&scheme.len())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        && !url
            .chars()
            .any(|c| c == ' ' || c.is_ascii_control() || c == '<' || c == '>')
}
