//! Recurring work: each schedule enqueues one job per tick, keyed by the tick, so however many
//! processes enqueue it only one job exists and it runs once across the deployment.

use chrono::{DateTime, TimeZone, Utc};
use raptor_store::jobs::Enqueued;
use raptor_store::StoreError;
use serde_json::json;

use super::{enqueue_alone, Job};
use crate::App;

/// A job that recurs every `every_seconds`, aligned to the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub struct Recurring {
    /// Names the schedule in unique keys.
    pub name: &'static str,
    /// The handler's kind.
    pub kind: &'static str,
    /// The period.
    pub every_seconds: i64,
}

/// What every deployment runs: the trading runtime's matching pass, housekeeping, and the
/// queue's own maintenance.
pub const RECURRING: &[Recurring] = &[
    Recurring {
        name: "trading-match",
        kind: super::builtin::TRADING_MATCH,
        every_seconds: 15,
    },
    Recurring {
        name: "upkeep",
        kind: super::builtin::UPKEEP,
        every_seconds: 300,
    },
    Recurring {
        name: "jobs-maintain",
        kind: super::builtin::JOBS_MAINTAIN,
        every_seconds: 60,
    },
];

impl Recurring {
    /// The start of the tick `now` falls in.
    pub fn tick(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let period = self.every_seconds.max(1);
        let start = now.timestamp().div_euclid(period) * period;
        Utc.timestamp_opt(start, 0).single().unwrap_or(now)
    }

    /// The job for the tick `now` falls in. One attempt: the next tick is its retry, and a
    /// stale tick must not run late beside newer ones.
    pub fn job(&self, now: DateTime<Utc>) -> Job {
        let tick = self.tick(now);
        let mut job = Job::new(self.kind, json!({ "tick": tick }))
            .unique(format!("cron:{}:{}", self.name, tick.timestamp()))
            .at(tick);
        job.max_attempts = 1;
        job
    }
}

/// When the next tick of any built-in schedule begins after `now`.
pub fn next_boundary(now: DateTime<Utc>) -> DateTime<Utc> {
    RECURRING
        .iter()
        .map(|r| r.tick(now) + chrono::Duration::seconds(r.every_seconds.max(1)))
        .min()
        .unwrap_or(now)
}

/// Enqueues the current tick's job of every schedule; returns how many were new (the others
/// another process, or an earlier pass, enqueued already).
pub async fn enqueue_due(app: &App, schedules: &[Recurring]) -> Result<usize, StoreError> {
    let now = app.now();
    let mut created = 0;
    for schedule in schedules {
        if let Enqueued::Created(_) = enqueue_alone(app, &schedule.job(now)).await? {
            created += 1;
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_align_to_the_period_and_name_the_key() {
        let every = Recurring {
            name: "x",
            kind: "x",
            every_seconds: 15,
        };
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        assert_eq!(
            every.tick(at("2026-12-02T10:00:14Z")),
            at("2026-12-02T10:00:00Z")
        );
        assert_eq!(
            every.tick(at("2026-12-02T10:00:15Z")),
            at("2026-12-02T10:00:15Z")
        );
        let job = every.job(at("2026-12-02T10:00:29Z"));
        assert_eq!(
            job.unique_key.as_deref(),
            Some(format!("cron:x:{}", at("2026-12-02T10:00:15Z").timestamp()).as_str())
        );
    }
}
