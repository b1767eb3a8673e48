//! How a backtest trades: when signals fill, what a fill costs, how much it buys, and
//! whether it may go short. Chosen per run; [`Execution::default`] is next bar's open, no
//! costs, all in, long only.

use serde::{Deserialize, Serialize};

use crate::InvalidInput;

/// Most slippage a run may assume, in basis points (10%).
pub const MAX_SLIPPAGE_BPS: f64 = 1_000.0;
/// Most shares one fill may take: whole numbers stay exact in an `f64` far beyond it, and
/// the stores' `NUMERIC(28,8)` holds it.
pub const MAX_SHARES: f64 = 1e12;

/// The execution model of one run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Execution {
    /// Where a signal fills.
    pub fill: Fill,
    /// What each fill pays.
    pub commission: Commission,
    /// Basis points a fill pays away from its price: buys fill that much above, sells below.
    pub slippage_bps: f64,
    /// How many shares an entry takes.
    pub sizing: Sizing,
    /// Whether a strategy's short signals open short positions.
    pub direction: Direction,
}

/// Where a signal given at a bar's close fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// At the next bar's open (a signal on the last bar never fills): no look-ahead.
    #[default]
    NextOpen,
    /// At the close of the bar that gave the signal.
    SignalClose,
}

/// Commission per fill, tagged on the wire by `"type"`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Commission {
    /// Free.
    #[default]
    None,
    /// `rate` per share, at least `minimum` per fill.
    PerShare {
        /// Cash per share.
        rate: f64,
        /// Least charged per fill.
        #[serde(default)]
        minimum: f64,
    },
    /// `rate` percent of the fill's value, at least `minimum` per fill.
    Percent {
        /// Percent of notional (0.1 = 0.1%).
        rate: f64,
        /// Least charged per fill.
        #[serde(default)]
        minimum: f64,
    },
    /// The same `amount` on every fill.
    Fixed {
        /// Cash per fill.
        amount: f64,
    },
}

/// How many shares an entry takes; always whole shares, never more than the cash (after
/// commission) covers.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sizing {
    /// As many as the equity covers.
    #[default]
    AllIn,
    /// As many as `fraction` of the equity covers.
    Fraction {
        /// Share of equity, above 0 and at most 1.
        fraction: f64,
    },
    /// A fixed number of shares, fewer when the equity does not cover them.
    Quantity {
        /// Whole shares, at least 1.
        qty: f64,
    },
}

/// Which positions a run may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Short signals only close longs.
    #[default]
    LongOnly,
    /// Short signals reverse into a short position of the same sizing.
    LongShort,
}

fn non_negative(field: &'static str, value: f64) -> Result<(), InvalidInput> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(InvalidInput::new(
            field,
            format!("must be a number at least 0 (got {value})"),
        ))
    }
}

impl Execution {
    /// Checks every number, naming the first field that breaks its rule.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        non_negative("execution.slippage_bps", self.slippage_bps)?;
        if self.slippage_bps > MAX_SLIPPAGE_BPS {
            return Err(InvalidInput::new(
                "execution.slippage_bps",
                format!(
                    "must be at most {MAX_SLIPPAGE_BPS} (got {})",
                    self.slippage_bps
                ),
            ));
        }
        match self.commission {
            Commission::None => {}
            Commission::PerShare { rate, minimum } => {
                non_negative("execution.commission.rate", rate)?;
                non_negative("execution.commission.minimum", minimum)?;
            }
            Commission::Percent { rate, minimum } => {
                non_negative("execution.commission.rate", rate)?;
                if rate >= 100.0 {
                    return Err(InvalidInput::new(
                        "execution.commission.rate",
                        format!("must be below 100 percent (got {rate})"),
                    ));
                }
                non_negative("execution.commission.minimum", minimum)?;
            }
            Commission::Fixed { amount } => non_negative("execution.commission.amount", amount)?,
        }
        match self.sizing {
            Sizing::AllIn => {}
            Sizing::Fraction { fraction } => {
                if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
                    return Err(InvalidInput::new(
                        "execution.sizing.fraction",
                        format!("must be above 0 and at most 1 (got {fraction})"),
                    ));
                }
            }
            Sizing::Quantity { qty } => {
                if !(qty.is_finite() && qty >= 1.0 && qty.fract() == 0.0) {
                    return Err(InvalidInput::new(
                        "execution.sizing.qty",
                        format!("must be a whole number of shares, at least 1 (got {qty})"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The price a buy (`buy`) or sell pays at `price` after slippage.
    pub(super) fn slipped(&self, price: f64, buy: bool) -> f64 {
        let slip = self.slippage_bps / 10_000.0;
        if buy {
            price * (1.0 + slip)
        } else {
            price * (1.0 - slip)
        }
    }

    /// Shares an entry at `price` (slippage included) takes out of `equity`.
    pub(super) fn shares(&self, equity: f64, price: f64) -> f64 {
        let (budget, wanted) = match self.sizing {
            Sizing::AllIn => (equity, f64::INFINITY),
            Sizing::Fraction { fraction } => (equity * fraction, f64::INFINITY),
            Sizing::Quantity { qty } => (equity, qty),
        };
        self.commission.affordable(budget, price).min(wanted)
    }
}

impl Commission {
    /// The commission on `qty` shares at `price`.
    pub(super) fn cost(&self, qty: f64, price: f64) -> f64 {
        match *self {
            Commission::None => 0.0,
            Commission::PerShare { rate, minimum } => (qty * rate).max(minimum),
            Commission::Percent { rate, minimum } => (qty * price * rate / 100.0).max(minimum),
            Commission::Fixed { amount } => amount,
        }
    }

    /// The most whole shares at `price` whose cost and commission together fit in `budget`.
    fn affordable(&self, budget: f64, price: f64) -> f64 {
        let (per_share, percent, fixed, minimum) = match *self {
            Commission::None => (0.0, 0.0, 0.0, 0.0),
            Commission::PerShare { rate, minimum } => (rate, 0.0, 0.0, minimum),
            Commission::Percent { rate, minimum } => (0.0, rate / 100.0, 0.0, minimum),
            Commission::Fixed { amount } => (0.0, 0.0, amount, 0.0),
        };
        // The commission is the larger of its rate and its minimum: both must fit.
        let by_rate = ((budget - fixed) / (price * (1.0 + percent) + per_share)).floor();
        let by_minimum = ((budget - fixed - minimum) / price).floor();
        let mut qty = by_rate.min(by_minimum).clamp(0.0, MAX_SHARES);
        // Rounding can leave the estimate a share or two over.
        for _ in 0..3 {
            if qty > 0.0 && qty * price + self.cost(qty, price) > budget {
                qty -= 1.0;
            }
        }
        if qty * price + self.cost(qty, price) > budget {
            return 0.0;
        }
        qty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_the_most_the_budget_covers_commission_included() {
        let all_in = |commission| Execution {
            commission,
            ..Execution::default()
        };
        // 1000 / 30 = 33.3: 33 shares.
        assert_eq!(all_in(Commission::None).shares(1_000.0, 30.0), 33.0);
        // 33 × 30 + 33 × 0.5 = 1006.5 > 1000; 32 × 30.5 = 976.
        let per_share = Commission::PerShare {
            rate: 0.5,
            minimum: 0.0,
        };
        assert_eq!(all_in(per_share).shares(1_000.0, 30.0), 32.0);
        // A 15 minimum: 32 × 30 + 16 = 976; 33 shares would need 990 + 16.5.
        let minimum = Commission::PerShare {
            rate: 0.5,
            minimum: 15.0,
        };
        assert_eq!(all_in(minimum).shares(1_000.0, 30.0), 32.0);
        // A 25 minimum binds: (1000 − 25) / 30 = 32.5 → 32; 32 × 30 + 25 = 985.
        let high_minimum = Commission::Percent {
            rate: 0.1,
            minimum: 25.0,
        };
        assert_eq!(all_in(high_minimum).shares(1_000.0, 30.0), 32.0);
        // 2% of notional: 1000 / 30.6 = 32.7 → 32.
        let percent = Commission::Percent {
            rate: 2.0,
            minimum: 0.0,
        };
        assert_eq!(all_in(percent).shares(1_000.0, 30.0), 32.0);
        // A fixed 11: 989 / 30 = 32.97 → 32.
        assert_eq!(
            all_in(Commission::Fixed { amount: 11.0 }).shares(1_000.0, 30.0),
            32.0
        );
        // Nothing affordable.
        assert_eq!(
            all_in(Commission::Fixed { amount: 2_000.0 }).shares(1_000.0, 30.0),
            0.0
        );
        // A trillion in cash at a hundred-millionth of a dollar: capped, not 1e20 shares.
        assert_eq!(all_in(Commission::None).shares(1e12, 1e-8), MAX_SHARES);
    }

    #[test]
    fn fraction_and_quantity_sizing_stay_within_the_equity() {
        let sized = |sizing| Execution {
            sizing,
            ..Execution::default()
        };
        assert_eq!(
            sized(Sizing::Fraction { fraction: 0.5 }).shares(1_000.0, 30.0),
            16.0
        );
        assert_eq!(
            sized(Sizing::Quantity { qty: 5.0 }).shares(1_000.0, 30.0),
            5.0
        );
        assert_eq!(
            sized(Sizing::Quantity { qty: 50.0 }).shares(1_000.0, 30.0),
            33.0
        );
    }

    #[test]
    fn commission_is_the_larger_of_its_rate_and_minimum() {
        let percent = Commission::Percent {
            rate: 0.1,
            minimum: 1.0,
        };
        assert_eq!(percent.cost(10.0, 50.0), 1.0);
        assert!((percent.cost(100.0, 50.0) - 5.0).abs() < 1e-12);
        let per_share = Commission::PerShare {
            rate: 0.005,
            minimum: 1.0,
        };
        assert_eq!(per_share.cost(100.0, 50.0), 1.0);
        assert!((per_share.cost(1_000.0, 50.0) - 5.0).abs() < 1e-12);
        assert_eq!(Commission::Fixed { amount: 4.95 }.cost(1.0, 1.0), 4.95);
    }

    #[test]
    fn slippage_moves_buys_up_and_sells_down() {
        let slipped = Execution {
            slippage_bps: 25.0,
            ..Execution::default()
        };
        assert!((slipped.slipped(100.0, true) - 100.25).abs() < 1e-12);
        assert!((slipped.slipped(100.0, false) - 99.75).abs() < 1e-12);
    }

    #[test]
    fn bad_numbers_name_their_field() {
        let cases = [
            (
                Execution {
                    slippage_bps: -1.0,
                    ..Execution::default()
                },
                "execution.slippage_bps",
            ),
            (
                Execution {
                    slippage_bps: 1_001.0,
                    ..Execution::default()
                },
                "execution.slippage_bps",
            ),
            (
                Execution {
                    commission: Commission::Percent {
                        rate: 100.0,
                        minimum: 0.0,
                    },
                    ..Execution::default()
                },
                "execution.commission.rate",
            ),
            (
                Execution {
                    commission: Commission::PerShare {
                        rate: 0.01,
                        minimum: f64::NAN,
                    },
                    ..Execution::default()
                },
                "execution.commission.minimum",
            ),
            (
                Execution {
                    sizing: Sizing::Fraction { fraction: 1.5 },
                    ..Execution::default()
                },
                "execution.sizing.fraction",
            ),
            (
                Execution {
                    sizing: Sizing::Quantity { qty: 2.5 },
                    ..Execution::default()
                },
                "execution.sizing.qty",
            ),
        ];
        for (execution, field) in cases {
            assert_eq!(execution.validate().expect_err(field).field, field);
        }
        assert_eq!(Execution::default().validate(), Ok(()));
    }
}
