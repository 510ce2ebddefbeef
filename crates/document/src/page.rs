//! Pages: the nodes of the workspace tree. A page's parent is the workspace, another page,
//! a block, or a data source (then the page is a row of that data source).

use std::collections::BTreeMap;

use crate::block::Icon;
use crate::ids::Id;
use crate::property::PropertyValue;
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parent {
    Workspace,
    Page(Id),
    Block(Id),
    Database(Id),
    DataSource { data_source_id: Id, database_id: Id },
}

impl Parent {
    /// The id of the parent node in the permission tree, if any.
    pub fn node_id(&self) -> Option<Id> {
        match self {
            Parent::Workspace => None,
            Parent::Page(id) | Parent::Block(id) | Parent::Database(id) => Some(*id),
            Parent::DataSource { data_source_id, .. } => Some(*data_source_id),
        }
    }
}

/// Where a new page, database or comment goes, as a request names it. Unlike
/// [`Parent`], a data source parent carries only the data source's id: the caller
/// looks up its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentRef {
    Workspace,
    Page(Id),
    Block(Id),
    Database(Id),
    DataSource(Id),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub id: Id,
    pub parent: Parent,
    /// Property values by property id. A page outside a data source has one property, `title`.
    pub properties: BTreeMap<String, PropertyValue>,
    pub icon: Option<Icon>,
    pub cover: Option<String>,
    pub in_trash: bool,
    pub is_locked: bool,
    pub created_time: Millis,
    pub created_by: Id,
    pub last_edited_time: Millis,
    pub last_edited_by: Id,
}

/// The property id of a standalone page's title, and of every data source's title property.
pub const TITLE_PROPERTY_ID: &str = "title";

impl Page {
    /// The page's title as plain text.
    pub fn title(&self) -> String {
        self.properties
            .values()
            .find_map(|value| match value {
                PropertyValue::Title(runs) => Some(crate::rich_text::plain_text(runs)),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub fn is_row(&self) -> bool {
        matches!(self.parent, Parent::DataSource { .. })
    }
}
