//! A run's live state over HTTP, on loopback, while `rectune run` goes: `/status` (JSON),
//! `/metrics` (Prometheus text), `/healthz`, and the approval endpoints behind
//! `rectune approve` / `rectune reject`. [`client`] is the other side, for
//! `rectune status`, `approve` and `reject`.
//!
//! The server binds `status.addr` (port 0 picks a free port; a taken port falls back to
//! a free one with a warning, so parallel runs never fail for it) and writes the bound
//! address to a file next to the database ([`address_file`]), where `rectune status
//! --db` finds it. An optional bearer token, read from the environment variable named by
//! `status.token_env`, protects everything but `/healthz`; it is never logged or written.

pub mod client;
pub mod metrics;
pub mod routes;

use agents::board::Board;
use agents::journal::Journal;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusSettings {
    /// Serve the live state while a run goes.
    pub enabled: bool,
    /// Loopback address; port 0 picks a free port (see the address file).
    pub addr: String,
    /// Name of the environment variable holding the bearer token (none: no token).
    pub token_env: Option<String>,
}

impl Default for StatusSettings {
    fn default() -> Self {
        Self { enabled: true, addr: "127.0.0.1:7878".into(), token_env: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(
        "status.addr `{0}` is not an address: use a loopback ip:port such as 127.0.0.1:7878 (port 0 picks a free one)"
    )]
    BadAddr(String),
    #[error("status.addr `{0}` is not a loopback address: the status endpoint serves this machine only; use 127.0.0.1 or [::1]")]
    NotLoopback(String),
    #[error("status.token_env names `{0}`, which is not set: export {0}=<token> or remove status.token_env")]
    MissingToken(String),
    #[error("cannot serve the status endpoint at {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error("cannot write the status address file `{path}`: {reason}")]
    AddressFile { path: String, reason: String },
}

/// The token `status.token_env` names, if any; an empty variable counts as unset.
pub fn token(settings: &StatusSettings) -> Result<Option<String>, StatusError> {
    let Some(var) = settings.token_env.as_deref().filter(|v| !v.is_empty()) else { return Ok(None) };
    match std::env::var(var) {
        Ok(t) if !t.is_empty() => Ok(Some(t)),
        _ => Err(StatusError::MissingToken(var.to_string())),
    }
}

/// Where a run on the database `db` writes the address its status endpoint listens on.
pub fn address_file(db: &Path) -> PathBuf {
    let name = db.file_name().map_or_else(|| "rectune.db".into(), |n| n.to_string_lossy().into_owned());
    db.with_file_name(format!("{name}.status.json"))
}

/// What the address file holds (never the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddressRecord {
    pub addr: String,
    pub pid: u32,
    pub db: String,
}

/// Everything a handler needs.
pub struct StatusState {
    pub board: Board,
    pub journal: Journal,
    pub token: Option<String>,
    pub db: PathBuf,
}

/// The running endpoint; [`StatusServer::stop`] ends it and removes the address file.
pub struct StatusServer {
    handle: actix_web::dev::ServerHandle,
    pub addr: SocketAddr,
    file: PathBuf,
}

fn parse_addr(addr: &str) -> Result<SocketAddr, StatusError> {
    let parsed: SocketAddr = addr.parse().map_err(|_| StatusError::BadAddr(addr.to_string()))?;
    if !parsed.ip().is_loopback() {
        return Err(StatusError::NotLoopback(addr.to_string()));
    }
    Ok(parsed)
}

/// Checks `status` settings without starting anything (for `Settings::validate`).
pub fn check(settings: &StatusSettings) -> Result<(), StatusError> {
    parse_addr(&settings.addr).map(drop)
}

impl StatusServer {
    /// Starts the endpoint on the current actix system (`None` when disabled).
    pub fn start(
        settings: &StatusSettings,
        board: Board,
        journal: Journal,
        db: &Path,
    ) -> Result<Option<StatusServer>, StatusError> {
        if !settings.enabled {
            return Ok(None);
        }
        let wanted = parse_addr(&settings.addr)?;
        let token = token(settings)?;
        let state = actix_web::web::Data::new(StatusState { board, journal, token, db: db.to_path_buf() });
        let (server, addr) = match bind(state.clone(), wanted) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && wanted.port() != 0 => {
                let fallback = SocketAddr::new(wanted.ip(), 0);
                tracing::warn!(addr = %wanted, reason = %e, "status address in use (another run?); serving on a free port instead, see the address file");
                bind(state, fallback)
            }
            other => other,
        }
        .map_err(|e| StatusError::Bind { addr: settings.addr.clone(), reason: e.to_string() })?;
        let handle = server.handle();
        actix_rt::spawn(server);
        let file = address_file(db);
        let record = AddressRecord { addr: addr.to_string(), pid: std::process::id(), db: db.display().to_string() };
        let write = || -> std::io::Result<()> {
            let tmp = file.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, &file)
        };
        if let Err(e) = write() {
            let err = StatusError::AddressFile { path: file.display().to_string(), reason: e.to_string() };
            actix_rt::spawn(handle.stop(false));
            return Err(err);
        }
        tracing::info!(%addr, address_file = %file.display(), token = state_has_token(settings), "status endpoint listening: /status /metrics /healthz");
        Ok(Some(StatusServer { handle, addr, file }))
    }

    /// Stops serving and removes the address file.
    pub async fn stop(self) {
        let _ = std::fs::remove_file(&self.file);
        self.handle.stop(true).await;
    }
}

fn state_has_token(settings: &StatusSettings) -> bool {
    settings.token_env.as_deref().is_some_and(|v| !v.is_empty())
}

fn bind(
    state: actix_web::web::Data<StatusState>,
    addr: SocketAddr,
) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    use actix_web::{web, App, HttpServer};
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).app_data(web::PayloadConfig::new(64 * 1024)).configure(routes::routes)
    })
    .workers(1)
    // The run handles SIGINT/SIGTERM itself (graceful stop); the server must not.
    .disable_signals()
    .shutdown_timeout(1)
    .bind(addr)?;
    let local = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "the server bound no address"))?;
    Ok((server.run(), local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_file_sits_next_to_the_database() {
        assert_eq!(address_file(Path::new("data/rectune.db")), PathBuf::from("data/rectune.db.status.json"));
    }

    #[test]
    fn only_loopback_addresses_are_served() {
        assert!(parse_addr("127.0.0.1:0").is_ok());
        assert!(parse_addr("[::1]:7878").is_ok());
        assert!(matches!(parse_addr("0.0.0.0:7878"), Err(StatusError::NotLoopback(_))));
        assert!(matches!(parse_addr("localhost"), Err(StatusError::BadAddr(_))));
    }
}
