//! Trace tables: the same queries answer the same on both dialects while PostgreSQL keeps the
//! rows in monthly partitions; partitions appear ahead of time and retention removes old rows.

use chrono::{DateTime, Duration, Months, Utc};
use raptor_store::traces::{self, TraceEvent};
use raptor_testdb::{dual_test, Dialect};
use serde_json::json;

fn event(workflow_id: &str, name: &str, at: DateTime<Utc>) -> TraceEvent {
    TraceEvent {
        workflow_id: workflow_id.into(),
        name: name.into(),
        status: Some("ok".into()),
        duration_ms: Some(12),
        created_at: at,
        attributes: Some(json!({ "step": name })),
    }
}

async fn event_names(db: &raptor_store::Db) -> Vec<String> {
    traces::events(db, "wf-1")
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.name)
        .collect()
}

dual_test!(
    traces_span_months_and_retention_removes_what_is_older,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let long_ago = now - Duration::days(400);
        let next_year = now + Duration::days(365);
        traces::start_workflow(
            t.db(),
            "wf-1",
            "backtest",
            long_ago,
            Some(&json!({"symbol": "AAPL"})),
        )
        .await
        .expect("start");
        for (name, at) in [("load", long_ago), ("simulate", now), ("report", next_year)] {
            traces::record_event(t.db(), &event("wf-1", name, at))
                .await
                .expect("event");
        }
        assert!(traces::finish_workflow(t.db(), "wf-1", "succeeded", now)
            .await
            .expect("finish"));
        assert!(!traces::finish_workflow(t.db(), "wf-1", "failed", now)
            .await
            .expect("finish twice"));

        assert_eq!(event_names(t.db()).await, ["load", "simulate", "report"]);
        let flow = traces::workflow(t.db(), "wf-1")
            .await
            .expect("workflow")
            .expect("exists");
        assert_eq!(
            (flow.status.as_str(), flow.finished_at),
            ("succeeded", Some(now))
        );

        // Upkeep: on PostgreSQL every month with rows, and the next three, has its own
        // partition, and nothing waits in the DEFAULT partitions.
        let created = traces::ensure_partitions(t.db(), 3).await.expect("ensure");
        let partitions = traces::partitions(t.db()).await.expect("partitions");
        match t.dialect() {
            Dialect::Sqlite => assert_eq!((created, partitions.len()), (0, 0)),
            Dialect::Postgres => {
                let month = |at: DateTime<Utc>| format!("trace_events_p{}", at.format("%Y%m"));
                for wanted in [
                    month(long_ago),
                    month(now),
                    month(now + Months::new(3)),
                    month(next_year),
                ] {
                    assert!(
                        partitions.iter().any(|p| p.name == wanted && p.rows <= 1),
                        "{wanted} in {partitions:?}"
                    );
                }
                assert!(
                    partitions
                        .iter()
                        .filter(|p| p.name.ends_with("_default"))
                        .all(|p| p.rows == 0),
                    "{partitions:?}"
                );
                assert_eq!(
                    partitions
                        .iter()
                        .find(|p| p.name == month(long_ago))
                        .map(|p| p.rows),
                    Some(1)
                );
            }
        }
        assert_eq!(
            traces::count_events_between(t.db(), long_ago, next_year + Duration::seconds(1))
                .await
                .expect("count"),
            3
        );

        // Retention at 200 days: the old event and the old workflow go, the rest stays.
        let pruned = traces::prune(t.db(), now - Duration::days(200))
            .await
            .expect("prune");
        assert_eq!(event_names(t.db()).await, ["simulate", "report"]);
        assert_eq!(
            traces::workflow(t.db(), "wf-1").await.expect("workflow"),
            None
        );
        assert_eq!(pruned.rows_left, 2);
        if t.dialect() == Dialect::Postgres {
            assert!(
                pruned
                    .partitions
                    .contains(&format!("trace_events_p{}", long_ago.format("%Y%m"))),
                "{pruned:?}"
            );
        }
    }
);
