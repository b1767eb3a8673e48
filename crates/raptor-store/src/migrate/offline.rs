//! Offline migration scripts (alembic's `--sql`): what `upgrade`/`downgrade` would run, as
//! one SQL text for a DBA to review and run by hand. Needs no connection.

use super::history::label;
use super::{Direction, Migrator};
use crate::dialect::migration::bookkeeping_ddl;
use crate::dialect::Dialect;
use crate::error::StoreError;

impl Migrator {
    /// The SQL `upgrade`/`downgrade` would run between two revisions, for a DBA to review
    /// (alembic's offline mode). Needs no connection.
    pub fn offline_sql(
        &self,
        dialect: Dialect,
        from: &str,
        to: &str,
    ) -> Result<String, StoreError> {
        let from_pos = self.resolve(from, None)?;
        let to_pos = self.resolve(to, from_pos)?;
        let now = chrono::Utc::now().to_rfc3339();
        let mut out = format!(
            "-- Raptor migration script for {dialect}: {} -> {}\n-- Generated {now}; review, then run with psql/sqlite3 or `raptor db upgrade`.\n\n{}\n",
            label(self.id_at(from_pos).as_deref()),
            label(self.id_at(to_pos).as_deref()),
            bookkeeping_ddl(dialect)
        );
        for planned in self.plan(from_pos, to_pos) {
            let step = &planned.step;
            out.push_str(&format!("\n-- {step}\n"));
            let transactional = planned.revision.transactional;
            let pragmas = planned
                .revision
                .foreign_keys_off
                .then(|| dialect.foreign_keys_off_and_on())
                .flatten();
            if let Some((off, _)) = pragmas {
                out.push_str(&format!("{off};\n"));
            }
            if transactional {
                out.push_str(&format!("{};\n", dialect.begin_write()));
            }
            out.push_str(planned.sql(dialect).trim_end());
            out.push('\n');
            match (&step.from, &step.to) {
                (None, Some(to)) => out.push_str(&format!(
                    "INSERT INTO alembic_version (version_num) VALUES ('{to}');\n"
                )),
                (Some(from), Some(to)) => out.push_str(&format!(
                    "UPDATE alembic_version SET version_num = '{to}' WHERE version_num = '{from}';\n"
                )),
                (Some(from), None) => out.push_str(&format!(
                    "DELETE FROM alembic_version WHERE version_num = '{from}';\n"
                )),
                (None, None) => {}
            }
            let id = planned.revision.id;
            match step.direction {
                Direction::Upgrade => out.push_str(&format!(
                    "INSERT INTO raptor_migration_checksums (version_num, checksum, recorded_at) \
                     VALUES ('{id}', '{}', '{now}') ON CONFLICT (version_num) DO UPDATE \
                     SET checksum = excluded.checksum, recorded_at = excluded.recorded_at;\n",
                    planned.revision.checksum(dialect)
                )),
                Direction::Downgrade => out.push_str(&format!(
                    "DELETE FROM raptor_migration_checksums WHERE version_num = '{id}';\n"
                )),
            }
            if transactional {
                out.push_str("COMMIT;\n");
            }
            if let Some((_, on)) = pragmas {
                out.push_str(&format!("{on};\n"));
            }
        }
        Ok(out)
    }
}
