//! Applies a run's staged writes through a workspace [`Session`], in the order the guest made
//! them, as the run's actor: each is parsed from Notion's JSON shapes and decided exactly as the
//! matching API request. The first write that fails fails them all (the caller rolls back).

use document::block::{BlockKind, NewBlock};
use document::{DataSource, RichText};
use runtime::{Content, Parent, WriteOp};
use serde_json::Value;
use workspace::{NewPage, PageUpdate, ParentRef, Session};

use crate::host::id_of;

fn invalid(field: &str, message: impl Into<String>) -> workspace::Error {
    workspace::Error::validation(field, message)
}

fn json_object(text: &str, field: &str) -> workspace::Result<serde_json::Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(invalid(field, "should be a JSON object")),
        Err(error) => Err(invalid(field, format!("is not JSON: {error}"))),
    }
}

fn properties(
    text: &str,
    schema: Option<&DataSource>,
    field: &str,
) -> workspace::Result<Vec<(String, document::PropertyInput)>> {
    let object = json_object(text, field)?;
    Ok(notion_json::parse::property_inputs(&object, schema, field)?)
}

fn blocks(content: &Content, field: &str) -> workspace::Result<Vec<NewBlock>> {
    Ok(match content {
        Content::Markdown(text) => document::markdown::from_markdown(text)?,
        Content::Blocks(text) => {
            let value: Value = serde_json::from_str(text)
                .map_err(|error| invalid(field, format!("is not JSON: {error}")))?;
            notion_json::parse::blocks(&value, field)?
        }
    })
}

/// A comment's Markdown as rich text: a single paragraph keeps its formatting and links;
/// anything else is kept as plain text.
fn comment_text(markdown: &str) -> workspace::Result<Vec<RichText>> {
    let parsed = document::markdown::from_markdown(markdown)?;
    if let [
        NewBlock {
            kind: BlockKind::Paragraph(content),
            children,
        },
    ] = parsed.as_slice()
        && children.is_empty()
    {
        return Ok(content.rich_text.clone());
    }
    Ok(vec![RichText::plain(markdown.trim())])
}

/// Applies `writes` in order. Errors name the write (`writes[2].properties.Status`).
pub(crate) async fn apply(session: &mut Session<'_>, writes: &[WriteOp]) -> workspace::Result<()> {
    for (index, write) in writes.iter().enumerate() {
        let at = format!("writes[{index}]");
        apply_one(session, write)
            .await
            .map_err(|error| match error {
                workspace::Error::Validation(error) => {
                    workspace::Error::Validation(error.within(&at))
                }
                other => other,
            })?;
    }
    Ok(())
}

async fn apply_one(session: &mut Session<'_>, write: &WriteOp) -> workspace::Result<()> {
    match write {
        WriteOp::CreatePage {
            page_id,
            parent,
            properties: text,
            children,
        } => {
            let (parent, schema) = match parent {
                Parent::Page(id) => (ParentRef::Page(id_of(*id)), None),
                Parent::DataSource(id) => {
                    let id = id_of(*id);
                    (
                        ParentRef::DataSource(id),
                        Some(session.data_source(id).await?),
                    )
                }
                Parent::Workspace | Parent::Block(_) => {
                    return Err(invalid(
                        "parent",
                        "a run creates pages only under a page or in a data source",
                    ));
                }
            };
            let new_page = NewPage {
                id: Some(id_of(*page_id)),
                parent: Some(parent),
                properties: properties(text, schema.as_ref(), "properties")?,
                children: match children {
                    Some(content) => blocks(content, "children")?,
                    None => Vec::new(),
                },
                icon: None,
                cover: None,
            };
            session.create_page(new_page).await?;
        }
        WriteOp::UpdateProperties {
            page_id,
            properties: text,
        } => {
            let id = id_of(*page_id);
            let schema = session.schema_of_page(id).await?;
            let update = PageUpdate {
                properties: properties(text, schema.as_ref(), "properties")?,
                ..PageUpdate::default()
            };
            session.update_page(id, update).await?;
        }
        WriteOp::AppendBlocks { block_id, children } => {
            session
                .append_children(id_of(*block_id), blocks(children, "children")?)
                .await?;
        }
        WriteOp::AddComment { page_id, text } => {
            session
                .add_comment(id_of(*page_id), comment_text(text)?)
                .await?;
        }
    }
    Ok(())
}
