//! PostgreSQL's binary `COPY … FROM STDIN (FORMAT binary)` stream, each field encoded by the
//! driver's own parameter encoder, so a value arrives exactly as it would when bound in a query
//! (and the server parses no text).

use sqlx::encode::{Encode, IsNull};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgConnection};
use sqlx::Postgres;

/// The format's signature, flags and header-extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Bytes buffered before they are sent.
const CHUNK: usize = 1 << 20;

/// Binary `COPY` rows being written to one table.
pub(crate) struct BinaryCopy<'c> {
    copy: sqlx::postgres::PgCopyIn<&'c mut PgConnection>,
    buffer: PgArgumentBuffer,
    rows: u64,
}

impl<'c> BinaryCopy<'c> {
    /// Starts `COPY table (columns) FROM STDIN (FORMAT binary)`.
    pub(crate) async fn start(
        conn: &'c mut PgConnection,
        table: &str,
        columns: &str,
    ) -> Result<Self, sqlx::Error> {
        let statement = format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)");
        let copy = conn.copy_in_raw(&statement).await?;
        let mut buffer = PgArgumentBuffer::default();
        buffer.extend_from_slice(HEADER);
        Ok(Self {
            copy,
            buffer,
            rows: 0,
        })
    }

    /// Begins a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: usize) -> Result<(), sqlx::Error> {
        let fields = i16::try_from(fields).map_err(|e| sqlx::Error::Encode(e.into()))?;
        self.buffer.extend_from_slice(&fields.to_be_bytes());
        self.rows += 1;
        Ok(())
    }

    /// Appends one field (`None` is NULL).
    pub(crate) fn field<'q, T: Encode<'q, Postgres>>(
        &mut self,
        value: &T,
    ) -> Result<(), sqlx::Error> {
        self.put(value).map_err(sqlx::Error::Encode)
    }

    fn put<'q, T: Encode<'q, Postgres>>(&mut self, value: &T) -> Result<(), BoxDynError> {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(&[0; 4]);
        let length = match value.encode_by_ref(&mut self.buffer)? {
            IsNull::Yes => -1,
            IsNull::No => i32::try_from(self.buffer.len() - start - 4)?,
        };
        self.buffer[start..start + 4].copy_from_slice(&length.to_be_bytes());
        Ok(())
    }

    /// Sends what is buffered once it is large enough.
    pub(crate) async fn flush_if_full(&mut self) -> Result<(), sqlx::Error> {
        if self.buffer.len() >= CHUNK {
            self.copy.send(self.buffer.as_slice()).await?;
            // A fresh buffer also drops the driver's per-value bookkeeping.
            self.buffer = PgArgumentBuffer::default();
        }
        Ok(())
    }

    /// Ends the stream; returns the rows written.
    pub(crate) async fn finish(mut self) -> Result<u64, sqlx::Error> {
        self.buffer.extend_from_slice(&(-1i16).to_be_bytes());
        self.copy.send(self.buffer.as_slice()).await?;
        self.copy.finish().await?;
        Ok(self.rows)
    }
}
