//! Bulk reads and writes, each dialect its fastest way: PostgreSQL binary `COPY` in and
//! streamed reads out; SQLite multi-row `INSERT`s with `?` placeholders in and rusqlite batch
//! reads out. Values travel between them in one dialect-neutral form ([`value::Value`]).

mod bars;
mod binary_copy;
mod read;
mod sink;
mod value;

pub(crate) use bars::upsert_bars;
pub(crate) use read::{digest, digest_target, pump, Side};
pub(crate) use sink::{continue_ids, settle_trace_partitions, Sink};
pub(crate) use value::RowDigest;

use crate::error::{CopyError, StoreError};
use crate::schema::{ColumnType, Table};

/// How one table travels: the source's columns, matched to the target's by name.
#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) table: String,
    pub(crate) columns: Vec<String>,
    /// How each side stores each column.
    pub(crate) source_types: Vec<ColumnType>,
    pub(crate) target_types: Vec<ColumnType>,
    /// What each column holds: the PostgreSQL side's type where SQLite only says text.
    pub(crate) types: Vec<ColumnType>,
    /// Whether the table has an `id` column (whose sequence continues after a copy).
    pub(crate) has_id: bool,
}

impl Plan {
    pub(crate) fn new(table: &str, source: &Table, target: &Table) -> Result<Self, StoreError> {
        let mut plan = Plan {
            table: table.to_owned(),
            columns: Vec::new(),
            source_types: Vec::new(),
            target_types: Vec::new(),
            types: Vec::new(),
            has_id: false,
        };
        for column in &source.columns {
            let Some(other) = target.columns.iter().find(|c| c.name == column.name) else {
                return Err(CopyError::Mismatch(format!(
                    "column {table}.{} is missing on the target",
                    column.name
                ))
                .into());
            };
            let logical = match (&column.column_type, &other.column_type) {
                (ColumnType::Text, theirs) => theirs.clone(),
                (ours, _) => ours.clone(),
            };
            plan.has_id |= column.name == "id" && logical == ColumnType::Integer;
            plan.columns.push(column.name.clone());
            plan.source_types.push(column.column_type.clone());
            plan.target_types.push(other.column_type.clone());
            plan.types.push(logical);
        }
        Ok(plan)
    }

    pub(crate) fn select(&self) -> String {
        format!("SELECT {} FROM {}", self.columns.join(", "), self.table)
    }
}
