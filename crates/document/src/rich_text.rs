//! Rich text: runs of text, mentions and equations, each with annotations.

use serde::{Deserialize, Serialize};

use crate::block::Color;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::limits::{ARRAY_ITEMS_MAX, RICH_TEXT_CONTENT_CHARS_MAX, URL_CHARS_MAX};
use crate::property::DateValue;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Annotations {
    #[serde(default, skip_serializing_if = "is_false")]
    pub bold: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub italic: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub strikethrough: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub underline: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub code: bool,
    #[serde(default, skip_serializing_if = "Color::is_default")]
    pub color: Color,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Mention {
    User(Id),
    Page(Id),
    Database(Id),
    Date(DateValue),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RichTextKind {
    Text {
        content: String,
        link: Option<String>,
    },
    Mention(Mention),
    Equation {
        expression: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RichText {
    pub kind: RichTextKind,
    #[serde(default)]
    pub annotations: Annotations,
    /// The text shown for a mention (a page's title at the time it was resolved, a user's name).
    /// The HTTP layer recomputes it per caller, so a mention never shows a title the caller
    /// can't read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl RichText {
    pub fn plain(content: impl Into<String>) -> Self {
        RichText {
            kind: RichTextKind::Text {
                content: content.into(),
                link: None,
            },
            annotations: Annotations::default(),
            display: None,
        }
    }

    pub fn bold(content: impl Into<String>) -> Self {
        let mut text = RichText::plain(content);
        text.annotations.bold = true;
        text
    }

    pub fn link(content: impl Into<String>, url: impl Into<String>) -> Self {
        RichText {
            kind: RichTextKind::Text {
                content: content.into(),
                link: Some(url.into()),
            },
            annotations: Annotations::default(),
            display: None,
        }
    }

    pub fn mention(mention: Mention) -> Self {
        RichText {
            kind: RichTextKind::Mention(mention),
            annotations: Annotations::default(),
            display: None,
        }
    }

    pub fn plain_text(&self) -> String {
        match &self.kind {
            RichTextKind::Text { content, .. } => content.clone(),
            RichTextKind::Equation { expression } => expression.clone(),
            RichTextKind::Mention(Mention::Date(date)) => date.start.clone(),
            RichTextKind::Mention(_) => self
                .display
                .clone()
                .unwrap_or_else(|| "Untitled".to_string()),
        }
    }

    pub fn href(&self) -> Option<String> {
        match &self.kind {
            RichTextKind::Text { link, .. } => link.clone(),
            RichTextKind::Mention(Mention::Page(id))
            | RichTextKind::Mention(Mention::Database(id)) => {
                Some(format!("/{}", id.to_string().replace('-', "")))
            }
            _ => None,
        }
    }
}

/// Concatenated plain text of a run list.
pub fn plain_text(runs: &[RichText]) -> String {
    runs.iter().map(RichText::plain_text).collect()
}

/// Checks Notion's limits on a list of runs.
pub fn validate(runs: &[RichText]) -> Result<()> {
    if runs.len() > ARRAY_ITEMS_MAX {
        return Err(Error::new(
            "",
            format!(
                "should have at most {ARRAY_ITEMS_MAX} rich text items, instead has {}",
                runs.len()
            ),
        ));
    }
    for (index, run) in runs.iter().enumerate() {
        match &run.kind {
            RichTextKind::Text { content, link } => {
                let chars = content.chars().count();
                if chars > RICH_TEXT_CONTENT_CHARS_MAX {
                    return Err(Error::new(
                        format!("[{index}].text.content"),
                        format!(
                            "length should be ≤ {RICH_TEXT_CONTENT_CHARS_MAX}, instead was {chars}"
                        ),
                    ));
                }
                if let Some(url) = link {
                    validate_link_url(url)
                        .map_err(|e| e.within(&format!("[{index}].text.link.url")))?;
                }
            }
            RichTextKind::Equation { expression } => {
                let chars = expression.chars().count();
                if chars > RICH_TEXT_CONTENT_CHARS_MAX {
                    return Err(Error::new(
                        format!("[{index}].equation.expression"),
                        format!(
                            "length should be ≤ {RICH_TEXT_CONTENT_CHARS_MAX}, instead was {chars}"
                        ),
                    ));
                }
            }
            RichTextKind::Mention(Mention::Date(date)) => {
                date.validate()
                    .map_err(|e| e.within(&format!("[{index}].mention.date")))?;
            }
            RichTextKind::Mention(_) => {}
        }
    }
    Ok(())
}

/// Schemes a link, bookmark, embed, cover or icon URL may use: none runs code when a browser
/// follows or loads it. A URL without a scheme is a path on this server.
pub const LINK_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// [`validate_url`], and the URL's scheme is one of [`LINK_SCHEMES`], read as a browser reads
/// it: browsers drop leading spaces and control characters and every tab and newline, so
/// `" java\tscript:"` is `javascript:`.
pub fn validate_link_url(url: &str) -> Result<()> {
    validate_url(url)?;
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    match url_scheme(&cleaned) {
        None => Ok(()),
        Some(scheme) if LINK_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) => Ok(()),
        Some(scheme) => Err(Error::new(
            "",
            format!("should be an http or https URL, instead has the scheme `{scheme}:`"),
        )),
    }
}

/// The scheme of an absolute URL (`scheme ":" ...` with RFC 3986's scheme characters).
fn url_scheme(url: &str) -> Option<&str> {
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

pub fn validate_url(url: &str) -> Result<()> {
    let chars = url.chars().count();
    if chars > URL_CHARS_MAX {
        return Err(Error::new(
            "",
            format!("length should be ≤ {URL_CHARS_MAX}, instead was {chars}"),
        ));
    }
    if url.trim().is_empty() {
        return Err(Error::new("", "should be a non-empty URL"));
    }
    Ok(())
}
