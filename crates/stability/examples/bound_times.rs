//! Wall-clock seconds of IBP and CROWN on one thread over the images `imanifold stability` measures, for the
//! side-by-side with auto_LiRPA (`tools/lirpa_compare.py --ours-times`).
//!
//! `cargo run --release -p stability --example bound_times -- MODEL DATA LIMIT EPS[,EPS...]` loads the first
//! LIMIT rows of DATA (labels from its `label` column), keeps the correctly classified ones (as the command does)
//! and prints `{"<eps>": {"images": n, "ibp": s, "crown": s}, ...}` (keys: the budget as the command's
//! `results.json` writes it). Building the f64 network from the model is not counted.

use std::path::PathBuf;
use std::time::Instant;

use classifier::labels::model_labels;
use classifier::Classifier;
use stability::net::margin_of;
use stability::verify::{eps_box, DEFAULT_LOWER_SLOPE};
use stability::{crown, ibp, Net};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, data, limit, eps] = args.as_slice() else {
        return Err("usage: bound_times MODEL DATA LIMIT EPS[,EPS...]".into());
    };
    let model = Classifier::load(&PathBuf::from(model))?;
    let opts = dataset::LoadOptions { limit: Some(limit.parse()?), ..Default::default() };
    let ds = dataset::load(&PathBuf::from(data), &opts)?;
    let labels = model_labels(&model, &ds, "label")?;
    let net = Net::from_classifier(&model)?;
    let rows: Vec<(Vec<f64>, usize)> = ds
        .data
        .view()
        .outer_iter()
        .zip(labels)
        .map(|(r, l)| (r.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>(), l))
        .filter(|(x, l)| margin_of(&net.logits(x), *l).0 > 0.0)
        .collect();
    let mut out = serde_json::Map::new();
    for text in eps.split(',') {
        let e = classifier::adversarial::parse_eps_f64(text)?;
        let boxes: Vec<(Vec<f64>, Vec<f64>)> = rows.iter().map(|(x, _)| eps_box(x, e)).collect();
        let t = Instant::now();
        let ibp_sum: f64 = rows.iter().zip(&boxes).map(|((_, l), (lo, hi))| ibp(&net, lo, hi, *l).min_margin()).sum();
        let ibp_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let crown_sum: f64 = rows
            .iter()
            .zip(&boxes)
            .map(|((_, l), (lo, hi))| crown(&net, lo, hi, *l, DEFAULT_LOWER_SLOPE).min_margin())
            .sum();
        let crown_s = t.elapsed().as_secs_f64();
        out.insert(
            e.to_string(),
            serde_json::json!({"images": rows.len(), "ibp": ibp_s, "crown": crown_s,
                               "ibp_margin_sum": ibp_sum, "crown_margin_sum": crown_sum}),
        );
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
