//! Facts that cannot change once true, kept per process so that requests stop reading them
//! again: a user's paper account (made with the user, never deleted nor replaced) and the users
//! whose first order is recorded (an onboarding step, never undone). What is kept here holds in
//! every process, so nothing needs telling when another process learns it. Each set forgets
//! everything once it holds [`MAX_KEPT`] users, so memory stays bounded.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// Users each set holds at most (a few MB), before it starts again from nothing.
pub const MAX_KEPT: usize = 100_000;

/// The facts this process has read or written.
#[derive(Debug, Default)]
pub struct Settled {
    /// User id → paper account id.
    accounts: Mutex<HashMap<i64, i64>>,
    /// Users whose `first_order` onboarding step is complete.
    first_orders: Mutex<HashSet<i64>>,
}

impl Settled {
    /// The user's paper account id, when this process has read it.
    pub fn account_of(&self, user_id: i64) -> Option<i64> {
        let accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts.get(&user_id).copied()
    }

    /// Keeps the user's paper account id, as read from the database.
    pub fn keep_account(&self, user_id: i64, account_id: i64) {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        if accounts.len() >= MAX_KEPT {
            accounts.clear();
        }
        accounts.insert(user_id, account_id);
    }

    /// Whether this process has seen the user's first order recorded.
    pub fn first_order_recorded(&self, user_id: i64) -> bool {
        let users = self
            .first_orders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        users.contains(&user_id)
    }

    /// Keeps that the user's first order is recorded (once its transaction committed).
    pub fn keep_first_order(&self, user_id: i64) {
        let mut users = self
            .first_orders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if users.len() >= MAX_KEPT {
            users.clear();
        }
        users.insert(user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_it_was_told_and_forgets_all_once_full() {
        let settled = Settled::default();
        assert_eq!(settled.account_of(1), None);
        settled.keep_account(1, 10);
        assert_eq!(settled.account_of(1), Some(10));
        assert!(!settled.first_order_recorded(1));
        settled.keep_first_order(1);
        assert!(settled.first_order_recorded(1));
        for user in 2..=MAX_KEPT as i64 {
            settled.keep_account(user, user * 10);
            settled.keep_first_order(user);
        }
        // Full: the next one starts the sets again.
        let next = MAX_KEPT as i64 + 1;
        settled.keep_account(next, 7);
        settled.keep_first_order(next);
        assert_eq!(settled.account_of(1), None);
        assert_eq!(settled.account_of(next), Some(7));
        assert!(!settled.first_order_recorded(1));
        assert!(settled.first_order_recorded(next));
    }
}
