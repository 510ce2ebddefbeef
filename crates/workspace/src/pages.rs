//! Pages: create, retrieve, update, move, and pages as Markdown.

use std::collections::BTreeMap;

use access::Operation;
use document::block::NewBlock;
use document::data_source::{complete_row_values, page_title_schema};
use document::filter::index_entries;
use document::page::TITLE_PROPERTY_ID;
use document::property::PropertyInput;
use document::rich_text::{Mention, RichTextKind};
use document::{
    DataSource, Icon, Id, Page, Parent, ParentRef, PropertyConfig, PropertyValue, RichText,
};
use storage_sql::{Node, NodeKind, Position};

use crate::blocks::AppendPosition;
use crate::request::Request;
use crate::{Error, Result, Workspace};

#[derive(Debug, Clone, Default)]
pub struct NewPage {
    /// The id the page gets; a new one when `None`. Integration runs name the pages they stage
    /// before they exist, so that later writes of the run can target them.
    pub id: Option<Id>,
    pub parent: Option<ParentRef>,
    /// Property values by property name or id.
    pub properties: Vec<(String, PropertyInput)>,
    pub children: Vec<NewBlock>,
    pub icon: Option<Icon>,
    pub cover: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PageUpdate {
    pub properties: Vec<(String, PropertyInput)>,
    pub in_trash: Option<bool>,
    pub icon: Option<Option<Icon>>,
    pub cover: Option<Option<String>>,
    pub is_locked: Option<bool>,
}

/// A page as the caller may see it: relations and mentions it can't read are removed.
#[derive(Debug, Clone)]
pub struct PageView {
    pub page: Page,
    /// The data source's schema, for rows.
    pub data_source: Option<DataSource>,
    /// The users the page's People values name, as the caller may see them (none when the
    /// caller may not see user information); ids of deleted users are left out.
    pub people: Vec<crate::UserView>,
}

impl Workspace {
    pub async fn create_page(&self, actor: &access::Actor, new_page: NewPage) -> Result<PageView> {
        let mut r = self.begin(actor, true).await?;
        let result = r.create_page(new_page).await;
        r.finish(result).await
    }

    pub async fn retrieve_page(&self, actor: &access::Actor, id: Id) -> Result<PageView> {
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let page = r.require_page(id, Operation::Read).await?;
            r.view_page(page).await
        }
        .await;
        r.finish(result).await
    }

    pub async fn update_page(
        &self,
        actor: &access::Actor,
        id: Id,
        update: PageUpdate,
    ) -> Result<PageView> {
        self.edit_page(actor, id, |_| Ok(update)).await
    }

    /// Updates a page with an update built from the schema of the data source it is a row of
    /// (`None` for other pages), all in one write transaction: property inputs are parsed
    /// against the schema the write sees, and the page and its schema are read once.
    pub async fn edit_page(
        &self,
        actor: &access::Actor,
        id: Id,
        build: impl FnOnce(Option<&DataSource>) -> std::result::Result<PageUpdate, document::Error>,
    ) -> Result<PageView> {
        let mut r = self.begin(actor, true).await?;
        let result = r.update_page(id, build).await;
        r.finish(result).await
    }

    pub async fn move_page(
        &self,
        actor: &access::Actor,
        id: Id,
        parent: ParentRef,
    ) -> Result<PageView> {
        let mut r = self.begin(actor, true).await?;
        let result = r.move_page(id, parent).await;
        r.finish(result).await
    }

    /// The page's content as Markdown, and whether it was cut at the block limit.
    pub async fn page_markdown(&self, actor: &access::Actor, id: Id) -> Result<PageMarkdown> {
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let page = r.require_page(id, Operation::Read).await?;
            r.page_markdown(page).await
        }
        .await;
        r.finish(result).await
    }

    /// Appends Markdown as blocks at the end of the page.
    pub async fn insert_page_markdown(
        &self,
        actor: &access::Actor,
        id: Id,
        markdown: &str,
    ) -> Result<PageMarkdown> {
        let blocks = document::markdown::from_markdown(markdown)?;
        document::block::validate_new_blocks(&blocks, "insert_content.content")?;
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let page = r.require_page(id, Operation::Insert).await?;
            if page.in_trash {
                return Err(Error::validation(
                    "page_id",
                    "Can't edit a page that is in the trash.",
                ));
            }
            r.append_blocks(id, blocks, AppendPosition::End).await?;
            r.page_markdown(page).await
        }
        .await;
        r.finish(result).await
    }

    /// Replaces the page's content blocks (not its sub-pages or databases) with Markdown.
    /// Deleting existing content needs `allow_deleting_content`, so a client can't wipe a
    /// page by accident.
    pub async fn replace_page_markdown(
        &self,
        actor: &access::Actor,
        id: Id,
        markdown: &str,
        allow_deleting_content: bool,
    ) -> Result<PageMarkdown> {
        let blocks = document::markdown::from_markdown(markdown)?;
        document::block::validate_new_blocks(&blocks, "replace_content.new_str")?;
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let page = r.require_page(id, Operation::Update).await?;
            if page.in_trash {
                return Err(Error::validation("page_id", "Can't edit a page that is in the trash."));
            }
            let trashed = r.trash_content_blocks(id).await?;
            if trashed > 0 && !allow_deleting_content {
                return Err(Error::validation(
                    "replace_content.allow_deleting_content",
                    format!("replacing would delete {trashed} existing blocks; set allow_deleting_content to true"),
                ));
            }
            r.append_blocks(id, blocks, AppendPosition::End).await?;
            r.page_markdown(page).await
        }
        .await;
        r.finish(result).await
    }
}

/// A page rendered as Markdown.
#[derive(Debug, Clone)]
pub struct PageMarkdown {
    pub page: PageView,
    pub markdown: String,
    /// Whether rendering stopped at the block limit.
    pub truncated: bool,
}

impl Request<'_> {
    async fn page_markdown(&mut self, page: Page) -> Result<PageMarkdown> {
        let mut budget = crate::blocks::MARKDOWN_BLOCKS_MAX;
        let tree = self.block_tree(page.id, 0, &mut budget).await?;
        let markdown = document::markdown::to_markdown(&tree);
        Ok(PageMarkdown {
            page: self.view_page(page).await?,
            markdown,
            truncated: budget == 0,
        })
    }

    pub async fn require_page(&mut self, id: Id, operation: Operation) -> Result<Page> {
        match self.require(id, operation, "page").await?.0.node {
            Node::Page(page) => Ok(page),
            _ => Err(Error::not_found("page", id)),
        }
    }

    pub async fn data_source_of(&mut self, page: &Page) -> Result<Option<DataSource>> {
        let Parent::DataSource { data_source_id, .. } = page.parent else {
            return Ok(None);
        };
        match self.tx.get_node(data_source_id).await?.map(|n| n.node) {
            Some(Node::DataSource(data_source)) => Ok(Some(data_source)),
            _ => Err(Error::Internal(format!(
                "row {} has no data source",
                page.id
            ))),
        }
    }

    /// Removes what the caller may not see from a page: relation targets and page
    /// mentions it can't read. Fills mention display text.
    pub async fn view_page(&mut self, page: Page) -> Result<PageView> {
        let data_source = self.data_source_of(&page).await?;
        self.view_page_in(page, data_source).await
    }

    /// [`Request::view_page`] when the row's data source is already loaded.
    pub async fn view_page_in(
        &mut self,
        mut page: Page,
        data_source: Option<DataSource>,
    ) -> Result<PageView> {
        self.trim_parent(&mut page.parent).await?;
        for value in page.properties.values_mut() {
            match value {
                PropertyValue::Relation(ids) => {
                    let mut visible = Vec::with_capacity(ids.len());
                    for id in ids.iter() {
                        if self.can_read(*id).await? {
                            visible.push(*id);
                        }
                    }
                    *ids = visible;
                }
                PropertyValue::Title(runs) | PropertyValue::RichText(runs) => {
                    self.trim_rich_text(runs).await?
                }
                _ => {}
            }
        }
        let people = self.people_of(&page).await?;
        Ok(PageView {
            page,
            data_source,
            people,
        })
    }

    /// The users named by a page's People values, each once, as the actor may see them.
    async fn people_of(&mut self, page: &Page) -> Result<Vec<crate::UserView>> {
        let mut ids: Vec<Id> = Vec::new();
        for value in page.properties.values() {
            if let PropertyValue::People(people) = value {
                for id in people {
                    if !ids.contains(id) {
                        ids.push(*id);
                    }
                }
            }
        }
        let information = access::user_information(self.actor);
        if ids.is_empty() || information == access::UserInformation::None {
            return Ok(Vec::new());
        }
        let workspace_name = self
            .tx
            .workspace()
            .await?
            .map(|w| w.name)
            .unwrap_or_default();
        let mut views = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(user) = self.tx.get_user(id).await? {
                views.push(crate::UserView {
                    user,
                    show_email: information == access::UserInformation::WithEmail,
                    workspace_name: workspace_name.clone(),
                });
            }
        }
        Ok(views)
    }

    /// Replaces mentions of unreadable pages and databases with plain "Untitled" text, so
    /// that neither their id nor their title reaches the caller.
    pub async fn trim_rich_text(&mut self, runs: &mut [RichText]) -> Result<()> {
        for run in runs.iter_mut() {
            let target = match &run.kind {
                RichTextKind::Mention(Mention::Page(id))
                | RichTextKind::Mention(Mention::Database(id)) => *id,
                RichTextKind::Mention(Mention::User(id)) => {
                    let name = self.tx.get_user(*id).await?.map(|u| u.name);
                    run.display = Some(name.unwrap_or_else(|| "Unknown user".to_string()));
                    continue;
                }
                _ => continue,
            };
            if self.can_read(target).await? {
                run.display = Some(
                    match self.tx.get_node(target).await?.map(|n| n.node.title()) {
                        Some(title) if !title.is_empty() => title,
                        _ => "Untitled".to_string(),
                    },
                );
            } else {
                run.kind = RichTextKind::Text {
                    content: "Untitled".to_string(),
                    link: None,
                };
                run.display = None;
            }
        }
        Ok(())
    }

    /// Resolves the parent of a new page and checks the caller may create there.
    async fn resolve_parent(&mut self, parent: ParentRef) -> Result<(Parent, Option<DataSource>)> {
        match parent {
            ParentRef::Workspace => {
                if !access::may_create_top_level(self.actor) {
                    return Err(Error::Restricted(
                        "Only workspace members may create top-level pages.".into(),
                    ));
                }
                Ok((Parent::Workspace, None))
            }
            ParentRef::Page(id) => {
                self.require_page(id, Operation::Insert).await?;
                Ok((Parent::Page(id), None))
            }
            ParentRef::Block(id) => {
                let (node, _) = self.require(id, Operation::Insert, "block").await?;
                match node.node {
                    Node::Block(_) => Ok((Parent::Block(id), None)),
                    Node::Page(_) => Ok((Parent::Page(id), None)),
                    _ => Err(Error::not_found("block", id)),
                }
            }
            ParentRef::Database(id) => {
                let (node, _) = self.require(id, Operation::Insert, "database").await?;
                if !matches!(node.node, Node::Database(_)) {
                    return Err(Error::not_found("database", id));
                }
                let first = self
                    .tx
                    .data_sources_of(id)
                    .await?
                    .into_iter()
                    .find(|d| !d.in_trash);
                let data_source = first.ok_or_else(|| {
                    Error::validation("parent.database_id", "the database has no data source")
                })?;
                Ok((
                    Parent::DataSource {
                        data_source_id: data_source.id,
                        database_id: id,
                    },
                    Some(data_source),
                ))
            }
            ParentRef::DataSource(id) => {
                let (node, _) = self.require(id, Operation::Insert, "data_source").await?;
                match node.node {
                    Node::DataSource(data_source) => Ok((
                        Parent::DataSource {
                            data_source_id: id,
                            database_id: data_source.database_id,
                        },
                        Some(data_source),
                    )),
                    _ => Err(Error::not_found("data_source", id)),
                }
            }
        }
    }

    /// Applies property inputs to a page's values. Returns the names of changed properties
    /// and whether the schema gained select options.
    async fn apply_properties(
        &mut self,
        values: &mut BTreeMap<String, PropertyValue>,
        inputs: Vec<(String, PropertyInput)>,
        data_source: Option<&mut DataSource>,
    ) -> Result<(Vec<String>, bool)> {
        let mut changed = Vec::new();
        let mut schema_changed = false;
        let mut standalone = page_title_schema();
        let mut data_source = data_source;
        for (key, input) in inputs {
            let schema = match data_source.as_deref_mut() {
                Some(data_source) => {
                    let index = data_source
                        .properties
                        .iter()
                        .position(|p| p.id == key)
                        .or_else(|| data_source.properties.iter().position(|p| p.name == key))
                        .ok_or_else(|| {
                            Error::validation(
                                format!("properties.{key}"),
                                format!("{key} is not a property that exists."),
                            )
                        })?;
                    &mut data_source.properties[index]
                }
                None => {
                    let is_title = key == TITLE_PROPERTY_ID
                        || matches!(input, PropertyInput::Value(PropertyValue::Title(_)));
                    if !is_title {
                        return Err(Error::validation(
                            format!("properties.{key}"),
                            "a page that is not in a data source has only a title property",
                        ));
                    }
                    &mut standalone
                }
            };
            if schema.config.is_computed() {
                return Err(Error::validation(
                    format!("properties.{key}"),
                    format!("{} properties cannot be set", schema.config.type_name()),
                ));
            }
            let options_before = schema.config.options().map(|o| o.len());
            let value = input.resolve(schema).map_err(|e| e.within("properties"))?;
            if schema.config.options().map(|o| o.len()) != options_before {
                schema_changed = true;
            }
            let property_id = schema.id.clone();
            let property_name = schema.name.clone();
            let config = schema.config.clone();
            self.check_references(&value, &config, &property_name)
                .await?;
            values.insert(property_id, value);
            changed.push(property_name);
        }
        Ok((changed, schema_changed))
    }

    /// Relation targets must be readable rows of the related data source; people must exist.
    async fn check_references(
        &mut self,
        value: &PropertyValue,
        config: &PropertyConfig,
        name: &str,
    ) -> Result<()> {
        match (value, config) {
            (PropertyValue::Relation(ids), PropertyConfig::Relation { data_source_id, .. }) => {
                for id in ids {
                    let in_source = match self.tx.get_node(*id).await?.map(|n| n.node) {
                        Some(Node::Page(page)) => {
                            matches!(page.parent, Parent::DataSource { data_source_id: parent, .. } if parent == *data_source_id)
                        }
                        _ => false,
                    };
                    if !in_source || !self.can_read(*id).await? {
                        return Err(Error::validation(
                            format!("properties.{name}.relation"),
                            format!(
                                "{id} is not a page of the related data source that you can access"
                            ),
                        ));
                    }
                }
            }
            (PropertyValue::People(ids), PropertyConfig::People) => {
                for id in ids {
                    if self.tx.get_user(*id).await?.is_none() {
                        return Err(Error::validation(
                            format!("properties.{name}.people"),
                            format!("{id} is not a user of this workspace"),
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub async fn save_data_source_schema(&mut self, data_source: &DataSource) -> Result<()> {
        DataSource::validate_schema(&data_source.properties)?;
        self.tx
            .update_node(&Node::DataSource(data_source.clone()))
            .await?;
        self.log(
            "data_source.schema_updated",
            NodeKind::DataSource,
            data_source.id,
            Some(data_source.database_id),
            Vec::new(),
        )
        .await
    }

    pub async fn index_row(&mut self, page: &Page, data_source: &DataSource) -> Result<()> {
        self.tx
            .replace_row_values(page.id, data_source.id, &index_entries(page, data_source))
            .await?;
        Ok(())
    }

    pub(crate) async fn create_page(&mut self, new_page: NewPage) -> Result<PageView> {
        let parent_input = new_page
            .parent
            .ok_or_else(|| Error::validation("parent", "should be defined"))?;
        let (parent, mut data_source) = self.resolve_parent(parent_input).await?;
        document::block::validate_new_blocks(&new_page.children, "children")?;
        let id = match new_page.id {
            Some(id) if self.tx.get_node(id).await?.is_some() => {
                return Err(Error::validation("id", format!("{id} is already in use")));
            }
            Some(id) => id,
            None => Id::new(),
        };
        let author = self.actor.author_id();
        let mut page = Page {
            id,
            parent,
            properties: BTreeMap::new(),
            icon: new_page.icon,
            cover: new_page.cover,
            in_trash: false,
            is_locked: false,
            created_time: self.now,
            created_by: author,
            last_edited_time: self.now,
            last_edited_by: author,
        };
        let (_, schema_changed) = self
            .apply_properties(
                &mut page.properties,
                new_page.properties,
                data_source.as_mut(),
            )
            .await?;
        match &data_source {
            Some(data_source) => {
                page.properties = complete_row_values(
                    &data_source.properties,
                    std::mem::take(&mut page.properties),
                )
            }
            None => {
                page.properties
                    .entry(TITLE_PROPERTY_ID.to_string())
                    .or_insert(PropertyValue::Title(Vec::new()));
            }
        }
        if let Some(data_source) = &data_source
            && schema_changed
        {
            self.save_data_source_schema(data_source).await?;
        }
        self.insert_node(&Node::Page(page.clone()), true, Position::End)
            .await?;
        if let Some(data_source) = &data_source {
            self.index_row(&page, data_source).await?;
        }
        self.log(
            "page.created",
            NodeKind::Page,
            page.id,
            parent.node_id(),
            Vec::new(),
        )
        .await?;
        if !new_page.children.is_empty() {
            self.append_blocks(page.id, new_page.children, AppendPosition::End)
                .await?;
        }
        self.view_page(page).await
    }

    pub(crate) async fn update_page(
        &mut self,
        id: Id,
        build: impl FnOnce(Option<&DataSource>) -> std::result::Result<PageUpdate, document::Error>,
    ) -> Result<PageView> {
        let mut page = self.require_page(id, Operation::Update).await?;
        let mut data_source = self.data_source_of(&page).await?;
        let update = build(data_source.as_ref())?;
        let restoring = update.in_trash == Some(false);
        if page.in_trash && !restoring {
            return Err(Error::validation(
                "in_trash",
                "Can't edit a page that is in the trash. Restore it first with in_trash: false.",
            ));
        }
        let (mut changed, schema_changed) = self
            .apply_properties(
                &mut page.properties,
                update.properties,
                data_source.as_mut(),
            )
            .await?;
        if let Some(icon) = update.icon {
            page.icon = icon;
            changed.push("icon".into());
        }
        if let Some(cover) = update.cover {
            page.cover = cover;
            changed.push("cover".into());
        }
        if let Some(locked) = update.is_locked {
            page.is_locked = locked;
            changed.push("is_locked".into());
        }
        let trash_change = update.in_trash.filter(|t| *t != page.in_trash);
        if let Some(in_trash) = trash_change {
            page.in_trash = in_trash;
        }
        page.last_edited_time = self.now;
        page.last_edited_by = self.actor.author_id();
        if let Some(data_source) = &data_source
            && schema_changed
        {
            self.save_data_source_schema(data_source).await?;
        }
        self.tx.update_node(&Node::Page(page.clone())).await?;
        if let Some(data_source) = &data_source {
            self.index_row(&page, data_source).await?;
        }
        if !changed.is_empty() {
            self.log(
                "page.properties_updated",
                NodeKind::Page,
                id,
                page.parent.node_id(),
                changed,
            )
            .await?;
        }
        if let Some(in_trash) = trash_change {
            let kind = if in_trash {
                "page.deleted"
            } else {
                "page.undeleted"
            };
            self.log(kind, NodeKind::Page, id, page.parent.node_id(), Vec::new())
                .await?;
        }
        self.view_page(page).await
    }

    async fn move_page(&mut self, id: Id, parent: ParentRef) -> Result<PageView> {
        let mut page = self.require_page(id, Operation::Update).await?;
        if page.in_trash {
            return Err(Error::validation(
                "page_id",
                "Can't move a page that is in the trash.",
            ));
        }
        let (new_parent, data_source) = match parent {
            ParentRef::Workspace => {
                return Err(Error::validation(
                    "parent",
                    "pages can be moved under a page or a data source",
                ));
            }
            other => self.resolve_parent(other).await?,
        };
        if let Some(target) = new_parent.node_id() {
            // Refuse cycles: the new parent must not be the page or lie beneath it.
            let chain = self.tx.chain(target).await?;
            if chain.nodes.iter().any(|node| node.id == id) {
                return Err(Error::validation(
                    "parent",
                    "a page cannot be moved under itself or one of its sub-pages",
                ));
            }
            // The page and everything below it must stay within the depth limit. A target
            // whose chain is too deep to read whole might hide the page among its ancestors,
            // so the depth check refuses it before any cycle could be written.
            let height = self.tx.subtree_height(id).await?;
            self.check_depth(Some(target), 1 + height).await?;
        }
        let title = PropertyValue::Title(
            match page
                .properties
                .values()
                .find(|v| matches!(v, PropertyValue::Title(_)))
            {
                Some(PropertyValue::Title(runs)) => runs.clone(),
                _ => Vec::new(),
            },
        );
        let was_row = page.is_row();
        page.parent = new_parent;
        page.last_edited_time = self.now;
        page.last_edited_by = self.actor.author_id();
        // Only the title survives a move between a data source and the page tree.
        match &data_source {
            Some(data_source) => {
                let title_id = data_source
                    .title_property()
                    .map(|p| p.id.clone())
                    .unwrap_or_else(|| TITLE_PROPERTY_ID.to_string());
                let mut values = if was_row && page_data_source_matches(&page, data_source) {
                    page.properties.clone()
                } else {
                    BTreeMap::new()
                };
                values.insert(title_id, title);
                page.properties = complete_row_values(&data_source.properties, values);
            }
            None => {
                page.properties = BTreeMap::from([(TITLE_PROPERTY_ID.to_string(), title)]);
            }
        }
        self.tx
            .move_node(&Node::Page(page.clone()), Position::End)
            .await?;
        match &data_source {
            Some(data_source) => self.index_row(&page, data_source).await?,
            None => self.tx.delete_row_values(id).await?,
        }
        self.log(
            "page.moved",
            NodeKind::Page,
            id,
            new_parent.node_id(),
            Vec::new(),
        )
        .await?;
        self.view_page(page).await
    }
}

fn page_data_source_matches(page: &Page, data_source: &DataSource) -> bool {
    data_source.properties.iter().all(|p| {
        page.properties
            .get(&p.id)
            .is_none_or(|v| v.validate(p).is_ok())
    })
}
