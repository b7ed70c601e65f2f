//! The HTTP side of `mirrorfleet serve`: `/healthz`, `/readyz`, `/metrics`, with request
//! counts and durations per route. The admin UI and the JSON API join this router later.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mirrorfleet_snapshot::net::{Prefix, normalise};
use serde_json::json;

use super::metrics::{Metrics, Route, RouteStatus};
use crate::db::Database;
use crate::publish::publish_state;

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What the handlers share.
pub struct AppState {
    pub db: Database,
    pub metrics: Arc<Metrics>,
    pub metrics_allow: Vec<Prefix>,
}

/// The router with every route and the request metrics.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers (within 2 s). The body says what was checked, and the
/// publishing state for operators.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let db = tokio::time::timeout(READY_TIMEOUT, publish_state(&state.db)).await;
    match db {
        Ok(Ok((on_hold, _, serial))) => (
            StatusCode::OK,
            axum::Json(json!({
                "status": "ready",
                "database": "ok",
                "publish": {"on_hold": on_hold, "manifest_serial": serial},
            })),
        )
            .into_response(),
        Ok(Err(e)) => not_ready(e.to_string()),
        Err(_) => not_ready(format!(
            "no answer within {} s",
            READY_TIMEOUT.as_secs_f64()
        )),
    }
}

fn not_ready(database: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({"status": "not ready", "database": database})),
    )
        .into_response()
}

/// `/metrics`, to requesters in `metrics.allow` only.
async fn metrics(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let ip = normalise(peer.ip());
    if !state.metrics_allow.iter().any(|p| p.contains(ip)) {
        return (
            StatusCode::FORBIDDEN,
            "metrics are not served to this address (metrics.allow)\n",
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

/// Counts every request by route (the matched pattern, `other` for unknown paths) and status.
async fn count(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_string(), |m| m.as_str().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .http_duration
        .get_or_create(&Route {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .http_requests
        .get_or_create(&RouteStatus {
            route,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    response
}
