//! The row index of data sources and filtered, sorted queries over it.
//!
//! Each row's [`IndexEntry`]s are kept in `row_values`; a [`Predicate`] becomes `IN`/`NOT IN`
//! subqueries that the `(data_source_id, property_id, value)` indexes answer, and sorts
//! join the ordinal-0 entry. `document::filter` evaluates the same predicates in memory and
//! a property test holds the two to the same answers.

use document::Id;
use document::filter::{EntryTest, IndexEntry, Predicate, ResolvedSort, SortKeyKind};
use sqlx::Row;

use crate::binds::Binds;
use crate::{Dialect, Result, Tx, parse_id};

/// A query over one data source's rows.
#[derive(Debug, Clone)]
pub struct RowQuery {
    pub data_source_id: Id,
    pub predicate: Option<Predicate>,
    pub sorts: Vec<ResolvedSort>,
    pub offset: i64,
    pub limit: i64,
}

impl Tx {
    /// Replaces the index entries of one row.
    pub async fn replace_row_values(
        &mut self,
        row_id: Id,
        data_source_id: Id,
        entries: &[IndexEntry],
    ) -> Result<()> {
        sqlx::query("DELETE FROM row_values WHERE row_id = $1")
            .bind(row_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        for entry in entries {
            sqlx::query(
                "INSERT INTO row_values (row_id, data_source_id, property_id, ordinal, text_value, folded, number_value) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(row_id.to_string())
            .bind(data_source_id.to_string())
            .bind(entry.property_id.clone())
            .bind(entry.ordinal as i64)
            .bind(entry.text.clone())
            .bind(entry.folded.clone())
            .bind(entry.number)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    pub async fn delete_row_values(&mut self, row_id: Id) -> Result<()> {
        sqlx::query("DELETE FROM row_values WHERE row_id = $1")
            .bind(row_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Ids of all rows of a data source, trashed ones included (for schema changes).
    pub async fn all_row_ids(&mut self, data_source_id: Id) -> Result<Vec<Id>> {
        let rows = sqlx::query("SELECT id FROM nodes WHERE parent_kind = 'data_source' AND parent_id = $1 ORDER BY created_time, id")
            .bind(data_source_id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>(0)?))
            .collect()
    }

    /// Row ids matching the query, in order. Fetches `limit + 1` so the caller can tell
    /// whether more remain.
    pub async fn query_rows(&mut self, query: &RowQuery) -> Result<Vec<Id>> {
        let mut binds = Binds::default();
        let data_source = binds.text(query.data_source_id.to_string());
        let mut joins = String::new();
        let mut order = Vec::new();
        for (index, sort) in query.sorts.iter().enumerate() {
            let alias = format!("s{index}");
            let property = binds.text(sort.property_id.clone());
            joins += &format!(
                " LEFT JOIN row_values {alias} ON {alias}.row_id = n.id AND {alias}.property_id = {property} AND {alias}.ordinal = 0"
            );
            let column = match (sort.key, self.dialect) {
                (SortKeyKind::Number, _) => format!("{alias}.number_value"),
                (SortKeyKind::Folded, Dialect::Sqlite) => format!("{alias}.folded"),
                // Byte order, as SQLite and Rust compare strings.
                (SortKeyKind::Folded, Dialect::Postgres) => format!("{alias}.folded COLLATE \"C\""),
            };
            let direction = if sort.descending { "DESC" } else { "ASC" };
            // Empty values last in either direction.
            order.push(format!("({column} IS NULL) ASC, {column} {direction}"));
        }
        order.push("n.created_time ASC".to_string());
        order.push("n.id ASC".to_string());
        let mut conditions = vec![
            "n.parent_kind = 'data_source'".to_string(),
            format!("n.parent_id = {data_source}"),
            "n.in_trash = 0".to_string(),
        ];
        if let Some(predicate) = &query.predicate {
            conditions.push(predicate_sql(
                predicate,
                &data_source,
                &mut binds,
                self.dialect,
            ));
        }
        let limit = binds.integer(query.limit + 1);
        let offset = binds.integer(query.offset);
        let sql = format!(
            "SELECT n.id FROM nodes n{joins} WHERE {} ORDER BY {} LIMIT {limit} OFFSET {offset}",
            conditions.join(" AND "),
            order.join(", ")
        );
        let rows = binds
            .apply(sqlx::query(&sql))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>(0)?))
            .collect()
    }
}

fn predicate_sql(
    predicate: &Predicate,
    data_source: &str,
    binds: &mut Binds,
    dialect: Dialect,
) -> String {
    match predicate {
        Predicate::And(parts) | Predicate::Or(parts) => {
            if parts.is_empty() {
                // An empty `and` holds, an empty `or` does not, as in the evaluator.
                return if matches!(predicate, Predicate::And(_)) {
                    "1 = 1".into()
                } else {
                    "1 = 0".into()
                };
            }
            let joiner = if matches!(predicate, Predicate::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Vec<String> = parts
                .iter()
                .map(|p| predicate_sql(p, data_source, binds, dialect))
                .collect();
            format!("({})", parts.join(joiner))
        }
        Predicate::Entry {
            property_id,
            test,
            negated,
        } => {
            let property = binds.text(property_id.clone());
            let test = test_sql(test, binds, dialect);
            let membership = if *negated { "NOT IN" } else { "IN" };
            format!(
                "n.id {membership} (SELECT v.row_id FROM row_values v WHERE v.data_source_id = {data_source} AND v.property_id = {property}{test})"
            )
        }
    }
}

fn test_sql(test: &EntryTest, binds: &mut Binds, dialect: Dialect) -> String {
    match test {
        EntryTest::Any => String::new(),
        EntryTest::TextEquals(text) => format!(" AND v.text_value = {}", binds.text(text.clone())),
        EntryTest::FoldedContains(text) => {
            let needle = binds.text(text.clone());
            match dialect {
                Dialect::Sqlite => format!(" AND instr(v.folded, {needle}) > 0"),
                Dialect::Postgres => format!(" AND strpos(v.folded, {needle}) > 0"),
            }
        }
        EntryTest::FoldedStartsWith(text) => {
            let needle = binds.text(text.clone());
            format!(" AND substr(v.folded, 1, length({needle})) = {needle}")
        }
        EntryTest::FoldedEndsWith(text) => {
            let needle = binds.text(text.clone());
            match dialect {
                Dialect::Sqlite => format!(
                    " AND length(v.folded) >= length({needle}) AND substr(v.folded, -length({needle})) = {needle}"
                ),
                Dialect::Postgres => format!(" AND right(v.folded, length({needle})) = {needle}"),
            }
        }
        EntryTest::NumberEquals(n) => format!(" AND v.number_value = {}", binds.number(*n)),
        EntryTest::NumberLess(n) => format!(" AND v.number_value < {}", binds.number(*n)),
        EntryTest::NumberLessOrEqual(n) => format!(" AND v.number_value <= {}", binds.number(*n)),
        EntryTest::NumberGreater(n) => format!(" AND v.number_value > {}", binds.number(*n)),
        EntryTest::NumberGreaterOrEqual(n) => {
            format!(" AND v.number_value >= {}", binds.number(*n))
        }
        EntryTest::NumberInRange(lo, hi) => {
            let lo = binds.number(*lo);
            let hi = binds.number(*hi);
            format!(" AND v.number_value >= {lo} AND v.number_value < {hi}")
        }
    }
}
