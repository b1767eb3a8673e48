//! Rows read with PostgreSQL's binary `COPY (query) TO STDOUT (FORMAT binary)`: the server's
//! cheapest way to send many rows, and the client's, since the fields are read here straight
//! from the bytes instead of through a driver row each.
//!
//! `COPY` takes no bind parameters, so its query reads its values from settings local to the
//! copy's transaction ([`setting`]), set from binds just before: no value is written into SQL.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

/// The format's signature, the first 11 bytes of every stream.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// How a copied query reads the value set under `name` (see [`copy_out`]), as SQL.
pub(crate) fn setting(name: &str) -> String {
    format!("current_setting('raptor.{name}')")
}

/// Runs `COPY (query) TO STDOUT (FORMAT binary)` on a connection of its own and hands every
/// row to `each`, in order, until it answers false. With `settings`, the copy runs inside a
/// read-only transaction where each `(name, value)` is set (read with [`setting`]).
pub(crate) async fn copy_out(
    pool: &PgPool,
    query: &str,
    settings: Vec<(String, String)>,
    mut each: impl FnMut(Row<'_>) -> Result<bool, sqlx::Error>,
) -> Result<(), sqlx::Error> {
    let mut conn = Closing(Some(pool.acquire().await?));
    let c: &mut PgConnection = conn.get();
    let in_transaction = !settings.is_empty();
    if in_transaction {
        sqlx::query("BEGIN READ ONLY").execute(&mut *c).await?;
        let (names, values): (Vec<_>, Vec<_>) = settings
            .into_iter()
            .map(|(name, value)| (format!("raptor.{name}"), value))
            .unzip();
        sqlx::query(
            "SELECT set_config(n, v, true) FROM unnest($1::text[], $2::text[]) AS s (n, v)",
        )
        .bind(names)
        .bind(values)
        .execute(&mut *c)
        .await?;
    }
    let mut rows = BinaryRows::default();
    let mut copy = c
        .copy_out_raw(&format!("COPY ({query}) TO STDOUT (FORMAT binary)"))
        .await?;
    let mut more = true;
    while let Some(chunk) = copy.try_next().await? {
        rows.feed(&chunk, &mut |row| {
            if more {
                more = each(row)?;
            }
            Ok(())
        })?;
        if !more {
            // The rest is not read: the connection, mid-copy, is closed rather than kept.
            return Ok(());
        }
    }
    drop(copy);
    rows.finish()?;
    if in_transaction {
        sqlx::query("COMMIT").execute(&mut *c).await?;
    }
    conn.keep();
    Ok(())
}

/// A pooled connection closed rather than given back unless [`Closing::keep`] says its work
/// finished: a copy given up half-way (an error, or the caller gone) leaves the connection in
/// the middle of the protocol, which the pool would not notice.
struct Closing(Option<PoolConnection<Postgres>>);

impl Closing {
    fn get(&mut self) -> &mut PoolConnection<Postgres> {
        self.0.as_mut().expect("held until kept or dropped")
    }

    fn keep(mut self) {
        self.0.take();
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// The rows of a binary copy stream, read as its messages bring them (a row may span them).
#[derive(Default)]
struct BinaryRows {
    /// The bytes of a row not yet whole.
    pending: Vec<u8>,
    /// Whether the header was read.
    started: bool,
    /// Whether the trailer was read.
    ended: bool,
}

impl BinaryRows {
    /// Hands every whole row in what is pending and `chunk` to `each`, keeping the rest.
    fn feed(
        &mut self,
        chunk: &[u8],
        each: &mut impl FnMut(Row<'_>) -> Result<(), sqlx::Error>,
    ) -> Result<(), sqlx::Error> {
        if self.pending.is_empty() {
            let used = self.read(chunk, each)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut bytes = std::mem::take(&mut self.pending);
            bytes.extend_from_slice(chunk);
            let used = self.read(&bytes, each)?;
            bytes.drain(..used);
            self.pending = bytes;
        }
        Ok(())
    }

    /// Reads what is whole in `bytes`; returns how many bytes that was.
    fn read(
        &mut self,
        bytes: &[u8],
        each: &mut impl FnMut(Row<'_>) -> Result<(), sqlx::Error>,
    ) -> Result<usize, sqlx::Error> {
        let mut at = 0;
        if !self.started {
            let Some(header) = header_length(bytes)? else {
                return Ok(0);
            };
            self.started = true;
            at = header;
        }
        while at < bytes.len() {
            if self.ended {
                return Err(broken("bytes after the trailer"));
            }
            let Some((fields, length)) = row_length(&bytes[at..])? else {
                break;
            };
            match fields {
                None => self.ended = true,
                Some(fields) => each(Row {
                    fields,
                    bytes: &bytes[at + 2..at + length],
                })?,
            }
            at += length;
        }
        Ok(at)
    }

    /// Checks that the stream ended as the format ends it.
    fn finish(&self) -> Result<(), sqlx::Error> {
        if self.ended && self.pending.is_empty() {
            Ok(())
        } else {
            Err(broken("the stream ended before its trailer"))
        }
    }
}

/// The header's length when `bytes` holds all of it.
fn header_length(bytes: &[u8]) -> Result<Option<usize>, sqlx::Error> {
    let fixed = SIGNATURE.len() + 8;
    if bytes.len() < fixed {
        return Ok(None);
    }
    if !bytes.starts_with(SIGNATURE) {
        return Err(broken("no binary copy signature"));
    }
    // Bit 16 says rows carry OIDs; bits 17-31 are kept for changes a reader must know.
    if be_i32(&bytes[SIGNATURE.len()..SIGNATURE.len() + 4]) >> 16 != 0 {
        return Err(broken("header flags this reader does not know"));
    }
    let extension = usize::try_from(be_i32(&bytes[fixed - 4..fixed]))
        .map_err(|_| broken("a negative header extension"))?;
    Ok((bytes.len() >= fixed + extension).then_some(fixed + extension))
}

/// The field count (None for the trailer) and length of the row `bytes` begins with, when it
/// holds all of it.
fn row_length(bytes: &[u8]) -> Result<Option<(Option<usize>, usize)>, sqlx::Error> {
    let Some(count) = bytes.get(..2) else {
        return Ok(None);
    };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Ok(Some((None, 2)));
    }
    let count = usize::try_from(count).map_err(|_| broken("a negative field count"))?;
    let mut at = 2;
    for _ in 0..count {
        let Some(length) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4 + match be_i32(length) {
            // NULL, with no bytes.
            -1 => 0,
            length => usize::try_from(length).map_err(|_| broken("a negative field length"))?,
        };
    }
    Ok((bytes.len() >= at).then_some((Some(count), at)))
}

/// One copied row's fields, in the query's column order.
pub(crate) struct Row<'a> {
    fields: usize,
    /// The fields, each its length then its bytes.
    bytes: &'a [u8],
}

impl<'a> Row<'a> {
    /// How many fields the row has.
    pub(crate) fn len(&self) -> usize {
        self.fields
    }

    /// The row's fields in order, each its bytes (`None` is NULL).
    pub(crate) fn fields(&self) -> impl Iterator<Item = Option<&'a [u8]>> {
        let mut rest = self.bytes;
        (0..self.fields).map(move |_| {
            // Lengths were checked against the row's bytes by `row_length`, which refuses any
            // negative one but NULL's.
            let (length, after) = rest.split_at(4);
            match usize::try_from(be_i32(length)) {
                Ok(length) => {
                    let (field, after) = after.split_at(length);
                    rest = after;
                    Some(field)
                }
                Err(_) => {
                    rest = after;
                    None
                }
            }
        })
    }

    /// The row's `N` fields, each of eight bytes (see [`Eight`]); anything else is an error.
    pub(crate) fn eights<const N: usize>(&self) -> Result<[Eight; N], sqlx::Error> {
        if self.fields != N {
            return Err(broken(&format!(
                "{} fields where {N} were asked",
                self.fields
            )));
        }
        let mut out = [Eight([0; 8]); N];
        let mut fields = self.bytes;
        for field in &mut out {
            // Lengths were checked against the row's bytes by `row_length`.
            let (length, rest) = fields.split_at(4);
            if be_i32(length) != 8 {
                return Err(broken("a field of other than 8 bytes (or NULL)"));
            }
            let (bytes, rest) = rest.split_at(8);
            field.0.copy_from_slice(bytes);
            fields = rest;
        }
        Ok(out)
    }
}

/// A field of eight bytes: a `double precision` or a `timestamptz`, told apart by the caller,
/// which knows its columns.
#[derive(Clone, Copy)]
pub(crate) struct Eight([u8; 8]);

impl Eight {
    /// A field's bytes, when there are eight of them.
    pub(crate) fn read(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Eight)
    }

    /// The field as a `double precision`.
    pub(crate) fn float(self) -> f64 {
        f64::from_be_bytes(self.0)
    }

    /// The field as a `timestamptz`: microseconds from 2000-01-01T00:00:00Z.
    pub(crate) fn time(self) -> Result<DateTime<Utc>, sqlx::Error> {
        i64::from_be_bytes(self.0)
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(|| sqlx::Error::Decode("a time out of range (infinity?)".into()))
    }
}

/// 2000-01-01T00:00:00Z in Unix microseconds.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

fn be_i32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn broken(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("binary copy: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of `rows`, each its fields' bytes (None is NULL).
    fn stream(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&3i32.to_be_bytes());
        out.extend_from_slice(b"ext");
        for row in rows {
            out.extend_from_slice(&(row.len() as i16).to_be_bytes());
            for field in row {
                match field {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(bytes) => {
                        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                        out.extend_from_slice(bytes);
                    }
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    fn read_in(chunks: &[&[u8]]) -> Result<Vec<[f64; 2]>, sqlx::Error> {
        let mut rows = BinaryRows::default();
        let mut got = Vec::new();
        for chunk in chunks {
            rows.feed(chunk, &mut |row| {
                got.push(row.eights::<2>()?.map(Eight::float));
                Ok(())
            })?;
        }
        rows.finish()?;
        Ok(got)
    }

    fn floats(a: f64, b: f64) -> Vec<Option<Vec<u8>>> {
        vec![
            Some(a.to_be_bytes().to_vec()),
            Some(b.to_be_bytes().to_vec()),
        ]
    }

    #[test]
    fn rows_are_read_however_the_stream_is_cut() {
        let bytes = stream(&[floats(1.5, -2.0), floats(3.25, 4.0), floats(0.0, 1e300)]);
        let whole = read_in(&[&bytes]).expect("whole");
        assert_eq!(whole, [[1.5, -2.0], [3.25, 4.0], [0.0, 1e300]]);
        for cut in 1..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(read_in(&[a, b]).expect("cut in two"), whole, "cut at {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(read_in(&singles).expect("a byte at a time"), whole);
    }

    #[test]
    fn a_stream_not_as_the_format_says_is_refused() {
        let bytes = stream(&[floats(1.0, 2.0)]);
        assert!(read_in(&[&bytes[..bytes.len() - 2]]).is_err(), "no trailer");
        assert!(
            read_in(&[&bytes[..bytes.len() - 1]]).is_err(),
            "half a trailer"
        );
        let mut after = bytes.clone();
        after.extend_from_slice(&bytes[SIGNATURE.len() + 11..]);
        assert!(read_in(&[&after]).is_err(), "a row after the trailer");
        assert!(
            read_in(&[b"PGCOPY\n\xff\r\n\x01 and more"]).is_err(),
            "no signature"
        );
        let null = stream(&[vec![Some(1f64.to_be_bytes().to_vec()), None]]);
        assert!(read_in(&[&null]).is_err(), "a NULL");
        let three = stream(&[vec![Some(vec![0; 8]); 3]]);
        assert!(read_in(&[&three]).is_err(), "three fields for two");
        let short = stream(&[vec![Some(vec![0; 8]), Some(vec![0; 4])]]);
        assert!(read_in(&[&short]).is_err(), "four bytes for eight");
        let mut oids = bytes.clone();
        oids[SIGNATURE.len() + 1] = 1;
        assert!(read_in(&[&oids]).is_err(), "rows with OIDs");
        let mut negative = bytes.clone();
        let first_length = SIGNATURE.len() + 11 + 2;
        negative[first_length..first_length + 4].copy_from_slice(&(-2i32).to_be_bytes());
        assert!(read_in(&[&negative]).is_err(), "a length below NULL's");
    }

    #[test]
    fn times_are_microseconds_from_the_year_2000() {
        let at = |micros: i64| Eight(micros.to_be_bytes()).time();
        let y2k: DateTime<Utc> = "2000-01-01T00:00:00Z".parse().expect("time");
        assert_eq!(at(0).expect("the epoch"), y2k);
        let later: DateTime<Utc> = "2026-03-02T14:30:00.000001Z".parse().expect("time");
        let micros = (later - y2k).num_microseconds().expect("micros");
        assert_eq!(at(micros).expect("later"), later);
        assert!(at(i64::MAX).is_err(), "infinity");
    }
}
