//! Domain types → response JSON in Notion's shapes for `Notion-Version: 2025-09-03`.
//!
//! Ids are dashed, times are ISO 8601 with milliseconds (`document::time::format_ms`), users
//! are partial user objects, and every trashable object carries `in_trash` with the legacy
//! `archived` mirroring it, so that clients written for either version read it.

use document::block::{BlockKind, TextContent};
use document::data_source::{StatusGroup, page_title_schema};
use document::page::TITLE_PROPERTY_ID;
use document::time::format_ms;
use document::{
    Annotations, Block, DataSource, Database, DateValue, Icon, Id, Mention, Page, Parent,
    PropertyConfig, PropertySchema, PropertyValue, RichText, RichTextKind, SelectOption,
};
use serde_json::{Map, Value, json};

/// The base of `url` fields when the server is given none.
pub const DEFAULT_BASE_URL: &str = "https://trellis.local";

/// What rendering needs to know about the server.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// Base of object URLs, without a trailing slash (one is tolerated).
    pub base_url: &'a str,
    /// Full user objects (as [`user`] renders them) for the people a page's People values
    /// name, when the reader may see them; anyone missing renders as a partial user.
    pub people: Option<&'a std::collections::HashMap<Id, Value>>,
}

impl Default for RenderContext<'_> {
    fn default() -> Self {
        RenderContext {
            people: None,
            base_url: DEFAULT_BASE_URL,
        }
    }
}

impl RenderContext<'_> {
    /// `<base>/<id without dashes>`, as Notion's URLs name objects.
    pub fn url(&self, id: Id) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), compact(id))
    }
}

// ----- rich text -------------------------------------------------------------------------

/// Rich text objects with `plain_text`, `href` and all six annotations.
pub fn rich_text(runs: &[RichText]) -> Value {
    Value::Array(runs.iter().map(rich_text_item).collect())
}

fn rich_text_item(run: &RichText) -> Value {
    let (kind, content) = match &run.kind {
        RichTextKind::Text { content, link } => (
            "text",
            json!({
                "content": content,
                "link": link.as_ref().map(|url| json!({ "url": url })),
            }),
        ),
        RichTextKind::Equation { expression } => ("equation", json!({ "expression": expression })),
        RichTextKind::Mention(mention) => ("mention", self::mention(mention)),
    };
    let mut item = Map::new();
    item.insert("type".into(), kind.into());
    item.insert(kind.into(), content);
    item.insert("annotations".into(), annotations(&run.annotations));
    item.insert("plain_text".into(), run.plain_text().into());
    item.insert("href".into(), run.href().into());
    Value::Object(item)
}

fn mention(mention: &Mention) -> Value {
    match mention {
        Mention::User(id) => json!({ "type": "user", "user": partial_user(*id) }),
        Mention::Page(id) => json!({ "type": "page", "page": { "id": id.to_string() } }),
        Mention::Database(id) => {
            json!({ "type": "database", "database": { "id": id.to_string() } })
        }
        Mention::Date(date) => json!({ "type": "date", "date": self::date(date) }),
    }
}

fn annotations(annotations: &Annotations) -> Value {
    json!({
        "bold": annotations.bold,
        "italic": annotations.italic,
        "strikethrough": annotations.strikethrough,
        "underline": annotations.underline,
        "code": annotations.code,
        "color": annotations.color.name(),
    })
}

// ----- shared pieces ---------------------------------------------------------------------

/// An id without dashes, as Notion's URLs carry it.
fn compact(id: Id) -> String {
    id.to_string().replace('-', "")
}

fn partial_user(id: Id) -> Value {
    json!({ "object": "user", "id": id.to_string() })
}

/// A parent object: `{"type":"page_id","page_id"}`, `{"type":"workspace","workspace":true}`,
/// `{"type":"block_id"}`, `{"type":"database_id"}` or
/// `{"type":"data_source_id","data_source_id","database_id"}`.
pub fn parent(parent: &Parent) -> Value {
    match parent {
        Parent::Workspace => json!({ "type": "workspace", "workspace": true }),
        Parent::Page(id) => json!({ "type": "page_id", "page_id": id.to_string() }),
        Parent::Block(id) => json!({ "type": "block_id", "block_id": id.to_string() }),
        Parent::Database(id) => json!({ "type": "database_id", "database_id": id.to_string() }),
        Parent::DataSource {
            data_source_id,
            database_id,
        } => json!({
            "type": "data_source_id",
            "data_source_id": data_source_id.to_string(),
            "database_id": database_id.to_string(),
        }),
    }
}

/// `null`, `{"type":"emoji","emoji"}` or `{"type":"external","external":{"url"}}`.
pub fn icon(icon: Option<&Icon>) -> Value {
    match icon {
        None => Value::Null,
        Some(Icon::Emoji(emoji)) => json!({ "type": "emoji", "emoji": emoji }),
        Some(Icon::External(url)) => json!({ "type": "external", "external": { "url": url } }),
    }
}

/// `null` or `{"type":"external","external":{"url"}}`.
pub fn cover(cover: Option<&str>) -> Value {
    match cover {
        None => Value::Null,
        Some(url) => json!({ "type": "external", "external": { "url": url } }),
    }
}

fn date(date: &DateValue) -> Value {
    json!({ "start": date.start, "end": date.end, "time_zone": date.time_zone })
}

/// A number as Notion writes it: integral values without a fraction (`10`, not `10.0`).
fn number(value: f64) -> Value {
    // Below 2^53 every integer is exact in an f64, so the conversion loses nothing.
    const EXACT_INTEGER_MAX: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() < EXACT_INTEGER_MAX {
        json!(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// Fields every page, block, database and data source carries.
fn timestamps(
    object: &mut Map<String, Value>,
    created_time: i64,
    created_by: Id,
    last_edited_time: i64,
    last_edited_by: Id,
) {
    object.insert("created_time".into(), format_ms(created_time).into());
    object.insert(
        "last_edited_time".into(),
        format_ms(last_edited_time).into(),
    );
    object.insert("created_by".into(), partial_user(created_by));
    object.insert("last_edited_by".into(), partial_user(last_edited_by));
}

fn trash(object: &mut Map<String, Value>, in_trash: bool) {
    object.insert("in_trash".into(), in_trash.into());
    object.insert("archived".into(), in_trash.into());
}

// ----- pages and property values ---------------------------------------------------------

/// A page object. A row (with its data source's `schema`) lists every schema property,
/// computed ones included; a standalone page lists its `title`.
pub fn page(page: &Page, schema: Option<&DataSource>, ctx: &RenderContext) -> Value {
    let mut object = Map::new();
    object.insert("object".into(), "page".into());
    object.insert("id".into(), page.id.to_string().into());
    timestamps(
        &mut object,
        page.created_time,
        page.created_by,
        page.last_edited_time,
        page.last_edited_by,
    );
    object.insert("cover".into(), cover(page.cover.as_deref()));
    object.insert("icon".into(), icon(page.icon.as_ref()));
    object.insert("parent".into(), parent(&page.parent));
    trash(&mut object, page.in_trash);
    object.insert("is_locked".into(), page.is_locked.into());
    object.insert(
        "properties".into(),
        page_properties(page, schema, ctx.people),
    );
    object.insert("url".into(), ctx.url(page.id).into());
    object.insert("public_url".into(), Value::Null);
    Value::Object(object)
}

fn page_properties(page: &Page, schema: Option<&DataSource>, people: People<'_>) -> Value {
    let mut properties = Map::new();
    match schema {
        Some(data_source) => {
            for property in &data_source.properties {
                properties.insert(
                    property.name.clone(),
                    property_value(page, property, people),
                );
            }
        }
        None => {
            let title = page_title_schema();
            properties.insert(
                TITLE_PROPERTY_ID.into(),
                property_value(page, &title, people),
            );
        }
    }
    Value::Object(properties)
}

/// `{"id", "type", "<type>": value}` for one property of a page.
/// Rendered users by id (see [`RenderContext::people`]).
type People<'a> = Option<&'a std::collections::HashMap<Id, Value>>;

fn property_value(page: &Page, property: &PropertySchema, people: People<'_>) -> Value {
    let type_name = property.config.type_name();
    let mut object = Map::new();
    object.insert("id".into(), property.id.clone().into());
    object.insert("type".into(), type_name.into());
    object.insert(type_name.into(), value_content(page, property, people));
    if matches!(property.config, PropertyConfig::Relation { .. }) {
        object.insert("has_more".into(), false.into());
    }
    Value::Object(object)
}

/// The value under a property's type key, from the page's stored value or, for computed
/// types, from the page itself. A row missing a stored value shows the empty value.
fn value_content(page: &Page, property: &PropertySchema, people: People<'_>) -> Value {
    match property.config {
        PropertyConfig::CreatedTime => return format_ms(page.created_time).into(),
        PropertyConfig::LastEditedTime => return format_ms(page.last_edited_time).into(),
        PropertyConfig::CreatedBy => return partial_user(page.created_by),
        PropertyConfig::LastEditedBy => return partial_user(page.last_edited_by),
        _ => {}
    }
    let empty = PropertyValue::empty_for(&property.config);
    let Some(value) = page.properties.get(&property.id).or(empty.as_ref()) else {
        return Value::Null;
    };
    let options = property.config.options().map(Vec::as_slice).unwrap_or(&[]);
    match value {
        PropertyValue::Title(runs) | PropertyValue::RichText(runs) => rich_text(runs),
        PropertyValue::Number(value) => value.map_or(Value::Null, number),
        PropertyValue::Select(option) | PropertyValue::Status(option) => option
            .as_ref()
            .and_then(|option_id| option_value(options, option_id))
            .unwrap_or(Value::Null),
        PropertyValue::MultiSelect(option_ids) => Value::Array(
            option_ids
                .iter()
                .filter_map(|option_id| option_value(options, option_id))
                .collect(),
        ),
        PropertyValue::Date(value) => value.as_ref().map_or(Value::Null, date),
        PropertyValue::People(ids) => Value::Array(
            ids.iter()
                .map(|id| {
                    people
                        .and_then(|people| people.get(id).cloned())
                        .unwrap_or_else(|| partial_user(*id))
                })
                .collect(),
        ),
        PropertyValue::Relation(ids) => Value::Array(
            ids.iter()
                .map(|id| json!({ "id": id.to_string() }))
                .collect(),
        ),
        PropertyValue::Checkbox(checked) => (*checked).into(),
        PropertyValue::Url(text)
        | PropertyValue::Email(text)
        | PropertyValue::PhoneNumber(text) => text.clone().into(),
    }
}

/// `{"id", "name", "color"}` of a chosen option; `None` when the schema no longer has it.
fn option_value(options: &[SelectOption], option_id: &str) -> Option<Value> {
    options
        .iter()
        .find(|o| o.id == option_id)
        .map(|option| json!({ "id": option.id, "name": option.name, "color": option.color.name() }))
}

/// `GET /v1/pages/{id}/properties/{property_id}`. Title, rich text, people and relation
/// values are a list of one property item per run, person or page (the caller paginates
/// `results`); other types are a single property item. `None` when the page has no such
/// property.
pub fn property_item(
    page: &Page,
    schema: Option<&DataSource>,
    property_id: &str,
    people: People<'_>,
) -> Option<Value> {
    let standalone_title;
    let property = match schema {
        Some(data_source) => data_source.property(property_id)?,
        None => {
            standalone_title = page_title_schema();
            if property_id != standalone_title.id {
                return None;
            }
            &standalone_title
        }
    };
    let type_name = property.config.type_name();
    let item = |content: Value| {
        let mut object = Map::new();
        object.insert("object".into(), "property_item".into());
        object.insert("id".into(), property.id.clone().into());
        object.insert("type".into(), type_name.into());
        object.insert(type_name.into(), content);
        Value::Object(object)
    };
    let content = value_content(page, property, people);
    let results: Vec<Value> = match property.config {
        PropertyConfig::Title
        | PropertyConfig::RichText
        | PropertyConfig::People
        | PropertyConfig::Relation { .. } => match content {
            Value::Array(values) => values.into_iter().map(item).collect(),
            _ => Vec::new(),
        },
        _ => return Some(item(content)),
    };
    let mut list = Map::new();
    list.insert("object".into(), "list".into());
    list.insert("results".into(), results.into());
    list.insert("next_cursor".into(), Value::Null);
    list.insert("has_more".into(), false.into());
    list.insert("type".into(), "property_item".into());
    list.insert(
        "property_item".into(),
        json!({
            "id": property.id,
            "next_url": null,
            "type": type_name,
            type_name: {},
        }),
    );
    Some(Value::Object(list))
}

// ----- blocks ----------------------------------------------------------------------------

/// A block object. `child_page` and `child_database` blocks show `linked_title`, the title
/// of the page or database they stand for.
pub fn block(block: &Block, linked_title: Option<&str>) -> Value {
    let type_name = block.kind.type_name();
    let mut object = Map::new();
    object.insert("object".into(), "block".into());
    object.insert("id".into(), block.id.to_string().into());
    object.insert("parent".into(), parent(&block.parent));
    timestamps(
        &mut object,
        block.created_time,
        block.created_by,
        block.last_edited_time,
        block.last_edited_by,
    );
    object.insert("has_children".into(), block.has_children.into());
    trash(&mut object, block.in_trash);
    object.insert("type".into(), type_name.into());
    object.insert(type_name.into(), block_content(&block.kind, linked_title));
    Value::Object(object)
}

/// The object under a block's type key.
pub fn block_content(kind: &BlockKind, linked_title: Option<&str>) -> Value {
    let text = |text: &TextContent| json!({ "rich_text": rich_text(&text.rich_text), "color": text.color.name() });
    let heading = |content: &TextContent, is_toggleable: bool| {
        let mut value = text(content);
        value["is_toggleable"] = is_toggleable.into();
        value
    };
    match kind {
        BlockKind::Paragraph(content)
        | BlockKind::BulletedListItem(content)
        | BlockKind::NumberedListItem(content)
        | BlockKind::Toggle(content)
        | BlockKind::Quote(content) => text(content),
        BlockKind::Heading1 {
            text,
            is_toggleable,
        }
        | BlockKind::Heading2 {
            text,
            is_toggleable,
        }
        | BlockKind::Heading3 {
            text,
            is_toggleable,
        } => heading(text, *is_toggleable),
        BlockKind::ToDo {
            text: content,
            checked,
        } => {
            let mut value = text(content);
            value["checked"] = (*checked).into();
            value
        }
        BlockKind::Callout {
            text: content,
            icon,
        } => {
            let mut value = text(content);
            value["icon"] = self::icon(icon.as_ref());
            value
        }
        BlockKind::Code {
            rich_text: runs,
            caption,
            language,
        } => json!({
            "rich_text": rich_text(runs),
            "caption": rich_text(caption),
            "language": language,
        }),
        BlockKind::Divider => json!({}),
        BlockKind::ChildPage | BlockKind::ChildDatabase => {
            json!({ "title": linked_title.unwrap_or_default() })
        }
        BlockKind::Bookmark { url, caption } => {
            json!({ "url": url, "caption": rich_text(caption) })
        }
        BlockKind::Equation { expression } => json!({ "expression": expression }),
        BlockKind::Table {
            table_width,
            has_column_header,
            has_row_header,
        } => json!({
            "table_width": table_width,
            "has_column_header": has_column_header,
            "has_row_header": has_row_header,
        }),
        BlockKind::TableRow { cells } => json!({
            "cells": cells.iter().map(|cell| rich_text(cell)).collect::<Vec<_>>(),
        }),
    }
}

// ----- databases and data sources --------------------------------------------------------

/// A 2025-09-03 database object: its data sources by id and name, no properties.
pub fn database(database: &Database, data_sources: &[(Id, String)], ctx: &RenderContext) -> Value {
    let mut object = Map::new();
    object.insert("object".into(), "database".into());
    object.insert("id".into(), database.id.to_string().into());
    object.insert("title".into(), rich_text(&database.title));
    object.insert("description".into(), rich_text(&database.description));
    object.insert("parent".into(), parent(&database.parent));
    object.insert("is_inline".into(), database.is_inline.into());
    trash(&mut object, database.in_trash);
    object.insert("is_locked".into(), database.is_locked.into());
    timestamps(
        &mut object,
        database.created_time,
        database.created_by,
        database.last_edited_time,
        database.last_edited_by,
    );
    object.insert(
        "data_sources".into(),
        data_sources
            .iter()
            .map(|(id, name)| json!({ "id": id.to_string(), "name": name }))
            .collect::<Vec<_>>()
            .into(),
    );
    object.insert("icon".into(), icon(database.icon.as_ref()));
    object.insert("cover".into(), cover(database.cover.as_deref()));
    object.insert("url".into(), ctx.url(database.id).into());
    object.insert("public_url".into(), Value::Null);
    Value::Object(object)
}

/// A data source object with its schema. Its `url` uses [`DEFAULT_BASE_URL`]; `is_inline`
/// and `cover` are its database's.
pub fn data_source(data_source: &DataSource, database: &Database) -> Value {
    let mut object = Map::new();
    object.insert("object".into(), "data_source".into());
    object.insert("id".into(), data_source.id.to_string().into());
    object.insert("title".into(), rich_text(&data_source.title));
    object.insert("description".into(), rich_text(&data_source.description));
    object.insert(
        "parent".into(),
        json!({ "type": "database_id", "database_id": data_source.database_id.to_string() }),
    );
    object.insert("database_parent".into(), parent(&database.parent));
    object.insert("is_inline".into(), database.is_inline.into());
    trash(&mut object, data_source.in_trash);
    timestamps(
        &mut object,
        data_source.created_time,
        data_source.created_by,
        data_source.last_edited_time,
        data_source.last_edited_by,
    );
    let properties: Map<String, Value> = data_source
        .properties
        .iter()
        .map(|property| (property.name.clone(), property_schema(property)))
        .collect();
    object.insert("properties".into(), properties.into());
    object.insert("icon".into(), icon(data_source.icon.as_ref()));
    object.insert("cover".into(), cover(database.cover.as_deref()));
    object.insert(
        "url".into(),
        RenderContext::default().url(data_source.id).into(),
    );
    object.insert("public_url".into(), Value::Null);
    Value::Object(object)
}

/// `{"id", "name", "type", "description", "<type>": config}` of one schema property.
pub fn property_schema(property: &PropertySchema) -> Value {
    let type_name = property.config.type_name();
    let description = if property.description.is_empty() {
        Value::Null
    } else {
        property.description.clone().into()
    };
    let mut object = Map::new();
    object.insert("id".into(), property.id.clone().into());
    object.insert("name".into(), property.name.clone().into());
    object.insert("type".into(), type_name.into());
    object.insert("description".into(), description);
    object.insert(type_name.into(), property_config(&property.config));
    Value::Object(object)
}

/// The object under a schema property's type key.
pub fn property_config(config: &PropertyConfig) -> Value {
    match config {
        PropertyConfig::Number { format } => json!({ "format": format }),
        PropertyConfig::Select { options } | PropertyConfig::MultiSelect { options } => {
            json!({ "options": select_options(options) })
        }
        PropertyConfig::Status { options, groups } => json!({
            "options": select_options(options),
            "groups": groups.iter().map(status_group).collect::<Vec<_>>(),
        }),
        PropertyConfig::Relation {
            data_source_id,
            database_id,
        } => json!({
            "data_source_id": data_source_id.to_string(),
            "database_id": database_id.to_string(),
            "type": "single_property",
            "single_property": {},
        }),
        _ => json!({}),
    }
}

fn select_options(options: &[SelectOption]) -> Vec<Value> {
    options
        .iter()
        .map(|option| {
            json!({
                "id": option.id,
                "name": option.name,
                "color": option.color.name(),
                "description": null,
            })
        })
        .collect()
}

fn status_group(group: &StatusGroup) -> Value {
    json!({
        "id": group.id,
        "name": group.name,
        "color": group.color.name(),
        "option_ids": group.option_ids,
    })
}

// ----- users, comments, lists, errors ----------------------------------------------------

/// A user object: a person (with `person.email` when given) or a bot owned by the workspace.
pub fn user(
    id: Id,
    is_bot: bool,
    name: &str,
    avatar_url: Option<&str>,
    email: Option<&str>,
    workspace_name: &str,
) -> Value {
    let mut object = Map::new();
    object.insert("object".into(), "user".into());
    object.insert("id".into(), id.to_string().into());
    object.insert("name".into(), name.into());
    object.insert("avatar_url".into(), avatar_url.into());
    if is_bot {
        object.insert("type".into(), "bot".into());
        object.insert(
            "bot".into(),
            json!({
                "owner": { "type": "workspace", "workspace": true },
                "workspace_name": workspace_name,
            }),
        );
    } else {
        let mut person = Map::new();
        if let Some(email) = email {
            person.insert("email".into(), email.into());
        }
        object.insert("type".into(), "person".into());
        object.insert("person".into(), person.into());
    }
    Value::Object(object)
}

/// A comment object. Its parent is the block when one is given, else the page. Comments
/// cannot be edited, so `last_edited_time` is `created_time`.
pub fn comment(
    id: Id,
    parent_page: Option<Id>,
    parent_block: Option<Id>,
    discussion_id: Id,
    rich_text: &[RichText],
    created_time: i64,
    created_by: Id,
) -> Value {
    let parent = match (parent_block, parent_page) {
        (Some(block_id), _) => json!({ "type": "block_id", "block_id": block_id.to_string() }),
        (None, Some(page_id)) => json!({ "type": "page_id", "page_id": page_id.to_string() }),
        (None, None) => Value::Null,
    };
    json!({
        "object": "comment",
        "id": id.to_string(),
        "parent": parent,
        "discussion_id": discussion_id.to_string(),
        "created_time": format_ms(created_time),
        "last_edited_time": format_ms(created_time),
        "created_by": partial_user(created_by),
        "rich_text": self::rich_text(rich_text),
    })
}

/// A paginated list: `{"object":"list","results","next_cursor","has_more","type":kind,
/// kind:{}}`; `has_more` is whether there is a next cursor.
pub fn list(results: Vec<Value>, next_cursor: Option<String>, kind: &str) -> Value {
    let mut object = Map::new();
    object.insert("object".into(), "list".into());
    object.insert("results".into(), results.into());
    object.insert("has_more".into(), next_cursor.is_some().into());
    object.insert("next_cursor".into(), next_cursor.into());
    object.insert("type".into(), kind.into());
    object.insert(kind.into(), json!({}));
    Value::Object(object)
}

/// An error body: `{"object":"error","status","code","message"}`.
pub fn error(status: u16, code: &str, message: &str) -> Value {
    json!({ "object": "error", "status": status, "code": code, "message": message })
}
