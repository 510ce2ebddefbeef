//! Request JSON in Notion's shapes → domain types.
//!
//! Every function takes the JSON value and the dotted path it sits at in the request
//! (`children[2].paragraph`, `properties.Status`, `filter.and[1]`), and every error names the
//! exact field at fault with what was expected and what was sent, as Notion's
//! `validation_error` messages do. Limits come from `document::limits`.
//!
//! Parsing is lenient about keys Notion's own responses carry (`object`, `id`, `plain_text`,
//! `href`, ...) so that a client can send back what it read; it is strict about what changes
//! meaning: unknown block, property and filter types, unknown operators, wrong value types.

use document::block::{BlockKind, CODE_LANGUAGES, NewBlock, TextContent};
use document::data_source::{NUMBER_FORMATS, StatusGroup, new_short_id};
use document::filter::{
    Condition, ContainsCondition, DateCondition, Filter, NumberCondition, OptionCondition, Sort,
    SortDirection, TextCondition, TimestampKind,
};
use document::limits::{
    ARRAY_ITEMS_MAX, EMAIL_CHARS_MAX, FILTER_NESTING_LEVELS_MAX, PROPERTY_NAME_CHARS_MAX,
};
use document::property::{OptionInput, PropertyInput};
use document::rich_text::{validate_link_url, validate_url};
use document::{
    Annotations, Color, DateValue, Error, Icon, Id, Mention, ParentRef, PropertyConfig,
    PropertySchema, PropertyValue, Result, RichText, RichTextKind, SchemaEdit, SelectOption,
};
use serde_json::{Map, Value};

/// Characters in an emoji icon. An emoji is one grapheme, but flags and family sequences
/// take several code points; anything longer is not an emoji.
const EMOJI_CHARS_MAX: usize = 32;
/// Characters of a sent value quoted back in an error message.
const SHOWN_VALUE_CHARS_MAX: usize = 100;

// ----- ids and parents -------------------------------------------------------------------

/// An object id, dashed or as Notion's 32 hex digits.
pub fn id(value: &Value, field: &str) -> Result<Id> {
    let text = string(value, field)?;
    Id::parse(text).ok_or_else(|| expected(field, "should be a valid uuid", value))
}

/// Parent keys, most specific first: a data source parent may repeat its database's id
/// beside its own (as responses show it), and then the data source is meant.
const PARENT_TYPES: &[&str] = &[
    "data_source_id",
    "page_id",
    "block_id",
    "database_id",
    "workspace",
];

/// `{"page_id"}`, `{"type":"page_id","page_id"}`, `{"block_id"}`, `{"database_id"}`,
/// `{"data_source_id"}` (a `database_id` beside it is ignored) or `{"workspace": true}`.
pub fn parent(value: &Value, field: &str) -> Result<ParentRef> {
    let object = object(value, field)?;
    let (kind, content) = if object.contains_key("type") {
        tagged(object, field, PARENT_TYPES, &[], "parent type")?
    } else {
        let kind = PARENT_TYPES
            .iter()
            .copied()
            .find(|key| object.contains_key(*key))
            .ok_or_else(|| {
                expected(
                    field,
                    "should have one of `page_id`, `block_id`, `database_id`, `data_source_id` or `workspace`",
                    value,
                )
            })?;
        (kind, &object[kind])
    };
    let here = join(field, kind);
    Ok(match kind {
        "page_id" => ParentRef::Page(id(content, &here)?),
        "block_id" => ParentRef::Block(id(content, &here)?),
        "database_id" => ParentRef::Database(id(content, &here)?),
        "data_source_id" => ParentRef::DataSource(id(content, &here)?),
        _ => {
            if content != &Value::Bool(true) {
                return Err(expected(&here, "should be `true`", content));
            }
            ParentRef::Workspace
        }
    })
}

// ----- rich text -------------------------------------------------------------------------

const RICH_TEXT_TYPES: &[&str] = &["text", "mention", "equation"];
const RICH_TEXT_METADATA: &[&str] = &["annotations", "plain_text", "href", "object"];
const MENTION_TYPES: &[&str] = &["user", "page", "database", "date"];

/// An array of rich text objects: `text` (with an optional `link`), `mention` (user, page,
/// database, date) and `equation`, each with optional `annotations`. Checks the limits on
/// items and characters.
pub fn rich_text(value: &Value, field: &str) -> Result<Vec<RichText>> {
    let items = bounded_array(value, field)?;
    let runs = items
        .iter()
        .enumerate()
        .map(|(index, item)| rich_text_item(item, &at(field, index)))
        .collect::<Result<Vec<_>>>()?;
    document::rich_text::validate(&runs).map_err(|e| within(e, field))?;
    Ok(runs)
}

fn rich_text_item(value: &Value, field: &str) -> Result<RichText> {
    let object = object(value, field)?;
    let (kind, content) = tagged(
        object,
        field,
        RICH_TEXT_TYPES,
        RICH_TEXT_METADATA,
        "rich text type",
    )?;
    let here = join(field, kind);
    let content_object = self::object(content, &here)?;
    let kind = match kind {
        "text" => {
            let content_field = join(&here, "content");
            let text = string(required(content_object, &here, "content")?, &content_field)?;
            let link = match content_object.get("link") {
                None | Some(Value::Null) => None,
                Some(link) => {
                    let link_field = join(&here, "link");
                    let link_object = self::object(link, &link_field)?;
                    let url_field = join(&link_field, "url");
                    Some(
                        string(required(link_object, &link_field, "url")?, &url_field)?.to_string(),
                    )
                }
            };
            RichTextKind::Text {
                content: text.to_string(),
                link,
            }
        }
        "equation" => {
            let expression_field = join(&here, "expression");
            let expression = string(
                required(content_object, &here, "expression")?,
                &expression_field,
            )?;
            RichTextKind::Equation {
                expression: expression.to_string(),
            }
        }
        _ => RichTextKind::Mention(mention(content_object, &here)?),
    };
    let annotations = match object.get("annotations") {
        None | Some(Value::Null) => Annotations::default(),
        Some(annotations) => self::annotations(annotations, &join(field, "annotations"))?,
    };
    Ok(RichText {
        kind,
        annotations,
        display: None,
    })
}

fn mention(object: &Map<String, Value>, field: &str) -> Result<Mention> {
    let (kind, content) = tagged(object, field, MENTION_TYPES, &[], "mention type")?;
    let here = join(field, kind);
    if kind == "date" {
        return Ok(Mention::Date(date_value(content, &here)?));
    }
    let target = self::object(content, &here)?;
    let target_id = id(required(target, &here, "id")?, &join(&here, "id"))?;
    Ok(match kind {
        "user" => Mention::User(target_id),
        "page" => Mention::Page(target_id),
        _ => Mention::Database(target_id),
    })
}

fn annotations(value: &Value, field: &str) -> Result<Annotations> {
    let object = object(value, field)?;
    let flag = |key: &str| optional_bool(object, field, key, false);
    Ok(Annotations {
        bold: flag("bold")?,
        italic: flag("italic")?,
        strikethrough: flag("strikethrough")?,
        underline: flag("underline")?,
        code: flag("code")?,
        color: optional_color(object, field)?.unwrap_or_default(),
    })
}

fn date_value(value: &Value, field: &str) -> Result<DateValue> {
    let object = object(value, field)?;
    let start = string(required(object, field, "start")?, &join(field, "start"))?;
    let optional_text = |key: &str| -> Result<Option<String>> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(text) => Ok(Some(string(text, &join(field, key))?.to_string())),
        }
    };
    let date = DateValue {
        start: start.to_string(),
        end: optional_text("end")?,
        time_zone: optional_text("time_zone")?,
    };
    date.validate().map_err(|e| within(e, field))?;
    Ok(date)
}

// ----- icons and covers ------------------------------------------------------------------

/// `null`, `{"type":"emoji","emoji"}` or `{"type":"external","external":{"url"}}`.
pub fn icon(value: &Value, field: &str) -> Result<Option<Icon>> {
    if value.is_null() {
        return Ok(None);
    }
    let object = object(value, field)?;
    let (kind, content) = tagged(object, field, &["emoji", "external"], &[], "icon type")?;
    let here = join(field, kind);
    if kind == "external" {
        return Ok(Some(Icon::External(external_url(content, &here)?)));
    }
    let emoji = string(content, &here)?;
    let chars = emoji.chars().count();
    if emoji.trim().is_empty() || chars > EMOJI_CHARS_MAX {
        return Err(expected(&here, "should be an emoji", content));
    }
    Ok(Some(Icon::Emoji(emoji.to_string())))
}

/// `null` or `{"type":"external","external":{"url"}}`.
pub fn cover(value: &Value, field: &str) -> Result<Option<String>> {
    if value.is_null() {
        return Ok(None);
    }
    let object = object(value, field)?;
    let (_, content) = tagged(object, field, &["external"], &[], "cover type")?;
    Ok(Some(external_url(content, &join(field, "external"))?))
}

fn external_url(value: &Value, field: &str) -> Result<String> {
    let object = object(value, field)?;
    let url_field = join(field, "url");
    let url = string(required(object, field, "url")?, &url_field)?;
    validate_link_url(url).map_err(|e| within(e, &url_field))?;
    Ok(url.to_string())
}

// ----- blocks ----------------------------------------------------------------------------

const BLOCK_TYPES: &[&str] = &[
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "toggle",
    "quote",
    "callout",
    "code",
    "divider",
    "child_page",
    "child_database",
    "bookmark",
    "equation",
    "table",
    "table_row",
];

/// Keys of a block object that responses carry and requests may echo back.
const BLOCK_METADATA: &[&str] = &[
    "object",
    "id",
    "parent",
    "created_time",
    "last_edited_time",
    "created_by",
    "last_edited_by",
    "has_children",
    "archived",
    "in_trash",
];

/// One block object, `{"type"?, "<type>": {...content, "children"?: [...]}}`. Children sit
/// inside the type object, as in Notion's requests, and are parsed recursively; limits on
/// counts and nesting are checked by [`blocks`].
pub fn block(value: &Value, field: &str) -> Result<NewBlock> {
    let object = object(value, field)?;
    if object.contains_key("children") {
        return Err(Error::new(
            join(field, "children"),
            "should be inside the block's type object (as `paragraph.children`), not beside it",
        ));
    }
    let (kind_name, content) = tagged(object, field, BLOCK_TYPES, BLOCK_METADATA, "block type")?;
    let here = join(field, kind_name);
    let content_object = self::object(content, &here)?;
    let kind = block_kind(kind_name, content_object, &here)?;
    let children = match content_object.get("children") {
        None | Some(Value::Null) => Vec::new(),
        Some(children) => {
            let children_field = join(&here, "children");
            bounded_array(children, &children_field)?
                .iter()
                .enumerate()
                .map(|(index, child)| block(child, &at(&children_field, index)))
                .collect::<Result<Vec<_>>>()?
        }
    };
    Ok(NewBlock { kind, children })
}

/// An array of block objects (a request's `children`), validated as a batch: items per
/// array, blocks per request, nesting and each block's content.
pub fn blocks(value: &Value, field: &str) -> Result<Vec<NewBlock>> {
    let items = bounded_array(value, field)?;
    let parsed = items
        .iter()
        .enumerate()
        .map(|(index, item)| block(item, &at(field, index)))
        .collect::<Result<Vec<_>>>()?;
    document::block::validate_new_blocks(&parsed, field)?;
    Ok(parsed)
}

fn block_kind(kind: &str, object: &Map<String, Value>, field: &str) -> Result<BlockKind> {
    let text = || text_content(object, field);
    Ok(match kind {
        "paragraph" => BlockKind::Paragraph(text()?),
        "bulleted_list_item" => BlockKind::BulletedListItem(text()?),
        "numbered_list_item" => BlockKind::NumberedListItem(text()?),
        "toggle" => BlockKind::Toggle(text()?),
        "quote" => BlockKind::Quote(text()?),
        "heading_1" | "heading_2" | "heading_3" => {
            let text = text()?;
            let is_toggleable = optional_bool(object, field, "is_toggleable", false)?;
            match kind {
                "heading_1" => BlockKind::Heading1 {
                    text,
                    is_toggleable,
                },
                "heading_2" => BlockKind::Heading2 {
                    text,
                    is_toggleable,
                },
                _ => BlockKind::Heading3 {
                    text,
                    is_toggleable,
                },
            }
        }
        "to_do" => BlockKind::ToDo {
            text: text()?,
            checked: optional_bool(object, field, "checked", false)?,
        },
        "callout" => BlockKind::Callout {
            text: text()?,
            icon: match object.get("icon") {
                None => None,
                Some(value) => icon(value, &join(field, "icon"))?,
            },
        },
        "code" => BlockKind::Code {
            rich_text: rich_text(
                required(object, field, "rich_text")?,
                &join(field, "rich_text"),
            )?,
            caption: optional_rich_text(object, field, "caption")?.unwrap_or_default(),
            language: match object.get("language") {
                None => "plain text".to_string(),
                Some(language) => code_language(language, &join(field, "language"))?,
            },
        },
        "divider" => BlockKind::Divider,
        "child_page" => BlockKind::ChildPage,
        "child_database" => BlockKind::ChildDatabase,
        "bookmark" => BlockKind::Bookmark {
            url: string(required(object, field, "url")?, &join(field, "url"))?.to_string(),
            caption: optional_rich_text(object, field, "caption")?.unwrap_or_default(),
        },
        "equation" => BlockKind::Equation {
            expression: string(
                required(object, field, "expression")?,
                &join(field, "expression"),
            )?
            .to_string(),
        },
        "table" => BlockKind::Table {
            table_width: table_width(
                required(object, field, "table_width")?,
                &join(field, "table_width"),
            )?,
            has_column_header: optional_bool(object, field, "has_column_header", false)?,
            has_row_header: optional_bool(object, field, "has_row_header", false)?,
        },
        _ => BlockKind::TableRow {
            cells: table_cells(required(object, field, "cells")?, &join(field, "cells"))?,
        },
    })
}

fn text_content(object: &Map<String, Value>, field: &str) -> Result<TextContent> {
    Ok(TextContent {
        rich_text: rich_text(
            required(object, field, "rich_text")?,
            &join(field, "rich_text"),
        )?,
        color: optional_color(object, field)?.unwrap_or_default(),
    })
}

fn optional_rich_text(
    object: &Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<Option<Vec<RichText>>> {
    match object.get(key) {
        None => Ok(None),
        Some(value) => rich_text(value, &join(field, key)).map(Some),
    }
}

fn code_language(value: &Value, field: &str) -> Result<String> {
    let language = string(value, field)?;
    if !CODE_LANGUAGES.contains(&language) {
        return Err(expected(
            field,
            &format!(
                "should be one of the supported languages ({})",
                CODE_LANGUAGES.join(", ")
            ),
            value,
        ));
    }
    Ok(language.to_string())
}

fn table_width(value: &Value, field: &str) -> Result<u32> {
    match value.as_u64() {
        Some(width) if (1..=ARRAY_ITEMS_MAX as u64).contains(&width) => Ok(width as u32),
        _ => Err(expected(
            field,
            &format!("should be an integer between 1 and {ARRAY_ITEMS_MAX}"),
            value,
        )),
    }
}

fn table_cells(value: &Value, field: &str) -> Result<Vec<Vec<RichText>>> {
    bounded_array(value, field)?
        .iter()
        .enumerate()
        .map(|(index, cell)| rich_text(cell, &at(field, index)))
        .collect()
}

/// The body of `PATCH /v1/blocks/{id}`: the block's own type key with the fields to change.
/// Fields not given keep their values; a body without the type key changes nothing (it may
/// carry only `in_trash`, which the caller reads). Another block type's key is an error:
/// a block's type cannot change.
pub fn block_update(value: &Value, existing: &BlockKind, field: &str) -> Result<BlockKind> {
    let body = object(value, field)?;
    let type_name = existing.type_name();
    if let Some(other) = body
        .keys()
        .find(|key| BLOCK_TYPES.contains(&key.as_str()) && key.as_str() != type_name)
    {
        return Err(Error::new(
            join(field, other),
            format!(
                "the block is a {type_name} block and its type cannot be changed; send `{type_name}` instead"
            ),
        ));
    }
    let Some(content) = body.get(type_name) else {
        return Ok(existing.clone());
    };
    let here = join(field, type_name);
    let object = self::object(content, &here)?;
    if object.contains_key("children") {
        return Err(Error::new(
            join(&here, "children"),
            "cannot be updated; append children with PATCH /v1/blocks/{block_id}/children",
        ));
    }
    let updated = match existing {
        BlockKind::Paragraph(text) => BlockKind::Paragraph(update_text(text, object, &here)?),
        BlockKind::BulletedListItem(text) => {
            BlockKind::BulletedListItem(update_text(text, object, &here)?)
        }
        BlockKind::NumberedListItem(text) => {
            BlockKind::NumberedListItem(update_text(text, object, &here)?)
        }
        BlockKind::Toggle(text) => BlockKind::Toggle(update_text(text, object, &here)?),
        BlockKind::Quote(text) => BlockKind::Quote(update_text(text, object, &here)?),
        BlockKind::Heading1 {
            text,
            is_toggleable,
        } => BlockKind::Heading1 {
            text: update_text(text, object, &here)?,
            is_toggleable: optional_bool(object, &here, "is_toggleable", *is_toggleable)?,
        },
        BlockKind::Heading2 {
            text,
            is_toggleable,
        } => BlockKind::Heading2 {
            text: update_text(text, object, &here)?,
            is_toggleable: optional_bool(object, &here, "is_toggleable", *is_toggleable)?,
        },
        BlockKind::Heading3 {
            text,
            is_toggleable,
        } => BlockKind::Heading3 {
            text: update_text(text, object, &here)?,
            is_toggleable: optional_bool(object, &here, "is_toggleable", *is_toggleable)?,
        },
        BlockKind::ToDo { text, checked } => BlockKind::ToDo {
            text: update_text(text, object, &here)?,
            checked: optional_bool(object, &here, "checked", *checked)?,
        },
        BlockKind::Callout { text, icon } => BlockKind::Callout {
            text: update_text(text, object, &here)?,
            icon: match object.get("icon") {
                None => icon.clone(),
                Some(value) => self::icon(value, &join(&here, "icon"))?,
            },
        },
        BlockKind::Code {
            rich_text,
            caption,
            language,
        } => BlockKind::Code {
            rich_text: optional_rich_text(object, &here, "rich_text")?
                .unwrap_or_else(|| rich_text.clone()),
            caption: optional_rich_text(object, &here, "caption")?
                .unwrap_or_else(|| caption.clone()),
            language: match object.get("language") {
                None => language.clone(),
                Some(value) => code_language(value, &join(&here, "language"))?,
            },
        },
        BlockKind::Divider => BlockKind::Divider,
        BlockKind::ChildPage | BlockKind::ChildDatabase => {
            return Err(Error::new(
                here,
                format!(
                    "a {type_name} block takes its title from its page or database; update that instead"
                ),
            ));
        }
        BlockKind::Bookmark { url, caption } => BlockKind::Bookmark {
            url: match object.get("url") {
                None => url.clone(),
                Some(value) => string(value, &join(&here, "url"))?.to_string(),
            },
            caption: optional_rich_text(object, &here, "caption")?
                .unwrap_or_else(|| caption.clone()),
        },
        BlockKind::Equation { expression } => BlockKind::Equation {
            expression: match object.get("expression") {
                None => expression.clone(),
                Some(value) => string(value, &join(&here, "expression"))?.to_string(),
            },
        },
        BlockKind::Table {
            table_width,
            has_column_header,
            has_row_header,
        } => {
            if let Some(width) = object.get("table_width") {
                let width_field = join(&here, "table_width");
                if self::table_width(width, &width_field)? != *table_width {
                    return Err(Error::new(
                        width_field,
                        format!("cannot be changed; the table has {table_width} columns"),
                    ));
                }
            }
            BlockKind::Table {
                table_width: *table_width,
                has_column_header: optional_bool(
                    object,
                    &here,
                    "has_column_header",
                    *has_column_header,
                )?,
                has_row_header: optional_bool(object, &here, "has_row_header", *has_row_header)?,
            }
        }
        BlockKind::TableRow { cells } => BlockKind::TableRow {
            cells: match object.get("cells") {
                None => cells.clone(),
                Some(value) => {
                    let cells_field = join(&here, "cells");
                    let updated = table_cells(value, &cells_field)?;
                    if updated.len() != cells.len() {
                        return Err(Error::new(
                            cells_field,
                            format!(
                                "should have {} cells to match the table, instead has {}",
                                cells.len(),
                                updated.len()
                            ),
                        ));
                    }
                    updated
                }
            },
        },
    };
    updated.validate().map_err(|e| within(e, field))?;
    Ok(updated)
}

fn update_text(
    existing: &TextContent,
    object: &Map<String, Value>,
    field: &str,
) -> Result<TextContent> {
    Ok(TextContent {
        rich_text: optional_rich_text(object, field, "rich_text")?
            .unwrap_or_else(|| existing.rich_text.clone()),
        color: optional_color(object, field)?.unwrap_or(existing.color),
    })
}

// ----- page property values --------------------------------------------------------------

/// Property types a page can carry a value for.
const VALUE_TYPES: &[&str] = &[
    "title",
    "rich_text",
    "number",
    "select",
    "multi_select",
    "status",
    "date",
    "people",
    "checkbox",
    "url",
    "email",
    "phone_number",
    "relation",
];
/// Property types whose values Notion computes; a request cannot set them.
const COMPUTED_TYPES: &[&str] = &[
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
    "formula",
    "rollup",
    "unique_id",
    "button",
    "verification",
];
const PROPERTY_VALUE_METADATA: &[&str] = &["id", "type", "object", "name", "has_more"];

/// A request's `properties` object parsed against the schema of the data source the page is
/// (or will be) a row of; `None` for other pages, whose only property is the title. The one
/// place property inputs are read, for the API and for integrations' writes alike.
pub fn property_inputs(
    properties: &Map<String, Value>,
    schema: Option<&document::DataSource>,
    field: &str,
) -> Result<Vec<(String, PropertyInput)>> {
    let mut inputs = Vec::with_capacity(properties.len());
    for (key, value) in properties {
        let here = join(field, key);
        let property = match schema {
            Some(data_source) => data_source.property(key).cloned().ok_or_else(|| {
                Error::new(
                    here.clone(),
                    format!("{key} is not a property that exists."),
                )
            })?,
            None => document::data_source::page_title_schema(),
        };
        inputs.push((key.clone(), property_input(value, &property, &here)?));
    }
    Ok(inputs)
}

/// A page property value, `{"<type>": value}` (a `type` and `id` beside it are allowed). The
/// type key must match the property's type in `schema`. Options stay names or ids here;
/// [`PropertyInput::resolve`] matches them against the schema.
pub fn property_input(
    value: &Value,
    schema: &PropertySchema,
    field: &str,
) -> Result<PropertyInput> {
    let object = object(value, field)?;
    let expected_type = schema.config.type_name();
    if schema.config.is_computed() {
        return Err(Error::new(
            field,
            format!(
                "`{}` is a {expected_type} property and cannot be set; its value is computed",
                schema.name
            ),
        ));
    }
    let known: Vec<&str> = VALUE_TYPES.iter().chain(COMPUTED_TYPES).copied().collect();
    let (kind, content) = tagged(
        object,
        field,
        &known,
        PROPERTY_VALUE_METADATA,
        "property type",
    )?;
    let here = join(field, kind);
    if COMPUTED_TYPES.contains(&kind) {
        return Err(Error::new(
            here,
            format!("{kind} values cannot be set; they are computed"),
        ));
    }
    if kind != expected_type {
        return Err(Error::new(
            field,
            format!(
                "`{}` is expected to be {expected_type}, instead was `{kind}`",
                schema.name
            ),
        ));
    }
    let value = |value: PropertyValue| Ok(PropertyInput::Value(value));
    match kind {
        "title" => value(PropertyValue::Title(rich_text(content, &here)?)),
        "rich_text" => value(PropertyValue::RichText(rich_text(content, &here)?)),
        "number" => value(PropertyValue::Number(match content {
            Value::Null => None,
            Value::Number(number) => {
                Some(number.as_f64().filter(|n| n.is_finite()).ok_or_else(|| {
                    expected(&here, "should be a finite number or `null`", content)
                })?)
            }
            _ => return Err(expected(&here, "should be a number or `null`", content)),
        })),
        "select" => Ok(PropertyInput::Select(nullable_option(content, &here)?)),
        "status" => Ok(PropertyInput::Status(nullable_option(content, &here)?)),
        "multi_select" => Ok(PropertyInput::MultiSelect(
            bounded_array(content, &here)?
                .iter()
                .enumerate()
                .map(|(index, item)| option_input(item, &at(&here, index)))
                .collect::<Result<Vec<_>>>()?,
        )),
        "date" => value(PropertyValue::Date(match content {
            Value::Null => None,
            _ => Some(date_value(content, &here)?),
        })),
        "people" => value(PropertyValue::People(id_objects(content, &here)?)),
        "relation" => value(PropertyValue::Relation(id_objects(content, &here)?)),
        "checkbox" => value(PropertyValue::Checkbox(boolean(content, &here)?)),
        "url" => {
            let url = nullable_text(content, &here)?;
            if let Some(url) = &url {
                validate_url(url).map_err(|e| within(e, &here))?;
            }
            value(PropertyValue::Url(url))
        }
        "email" => {
            let email = nullable_text(content, &here)?;
            if let Some(email) = &email {
                let chars = email.chars().count();
                if chars > EMAIL_CHARS_MAX {
                    return Err(Error::new(
                        here,
                        format!("length should be ≤ {EMAIL_CHARS_MAX}, instead was {chars}"),
                    ));
                }
                if !email.contains('@') {
                    return Err(expected(&here, "should be an email address", content));
                }
            }
            value(PropertyValue::Email(email))
        }
        _ => {
            let phone = nullable_text(content, &here)?;
            if let Some(phone) = &phone {
                let chars = phone.chars().count();
                if chars > EMAIL_CHARS_MAX {
                    return Err(Error::new(
                        here,
                        format!("length should be ≤ {EMAIL_CHARS_MAX}, instead was {chars}"),
                    ));
                }
            }
            value(PropertyValue::PhoneNumber(phone))
        }
    }
}

/// A string or `null`; an empty string clears the value as `null` does.
fn nullable_text(value: &Value, field: &str) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        _ => Err(expected(field, "should be a string or `null`", value)),
    }
}

fn nullable_option(value: &Value, field: &str) -> Result<Option<OptionInput>> {
    match value {
        Value::Null => Ok(None),
        _ => option_input(value, field).map(Some),
    }
}

/// `{"id"}` or `{"name"}`; an id wins when both are given, as it cannot be ambiguous.
fn option_input(value: &Value, field: &str) -> Result<OptionInput> {
    let object = object(value, field)?;
    if let Some(option_id) = object.get("id").filter(|v| !v.is_null()) {
        return Ok(OptionInput::Id(
            string(option_id, &join(field, "id"))?.to_string(),
        ));
    }
    match object.get("name").filter(|v| !v.is_null()) {
        Some(name) => {
            let name_field = join(field, "name");
            let name = string(name, &name_field)?;
            if name.trim().is_empty() {
                return Err(Error::new(name_field, "should not be empty"));
            }
            Ok(OptionInput::Name(name.to_string()))
        }
        None => Err(expected(field, "should have `name` or `id`", value)),
    }
}

/// `[{"id"}, ...]`, as people (`{"object":"user","id"}`) and relations send them.
fn id_objects(value: &Value, field: &str) -> Result<Vec<Id>> {
    bounded_array(value, field)?
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let here = at(field, index);
            let object = object(item, &here)?;
            id(required(object, &here, "id")?, &join(&here, "id"))
        })
        .collect()
}

// ----- property schema -------------------------------------------------------------------

const CONFIG_TYPES: &[&str] = &[
    "title",
    "rich_text",
    "number",
    "select",
    "multi_select",
    "status",
    "date",
    "people",
    "checkbox",
    "url",
    "email",
    "phone_number",
    "relation",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
];
const CONFIG_METADATA: &[&str] = &["id", "name", "description", "type", "object"];

/// One schema entry of a create or update data source request, `{"<type>": {...}}`.
/// Option ids are generated unless the request gives them. A relation gives
/// `data_source_id`, and `database_id` when the client knows it; when only one of them is
/// given both fields carry it, and the caller replaces the one that is not of its kind.
pub fn property_config(value: &Value, field: &str) -> Result<PropertyConfig> {
    let object = object(value, field)?;
    let (kind, content) = tagged(
        object,
        field,
        CONFIG_TYPES,
        CONFIG_METADATA,
        "property type",
    )?;
    let here = join(field, kind);
    let config = match content {
        // `{"type": "date", "date": null}` is as good as an empty configuration.
        Value::Null => Map::new(),
        _ => self::object(content, &here)?.clone(),
    };
    Ok(match kind {
        "title" => PropertyConfig::Title,
        "rich_text" => PropertyConfig::RichText,
        "number" => PropertyConfig::Number {
            format: match config.get("format") {
                None | Some(Value::Null) => "number".to_string(),
                Some(format) => {
                    let format_field = join(&here, "format");
                    let text = string(format, &format_field)?;
                    if !NUMBER_FORMATS.contains(&text) {
                        return Err(expected(
                            &format_field,
                            &format!("should be one of {}", NUMBER_FORMATS.join(", ")),
                            format,
                        ));
                    }
                    text.to_string()
                }
            },
        },
        "select" => PropertyConfig::Select {
            options: select_options(&config, &here)?,
        },
        "multi_select" => PropertyConfig::MultiSelect {
            options: select_options(&config, &here)?,
        },
        "status" => {
            let options = select_options(&config, &here)?;
            if options.is_empty() {
                PropertyConfig::default_status()
            } else {
                PropertyConfig::Status {
                    groups: status_groups(&options),
                    options,
                }
            }
        }
        "date" => PropertyConfig::Date,
        "people" => PropertyConfig::People,
        "checkbox" => PropertyConfig::Checkbox,
        "url" => PropertyConfig::Url,
        "email" => PropertyConfig::Email,
        "phone_number" => PropertyConfig::PhoneNumber,
        "relation" => {
            let data_source_id = config
                .get("data_source_id")
                .map(|value| id(value, &join(&here, "data_source_id")))
                .transpose()?;
            let database_id = config
                .get("database_id")
                .map(|value| id(value, &join(&here, "database_id")))
                .transpose()?;
            match (data_source_id, database_id) {
                (Some(data_source_id), Some(database_id)) => PropertyConfig::Relation {
                    data_source_id,
                    database_id,
                },
                (Some(only), None) | (None, Some(only)) => PropertyConfig::Relation {
                    data_source_id: only,
                    database_id: only,
                },
                (None, None) => {
                    return Err(Error::new(
                        join(&here, "data_source_id"),
                        "should be defined",
                    ));
                }
            }
        }
        "created_time" => PropertyConfig::CreatedTime,
        "created_by" => PropertyConfig::CreatedBy,
        "last_edited_time" => PropertyConfig::LastEditedTime,
        _ => PropertyConfig::LastEditedBy,
    })
}

/// The `description` of a schema entry, when it has one.
pub fn property_description(value: &Value, field: &str) -> Result<Option<String>> {
    let object = object(value, field)?;
    match object.get("description") {
        None | Some(Value::Null) => Ok(None),
        Some(description) => Ok(Some(
            string(description, &join(field, "description"))?.to_string(),
        )),
    }
}

fn select_options(config: &Map<String, Value>, field: &str) -> Result<Vec<SelectOption>> {
    let Some(options) = config.get("options").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let options_field = join(field, "options");
    bounded_array(options, &options_field)?
        .iter()
        .enumerate()
        .map(|(index, option)| {
            let here = at(&options_field, index);
            let object = object(option, &here)?;
            let name_field = join(&here, "name");
            let name = string(required(object, &here, "name")?, &name_field)?;
            if name.trim().is_empty() {
                return Err(Error::new(name_field, "should not be empty"));
            }
            if name.contains(',') {
                return Err(Error::new(
                    name_field,
                    format!("should not contain a comma, instead was `{name}`"),
                ));
            }
            let option_id = match object.get("id").filter(|v| !v.is_null()) {
                Some(option_id) => string(option_id, &join(&here, "id"))?.to_string(),
                None => new_short_id(),
            };
            Ok(SelectOption {
                id: option_id,
                name: name.to_string(),
                color: optional_color(object, &here)?.unwrap_or_default(),
            })
        })
        .collect()
}

/// Groups for status options a request lists. Notion's API cannot set groups, so options
/// fall into its three groups by position, the order a workflow is usually written in: the
/// first is to-do, the last complete, the ones between in progress.
fn status_groups(options: &[SelectOption]) -> Vec<StatusGroup> {
    let PropertyConfig::Status { mut groups, .. } = PropertyConfig::default_status() else {
        unreachable!("default_status is a status configuration");
    };
    for group in &mut groups {
        group.option_ids.clear();
    }
    let last = options.len() - 1;
    for (index, option) in options.iter().enumerate() {
        let group = match index {
            0 => 0,
            _ if index == last => 2,
            _ => 1,
        };
        groups[group].option_ids.push(option.id.clone());
    }
    groups
}

/// The `properties` object of `PATCH /v1/data_sources/{id}`: `"<name or id>": null` removes
/// a property; `{"name": "New"}` renames it; `{"<type>": {...}}` adds, retypes or
/// reconfigures it; a rename and a configuration may come together. Entries come in key
/// order.
pub fn schema_edits(value: &Value, field: &str) -> Result<Vec<(String, SchemaEdit)>> {
    let object = object(value, field)?;
    if object.len() > document::limits::PROPERTIES_PER_DATA_SOURCE_MAX {
        return Err(Error::new(
            field,
            format!(
                "should have at most {} properties, instead has {}",
                document::limits::PROPERTIES_PER_DATA_SOURCE_MAX,
                object.len()
            ),
        ));
    }
    object
        .iter()
        .map(|(key, entry)| {
            let here = join(field, key);
            if key.trim().is_empty() {
                return Err(Error::new(field, "property names should not be empty"));
            }
            if entry.is_null() {
                return Ok((key.clone(), SchemaEdit::Remove));
            }
            let entry_object = self::object(entry, &here)?;
            let name = match entry_object.get("name") {
                None => None,
                Some(name) => Some(property_name(name, &join(&here, "name"))?),
            };
            let has_config = entry_object.contains_key("type")
                || entry_object
                    .keys()
                    .any(|k| !CONFIG_METADATA.contains(&k.as_str()));
            let config = if has_config {
                Some(property_config(entry, &here)?)
            } else {
                None
            };
            if name.is_none() && config.is_none() {
                return Err(expected(
                    &here,
                    "should be `null`, or have `name` or a property type",
                    entry,
                ));
            }
            Ok((key.clone(), SchemaEdit::Update { name, config }))
        })
        .collect()
}

fn property_name(value: &Value, field: &str) -> Result<String> {
    let name = string(value, field)?;
    if name.trim().is_empty() {
        return Err(Error::new(field, "should not be empty"));
    }
    let chars = name.chars().count();
    if chars > PROPERTY_NAME_CHARS_MAX {
        return Err(Error::new(
            field,
            format!("length should be ≤ {PROPERTY_NAME_CHARS_MAX}, instead was {chars}"),
        ));
    }
    Ok(name.to_string())
}

// ----- filters and sorts -----------------------------------------------------------------

const TEXT_FILTER_TYPES: &[&str] = &["title", "rich_text", "url", "email", "phone_number"];
const DATE_FILTER_TYPES: &[&str] = &["date", "created_time", "last_edited_time"];
const ID_FILTER_TYPES: &[&str] = &["people", "created_by", "last_edited_by", "relation"];
const FILTER_TYPES: &[&str] = &[
    "title",
    "rich_text",
    "url",
    "email",
    "phone_number",
    "number",
    "checkbox",
    "select",
    "status",
    "multi_select",
    "date",
    "created_time",
    "last_edited_time",
    "people",
    "created_by",
    "last_edited_by",
    "relation",
];

const TEXT_OPERATORS: &[&str] = &[
    "equals",
    "does_not_equal",
    "contains",
    "does_not_contain",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
];
const NUMBER_OPERATORS: &[&str] = &[
    "equals",
    "does_not_equal",
    "greater_than",
    "less_than",
    "greater_than_or_equal_to",
    "less_than_or_equal_to",
    "is_empty",
    "is_not_empty",
];
const CHECKBOX_OPERATORS: &[&str] = &["equals", "does_not_equal"];
const OPTION_OPERATORS: &[&str] = &["equals", "does_not_equal", "is_empty", "is_not_empty"];
const CONTAINS_OPERATORS: &[&str] = &["contains", "does_not_contain", "is_empty", "is_not_empty"];
const DATE_OPERATORS: &[&str] = &[
    "equals",
    "before",
    "after",
    "on_or_before",
    "on_or_after",
    "is_empty",
    "is_not_empty",
    "past_week",
    "past_month",
    "past_year",
    "this_week",
    "next_week",
    "next_month",
    "next_year",
];

/// A data source query's `filter`. `"me"` as a people operand is an error here; see
/// [`filter_with_me`].
pub fn filter(value: &Value, field: &str) -> Result<Filter> {
    filter_with_me(value, field, None)
}

/// [`filter`], reading `"me"` in people, created_by and last_edited_by conditions as `me`,
/// the user making the request.
pub fn filter_with_me(value: &Value, field: &str, me: Option<Id>) -> Result<Filter> {
    filter_at(value, field, me, 0)
}

fn filter_at(value: &Value, field: &str, me: Option<Id>, depth: usize) -> Result<Filter> {
    let object = object(value, field)?;
    for key in ["and", "or"] {
        let Some(parts) = object.get(key) else {
            continue;
        };
        let here = join(field, key);
        if object.len() > 1 {
            return Err(expected(
                field,
                &format!("should have only `{key}` beside a compound filter's parts"),
                value,
            ));
        }
        // Notion's limit, checked here too so that the error comes before any schema lookup.
        if depth >= FILTER_NESTING_LEVELS_MAX {
            return Err(Error::new(
                here,
                format!(
                    "compound filters may be nested at most {FILTER_NESTING_LEVELS_MAX} levels deep"
                ),
            ));
        }
        let parts = bounded_array(parts, &here)?
            .iter()
            .enumerate()
            .map(|(index, part)| filter_at(part, &at(&here, index), me, depth + 1))
            .collect::<Result<Vec<_>>>()?;
        return Ok(if key == "and" {
            Filter::And(parts)
        } else {
            Filter::Or(parts)
        });
    }
    if let Some(timestamp) = object.get("timestamp") {
        let timestamp_field = join(field, "timestamp");
        let (kind, key) = match string(timestamp, &timestamp_field)? {
            "created_time" => (TimestampKind::CreatedTime, "created_time"),
            "last_edited_time" => (TimestampKind::LastEditedTime, "last_edited_time"),
            _ => {
                return Err(expected(
                    &timestamp_field,
                    "should be `created_time` or `last_edited_time`",
                    timestamp,
                ));
            }
        };
        let condition = required(object, field, key)?;
        let Condition::Date(condition) = condition_for(key, condition, &join(field, key), me)?
        else {
            unreachable!("timestamp keys are date filter types");
        };
        return Ok(Filter::Timestamp { kind, condition });
    }
    let Some(property) = object.get("property") else {
        return Err(expected(
            field,
            "should have `property`, `timestamp`, `and` or `or`",
            value,
        ));
    };
    let property = string(property, &join(field, "property"))?.to_string();
    let (type_name, condition) = tagged(object, field, FILTER_TYPES, &["property"], "filter type")?;
    let condition = condition_for(type_name, condition, &join(field, type_name), me)?;
    Ok(Filter::Property {
        property,
        type_name: type_name.to_string(),
        condition,
    })
}

/// The condition object of one property type, `{"<operator>": operand}`.
fn condition_for(type_name: &str, value: &Value, field: &str, me: Option<Id>) -> Result<Condition> {
    let operators = if TEXT_FILTER_TYPES.contains(&type_name) {
        TEXT_OPERATORS
    } else if DATE_FILTER_TYPES.contains(&type_name) {
        DATE_OPERATORS
    } else if ID_FILTER_TYPES.contains(&type_name) {
        CONTAINS_OPERATORS
    } else {
        match type_name {
            "number" => NUMBER_OPERATORS,
            "checkbox" => CHECKBOX_OPERATORS,
            "select" | "status" => OPTION_OPERATORS,
            _ => CONTAINS_OPERATORS,
        }
    };
    let object = object(value, field)?;
    let mut keys = object.keys();
    let (operator, operand) = match (keys.next(), keys.next()) {
        (Some(operator), None) => (operator.as_str(), &object[operator]),
        (None, _) => {
            return Err(expected(
                field,
                &format!("should have one operator of {}", operators.join(", ")),
                value,
            ));
        }
        (Some(_), Some(_)) => {
            return Err(expected(field, "should have exactly one operator", value));
        }
    };
    let here = join(field, operator);
    if !operators.contains(&operator) {
        return Err(Error::new(
            here,
            format!(
                "`{operator}` is not a valid {type_name} filter operator; expected one of {}",
                operators.join(", ")
            ),
        ));
    }
    if (operator == "is_empty" || operator == "is_not_empty") && operand != &Value::Bool(true) {
        return Err(expected(&here, "should be `true`", operand));
    }
    let empty = operator == "is_empty";
    let text = || string(operand, &here).map(str::to_string);
    if TEXT_FILTER_TYPES.contains(&type_name) {
        return Ok(Condition::Text(match operator {
            "equals" => TextCondition::Equals(text()?),
            "does_not_equal" => TextCondition::DoesNotEqual(text()?),
            "contains" => TextCondition::Contains(text()?),
            "does_not_contain" => TextCondition::DoesNotContain(text()?),
            "starts_with" => TextCondition::StartsWith(text()?),
            "ends_with" => TextCondition::EndsWith(text()?),
            _ if empty => TextCondition::IsEmpty,
            _ => TextCondition::IsNotEmpty,
        }));
    }
    if DATE_FILTER_TYPES.contains(&type_name) {
        return Ok(Condition::Date(date_condition(operator, operand, &here)?));
    }
    if ID_FILTER_TYPES.contains(&type_name) {
        let person = type_name != "relation";
        let operand_id = || -> Result<Id> {
            match (operand.as_str(), me) {
                (Some("me"), Some(me)) if person => Ok(me),
                (Some("me"), None) if person => Err(Error::new(
                    here.clone(),
                    "`me` can only be used in a request made by a user",
                )),
                _ => id(operand, &here),
            }
        };
        return Ok(Condition::ContainsId(match operator {
            "contains" => ContainsCondition::Contains(operand_id()?),
            "does_not_contain" => ContainsCondition::DoesNotContain(operand_id()?),
            _ if empty => ContainsCondition::IsEmpty,
            _ => ContainsCondition::IsNotEmpty,
        }));
    }
    Ok(match type_name {
        "number" => {
            let number = || -> Result<f64> {
                operand
                    .as_f64()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| expected(&here, "should be a number", operand))
            };
            Condition::Number(match operator {
                "equals" => NumberCondition::Equals(number()?),
                "does_not_equal" => NumberCondition::DoesNotEqual(number()?),
                "greater_than" => NumberCondition::GreaterThan(number()?),
                "less_than" => NumberCondition::LessThan(number()?),
                "greater_than_or_equal_to" => NumberCondition::GreaterThanOrEqualTo(number()?),
                "less_than_or_equal_to" => NumberCondition::LessThanOrEqualTo(number()?),
                _ if empty => NumberCondition::IsEmpty,
                _ => NumberCondition::IsNotEmpty,
            })
        }
        "checkbox" => {
            let checked = boolean(operand, &here)?;
            Condition::Checkbox {
                equals: if operator == "equals" {
                    checked
                } else {
                    !checked
                },
            }
        }
        "select" | "status" => Condition::Option(match operator {
            "equals" => OptionCondition::Equals(text()?),
            "does_not_equal" => OptionCondition::DoesNotEqual(text()?),
            _ if empty => OptionCondition::IsEmpty,
            _ => OptionCondition::IsNotEmpty,
        }),
        _ => Condition::Contains(match operator {
            "contains" => ContainsCondition::Contains(text()?),
            "does_not_contain" => ContainsCondition::DoesNotContain(text()?),
            _ if empty => ContainsCondition::IsEmpty,
            _ => ContainsCondition::IsNotEmpty,
        }),
    })
}

fn date_condition(operator: &str, operand: &Value, field: &str) -> Result<DateCondition> {
    let date = || -> Result<String> {
        let text = string(operand, field)?;
        if document::time::parse_instant(text).is_none() {
            return Err(expected(
                field,
                "should be an ISO 8601 date or date-time",
                operand,
            ));
        }
        Ok(text.to_string())
    };
    let relative = |condition: DateCondition| -> Result<DateCondition> {
        match operand {
            Value::Object(_) => Ok(condition),
            _ => Err(expected(field, "should be an empty object `{}`", operand)),
        }
    };
    match operator {
        "equals" => Ok(DateCondition::Equals(date()?)),
        "before" => Ok(DateCondition::Before(date()?)),
        "after" => Ok(DateCondition::After(date()?)),
        "on_or_before" => Ok(DateCondition::OnOrBefore(date()?)),
        "on_or_after" => Ok(DateCondition::OnOrAfter(date()?)),
        "is_empty" => Ok(DateCondition::IsEmpty),
        "is_not_empty" => Ok(DateCondition::IsNotEmpty),
        "past_week" => relative(DateCondition::PastWeek),
        "past_month" => relative(DateCondition::PastMonth),
        "past_year" => relative(DateCondition::PastYear),
        "this_week" => relative(DateCondition::ThisWeek),
        "next_week" => relative(DateCondition::NextWeek),
        "next_month" => relative(DateCondition::NextMonth),
        _ => relative(DateCondition::NextYear),
    }
}

/// A query's `sorts`: `[{"property", "direction"} | {"timestamp", "direction"}]`.
pub fn sorts(value: &Value, field: &str) -> Result<Vec<Sort>> {
    // At most `SORTS_PER_QUERY_MAX` are accepted, by `document::filter::resolve_sorts`.
    bounded_array(value, field)?
        .iter()
        .enumerate()
        .map(|(index, item)| sort(item, &at(field, index)))
        .collect()
}

fn sort(value: &Value, field: &str) -> Result<Sort> {
    let object = object(value, field)?;
    let direction_field = join(field, "direction");
    let direction = required(object, field, "direction")?;
    let direction = match string(direction, &direction_field)? {
        "ascending" => SortDirection::Ascending,
        "descending" => SortDirection::Descending,
        _ => {
            return Err(expected(
                &direction_field,
                "should be `ascending` or `descending`",
                direction,
            ));
        }
    };
    match (object.get("property"), object.get("timestamp")) {
        (Some(property), None) => Ok(Sort::Property {
            property: string(property, &join(field, "property"))?.to_string(),
            direction,
        }),
        (None, Some(timestamp)) => {
            let timestamp_field = join(field, "timestamp");
            let kind = match string(timestamp, &timestamp_field)? {
                "created_time" => TimestampKind::CreatedTime,
                "last_edited_time" => TimestampKind::LastEditedTime,
                _ => {
                    return Err(expected(
                        &timestamp_field,
                        "should be `created_time` or `last_edited_time`",
                        timestamp,
                    ));
                }
            };
            Ok(Sort::Timestamp { kind, direction })
        }
        _ => Err(expected(
            field,
            "should have either `property` or `timestamp`",
            value,
        )),
    }
}

// ----- JSON access with field paths ------------------------------------------------------

/// `field.key`, or `key` at the top of the request.
fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    }
}

/// Prefixes a nested validator's error with `field`, which may be empty at the top of the
/// request (where [`Error::within`] would leave a leading dot).
fn within(error: Error, field: &str) -> Error {
    if field.is_empty() {
        error
    } else {
        error.within(field)
    }
}

fn at(field: &str, index: usize) -> String {
    format!("{field}[{index}]")
}

/// The sent value as an error message quotes it, shortened when long.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= SHOWN_VALUE_CHARS_MAX {
        return text;
    }
    let mut short: String = text.chars().take(SHOWN_VALUE_CHARS_MAX).collect();
    short.push('…');
    short
}

/// "`field` should be X, instead was `value`".
fn expected(field: &str, should: &str, value: &Value) -> Error {
    Error::new(field, format!("{should}, instead was `{}`", shown(value)))
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| expected(field, "should be an object", value))
}

fn required<'a>(object: &'a Map<String, Value>, field: &str, key: &str) -> Result<&'a Value> {
    object
        .get(key)
        .ok_or_else(|| Error::new(join(field, key), "should be defined"))
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str> {
    value
        .as_str()
        .ok_or_else(|| expected(field, "should be a string", value))
}

fn boolean(value: &Value, field: &str) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| expected(field, "should be a boolean", value))
}

fn optional_bool(
    object: &Map<String, Value>,
    field: &str,
    key: &str,
    default: bool,
) -> Result<bool> {
    match object.get(key) {
        None => Ok(default),
        Some(value) => boolean(value, &join(field, key)),
    }
}

/// An array of at most [`ARRAY_ITEMS_MAX`] items, checked before any item is parsed.
fn bounded_array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>> {
    let items = value
        .as_array()
        .ok_or_else(|| expected(field, "should be an array", value))?;
    if items.len() > ARRAY_ITEMS_MAX {
        return Err(Error::new(
            field,
            format!(
                "should have at most {ARRAY_ITEMS_MAX} items, instead has {}",
                items.len()
            ),
        ));
    }
    Ok(items)
}

/// The `color` key of an object. Notion's `default_background` reads as `default`.
fn optional_color(object: &Map<String, Value>, field: &str) -> Result<Option<Color>> {
    let Some(value) = object.get("color") else {
        return Ok(None);
    };
    let here = join(field, "color");
    let name = string(value, &here)?;
    if name == "default_background" {
        return Ok(Some(Color::Default));
    }
    Color::from_name(name).map(Some).ok_or_else(|| {
        let names: Vec<&str> = Color::ALL.iter().map(Color::name).collect();
        expected(
            &here,
            &format!("should be one of {}", names.join(", ")),
            value,
        )
    })
}

/// Finds which variant a `{"type"?, "<type>": {...}}` object is. With `type`, its value names
/// the key; without, exactly one supported key must be present. Keys in `metadata` are
/// allowed beside it; any other key is reported as an unsupported type.
fn tagged<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    supported: &[&'a str],
    metadata: &[&str],
    what: &str,
) -> Result<(&'a str, &'a Value)> {
    let unsupported = |key: &str, at: String| {
        Error::new(
            at,
            format!(
                "`{key}` is not a supported {what}; expected one of {}",
                supported.join(", ")
            ),
        )
    };
    if let Some(kind) = object.get("type") {
        let type_field = join(field, "type");
        let name = string(kind, &type_field)?;
        let Some(name) = supported.iter().copied().find(|s| *s == name) else {
            return Err(unsupported(name, type_field));
        };
        let content = required(object, field, name)?;
        return Ok((name, content));
    }
    let mut present = supported
        .iter()
        .copied()
        .filter(|key| object.contains_key(*key));
    match (present.next(), present.next()) {
        (Some(name), None) => Ok((name, &object[name])),
        (Some(first), Some(second)) => Err(Error::new(
            field,
            format!("should have exactly one {what}, instead has `{first}` and `{second}`"),
        )),
        (None, _) => {
            if let Some(key) = object
                .keys()
                .find(|key| !metadata.contains(&key.as_str()) && key.as_str() != "type")
            {
                return Err(unsupported(key, join(field, key)));
            }
            Err(Error::new(
                field,
                format!("should have a {what} key, one of {}", supported.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
