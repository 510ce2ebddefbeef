//! The row index of data sources and filtered, sorted queries over it.
//!
//! Each row's [`IndexEntry`]s are kept in `row_values`. A query runs one of two plans:
//!
//! - **Set-driven**: the predicate becomes `IN`/`NOT IN` subqueries that the
//!   `(data_source_id, property_id, value)` indexes answer, and the matching rows are sorted.
//!   Its cost grows with the number of matches, so it is chosen when a capped count of the
//!   predicate's most selective test says few rows match.
//! - **Order-driven**: the rows are walked in result order — the first sort key's index, or
//!   creation order with no sort — and the predicate is checked per row with correlated
//!   `EXISTS` probes, stopping once the page is full. Rows with no value for the first sort
//!   key come after all rows with one, as a second part.
//!
//! `document::filter` evaluates the same predicates in memory and a property test holds every
//! plan to the same answers and order.

use document::Id;
use document::filter::{EntryTest, IndexEntry, Predicate, ResolvedSort, SortKeyKind};
use sqlx::Row;

use crate::binds::Binds;
use crate::{Dialect, Result, Tx, parse_id};

/// Matches at most this many rows, by a capped count, and the set-driven plan is used.
pub const SET_DRIVEN_ROWS_MAX: i64 = 2_000;

/// The plan a query runs; kept in the cursor so every page of a listing uses the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowPlan {
    SetDriven,
    OrderDriven,
}

/// Where a page starts: the plan, the part (0: rows with a first-sort value, 1: rows without)
/// and the offset within that part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCursor {
    pub plan: RowPlan,
    pub part: u8,
    pub offset: i64,
}

impl RowCursor {
    pub fn encode(&self) -> String {
        let plan = match self.plan {
            RowPlan::SetDriven => 's',
            RowPlan::OrderDriven => 'o',
        };
        format!("q{plan}{}_{}", self.part, self.offset)
    }

    pub fn decode(text: &str) -> Option<RowCursor> {
        let rest = text.strip_prefix('q')?;
        let mut chars = rest.chars();
        let plan = match chars.next()? {
            's' => RowPlan::SetDriven,
            'o' => RowPlan::OrderDriven,
            _ => return None,
        };
        let (part, offset) = chars.as_str().split_once('_')?;
        let part: u8 = part.parse().ok().filter(|p| *p <= 1)?;
        let offset: i64 = offset.parse().ok().filter(|o| *o >= 0)?;
        Some(RowCursor { plan, part, offset })
    }
}

/// A query over one data source's rows.
#[derive(Debug, Clone)]
pub struct RowQuery {
    pub data_source_id: Id,
    pub predicate: Option<Predicate>,
    pub sorts: Vec<ResolvedSort>,
    /// Where to start; `None` for the first page (the planner then picks the plan).
    pub start: Option<RowCursor>,
    pub limit: i64,
    /// Forces a plan (tests hold every plan to the same answers).
    pub plan: Option<RowPlan>,
}

/// One page of row ids and where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPage {
    pub ids: Vec<Id>,
    pub next: Option<RowCursor>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `n.id IN (SELECT row_id ...)`: evaluated once as a set.
    Membership,
    /// `EXISTS (SELECT 1 ... WHERE v.row_id = n.id ...)`: probed per row.
    Correlated,
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

    /// One page of row ids matching the query, in order.
    pub async fn query_rows(&mut self, query: &RowQuery) -> Result<RowPage> {
        let plan = match (query.start, query.plan) {
            (Some(cursor), _) => cursor.plan,
            (None, Some(plan)) => plan,
            (None, None) => self.choose_plan(query).await?,
        };
        let start = query.start.unwrap_or(RowCursor {
            plan,
            part: 0,
            offset: 0,
        });
        let limit = query.limit;
        let first_sort = query.sorts.first();
        if plan == RowPlan::SetDriven || first_sort.is_none() {
            let style = if plan == RowPlan::SetDriven {
                Style::Membership
            } else {
                Style::Correlated
            };
            let mut ids = self
                .rows_sql(query, style, None, start.offset, limit + 1)
                .await?;
            let next = (ids.len() as i64 > limit).then_some(RowCursor {
                plan,
                part: 0,
                offset: start.offset + limit,
            });
            ids.truncate(limit as usize);
            return Ok(RowPage { ids, next });
        }
        let mut ids = Vec::new();
        let mut part = start.part;
        let mut offset = start.offset;
        if part == 0 {
            let mut found = self
                .rows_sql(query, Style::Correlated, Some(true), offset, limit + 1)
                .await?;
            if found.len() as i64 > limit {
                found.truncate(limit as usize);
                return Ok(RowPage {
                    ids: found,
                    next: Some(RowCursor {
                        plan,
                        part: 0,
                        offset: offset + limit,
                    }),
                });
            }
            ids = found;
            part = 1;
            offset = 0;
        }
        let wanted = limit - ids.len() as i64;
        let mut found = self
            .rows_sql(query, Style::Correlated, Some(false), offset, wanted + 1)
            .await?;
        let next = (found.len() as i64 > wanted).then_some(RowCursor {
            plan,
            part,
            offset: offset + wanted,
        });
        found.truncate(wanted as usize);
        ids.extend(found);
        Ok(RowPage { ids, next })
    }

    /// Picks the set-driven plan when a capped count says the predicate matches few rows.
    async fn choose_plan(&mut self, query: &RowQuery) -> Result<RowPlan> {
        let Some(predicate) = &query.predicate else {
            return Ok(RowPlan::OrderDriven);
        };
        Ok(
            match self.estimate(predicate, query.data_source_id).await? {
                Some(rows) if rows <= SET_DRIVEN_ROWS_MAX => RowPlan::SetDriven,
                _ => RowPlan::OrderDriven,
            },
        )
    }

    /// An upper bound on the rows a predicate matches, capped just above
    /// [`SET_DRIVEN_ROWS_MAX`]; `None` when no index-friendly test bounds it.
    async fn estimate(&mut self, predicate: &Predicate, data_source_id: Id) -> Result<Option<i64>> {
        match predicate {
            Predicate::And(parts) => {
                let mut best: Option<i64> = None;
                for part in parts {
                    if let Some(rows) = Box::pin(self.estimate(part, data_source_id)).await? {
                        best = Some(best.map_or(rows, |b| b.min(rows)));
                    }
                }
                Ok(best)
            }
            Predicate::Or(parts) => {
                let mut total = 0;
                for part in parts {
                    match Box::pin(self.estimate(part, data_source_id)).await? {
                        Some(rows) => total += rows,
                        None => return Ok(None),
                    }
                }
                Ok(Some(total))
            }
            Predicate::Entry { negated: true, .. } => Ok(None),
            Predicate::Entry {
                property_id,
                test,
                negated: false,
            } => {
                // Only tests an index answers are counted; a substring test would scan.
                if matches!(
                    test,
                    EntryTest::FoldedContains(_)
                        | EntryTest::FoldedEndsWith(_)
                        | EntryTest::FoldedStartsWith(_)
                ) {
                    return Ok(None);
                }
                let mut binds = Binds::default();
                let data_source = binds.text(data_source_id.to_string());
                let property = binds.text(property_id.clone());
                let test = test_sql(test, &mut binds, self.dialect);
                let cap = binds.integer(SET_DRIVEN_ROWS_MAX + 1);
                let sql = format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM row_values v WHERE v.data_source_id = {data_source} AND v.property_id = {property}{test} LIMIT {cap}) capped"
                );
                let count: i64 = binds
                    .apply(sqlx::query(&sql))
                    .fetch_one(&mut *self.tx)
                    .await?
                    .try_get(0)?;
                Ok(Some(count))
            }
        }
    }

    /// Runs one plan's SQL. `has_first_sort_value`: `Some(true)` walks the rows that have a
    /// value for the first sort key in that key's order, `Some(false)` the rows without one,
    /// `None` all rows.
    async fn rows_sql(
        &mut self,
        query: &RowQuery,
        style: Style,
        has_first_sort_value: Option<bool>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Id>> {
        let mut binds = Binds::default();
        let data_source = binds.text(query.data_source_id.to_string());
        let mut from = "nodes n".to_string();
        let mut joins = String::new();
        let mut order = Vec::new();
        let mut conditions = vec![
            format!("n.parent_id = {data_source}"),
            "n.in_trash = 0".to_string(),
        ];
        for (index, sort) in query.sorts.iter().enumerate() {
            let alias = format!("s{index}");
            let property = binds.text(sort.property_id.clone());
            let column = match (sort.key, self.dialect) {
                (SortKeyKind::Number, _) => format!("{alias}.number_value"),
                (SortKeyKind::Folded, Dialect::Sqlite) => format!("{alias}.folded"),
                // Byte order, as SQLite and Rust compare strings.
                (SortKeyKind::Folded, Dialect::Postgres) => format!("{alias}.folded COLLATE \"C\""),
            };
            let direction = if sort.descending { "DESC" } else { "ASC" };
            match (index, has_first_sort_value) {
                (0, Some(true)) => {
                    // Walk the first key's index in order; every row here has a value. SQLite
                    // keeps a CROSS JOIN's order, so it cannot drive from `nodes` instead.
                    from = match self.dialect {
                        Dialect::Sqlite => format!("row_values {alias} CROSS JOIN nodes n"),
                        Dialect::Postgres => {
                            format!("row_values {alias} JOIN nodes n ON n.id = {alias}.row_id")
                        }
                    };
                    if self.dialect == Dialect::Sqlite {
                        conditions.push(format!("n.id = {alias}.row_id"));
                    }
                    conditions.push(format!("{alias}.data_source_id = {data_source}"));
                    conditions.push(format!("{alias}.property_id = {property}"));
                    conditions.push(format!("{alias}.ordinal = 0"));
                    conditions.push(format!("{column} IS NOT NULL"));
                    order.push(format!("{column} {direction}"));
                }
                (0, Some(false)) => {
                    conditions.push(format!(
                        "NOT EXISTS (SELECT 1 FROM row_values {alias} WHERE {alias}.row_id = n.id AND {alias}.property_id = {property} AND {alias}.ordinal = 0 AND {column} IS NOT NULL)"
                    ));
                }
                _ => {
                    joins += &format!(
                        " LEFT JOIN row_values {alias} ON {alias}.row_id = n.id AND {alias}.property_id = {property} AND {alias}.ordinal = 0"
                    );
                    // Empty values last in either direction.
                    order.push(format!("({column} IS NULL) ASC, {column} {direction}"));
                }
            }
        }
        order.push("n.created_time ASC".to_string());
        order.push("n.id ASC".to_string());
        if let Some(predicate) = &query.predicate {
            conditions.push(predicate_sql(
                predicate,
                &data_source,
                &mut binds,
                self.dialect,
                style,
            ));
        }
        let limit = binds.integer(limit);
        let offset = binds.integer(offset);
        let sql = format!(
            "SELECT n.id FROM {from}{joins} WHERE {} ORDER BY {} LIMIT {limit} OFFSET {offset}",
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
    style: Style,
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
                .map(|p| predicate_sql(p, data_source, binds, dialect, style))
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
            match style {
                Style::Membership => {
                    let membership = if *negated { "NOT IN" } else { "IN" };
                    format!(
                        "n.id {membership} (SELECT v.row_id FROM row_values v WHERE v.data_source_id = {data_source} AND v.property_id = {property}{test})"
                    )
                }
                Style::Correlated => {
                    let exists = if *negated { "NOT EXISTS" } else { "EXISTS" };
                    // PostgreSQL would turn the probe into a semi-join that first collects every
                    // match; `OFFSET 0` keeps it a per-row probe, which is the point of this plan.
                    let fence = if dialect == Dialect::Postgres {
                        " OFFSET 0"
                    } else {
                        ""
                    };
                    format!(
                        "{exists} (SELECT 1 FROM row_values v WHERE v.row_id = n.id AND v.property_id = {property}{test}{fence})"
                    )
                }
            }
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
