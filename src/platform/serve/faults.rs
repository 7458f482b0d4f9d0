//! Deliberate misbehaviour, to rehearse a client's recovery against a real server:
//! a platform that is down for a while, one that launches an experiment but loses the
//! answer (the case an idempotency key exists for), one that answers launches late
//! (after the client gave up waiting), and one that answers with bodies that do not
//! follow the contract.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a 2xx answer carries instead of the contract's body when garbage is injected:
/// valid JSON of the wrong shape, as a misconfigured proxy or a half-deployed server
/// might send.
pub const GARBAGE: &str = r#"{"unexpected":true,"experiment":[1,2,3],"status":42}"#;

#[derive(Debug, Default)]
pub struct Faults {
    /// The first this-many requests of any kind are answered 503.
    unavailable: AtomicU64,
    /// The first this-many launches that do start an experiment are answered 503.
    lost_acks: AtomicU64,
    /// The first this-many launches that do start an experiment are answered 201 with
    /// [`GARBAGE`] instead of the experiment id.
    garbage_launches: AtomicU64,
    /// The first this-many reads of an experiment are answered 200 with [`GARBAGE`].
    garbage_reads: AtomicU64,
    /// The first this-many launches are answered `slow_by` late, after the launch is
    /// done and recorded.
    slow_launches: AtomicU64,
    slow_by: Duration,
}

impl Faults {
    pub fn new(unavailable: u64, lost_acks: u64) -> Faults {
        Faults { unavailable: AtomicU64::new(unavailable), lost_acks: AtomicU64::new(lost_acks), ..Default::default() }
    }

    /// Garbage bodies for the first `launches` successful launches and `reads` reads.
    pub fn with_garbage(mut self, launches: u64, reads: u64) -> Faults {
        self.garbage_launches = AtomicU64::new(launches);
        self.garbage_reads = AtomicU64::new(reads);
        self
    }

    /// The first `launches` launches are answered `by` late.
    pub fn with_slow_launches(mut self, launches: u64, by: Duration) -> Faults {
        self.slow_launches = AtomicU64::new(launches);
        self.slow_by = by;
        self
    }

    /// Whether this request should be refused as unavailable (uses up one).
    pub fn take_unavailable(&self) -> bool {
        take(&self.unavailable)
    }

    /// Whether this launch's acknowledgement should be lost (uses up one).
    pub fn take_lost_ack(&self) -> bool {
        take(&self.lost_acks)
    }

    /// Whether this successful launch should be answered with garbage (uses up one).
    pub fn take_garbage_launch(&self) -> bool {
        take(&self.garbage_launches)
    }

    /// Whether this read should be answered with garbage (uses up one).
    pub fn take_garbage_read(&self) -> bool {
        take(&self.garbage_reads)
    }

    /// How late to answer this launch, if at all (uses up one).
    pub fn take_slow_launch(&self) -> Option<Duration> {
        (!self.slow_by.is_zero() && take(&self.slow_launches)).then_some(self.slow_by)
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
        let f = Faults::new(2, 1).with_garbage(3, 1).with_slow_launches(2, Duration::from_millis(5));
        assert_eq!((0..5).filter(|_| f.take_unavailable()).count(), 2);
        assert_eq!((0..5).filter(|_| f.take_lost_ack()).count(), 1);
        assert_eq!((0..5).filter(|_| f.take_garbage_launch()).count(), 3);
        assert_eq!((0..5).filter(|_| f.take_garbage_read()).count(), 1);
        assert_eq!((0..5).filter_map(|_| f.take_slow_launch()).collect::<Vec<_>>(), vec![Duration::from_millis(5); 2]);
        let none = Faults::default();
        assert!(!none.take_unavailable() && !none.take_lost_ack() && !none.take_garbage_launch());
        assert!(!none.take_garbage_read() && none.take_slow_launch().is_none());
    }

    #[test]
    fn garbage_is_json_that_no_contract_body_accepts() {
        let v: serde_json::Value = serde_json::from_str(GARBAGE).expect("valid JSON");
        assert!(serde_json::from_value::<agents::platform::Launched>(v.clone()).is_err());
        assert!(serde_json::from_value::<agents::platform::ExperimentRead>(v).is_err());
    }
}
