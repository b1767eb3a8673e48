//! One dialect-neutral value per column: how it is read from either dialect, written for
//! binary `COPY`, and digested for verification.

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::types::ValueRef;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgValueRef;
use sqlx::types::Json;
use sqlx::{Decode, Postgres, Row, ValueRef as _};

use super::binary_copy::BinaryCopy;
use crate::dialect::pg_copy_out::Eight;
use crate::schema::ColumnType;

/// One value, independent of dialect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
    Json(serde_json::Value),
    Decimal(Decimal),
    Bool(bool),
    Float(f64),
    Bytes(Vec<u8>),
}

impl Value {
    /// Appends the canonical bytes a checksum is computed over: a tag, then a fixed-width or
    /// length-prefixed form, so no two different rows can share an encoding.
    pub(crate) fn canonical(&self, out: &mut Vec<u8>) {
        fn prefixed(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
            out.push(tag);
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        match self {
            Value::Null => out.push(0),
            Value::Int(v) => {
                out.push(1);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Value::Text(v) => prefixed(2, v.as_bytes(), out),
            // Microseconds: PostgreSQL's resolution, truncated as the driver binds them.
            Value::Time(v) => {
                out.push(3);
                out.extend_from_slice(&v.timestamp_micros().to_be_bytes());
            }
            Value::Json(v) => prefixed(4, v.to_string().as_bytes(), out),
            Value::Decimal(v) => {
                let v = v.normalize();
                out.push(5);
                out.extend_from_slice(&v.mantissa().to_be_bytes());
                out.extend_from_slice(&v.scale().to_be_bytes());
            }
            Value::Bool(v) => out.extend_from_slice(&[6, u8::from(*v)]),
            Value::Float(v) => {
                out.push(7);
                out.extend_from_slice(&v.to_bits().to_be_bytes());
            }
            Value::Bytes(v) => prefixed(8, v, out),
        }
    }

    /// What kind of value this is, for messages (which never show the value itself).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Text(_) => "text",
            Value::Time(_) => "a timestamp",
            Value::Json(_) => "JSON",
            Value::Decimal(_) => "a decimal",
            Value::Bool(_) => "a boolean",
            Value::Float(_) => "a float",
            Value::Bytes(_) => "bytes",
        }
    }

    /// Whether this value may go into a PostgreSQL column of type `ty`.
    pub(crate) fn fits(&self, ty: &ColumnType) -> bool {
        matches!(
            (self, ty),
            (Value::Null, _)
                | (Value::Int(_), ColumnType::Integer)
                | (Value::Text(_), ColumnType::Text)
                | (Value::Time(_), ColumnType::Timestamp)
                | (Value::Json(_), ColumnType::Json)
                | (Value::Decimal(_), ColumnType::Decimal)
                | (Value::Bool(_), ColumnType::Boolean)
                | (Value::Float(_), ColumnType::Float)
                | (Value::Bytes(_), ColumnType::Bytes)
        )
    }

    /// Appends this value as one field of a binary `COPY`.
    pub(crate) fn copy_binary(&self, out: &mut BinaryCopy<'_>) -> Result<(), sqlx::Error> {
        match self {
            Value::Null => out.field(&None::<i64>),
            Value::Int(v) => out.field(v),
            Value::Text(v) => out.field(&v.as_str()),
            Value::Time(v) => out.field(v),
            Value::Json(v) => out.field(&Json(v)),
            Value::Decimal(v) => out.field(v),
            Value::Bool(v) => out.field(v),
            Value::Float(v) => out.field(v),
            Value::Bytes(v) => out.field(&v.as_slice()),
        }
    }
}

/// An order-independent digest of rows: their count and the sum and XOR of a hash of each
/// row's canonical text, so two sides agree however their rows are ordered.
#[derive(Default)]
pub(crate) struct RowDigest {
    /// Rows digested.
    pub(crate) count: i64,
    sum: u128,
    xor: u128,
    bytes: Vec<u8>,
}

impl RowDigest {
    pub(crate) fn add(&mut self, row: &[Value]) {
        self.bytes.clear();
        for value in row {
            value.canonical(&mut self.bytes);
        }
        let hash = Sha256::digest(&self.bytes);
        let mut first = [0u8; 16];
        first.copy_from_slice(&hash[..16]);
        let h = u128::from_be_bytes(first);
        self.sum = self.sum.wrapping_add(h);
        self.xor ^= h;
        self.count += 1;
    }

    /// The digest of both halves of a table read separately.
    pub(crate) fn merged(self, other: RowDigest) -> RowDigest {
        RowDigest {
            count: self.count + other.count,
            sum: self.sum.wrapping_add(other.sum),
            xor: self.xor ^ other.xor,
            bytes: Vec::new(),
        }
    }

    pub(crate) fn checksum(&self) -> String {
        format!("{:032x}{:032x}", self.sum, self.xor)
    }
}

/// One PostgreSQL column, by its stored type.
pub(crate) fn decode_postgres(
    row: &sqlx::postgres::PgRow,
    i: usize,
    ty: &ColumnType,
) -> Result<Value, sqlx::Error> {
    // The column types were read from the catalogue, so each value is decoded as that type
    // directly, without the driver's per-value compatibility check (a fifth of a large read).
    fn decode<'r, T: Decode<'r, Postgres>>(raw: PgValueRef<'r>) -> Result<T, sqlx::Error> {
        T::decode(raw).map_err(sqlx::Error::Decode)
    }
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        ColumnType::Integer => Value::Int(decode(raw)?),
        ColumnType::Boolean => Value::Bool(decode(raw)?),
        ColumnType::Float => Value::Float(decode(raw)?),
        ColumnType::Bytes => Value::Bytes(decode(raw)?),
        ColumnType::Timestamp => Value::Time(decode(raw)?),
        ColumnType::Json => Value::Json(decode::<Json<serde_json::Value>>(raw)?.0),
        ColumnType::Decimal => Value::Decimal(decode(raw)?),
        ColumnType::Text => Value::Text(decode(raw)?),
        ColumnType::Other(_) => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::Text),
    })
}

/// How a PostgreSQL column of stored type `ty` is selected for [`decode_copied`]: cast to the
/// one binary form read for its type (JSON and decimals as their text). None for a type the
/// driver reads otherwise (`character(n)` as text loses its padding, say): such a table's rows
/// are not copied this way.
pub(crate) fn copied_cast(ty: &ColumnType) -> Option<&'static str> {
    match ty {
        ColumnType::Integer => Some("::int8"),
        ColumnType::Float => Some("::float8"),
        ColumnType::Json | ColumnType::Decimal | ColumnType::Text => Some("::text"),
        ColumnType::Boolean | ColumnType::Bytes | ColumnType::Timestamp => Some(""),
        ColumnType::Other(_) => None,
    }
}

/// One field of a binary `COPY` of a column selected as [`copied_cast`] says: the value
/// [`decode_postgres`] reads from the same column.
pub(crate) fn decode_copied(field: Option<&[u8]>, ty: &ColumnType) -> Result<Value, sqlx::Error> {
    let Some(bytes) = field else {
        return Ok(Value::Null);
    };
    let wrong = |what: &str| sqlx::Error::Decode(format!("a copied {what}").into());
    let text = || std::str::from_utf8(bytes).map_err(|_| wrong("text that is not UTF-8"));
    Ok(match ty {
        ColumnType::Integer => Value::Int(i64::from_be_bytes(
            bytes
                .try_into()
                .map_err(|_| wrong("bigint not of 8 bytes"))?,
        )),
        ColumnType::Float => Value::Float(f64::from_be_bytes(
            bytes
                .try_into()
                .map_err(|_| wrong("float not of 8 bytes"))?,
        )),
        ColumnType::Boolean => match bytes {
            [b] => Value::Bool(*b != 0),
            _ => return Err(wrong("boolean not of 1 byte")),
        },
        ColumnType::Bytes => Value::Bytes(bytes.to_vec()),
        ColumnType::Timestamp => Value::Time(
            Eight::read(bytes)
                .ok_or_else(|| wrong("timestamp not of 8 bytes"))?
                .time()?,
        ),
        ColumnType::Json => Value::Json(
            serde_json::from_str(text()?).map_err(|err| sqlx::Error::Decode(err.into()))?,
        ),
        // Parsed as the SQLite side's text is ([`typed`]).
        ColumnType::Decimal => Value::Decimal(
            text()?
                .parse()
                .map_err(|err: rust_decimal::Error| sqlx::Error::Decode(err.into()))?,
        ),
        ColumnType::Text => Value::Text(text()?.to_owned()),
        ColumnType::Other(_) => return Err(wrong("column of a type only the driver reads")),
    })
}

/// SQLite stores timestamps, JSON and decimals as text: give them their real types using the
/// target's (PostgreSQL's) column types, which name what the text holds.
fn typed(text: &str, ty: &ColumnType) -> Value {
    let parsed = match ty {
        ColumnType::Timestamp => parse_time(text).map(Value::Time),
        ColumnType::Json => serde_json::from_str(text).ok().map(Value::Json),
        ColumnType::Decimal => text.parse().ok().map(Value::Decimal),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::Text(text.to_owned()))
}

/// A SQLite timestamp, cut to whole microseconds: what PostgreSQL can hold, and the same
/// instant whichever side a checksum is taken on.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .ok()
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(6))
}

/// One SQLite column, by the column's logical type (SQLite stores booleans as integers and
/// timestamps, JSON and decimals as text).
pub(crate) fn from_sqlite(value: ValueRef<'_>, ty: &ColumnType) -> Result<Value, String> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => match ty {
            ColumnType::Boolean => Value::Bool(i != 0),
            ColumnType::Float => Value::Float(i as f64),
            _ => Value::Int(i),
        },
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(bytes) => {
            let text =
                std::str::from_utf8(bytes).map_err(|e| format!("text that is not UTF-8: {e}"))?;
            typed(text, ty)
        }
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    })
}
