//! Databases, data sources, schema changes, and data source queries.

use access::Operation;
use document::data_source::{PropertySchema, convert_value, new_short_id};
use document::filter::{Filter, Sort};
use document::page::TITLE_PROPERTY_ID;
use document::{DataSource, Database, Icon, Id, Page, Parent, PropertyConfig, RichText};
use storage_sql::{Node, NodeKind, Position, RowCursor, RowQuery};

use crate::pages::PageView;
use crate::request::{Page as ListPage, Request, invalid_cursor, page_size};
use crate::{Error, Result, Workspace};
use document::{ParentRef, SchemaEdit};

#[derive(Debug, Clone)]
pub struct DatabaseView {
    pub database: Database,
    /// The database's data sources the caller can read: id and name.
    pub data_sources: Vec<(Id, String)>,
}

#[derive(Debug, Clone)]
pub struct DataSourceView {
    pub data_source: DataSource,
    pub database: Database,
}

#[derive(Debug, Clone, Default)]
pub struct NewDatabase {
    pub parent: Option<ParentRef>,
    pub title: Vec<RichText>,
    pub description: Vec<RichText>,
    pub icon: Option<Icon>,
    pub cover: Option<String>,
    pub is_inline: bool,
    /// The first data source's properties, by name.
    pub properties: Vec<(String, PropertyConfig)>,
}

#[derive(Debug, Clone, Default)]
pub struct DatabaseUpdate {
    pub title: Option<Vec<RichText>>,
    pub description: Option<Vec<RichText>>,
    pub icon: Option<Option<Icon>>,
    pub cover: Option<Option<String>>,
    pub is_inline: Option<bool>,
    pub in_trash: Option<bool>,
    pub is_locked: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct NewDataSource {
    pub database_id: Option<Id>,
    pub title: Vec<RichText>,
    pub properties: Vec<(String, PropertyConfig)>,
}

#[derive(Debug, Clone, Default)]
pub struct DataSourceUpdate {
    pub title: Option<Vec<RichText>>,
    pub description: Option<Vec<RichText>>,
    pub icon: Option<Option<Icon>>,
    pub in_trash: Option<bool>,
    pub properties: Vec<(String, SchemaEdit)>,
}

#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    pub filter: Option<Filter>,
    pub sorts: Vec<Sort>,
    pub start_cursor: Option<String>,
    pub page_size: Option<usize>,
}

impl Workspace {
    pub async fn create_database(
        &self,
        actor: &access::Actor,
        spec: NewDatabase,
    ) -> Result<DatabaseView> {
        let mut r = self.begin(actor, true).await?;
        let result = r.create_database(spec).await;
        r.finish(result).await
    }

    pub async fn retrieve_database(&self, actor: &access::Actor, id: Id) -> Result<DatabaseView> {
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let database = r.require_database(id, Operation::Read).await?;
            r.database_view(database).await
        }
        .await;
        r.finish(result).await
    }

    pub async fn update_database(
        &self,
        actor: &access::Actor,
        id: Id,
        update: DatabaseUpdate,
    ) -> Result<DatabaseView> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let mut database = r.require_database(id, Operation::Update).await?;
            let mut fields = Vec::new();
            if let Some(title) = update.title {
                document::rich_text::validate(&title).map_err(|e| e.within("title"))?;
                database.title = title;
                fields.push("title".to_string());
            }
            if let Some(description) = update.description {
                document::rich_text::validate(&description).map_err(|e| e.within("description"))?;
                database.description = description;
                fields.push("description".to_string());
            }
            if let Some(icon) = update.icon {
                database.icon = icon;
            }
            if let Some(cover) = update.cover {
                database.cover = cover;
            }
            if let Some(is_inline) = update.is_inline {
                database.is_inline = is_inline;
            }
            if let Some(is_locked) = update.is_locked {
                database.is_locked = is_locked;
            }
            if let Some(in_trash) = update.in_trash {
                database.in_trash = in_trash;
            }
            database.last_edited_time = r.now;
            database.last_edited_by = r.actor.author_id();
            r.tx.update_node(&Node::Database(database.clone())).await?;
            r.log(
                "database.updated",
                NodeKind::Database,
                id,
                database.parent.node_id(),
                fields,
            )
            .await?;
            r.database_view(database).await
        }
        .await;
        r.finish(result).await
    }

    pub async fn create_data_source(
        &self,
        actor: &access::Actor,
        spec: NewDataSource,
    ) -> Result<DataSourceView> {
        let mut r = self.begin(actor, true).await?;
        let result = async {
            let database_id = spec
                .database_id
                .ok_or_else(|| Error::validation("parent.database_id", "should be defined"))?;
            let database = r.require_database(database_id, Operation::Insert).await?;
            let data_source = r
                .insert_data_source(&database, spec.title, spec.properties)
                .await?;
            Ok(DataSourceView {
                data_source,
                database,
            })
        }
        .await;
        r.finish(result).await
    }

    pub async fn retrieve_data_source(
        &self,
        actor: &access::Actor,
        id: Id,
    ) -> Result<DataSourceView> {
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let data_source = r.require_data_source(id, Operation::Read).await?;
            r.data_source_view(data_source).await
        }
        .await;
        r.finish(result).await
    }

    pub async fn update_data_source(
        &self,
        actor: &access::Actor,
        id: Id,
        update: DataSourceUpdate,
    ) -> Result<DataSourceView> {
        let mut r = self.begin(actor, true).await?;
        let result = r.update_data_source(id, update).await;
        r.finish(result).await
    }

    pub async fn query_data_source(
        &self,
        actor: &access::Actor,
        id: Id,
        query: QueryRequest,
    ) -> Result<ListPage<PageView>> {
        let limit = page_size(query.page_size)?;
        let mut r = self.begin(actor, false).await?;
        let result = async {
            let data_source = r.require_data_source(id, Operation::Read).await?;
            if let Some(filter) = &query.filter {
                filter.check_size("filter")?;
            }
            let predicate = query
                .filter
                .as_ref()
                .map(|f| f.resolve(&data_source, r.now))
                .transpose()?;
            let sorts = document::filter::resolve_sorts(&query.sorts, &data_source, "sorts")?;
            // Rows inherit access from their data source, so every row of a readable data
            // source is readable and an offset cursor reveals nothing hidden.
            let start = match &query.start_cursor {
                None => None,
                Some(cursor) => Some(RowCursor::decode(cursor).ok_or_else(invalid_cursor)?),
            };
            let page =
                r.tx.query_rows(&RowQuery {
                    data_source_id: id,
                    predicate,
                    sorts,
                    start,
                    limit,
                    plan: None,
                })
                .await?;
            let mut results = Vec::with_capacity(page.ids.len());
            for row_id in page.ids {
                if let Some(Node::Page(page)) = r.tx.get_node(row_id).await?.map(|n| n.node) {
                    results.push(r.view_row(page, &data_source).await?);
                }
            }
            Ok(ListPage {
                results,
                next_cursor: page.next.map(|cursor| cursor.encode()),
            })
        }
        .await;
        r.finish(result).await
    }
}

impl Request<'_> {
    pub async fn require_database(&mut self, id: Id, operation: Operation) -> Result<Database> {
        match self.require(id, operation, "database").await?.0.node {
            Node::Database(database) => Ok(database),
            _ => Err(Error::not_found("database", id)),
        }
    }

    pub async fn require_data_source(
        &mut self,
        id: Id,
        operation: Operation,
    ) -> Result<DataSource> {
        match self.require(id, operation, "data_source").await?.0.node {
            Node::DataSource(data_source) => Ok(data_source),
            _ => Err(Error::not_found("data_source", id)),
        }
    }

    async fn view_row(&mut self, page: Page, data_source: &DataSource) -> Result<PageView> {
        self.view_page_in(page, Some(data_source.clone())).await
    }

    pub async fn database_view(&mut self, mut database: Database) -> Result<DatabaseView> {
        self.trim_parent(&mut database.parent).await?;
        let mut data_sources = Vec::new();
        for data_source in self.tx.data_sources_of(database.id).await? {
            if !data_source.in_trash {
                data_sources.push((
                    data_source.id,
                    document::data_source::title_plain(&data_source.title),
                ));
            }
        }
        Ok(DatabaseView {
            database,
            data_sources,
        })
    }

    pub async fn data_source_view(&mut self, data_source: DataSource) -> Result<DataSourceView> {
        match self
            .tx
            .get_node(data_source.database_id)
            .await?
            .map(|n| n.node)
        {
            Some(Node::Database(mut database)) => {
                // The database's parent shows as the data source's `database_parent`.
                self.trim_parent(&mut database.parent).await?;
                Ok(DataSourceView {
                    data_source,
                    database,
                })
            }
            _ => Err(Error::Internal(format!(
                "data source {} has no database",
                data_source.id
            ))),
        }
    }

    /// Checks relation targets and fills their database ids.
    async fn prepare_config(&mut self, name: &str, config: &mut PropertyConfig) -> Result<()> {
        if let PropertyConfig::Relation {
            data_source_id,
            database_id,
        } = config
        {
            let target = *data_source_id;
            match self.tx.get_node(target).await?.map(|n| n.node) {
                Some(Node::DataSource(related)) if self.can_read(target).await? => {
                    *database_id = related.database_id
                }
                _ => {
                    return Err(Error::validation(
                        format!("properties.{name}.relation.data_source_id"),
                        format!("{target} is not a data source you can access"),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn build_schema(
        &mut self,
        properties: Vec<(String, PropertyConfig)>,
    ) -> Result<Vec<PropertySchema>> {
        let mut schema = Vec::with_capacity(properties.len());
        for (name, mut config) in properties {
            self.prepare_config(&name, &mut config).await?;
            let id = if matches!(config, PropertyConfig::Title) {
                TITLE_PROPERTY_ID.to_string()
            } else {
                new_short_id()
            };
            schema.push(PropertySchema {
                id,
                name,
                description: String::new(),
                config,
            });
        }
        DataSource::validate_schema(&schema)?;
        Ok(schema)
    }

    async fn insert_data_source(
        &mut self,
        database: &Database,
        title: Vec<RichText>,
        properties: Vec<(String, PropertyConfig)>,
    ) -> Result<DataSource> {
        document::rich_text::validate(&title).map_err(|e| e.within("title"))?;
        let author = self.actor.author_id();
        let data_source = DataSource {
            id: Id::new(),
            database_id: database.id,
            title,
            description: Vec::new(),
            icon: None,
            properties: self.build_schema(properties).await?,
            in_trash: false,
            created_time: self.now,
            created_by: author,
            last_edited_time: self.now,
            last_edited_by: author,
        };
        self.insert_node(&Node::DataSource(data_source.clone()), true, Position::End)
            .await?;
        self.log(
            "data_source.created",
            NodeKind::DataSource,
            data_source.id,
            Some(database.id),
            Vec::new(),
        )
        .await?;
        Ok(data_source)
    }

    async fn create_database(&mut self, spec: NewDatabase) -> Result<DatabaseView> {
        let parent = match spec
            .parent
            .ok_or_else(|| Error::validation("parent", "should be defined"))?
        {
            ParentRef::Page(id) => {
                let page = self.require_page(id, Operation::Insert).await?;
                if page.in_trash {
                    return Err(Error::validation(
                        "parent.page_id",
                        "Can't create a database in a page that is in the trash.",
                    ));
                }
                Parent::Page(id)
            }
            ParentRef::Workspace => {
                if !access::may_create_top_level(self.actor) {
                    return Err(Error::Restricted(
                        "Only workspace members may create top-level databases.".into(),
                    ));
                }
                Parent::Workspace
            }
            _ => {
                return Err(Error::validation(
                    "parent",
                    "a database's parent should be a page or the workspace",
                ));
            }
        };
        document::rich_text::validate(&spec.title).map_err(|e| e.within("title"))?;
        document::rich_text::validate(&spec.description).map_err(|e| e.within("description"))?;
        let author = self.actor.author_id();
        let database = Database {
            id: Id::new(),
            parent,
            title: spec.title.clone(),
            description: spec.description,
            icon: spec.icon,
            cover: spec.cover,
            is_inline: spec.is_inline,
            in_trash: false,
            is_locked: false,
            created_time: self.now,
            created_by: author,
            last_edited_time: self.now,
            last_edited_by: author,
        };
        self.insert_node(&Node::Database(database.clone()), true, Position::End)
            .await?;
        self.log(
            "database.created",
            NodeKind::Database,
            database.id,
            parent.node_id(),
            Vec::new(),
        )
        .await?;
        self.insert_data_source(&database, spec.title, spec.properties)
            .await?;
        self.database_view(database).await
    }

    async fn update_data_source(
        &mut self,
        id: Id,
        update: DataSourceUpdate,
    ) -> Result<DataSourceView> {
        let mut data_source = self.require_data_source(id, Operation::Update).await?;
        if let Some(title) = update.title {
            document::rich_text::validate(&title).map_err(|e| e.within("title"))?;
            data_source.title = title;
        }
        if let Some(description) = update.description {
            document::rich_text::validate(&description).map_err(|e| e.within("description"))?;
            data_source.description = description;
        }
        if let Some(icon) = update.icon {
            data_source.icon = icon;
        }
        if let Some(in_trash) = update.in_trash {
            data_source.in_trash = in_trash;
        }
        let old_properties = data_source.properties.clone();
        let mut retyped: Vec<(PropertySchema, String)> = Vec::new();
        for (key, edit) in update.properties {
            let field = format!("properties.{key}");
            let index = data_source
                .properties
                .iter()
                .position(|p| p.id == key)
                .or_else(|| data_source.properties.iter().position(|p| p.name == key));
            match (index, edit) {
                (Some(index), SchemaEdit::Remove) => {
                    if matches!(data_source.properties[index].config, PropertyConfig::Title) {
                        return Err(Error::validation(
                            field,
                            "the title property cannot be removed",
                        ));
                    }
                    data_source.properties.remove(index);
                }
                (None, SchemaEdit::Remove) => {
                    return Err(Error::validation(
                        field,
                        format!("{key} is not a property that exists"),
                    ));
                }
                (Some(index), SchemaEdit::Update { name, config }) => {
                    if let Some(mut config) = config {
                        self.prepare_config(&key, &mut config).await?;
                        let property = &mut data_source.properties[index];
                        let is_title = matches!(property.config, PropertyConfig::Title);
                        if is_title != matches!(config, PropertyConfig::Title) {
                            return Err(Error::validation(
                                field,
                                "the title property's type cannot change, and there is only one title",
                            ));
                        }
                        if property.config.type_name() != config.type_name() {
                            retyped.push((property.clone(), property.id.clone()));
                        }
                        property.config = config;
                    }
                    if let Some(name) = name {
                        data_source.properties[index].name = name;
                    }
                }
                (None, SchemaEdit::Update { name, config }) => {
                    let Some(mut config) = config else {
                        return Err(Error::validation(
                            field,
                            format!(
                                "{key} is not a property that exists; to add it, give its type"
                            ),
                        ));
                    };
                    if matches!(config, PropertyConfig::Title) {
                        return Err(Error::validation(
                            field,
                            "a data source has exactly one title property",
                        ));
                    }
                    self.prepare_config(&key, &mut config).await?;
                    data_source.properties.push(PropertySchema {
                        id: new_short_id(),
                        name: name.unwrap_or(key),
                        description: String::new(),
                        config,
                    });
                }
            }
        }
        DataSource::validate_schema(&data_source.properties)?;
        data_source.last_edited_time = self.now;
        data_source.last_edited_by = self.actor.author_id();
        // Convert stored values of retyped properties and drop removed ones; a value that
        // cannot be converted fails the whole request, so nothing is half-changed.
        let schema_changed = old_properties != data_source.properties;
        if schema_changed {
            for row_id in self.tx.all_row_ids(id).await? {
                let Some(Node::Page(mut row)) = self.tx.get_node(row_id).await?.map(|n| n.node)
                else {
                    continue;
                };
                for (old_schema, property_id) in &retyped {
                    let Some(value) = row.properties.get(property_id).cloned() else {
                        continue;
                    };
                    let target = data_source
                        .properties
                        .iter_mut()
                        .find(|p| &p.id == property_id)
                        .map(|p| &mut p.config);
                    let Some(target) = target else { continue };
                    match convert_value(&value, old_schema, target)? {
                        Some(converted) => row.properties.insert(property_id.clone(), converted),
                        None => row.properties.remove(property_id),
                    };
                }
                row.properties = document::data_source::complete_row_values(
                    &data_source.properties,
                    row.properties,
                );
                self.tx.update_node(&Node::Page(row.clone())).await?;
                self.index_row(&row, &data_source).await?;
            }
            DataSource::validate_schema(&data_source.properties)?;
        }
        self.tx
            .update_node(&Node::DataSource(data_source.clone()))
            .await?;
        let kind = if schema_changed {
            "data_source.schema_updated"
        } else {
            "data_source.content_updated"
        };
        self.log(
            kind,
            NodeKind::DataSource,
            id,
            Some(data_source.database_id),
            Vec::new(),
        )
        .await?;
        self.data_source_view(data_source).await
    }
}
