//! Checks a launch request against the platform contract and the parameter catalogue.
//! Every problem names its field (`arms[1].config.rank.w_click: ...`), and all problems
//! are reported at once so a client can fix a request in one go.

use super::catalogue::SimConfig;
use agents::platform::LaunchRequest;

/// More units than this per arm is certainly a client bug, and would tie up a core for
/// minutes.
pub const MAX_UNITS_PER_ARM: u64 = 5_000_000;

#[derive(Debug, Clone)]
pub struct ValidArm {
    pub arm_id: String,
    pub traffic: f64,
    pub config: SimConfig,
}

pub fn validate(req: &LaunchRequest) -> Result<Vec<ValidArm>, String> {
    let mut problems: Vec<String> = Vec::new();
    if req.arms.is_empty() {
        problems.push("arms: at least one arm is required".into());
    }
    let mut arms = Vec::with_capacity(req.arms.len());
    for (i, arm) in req.arms.iter().enumerate() {
        if arm.arm_id.trim().is_empty() {
            problems.push(format!("arms[{i}].arm_id: must not be empty"));
        } else if let Some(j) = req.arms[..i].iter().position(|a| a.arm_id == arm.arm_id) {
            problems.push(format!("arms[{i}].arm_id: duplicate arm id `{}` (also arms[{j}])", arm.arm_id));
        }
        if !(arm.traffic > 0.0 && arm.traffic <= 1.0) {
            problems.push(format!("arms[{i}].traffic: {} is not in (0, 1]", arm.traffic));
        }
        match SimConfig::parse(&arm.config) {
            Ok(config) => arms.push(ValidArm { arm_id: arm.arm_id.clone(), traffic: arm.traffic, config }),
            Err(ps) => problems.extend(ps.into_iter().map(|p| format!("arms[{i}].config.{}: {}", p.field, p.problem))),
        }
    }
    let total: f64 = req.arms.iter().map(|a| a.traffic).sum();
    if total > 1.0 + 1e-9 {
        problems.push(format!("arms: traffic sums to {total}, above 1"));
    }
    if !req.arms.iter().any(|a| a.arm_id == req.control_arm) {
        let ids: Vec<&str> = req.arms.iter().map(|a| a.arm_id.as_str()).collect();
        problems.push(format!("control_arm: `{}` is not one of the arms ({})", req.control_arm, ids.join(", ")));
    }
    if req.units_per_arm == 0 {
        problems.push("units_per_arm: must be at least 1".into());
    } else if req.units_per_arm > MAX_UNITS_PER_ARM {
        problems.push(format!(
            "units_per_arm: {} is above the simulator's limit of {MAX_UNITS_PER_ARM}",
            req.units_per_arm
        ));
    }
    if problems.is_empty() {
        Ok(arms)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agents::platform::ArmSpec;
    use skillhub::{Configuration, Value};

    fn arm(id: &str, traffic: f64, config: &[(&str, Value)]) -> ArmSpec {
        ArmSpec {
            arm_id: id.into(),
            traffic,
            config: config.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Configuration>(),
        }
    }

    fn request(arms: Vec<ArmSpec>) -> LaunchRequest {
        LaunchRequest { name: "t".into(), control_arm: "control".into(), arms, units_per_arm: 100, seed: Some(1) }
    }

    #[test]
    fn out_of_range_value_names_arm_and_key() {
        let req = request(vec![arm("control", 0.5, &[]), arm("t1", 0.5, &[("rank.w_click", Value::Num(5.0))])]);
        let msg = validate(&req).unwrap_err();
        assert!(msg.contains("arms[1].config.rank.w_click: 5 is outside [0, 3]"), "{msg}");
    }

    #[test]
    fn every_structural_problem_names_its_field() {
        let mut req =
            request(vec![arm("c", 0.7, &[("rank.w_clik", Value::Num(1.0))]), arm("c", 0.6, &[]), arm("t", 0.0, &[])]);
        req.units_per_arm = 0;
        let msg = validate(&req).unwrap_err();
        for needle in [
            "arms[0].config.rank.w_clik: unknown parameter",
            "arms[1].arm_id: duplicate arm id `c` (also arms[0])",
            "arms[2].traffic: 0 is not in (0, 1]",
            "arms: traffic sums to 1.2",
            "control_arm: `control` is not one of the arms (c, c, t)",
            "units_per_arm: must be at least 1",
        ] {
            assert!(msg.contains(needle), "missing `{needle}` in: {msg}");
        }
    }

    #[test]
    fn missing_keys_take_the_defaults() {
        let req = request(vec![arm("control", 0.5, &[]), arm("t1", 0.5, &[("rank.top_k", Value::Num(60.0))])]);
        let arms = validate(&req).expect("valid");
        assert_eq!(arms[0].config, SimConfig::default());
        assert_eq!(arms[1].config.rank_top_k, 60);
        assert_eq!(arms[1].config.pre_top_k, 200);
    }
}
