//! `raptor audit`: checking the audit log's hash chain.

use std::process::ExitCode;

use clap::Subcommand;
use raptor_store::audit::{self, AuditFilter, Break, Order, Verification};
use raptor_store::{DatabaseUrl, Db, StoreError};
use serde_json::json;

use super::{connect_app, CliError};

/// Exit code when the chain is broken: a row was edited, deleted or forged.
pub const EXIT_BROKEN: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain from the first row to the last and name the first row that does
    /// not fit. Exits 0 when intact, 2 when broken, 1 when it could not check.
    Verify {
        /// Also require that row ID still has hash HASH (`ID:HASH`, a head noted earlier), so
        /// that a rewrite of the whole chain from that row on is caught too.
        #[arg(long, value_name = "ID:HASH")]
        anchor: Option<String>,
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// A head noted earlier: the row's id and its hash.
fn parse_anchor(raw: &str) -> Result<(i64, String), CliError> {
    let refused = || {
        CliError::Refused(format!(
            "'{raw}' is not an anchor like 120:<64 hex digits> (a head printed by an earlier verify)"
        ))
    };
    let (id, hash) = raw.split_once(':').ok_or_else(refused)?;
    let id: i64 = id.trim().parse().map_err(|_| refused())?;
    let hash = hash.trim().to_ascii_lowercase();
    if id < 1 || hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(refused());
    }
    Ok((id, hash))
}

/// Checks the anchor against an intact chain: the row must still be there with that hash.
async fn check_anchor(
    db: &Db,
    found: &mut Verification,
    (id, hash): (i64, String),
) -> Result<(), StoreError> {
    if found.broken.is_some() {
        return Ok(());
    }
    let filter = AuditFilter {
        after_id: Some(id - 1),
        ..AuditFilter::default()
    };
    let row = audit::search(db, &filter, Order::OldestFirst, 1).await?;
    let reason = match row.first() {
        Some(entry) if entry.id == id && entry.row_hash.as_deref() == Some(hash.as_str()) => {
            return Ok(())
        }
        Some(entry) if entry.id == id => {
            "its hash is not the anchor's: the chain was rewritten from this row or an earlier one"
        }
        _ => "the anchor's row is gone: rows at the end of the chain were deleted",
    };
    found.broken = Some(Break {
        id,
        reason: reason.to_owned(),
    });
    Ok(())
}

fn report_json(found: &Verification) -> serde_json::Value {
    json!({
        "intact": found.is_intact(),
        "rows": found.rows,
        "chained": found.chained,
        "unchained": found.unchained,
        "first_chained_id": found.first_chained_id,
        "head": found.head.as_ref().map(|(id, hash)| json!({ "id": id, "row_hash": hash })),
        "broken": found.broken.as_ref().map(|b| json!({ "id": b.id, "reason": b.reason })),
    })
}

fn report_text(found: &Verification) {
    match &found.broken {
        None => out!(
            "audit log intact: {} rows, {} chained{}",
            found.rows,
            found.chained,
            found
                .first_chained_id
                .map(|first| format!(" (from id {first})"))
                .unwrap_or_default()
        ),
        Some(broken) => out!("audit log BROKEN at row {}: {}", broken.id, broken.reason),
    }
    if found.unchained > 0 {
        out!(
            "{} rows were written before the chain began (revision 0006_audit_chain); no hash covers them",
            found.unchained
        );
    }
    if let Some((id, hash)) = &found.head {
        let last = if found.is_intact() {
            "head"
        } else {
            "last good row"
        };
        out!("{last}: {id}:{hash}");
    }
}

impl AuditCommand {
    /// Runs the command against the database at `url`.
    pub async fn run(self, url: &DatabaseUrl) -> Result<ExitCode, CliError> {
        match self {
            AuditCommand::Verify { anchor, json } => {
                // Parse before connecting: bad input is refused without touching the database.
                let anchor = anchor.as_deref().map(parse_anchor).transpose()?;
                let db = connect_app(url, false).await?;
                let outcome = async {
                    let mut found = audit::verify(&db).await?;
                    if let Some(anchor) = anchor {
                        check_anchor(&db, &mut found, anchor).await?;
                    }
                    Ok::<_, StoreError>(found)
                }
                .await;
                db.close().await;
                let found = outcome?;
                if json {
                    out!("{}", report_json(&found));
                } else {
                    report_text(&found);
                }
                Ok(if found.is_intact() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_BROKEN)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_anchor;

    #[test]
    fn anchors_are_an_id_and_a_sha256() {
        let hash = "Ab".repeat(32);
        assert_eq!(
            parse_anchor(&format!("12:{hash}")).expect("ok"),
            (12, hash.to_ascii_lowercase())
        );
        for bad in ["12", "x:ab", "0:abab", &format!("12:{}", "zz".repeat(32))] {
            assert!(parse_anchor(bad).is_err(), "{bad}");
        }
    }
}
