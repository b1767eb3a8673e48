//! Backtests over HTTP: run and store one, list them, read one back.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Json;
use raptor_app::backtests::{self, BacktestError, Request};
use raptor_store::backtests as stored;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::ApiJson;
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/backtests", get(list).post(create))
        .route("/api/backtests/{id}", get(get_one))
}

impl From<BacktestError> for Problem {
    fn from(err: BacktestError) -> Self {
        match err {
            BacktestError::Invalid(input) => Problem::invalid(input),
            BacktestError::NoBars { .. } => Problem::new(ProblemCode::NoBars, err.to_string()),
            BacktestError::Failed(_) => Problem::new(ProblemCode::BacktestFailed, err.to_string()),
            BacktestError::Engine(_) | BacktestError::Store(_) => Problem::internal(&err),
        }
    }
}

async fn create(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<Request>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let run = backtests::run_and_store(&state, current.user.id, &req).await?;
    let mut body = run.report.to_json(Some(run.id));
    body["trace_id"] = json!(run.trace_id);
    Ok((StatusCode::CREATED, Json(body)))
}

fn stored_json(b: &stored::Backtest) -> Value {
    json!({
        "id": b.id,
        "symbol": b.symbol,
        "timeframe": b.timeframe,
        "start": b.period_start,
        "end": b.period_end,
        "strategy": b.params.0,
        "initial_cash": b.initial_cash.0.normalize().to_string(),
        "status": b.status,
        "metrics": b.metrics.as_ref().map(|m| &m.0),
        "error": b.error,
        "created_at": b.created_at,
    })
}

async fn list(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let runs = backtests::list(&state, current.user.id).await?;
    Ok(Json(
        json!({ "backtests": runs.iter().map(stored_json).collect::<Vec<_>>() }),
    ))
}

async fn get_one(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let (run, legs) = backtests::get(&state, current.user.id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("you have no backtest {id}")))?;
    let mut body = stored_json(&run);
    body["trade_legs"] = json!(legs);
    Ok(Json(body))
}
