//! Live trade updates: every change to an account's orders, pushed to the streams that follow
//! the account in this process, wherever the change was made.
//!
//! One pump per process hears which accounts changed ([`Changes`]: `NOTIFY` from any process
//! on PostgreSQL, in-process on SQLite, and every [`POLL_EVERY`] for changes no announcement
//! reached), reads their new updates once, and hands them to each follower through a bounded
//! broadcast channel. Sending never waits, so a slow stream cannot
//! hold up the others: one that falls [`BACKLOG`] updates behind is told it is too slow and
//! ends (an SSE client resumes with `Last-Event-ID`; an Alpaca client reads activities).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raptor_store::trade_updates::{self, Change, Changes, TradeUpdate};
use raptor_store::{Db, StoreError};
use tokio::sync::{broadcast, mpsc, OnceCell};
use tokio_util::sync::CancellationToken;

use crate::App;

/// Updates a stream may fall behind by before it is dropped as too slow.
pub const BACKLOG: usize = 1024;
/// Streams one account may have open on one server at once.
pub const MAX_STREAMS_PER_ACCOUNT: usize = 10;
/// Updates read per query.
const BATCH: i64 = 500;
/// How often the pump looks at every followed account even unannounced: changes made by
/// another process on the same SQLite file (which cannot announce across processes), on
/// PostgreSQL any notification lost without the listener noticing, and reads that failed.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The account already has [`MAX_STREAMS_PER_ACCOUNT`] streams here.
    #[error(
        "this account already has {MAX_STREAMS_PER_ACCOUNT} trade-update streams open; close \
         one first"
    )]
    TooMany,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closing,
    /// The user has no paper account.
    #[error("you have no paper account")]
    NoAccount,
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Follows the updates of a user's paper account: those after `resume_after` (an update id
/// the client saw), or from now on.
pub async fn follow(
    app: &App,
    user_id: i64,
    resume_after: Option<i64>,
) -> Result<Follower, FollowError> {
    let account = raptor_store::trading::account_of_user(&app.db, user_id)
        .await?
        .ok_or(FollowError::NoAccount)?;
    app.trade_updates
        .follow(&app.db, account.id, resume_after)
        .await
}

/// One account's followers in this process, and the last update handed to them.
struct Feed {
    cursor: i64,
    sender: broadcast::Sender<Arc<TradeUpdate>>,
}

/// The process's trade-update streams. Shared by the app's clones.
pub struct Hub {
    feeds: Mutex<HashMap<i64, Feed>>,
    pump: OnceCell<mpsc::UnboundedSender<i64>>,
    closing: CancellationToken,
    poll_every: Duration,
}

impl Default for Hub {
    fn default() -> Self {
        Self::polling_every(POLL_EVERY)
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// What a [`Follower`] got next.
#[derive(Debug, Clone)]
pub enum Next {
    /// An update, in order.
    Update(Arc<TradeUpdate>),
    /// The stream fell [`BACKLOG`] updates behind and was dropped.
    TooSlow,
    /// The server is shutting down.
    Closing,
}

/// One stream's view of an account's updates, from where it started.
pub struct Follower {
    db: Db,
    account_id: i64,
    /// The last update given to the stream.
    last: i64,
    /// Updates up to here come from the store (resuming); later ones from the feed.
    live_from: i64,
    backlog: std::collections::VecDeque<TradeUpdate>,
    receiver: broadcast::Receiver<Arc<TradeUpdate>>,
    closing: CancellationToken,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("account_id", &self.account_id)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub that looks at followed accounts every `poll_every` besides when told (tests set it
    /// long, to prove that announcements alone deliver).
    pub fn polling_every(poll_every: Duration) -> Self {
        Self {
            feeds: Mutex::default(),
            pump: OnceCell::new(),
            closing: CancellationToken::new(),
            poll_every,
        }
    }

    /// Resolves once the server is shutting down.
    pub async fn closed(&self) {
        self.closing.cancelled().await;
    }

    /// Follows an account's updates: those after `resume_after` (an update id the client
    /// saw), or from now on.
    pub async fn follow(
        self: &Arc<Self>,
        db: &Db,
        account_id: i64,
        resume_after: Option<i64>,
    ) -> Result<Follower, FollowError> {
        if self.closing.is_cancelled() {
            return Err(FollowError::Closing);
        }
        let pump = self.start(db).await?;
        // Read before the feed is looked at: anything committed after this read has a later id
        // and is read by the pump (poked below) or announced to it.
        let latest = trade_updates::last_id(db, account_id).await?;
        let (receiver, live_from) = {
            let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            let feed = feeds.entry(account_id).or_insert_with(|| Feed {
                cursor: latest,
                sender: broadcast::channel(BACKLOG).0,
            });
            if feed.sender.receiver_count() >= MAX_STREAMS_PER_ACCOUNT {
                return Err(FollowError::TooMany);
            }
            (feed.sender.subscribe(), feed.cursor)
        };
        // The pump is gone only when the hub is closing.
        let _ = pump.send(account_id);
        Ok(Follower {
            db: db.clone(),
            account_id,
            last: resume_after.unwrap_or(live_from),
            live_from,
            backlog: Default::default(),
            receiver,
            closing: self.closing.clone(),
        })
    }

    /// Ends every stream and the pump (the server is shutting down).
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Starts the pump once, listening before anyone follows so no change is missed.
    async fn start(self: &Arc<Self>, db: &Db) -> Result<mpsc::UnboundedSender<i64>, StoreError> {
        let pump = self
            .pump
            .get_or_try_init(|| async {
                let changes = Changes::listen(db).await?;
                let (poke, poked) = mpsc::unbounded_channel();
                tokio::spawn(Arc::clone(self).pump(db.clone(), changes, poked));
                Ok::<_, StoreError>(poke)
            })
            .await?;
        Ok(pump.clone())
    }

    async fn pump(
        self: Arc<Self>,
        db: Db,
        mut changes: Changes,
        mut poked: mpsc::UnboundedReceiver<i64>,
    ) {
        let mut poll = tokio::time::interval(self.poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let accounts = tokio::select! {
                () = self.closing.cancelled() => return,
                _ = poll.tick() => self.followed(),
                change = changes.next() => match change {
                    Change::Account(account) => vec![account],
                    Change::Any => self.followed(),
                },
                Some(account) = poked.recv() => vec![account],
            };
            for account in accounts {
                if let Err(err) = self.deliver(&db, account).await {
                    // The next poll tries again.
                    tracing::warn!(%err, account, "reading trade updates failed");
                }
            }
        }
    }

    fn followed(&self) -> Vec<i64> {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        feeds.keys().copied().collect()
    }

    /// Hands an account's new updates to its followers; forgets it once nobody follows.
    async fn deliver(&self, db: &Db, account: i64) -> Result<(), StoreError> {
        loop {
            let cursor = {
                let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
                match feeds.get(&account) {
                    None => return Ok(()),
                    Some(feed) if feed.sender.receiver_count() == 0 => {
                        feeds.remove(&account);
                        return Ok(());
                    }
                    Some(feed) => feed.cursor,
                }
            };
            let page = trade_updates::after(db, account, cursor, BATCH).await?;
            let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            let Some(feed) = feeds.get_mut(&account) else {
                return Ok(());
            };
            // Only the pump moves the cursor, so nothing was sent twice meanwhile.
            feed.cursor = page.through;
            for update in page.updates {
                // No receivers is fine: they left meanwhile.
                let _ = feed.sender.send(Arc::new(update));
            }
            if page.complete {
                return Ok(());
            }
        }
    }
}

impl Follower {
    /// The next update. Those missed while resuming are read from the store first.
    pub async fn next(&mut self) -> Result<Next, StoreError> {
        loop {
            if let Some(update) = self.backlog.pop_front() {
                self.last = update.id;
                return Ok(Next::Update(Arc::new(update)));
            }
            if self.last < self.live_from {
                let page =
                    trade_updates::after(&self.db, self.account_id, self.last, BATCH).await?;
                self.backlog
                    .extend(page.updates.into_iter().filter(|u| u.id <= self.live_from));
                if self.backlog.is_empty() {
                    // Nothing readable before the live feed takes over, or only skipped rows.
                    self.last = if page.complete {
                        self.live_from
                    } else {
                        page.through.min(self.live_from)
                    };
                }
                continue;
            }
            let received = tokio::select! {
                () = self.closing.cancelled() => return Ok(Next::Closing),
                received = self.receiver.recv() => received,
            };
            match received {
                Ok(update) if update.id <= self.last => {}
                Ok(update) => {
                    self.last = update.id;
                    return Ok(Next::Update(update));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Ok(Next::TooSlow),
                Err(broadcast::error::RecvError::Closed) => return Ok(Next::Closing),
            }
        }
    }
}
