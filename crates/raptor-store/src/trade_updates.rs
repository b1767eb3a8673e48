//! What happened to each order, for the trade-updates streams. Every change to an order
//! writes a row here in the transaction that made it (all of them in one statement as it
//! commits), with the order as it stood right after, and announces the account: on PostgreSQL
//! with `NOTIFY` from the table's insert trigger (revisions 0020 and 0021; delivered to every
//! process when the transaction commits), on SQLite in-process after commit. Listeners then
//! read the account's rows past the last one they saw. Within an account, ids follow commit order: every change
//! holds the account's row lock from before its row is written until it commits.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::sync::broadcast;

use crate::dialect::wakeups::{self, Heard, Listener};
use crate::engine::Db;
use crate::error::StoreError;
use crate::trading::Order;
use crate::tx::Tx;
use crate::DbDecimal;

/// Account announcements an in-process listener may fall behind by before it is told it
/// missed some (and reads every account it follows).
pub(crate) const LOCAL_BACKLOG: usize = 4096;

/// What happened to an order, named as Alpaca's `trade_updates` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Accepted and working (or about to fill).
    New,
    /// Filled completely.
    Fill,
    /// Canceled by its owner, or not marketable on submission (IOC, FOK).
    Canceled,
    /// A day order that did not fill by the close.
    Expired,
    /// Refused at fill time.
    Rejected,
    /// Replaced by a new order, named in its `replaced_by`.
    Replaced,
}

impl Event {
    /// The event's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Fill => "fill",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
            Self::Replaced => "replaced",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::New,
            Self::Fill,
            Self::Canceled,
            Self::Expired,
            Self::Rejected,
            Self::Replaced,
        ]
        .into_iter()
        .find(|e| e.as_str() == text)
    }
}

/// What a fill adds to its update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillFacts {
    /// The fill's row in `paper_fills`.
    pub fill_id: i64,
    /// Quantity filled.
    pub qty: Decimal,
    /// Price filled at.
    pub price: Decimal,
    /// The position in the symbol afterwards.
    pub position_qty: Decimal,
}

/// One stored update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeUpdate {
    /// Row id: increases in commit order within an account.
    pub id: i64,
    /// Account.
    pub account_id: i64,
    /// What happened.
    pub event: Event,
    /// When.
    pub at: DateTime<Utc>,
    /// Set for fills.
    pub fill: Option<FillFacts>,
    /// The order right after the change.
    pub order: Order,
}

/// Records `event` for `order` (as it stands after the change) and announces its account. The
/// row is written as the transaction commits, with every other update it recorded, in one
/// statement ([`write_recorded`]); on PostgreSQL the insert's trigger sends the `NOTIFY`.
pub(crate) fn record(
    tx: &mut Tx,
    event: Event,
    order: &Order,
    at: DateTime<Utc>,
    fill: Option<FillFacts>,
) -> Result<(), StoreError> {
    let order_state =
        serde_json::to_string(order).map_err(|err| sqlx::Error::Encode(err.into()))?;
    tx.trade_updates.push(Recorded {
        account_id: order.account_id,
        order_id: order.id,
        event,
        at,
        fill,
        order_state,
    });
    Ok(())
}

/// An update recorded in a transaction and not yet written.
pub(crate) struct Recorded {
    account_id: i64,
    order_id: i64,
    event: Event,
    at: DateTime<Utc>,
    fill: Option<FillFacts>,
    order_state: String,
}

impl Recorded {
    /// The account the update announces.
    pub(crate) fn account_id(&self) -> i64 {
        self.account_id
    }
}

/// Columns an update binds; a statement writes at most [`ROWS_PER_INSERT`] updates, inside
/// every database's limit on parameters.
const COLUMNS: usize = 9;
const ROWS_PER_INSERT: usize = 1000;

/// Writes the updates `recorded` in the transaction, in the order recorded (their ids follow it).
pub(crate) async fn write_recorded(tx: &mut Tx, recorded: &[Recorded]) -> Result<(), StoreError> {
    for rows in recorded.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..rows.len())
            .map(|row| {
                let params: Vec<String> = (1..=COLUMNS)
                    .map(|column| format!("${}", row * COLUMNS + column))
                    .collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO trade_updates \
             (account_id, order_id, event, at, price, qty, position_qty, fill_id, order_state) \
             VALUES {}",
            values.join(", ")
        );
        on_tx!(tx, t => {
            let mut insert = sqlx::query(&sql);
            for u in rows {
                insert = insert
                    .bind(u.account_id)
                    .bind(u.order_id)
                    .bind(u.event.as_str())
                    .bind(u.at)
                    .bind(u.fill.map(|f| DbDecimal(f.price)))
                    .bind(u.fill.map(|f| DbDecimal(f.qty)))
                    .bind(u.fill.map(|f| DbDecimal(f.position_qty)))
                    .bind(u.fill.map(|f| f.fill_id))
                    .bind(&u.order_state);
            }
            insert.execute(&mut **t).await?;
        });
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    account_id: i64,
    event: String,
    at: DateTime<Utc>,
    price: Option<DbDecimal>,
    qty: Option<DbDecimal>,
    position_qty: Option<DbDecimal>,
    fill_id: Option<i64>,
    order_state: String,
}

impl Row {
    fn into_update(self) -> Result<TradeUpdate, StoreError> {
        let corrupt =
            |what: String| sqlx::Error::Decode(format!("trade update {}: {what}", self.id).into());
        let event =
            Event::parse(&self.event).ok_or_else(|| corrupt(format!("event {:?}", self.event)))?;
        let order = serde_json::from_str(&self.order_state)
            .map_err(|err| corrupt(format!("order state: {err}")))?;
        let fill = match (self.fill_id, self.qty, self.price, self.position_qty) {
            (Some(fill_id), Some(qty), Some(price), Some(position)) => Some(FillFacts {
                fill_id,
                qty: qty.0,
                price: price.0,
                position_qty: position.0,
            }),
            _ => None,
        };
        Ok(TradeUpdate {
            id: self.id,
            account_id: self.account_id,
            event,
            at: self.at,
            fill,
            order,
        })
    }
}

/// A run of an account's updates.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Oldest first.
    pub updates: Vec<TradeUpdate>,
    /// The id of the last row read (rows that could not be read are skipped, and logged), or
    /// the id read after when there were none: where the next page starts.
    pub through: i64,
    /// False when the page stopped at its limit: later updates exist.
    pub complete: bool,
}

/// Up to `limit` of an account's updates after `after_id`, oldest first.
pub async fn after(
    db: &Db,
    account_id: i64,
    after_id: i64,
    limit: i64,
) -> Result<Page, StoreError> {
    let sql = "SELECT id, account_id, event, at, price, qty, position_qty, fill_id, order_state \
               FROM trade_updates WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3";
    let rows: Vec<Row> = on_pool!(db, pool => {
        sqlx::query_as(sql).bind(account_id).bind(after_id).bind(limit).fetch_all(pool).await?
    });
    let complete = (rows.len() as i64) < limit;
    let through = rows.last().map_or(after_id, |r| r.id);
    let updates = rows
        .into_iter()
        .filter_map(|row| {
            // One unreadable row (written by a newer release, say) must not stall the stream.
            row.into_update()
                .map_err(|err| tracing::warn!(%err, "skipping an unreadable trade update"))
                .ok()
        })
        .collect();
    Ok(Page {
        updates,
        through,
        complete,
    })
}

/// The id of an account's latest update (0 when it has none): a new listener starts there.
pub async fn last_id(db: &Db, account_id: i64) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM trade_updates WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(pool)
            .await?
    }))
}

/// Deletes updates from before `before`; how many went.
pub async fn prune(db: &Db, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query("DELETE FROM trade_updates WHERE at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// What a [`Changes`] listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This account's orders changed.
    Account(i64),
    /// Announcements may have been missed: any account may have changed.
    Any,
}

/// Hears which accounts' orders changed, in any process (PostgreSQL) or in this one (SQLite).
pub struct Changes {
    listener: Listener,
    local: broadcast::Receiver<i64>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Changes")
    }
}

impl Changes {
    /// Starts listening, on a connection of its own on PostgreSQL.
    pub async fn listen(db: &Db) -> Result<Self, StoreError> {
        Ok(Self {
            listener: Listener::open(&db.pool, wakeups::TRADE_UPDATES).await?,
            local: db.changed_accounts.subscribe(),
        })
    }

    /// The next change. Never resolves once the database is closed.
    pub async fn next(&mut self) -> Change {
        loop {
            tokio::select! {
                heard = self.listener.recv() => match heard {
                    Heard::Payload(account) => match account.parse() {
                        Ok(account) => return Change::Account(account),
                        Err(_) => tracing::warn!(%account, "ignoring a malformed trade-update notification"),
                    },
                    Heard::MaybeMissed => return Change::Any,
                },
                local = self.local.recv() => match local {
                    Ok(account) => return Change::Account(account),
                    Err(broadcast::error::RecvError::Lagged(_)) => return Change::Any,
                    // The Db and all its clones are gone.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                },
            }
        }
    }
}
