//! The HTTP platform client against a mock server: what it sends, and how each status of
//! the contract comes back.

use agents::platform::{ArmSpec, HttpPlatform, HttpPlatformSettings, LaunchRequest, Platform, PlatformError};
use agents::retry::RetryPolicy;
use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer, attempts: u32) -> HttpPlatform {
    let settings = HttpPlatformSettings { url: server.uri(), timeout_s: 1, attempts, ..Default::default() };
    let fast = RetryPolicy {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
        retry_after_cap: Duration::from_secs(2),
        ..RetryPolicy::new(attempts, Duration::from_secs(1))
    };
    HttpPlatform::with_policy(&settings, fast).expect("client")
}

fn request() -> LaunchRequest {
    LaunchRequest {
        name: "t/round-1".into(),
        control_arm: "control".into(),
        arms: vec![ArmSpec { arm_id: "control".into(), traffic: 0.5, config: Default::default() }],
        units_per_arm: 100,
        seed: Some(3),
    }
}

fn launched() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"experiment_id": "exp-1", "status": "running"}))
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {"code": code, "message": message}}))
}

#[actix_rt::test]
async fn launch_sends_the_key_and_the_body_of_the_contract() {
    let server = MockServer::start().await;
    let body = json!({
        "name": "t/round-1", "control_arm": "control",
        "arms": [{"arm_id": "control", "traffic": 0.5, "config": {}}],
        "units_per_arm": 100, "seed": 3
    });
    Mock::given(method("POST"))
        .and(path("/v1/experiments"))
        .and(header("Idempotency-Key", "run/t/round-1"))
        .and(header("content-type", "application/json"))
        .and(body_json(body))
        .respond_with(launched())
        .expect(1)
        .mount(&server)
        .await;
    let l = client(&server, 3).launch("run/t/round-1".into(), request()).await.expect("launch");
    assert_eq!(l.experiment_id, "exp-1");
}

#[actix_rt::test]
async fn a_429_with_retry_after_is_waited_out_then_retried_with_the_same_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(error(429, "rate_limited", "slow down").insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(header("Idempotency-Key", "k")).respond_with(launched()).mount(&server).await;
    let start = Instant::now();
    let l = client(&server, 3).launch("k".into(), request()).await.expect("launch after a 429");
    assert_eq!(l.experiment_id, "exp-1");
    assert!(start.elapsed() >= Duration::from_millis(950), "Retry-After: 1 honoured, waited {:?}", start.elapsed());
    assert_eq!(server.received_requests().await.map_or(0, |r| r.len()), 2);
}

#[actix_rt::test]
async fn persistent_5xx_becomes_unavailable_after_the_configured_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(error(503, "down", "maintenance")).mount(&server).await;
    let err = client(&server, 4).read("exp-1".into()).await.unwrap_err();
    assert!(
        matches!(&err, PlatformError::Unavailable(why) if why.contains("503") && why.contains("4 attempts")),
        "{err}"
    );
    assert_eq!(server.received_requests().await.map_or(0, |r| r.len()), 4);
}

#[actix_rt::test]
async fn a_slow_platform_times_out_and_is_retried() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200).set_body_json(json!({"metrics": []})).set_delay(Duration::from_secs(3));
    Mock::given(method("GET")).respond_with(slow).mount(&server).await;
    let err = client(&server, 2).metrics().await.unwrap_err();
    assert!(matches!(&err, PlatformError::Unavailable(why) if why.contains("timed out")), "{err}");
}

#[actix_rt::test]
async fn a_400_is_surfaced_with_its_field_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(error(400, "invalid_request", "arms[0].traffic: 2 is not in (0, 1]"))
        .expect(1)
        .mount(&server)
        .await;
    match client(&server, 5).launch("k".into(), request()).await {
        Err(PlatformError::Rejected { code, message }) => {
            assert_eq!(code, "invalid_request");
            assert!(message.contains("arms[0].traffic"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[actix_rt::test]
async fn conflict_and_not_found_map_to_their_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(error(409, "conflict", "key reused")).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/experiments/exp-9"))
        .respond_with(error(404, "nf", "no"))
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/v1/parameters")).respond_with(error(404, "nf", "no")).mount(&server).await;
    let c = client(&server, 3);
    assert!(matches!(c.launch("k".into(), request()).await, Err(PlatformError::KeyConflict(k)) if k == "k"));
    assert!(matches!(c.read("exp-9".into()).await, Err(PlatformError::NotFound(_))));
    // Without a parameter catalogue the client trusts the task.
    assert_eq!(c.parameters().await.expect("optional catalogue"), None);
}

#[actix_rt::test]
async fn a_success_body_off_the_contract_is_a_protocol_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy login</html>"))
        .mount(&server)
        .await;
    let err = client(&server, 3).read("exp-1".into()).await.unwrap_err();
    assert!(matches!(err, PlatformError::Protocol(_)), "{err}");
    assert_eq!(server.received_requests().await.map_or(0, |r| r.len()), 1);
}

#[actix_rt::test]
async fn the_bearer_token_comes_from_the_environment() {
    std::env::set_var("RECTUNE_TEST_CLIENT_TOKEN", "tok-123");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/metrics"))
        .and(header("Authorization", "Bearer tok-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"metrics": [
            {"name": "sessions", "kind": "mean", "higher_is_better": true}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let settings = HttpPlatformSettings {
        url: format!("{}/", server.uri()),
        token_env: Some("RECTUNE_TEST_CLIENT_TOKEN".into()),
        ..Default::default()
    };
    let metrics = HttpPlatform::new(&settings).expect("client").metrics().await.expect("metrics");
    assert_eq!(metrics[0].name, "sessions");
}
