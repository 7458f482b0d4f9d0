//! Deliberate misbehaviour, to rehearse a client's recovery against a real server:
//! a platform that is down for a while, and one that launches an experiment but loses
//! the answer (the case an idempotency key exists for).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Faults {
    /// The first this-many requests of any kind are answered 503.
    unavailable: AtomicU64,
    /// The first this-many launches that do start an experiment are answered 503.
    lost_acks: AtomicU64,
}

impl Faults {
    pub fn new(unavailable: u64, lost_acks: u64) -> Faults {
        Faults { unavailable: AtomicU64::new(unavailable), lost_acks: AtomicU64::new(lost_acks) }
    }

    /// Whether this request should be refused as unavailable (uses up one).
    pub fn take_unavailable(&self) -> bool {
        take(&self.unavailable)
    }

    /// Whether this launch's acknowledgement should be lost (uses up one).
    pub fn take_lost_ack(&self) -> bool {
        take(&self.lost_acks)
    }
}

fn take(counter: &AtomicU64) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_fires_exactly_as_often_as_asked() {
        let f = Faults::new(2, 1);
        assert_eq!((0..5).filter(|_| f.take_unavailable()).count(), 2);
        assert_eq!((0..5).filter(|_| f.take_lost_ack()).count(), 1);
        let none = Faults::default();
        assert!(!none.take_unavailable() && !none.take_lost_ack());
    }
}
