//! Database URLs as operators type them (SQLAlchemy and libpq forms), parsed into a connect
//! target whose printable form never carries a password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::dialect::Dialect;
use crate::error::UrlError;

/// The file used when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_FILE: &str = "raptor.db";

/// Query parameters whose values are secrets and are masked when a URL is printed.
const SECRET_PARAMS: &[&str] = &["password", "sslpassword"];

fn malformed(reason: impl Into<String>) -> UrlError {
    UrlError::Malformed {
        reason: reason.into(),
    }
}

/// Where a database lives, as parsed from a URL.
#[derive(Clone)]
pub(crate) enum Target {
    SqliteFile(PathBuf),
    SqliteMemory,
    Postgres(Box<PgConnectOptions>),
}

/// A parsed database URL. Its `Display` and `Debug` forms are redacted.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub(crate) target: Target,
    redacted: String,
}

impl DatabaseUrl {
    /// Parses any accepted form; see [`crate::ACCEPTED_FORMS`].
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(malformed("expected SCHEME://..., found no '://'"));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite+pysqlite" => parse_sqlite(rest),
            "postgres" | "postgresql" | "postgresql+psycopg2" | "postgres+psycopg2" => {
                parse_postgres(rest)
            }
            other => Err(UrlError::UnsupportedScheme {
                scheme: printable_scheme(other),
            }),
        }
    }

    /// The URL from an optional environment value: unset or blank means `./raptor.db`.
    pub fn from_env_value(value: Option<&str>) -> Result<Self, UrlError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::sqlite_file(DEFAULT_SQLITE_FILE)),
            Some(raw) => Self::parse(raw),
        }
    }

    /// A SQLite database in the given file.
    pub fn sqlite_file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        // An absolute path brings its own slash, giving SQLAlchemy's four.
        let redacted = format!("sqlite:///{}", path.display());
        Self {
            target: Target::SqliteFile(path),
            redacted,
        }
    }

    /// The dialect this URL speaks.
    pub fn dialect(&self) -> Dialect {
        match self.target {
            Target::SqliteFile(_) | Target::SqliteMemory => Dialect::Sqlite,
            Target::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The URL with any password masked, safe for logs and error messages.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted)
    }
}

/// Schemes are echoed back to help the operator, but only when they look like a scheme.
fn printable_scheme(scheme: &str) -> String {
    let plausible = scheme.len() <= 32
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if plausible {
        scheme.to_owned()
    } else {
        "<unrecognised>".to_owned()
    }
}

/// SQLAlchemy semantics: `sqlite:///rel.db` is relative, `sqlite:////abs.db` absolute.
fn parse_sqlite(rest: &str) -> Result<DatabaseUrl, UrlError> {
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let name = query.split(['=', '&']).next().unwrap_or_default();
        return Err(malformed(format!(
            "sqlite URLs take no query parameters (found '{name}')"
        )));
    }
    if matches!(path, ":memory:" | "/:memory:") {
        return Ok(DatabaseUrl {
            target: Target::SqliteMemory,
            redacted: "sqlite://:memory:".to_owned(),
        });
    }
    let Some(file) = path.strip_prefix('/') else {
        return Err(malformed(
            "a sqlite URL needs three slashes before a relative path (sqlite:///raptor.db) \
             and four before an absolute one (sqlite:////var/lib/raptor.db)",
        ));
    };
    if file.is_empty() || file.ends_with('/') {
        return Err(malformed("the sqlite URL names no database file"));
    }
    Ok(DatabaseUrl::sqlite_file(file))
}

fn parse_postgres(rest: &str) -> Result<DatabaseUrl, UrlError> {
    let normalized = format!("postgres://{rest}");
    let parsed = url::Url::parse(&normalized)
        .map_err(|err| malformed(format!("invalid PostgreSQL URL: {err}")))?;
    let password = parsed
        .password()
        .map(|p| {
            url::form_urlencoded::parse(format!("p={p}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .filter(|p| !p.is_empty());
    let redacted = redact_postgres(&parsed);
    let options = PgConnectOptions::from_str(&normalized).map_err(|err| {
        let mut reason = err.to_string();
        if let Some(password) = &password {
            reason = reason.replace(password.as_str(), "***");
        }
        malformed(format!("invalid PostgreSQL URL: {reason}"))
    })?;
    Ok(DatabaseUrl {
        target: Target::Postgres(Box::new(options)),
        redacted,
    })
}

fn redact_postgres(parsed: &url::Url) -> String {
    let mut shown = parsed.clone();
    if shown.password().is_some() {
        // Setting a password only fails for URLs that cannot have one, which this one does.
        let _ = shown.set_password(Some("***"));
    }
    let masked: Vec<(String, String)> = shown
        .query_pairs()
        .map(|(k, v)| {
            let secret = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
            (
                k.into_owned(),
                if secret { "***".into() } else { v.into_owned() },
            )
        })
        .collect();
    if !masked.is_empty() {
        shown.query_pairs_mut().clear().extend_pairs(masked);
    }
    shown.as_str().replacen("postgres://", "postgresql://", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_path(url: &str) -> PathBuf {
        match DatabaseUrl::parse(url).expect("valid url").target {
            Target::SqliteFile(path) => path,
            _ => panic!("{url} should be a sqlite file"),
        }
    }

    #[test]
    fn three_slashes_mean_a_relative_path() {
        assert_eq!(
            sqlite_path("sqlite:///raptor.db"),
            PathBuf::from("raptor.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///./data/r.db"),
            PathBuf::from("./data/r.db")
        );
    }

    #[test]
    fn four_slashes_mean_an_absolute_path() {
        assert_eq!(
            sqlite_path("sqlite:////var/lib/r.db"),
            PathBuf::from("/var/lib/r.db")
        );
    }

    #[test]
    fn pysqlite_driver_suffix_is_accepted_as_the_runbook_types_it() {
        let url = DatabaseUrl::parse("sqlite+pysqlite:///./raptor.db").expect("valid");
        assert_eq!(url.dialect(), Dialect::Sqlite);
        assert_eq!(
            sqlite_path("sqlite+pysqlite:///./raptor.db"),
            PathBuf::from("./raptor.db")
        );
    }

    #[test]
    fn memory_forms_are_recognised() {
        for raw in ["sqlite://:memory:", "sqlite:///:memory:"] {
            let url = DatabaseUrl::parse(raw).expect("valid");
            assert!(matches!(url.target, Target::SqliteMemory), "{raw}");
        }
    }

    #[test]
    fn unset_or_blank_env_means_the_default_file() {
        for value in [None, Some(""), Some("  ")] {
            let url = DatabaseUrl::from_env_value(value).expect("default");
            assert_eq!(url.redacted(), "sqlite:///raptor.db");
        }
    }

    #[test]
    fn every_postgres_scheme_is_postgresql() {
        for scheme in [
            "postgres",
            "postgresql",
            "postgresql+psycopg2",
            "POSTGRESQL",
        ] {
            let url =
                DatabaseUrl::parse(&format!("{scheme}://u@db.example:5432/raxx")).expect("valid");
            assert_eq!(url.dialect(), Dialect::Postgres, "{scheme}");
            assert_eq!(url.redacted(), "postgresql://u@db.example:5432/raxx");
        }
    }

    #[test]
    fn sslmode_is_honoured_and_invalid_modes_are_refused() {
        let url = DatabaseUrl::parse("postgresql://u:pw@h/db?sslmode=require").expect("valid");
        let Target::Postgres(options) = &url.target else {
            panic!("postgres target expected");
        };
        assert!(format!("{options:?}").contains("Require"));
        let err = DatabaseUrl::parse("postgresql://u:pw@h/db?sslmode=sometimes")
            .expect_err("invalid sslmode");
        assert!(err.to_string().contains("sslmode"), "{err}");
    }

    #[test]
    fn passwords_are_masked_in_the_printable_form() {
        let url = DatabaseUrl::parse(
            "postgresql+psycopg2://raptor:s3cr%21t@ec2.amazonaws.com:5432/d1?sslmode=require",
        )
        .expect("valid");
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("postgresql://raptor:***@ec2.amazonaws.com:5432/d1?sslmode=require"));
    }

    #[test]
    fn password_query_parameters_are_masked_too() {
        let url = DatabaseUrl::parse("postgres://h/db?user=u&password=hunter2").expect("valid");
        assert!(!url.redacted().contains("hunter2"), "{}", url.redacted());
        assert!(url.redacted().contains("password=***"));
    }

    #[test]
    fn unknown_schemes_list_the_accepted_forms_without_secrets() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@localhost/raxx").expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("unsupported database URL scheme 'mysql'"),
            "{text}"
        );
        assert!(text.contains("sqlite:///relative/path.db"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn malformed_urls_are_refused_without_echoing_them() {
        let cases = [
            "root:hunter2@localhost/raxx",
            "sqlite://raptor.db",
            "sqlite:///",
            "sqlite:///r.db?mode=ro",
            "postgresql://u:hunter2@host:notaport/db",
        ];
        for raw in cases {
            let err = DatabaseUrl::parse(raw)
                .err()
                .unwrap_or_else(|| panic!("{raw} accepted"));
            let text = err.to_string();
            assert!(text.starts_with("malformed database URL"), "{raw}: {text}");
            assert!(text.contains("accepted forms"), "{raw}: {text}");
            assert!(!text.contains("hunter2"), "{raw}: {text}");
        }
    }
}
