//! `imanifold demo`: one command that measures the project's claims end to end and writes a self-contained HTML
//! report, the data of every plot, and `results.json` with every figure.
//!
//! Stages (each calls the library crates in-process; see the stage modules for details):
//! 1. **Intrinsic dimension** (`stage1_dimension/`): the `object` scene with 1…7 free parameters, dimension by
//!    mle, twonn, lpca and the imanifold default with 95 % intervals, ID-vs-k curves.
//! 2. **Flow geodesics** (`stage2_geodesic/`): a turntable set, kNN-graph geodesics weighted by optical flow vs the
//!    true angle, next to Euclidean-graph geodesics and pixel distances.
//! 3. **Off the manifold** (`stage3_off_manifold/`): a classifier trained on `shapes10`, fooling images (direct and
//!    CPPN encodings), PGD adversarial images with the random flip-rate baseline, off-manifold scores of natural,
//!    noise, other-scene, fooling, adversarial, flow-morph and cross-fade images with AUROCs per group.
//! 4. **Stability against the number of pixels** (`stage4_stability/`): `stability::sweep` on shapes10 at a few
//!    sizes: the certified share and 1 − the attacked share of stable ε-boxes, the independence prediction
//!    (1 − q)^n_eff and fits of ln P against n, random uniform / corner flip rates next to PGD's and the clean error.
//! 5. **Report**: `report.html` (inline SVG plots, inline PNG galleries; nothing loaded from the network),
//!    `plots/*.csv|svg|png` (each figure's data), `results.json` (schema `imanifold/demo/v1`).
//!
//! A stage whose crates are not compiled in (cargo features `dimension`, `geodesic`, `off-manifold`, `stability`)
//! is reported as left out; a stage that fails at run time is reported with its error, the other stages still
//! run, and [`run`] returns [`DemoError::StagesFailed`] after writing the report. Same seed → same numbers, whatever
//! the thread count (every random choice comes from a seeded per-item stream; the library crates guarantee the
//! same for their own work).

pub mod config;
pub mod data;
mod page;
mod util;

#[cfg(feature = "dimension")]
mod stage_dimension;
#[cfg(feature = "geodesic")]
mod stage_geodesic;
#[cfg(feature = "off-manifold")]
mod stage_off_manifold;
#[cfg(feature = "stability")]
mod stage_stability;

use std::path::Path;
use std::time::Instant;

use output::Existing;
use serde_json::{json, Map, Value};

pub use config::{Config, Stage};
pub use page::{StageRecord, Status};
pub use util::{DemoError, Result};

/// Schema of the demo's `results.json`.
pub const SCHEMA: &str = "imanifold/demo/v1";

/// What [`run`] wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The `results.json` value.
    pub results: Value,
    pub records: Vec<StageRecord>,
}

/// Checks the output folder before any work: it may be new, empty, or a previous demo output (recognised by its
/// results.json schema), which the run then replaces as a whole; anything else is refused so that the demo never
/// mixes its files with someone else's or deletes them.
pub fn check_out(out: &Path) -> Result<()> {
    let refuse = |message: String| DemoError::OutputDir { path: out.to_path_buf(), message, source: None };
    if out.exists() && !out.is_dir() {
        return Err(refuse("exists and is not a folder".into()));
    }
    match output::check_destination(out) {
        Ok(Existing::Nothing) => Ok(()),
        Ok(Existing::Output(s)) if s == SCHEMA => Ok(()),
        Ok(Existing::Output(s)) => {
            Err(refuse(format!("holds the results of another command ({s}); choose a new folder")))
        }
        Err(output::OutputError::Destination { .. }) => {
            Err(refuse("is not empty and does not hold a previous demo output; choose a new or empty folder".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Replaces the staging folder's path by the destination's in every string of every `results.json` under `dir`, so
/// that the recorded input paths name the folder the user gets, not the hidden one the run wrote into.
fn rename_recorded_paths(dir: &Path, stage: &str, out: &str) -> Result<()> {
    fn fix(v: &mut Value, stage: &str, out: &str) -> bool {
        match v {
            Value::String(s) if s.contains(stage) => {
                *s = s.replace(stage, out);
                true
            }
            Value::Array(a) => a.iter_mut().fold(false, |c, x| fix(x, stage, out) | c),
            Value::Object(m) => m.values_mut().fold(false, |c, x| fix(x, stage, out) | c),
            _ => false,
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| DemoError::OutputDir {
        path: dir.to_path_buf(),
        message: "cannot list".into(),
        source: Some(e),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            rename_recorded_paths(&path, stage, out)?;
        } else if entry.file_name() == "results.json" {
            let read = |e| DemoError::Read { path: path.clone(), source: Box::new(e) };
            let bytes = std::fs::read(&path).map_err(read)?;
            let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else { continue };
            if fix(&mut v, stage, out) {
                output::write_json(&path, &v)?;
            }
        }
    }
    Ok(())
}

#[allow(unused_variables, unreachable_code)]
fn run_stage(stage: Stage, cfg: &Config, out: &Path, collected: &mut page::Collected) -> Result<Value> {
    let dir = out.join(stage.folder());
    output::create_dir(&dir)?;
    match stage {
        Stage::Dimension => {
            #[cfg(feature = "dimension")]
            {
                let pb = output::progress(7, "dimension");
                let d = stage_dimension::run(cfg, &dir, &pb);
                pb.finish_and_clear();
                let d = d?;
                let v = d.summary.clone();
                collected.dimension = Some(d);
                return Ok(v);
            }
        }
        Stage::Geodesic => {
            #[cfg(feature = "geodesic")]
            {
                let pb = output::progress(1, "geodesic");
                let g = stage_geodesic::run(cfg, &dir, &pb);
                pb.finish_and_clear();
                let g = g?;
                let v = g.summary.clone();
                collected.geodesic = Some(g);
                return Ok(v);
            }
        }
        Stage::OffManifold => {
            #[cfg(feature = "off-manifold")]
            {
                let pb = output::progress(1, "off-manifold");
                let o = stage_off_manifold::run(cfg, &dir, &pb);
                pb.finish_and_clear();
                let o = o?;
                let v = o.summary.clone();
                collected.off_manifold = Some(o);
                return Ok(v);
            }
        }
        Stage::Stability => {
            #[cfg(feature = "stability")]
            {
                let pb = output::progress(cfg.stability_sizes.len() as u64, "stability sizes");
                let s = stage_stability::run(cfg, &dir, &pb);
                pb.finish_and_clear();
                let s = s?;
                let v = s.summary.clone();
                collected.stability = Some(s);
                return Ok(v);
            }
        }
    }
    Err(DemoError::Step { context: stage.title().into(), message: format!("not built (needs {})", stage.crates()) })
}

/// Runs the demo into `out` (see the crate docs) as a transaction: every file goes to a hidden staging sibling
/// (`output::StagedDir`), which replaces `out` at the end. An interrupted run leaves no `out` folder (its staging
/// folder is removed by the next run into the same place); a rerun replaces a previous demo folder as a whole.
pub fn run(cfg: &Config, target: &Path) -> Result<Summary> {
    let started = Instant::now();
    check_out(target)?;
    let staged = output::StagedDir::new(target)?;
    let out = staged.path();
    let mut results = output::Results::new("demo");
    results.seed(cfg.seed).set("mode", cfg.mode()).set("config", cfg).set("threads", rayon::current_num_threads());
    let mut collected = page::Collected::default();
    let mut records = Vec::new();
    let mut stages_json = Map::new();
    for &stage in &cfg.stages {
        let t = Instant::now();
        let (status, summary) = if !stage.built() {
            (Status::NotBuilt, Value::Null)
        } else {
            match run_stage(stage, cfg, out, &mut collected) {
                Ok(v) => (Status::Done, v),
                Err(e) => {
                    let message = util::error_chain(&e);
                    eprintln!("error: stage {} failed: {message}", stage.key());
                    (Status::Failed(message), Value::Null)
                }
            }
        };
        let seconds = t.elapsed().as_secs_f64();
        results.timing(stage.key(), seconds);
        let mut entry =
            json!({"status": status.key(), "seconds": seconds, "folder": stage.folder(), "title": stage.title()});
        match &status {
            Status::Failed(m) => entry["error"] = json!(m),
            Status::NotBuilt => {
                entry["reason"] = json!(format!("not built into this binary (needs {})", stage.crates()))
            }
            Status::Done => {}
        }
        stages_json.insert(stage.key().into(), entry);
        results.set(stage.key(), summary);
        records.push(StageRecord { stage, status, seconds });
    }
    let t = Instant::now();
    let plots = page::write(out, cfg, &records, &collected, started.elapsed().as_secs_f64())?;
    results.timing("report", t.elapsed().as_secs_f64());
    results.set("stages", stages_json).set("plots", plots);
    results.write(out)?;
    let (stage_name, out_name) = (out.display().to_string(), target.display().to_string());
    rename_recorded_paths(out, &stage_name, &out_name)?;
    let value: Value = std::fs::read(out.join("results.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    staged.commit()?;
    let failed: Vec<&str> =
        records.iter().filter(|r| matches!(r.status, Status::Failed(_))).map(|r| r.stage.key()).collect();
    if !failed.is_empty() {
        return Err(DemoError::StagesFailed { count: failed.len(), list: failed.join(", ") });
    }
    Ok(Summary { results: value, records })
}

/// A few lines with the headline numbers of a demo `results.json` (for the terminal).
pub fn headline(v: &Value) -> Vec<String> {
    let f = |x: &Value| x.as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into());
    let mut out = Vec::new();
    if let Some(sets) = v["dimension"]["sets"].as_array() {
        for est in ["mle", "twonn", "lpca", "imanifold"] {
            let vals: Vec<String> = sets.iter().map(|s| f(&s["estimates"][est]["dimension"])).collect();
            out.push(format!("dimension, true 1..{}: {est:>9} {}", sets.len(), vals.join(" ")));
        }
    }
    let c = &v["geodesic"]["correlation"];
    if c.is_object() {
        out.push(format!(
            "geodesic Spearman vs true angle: flow {}, euclidean graph {}, pixel {}",
            f(&c["flow"]["spearman"]),
            f(&c["euclidean_graph"]["spearman"]),
            f(&c["pixel"]["spearman"])
        ));
    }
    let o = &v["off_manifold"];
    if o.is_object() {
        if let Some(a) = o["scores"]["auroc"].as_object() {
            for (g, m) in a {
                let parts: Vec<String> =
                    m.as_object().map(|m| m.iter().map(|(k, x)| format!("{k} {}", f(x))).collect()).unwrap_or_default();
                out.push(format!("AUROC {g:>15}: {}", parts.join(", ")));
            }
        }
        let adv = &o["adversarial"];
        out.push(format!(
            "PGD flip rate {} vs random {} (same L2) / {} (same L∞ ball)",
            f(&adv["flip_rate"]),
            f(&adv["random_flip_rate_l2"]),
            f(&adv["random_flip_rate_linf"])
        ));
        for m in ["evolve-direct", "evolve-cppn"] {
            let x = &o["fooling"][m];
            out.push(format!(
                "fooling {m}: {}/{} classes at ≥ 0.99, lowest confidence {}",
                x["n_reached"],
                x["n_classes"],
                f(&x["min_confidence"])
            ));
        }
    }
    if let Some(sizes) = v["stability"]["sizes"].as_array() {
        for s in sizes {
            for e in s["eps"].as_array().into_iter().flatten() {
                out.push(format!(
                    "stability {0}x{0}, eps {1:.4}: stable in [{2}, {3}], (1-q)^n {4}, uniform flips {5}, PGD {6}, \
                     clean error {7}",
                    s["size"],
                    e["eps"].as_f64().unwrap_or(f64::NAN),
                    f(&e["stable_lower"]),
                    f(&e["stable_upper"]),
                    f(&e["prediction"]),
                    f(&e["random_uniform_flip_rate"]),
                    f(&e["pgd_flip_rate"]),
                    f(&s["clean_error"])
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_folder_rules() {
        let dir = tempfile::tempdir().unwrap();
        // New and empty folders are fine.
        check_out(&dir.path().join("new")).unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        check_out(&dir.path().join("empty")).unwrap();
        // A folder with foreign files is refused, naming the folder.
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let e = check_out(&foreign).unwrap_err().to_string();
        assert!(e.contains("foreign") && e.contains("not empty"), "{e}");
        // A previous demo output is accepted, another command's output is not.
        let prev = dir.path().join("prev");
        std::fs::create_dir(&prev).unwrap();
        std::fs::write(prev.join("results.json"), format!("{{\"schema\": \"{SCHEMA}\"}}")).unwrap();
        check_out(&prev).unwrap();
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("results.json"), "{\"schema\": \"imanifold/dim/v1\"}").unwrap();
        assert!(check_out(&other).unwrap_err().to_string().contains("imanifold/dim/v1"));
        // A file is not a folder.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(check_out(&file).unwrap_err().to_string().contains("not a folder"));
    }

    #[test]
    fn recorded_paths_name_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir.path().join(".demo.partial-1");
        let sub = stage.join("stage1_dimension/set1");
        std::fs::create_dir_all(&sub).unwrap();
        let input = format!("{}/stage1_dimension/set1/render", stage.display());
        std::fs::write(sub.join("results.json"), json!({"input": input, "n": 3, "list": [input]}).to_string()).unwrap();
        std::fs::write(sub.join("other.json"), json!({"input": input}).to_string()).unwrap();
        rename_recorded_paths(&stage, &stage.display().to_string(), "OUT").unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(sub.join("results.json")).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"input": "OUT/stage1_dimension/set1/render", "n": 3,
                             "list": ["OUT/stage1_dimension/set1/render"]})
        );
        let other = std::fs::read_to_string(sub.join("other.json")).unwrap();
        assert!(other.contains(".demo.partial-1"), "only results.json files are rewritten");
    }

    #[test]
    fn headline_reads_the_figures() {
        let v = json!({
            "geodesic": {"correlation": {"flow": {"spearman": 0.99}, "euclidean_graph": {"spearman": 0.9},
                         "pixel": {"spearman": 0.5}}},
        });
        let h = headline(&v);
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("flow 0.99") && h[0].contains("pixel 0.50"), "{h:?}");
    }
}
