//! The revisions embedded in the binary, oldest first. A new revision is appended here with
//! its four scripts under `migrations/<id>/`; an applied revision's scripts are never edited.

use super::{Revision, Scripts};

macro_rules! scripts {
    ($id:literal, $dialect:literal) => {
        Scripts {
            up: include_str!(concat!("../../migrations/", $id, "/", $dialect, ".up.sql")),
            down: include_str!(concat!(
                "../../migrations/",
                $id,
                "/",
                $dialect,
                ".down.sql"
            )),
        }
    };
}

pub(super) static EMBEDDED: &[Revision] = &[
    Revision {
        id: "0001_raptor_baseline",
        message: "raptor baseline",
        sqlite: scripts!("0001_raptor_baseline", "sqlite"),
        postgres: scripts!("0001_raptor_baseline", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0002_visual_theme_chart_style",
        message: "visual feedback theme and chart style",
        sqlite: scripts!("0002_visual_theme_chart_style", "sqlite"),
        postgres: scripts!("0002_visual_theme_chart_style", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0003_seed_symbols",
        message: "seed the symbol catalogue",
        sqlite: scripts!("0003_seed_symbols", "sqlite"),
        postgres: scripts!("0003_seed_symbols", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0004_partition_traces",
        message: "trace tables partitioned by month on postgresql",
        sqlite: scripts!("0004_partition_traces", "sqlite"),
        postgres: scripts!("0004_partition_traces", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0005_job_queue_leases",
        message: "job queue unique keys, leases and claim indexes",
        sqlite: scripts!("0005_job_queue_leases", "sqlite"),
        postgres: scripts!("0005_job_queue_leases", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0006_audit_chain",
        message: "audit log hash chain, append-only triggers",
        sqlite: scripts!("0006_audit_chain", "sqlite"),
        postgres: scripts!("0006_audit_chain", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0007_permissions",
        message: "permissions, expiring grants, passkey proof time",
        sqlite: scripts!("0007_permissions", "sqlite"),
        postgres: scripts!("0007_permissions", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0008_empty_bar_ranges",
        message: "remember bar windows the source answered empty",
        sqlite: scripts!("0008_empty_bar_ranges", "sqlite"),
        postgres: scripts!("0008_empty_bar_ranges", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0009_email_ownership",
        message: "verified email addresses, instance keys",
        sqlite: scripts!("0009_email_ownership", "sqlite"),
        postgres: scripts!("0009_email_ownership", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0010_support_reply_tokens",
        message: "support reply tokens, unverified inbound senders",
        sqlite: scripts!("0010_support_reply_tokens", "sqlite"),
        postgres: scripts!("0010_support_reply_tokens", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0011_bars_version",
        message: "a version of each symbol's bars, for caches",
        sqlite: scripts!("0011_bars_version", "sqlite"),
        postgres: scripts!("0011_bars_version", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0012_api_keys",
        message: "API key pairs for the /v2 API",
        sqlite: scripts!("0012_api_keys", "sqlite"),
        postgres: scripts!("0012_api_keys", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0013_watchlists",
        message: "watchlists",
        sqlite: scripts!("0013_watchlists", "sqlite"),
        postgres: scripts!("0013_watchlists", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0014_order_replacement",
        message: "orders name the order that replaced them",
        sqlite: scripts!("0014_order_replacement", "sqlite"),
        postgres: scripts!("0014_order_replacement", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0015_trade_updates",
        message: "trade updates for the order streams",
        sqlite: scripts!("0015_trade_updates", "sqlite"),
        postgres: scripts!("0015_trade_updates", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0016_order_classes",
        message: "trailing stops and bracket, OCO and OTO orders",
        sqlite: scripts!("0016_order_classes", "sqlite"),
        postgres: scripts!("0016_order_classes", "postgres"),
        transactional: true,
        // SQLite rebuilds paper_orders, which paper_fills refers to.
        foreign_keys_off: true,
    },
    Revision {
        id: "0017_orders_by_account_status",
        message: "an account's working orders by status",
        sqlite: scripts!("0017_orders_by_account_status", "sqlite"),
        postgres: scripts!("0017_orders_by_account_status", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0018_backtest_execution",
        message: "each backtest's execution model",
        sqlite: scripts!("0018_backtest_execution", "sqlite"),
        postgres: scripts!("0018_backtest_execution", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0019_backtest_sweeps",
        message: "parameter sweeps run as queued jobs",
        sqlite: scripts!("0019_backtest_sweeps", "sqlite"),
        postgres: scripts!("0019_backtest_sweeps", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0020_trade_update_notify",
        message: "trade updates announce their account from an insert trigger",
        sqlite: scripts!("0020_trade_update_notify", "sqlite"),
        postgres: scripts!("0020_trade_update_notify", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0021_trade_update_notify_stmt",
        message: "the trade-update trigger runs once per statement",
        sqlite: scripts!("0021_trade_update_notify_stmt", "sqlite"),
        postgres: scripts!("0021_trade_update_notify_stmt", "postgres"),
        transactional: true,
        foreign_keys_off: false,
    },
    Revision {
        id: "0022_ids_never_reused",
        message: "ids of deleted watchlists, orders and passkeys are never given again",
        sqlite: scripts!("0022_ids_never_reused", "sqlite"),
        postgres: scripts!("0022_ids_never_reused", "postgres"),
        transactional: true,
        // SQLite rebuilds watchlists and paper_orders, which others refer to.
        foreign_keys_off: true,
    },
];
