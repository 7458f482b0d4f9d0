//! The status endpoint's routes. Errors are `{"error": {"code", "message"}}`, like the
//! platform contract's.

use super::StatusState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use agents::approval::{self, ApprovalError};
use serde::Deserialize;
use serde_json::json;

type State = web::Data<StatusState>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/status", web::get().to(status))
        .route("/metrics", web::get().to(metrics))
        .route("/approvals", web::get().to(approvals))
        .route("/approvals/{id}/approve", web::post().to(approve))
        .route("/approvals/{id}/reject", web::post().to(reject))
        .default_service(web::to(unknown_route));
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message.into()}}))
}

/// `None` when the request may pass: no token configured, or the right bearer token.
fn refusal(state: &StatusState, req: &HttpRequest) -> Option<HttpResponse> {
    let expected = state.token.as_ref()?;
    let given =
        req.headers().get("Authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.as_bytes(), expected.as_bytes()) => None,
        _ => Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authorization: a valid bearer token is required (the one in the variable status.token_env names)",
        )),
    }
}

/// Compares without stopping at the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn status(state: State, req: HttpRequest) -> HttpResponse {
    if let Some(r) = refusal(&state, &req) {
        return r;
    }
    let mut body = serde_json::to_value(state.board.snapshot()).unwrap_or_else(|e| json!({"error": e.to_string()}));
    body["process"] = json!({
        "pid": std::process::id(),
        "db": state.db.display().to_string(),
        "mailbox_depth": "counted by rectune (sent, handling not started): actix 0.13 exposes no mailbox length",
    });
    HttpResponse::Ok().json(body)
}

async fn metrics(state: State, req: HttpRequest) -> HttpResponse {
    if let Some(r) = refusal(&state, &req) {
        return r;
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(super::metrics::render(&state.board.snapshot()))
}

async fn approvals(state: State, req: HttpRequest) -> HttpResponse {
    if let Some(r) = refusal(&state, &req) {
        return r;
    }
    HttpResponse::Ok().json(json!({"pending": state.board.pending_approvals()}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    by: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn approve(state: State, req: HttpRequest, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
    decide(state, req, id.into_inner(), body, true).await
}

async fn reject(state: State, req: HttpRequest, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
    decide(state, req, id.into_inner(), body, false).await
}

async fn decide(state: State, req: HttpRequest, id: String, body: web::Bytes, approved: bool) -> HttpResponse {
    if let Some(r) = refusal(&state, &req) {
        return r;
    }
    let body: DecisionBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("body: {e}; send {{\"by\": ..., \"reason\": ...}}"),
            )
        }
    };
    match approval::decide(&state.board, &state.journal, &id, approved, &body.by, body.reason).await {
        Ok(d) => HttpResponse::Ok().json(d),
        Err(e @ ApprovalError::NotPending { .. }) => error(StatusCode::NOT_FOUND, "not_pending", e.to_string()),
        Err(e @ (ApprovalError::AlreadyDecided { .. } | ApprovalError::Busy(_))) => {
            error(StatusCode::CONFLICT, "already_decided", e.to_string())
        }
        Err(e @ ApprovalError::Invalid(_)) => error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()),
        Err(e @ ApprovalError::Journal(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, "journal", e.to_string()),
    }
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    error(StatusCode::NOT_FOUND, "not_found", format!("no route {} {}", req.method(), req.path()))
}
