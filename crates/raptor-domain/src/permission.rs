//! Permissions (RBAC v2): the unit of authorisation. Routes and use cases ask for one of
//! these; roles are sets of them, held in the database (`role_permissions`).

use std::fmt;
use std::str::FromStr;

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// How recent a passkey proof must be for a [`Permission::needs_step_up`] action.
pub const STEP_UP_WINDOW: Duration = Duration::minutes(10);

macro_rules! permissions {
    ($( $variant:ident = $name:literal, $step_up:literal, $description:literal; )*) => {
        /// A named staff permission. Its name is the key of `permissions.name`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Permission {
            $( #[doc = $description] #[serde(rename = $name)] $variant, )*
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            /// The name stored in `permissions.name` and shown in problems.
            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name,)* }
            }

            /// One line on what it allows (also `permissions.description`).
            pub fn description(self) -> &'static str {
                match self { $(Permission::$variant => $description,)* }
            }

            /// Whether using it changes money or access, and so needs a passkey proof within
            /// [`STEP_UP_WINDOW`].
            pub fn needs_step_up(self) -> bool {
                match self { $(Permission::$variant => $step_up,)* }
            }
        }
    };
}

permissions! {
    CustomersRead = "customers.read", false, "Search customers and read their details.";
    CustomersNote = "customers.note", false, "Add internal notes to a customer.";
    CustomersSuspend = "customers.suspend", true, "Suspend or reinstate a customer and revoke their sessions.";
    SupportRead = "support.read", false, "Read the support ticket queue.";
    SupportReply = "support.reply", false, "Reply to, assign, close and link support tickets.";
    TracesRead = "traces.read", false, "Read workflow traces.";
    JobsRead = "jobs.read", false, "Read the background job queue.";
    BillingRead = "billing.read", false, "Read vendor billing snapshots and alert thresholds.";
    BillingManage = "billing.manage", true, "Record billing snapshots and set alert thresholds.";
    AuditRead = "audit.read", false, "Read the audit log.";
    RolesGrant = "roles.grant", true, "Grant and revoke roles (only roles whose permissions the granter holds).";
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission name that is not one of [`Permission::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission '{0}'")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPermission(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_through_their_names() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(*p));
        }
        assert!("customers.delete".parse::<Permission>().is_err());
    }

    #[test]
    fn money_and_access_need_step_up() {
        let stepped: Vec<&str> = Permission::ALL
            .iter()
            .filter(|p| p.needs_step_up())
            .map(|p| p.as_str())
            .collect();
        assert_eq!(
            stepped,
            ["customers.suspend", "billing.manage", "roles.grant"]
        );
    }
}
