//! The simulator served over the experiment platform contract
//! (`design/experiment-platform.md`), so that `rectune run --platform http://...`, other
//! clients and the contract's conformance tests all meet the same server.
//!
//! The server keeps its own record of launches ([`launch_log`]), outside any run's
//! database, so a test can check from the platform's side that nothing launched twice.
//! [`faults`] makes it misbehave on purpose (503s, lost acknowledgements).

pub mod faults;
pub mod handlers;
pub mod launch_log;

pub use faults::Faults;
pub use launch_log::{LaunchEvent, LaunchLog};

use crate::platform::sim::SimPlatform;
use actix_web::{web, App, HttpServer};
use std::net::SocketAddr;
use std::sync::Arc;

/// Everything a handler needs, shared by the server's workers.
pub struct ServerState {
    pub platform: Arc<SimPlatform>,
    /// Expected bearer token; `None` serves everyone.
    pub token: Option<String>,
    pub log: LaunchLog,
    pub faults: Faults,
}

/// Largest request body accepted: a launch with many arms is a few kilobytes.
const MAX_BODY: usize = 1 << 20;

/// Binds `addr` (port 0 picks a free one) and returns the running server and the
/// address it listens on.
pub fn bind(state: ServerState, addr: &str) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).app_data(web::PayloadConfig::new(MAX_BODY)).configure(handlers::routes)
    })
    .workers(2)
    .bind(addr)?;
    let local = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "the server bound no address"))?;
    Ok((server.run(), local))
}
