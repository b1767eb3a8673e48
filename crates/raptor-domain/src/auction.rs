//! The opening and closing auctions that `opg` and `cls` orders trade in, as Alpaca takes
//! them: an `opg` order is taken until 2 minutes before the open, a `cls` order until 10
//! minutes before the close, and either again from 19:00 New York time, for the next
//! trading day's auction.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::America::New_York;

use crate::calendar::{self, new_york_to_utc, Session};
use crate::orders::TimeInForce;

/// One of the session's two auctions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auction {
    /// At the regular open (`opg`).
    Opening,
    /// At the regular close (`cls`).
    Closing,
}

/// An auction order placed while its auction no longer takes orders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuctionClosed(pub &'static str);

impl Auction {
    /// The auction a time in force trades in, if any.
    pub fn of(tif: TimeInForce) -> Option<Self> {
        match tif {
            TimeInForce::Opg => Some(Self::Opening),
            TimeInForce::Cls => Some(Self::Closing),
            _ => None,
        }
    }

    /// When the auction happens in `session`.
    pub fn at(self, session: &Session) -> DateTime<Utc> {
        match self {
            Self::Opening => session.open,
            Self::Closing => session.close,
        }
    }

    fn cutoff(self, session: &Session) -> DateTime<Utc> {
        match self {
            Self::Opening => session.open - Duration::minutes(2),
            Self::Closing => session.close - Duration::minutes(10),
        }
    }

    /// The session whose auction an order placed at `placed` joins.
    pub fn session_for(self, placed: DateTime<Utc>) -> Result<Session, AuctionClosed> {
        let today = placed.with_timezone(&New_York).date_naive();
        if let Some(session) = calendar::session(today) {
            if placed < self.cutoff(&session) {
                return Ok(session);
            }
            let reopens =
                new_york_to_utc(today, NaiveTime::from_hms_opt(19, 0, 0).unwrap_or_default());
            if placed < reopens {
                return Err(AuctionClosed(match self {
                    Self::Opening => "opg orders are taken until 2 minutes before the open and again from 19:00 New York time",
                    Self::Closing => "cls orders are taken until 10 minutes before the close and again from 19:00 New York time",
                }));
            }
        }
        calendar::session(calendar::next_trading_day(today))
            .ok_or(AuctionClosed("the market calendar has no later session"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn auction_orders_join_the_next_auction_that_still_takes_them() {
        // Tuesday 2026-12-01 (New York is UTC-5): the open is 14:30Z, the close 21:00Z.
        let opening = |t: &str| {
            Auction::Opening
                .session_for(utc(t))
                .map(|s| s.date.to_string())
        };
        assert_eq!(opening("2026-12-01T14:27:59Z").as_deref(), Ok("2026-12-01"));
        assert!(opening("2026-12-01T14:28:00Z").is_err());
        assert!(opening("2026-12-01T23:59:59Z").is_err());
        assert_eq!(opening("2026-12-02T00:00:00Z").as_deref(), Ok("2026-12-02"));
        // Friday evening goes to Monday's open.
        assert_eq!(opening("2026-12-05T01:00:00Z").as_deref(), Ok("2026-12-07"));
        // Saturday and Thanksgiving take orders all day, for the next session.
        assert_eq!(opening("2026-12-05T15:00:00Z").as_deref(), Ok("2026-12-07"));
        assert_eq!(opening("2026-11-26T15:00:00Z").as_deref(), Ok("2026-11-27"));

        let closing = |t: &str| {
            Auction::Closing
                .session_for(utc(t))
                .map(|s| s.date.to_string())
        };
        assert_eq!(closing("2026-12-01T20:49:59Z").as_deref(), Ok("2026-12-01"));
        let refused = closing("2026-12-01T20:50:00Z").expect_err("after the cutoff");
        assert!(
            refused.0.contains("10 minutes before the close"),
            "{refused}"
        );
        assert_eq!(closing("2026-12-02T00:00:00Z").as_deref(), Ok("2026-12-02"));
        // The day after Thanksgiving closes at 13:00 New York time (18:00Z).
        assert!(closing("2026-11-27T17:55:00Z").is_err());
        assert_eq!(
            Auction::Closing
                .session_for(utc("2026-11-27T17:00:00Z"))
                .map(|s| Auction::Closing.at(&s)),
            Ok(utc("2026-11-27T18:00:00Z"))
        );
    }
}
