//! Watchlists: named lists of listed symbols a user keeps on their paper account, by id or by
//! name, as Alpaca's API offers them.

use raptor_domain::InvalidInput;
use raptor_store::trading::{self, Account};
use raptor_store::watchlists::{self, Watchlist, Which};
use raptor_store::StoreError;

use crate::{market, text, App};

/// Most watchlists one account may keep.
pub const MAX_WATCHLISTS: i64 = 50;
/// Most symbols one watchlist may hold.
pub const MAX_SYMBOLS: usize = 200;
/// Longest name.
const MAX_NAME: usize = 64;

/// Why a watchlist request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum WatchlistError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The user has no paper account.
    #[error("you have no paper account")]
    NoAccount,
    /// No such watchlist in the account.
    #[error("watchlist not found")]
    Unknown,
    /// The account already has a watchlist of that name.
    #[error("you already have a watchlist named {0:?}")]
    NameTaken(String),
    /// The account has [`MAX_WATCHLISTS`] already.
    #[error("you already have {MAX_WATCHLISTS} watchlists, the most you may have")]
    TooMany,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user's paper account.
async fn account_of(app: &App, user_id: i64) -> Result<Account, WatchlistError> {
    trading::account_of_user(&app.db, user_id)
        .await?
        .ok_or(WatchlistError::NoAccount)
}

/// A watchlist and its symbols, in the order they were added.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The list.
    pub watchlist: Watchlist,
    /// Its symbols.
    pub symbols: Vec<String>,
}

fn name(raw: &str) -> Result<&str, InvalidInput> {
    let name = text::single_line("name", raw.trim(), MAX_NAME)?;
    if name.is_empty() {
        return Err(InvalidInput::new("name", "must not be empty"));
    }
    Ok(name)
}

/// Tickers checked to be listed, upper-cased, without repeats, in the order given.
async fn listed_symbols(app: &App, raw: &[String]) -> Result<Vec<String>, WatchlistError> {
    if raw.len() > MAX_SYMBOLS {
        return Err(InvalidInput::new("symbols", format!("at most {MAX_SYMBOLS} symbols")).into());
    }
    let mut symbols: Vec<String> = Vec::new();
    for ticker in raw {
        let ticker = text::single_line("symbols", ticker.trim(), 32)?.to_uppercase();
        if !market::is_listed(app, &ticker).await? {
            return Err(
                InvalidInput::new("symbols", format!("{ticker} is not a listed symbol")).into(),
            );
        }
        if !symbols.contains(&ticker) {
            symbols.push(ticker);
        }
    }
    Ok(symbols)
}

fn taken(err: StoreError, name: &str) -> WatchlistError {
    if err.is_unique_violation() {
        WatchlistError::NameTaken(name.to_owned())
    } else {
        err.into()
    }
}

/// Refuses a name no watchlist can have (so no NUL byte reaches PostgreSQL).
fn checked(which: Which<'_>) -> Result<Which<'_>, InvalidInput> {
    match which {
        Which::Name(raw) => Ok(Which::Name(name(raw)?)),
        id => Ok(id),
    }
}

/// The user's watchlists, oldest first, with their symbols.
pub async fn all(app: &App, user_id: i64) -> Result<Vec<Listed>, WatchlistError> {
    let account = account_of(app, user_id).await?;
    let mut answer = Vec::new();
    for watchlist in watchlists::of_account(&app.db, account.id).await? {
        let symbols = watchlists::symbols(&app.db, watchlist.id).await?;
        answer.push(Listed { watchlist, symbols });
    }
    Ok(answer)
}

/// One of the user's watchlists.
pub async fn get(app: &App, user_id: i64, which: Which<'_>) -> Result<Listed, WatchlistError> {
    let which = checked(which)?;
    let account = account_of(app, user_id).await?;
    let watchlist = watchlists::find(&app.db, account.id, which)
        .await?
        .ok_or(WatchlistError::Unknown)?;
    let symbols = watchlists::symbols(&app.db, watchlist.id).await?;
    Ok(Listed { watchlist, symbols })
}

/// Makes a watchlist named `name` holding `symbols`.
pub async fn create(
    app: &App,
    user_id: i64,
    name_raw: &str,
    symbols_raw: &[String],
) -> Result<Listed, WatchlistError> {
    let name = name(name_raw)?;
    let symbols = listed_symbols(app, symbols_raw).await?;
    let account = account_of(app, user_id).await?;
    let mut tx = app.db.begin().await?;
    if watchlists::count_in(&mut tx, account.id).await? >= MAX_WATCHLISTS {
        return Err(WatchlistError::TooMany);
    }
    let watchlist = watchlists::create(&mut tx, account.id, name, app.now())
        .await
        .map_err(|e| taken(e, name))?;
    for symbol in &symbols {
        watchlists::add_symbol(&mut tx, watchlist.id, symbol).await?;
    }
    tx.commit().await?;
    Ok(Listed { watchlist, symbols })
}

/// What a change does to a watchlist.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// Renames it and/or replaces all its symbols.
    Replace {
        /// The new name, if any.
        name: Option<&'a str>,
        /// The new symbols, if any.
        symbols: Option<&'a [String]>,
    },
    /// Adds one symbol at the end.
    Add(&'a str),
    /// Removes one symbol.
    Remove(&'a str),
}

/// Changes one of the user's watchlists; the list as it now is.
pub async fn change(
    app: &App,
    user_id: i64,
    which: Which<'_>,
    change: Change<'_>,
) -> Result<Listed, WatchlistError> {
    let which = checked(which)?;
    let account = account_of(app, user_id).await?;
    let (new_name, new_symbols) = match &change {
        Change::Replace { name: n, symbols } => (
            n.map(name).transpose()?,
            match symbols {
                Some(s) => Some(listed_symbols(app, s).await?),
                None => None,
            },
        ),
        Change::Add(symbol) => (
            None,
            Some(listed_symbols(app, &[(*symbol).to_owned()]).await?),
        ),
        Change::Remove(_) => (None, None),
    };
    let mut tx = app.db.begin().await?;
    let watchlist = watchlists::find_in(&mut tx, account.id, which)
        .await?
        .ok_or(WatchlistError::Unknown)?;
    match (&change, new_symbols) {
        (Change::Replace { .. }, Some(symbols)) => {
            watchlists::clear(&mut tx, watchlist.id).await?;
            for symbol in &symbols {
                watchlists::add_symbol(&mut tx, watchlist.id, symbol).await?;
            }
        }
        (Change::Add(_), Some(symbols)) => {
            for symbol in &symbols {
                watchlists::add_symbol(&mut tx, watchlist.id, symbol).await?;
            }
            if watchlists::symbols_in(&mut tx, watchlist.id).await?.len() > MAX_SYMBOLS {
                return Err(InvalidInput::new(
                    "symbol",
                    format!("a watchlist holds at most {MAX_SYMBOLS} symbols"),
                )
                .into());
            }
        }
        (Change::Remove(symbol), _) => {
            let symbol = text::single_line("symbol", symbol.trim(), 32)?.to_uppercase();
            if !watchlists::remove_symbol(&mut tx, watchlist.id, &symbol).await? {
                return Err(InvalidInput::new(
                    "symbol",
                    format!("{symbol} is not in this watchlist"),
                )
                .into());
            }
        }
        _ => {}
    }
    let name = new_name.unwrap_or(&watchlist.name).to_owned();
    let watchlist = watchlists::save(&mut tx, watchlist.id, &name, app.now())
        .await
        .map_err(|e| taken(e, &name))?;
    let symbols = watchlists::symbols_in(&mut tx, watchlist.id).await?;
    tx.commit().await?;
    Ok(Listed { watchlist, symbols })
}

/// Deletes one of the user's watchlists.
pub async fn delete(app: &App, user_id: i64, which: Which<'_>) -> Result<(), WatchlistError> {
    let which = checked(which)?;
    let account = account_of(app, user_id).await?;
    let mut tx = app.db.begin().await?;
    let watchlist = watchlists::find_in(&mut tx, account.id, which)
        .await?
        .ok_or(WatchlistError::Unknown)?;
    watchlists::delete(&mut tx, watchlist.id).await?;
    tx.commit().await?;
    Ok(())
}
