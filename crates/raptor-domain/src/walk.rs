//! Deterministic demo price data: seeded random walks over real market sessions.
//!
//! The same symbol and sessions always give the same bars, on every machine and run: the
//! generator is a self-contained PRNG seeded from a stable hash of the symbol.

use chrono::Duration;

use crate::backtest::Bar;
use crate::calendar::Session;
use crate::timeframe::{bucket_start, Timeframe};

/// A small, fast, seeded pseudo-random generator (xorshift64*, seeded through SplitMix64).
/// Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    spare_gaussian: Option<f64>,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GOLDEN_GAMMA);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut s = seed;
        let state = match splitmix64(&mut s) {
            0 => GOLDEN_GAMMA,
            nonzero => nonzero,
        };
        Rng {
            state,
            spare_gaussian: None,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform number in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal number (mean 0, variance 1), by the Box–Muller transform.
    pub fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare_gaussian.take() {
            return z;
        }
        let u1 = 1.0 - self.next_f64(); // (0, 1], so ln is finite
        let u2 = self.next_f64();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        self.spare_gaussian = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

/// A stable 64-bit seed for `symbol`: the FNV-1a hash of its bytes.
pub fn seed_for(symbol: &str) -> u64 {
    symbol.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Per-minute log-return volatility of the minute walk.
const MINUTE_VOL: f64 = 0.0008;
/// Per-minute log drift of the minute walk.
const MINUTE_DRIFT: f64 = 0.000_002;
/// Per-session (open to close) log-return volatility of the daily walk.
const DAILY_VOL: f64 = 0.012;
/// Overnight (close to next open) log-gap volatility of the daily walk.
const OVERNIGHT_VOL: f64 = 0.004;
/// Per-session log drift of the daily walk.
const DAILY_DRIFT: f64 = 0.0003;
/// Salt that gives the daily walk a different stream from the minute walk.
const DAILY_STREAM: u64 = 0xD1B5_4A32_D192_ED03;
/// The lowest price a walk may reach.
const MIN_PRICE: f64 = 0.01;

fn cents(price: f64) -> f64 {
    ((price * 100.0).round() / 100.0).max(MIN_PRICE)
}

fn valid_price(p: f64) -> bool {
    p.is_finite() && p > 0.0
}

/// A bar from rounded open/close and the unrounded wick extents, kept OHLC-consistent.
fn shaped_bar(
    t: chrono::DateTime<chrono::Utc>,
    open: f64,
    close: f64,
    up: f64,
    down: f64,
    volume: f64,
) -> Bar {
    let high = cents(open.max(close) * (1.0 + up)).max(open).max(close);
    let low = cents(open.min(close) * (1.0 - down)).min(open).min(close);
    Bar {
        t,
        open,
        high,
        low,
        close,
        volume,
    }
}

/// One 1-minute bar per regular-hours minute of each session (390 on a full day, 210 on an
/// early close), following a geometric random walk from `start_price`.
///
/// Each session opens at the previous close. Prices are in cents (at least 0.01) with
/// `low <= open, close <= high`; volumes are positive whole numbers, heavier near the open
/// and close. Empty when `start_price` is not a positive number.
pub fn minute_walk(symbol: &str, start_price: f64, sessions: &[Session]) -> Vec<Bar> {
    if !valid_price(start_price) {
        return Vec::new();
    }
    let mut rng = Rng::new(seed_for(symbol));
    let mut level = start_price.max(MIN_PRICE);
    let total: i64 = sessions
        .iter()
        .map(|s| (s.close - s.open).num_minutes().max(0))
        .sum();
    let mut bars = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for session in sessions {
        let minutes = (session.close - session.open).num_minutes().max(0);
        for m in 0..minutes {
            let open = cents(level);
            level = (level * (MINUTE_DRIFT + MINUTE_VOL * rng.gaussian()).exp()).max(MIN_PRICE);
            let close = cents(level);
            let up = 0.5 * MINUTE_VOL * rng.gaussian().abs();
            let down = 0.5 * MINUTE_VOL * rng.gaussian().abs();
            // U-shaped intraday volume: three times heavier at the bell than at midday.
            let x = (m as f64 + 0.5) / minutes as f64 - 0.5;
            let shape = 1.0 + 8.0 * x * x;
            let volume = (2_000.0 * shape * (0.4 * rng.gaussian()).exp())
                .round()
                .max(1.0);
            let t = session.open + Duration::minutes(m);
            bars.push(shaped_bar(t, open, close, up, down, volume));
        }
    }
    bars
}

/// Groups `bars` (oldest first) into `tf` bars by [`bucket_start`]: open of the first, close
/// of the last, highest high, lowest low, total volume, stamped with the bucket start.
pub fn aggregate(bars: &[Bar], tf: Timeframe) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    for bar in bars {
        let start = bucket_start(bar.t, tf);
        match out.last_mut() {
            Some(current) if current.t == start => {
                current.high = current.high.max(bar.high);
                current.low = current.low.min(bar.low);
                current.close = bar.close;
                current.volume += bar.volume;
            }
            _ => out.push(Bar { t: start, ..*bar }),
        }
    }
    out
}

/// One daily bar per session, stamped at midnight New York of the session's date, following a
/// random walk generated backwards so that the last bar closes at `end_price` (in cents).
///
/// Prices are in cents (at least 0.01) and OHLC-consistent; volumes are positive whole
/// numbers. Empty when `end_price` is not a positive number.
pub fn daily_walk(symbol: &str, end_price: f64, sessions: &[Session]) -> Vec<Bar> {
    if !valid_price(end_price) {
        return Vec::new();
    }
    let mut rng = Rng::new(seed_for(symbol) ^ DAILY_STREAM);
    let mut close_level = end_price.max(MIN_PRICE);
    let mut bars = Vec::with_capacity(sessions.len());
    for session in sessions.iter().rev() {
        let close = cents(close_level);
        let open_level =
            (close_level / (DAILY_DRIFT + DAILY_VOL * rng.gaussian()).exp()).max(MIN_PRICE);
        let open = cents(open_level);
        let up = 0.4 * DAILY_VOL * rng.gaussian().abs();
        let down = 0.4 * DAILY_VOL * rng.gaussian().abs();
        let volume = (1_000_000.0 * (0.3 * rng.gaussian()).exp())
            .round()
            .max(1.0);
        let t = bucket_start(session.open, Timeframe::Day1);
        bars.push(shaped_bar(t, open, close, up, down, volume));
        close_level = (open_level / (OVERNIGHT_VOL * rng.gaussian()).exp()).max(MIN_PRICE);
    }
    bars.reverse();
    bars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{session, sessions_between};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn full_day() -> Session {
        session(date(2026, 7, 15)).expect("a Wednesday session")
    }

    fn assert_ohlc_consistent(bars: &[Bar]) {
        for b in bars {
            assert!(b.low <= b.open && b.open <= b.high, "{b:?}");
            assert!(b.low <= b.close && b.close <= b.high, "{b:?}");
            assert!(b.low >= 0.01, "{b:?}");
            assert!(b.volume >= 1.0 && b.volume.fract() == 0.0, "{b:?}");
            for p in [b.open, b.high, b.low, b.close] {
                assert!(
                    ((p * 100.0).round() / 100.0 - p).abs() < 1e-9,
                    "not cents: {p}"
                );
            }
        }
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        let mut s = 1_234_567;
        assert_eq!(splitmix64(&mut s), 6_457_827_717_110_365_317);
        assert_eq!(splitmix64(&mut s), 3_203_168_211_198_807_973);
    }

    #[test]
    fn seed_for_is_fnv1a() {
        assert_eq!(seed_for(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(seed_for("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(seed_for("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn rng_is_deterministic_per_seed() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn next_f64_stays_in_the_unit_interval_and_gaussians_are_standard() {
        let mut rng = Rng::new(7);
        let n = 20_000;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for _ in 0..n {
            let u = rng.next_f64();
            assert!((0.0..1.0).contains(&u));
            let z = rng.gaussian();
            sum += z;
            sum_sq += z * z;
        }
        let mean = sum / n as f64;
        let variance = sum_sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.05, "variance {variance}");
    }

    #[test]
    fn minute_walk_is_deterministic_and_symbol_specific() {
        let sessions = [full_day()];
        let a = minute_walk("AAPL", 200.0, &sessions);
        assert_eq!(a, minute_walk("AAPL", 200.0, &sessions));
        assert_ne!(a, minute_walk("MSFT", 200.0, &sessions));
    }

    #[test]
    fn minute_walk_has_one_bar_per_regular_minute() {
        let full = full_day();
        let bars = minute_walk("AAPL", 200.0, &[full]);
        assert_eq!(bars.len(), 390);
        assert_eq!(bars[0].t, full.open);
        assert_eq!(bars[389].t, full.close - Duration::minutes(1));
        let early = session(date(2026, 11, 27)).expect("day after Thanksgiving");
        assert_eq!(minute_walk("AAPL", 200.0, &[early]).len(), 210);
    }

    #[test]
    fn minute_walk_bars_are_ohlc_consistent_and_sessions_chain() {
        let sessions = sessions_between(date(2026, 7, 13), date(2026, 7, 17));
        let bars = minute_walk("TSLA", 0.5, &sessions);
        assert_eq!(bars.len(), 5 * 390);
        assert_ohlc_consistent(&bars);
        for pair in bars.windows(2) {
            assert_eq!(pair[1].open, pair[0].close);
        }
        assert!(minute_walk("TSLA", -1.0, &sessions).is_empty());
    }

    #[test]
    fn aggregate_combines_ohlcv_of_each_bucket() {
        let t = |m: i64| {
            Utc.with_ymd_and_hms(2026, 7, 15, 13, 30, 0)
                .single()
                .expect("valid")
                + Duration::minutes(m)
        };
        let bar = |m, open, high, low, close, volume| Bar {
            t: t(m),
            open,
            high,
            low,
            close,
            volume,
        };
        let minutes = [
            bar(0, 10.0, 10.5, 9.8, 10.2, 100.0),
            bar(1, 10.2, 11.0, 10.1, 10.9, 50.0),
            bar(4, 10.9, 10.9, 9.5, 9.7, 25.0),
            bar(5, 9.7, 9.9, 9.6, 9.8, 10.0),
        ];
        let five = aggregate(&minutes, Timeframe::Min5);
        assert_eq!(
            five,
            vec![
                bar(0, 10.0, 11.0, 9.5, 9.7, 175.0),
                bar(5, 9.7, 9.9, 9.6, 9.8, 10.0),
            ]
        );
    }

    #[test]
    fn a_full_session_aggregates_into_78_five_minute_bars_and_one_day() {
        let full = full_day();
        let minutes = minute_walk("AAPL", 200.0, &[full]);
        let five = aggregate(&minutes, Timeframe::Min5);
        assert_eq!(five.len(), 78);
        assert_eq!(five[0].t, full.open);
        let day = aggregate(&minutes, Timeframe::Day1);
        assert_eq!(day.len(), 1);
        let d = day[0];
        assert_eq!(
            d.t,
            Utc.with_ymd_and_hms(2026, 7, 15, 4, 0, 0)
                .single()
                .expect("valid")
        );
        assert_eq!(d.open, minutes[0].open);
        assert_eq!(d.close, minutes[389].close);
        let total: f64 = minutes.iter().map(|b| b.volume).sum();
        assert_eq!(d.volume, total);
        assert_eq!(five.iter().map(|b| b.volume).sum::<f64>(), total);
        let high = minutes.iter().map(|b| b.high).fold(f64::MIN, f64::max);
        assert_eq!(d.high, high);
    }

    #[test]
    fn daily_walk_ends_at_the_end_price_with_one_bar_per_session() {
        let sessions = sessions_between(date(2026, 1, 1), date(2026, 12, 31));
        let bars = daily_walk("NVDA", 187.25, &sessions);
        assert_eq!(bars.len(), sessions.len());
        assert_eq!(bars.last().map(|b| b.close), Some(187.25));
        assert_eq!(bars, daily_walk("NVDA", 187.25, &sessions));
        assert_ohlc_consistent(&bars);
        // Stamped at New York midnight: 05:00Z in winter.
        let first_t = Utc
            .with_ymd_and_hms(2026, 1, 2, 5, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(bars[0].t, first_t);
        assert!(bars.windows(2).all(|w| w[0].t < w[1].t));
    }
}
