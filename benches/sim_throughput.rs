//! Simulated users per second of the built-in simulator, per scenario, on one core.
//! Run with `cargo bench --bench sim_throughput` (a `harness = false` bench).

use rectune::platform::sim::{simulate_users, ArmSums, Scenario};
use std::time::Instant;

const USERS: u64 = 400_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for name in Scenario::names() {
        let scenario = Scenario::load(name, "v1")?;
        let started = Instant::now();
        // Each arm runs the cascade once for every user segment before sampling users.
        let model = scenario.arm_model(&scenario.task().baseline())?;
        let pre = scenario.arm_model(&scenario.defaults())?;
        let setup = started.elapsed();
        let started = Instant::now();
        let mut sums = ArmSums::default();
        simulate_users(&model, &pre, &[7], USERS, &mut sums);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name:18} {:>10.0} users/s on one core ({USERS} users in {secs:.2} s; arm setup {:.1} ms; mean sessions {:.2})",
            USERS as f64 / secs,
            setup.as_secs_f64() * 1e3,
            sums.mean("sessions"),
        );
    }
    Ok(())
}
