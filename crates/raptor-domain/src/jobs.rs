//! Background jobs: the states a queued job goes through. Pure: no I/O.
//!
//! `queued` covers a job that is due, scheduled for later or waiting to retry; `running` is
//! one attempt under a worker's lease; `succeeded`, `failed` (out of attempts, or refused for
//! good) and `canceled` are final until an operator retries the job.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::orders::{wire_enum, UnknownValue};

wire_enum!(
    /// Where a job is in its life.
    JobState, "job state" {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Canceled => "canceled",
    }
);

impl JobState {
    /// Parses a stored or wire name, or `dead`, operators' word for `failed` (out of attempts
    /// or refused for good); the refusal lists the stored names.
    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        if s == "dead" {
            return Ok(JobState::Failed);
        }
        s.parse()
    }

    /// Whether the job will not run again unless an operator retries it.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Canceled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Ok(*state));
            assert_eq!(JobState::try_from(state.to_string()), Ok(*state));
        }
        assert_eq!(JobState::Canceled.as_str(), "canceled");
        assert_eq!(JobState::parse("dead"), Ok(JobState::Failed));
    }

    #[test]
    fn an_unknown_state_names_the_accepted_ones() {
        let err = JobState::parse("done").expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown job state 'done'; accepted: queued, running, succeeded, failed, canceled"
        );
    }

    #[test]
    fn only_final_states_are_finished() {
        assert!(!JobState::Queued.is_finished());
        assert!(!JobState::Running.is_finished());
        assert!(JobState::Succeeded.is_finished());
        assert!(JobState::Failed.is_finished());
        assert!(JobState::Canceled.is_finished());
    }
}
