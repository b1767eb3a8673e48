//! Orders and how they fill, as in Alpaca's Trading API v2: sides, types, time in force,
//! statuses, and the matching rules of the paper trading runtime. Pure: no I/O.
//!
//! Liquidity is unlimited, so an order fills completely or not at all. A marketable order
//! fills at submission at the latest price. A resting order fills on the first later bar whose
//! range reaches its price, at that price or at the bar's open when the bar gapped through it
//! (the better price for the trader, as a real fill would be).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let accepted: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        UnknownValue(format!(
                            "unknown {} '{s}'; accepted: {}",
                            $what,
                            accepted.join(", ")
                        ))
                    })
            }
        }

        /// What the store decodes a stored value through.
        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

pub(crate) use wire_enum;

/// A wire name that is not one of an enum's values; the message lists the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownValue(pub(crate) String);

wire_enum!(
    /// Buy or sell.
    Side, "side" { Buy => "buy", Sell => "sell" }
);
wire_enum!(
    /// How the price is set.
    OrderType, "type" {
        Market => "market",
        Limit => "limit",
        Stop => "stop",
        StopLimit => "stop_limit",
        TrailingStop => "trailing_stop",
    }
);
wire_enum!(
    /// How an order relates to others: alone, or a parent with legs that exit what it opens.
    OrderClass, "order_class" {
        Simple => "simple",
        Bracket => "bracket",
        Oco => "oco",
        Oto => "oto",
    }
);
wire_enum!(
    /// How long an order may rest.
    TimeInForce, "time_in_force" {
        Day => "day",
        Gtc => "gtc",
        Ioc => "ioc",
        Fok => "fok",
        Opg => "opg",
        Cls => "cls",
    }
);

wire_enum!(
    /// Where an order is in its life.
    OrderStatus, "status" {
        New => "new",
        Accepted => "accepted",
        PartiallyFilled => "partially_filled",
        Filled => "filled",
        Canceled => "canceled",
        Expired => "expired",
        Rejected => "rejected",
        Replaced => "replaced",
        Held => "held",
    }
);

impl OrderStatus {
    /// Whether the order may still fill (and be canceled). The one definition of an open
    /// order: the store builds its SQL lists from it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::New | OrderStatus::Accepted | OrderStatus::PartiallyFilled
        )
    }

    /// The statuses of open orders.
    pub fn open() -> impl Iterator<Item = OrderStatus> {
        OrderStatus::ALL.iter().copied().filter(|s| s.is_open())
    }

    /// Whether the order has not ended: open, or a leg held until its parent fills. Such an
    /// order can still be canceled.
    pub fn is_pending(self) -> bool {
        self.is_open() || self == OrderStatus::Held
    }
}

/// How far a trailing stop follows the best price: a distance in money or a percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trail {
    /// The stop stays this much behind the best price.
    Price(Decimal),
    /// The stop stays this percentage behind the best price.
    Percent(Decimal),
}

/// Decimal places of a trailing stop's computed stop price.
const STOP_SCALE: u32 = 4;

impl Trail {
    /// The stop for a best price `mark` (the high-water mark of a sell, the low-water mark
    /// of a buy), rounded to 4 places against the order (down for a sell, up for a buy).
    pub fn stop(self, side: Side, mark: Decimal) -> Decimal {
        let distance = match self {
            Trail::Price(price) => price,
            // The fraction first: it is below 1, so no price can overflow the product.
            Trail::Percent(percent) => mark * (percent / Decimal::ONE_HUNDRED),
        };
        match side {
            Side::Sell => (mark - distance)
                .round_dp_with_strategy(
                    STOP_SCALE,
                    rust_decimal::RoundingStrategy::ToNegativeInfinity,
                )
                .max(Decimal::ZERO),
            Side::Buy => (mark + distance).round_dp_with_strategy(
                STOP_SCALE,
                rust_decimal::RoundingStrategy::ToPositiveInfinity,
            ),
        }
    }
}

/// A trailing stop walking forward through bars. Each bar is first checked against the stop
/// set by the bars before it; only a bar that does not trigger moves the mark (to its high
/// for a sell, its low for a buy). So a bar whose high and low both pass the stop is taken to
/// have fallen first: the conservative reading of a bar whose path is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailing {
    /// The side of the stop order.
    pub side: Side,
    /// How far it trails.
    pub trail: Trail,
    /// The best price seen so far.
    pub mark: Decimal,
}

impl Trailing {
    /// The stop price now.
    pub fn stop(&self) -> Decimal {
        self.trail.stop(self.side, self.mark)
    }

    /// One bar: the price the stop fills at if the bar reaches it (the stop, or the open when
    /// the bar opened beyond it), else None after moving the mark.
    pub fn step(&mut self, open: Decimal, high: Decimal, low: Decimal) -> Option<Decimal> {
        let stop = self.stop();
        match self.side {
            Side::Sell if low <= stop => return Some(open.min(stop)),
            Side::Buy if high >= stop => return Some(open.max(stop)),
            Side::Sell => self.mark = self.mark.max(high),
            Side::Buy => self.mark = self.mark.min(low),
        }
        None
    }
}

/// What decides an order's fill price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// The limit price (limit and stop-limit orders).
    pub limit_price: Option<Decimal>,
    /// The stop price (stop and stop-limit orders).
    pub stop_price: Option<Decimal>,
}

/// Why order terms are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidTerms {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

impl Terms {
    /// Checks that exactly the prices the type needs are present and positive.
    pub fn validate(&self) -> Result<(), InvalidTerms> {
        let needs = |field, present: Option<Decimal>, wanted: bool| match (present, wanted) {
            (Some(p), true) if p <= Decimal::ZERO => Err(InvalidTerms {
                field,
                reason: "must be positive",
            }),
            (Some(_), true) | (None, false) => Ok(()),
            (None, true) => Err(InvalidTerms {
                field,
                reason: "is required for this order type",
            }),
            (Some(_), false) => Err(InvalidTerms {
                field,
                reason: "is not allowed for this order type",
            }),
        };
        let (limit, stop) = match self.order_type {
            OrderType::Market => (false, false),
            OrderType::Limit => (true, false),
            OrderType::Stop => (false, true),
            OrderType::StopLimit => (true, true),
            // Its stop follows the best price from its trail (see [`Trailing`]).
            OrderType::TrailingStop => (false, false),
        };
        needs("limit_price", self.limit_price, limit)?;
        needs("stop_price", self.stop_price, stop)
    }

    fn stop_triggered(&self, high: Decimal, low: Decimal) -> bool {
        match (self.side, self.stop_price) {
            (Side::Buy, Some(stop)) => high >= stop,
            (Side::Sell, Some(stop)) => low <= stop,
            (_, None) => true,
        }
    }

    fn limit_reached(&self, high: Decimal, low: Decimal) -> bool {
        match (self.side, self.limit_price) {
            (Side::Buy, Some(limit)) => low <= limit,
            (Side::Sell, Some(limit)) => high >= limit,
            (_, None) => true,
        }
    }

    /// The price an order fills at when submitted with the latest price `last`; None: it rests.
    pub fn fill_at_submission(&self, last: Decimal) -> Option<Decimal> {
        (self.stop_triggered(last, last) && self.limit_reached(last, last)).then_some(last)
    }

    /// The price a resting order fills at during a bar, if the bar reaches it.
    pub fn fill_in_bar(&self, open: Decimal, high: Decimal, low: Decimal) -> Option<Decimal> {
        if !self.stop_triggered(high, low) || !self.limit_reached(high, low) {
            return None;
        }
        // Where the order became live: the stop if the bar traded through it after opening
        // on the other side, otherwise the open.
        let live = match (self.side, self.stop_price) {
            (Side::Buy, Some(stop)) => open.max(stop),
            (Side::Sell, Some(stop)) => open.min(stop),
            (_, None) => open,
        };
        Some(match (self.side, self.limit_price) {
            (Side::Buy, Some(limit)) => live.min(limit),
            (Side::Sell, Some(limit)) => live.max(limit),
            (_, None) => live,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: &str) -> Decimal {
        v.parse().expect("decimal")
    }

    fn terms(side: Side, order_type: OrderType, limit: Option<&str>, stop: Option<&str>) -> Terms {
        Terms {
            side,
            order_type,
            limit_price: limit.map(d),
            stop_price: stop.map(d),
        }
    }

    #[test]
    fn market_orders_fill_at_the_latest_price() {
        let t = terms(Side::Buy, OrderType::Market, None, None);
        assert_eq!(t.fill_at_submission(d("101.5")), Some(d("101.5")));
        assert_eq!(t.fill_in_bar(d("100"), d("102"), d("99")), Some(d("100")));
    }

    #[test]
    fn marketable_limits_fill_at_submission_and_others_rest() {
        let buy = terms(Side::Buy, OrderType::Limit, Some("100"), None);
        assert_eq!(buy.fill_at_submission(d("99.5")), Some(d("99.5")));
        assert_eq!(buy.fill_at_submission(d("100.5")), None);
        let sell = terms(Side::Sell, OrderType::Limit, Some("100"), None);
        assert_eq!(sell.fill_at_submission(d("100.5")), Some(d("100.5")));
        assert_eq!(sell.fill_at_submission(d("99.5")), None);
    }

    #[test]
    fn a_resting_buy_limit_fills_when_a_bar_reaches_it_at_the_better_price() {
        let buy = terms(Side::Buy, OrderType::Limit, Some("100"), None);
        assert_eq!(buy.fill_in_bar(d("101"), d("102"), d("100.01")), None);
        assert_eq!(buy.fill_in_bar(d("101"), d("102"), d("99")), Some(d("100")));
        assert_eq!(
            buy.fill_in_bar(d("98"), d("99"), d("97")),
            Some(d("98")),
            "gap down fills at the open"
        );
    }

    #[test]
    fn stops_trigger_through_their_price() {
        let buy_stop = terms(Side::Buy, OrderType::Stop, None, Some("105"));
        assert_eq!(buy_stop.fill_in_bar(d("101"), d("104.99"), d("100")), None);
        assert_eq!(
            buy_stop.fill_in_bar(d("101"), d("106"), d("100")),
            Some(d("105"))
        );
        assert_eq!(
            buy_stop.fill_in_bar(d("107"), d("108"), d("106")),
            Some(d("107")),
            "gap up fills at the open"
        );
        let sell_stop = terms(Side::Sell, OrderType::Stop, None, Some("95"));
        assert_eq!(
            sell_stop.fill_in_bar(d("97"), d("98"), d("94")),
            Some(d("95"))
        );
        assert_eq!(sell_stop.fill_at_submission(d("96")), None);
        assert_eq!(sell_stop.fill_at_submission(d("94")), Some(d("94")));
    }

    #[test]
    fn stop_limits_need_both_the_trigger_and_the_limit() {
        let buy = terms(Side::Buy, OrderType::StopLimit, Some("106"), Some("105"));
        assert_eq!(
            buy.fill_in_bar(d("101"), d("104"), d("100")),
            None,
            "not triggered"
        );
        assert_eq!(
            buy.fill_in_bar(d("101"), d("106"), d("100")),
            Some(d("105"))
        );
        assert_eq!(
            buy.fill_in_bar(d("108"), d("109"), d("107")),
            None,
            "gapped above the limit"
        );
    }

    #[test]
    fn terms_need_exactly_the_prices_their_type_uses() {
        assert!(terms(Side::Buy, OrderType::Market, None, None)
            .validate()
            .is_ok());
        let missing = terms(Side::Buy, OrderType::Limit, None, None)
            .validate()
            .expect_err("missing");
        assert_eq!(missing.field, "limit_price");
        let extra = terms(Side::Buy, OrderType::Market, Some("1"), None)
            .validate()
            .expect_err("extra");
        assert_eq!(extra.field, "limit_price");
        let negative = terms(Side::Sell, OrderType::Stop, None, Some("-1"))
            .validate()
            .expect_err("negative");
        assert_eq!(
            (negative.field, negative.reason),
            ("stop_price", "must be positive")
        );
    }

    #[test]
    fn wire_names_round_trip_and_unknown_ones_list_the_accepted() {
        assert_eq!("stop_limit".parse::<OrderType>(), Ok(OrderType::StopLimit));
        let err = "twap".parse::<OrderType>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown type 'twap'; accepted: market, limit, stop, stop_limit, trailing_stop"
        );
        assert!(OrderStatus::PartiallyFilled.is_open() && !OrderStatus::Filled.is_open());
        assert_eq!("opg".parse::<TimeInForce>(), Ok(TimeInForce::Opg));
        assert_eq!(
            "gtd".parse::<TimeInForce>().map_err(|e| e.to_string()),
            Err("unknown time_in_force 'gtd'; accepted: day, gtc, ioc, fok, opg, cls".to_owned())
        );
    }

    #[test]
    fn a_sell_trailing_stop_rises_with_highs_and_fills_at_its_stop_or_a_lower_open() {
        let mut walk = Trailing {
            side: Side::Sell,
            trail: Trail::Price(d("5")),
            mark: d("100"),
        };
        assert_eq!(walk.stop(), d("95"));
        // Low 96 stays above 95; the high lifts the mark to 104, the stop to 99.
        assert_eq!(walk.step(d("100"), d("104"), d("96")), None);
        assert_eq!((walk.mark, walk.stop()), (d("104"), d("99")));
        // A lower high leaves the mark where it was.
        assert_eq!(walk.step(d("103"), d("103.5"), d("99.5")), None);
        assert_eq!(walk.mark, d("104"));
        // A bar that both makes a new high and reaches the old stop is taken to fall first.
        assert_eq!(
            walk.clone().step(d("100"), d("110"), d("98")),
            Some(d("99"))
        );
        // Opening below the stop fills at the open.
        assert_eq!(walk.step(d("97"), d("98"), d("96")), Some(d("97")));
    }

    #[test]
    fn a_buy_trailing_stop_falls_with_lows_and_percentages_round_against_the_order() {
        let mut walk = Trailing {
            side: Side::Buy,
            trail: Trail::Percent(d("3")),
            mark: d("50"),
        };
        assert_eq!(walk.stop(), d("51.5"));
        assert_eq!(walk.step(d("50"), d("51"), d("47.77")), None);
        // 47.77 × 1.03 = 49.2031: rounded up to 4 places for a buy.
        assert_eq!(walk.stop(), d("49.2031"));
        assert_eq!(walk.step(d("48"), d("49.5"), d("47.9")), Some(d("49.2031")));
        let sell = Trail::Percent(d("3")).stop(Side::Sell, d("47.77"));
        // 47.77 × 0.97 = 46.3369, exact; 33.33 × 0.985 = 32.83005, rounded down for a sell.
        assert_eq!(sell, d("46.3369"));
        assert_eq!(
            Trail::Percent(d("1.5")).stop(Side::Sell, d("33.33")),
            d("32.8300")
        );
    }
}
