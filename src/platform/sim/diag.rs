//! Temporary calibration diagnostics.
use super::calibration::ModelVersion;
use super::catalogue::{defaults, SimConfig};
use super::outcome::ArmModel;
use super::population::expected;
use super::world::World;
use skillhub::Value;

fn show(tag: &str, e: &std::collections::BTreeMap<String, f64>, base: &std::collections::BTreeMap<String, f64>) {
    let mut s = format!("{tag:28}");
    for (k, v) in e {
        let b = base[k];
        s += &format!(" {k}={v:.3}({:+.2}%)", 100.0 * (v - b) / b);
    }
    println!("{s}");
}

#[test]
#[ignore]
fn diag_scan() {
    for ver in [ModelVersion::V1, ModelVersion::V2] {
        let t0 = std::time::Instant::now();
        let w = World::shared(ver);
        println!("world {:?} built in {:?}", ver, t0.elapsed());
        let t0 = std::time::Instant::now();
        let base_m = ArmModel::build(&w, &SimConfig::default());
        println!("arm model in {:?}", t0.elapsed());
        let base = expected(&base_m);
        show("baseline", &base, &base);
        let agg = |m: &ArmModel| {
            let n = m.segments.len() as f64;
            let cb: f64 = m.segments.iter().map(|s| s.clickbait_clicks).sum::<f64>() / n;
            let di: f64 = m.segments.iter().map(|s| s.dismissals).sum::<f64>() / n;
            let lk: f64 = m.segments.iter().map(|s| s.likes).sum::<f64>() / n;
            format!("cbclk={cb:.3} dis={di:.3} likes={lk:.3}")
        };
        println!("  {}", agg(&base_m));
        let spec = std::env::var("SCAN").unwrap_or_default();
        let scan: Vec<(String, Vec<Value>)> = spec.split(';').filter(|s| !s.is_empty()).map(|s| {
            let (k, vs) = s.split_once('=').unwrap();
            (k.to_string(), vs.split(',').map(|v| v.parse::<f64>().map(Value::Num).unwrap_or(Value::Str(v.to_string()))).collect::<Vec<_>>())
        }).collect();
        for (k, vals) in scan {
            for v in vals {
                let mut c = defaults();
                c.insert(k.clone(), v.clone());
                let m = ArmModel::build(&w, &SimConfig::lenient(&c));
                show(&format!("{k}={v}"), &expected(&m), &base);
                println!("      {}", agg(&m));
            }
        }
    }
}

#[test]
#[ignore]
fn diag_optima() {
    use super::scenario::Scenario;
    use agents::platform::Oracle;
    let only = std::env::var("ONLY").unwrap_or_default();
    let mut opts = std::collections::BTreeMap::new();
    for ver in ["v1", "v2"] {
        for name in Scenario::names() {
            if !only.is_empty() && !name.contains(only.as_str()) { continue; }
            let sc = Scenario::load(name, ver).unwrap();
            let oracle = sc.oracle();
            let task = sc.task();
            let t0 = std::time::Instant::now();
            let opt = oracle.search(&task);
            let base = oracle.expected(&task.baseline());
            println!("{name} {ver}: score {:+.3} in {:?}  config {:?}", opt.score, t0.elapsed(),
                opt.config.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>());
            show("   optimum", &opt.metrics, &base);
            opts.insert((name.to_string(), ver), opt.clone());
            // unconstrained
            let mut free = task.clone();
            free.guardrails.clear();
            let u = oracle.search(&free);
            println!("   unconstrained: score {:+.3} config {:?}", u.score, u.config.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>());
            show("   unconstrained", &u.metrics, &base);
        }
    }
    for name in Scenario::names() {
        let (Some(o1), Some(o2)) = (opts.get(&(name.to_string(), "v1")), opts.get(&(name.to_string(), "v2"))) else { continue };
        for (ver, own, other) in [("v1", o1, o2), ("v2", o2, o1)] {
            let sc = Scenario::load(name, ver).unwrap();
            let oracle = sc.oracle();
            let task = sc.task();
            let base = oracle.expected(&task.baseline());
            let m = oracle.expected(&other.config);
            let sc_other = task.score(&skillhub::task::lifts_pct(&m, &base));
            println!("{name} under {ver}: own optimum {:+.3}, other version's optimum {:+.3} feasible={}", own.score, sc_other, task.feasible(&m, &base));
        }
    }
}

#[test]
#[ignore]
fn diag_task_toml() {
    use super::scenario::Scenario;
    for name in Scenario::names() {
        let t = Scenario::load(name, "v1").unwrap().task();
        #[derive(serde::Serialize)]
        struct F { task: skillhub::TaskSpec }
        println!("=== {name}\n{}", toml::to_string(&F { task: t }).unwrap());
    }
}

#[test]
#[ignore]
fn diag_sizes() {
    let w = World::shared(ModelVersion::V1);
    let sizes: Vec<usize> = (0..w.segments()).map(|g| w.candidates(g).len()).collect();
    println!("min {} max {} mean {}", sizes.iter().min().unwrap(), sizes.iter().max().unwrap(), sizes.iter().sum::<usize>() as f64 / sizes.len() as f64);
    println!("cand size {}", std::mem::size_of::<super::world::Cand>());
}

#[test]
#[ignore]
fn diag_throughput() {
    use super::scenario::Scenario;
    use super::population::{simulate_users, ArmSums};
    for name in Scenario::names() {
        let sc = Scenario::load(name, "v1").unwrap();
        let t0 = std::time::Instant::now();
        let model = sc.arm_model(&sc.task().baseline()).unwrap();
        let setup = t0.elapsed();
        let pre = sc.arm_model(&sc.defaults()).unwrap();
        let t0 = std::time::Instant::now();
        let mut s = ArmSums::default();
        simulate_users(&model, &pre, &[7], 400_000, &mut s);
        let secs = t0.elapsed().as_secs_f64();
        println!("{name}: {:.0} users/s, setup {:?}", 400_000.0 / secs, setup);
        let t0 = std::time::Instant::now();
        let o = sc.oracle();
        for _ in 0..20 { let _ = agents::platform::Oracle::expected(&o, &sc.defaults()); }
        println!("   expected(): {:?} per call", t0.elapsed() / 20);
    }
}

#[test]
#[ignore]
fn diag_noise() {
    use super::scenario::Scenario;
    use super::population::{simulate_users, ArmSums};
    use agents::platform::MetricData;
    let sc = Scenario::load("rank-fusion", "v1").unwrap();
    let model = sc.arm_model(&sc.defaults()).unwrap();
    let mut s = ArmSums::default();
    simulate_users(&model, &model, &[11], 200_000, &mut s);
    for (name, m) in s.metrics() {
        if let MetricData::Mean { n, sum, sum_sq, pre: Some(p) } = m {
            let n = n as f64;
            let mean = sum / n;
            let var = sum_sq / n - mean * mean;
            let pm = p.sum / n;
            let pvar = p.sum_sq / n - pm * pm;
            let r = (p.sum_product / n - mean * pm) / (var * pvar).sqrt();
            let cv = var.sqrt() / mean;
            let se = cv * (2.0f64 / 10_000.0).sqrt() * 100.0;
            println!("{name:12} mean {mean:9.2} cv {cv:.3} pre-corr {r:.3}  SE of lift at 10k/arm {se:.2}% (CUPED {:.2}%)", se * (1.0 - r * r).sqrt());
        }
    }
}

#[test]
#[ignore]
fn diag_smooth() {
    use super::scenario::Scenario;
    use agents::platform::Oracle;
    let spec = std::env::var("LINES").unwrap_or_else(|_| "rank-fusion,rank.w_dwell,0.5,2.5;rerank-diversity,rerank.mmr_lambda,0.5,1.0;prerank-fusion,prerank.w_dwell,0.0,3.0".into());
    for line_spec in spec.split(';') {
        let f: Vec<&str> = line_spec.split(',').collect();
        let (name, key, lo, hi) = (f[0], f[1], f[2].parse::<f64>().unwrap(), f[3].parse::<f64>().unwrap());
        let sc = Scenario::load(name, "v1").unwrap();
        let o = sc.oracle();
        let task = sc.task();
        let base = o.expected(&task.baseline());
        let mut line = String::new();
        for i in 0..=40 {
            let x = lo + (hi - lo) * i as f64 / 40.0;
            let mut c = task.baseline();
            c.insert(key.into(), Value::Num(x));
            let m = o.expected(&c);
            let s = task.score(&skillhub::task::lifts_pct(&m, &base));
            line += &format!("{s:+.2} ");
        }
        println!("{name} {key} [{lo},{hi}]: {line}");
    }
}

#[test]
#[ignore]
fn diag_jump() {
    use super::cascade::{build_slate, Scratch};
    let w = World::shared(ModelVersion::V1);
    let mut a = SimConfig::default();
    a.w_dwell = 1.57;
    let mut b = a.clone();
    b.w_dwell = 1.58;
    let ma = ArmModel::build(&w, &a);
    let mb = ArmModel::build(&w, &b);
    let mut s = Scratch::default();
    let mut changed = 0;
    let mut deltas: Vec<(f64, usize)> = vec![];
    for g in 0..w.segments() {
        let sa = build_slate(&w, g, &a, &mut s);
        let sb = build_slate(&w, g, &b, &mut s);
        if sa != sb { changed += 1; }
        deltas.push((mb.segments[g].returns / ma.segments[g].returns - 1.0, g));
    }
    deltas.sort_by(|x, y| x.0.abs().total_cmp(&y.0.abs()).reverse());
    println!("changed slates: {changed}; biggest relative return changes: {:?}", &deltas[..8]);
    let tot: f64 = deltas.iter().map(|d| d.0).sum::<f64>() / w.segments() as f64;
    println!("mean change {tot}");
}

#[test]
#[ignore]
fn diag_profile() {
    use super::cascade::{build_slate, Scratch};
    use super::outcome::evaluate_slate;
    let w = World::shared(ModelVersion::V1);
    let cfg = SimConfig::default();
    let mut s = Scratch::default();
    let t0 = std::time::Instant::now();
    let mut slates = vec![];
    for _ in 0..10 { slates.clear(); for g in 0..w.segments() { slates.push(build_slate(&w, g, &cfg, &mut s)); } }
    let t1 = t0.elapsed() / 10;
    let t0 = std::time::Instant::now();
    for _ in 0..10 { for g in 0..w.segments() { let _ = std::hint::black_box(evaluate_slate(&w, g, &slates[g], 70.0)); } }
    let t2 = t0.elapsed() / 10;
    println!("cascade {:?} per arm ({:?}/segment), outcome {:?}", t1, t1 / w.segments() as u32, t2);
}

#[test]
#[ignore]
fn diag_profile2() {
    use super::cascade::{prerank, rank, rerank, Scratch};
    let w = World::shared(ModelVersion::V1);
    let cfg = SimConfig::default();
    let mut s = Scratch::default();
    let n = w.segments();
    let mut best = [std::time::Duration::MAX; 3];
    for _ in 0..30 {
        let (mut a, mut b, mut c) = (std::time::Duration::ZERO, std::time::Duration::ZERO, std::time::Duration::ZERO);
        for g in 0..n {
            let cands = w.candidates(g);
            let t = std::time::Instant::now(); prerank(w.light(g), &cfg, &mut s); a += t.elapsed();
            let t = std::time::Instant::now(); rank(w.heads(g), &cfg, &mut s); b += t.elapsed();
            let t = std::time::Instant::now(); std::hint::black_box(rerank(&w, cands, w.heads(g), &cfg, &mut s)); c += t.elapsed();
        }
        best = [best[0].min(a), best[1].min(b), best[2].min(c)];
    }
    let d = n as u32;
    println!("prerank {:?} rank {:?} rerank {:?}", best[0] / d, best[1] / d, best[2] / d);
}
