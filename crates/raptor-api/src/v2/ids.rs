//! Alpaca's UUID ids for Raptor's integer rows: `KKKKKKKK-0000-4000-8000-IIIIIIIIIIII`, where
//! `K` names the kind of row and `I` is the row id in hex. Any UUID parser reads them; they read
//! back to the row without a lookup.

use uuid::Uuid;

/// What a UUID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A paper account.
    Account = 1,
    /// An order.
    Order = 2,
    /// A listed symbol (Alpaca's asset).
    Asset = 3,
    /// A watchlist.
    Watchlist = 4,
    /// A fill (Alpaca's execution).
    Fill = 5,
}

/// Row ids shown as UUIDs use 48 bits.
const ROW_BITS: u32 = 48;

/// The UUID of row `id` of `kind`.
pub(crate) fn uuid(kind: Kind, id: i64) -> Uuid {
    let row = u64::try_from(id).unwrap_or_default() & ((1 << ROW_BITS) - 1);
    let high = (kind as u64) << 32 | 0x4000;
    let low = 0x8000_u64 << ROW_BITS | row;
    Uuid::from_u64_pair(high, low)
}

/// The row id a UUID of `kind` carries; None for any other text.
pub(crate) fn row(kind: Kind, text: &str) -> Option<i64> {
    let parsed = Uuid::parse_str(text).ok()?;
    let (high, low) = parsed.as_u64_pair();
    let expected_high = (kind as u64) << 32 | 0x4000;
    if high != expected_high || low >> ROW_BITS != 0x8000 {
        return None;
    }
    i64::try_from(low & ((1 << ROW_BITS) - 1)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_only_as_their_own_kind() {
        let order = uuid(Kind::Order, 42);
        assert_eq!(order.to_string(), "00000002-0000-4000-8000-00000000002a");
        assert_eq!(row(Kind::Order, &order.to_string()), Some(42));
        assert_eq!(
            row(Kind::Order, &order.simple().to_string().to_uppercase()),
            Some(42)
        );
        assert_eq!(row(Kind::Asset, &order.to_string()), None);
        assert_eq!(row(Kind::Order, "42"), None);
        assert_eq!(row(Kind::Order, &Uuid::new_v4().to_string()), None);
    }
}
