//! The built-in strategies and the signals they give at each bar's close.
//!
//! A strategy says, at a bar's close, which position it wants: long, short or flat, or
//! nothing new. Each keeps O(1) state per bar (running sums, Wilder averages, monotonic
//! queues), so a run is linear in its bars whatever the periods.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::Bar;
use crate::InvalidInput;

/// Longest window any strategy may use.
pub const MAX_PERIOD: usize = 10_000;

/// A trading strategy, tagged on the wire by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Go long on the first bar and hold to the end.
    BuyAndHold,
    /// Long when the fast simple moving average of closes crosses above the slow one; short
    /// (flat when long-only) when it crosses below.
    SmaCrossover {
        /// Bars in the fast average.
        fast: usize,
        /// Bars in the slow average.
        slow: usize,
    },
    /// Wilder's relative strength index of closes: long while it is below `lower`, short
    /// (flat when long-only) while it is above `upper`.
    RsiReversion {
        /// Bars in the index.
        period: usize,
        /// Oversold level, between 0 and 100.
        lower: f64,
        /// Overbought level, above `lower` and below 100.
        upper: f64,
    },
    /// Donchian channel breakout: long when a close is above the highest high of the
    /// `period` bars before it, short (flat when long-only) when it is below their lowest low.
    DonchianBreakout {
        /// Bars in the channel.
        period: usize,
    },
}

fn period(field: &'static str, value: usize, least: usize) -> Result<(), InvalidInput> {
    if value < least || value > MAX_PERIOD {
        return Err(InvalidInput::new(
            field,
            format!("must be between {least} and {MAX_PERIOD} (got {value})"),
        ));
    }
    Ok(())
}

impl Strategy {
    /// Checks the parameters, naming the first one that breaks its rule.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        match *self {
            Strategy::BuyAndHold => Ok(()),
            Strategy::SmaCrossover { fast, slow } => {
                period("strategy.fast", fast, 1)?;
                period("strategy.slow", slow, 2)?;
                if slow <= fast {
                    return Err(InvalidInput::new(
                        "strategy.slow",
                        format!("must be greater than fast (got fast {fast}, slow {slow})"),
                    ));
                }
                Ok(())
            }
            Strategy::RsiReversion {
                period: bars,
                lower,
                upper,
            } => {
                period("strategy.period", bars, 2)?;
                if !(lower.is_finite() && lower > 0.0 && lower < 100.0) {
                    return Err(InvalidInput::new(
                        "strategy.lower",
                        format!("must be above 0 and below 100 (got {lower})"),
                    ));
                }
                if !(upper.is_finite() && upper > lower && upper < 100.0) {
                    return Err(InvalidInput::new(
                        "strategy.upper",
                        format!("must be above lower ({lower}) and below 100 (got {upper})"),
                    ));
                }
                Ok(())
            }
            Strategy::DonchianBreakout { period: bars } => period("strategy.period", bars, 1),
        }
    }

    /// The wire name of the strategy type.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::BuyAndHold => "buy_and_hold",
            Strategy::SmaCrossover { .. } => "sma_crossover",
            Strategy::RsiReversion { .. } => "rsi_reversion",
            Strategy::DonchianBreakout { .. } => "donchian_breakout",
        }
    }

    /// Fresh signal state for a run. The strategy must be valid.
    pub(super) fn signals(&self) -> Signals {
        match *self {
            Strategy::BuyAndHold => Signals::BuyAndHold,
            Strategy::SmaCrossover { fast, slow } => Signals::Sma(Crossover {
                fast,
                slow,
                fast_sum: 0.0,
                slow_sum: 0.0,
                until_refresh: slow,
                previous: None,
            }),
            Strategy::RsiReversion {
                period,
                lower,
                upper,
            } => Signals::Rsi(Rsi {
                period,
                lower,
                upper,
                gain: 0.0,
                loss: 0.0,
            }),
            Strategy::DonchianBreakout { period } => Signals::Donchian(Channel {
                period,
                highs: VecDeque::new(),
                lows: VecDeque::new(),
            }),
        }
    }
}

/// The position a strategy asks for at a bar's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Long,
    Short,
    Flat,
}

/// A strategy's running state.
pub(super) enum Signals {
    BuyAndHold,
    Sma(Crossover),
    Rsi(Rsi),
    Donchian(Channel),
}

impl Signals {
    /// The position wanted at bar `i`'s close, if the strategy says anything there. Bars are
    /// fed in order, each once.
    pub(super) fn step(&mut self, bars: &[Bar], i: usize) -> Option<Target> {
        match self {
            Signals::BuyAndHold => (i == 0).then_some(Target::Long),
            Signals::Sma(sma) => sma.step(bars, i),
            Signals::Rsi(rsi) => rsi.step(bars, i),
            Signals::Donchian(channel) => channel.step(bars, i),
        }
    }
}

/// Relative tolerance under which two moving averages count as equal.
const SMA_TOLERANCE: f64 = 1e-9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Below,
    Level,
    Above,
}

fn compare(fast: f64, slow: f64) -> Side {
    if (fast - slow).abs() <= SMA_TOLERANCE * fast.abs().max(slow.abs()) {
        Side::Level
    } else if fast > slow {
        Side::Above
    } else {
        Side::Below
    }
}

/// Running fast/slow sums of closes, refreshed from scratch every `slow` bars so that
/// floating-point drift stays bounded on long series. Averages within a relative 1e-9 count
/// as equal, so rounding noise never fakes a crossing; a crossing is above (or below) now and
/// not on the previous bar where both averages were defined.
pub(super) struct Crossover {
    fast: usize,
    slow: usize,
    fast_sum: f64,
    slow_sum: f64,
    /// Bars until the sums are refreshed.
    until_refresh: usize,
    previous: Option<Side>,
}

impl Crossover {
    fn step(&mut self, bars: &[Bar], i: usize) -> Option<Target> {
        let close = bars[i].close;
        self.fast_sum += close;
        self.slow_sum += close;
        if i >= self.fast {
            self.fast_sum -= bars[i - self.fast].close;
        }
        if i >= self.slow {
            self.slow_sum -= bars[i - self.slow].close;
        }
        // Every `slow` bars, counted down rather than by a division per bar.
        self.until_refresh -= 1;
        let refresh = self.until_refresh == 0;
        if refresh {
            self.until_refresh = self.slow;
        }
        if i + 1 < self.slow {
            return None;
        }
        if refresh {
            self.fast_sum = bars[i + 1 - self.fast..=i].iter().map(|b| b.close).sum();
            self.slow_sum = bars[i + 1 - self.slow..=i].iter().map(|b| b.close).sum();
        }
        // The averages scaled by `fast × slow`: the same order and relative tolerance, without
        // dividing.
        let side = compare(
            self.fast_sum * self.slow as f64,
            self.slow_sum * self.fast as f64,
        );
        let previous = self.previous.replace(side)?;
        match side {
            Side::Above if previous != Side::Above => Some(Target::Long),
            Side::Below if previous != Side::Below => Some(Target::Short),
            _ => None,
        }
    }
}

/// Wilder's RSI: the first average gain and loss are the plain means of the first `period`
/// changes, later ones `(previous × (period − 1) + change) / period`; RSI is
/// `100 − 100 / (1 + gain / loss)`, 100 when there was no loss and 50 when nothing moved.
pub(super) struct Rsi {
    period: usize,
    lower: f64,
    upper: f64,
    gain: f64,
    loss: f64,
}

impl Rsi {
    fn step(&mut self, bars: &[Bar], i: usize) -> Option<Target> {
        if i == 0 {
            return None;
        }
        let change = bars[i].close - bars[i - 1].close;
        let (up, down) = (change.max(0.0), (-change).max(0.0));
        let n = self.period as f64;
        if i <= self.period {
            self.gain += up / n;
            self.loss += down / n;
            if i < self.period {
                return None;
            }
        } else {
            self.gain = (self.gain * (n - 1.0) + up) / n;
            self.loss = (self.loss * (n - 1.0) + down) / n;
        }
        let rsi = if self.loss > 0.0 {
            100.0 - 100.0 / (1.0 + self.gain / self.loss)
        } else if self.gain > 0.0 {
            100.0
        } else {
            50.0
        };
        if rsi < self.lower {
            Some(Target::Long)
        } else if rsi > self.upper {
            Some(Target::Short)
        } else {
            None
        }
    }
}

/// The highest high and lowest low of the last `period` bars, kept in monotonic queues of
/// bar indices.
pub(super) struct Channel {
    period: usize,
    highs: VecDeque<usize>,
    lows: VecDeque<usize>,
}

impl Channel {
    fn step(&mut self, bars: &[Bar], i: usize) -> Option<Target> {
        // The channel of the bars before this one.
        let oldest = i.checked_sub(self.period);
        for queue in [&mut self.highs, &mut self.lows] {
            while queue.front().is_some_and(|&j| Some(j) < oldest) {
                queue.pop_front();
            }
        }
        let bar = &bars[i];
        let signal = match (oldest, self.highs.front(), self.lows.front()) {
            (Some(_), Some(&h), _) if bar.close > bars[h].high => Some(Target::Long),
            (Some(_), _, Some(&l)) if bar.close < bars[l].low => Some(Target::Short),
            _ => None,
        };
        while self.highs.back().is_some_and(|&j| bars[j].high <= bar.high) {
            self.highs.pop_back();
        }
        self.highs.push_back(i);
        while self.lows.back().is_some_and(|&j| bars[j].low >= bar.low) {
            self.lows.pop_back();
        }
        self.lows.push_back(i);
        signal
    }
}
