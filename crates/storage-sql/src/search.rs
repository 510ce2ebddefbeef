//! What the search indexer keeps in the store: each indexed object's chunks with their text and
//! embedding (so that a damaged index is rebuilt without re-embedding, and an edit re-embeds only
//! the chunks whose text changed), and the access skeleton of the tree (every node a page or data
//! source can inherit access from, with its grants) from which the indexer mirrors permissions.

use access::Grant;
use document::Id;
use sqlx::Row;

use crate::nodes::{NodeKind, decode_grant};
use crate::{Error, Result, Tx, parse_id};

/// One stored chunk of an indexed object (a page or a data source).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    /// The id the ANN and keyword indexes know the chunk by: stable for `(object_id, key)`.
    pub chunk_id: i64,
    pub object_id: Id,
    /// Stable within the object: the heading path and the part number.
    pub key: String,
    /// Order of the chunk within its object.
    pub ordinal: i64,
    pub heading_path: Vec<String>,
    pub text: String,
    /// SHA-256 of the embedded text (heading path included), hex.
    pub text_hash: String,
    /// The embedder that produced `vector`; vectors of different models are never mixed.
    pub model_id: String,
    /// Unit-length embedding; empty when read without vectors.
    pub vector: Vec<f32>,
}

/// A node of the tree as far as access is concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct SkeletonNode {
    pub id: Id,
    pub kind: NodeKind,
    pub parent_id: Option<Id>,
    pub inherits: bool,
    pub in_trash: bool,
    pub grants: Vec<Grant>,
}

fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::Corrupt(format!(
            "a stored vector has {} bytes, not a multiple of 4",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

const CHUNK_COLUMNS: &str =
    "chunk_id, object_id, chunk_key, ordinal, heading_path, text, text_hash, model_id";

fn chunk_from_row(row: &sqlx::any::AnyRow, with_vector: bool) -> Result<StoredChunk> {
    let heading_path: String = row.try_get(4)?;
    Ok(StoredChunk {
        chunk_id: row.try_get(0)?,
        object_id: parse_id(&row.try_get::<String, _>(1)?)?,
        key: row.try_get(2)?,
        ordinal: row.try_get(3)?,
        heading_path: serde_json::from_str(&heading_path)
            .map_err(|e| Error::Corrupt(format!("chunk heading path: {e}")))?,
        text: row.try_get(5)?,
        text_hash: row.try_get(6)?,
        model_id: row.try_get(7)?,
        vector: if with_vector {
            decode_vector(&row.try_get::<Vec<u8>, _>(8)?)?
        } else {
            Vec::new()
        },
    })
}

impl Tx {
    /// The chunks of one object, in order, with their vectors.
    pub async fn chunks_of(&mut self, object_id: Id) -> Result<Vec<StoredChunk>> {
        let sql = format!(
            "SELECT {CHUNK_COLUMNS}, vector FROM search_chunks WHERE object_id = $1 ORDER BY ordinal"
        );
        let rows = sqlx::query(&sql)
            .bind(object_id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|row| chunk_from_row(row, true)).collect()
    }

    /// Replaces every chunk of an object (none: the object is no longer indexed).
    pub async fn replace_chunks(&mut self, object_id: Id, chunks: &[StoredChunk]) -> Result<()> {
        sqlx::query("DELETE FROM search_chunks WHERE object_id = $1")
            .bind(object_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        for chunk in chunks {
            if chunk.object_id != object_id {
                return Err(Error::Conflict(format!(
                    "chunk {} belongs to {}, not {object_id}",
                    chunk.chunk_id, chunk.object_id
                )));
            }
            let heading_path = serde_json::to_string(&chunk.heading_path)
                .map_err(|e| Error::Corrupt(format!("chunk heading path: {e}")))?;
            sqlx::query(&format!(
                "INSERT INTO search_chunks ({CHUNK_COLUMNS}, vector) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(chunk.chunk_id)
            .bind(object_id.to_string())
            .bind(chunk.key.clone())
            .bind(chunk.ordinal)
            .bind(heading_path)
            .bind(chunk.text.clone())
            .bind(chunk.text_hash.clone())
            .bind(chunk.model_id.clone())
            .bind(encode_vector(&chunk.vector))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Every chunk with its vector, in `chunk_id` order after `after`, for rebuilding indexes.
    pub async fn chunks_after(
        &mut self,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredChunk>> {
        let sql = format!(
            "SELECT {CHUNK_COLUMNS}, vector FROM search_chunks WHERE chunk_id > $1 ORDER BY chunk_id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(i64::MIN))
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|row| chunk_from_row(row, true)).collect()
    }

    /// `(chunk_id, object_id)` of every chunk: which object owns what, loaded at start.
    pub async fn chunk_owners(&mut self) -> Result<Vec<(i64, Id)>> {
        let rows = sqlx::query("SELECT chunk_id, object_id FROM search_chunks")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, parse_id(&row.try_get::<String, _>(1)?)?)))
            .collect()
    }

    /// Chunks by id with their vectors (to restore vectors an index file lacks).
    pub async fn chunk_vectors(&mut self, ids: &[i64]) -> Result<Vec<StoredChunk>> {
        self.chunks_where_in(ids, true).await
    }

    /// Chunks by id without their vectors (for snippets), in no particular order.
    pub async fn chunks_by_id(&mut self, ids: &[i64]) -> Result<Vec<StoredChunk>> {
        self.chunks_where_in(ids, false).await
    }

    async fn chunks_where_in(
        &mut self,
        ids: &[i64],
        with_vector: bool,
    ) -> Result<Vec<StoredChunk>> {
        let mut out = Vec::with_capacity(ids.len());
        // Bounded IN lists: SQLite allows 32,766 parameters, PostgreSQL 65,535.
        for batch in ids.chunks(500) {
            let placeholders = (1..=batch.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let vector = if with_vector { ", vector" } else { "" };
            let sql = format!(
                "SELECT {CHUNK_COLUMNS}{vector} FROM search_chunks WHERE chunk_id IN ({placeholders})"
            );
            let mut query = sqlx::query(&sql);
            for id in batch {
                query = query.bind(*id);
            }
            let rows = query.fetch_all(&mut *self.tx).await?;
            for row in &rows {
                out.push(chunk_from_row(row, with_vector)?);
            }
        }
        Ok(out)
    }

    /// Ids of every page and data source after `after` (in id order), for a full reindex.
    pub async fn indexable_objects(&mut self, after: Option<Id>, limit: i64) -> Result<Vec<Id>> {
        let rows = sqlx::query(
            "SELECT id FROM nodes WHERE kind IN ('page', 'data_source') AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.map(|id| id.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>(0)?))
            .collect()
    }

    /// Ids of objects that have chunks, in id order after `after`.
    pub async fn chunked_objects(&mut self, after: Option<Id>, limit: i64) -> Result<Vec<Id>> {
        let rows = sqlx::query(
            "SELECT DISTINCT object_id FROM search_chunks WHERE object_id > $1 ORDER BY object_id LIMIT $2",
        )
        .bind(after.map(|id| id.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>(0)?))
            .collect()
    }

    /// Every node that is not a block, plus every block that has a page or database below it:
    /// exactly the nodes that can appear in a page's or data source's permission chain.
    pub async fn access_skeleton(&mut self) -> Result<Vec<SkeletonNode>> {
        let sql = format!(
            "WITH RECURSIVE hosts(id, depth) AS ( \
               SELECT parent_id, 1 FROM nodes WHERE kind IN ('page', 'database') AND parent_kind = 'block' \
               UNION SELECT n.parent_id, h.depth + 1 FROM nodes n JOIN hosts h ON n.id = h.id \
                 WHERE n.kind = 'block' AND n.parent_id IS NOT NULL AND h.depth < {depth}) \
             SELECT id, kind, parent_id, inherits, in_trash FROM nodes \
               WHERE kind <> 'block' OR id IN (SELECT id FROM hosts)",
            depth = crate::nodes::TREE_DEPTH_MAX
        );
        let rows = sqlx::query(&sql).fetch_all(&mut *self.tx).await?;
        let mut nodes = Vec::with_capacity(rows.len());
        let mut by_id = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let parent: Option<String> = row.try_get(2)?;
            let node = SkeletonNode {
                id: parse_id(&row.try_get::<String, _>(0)?)?,
                kind: NodeKind::parse(&row.try_get::<String, _>(1)?)?,
                parent_id: parent.as_deref().map(parse_id).transpose()?,
                inherits: row.try_get::<i64, _>(3)? != 0,
                in_trash: row.try_get::<i64, _>(4)? != 0,
                grants: Vec::new(),
            };
            by_id.insert(node.id, nodes.len());
            nodes.push(node);
        }
        let grants = sqlx::query("SELECT node_id, grantee_kind, grantee_id, level FROM grants")
            .fetch_all(&mut *self.tx)
            .await?;
        for row in &grants {
            let node_id = parse_id(&row.try_get::<String, _>(0)?)?;
            if let Some(&index) = by_id.get(&node_id) {
                nodes[index].grants.push(decode_grant(
                    &row.try_get::<String, _>(1)?,
                    &row.try_get::<String, _>(2)?,
                    &row.try_get::<String, _>(3)?,
                )?);
            }
        }
        Ok(nodes)
    }
}
