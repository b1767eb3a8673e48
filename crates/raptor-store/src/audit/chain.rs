//! The audit log's hash chain: the canonical bytes of a row and the hash that links it.
//!
//! Version 1 of the canonical form is the line `raptor-audit-v1`, then one line per field in
//! a fixed order, `name:LEN:VALUE` (`LEN` the byte length of `VALUE`, so values may hold any
//! byte, newlines included) or `name:-` for NULL, and last the previous row's hash the same
//! way. Integers are decimal; `created_at` is UTC with exactly six fractional digits
//! (`2026-12-02T14:19:03.123456Z`), which both dialects store exactly; `details` is JSON with
//! object keys sorted and no whitespace, so PostgreSQL's `JSONB` (which reorders keys) and
//! SQLite's text give the same bytes. `row_hash` is the lowercase hex SHA-256 of those bytes.
//! Changing any of this is a new version, never an edit: rows already written keep verifying.

use std::fmt::Write as _;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first chained row: there is no row before it.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The first line of every canonical form; the version names the encoding below.
const VERSION_LINE: &str = "raptor-audit-v1\n";

/// Every hashed field of one `audit_log` row, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRow {
    /// Row id.
    pub id: i64,
    /// When, to the microsecond.
    pub created_at: DateTime<Utc>,
    /// The acting user.
    pub actor_user_id: Option<i64>,
    /// The actor's email at the time.
    pub actor_email: Option<String>,
    /// `user`, `admin`, `operator` or `system`.
    pub actor_type: String,
    /// What happened.
    pub action: String,
    /// The kind of object acted on.
    pub target_type: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// A free-form description of the target.
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The HTTP request behind it.
    pub request_id: Option<String>,
    /// The session it came through.
    pub session_id: Option<i64>,
    /// Extra details.
    pub details: Option<Value>,
}

/// A timestamp as the chain stores it: truncated to microseconds, the precision both
/// dialects keep.
pub fn chain_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}

impl ChainRow {
    /// The version-1 canonical bytes of this row linked to `prev_hash`.
    pub fn canonical(&self, prev_hash: &str) -> String {
        let mut out = String::from(VERSION_LINE);
        let mut field = |name: &str, value: Option<&str>| match value {
            Some(value) => {
                let _ = writeln!(out, "{name}:{}:{value}", value.len());
            }
            None => {
                let _ = writeln!(out, "{name}:-");
            }
        };
        let created_at = self.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let details = self.details.as_ref().map(canonical_json);
        field("id", Some(&self.id.to_string()));
        field("created_at", Some(&created_at));
        field(
            "actor_user_id",
            self.actor_user_id.map(|id| id.to_string()).as_deref(),
        );
        field("actor_email", self.actor_email.as_deref());
        field("actor_type", Some(&self.actor_type));
        field("action", Some(&self.action));
        field("target_type", self.target_type.as_deref());
        field("target_id", self.target_id.as_deref());
        field("target", self.target.as_deref());
        field("outcome", Some(&self.outcome));
        field("ip", self.ip.as_deref());
        field("user_agent", self.user_agent.as_deref());
        field("request_id", self.request_id.as_deref());
        field(
            "session_id",
            self.session_id.map(|id| id.to_string()).as_deref(),
        );
        field("details", details.as_deref());
        field("prev_hash", Some(prev_hash));
        out
    }

    /// The row's hash when it follows a row whose hash is `prev_hash`.
    pub fn hash(&self, prev_hash: &str) -> String {
        let digest = Sha256::digest(self.canonical(prev_hash).as_bytes());
        digest.iter().fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    }
}

/// JSON with object keys sorted (by their UTF-8 bytes) and no whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
        // PostgreSQL's NUMERIC has no negative zero, so -0.0 comes back from JSONB as 0.0.
        Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => out.push_str("0.0"),
        // Other scalars print the same whatever the map order: serde_json's own text.
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn row() -> ChainRow {
        ChainRow {
            id: 7,
            created_at: Utc.with_ymd_and_hms(2026, 12, 2, 14, 19, 3).unwrap(),
            actor_user_id: Some(42),
            actor_email: Some("ada@example.com".into()),
            actor_type: "admin".into(),
            action: "role.grant".into(),
            target_type: Some("user".into()),
            target_id: Some("43".into()),
            target: None,
            outcome: "success".into(),
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            request_id: Some("req-1".into()),
            session_id: Some(5),
            details: Some(json!({ "role": "admin", "a": [1, 2.5, null] })),
        }
    }

    #[test]
    fn the_canonical_form_is_fixed_field_by_field() {
        assert_eq!(
            row().canonical(GENESIS),
            format!(
                "raptor-audit-v1\nid:1:7\ncreated_at:27:2026-12-02T14:19:03.000000Z\n\
                 actor_user_id:2:42\nactor_email:15:ada@example.com\nactor_type:5:admin\n\
                 action:10:role.grant\ntarget_type:4:user\ntarget_id:2:43\ntarget:-\n\
                 outcome:7:success\nip:9:127.0.0.1\nuser_agent:-\nrequest_id:5:req-1\n\
                 session_id:1:5\ndetails:33:{{\"a\":[1,2.5,null],\"role\":\"admin\"}}\n\
                 prev_hash:64:{GENESIS}\n"
            )
        );
    }

    #[test]
    fn key_order_does_not_change_the_hash_but_any_field_does() {
        let mut reordered = row();
        reordered.details =
            Some(serde_json::from_str(r#"{"role":"admin","a":[1,2.5,null]}"#).expect("json"));
        assert_eq!(reordered.hash(GENESIS), row().hash(GENESIS));
        let mut edited = row();
        edited.action = "role.revoke".into();
        assert_ne!(edited.hash(GENESIS), row().hash(GENESIS));
        assert_ne!(row().hash(&"1".repeat(64)), row().hash(GENESIS));
        // A value cannot pose as the next field: lengths make the encoding unambiguous.
        let mut shifted = row();
        shifted.target = Some("x".into());
        shifted.target_id = None;
        let mut other = row();
        other.target_id = Some("43\ntarget:1:x".into());
        assert_ne!(shifted.canonical(GENESIS), other.canonical(GENESIS));
        assert_eq!(row().hash(GENESIS).len(), 64);
        assert_eq!(canonical_json(&json!([-0.0, 0.0, 0])), "[0.0,0.0,0]");
    }

    #[test]
    fn chain_time_keeps_microseconds_only() {
        let at = Utc
            .timestamp_opt(1_700_000_000, 123_456_789)
            .single()
            .expect("time");
        assert_eq!(chain_time(at).timestamp_subsec_nanos(), 123_456_000);
    }
}
