//! The example task files under `config/tasks/` must say exactly what the scenarios'
//! default tasks say.

use super::scenario::Scenario;
use serde::Deserialize;
use skillhub::TaskSpec;

#[derive(Deserialize)]
struct TaskFile {
    platform: PlatformSection,
    task: TaskSpec,
}

#[derive(Deserialize)]
struct PlatformSection {
    kind: String,
    scenario: String,
    model_version: String,
}

#[test]
fn task_files_match_the_scenarios_default_tasks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join("tasks");
    for name in Scenario::names() {
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file: TaskFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(file.platform.kind, "sim", "{}", path.display());
        assert_eq!(file.platform.scenario, *name, "{}", path.display());
        let scenario = Scenario::load(&file.platform.scenario, &file.platform.model_version).expect("scenario");
        assert_eq!(file.task, scenario.task(), "{} differs from Scenario::task()", path.display());
    }
}
