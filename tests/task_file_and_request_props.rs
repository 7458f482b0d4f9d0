//! Property tests at the binary's edges: any task file given to `--task` loads to
//! settings or to one error line (never a panic), a mangled copy of a real task file
//! too; and the platform server's launch-request parser answers any body with a request
//! or a message naming the field, while valid requests round-trip.

use agents::platform::{ArmSpec, LaunchRequest};
use proptest::prelude::*;
use rectune::platform::serve::handlers::parse_launch;
use rectune::settings::{Overrides, Settings};
use skillhub::Value;

fn load(dir: &std::path::Path, text: &[u8]) -> Result<Settings, String> {
    let path = dir.join("task.toml");
    std::fs::write(&path, text).expect("write task file");
    let o = Overrides { task_file: Some(path), db: Some(dir.join("db")), ..Default::default() };
    Settings::load(&o).map_err(|e| e.to_string())
}

fn real_task_files() -> Vec<String> {
    ["rank-fusion", "prerank-fusion", "rerank-diversity"]
        .iter()
        .map(|t| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("config/tasks/{t}.toml"));
            std::fs::read_to_string(path).expect("task file")
        })
        .collect()
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![-1e9..1e9f64, prop::num::f64::NORMAL].prop_map(Value::Num),
        ".{0,10}".prop_map(Value::Str),
    ]
}

fn launch_request() -> impl Strategy<Value = LaunchRequest> {
    let arm = ("[a-z0-9-]{1,10}", 0.0..=1.0f64, prop::collection::btree_map("[a-z_.]{1,12}", value(), 0..5))
        .prop_map(|(arm_id, traffic, config)| ArmSpec { arm_id, traffic, config });
    (".{0,30}", "[a-z]{1,8}", prop::collection::vec(arm, 0..5), any::<u64>(), prop::option::of(any::<u64>())).prop_map(
        |(name, control_arm, arms, units_per_arm, seed)| LaunchRequest { name, control_arm, arms, units_per_arm, seed },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_task_file_loads_or_fails_in_one_line(text in prop_oneof![".{0,300}".prop_map(String::into_bytes), prop::collection::vec(any::<u8>(), 0..300)]) {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Err(e) = load(dir.path(), &text) {
            prop_assert_eq!(e.lines().count(), 1, "one line: {}", e);
        }
    }

    #[test]
    fn mangled_real_task_files_load_or_fail_in_one_line(
        which in 0..3usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut bytes = real_task_files()[which].clone().into_bytes();
        for (at, byte, op) in &edits {
            let i = at.index(bytes.len());
            match op { 0 => bytes[i] = *byte, 1 => { bytes.remove(i); } _ => bytes.insert(i, *byte) }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        match load(dir.path(), &bytes) {
            Ok(s) => prop_assert!(s.validate().is_ok()),
            Err(e) => prop_assert_eq!(e.lines().count(), 1, "one line: {}", e),
        }
    }

    #[test]
    fn any_launch_body_parses_or_names_the_field(body in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(why) = parse_launch(&body) {
            prop_assert!(why.contains(':'), "{}", why);
        }
    }

    #[test]
    fn launch_requests_round_trip(req in launch_request()) {
        let body = serde_json::to_vec(&req).expect("serialise");
        prop_assert_eq!(parse_launch(&body), Ok(req));
    }
}

#[test]
fn the_real_task_files_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    for text in real_task_files() {
        load(dir.path(), text.as_bytes()).expect("a shipped task file loads");
    }
}
