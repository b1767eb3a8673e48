//! Reading bars, the store's largest reads: sqlx on PostgreSQL and in-memory SQLite, the row
//! reader ([`super::sqlite_rows`]) on a SQLite file. The version checked before each page is
//! read in [`super::symbol_reads`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::TryStreamExt as _;
use raptor_domain::backtest::Bar;
use tokio::task::JoinSet;

use super::pg_copy_out::{copy_out, setting};
use super::sqlite_rows::{time, SqliteTime};
use super::Pool;
use crate::engine::Db;
use crate::error::StoreError;
use crate::market::StoredBar;

/// Which bars: the binds of the bar query, in parameter order.
#[derive(Debug, Clone)]
pub(crate) struct BarQuery {
    pub(crate) symbol: String,
    pub(crate) timeframe: &'static str,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) after: Option<DateTime<Utc>>,
    pub(crate) limit: i64,
}

/// Runs `sql` (selecting `ts, open, high, low, close, volume, trade_count, vwap`, binding
/// `$1`…`$6` as [`BarQuery`] lists them).
pub(crate) async fn bars(
    db: &Db,
    sql: &'static str,
    q: BarQuery,
) -> Result<Vec<StoredBar>, StoreError> {
    if let Some(rows) = &db.sqlite_rows {
        return rows
            .read(move |conn| {
                sqlite_rows(
                    conn,
                    sql,
                    &q,
                    || true,
                    |row| {
                        Ok(StoredBar {
                            ts: time(row.get_ref(0)?)?,
                            open: row.get(1)?,
                            high: row.get(2)?,
                            low: row.get(3)?,
                            close: row.get(4)?,
                            volume: row.get(5)?,
                            trade_count: row.get(6)?,
                            vwap: row.get(7)?,
                        })
                    },
                )
            })
            .await;
    }
    Ok(on_pool!(db, pool => {
        bind(sqlx::query_as(sql), q).fetch_all(pool).await?
    }))
}

/// The engine's bar query ([`engine_bars`]) in its two forms, from one text.
pub(crate) struct EngineSql {
    /// Selecting `ts, open, high, low, close, volume`, binding as [`bars`] does.
    pub(crate) query: String,
    /// The same, reading its binds as [`copied_binds`] lists them, for a binary copy.
    pub(crate) copy: String,
}

/// How the copied form of the engine's query reads the binds of a [`BarQuery`], in order.
/// The engine reads whole ranges: `after` is always none.
pub(crate) fn copied_binds() -> [String; 6] {
    [
        setting("bars_symbol"),
        setting("bars_timeframe"),
        format!("{}::timestamptz", setting("bars_start")),
        format!("{}::timestamptz", setting("bars_end")),
        "NULL::timestamptz".into(),
        format!("{}::bigint", setting("bars_limit")),
    ]
}

/// Reads the bars of a range for the backtest engine, once per piece of it (`bounds`, in time
/// order, each piece from one bound to the next), the pieces at once, each on a connection of
/// its own (and on SQLite a blocking thread; on PostgreSQL a task the runtime's threads share):
/// no more columns than the engine reads, straight into its bars, returned in one allocation
/// of exactly their number. `None` when the range holds more than `most` bars; reading stops
/// once that is known. On PostgreSQL the bars come as binary `COPY`: the driver's row per bar
/// cost more than the server's work.
pub(crate) async fn engine_bars(
    db: &Db,
    sql: &'static EngineSql,
    symbol: &str,
    timeframe: &'static str,
    bounds: &[DateTime<Utc>],
    most: usize,
) -> Result<Option<Arc<[Bar]>>, StoreError> {
    let seen = Arc::new(AtomicUsize::new(0));
    let limit = i64::try_from(most).unwrap_or(i64::MAX).saturating_add(1);
    let mut loads = JoinSet::new();
    for (i, piece) in bounds.windows(2).enumerate() {
        let q = BarQuery {
            symbol: symbol.to_owned(),
            timeframe,
            start: piece[0],
            end: piece[1],
            after: None,
            limit,
        };
        let (db, seen) = (db.clone(), Arc::clone(&seen));
        let more = move || seen.fetch_add(1, Ordering::Relaxed) < most;
        loads.spawn(async move { (i, engine_piece(&db, sql, q, more).await) });
    }
    let mut loaded = Vec::with_capacity(loads.len());
    while let Some(load) = loads.join_next().await {
        let (i, bars) =
            load.map_err(|err| StoreError::Unavailable(format!("loading bars stopped: {err}")))?;
        loaded.push((i, bars?));
    }
    if seen.load(Ordering::Relaxed) > most {
        return Ok(None);
    }
    loaded.sort_unstable_by_key(|(i, _)| *i);
    let mut bars = Blocks::default();
    for (_, piece) in loaded {
        bars.append(piece);
    }
    Ok(Some(bars.into_shared()))
}

/// One piece of [`engine_bars`]: its bars while `more` says so.
async fn engine_piece(
    db: &Db,
    sql: &'static EngineSql,
    q: BarQuery,
    mut more: impl FnMut() -> bool + Send + 'static,
) -> Result<Blocks<Bar>, StoreError> {
    if let Some(rows) = &db.sqlite_rows {
        return rows
            .read(move |conn| {
                sqlite_rows(conn, &sql.query, &q, more, |row| {
                    Ok(Bar {
                        t: time(row.get_ref(0)?)?,
                        open: row.get(1)?,
                        high: row.get(2)?,
                        low: row.get(3)?,
                        close: row.get(4)?,
                        volume: row.get(5)?,
                    })
                })
            })
            .await;
    }
    let mut bars = Blocks::default();
    match &db.pool {
        Pool::Postgres(pool) => {
            let moment = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
            let settings = vec![
                ("bars_symbol".to_owned(), q.symbol),
                ("bars_timeframe".to_owned(), q.timeframe.to_owned()),
                ("bars_start".to_owned(), moment(q.start)),
                ("bars_end".to_owned(), moment(q.end)),
                ("bars_limit".to_owned(), q.limit.to_string()),
            ];
            copy_out(pool, &sql.copy, settings, |row| {
                if !more() {
                    return Ok(false);
                }
                let [t, open, high, low, close, volume] = row.eights()?;
                bars.push(Bar {
                    t: t.time()?,
                    open: open.float(),
                    high: high.float(),
                    low: low.float(),
                    close: close.float(),
                    volume: volume.float(),
                });
                Ok(true)
            })
            .await?;
        }
        Pool::Sqlite(pool) => {
            bars = bind(sqlx::query_as::<_, EngineRow>(&sql.query), q)
                .fetch(pool)
                .try_take_while(|_| std::future::ready(Ok(more())))
                .map_ok(|(t, open, high, low, close, volume)| Bar {
                    t,
                    open,
                    high,
                    low,
                    close,
                    volume,
                })
                .try_collect()
                .await?;
        }
    }
    Ok(bars)
}

/// A row of [`engine_bars`] as sqlx reads it.
type EngineRow = (DateTime<Utc>, f64, f64, f64, f64, f64);

/// Rows gathered in blocks of at most [`BLOCK`], then moved into one allocation of their exact
/// number, each block freed once copied. A growing vector would copy its rows at every
/// doubling, and a shared slice made from it would copy them all once more while both are
/// held.
struct Blocks<T> {
    blocks: Vec<Vec<T>>,
}

/// Rows in a block: 64 Ki, 3.5 MiB of bars.
const BLOCK: usize = 1 << 16;

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Self { blocks: Vec::new() }
    }
}

impl<T> Blocks<T> {
    fn push(&mut self, row: T) {
        match self.blocks.last_mut() {
            Some(block) if block.len() < BLOCK => block.push(row),
            // The first block grows as a vector does: a few rows take little room.
            None => self.blocks.push(vec![row]),
            Some(_) => {
                let mut next = Vec::with_capacity(BLOCK);
                next.push(row);
                self.blocks.push(next);
            }
        }
    }
}

impl<T> Extend<T> for Blocks<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, rows: I) {
        rows.into_iter().for_each(|row| self.push(row));
    }
}

impl<T> FromIterator<T> for Blocks<T> {
    fn from_iter<I: IntoIterator<Item = T>>(rows: I) -> Self {
        let mut blocks = Self::default();
        blocks.extend(rows);
        blocks
    }
}

impl<T: Copy> Blocks<T> {
    /// `other`'s rows after these, their blocks moved rather than copied.
    fn append(&mut self, other: Self) {
        self.blocks.extend(other.blocks);
    }

    fn into_shared(self) -> Arc<[T]> {
        let len = self.blocks.iter().map(Vec::len).sum();
        let mut blocks = self.blocks.into_iter();
        let mut block = Vec::new().into_iter();
        // A mapped range has an exact length, so the slice is allocated once, at its size.
        (0..len)
            .map(|_| loop {
                if let Some(row) = block.next() {
                    break row;
                }
                block = blocks
                    .next()
                    .expect("the length counts every block's rows")
                    .into_iter();
            })
            .collect()
    }
}

/// `query` with the binds of `q`, in parameter order.
fn bind<'q, DB, O>(
    query: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>,
    q: BarQuery,
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(q.symbol)
        .bind(q.timeframe)
        .bind(q.start)
        .bind(q.end)
        .bind(q.after)
        .bind(q.limit)
}

/// The rows `sql` finds for `q` on a SQLite file, read by `read_row`, while `more` says so.
fn sqlite_rows<T, C: FromIterator<T>>(
    conn: &rusqlite::Connection,
    sql: &str,
    q: &BarQuery,
    mut more: impl FnMut() -> bool,
    read_row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<C> {
    let mut statement = conn.prepare_cached(sql)?;
    let binds = (
        q.symbol.as_str(),
        q.timeframe,
        SqliteTime(q.start),
        SqliteTime(q.end),
        q.after.map(SqliteTime),
        q.limit,
    );
    let found = statement.query_map(binds, read_row)?;
    found.take_while(|_| more()).collect()
}

#[cfg(test)]
mod tests {
    use super::{Blocks, BLOCK};

    #[test]
    fn blocks_keep_every_row_once_in_order_across_their_seams() {
        for n in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 1] {
            let blocks: Blocks<usize> = (0..n).collect();
            let shared = blocks.into_shared();
            assert_eq!(shared.len(), n);
            assert!(shared.iter().copied().eq(0..n), "{n} rows");
        }
    }

    #[test]
    fn pieces_appended_keep_their_order_whatever_their_sizes() {
        let sizes = [0, 3, BLOCK + 5, 0, 1, 2 * BLOCK];
        let mut all = Blocks::default();
        let mut next = 0;
        for size in sizes {
            all.append((next..next + size).collect());
            next += size;
        }
        let shared = all.into_shared();
        assert_eq!(shared.len(), next);
        assert!(shared.iter().copied().eq(0..next));
    }
}
