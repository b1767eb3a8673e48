//! The schema's history as data: revisions, targets, plans, checksums, drift and the
//! fingerprint. Nothing here touches a database, so all of it is tested without one.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

use super::revisions;
use crate::dialect::Dialect;
use crate::error::{Drift, MigrationError, StoreError};

/// Up and down SQL of one revision for one dialect.
#[derive(Debug, Clone, Copy)]
pub struct Scripts {
    /// Brings the schema from the previous revision to this one.
    pub up: &'static str,
    /// Brings the schema back to the previous revision.
    pub down: &'static str,
}

/// One step in the schema's history.
#[derive(Debug, Clone, Copy)]
pub struct Revision {
    /// The id stored in `alembic_version`, e.g. `0001_raptor_baseline`.
    pub id: &'static str,
    /// A one-line description, printed by `history` and while migrating.
    pub message: &'static str,
    /// SQL for SQLite.
    pub sqlite: Scripts,
    /// SQL for PostgreSQL.
    pub postgres: Scripts,
    /// Whether the revision runs in one transaction. A revision that needs statements
    /// PostgreSQL refuses inside a transaction (`CREATE INDEX CONCURRENTLY`) sets this to
    /// false; its statements, one per `;`-terminated line, then run one at a time.
    pub transactional: bool,
    /// SQLite only: the revision rebuilds a table others refer to (SQLite cannot alter a
    /// table's checks), so foreign keys are not enforced while it runs. `PRAGMA foreign_keys`
    /// only takes effect outside a transaction, so it is set around the revision's.
    pub foreign_keys_off: bool,
}

impl Revision {
    /// The scripts for a dialect.
    pub fn scripts(&self, dialect: Dialect) -> &Scripts {
        dialect.choose(&self.sqlite, &self.postgres)
    }

    /// SHA-256 of the up SQL for a dialect: what the database recorded when it applied it.
    pub fn checksum(&self, dialect: Dialect) -> String {
        hex_sha256(self.scripts(dialect).up)
    }
}

fn hex_sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// A revision as displayed: `<base>` for none.
pub(super) fn label(id: Option<&str>) -> String {
    id.unwrap_or("<base>").to_owned()
}

/// Which way a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards head.
    Upgrade,
    /// Towards base.
    Downgrade,
}

impl Direction {
    pub(super) fn name(self) -> &'static str {
        match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        }
    }
}

/// One applied (or planned) step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Which way it went.
    pub direction: Direction,
    /// The revision before the step (None: base).
    pub from: Option<String>,
    /// The revision after the step (None: base).
    pub to: Option<String>,
    /// The message of the revision applied or reverted.
    pub message: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Running {} {} -> {}, {}",
            self.direction.name(),
            self.from.as_deref().unwrap_or(""),
            self.to.as_deref().unwrap_or(""),
            self.message
        )
    }
}

/// Where a database stands against this binary's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The revision in `alembic_version` (None: base, nothing applied).
    pub current: Option<String>,
    /// The newest revision this binary knows.
    pub head: Option<String>,
    /// Applied revisions whose SQL no longer matches.
    pub drift: Vec<Drift>,
}

impl Status {
    /// Whether the database is at this binary's head.
    pub fn is_head(&self) -> bool {
        self.current == self.head
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.current {
            None => write!(f, "<base> (no revision applied)")?,
            Some(current) if self.is_head() => write!(f, "{current} (head)")?,
            Some(current) => write!(
                f,
                "{current} (behind head {})",
                self.head.as_deref().unwrap_or("<base>")
            )?,
        }
        for drift in &self.drift {
            write!(f, "\nWARNING: {drift}")?;
        }
        Ok(())
    }
}

/// The one version `alembic_version` may hold (None: base).
pub(super) fn single_version(mut rows: Vec<String>) -> Result<Option<String>, MigrationError> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        n => Err(MigrationError::MultipleHeads(n)),
    }
}

/// Statements of a non-transactional revision: each ends with `;` at the end of a line.
pub(super) fn split_statements(sql: &str) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut start = 0;
    for (offset, line) in line_spans(sql) {
        if line.trim_end().ends_with(';') {
            let end = offset + line.len();
            let statement = sql[start..end].trim();
            if !statement.is_empty() && !is_comment_only(statement) {
                statements.push(statement);
            }
            start = end;
        }
    }
    let rest = sql[start..].trim();
    if !rest.is_empty() && !is_comment_only(rest) {
        statements.push(rest);
    }
    statements
}

fn line_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0, |offset, line| {
        let at = *offset;
        *offset += line.len();
        Some((at, line))
    })
}

fn is_comment_only(statement: &str) -> bool {
    statement
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
}

/// A step with the revision whose SQL it runs.
pub(super) struct PlannedStep<'a> {
    pub(super) step: Step,
    pub(super) revision: &'a Revision,
}

impl PlannedStep<'_> {
    pub(super) fn sql(&self, dialect: Dialect) -> &'static str {
        let scripts = self.revision.scripts(dialect);
        match self.step.direction {
            Direction::Upgrade => scripts.up,
            Direction::Downgrade => scripts.down,
        }
    }

    pub(super) fn failure(&self, source: sqlx::Error) -> MigrationError {
        MigrationError::StepFailed {
            direction: self.step.direction.name(),
            from: label(self.step.from.as_deref()),
            to: label(self.step.to.as_deref()),
            source,
        }
    }

    pub(super) fn partial_failure(&self, source: sqlx::Error) -> MigrationError {
        MigrationError::PartialStepFailed {
            direction: self.step.direction.name(),
            from: label(self.step.from.as_deref()),
            to: label(self.step.to.as_deref()),
            source,
        }
    }
}

/// The linear history of revisions and the operations on it.
#[derive(Debug, Clone)]
pub struct Migrator {
    revisions: Vec<Revision>,
}

impl Migrator {
    /// The history embedded in this binary.
    pub fn embedded() -> Self {
        Self::new(revisions::EMBEDDED.to_vec())
    }

    /// A history from an explicit list, oldest first (tests use it to add revisions).
    ///
    /// # Panics
    /// When two revisions share an id: a programming error, caught by the first test.
    pub fn new(revisions: Vec<Revision>) -> Self {
        for (i, rev) in revisions.iter().enumerate() {
            assert!(
                revisions[..i].iter().all(|r| r.id != rev.id),
                "duplicate revision id {}",
                rev.id
            );
        }
        Self { revisions }
    }

    /// Every revision, oldest first.
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// The newest revision id.
    pub fn head(&self) -> Option<&'static str> {
        self.revisions.last().map(|r| r.id)
    }

    /// A digest of the whole history for both dialects: changes whenever any SQL changes.
    pub fn fingerprint(&self) -> String {
        let mut all = String::new();
        for rev in &self.revisions {
            for dialect in Dialect::ALL {
                let scripts = rev.scripts(dialect);
                all.push_str(&format!("{}\n{}\n{}\n", rev.id, scripts.up, scripts.down));
            }
        }
        hex_sha256(&all)
    }

    fn index_of(&self, id: &str) -> Result<usize, MigrationError> {
        self.revisions
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| MigrationError::UnknownRevision(id.to_owned()))
    }

    pub(super) fn position_of(
        &self,
        current: Option<&str>,
    ) -> Result<Option<usize>, MigrationError> {
        current.map(|id| self.index_of(id)).transpose()
    }

    /// Resolves `head`, `base`, `+N`, `-N`, an id or a unique id prefix to a position.
    pub(super) fn resolve(
        &self,
        spec: &str,
        current: Option<usize>,
    ) -> Result<Option<usize>, MigrationError> {
        let spec = spec.trim();
        match spec {
            "head" | "heads" => return Ok(self.revisions.len().checked_sub(1)),
            "base" => return Ok(None),
            _ => {}
        }
        if let Some(relative) = parse_relative(spec) {
            let from = current.map_or(-1, |c| c as i64);
            let to = from + relative;
            return match to {
                -1 => Ok(None),
                t if t >= 0 && (t as usize) < self.revisions.len() => Ok(Some(t as usize)),
                _ => Err(MigrationError::RelativeOutOfRange(spec.to_owned())),
            };
        }
        if let Ok(index) = self.index_of(spec) {
            return Ok(Some(index));
        }
        let matches: Vec<usize> = (0..self.revisions.len())
            .filter(|&i| !spec.is_empty() && self.revisions[i].id.starts_with(spec))
            .collect();
        match matches.as_slice() {
            [one] => Ok(Some(*one)),
            [] => Err(MigrationError::UnknownRevision(spec.to_owned())),
            many => Err(MigrationError::Ambiguous {
                prefix: spec.to_owned(),
                matches: many
                    .iter()
                    .map(|&i| self.revisions[i].id)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Checks that a target names a known revision (no database needed).
    pub fn validate_target(&self, spec: &str) -> Result<(), StoreError> {
        if parse_relative(spec).is_some() {
            return Ok(());
        }
        self.resolve(spec, None)?;
        Ok(())
    }

    pub(super) fn id_at(&self, position: Option<usize>) -> Option<String> {
        position.map(|i| self.revisions[i].id.to_owned())
    }

    /// The steps that lead from `from` to `to`.
    pub(super) fn plan(&self, from: Option<usize>, to: Option<usize>) -> Vec<PlannedStep<'_>> {
        let (start, end) = (from.map_or(0, |f| f + 1), to.map_or(0, |t| t + 1));
        if end >= start {
            (start..end)
                .map(|i| PlannedStep {
                    step: Step {
                        direction: Direction::Upgrade,
                        from: self.id_at(i.checked_sub(1)),
                        to: self.id_at(Some(i)),
                        message: self.revisions[i].message.to_owned(),
                    },
                    revision: &self.revisions[i],
                })
                .collect()
        } else {
            (end..start)
                .rev()
                .map(|i| PlannedStep {
                    step: Step {
                        direction: Direction::Downgrade,
                        from: self.id_at(Some(i)),
                        to: self.id_at(i.checked_sub(1)),
                        message: self.revisions[i].message.to_owned(),
                    },
                    revision: &self.revisions[i],
                })
                .collect()
        }
    }

    pub(super) fn drift(
        &self,
        dialect: Dialect,
        upto: Option<usize>,
        recorded: &HashMap<String, String>,
    ) -> Vec<Drift> {
        let applied = upto.map_or(0, |u| u + 1);
        self.revisions[..applied]
            .iter()
            .filter_map(|rev| {
                let embedded = rev.checksum(dialect);
                let recorded = recorded.get(rev.id).cloned();
                (recorded.as_deref() != Some(embedded.as_str())).then(|| Drift {
                    revision: rev.id.to_owned(),
                    recorded,
                    embedded,
                })
            })
            .collect()
    }

    /// The history, newest first, as `alembic history` prints it.
    pub fn history(&self) -> Vec<String> {
        self.revisions
            .iter()
            .enumerate()
            .rev()
            .map(|(i, rev)| {
                let parent = i.checked_sub(1).map_or("<base>", |p| self.revisions[p].id);
                let head = if i + 1 == self.revisions.len() {
                    " (head)"
                } else {
                    ""
                };
                format!("{parent} -> {}{head}, {}", rev.id, rev.message)
            })
            .collect()
    }
}

fn parse_relative(spec: &str) -> Option<i64> {
    let (sign, digits) = match spec.as_bytes().first()? {
        b'+' => (1, &spec[1..]),
        b'-' => (-1, &spec[1..]),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().map(|n| sign * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn rev(id: &'static str) -> Revision {
        Revision {
            id,
            message: "test",
            sqlite: Scripts { up: "", down: "" },
            postgres: Scripts { up: "", down: "" },
            transactional: true,
            foreign_keys_off: false,
        }
    }

    fn migrator() -> Migrator {
        Migrator::new(vec![rev("0001_a"), rev("0002_b"), rev("0003_c")])
    }

    #[test]
    fn targets_resolve_by_name_prefix_and_relative_step() {
        let m = migrator();
        assert_eq!(m.resolve("head", None).ok(), Some(Some(2)));
        assert_eq!(m.resolve("base", Some(2)).ok(), Some(None));
        assert_eq!(m.resolve("0002_b", None).ok(), Some(Some(1)));
        assert_eq!(m.resolve("0002", None).ok(), Some(Some(1)));
        assert_eq!(m.resolve("-1", Some(2)).ok(), Some(Some(1)));
        assert_eq!(m.resolve("-1", Some(0)).ok(), Some(None));
        assert_eq!(m.resolve("+2", None).ok(), Some(Some(1)));
    }

    #[test]
    fn unknown_revisions_are_reported_as_alembic_does() {
        let err = migrator().resolve("deadbeef", None).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "Can't locate revision identified by 'deadbeef'"
        );
    }

    #[test]
    fn ambiguous_prefixes_and_out_of_range_steps_are_refused() {
        let m = migrator();
        assert!(matches!(
            m.resolve("000", None),
            Err(MigrationError::Ambiguous { .. })
        ));
        assert!(matches!(
            m.resolve("-2", Some(0)),
            Err(MigrationError::RelativeOutOfRange(_))
        ));
        assert!(matches!(
            m.resolve("+4", None),
            Err(MigrationError::RelativeOutOfRange(_))
        ));
    }

    #[test]
    fn history_lists_newest_first_with_parents() {
        assert_eq!(
            migrator().history(),
            vec![
                "0002_b -> 0003_c (head), test",
                "0001_a -> 0002_b, test",
                "<base> -> 0001_a, test",
            ]
        );
    }

    #[test]
    fn non_transactional_scripts_split_at_line_ending_semicolons() {
        let sql = "-- comment\nCREATE INDEX CONCURRENTLY a ON t (x);\nCREATE INDEX CONCURRENTLY b\n  ON t (y);\n";
        assert_eq!(
            split_statements(sql),
            vec![
                "-- comment\nCREATE INDEX CONCURRENTLY a ON t (x);",
                "CREATE INDEX CONCURRENTLY b\n  ON t (y);"
            ]
        );
    }

    #[test]
    fn embedded_ids_fit_alembic_version() {
        for rev in Migrator::embedded().revisions() {
            assert!(rev.id.len() <= 32, "{} is longer than VARCHAR(32)", rev.id);
        }
    }

    #[test]
    fn embedded_history_starts_with_the_baseline() {
        let m = Migrator::embedded();
        assert_eq!(m.revisions()[0].id, "0001_raptor_baseline");
        assert_eq!(m.revisions()[0].message, "raptor baseline");
    }
}
