//! Inline Markdown to rich text.

use std::collections::{HashMap, HashSet};

use super::inline_render::{flanking, is_autolink_url};
use crate::block::Color;
use crate::limits::RICH_TEXT_CONTENT_CHARS_MAX;
use crate::rich_text::{Annotations, RichText, RichTextKind};

/// Characters of a link's `(destination "title")` that inline parsing reads.
const LINK_TAIL_CHARS_MAX: usize = 2 * crate::limits::URL_CHARS_MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Emphasis {
    Bold,
    Italic,
    Strikethrough,
    Underline,
}

impl Emphasis {
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// A run of `*`, `_` or `~` that may open or close emphasis (CommonMark's delimiter run).
#[derive(Debug)]
pub(super) struct Delimiter {
    character: char,
    /// Characters not yet used to open or close emphasis.
    count: usize,
    original: usize,
    can_open: bool,
    can_close: bool,
    opens: Vec<Emphasis>,
    closes: Vec<Emphasis>,
}

#[derive(Debug)]
pub(super) enum Item {
    Text(String),
    Code(String),
    Equation(String),
    Delimiter(Delimiter),
    /// `[` or `![`; `link` is set once a matching `](destination)` follows.
    Bracket {
        image: bool,
        active: bool,
        delimiters_below: usize,
        link: Option<String>,
    },
    LinkEnd,
    /// `<u>`, `</u>` and the like; unmatched tags stay as their source text.
    Tag {
        emphasis: Emphasis,
        opening: bool,
        matched: bool,
        source: String,
    },
}

/// Inline Markdown to rich text runs (inverse of
/// [`rich_text_to_markdown`](super::rich_text_to_markdown) for text runs; escapes handled).
/// Text longer than a run may hold is split into several runs.
pub fn parse_inline(text: &str) -> Vec<RichText> {
    split_long_runs(flatten(InlineParser::new(text).items()))
}

/// CommonMark's inline algorithm, cut down to what this dialect needs: a left-to-right scan
/// into items, then delimiter runs matched into emphasis, then the items flattened into runs.
pub(super) struct InlineParser {
    chars: Vec<char>,
    position: usize,
    items: Vec<Item>,
    /// Literal text not yet pushed as an item.
    text: String,
    /// Items that are delimiter runs still able to match, in order.
    delimiters: Vec<usize>,
    /// Items that are brackets not yet closed, in order.
    brackets: Vec<usize>,
    /// How many of `brackets`, from the bottom, a link has deactivated.
    brackets_inactive_below: usize,
    /// Opening tags not yet closed, per emphasis.
    tags: [Vec<usize>; 4],
    /// Backtick run lengths known to have no closing run further on.
    backtick_runs_unclosed: HashSet<usize>,
    /// Whether `$` and `$$` are known to have no closing `$` further on.
    equations_unclosed: [bool; 2],
}

impl InlineParser {
    pub(super) fn new(text: &str) -> Self {
        InlineParser {
            chars: text.chars().collect(),
            position: 0,
            items: Vec::new(),
            text: String::new(),
            delimiters: Vec::new(),
            brackets: Vec::new(),
            brackets_inactive_below: 0,
            tags: Default::default(),
            backtick_runs_unclosed: HashSet::new(),
            equations_unclosed: [false; 2],
        }
    }

    /// The items of the whole text, emphasis matched.
    pub(super) fn items(mut self) -> Vec<Item> {
        self.run();
        self.items
    }

    fn run(&mut self) {
        while let Some(&c) = self.chars.get(self.position) {
            match c {
                '\\' => self.backslash(),
                '`' => self.code_span(),
                '$' => self.equation(),
                '*' | '_' | '~' => self.delimiter_run(c),
                '[' => self.open_bracket(false, 1),
                '!' if self.chars.get(self.position + 1) == Some(&'[') => {
                    self.open_bracket(true, 2)
                }
                ']' => self.close_bracket(),
                '<' => self.angle(),
                '&' => self.entity(),
                _ => {
                    self.text.push(c);
                    self.position += 1;
                }
            }
        }
        self.flush();
        process_emphasis(&mut self.items, &mut self.delimiters, 0);
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.items.push(Item::Text(std::mem::take(&mut self.text)));
        }
    }

    fn push(&mut self, item: Item) -> usize {
        self.flush();
        self.items.push(item);
        self.items.len() - 1
    }

    fn run_length(&self, start: usize, character: char) -> usize {
        self.chars[start..]
            .iter()
            .take_while(|c| **c == character)
            .count()
    }

    fn backslash(&mut self) {
        match self.chars.get(self.position + 1) {
            Some(&next) if next.is_ascii_punctuation() => {
                self.text.push(next);
                self.position += 2;
            }
            // A backslash at the end of a line is a hard line break.
            Some('\n') => {
                self.text.push('\n');
                self.position += 2;
            }
            _ => {
                self.text.push('\\');
                self.position += 1;
            }
        }
    }

    fn code_span(&mut self) {
        let length = self.run_length(self.position, '`');
        let content_start = self.position + length;
        if !self.backtick_runs_unclosed.contains(&length) {
            let mut index = content_start;
            while index < self.chars.len() {
                if self.chars[index] != '`' {
                    index += 1;
                    continue;
                }
                let run = self.run_length(index, '`');
                if run == length {
                    let content: String = self.chars[content_start..index]
                        .iter()
                        .map(|c| if *c == '\n' { ' ' } else { *c })
                        .collect();
                    let stripped = match content
                        .strip_prefix(' ')
                        .and_then(|inner| inner.strip_suffix(' '))
                    {
                        Some(inner) if !content.chars().all(|c| c == ' ') => inner.to_string(),
                        _ => content,
                    };
                    self.push(Item::Code(stripped));
                    self.position = index + run;
                    return;
                }
                index += run;
            }
            self.backtick_runs_unclosed.insert(length);
        }
        self.text.push_str(&"`".repeat(length));
        self.position = content_start;
    }

    /// `$expression$` (or `$$expression$$`): the opening `$` is followed and the closing one
    /// preceded by non-whitespace; backslash pairs inside are kept as they are (they are LaTeX).
    fn equation(&mut self) {
        let double = self.chars.get(self.position + 1) == Some(&'$');
        let marker = if double { 2 } else { 1 };
        let start = self.position + marker;
        let opens = self
            .chars
            .get(start)
            .is_some_and(|c| !c.is_whitespace() && *c != '$');
        if opens && !self.equations_unclosed[marker - 1] {
            let mut index = start;
            while index < self.chars.len() {
                match self.chars[index] {
                    '\\' => index += 2,
                    '$' if !self.chars[index - 1].is_whitespace()
                        && (!double || self.chars.get(index + 1) == Some(&'$')) =>
                    {
                        let expression: String = self.chars[start..index].iter().collect();
                        self.push(Item::Equation(expression));
                        self.position = index + marker;
                        return;
                    }
                    _ => index += 1,
                }
            }
            self.equations_unclosed[marker - 1] = true;
        }
        self.text.push_str(&"$".repeat(marker));
        self.position = start;
    }

    fn delimiter_run(&mut self, character: char) {
        let start = self.position;
        let count = self.run_length(start, character);
        let before = start.checked_sub(1).map(|index| self.chars[index]);
        let after = self.chars.get(start + count).copied();
        // CommonMark's flanking rules, so that what reads as emphasis here does on GitHub.
        let (left_flanking, right_flanking) = flanking(before, after);
        let punctuation = |c: Option<char>| c.is_some_and(is_punctuation);
        let (can_open, can_close) = if character == '_' {
            (
                left_flanking && (!right_flanking || punctuation(before)),
                right_flanking && (!left_flanking || punctuation(after)),
            )
        } else {
            (left_flanking, right_flanking)
        };
        let index = self.push(Item::Delimiter(Delimiter {
            character,
            count,
            original: count,
            can_open,
            can_close,
            opens: Vec::new(),
            closes: Vec::new(),
        }));
        if can_open || can_close {
            self.delimiters.push(index);
        }
        self.position += count;
    }

    fn open_bracket(&mut self, image: bool, length: usize) {
        let delimiters_below = self.delimiters.len();
        let index = self.push(Item::Bracket {
            image,
            active: true,
            delimiters_below,
            link: None,
        });
        self.brackets.push(index);
        self.position += length;
    }

    fn close_bracket(&mut self) {
        self.position += 1;
        let Some(opener) = self.brackets.pop() else {
            self.text.push(']');
            return;
        };
        self.brackets_inactive_below = self.brackets_inactive_below.min(self.brackets.len());
        let Item::Bracket {
            image,
            active: true,
            delimiters_below,
            ..
        } = self.items[opener]
        else {
            self.text.push(']');
            return;
        };
        let Some((url, next)) = self.link_tail(self.position) else {
            self.text.push(']');
            return;
        };
        self.flush();
        self.position = next;
        process_emphasis(&mut self.items, &mut self.delimiters, delimiters_below);
        if let Item::Bracket { link, .. } = &mut self.items[opener] {
            *link = Some(url);
        }
        self.items.push(Item::LinkEnd);
        // Links may not contain links. Brackets below `brackets_inactive_below` are already
        // inactive, which keeps a run of links after many `[` linear.
        if !image {
            for &bracket in &self.brackets[self.brackets_inactive_below.min(self.brackets.len())..]
            {
                if let Item::Bracket {
                    image: false,
                    active,
                    ..
                } = &mut self.items[bracket]
                {
                    *active = false;
                }
            }
            self.brackets_inactive_below = self.brackets.len();
        }
    }

    /// `(destination "optional title")` after a `]`: the destination and the index after `)`.
    fn link_tail(&self, start: usize) -> Option<(String, usize)> {
        // Reading only so far keeps text full of `](` linear; a destination this long would be
        // refused as a URL anyway.
        let chars = &self.chars[..self.chars.len().min(start + LINK_TAIL_CHARS_MAX)];
        if chars.get(start) != Some(&'(') {
            return None;
        }
        let skip_whitespace = |mut index: usize| {
            while chars
                .get(index)
                .is_some_and(|c| matches!(c, ' ' | '\t' | '\n'))
            {
                index += 1;
            }
            index
        };
        let mut index = skip_whitespace(start + 1);
        let mut url = String::new();
        if chars.get(index) == Some(&'<') {
            index += 1;
            loop {
                match chars.get(index) {
                    None | Some('\n' | '<') => return None,
                    Some('>') => {
                        index += 1;
                        break;
                    }
                    Some('\\') if chars.get(index + 1).is_some_and(char::is_ascii_punctuation) => {
                        url.push(chars[index + 1]);
                        index += 2;
                    }
                    Some(&c) => {
                        url.push(c);
                        index += 1;
                    }
                }
            }
        } else {
            let mut depth = 0usize;
            while let Some(&c) = chars.get(index) {
                match c {
                    '\\' if chars.get(index + 1).is_some_and(char::is_ascii_punctuation) => {
                        url.push(chars[index + 1]);
                        index += 2;
                        continue;
                    }
                    // Like cmark, nest parentheses at most 32 deep.
                    '(' if depth == 32 => return None,
                    '(' => depth += 1,
                    ')' if depth == 0 => break,
                    ')' => depth -= 1,
                    ' ' => break,
                    c if c.is_ascii_control() => break,
                    _ => {}
                }
                url.push(c);
                index += 1;
            }
            if depth != 0 {
                return None;
            }
        }
        let before_title = index;
        index = skip_whitespace(index);
        if index > before_title
            && let Some(&quote) = chars.get(index).filter(|c| matches!(c, '"' | '\'' | '('))
        {
            let closing = if quote == '(' { ')' } else { quote };
            index += 1;
            loop {
                match chars.get(index) {
                    None => return None,
                    Some('\\') => index += 2,
                    Some(&c) if c == closing => {
                        index += 1;
                        break;
                    }
                    Some(_) => index += 1,
                }
            }
            index = skip_whitespace(index);
        }
        (chars.get(index) == Some(&')')).then_some((url, index + 1))
    }

    /// `<br>`, emphasis tags and autolinks; any other `<` is text.
    fn angle(&mut self) {
        let start = self.position + 1;
        let mut end = start;
        while self
            .chars
            .get(end)
            .is_some_and(|c| !matches!(c, '<' | '>') && !c.is_whitespace() && !c.is_control())
        {
            end += 1;
        }
        let inner: String = self.chars[start..end].iter().collect();
        let lowercase = inner.to_ascii_lowercase();
        if self.chars.get(end) == Some(&'>') {
            if lowercase == "br" || lowercase == "br/" {
                self.text.push('\n');
                self.position = end + 1;
                return;
            }
            if let Some((emphasis, opening)) = emphasis_tag(&lowercase) {
                let index = self.push(Item::Tag {
                    emphasis,
                    opening,
                    matched: false,
                    source: format!("<{inner}>"),
                });
                let open_tags = &mut self.tags[emphasis.index()];
                if opening {
                    open_tags.push(index);
                } else if let Some(opener) = open_tags.pop() {
                    for tag in [opener, index] {
                        if let Item::Tag { matched, .. } = &mut self.items[tag] {
                            *matched = true;
                        }
                    }
                }
                self.position = end + 1;
                return;
            }
            if is_autolink_url(&inner) {
                let delimiters_below = self.delimiters.len();
                self.push(Item::Bracket {
                    image: false,
                    active: false,
                    delimiters_below,
                    link: Some(inner.clone()),
                });
                self.items.push(Item::Text(inner));
                self.items.push(Item::LinkEnd);
                self.position = end + 1;
                return;
            }
        } else if lowercase == "br" && self.chars.get(end..end + 3) == Some(&[' ', '/', '>'][..]) {
            self.text.push('\n');
            self.position = end + 3;
            return;
        }
        self.text.push('<');
        self.position += 1;
    }

    /// `&amp;`, `&#32;`, `&#x20;` and a few other entities; any other `&` is text.
    fn entity(&mut self) {
        let start = self.position + 1;
        let mut end = start;
        while end - start < 10
            && self
                .chars
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '#')
        {
            end += 1;
        }
        if self.chars.get(end) == Some(&';') {
            let name: String = self.chars[start..end].iter().collect();
            if let Some(decoded) = decode_entity(&name) {
                self.text.push(decoded);
                self.position = end + 1;
                return;
            }
        }
        self.text.push('&');
        self.position += 1;
    }
}

/// Unicode punctuation or symbol, as CommonMark's flanking rules mean it (approximated outside
/// ASCII as anything neither alphanumeric nor whitespace).
pub(super) fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace())
}

fn emphasis_tag(name: &str) -> Option<(Emphasis, bool)> {
    let (opening, name) = match name.strip_prefix('/') {
        Some(name) => (false, name),
        None => (true, name),
    };
    let emphasis = match name {
        "u" | "ins" => Emphasis::Underline,
        "b" | "strong" => Emphasis::Bold,
        "i" | "em" => Emphasis::Italic,
        "s" | "del" | "strike" => Emphasis::Strikethrough,
        _ => return None,
    };
    Some((emphasis, opening))
}

fn decode_entity(name: &str) -> Option<char> {
    let code = match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        "nbsp" => return Some('\u{a0}'),
        _ => {
            let number = name.strip_prefix('#')?;
            match number.strip_prefix(['x', 'X']) {
                Some(hex) if (1..=6).contains(&hex.len()) => u32::from_str_radix(hex, 16).ok()?,
                Some(_) => return None,
                None if (1..=7).contains(&number.len())
                    && number.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    number.parse().ok()?
                }
                None => return None,
            }
        }
    };
    Some(
        char::from_u32(code)
            .filter(|c| *c != '\0')
            .unwrap_or('\u{fffd}'),
    )
}

fn delimiter(items: &[Item], index: usize) -> &Delimiter {
    match &items[index] {
        Item::Delimiter(delimiter) => delimiter,
        other => unreachable!("the delimiter stack holds only delimiter runs, found {other:?}"),
    }
}

fn delimiter_mut(items: &mut [Item], index: usize) -> &mut Delimiter {
    match &mut items[index] {
        Item::Delimiter(delimiter) => delimiter,
        other => unreachable!("the delimiter stack holds only delimiter runs, found {other:?}"),
    }
}

/// CommonMark's "process emphasis" over the delimiter stack above `bottom`: matches closers
/// with the nearest openers, then drops every delimiter above `bottom` from the stack.
fn process_emphasis(items: &mut [Item], delimiters: &mut Vec<usize>, bottom: usize) {
    // Per closer kind, the first item an opener may be at; earlier openers are known not to match.
    let mut openers_bottom: HashMap<(char, bool, usize), usize> = HashMap::new();
    let mut closer_position = bottom;
    while closer_position < delimiters.len() {
        let closer = delimiters[closer_position];
        let current = delimiter(items, closer);
        let (character, can_open, count, original) = (
            current.character,
            current.can_open,
            current.count,
            current.original,
        );
        if !current.can_close {
            closer_position += 1;
            continue;
        }
        let key = (
            character,
            can_open,
            if character == '~' {
                count
            } else {
                original % 3
            },
        );
        let floor = openers_bottom.get(&key).copied().unwrap_or(0);
        let mut found = None;
        let mut position = closer_position;
        while position > bottom {
            position -= 1;
            let opener_index = delimiters[position];
            if opener_index < floor {
                break;
            }
            let opener = delimiter(items, opener_index);
            if opener.character != character || !opener.can_open || opener.count == 0 {
                continue;
            }
            let matches = if character == '~' {
                opener.count == count && count <= 2
            } else {
                // The "rule of 3" keeps `*a**b*` from pairing the wrong runs.
                let both_ways = opener.can_close || can_open;
                let sum_of_three = (opener.original + original).is_multiple_of(3);
                !(both_ways
                    && sum_of_three
                    && !(opener.original.is_multiple_of(3) && original.is_multiple_of(3)))
            };
            if matches {
                found = Some(position);
                break;
            }
        }
        let Some(opener_position) = found else {
            openers_bottom.insert(key, closer);
            if can_open {
                closer_position += 1;
            } else {
                delimiters.remove(closer_position);
            }
            continue;
        };
        let opener = delimiters[opener_position];
        let opener_count = delimiter(items, opener).count;
        let used = if character == '~' {
            count
        } else if opener_count >= 2 && count >= 2 {
            2
        } else {
            1
        };
        let emphasis = match (character, used) {
            ('~', _) => Emphasis::Strikethrough,
            (_, 2) => Emphasis::Bold,
            _ => Emphasis::Italic,
        };
        let opening = delimiter_mut(items, opener);
        opening.count -= used;
        opening.opens.push(emphasis);
        let closing = delimiter_mut(items, closer);
        closing.count -= used;
        closing.closes.push(emphasis);
        // Delimiters between the pair can no longer match anything.
        delimiters.drain(opener_position + 1..closer_position);
        closer_position = opener_position + 1;
        if delimiter(items, opener).count == 0 {
            delimiters.remove(opener_position);
            closer_position -= 1;
        }
        if delimiter(items, closer).count == 0 {
            delimiters.remove(closer_position);
        }
    }
    delimiters.truncate(bottom);
}

/// Walks the items in order, keeping count of the open emphasis and links, into runs.
pub(super) fn flatten(items: Vec<Item>) -> Vec<RichText> {
    let mut runs = Vec::new();
    let mut active = [0usize; 4];
    let mut links: Vec<String> = Vec::new();
    for item in items {
        match item {
            Item::Text(text) => push_run(&mut runs, text, false, &active, &links),
            Item::Code(code) => push_run(&mut runs, code, true, &active, &links),
            Item::Equation(expression) => {
                let mut annotations = annotations_of(&active, false);
                annotations.underline = active[Emphasis::Underline.index()] > 0;
                runs.push(RichText {
                    kind: RichTextKind::Equation { expression },
                    annotations,
                    display: None,
                });
            }
            Item::Delimiter(delimiter) => {
                for emphasis in &delimiter.closes {
                    active[emphasis.index()] = active[emphasis.index()].saturating_sub(1);
                }
                let leftover = delimiter.character.to_string().repeat(delimiter.count);
                push_run(&mut runs, leftover, false, &active, &links);
                for emphasis in &delimiter.opens {
                    active[emphasis.index()] += 1;
                }
            }
            Item::Bracket {
                link: Some(url), ..
            } => links.push(url),
            Item::Bracket { image, .. } => {
                push_run(
                    &mut runs,
                    if image { "![" } else { "[" }.to_string(),
                    false,
                    &active,
                    &links,
                );
            }
            Item::LinkEnd => {
                links.pop();
            }
            Item::Tag {
                emphasis,
                opening,
                matched: true,
                ..
            } => {
                let count = &mut active[emphasis.index()];
                *count = if opening {
                    *count + 1
                } else {
                    count.saturating_sub(1)
                };
            }
            Item::Tag { source, .. } => push_run(&mut runs, source, false, &active, &links),
        }
    }
    runs
}

pub(super) fn annotations_of(active: &[usize; 4], code: bool) -> Annotations {
    Annotations {
        bold: active[Emphasis::Bold.index()] > 0,
        italic: active[Emphasis::Italic.index()] > 0,
        strikethrough: active[Emphasis::Strikethrough.index()] > 0,
        underline: active[Emphasis::Underline.index()] > 0,
        code,
        color: Color::Default,
    }
}

pub(super) fn push_run(
    runs: &mut Vec<RichText>,
    text: String,
    code: bool,
    active: &[usize; 4],
    links: &[String],
) {
    if text.is_empty() {
        return;
    }
    let annotations = annotations_of(active, code);
    let link = links.last().filter(|url| !url.is_empty()).cloned();
    if let Some(RichText {
        kind: RichTextKind::Text {
            content,
            link: last_link,
        },
        annotations: last_annotations,
        ..
    }) = runs.last_mut()
        && *last_link == link
        && *last_annotations == annotations
    {
        content.push_str(&text);
        return;
    }
    runs.push(RichText {
        kind: RichTextKind::Text {
            content: text,
            link,
        },
        annotations,
        display: None,
    });
}

/// Splits text runs longer than a run may hold into several runs with the same formatting.
pub(super) fn split_long_runs(runs: Vec<RichText>) -> Vec<RichText> {
    let mut split = Vec::with_capacity(runs.len());
    for run in runs {
        match &run.kind {
            RichTextKind::Text { content, link }
                if content.chars().count() > RICH_TEXT_CONTENT_CHARS_MAX =>
            {
                let chars: Vec<char> = content.chars().collect();
                for chunk in chars.chunks(RICH_TEXT_CONTENT_CHARS_MAX) {
                    split.push(RichText {
                        kind: RichTextKind::Text {
                            content: chunk.iter().collect(),
                            link: link.clone(),
                        },
                        annotations: run.annotations.clone(),
                        display: None,
                    });
                }
            }
            _ => split.push(run),
        }
    }
    split
}
