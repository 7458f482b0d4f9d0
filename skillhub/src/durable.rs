//! Making a write durable before it is acknowledged, without blocking the caller's
//! thread: the one place the project flushes its sled database.
//!
//! Not sled's `flush_async`: in sled 0.34 concurrent `flush_async` calls can starve
//! sled's own I/O pool and deadlock (spacejam/sled#1308), which a burst of patches or
//! journal writes hits. A blocking `flush` on a short-lived thread of its own, awaited
//! through a oneshot channel, gives the same guarantee and keeps actors responsive.

/// Flushes the whole database; resolves once everything written before the call is on disk.
pub async fn flush(db: &sled::Db) -> Result<(), sled::Error> {
    let (tx, rx) = futures::channel::oneshot::channel();
    let db = db.clone();
    std::thread::Builder::new()
        .name("sled-flush".into())
        .spawn(move || {
            let result = db.flush();
            // Release the handle before answering, so a caller that drops its handles
            // right after can reopen the database at once.
            drop(db);
            let _ = tx.send(result);
        })
        .map_err(sled::Error::Io)?;
    match rx.await {
        Ok(result) => result.map(drop),
        Err(_) => Err(sled::Error::Io(std::io::Error::other("the flush thread ended without answering"))),
    }
}
