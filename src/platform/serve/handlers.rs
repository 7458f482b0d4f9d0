//! The contract's routes. Every error is `{"error": {"code", "message"}}` with a message
//! naming the field; 4xx for a wrong request, 503 for a platform that cannot serve now.

use super::launch_log::{now_ms, LaunchEvent, LaunchOutcome};
use super::ServerState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use agents::platform::{LaunchRequest, PlatformError};
use serde_json::json;

type State = web::Data<ServerState>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/experiments", web::post().to(launch))
        .route("/v1/experiments/{id}", web::get().to(read))
        .route("/v1/experiments/{id}/stop", web::post().to(stop))
        .route("/v1/metrics", web::get().to(metrics))
        .route("/v1/parameters", web::get().to(parameters))
        .default_service(web::to(unknown_route));
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.insert_header(("Retry-After", "0"));
    }
    resp.json(json!({"error": {"code": code, "message": message.into()}}))
}

fn platform_error(e: PlatformError) -> HttpResponse {
    match e {
        PlatformError::Rejected { code, message } => error(StatusCode::BAD_REQUEST, &code, message),
        PlatformError::KeyConflict(key) => error(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            format!("Idempotency-Key `{key}` was already used with a different body"),
        ),
        PlatformError::NotFound(id) => error(StatusCode::NOT_FOUND, "not_found", format!("no experiment `{id}`")),
        PlatformError::Unavailable(why) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why),
        PlatformError::Protocol(why) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", why),
    }
}

/// A success status with a body that does not follow the contract (injected).
fn garbage(status: StatusCode) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").body(super::faults::GARBAGE)
}

/// Injected unavailability first (a platform that is down answers nothing else), then
/// the bearer token.
fn refusal(state: &ServerState, req: &HttpRequest) -> Option<HttpResponse> {
    if state.faults.take_unavailable() {
        return Some(error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the platform is unavailable (injected)"));
    }
    let expected = state.token.as_ref()?;
    let given =
        req.headers().get("Authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if same(token.as_bytes(), expected.as_bytes()) => None,
        _ => Some(error(StatusCode::UNAUTHORIZED, "unauthorized", "Authorization: a valid bearer token is required")),
    }
}

/// Compares without stopping at the first differing byte, so response times do not
/// reveal how much of a guessed token was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The request, or a message naming the field that is wrong.
pub fn parse_launch(body: &[u8]) -> Result<LaunchRequest, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_string() } else { path };
        format!("{field}: {}", e.inner())
    })
}

async fn launch(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(resp) = refusal(&state, &req) {
        return resp;
    }
    let key = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()).map(str::trim);
    let Some(key) = key.filter(|k| !k.is_empty()).map(str::to_string) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Idempotency-Key: the header is required");
    };
    let request = match parse_launch(&body) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let st = state.clone();
    // Starting a simulator thread and syncing the launch record block: keep them off
    // the server's event loop.
    let outcome = web::block(move || record_launch(&st, key, request)).await;
    if let (Ok(Ok(_)), Some(late)) = (&outcome, state.faults.take_slow_launch()) {
        tracing::warn!(late_ms = late.as_millis() as u64, "launch answered late (injected)");
        actix_rt::time::sleep(late).await;
    }
    match outcome {
        Ok(Ok((launched, true))) if state.faults.take_lost_ack() => {
            tracing::warn!(experiment = %launched.experiment_id, "launch acknowledgement dropped (injected)");
            error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the acknowledgement was lost (injected)")
        }
        Ok(Ok((launched, true))) if state.faults.take_garbage_launch() => {
            tracing::warn!(experiment = %launched.experiment_id, "launch answered with garbage (injected)");
            garbage(StatusCode::CREATED)
        }
        Ok(Ok((launched, fresh))) => {
            let status = if fresh { StatusCode::CREATED } else { StatusCode::OK };
            HttpResponse::build(status).json(launched)
        }
        Ok(Err(e)) => platform_error(e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("launch worker failed: {e}")),
    }
}

/// Launches and records the outcome before anyone hears of it.
fn record_launch(
    state: &ServerState,
    key: String,
    request: LaunchRequest,
) -> Result<(agents::platform::Launched, bool), PlatformError> {
    let name = request.name.clone();
    let result = state.platform.launch_keyed(key.clone(), request);
    let (outcome, experiment_id) = match &result {
        Ok((l, true)) => (LaunchOutcome::Launched, Some(l.experiment_id.clone())),
        Ok((l, false)) => (LaunchOutcome::Repeated, Some(l.experiment_id.clone())),
        Err(PlatformError::KeyConflict(_)) => (LaunchOutcome::Conflict, None),
        Err(_) => return result,
    };
    let event = LaunchEvent { outcome, key, name, experiment_id, unix_ms: now_ms() };
    state.log.append(&event).map_err(|e| PlatformError::Unavailable(format!("cannot record the launch: {e}")))?;
    result
}

async fn read(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Some(resp) = refusal(&state, &req) {
        return resp;
    }
    match state.platform.read_now(&id) {
        Ok(_) if state.faults.take_garbage_read() => garbage(StatusCode::OK),
        Ok(r) => HttpResponse::Ok().json(r),
        Err(e) => platform_error(e),
    }
}

async fn stop(state: State, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Some(resp) = refusal(&state, &req) {
        return resp;
    }
    match state.platform.stop_now(&id) {
        Ok(r) => HttpResponse::Ok().json(r),
        Err(e) => platform_error(e),
    }
}

async fn metrics(state: State, req: HttpRequest) -> HttpResponse {
    if let Some(resp) = refusal(&state, &req) {
        return resp;
    }
    HttpResponse::Ok().json(json!({"metrics": state.platform.scenario().metric_catalogue()}))
}

async fn parameters(state: State, req: HttpRequest) -> HttpResponse {
    if let Some(resp) = refusal(&state, &req) {
        return resp;
    }
    HttpResponse::Ok().json(json!({"parameters": state.platform.scenario().catalogue()}))
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    error(StatusCode::NOT_FOUND, "not_found", format!("no route {} {}", req.method(), req.path()))
}
