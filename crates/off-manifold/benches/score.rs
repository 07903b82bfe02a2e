//! Benchmark: 10 000 queries against 50 000 references at 64×64 (gray, D = 4096) with the scores
//! knn, tangent and lid, calibration on 2000 reference images. One timed run (a criterion loop would take hours).
//!
//! ```text
//! cargo bench -p off-manifold --bench score                      # the full size
//! cargo bench -p off-manifold --bench score -- --n-ref 5000 --n-query 1000 --strategy pruned
//! ```
//!
//! Data: smooth synthetic images on a 4-D manifold (a Gaussian blob with random position, width and contrast on a
//! gradient background); the queries are fresh samples of the same manifold, a fraction `--noisy F` of them (default
//! 0.5) with uniform noise of amplitude 0.1 added, so the summary also shows whether the scores separate them. Memory: the data are
//! n × D f32; everything else is O(n·k) (the kNN engine works in blocks; the tangent PCA is k × k per image).

use std::time::Instant;

use ndarray::Array2;
use off_manifold::{score, DimChoice, Method, ScoreOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

fn blobs(n: usize, size: usize, seed: u64, noise: f32) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((n, size * size));
    out.as_slice_mut().unwrap().par_chunks_mut(size * size).enumerate().for_each(|(i, img)| {
        let mut rng = seeds::stream(seed, i as u64);
        let s = size as f32;
        let (u, v) = (rng.random_range(0.2..0.8) * s, rng.random_range(0.2..0.8) * s);
        let sigma = rng.random_range(0.06..0.15) * s;
        let contrast = rng.random_range(0.3..0.7f32);
        for y in 0..size {
            for x in 0..size {
                let r2 = (x as f32 - u).powi(2) + (y as f32 - v).powi(2);
                let bg = 0.2 + 0.3 * (x + y) as f32 / (2.0 * s);
                let mut p = bg + contrast * (-r2 / (2.0 * sigma * sigma)).exp();
                if noise > 0.0 {
                    p += noise * (rng.random::<f32>() - 0.5);
                }
                img[y * size + x] = p.clamp(0.0, 1.0);
            }
        }
    });
    out
}

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n_ref, n_query, size, k) =
        (get("--n-ref", 50_000), get("--n-query", 10_000), get("--size", 64), get("--k", 20));
    let strategy = match args.iter().position(|a| a == "--strategy").and_then(|i| args.get(i + 1)).map(String::as_str) {
        Some("pruned") => knn::Strategy::PcaPruned,
        Some("brute") => knn::Strategy::Brute,
        _ => knn::Strategy::Auto,
    };
    let t = Instant::now();
    let reference = blobs(n_ref, size, 1, 0.0);
    // `--noisy F`: fraction of the queries with added noise (default 0.5).
    let noisy_fraction: f64 = args
        .iter()
        .position(|a| a == "--noisy")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.5);
    let half = n_query - (n_query as f64 * noisy_fraction).round() as usize;
    let clean = blobs(half, size, 2, 0.0);
    let noisy = blobs(n_query - half, size, 3, 0.1);
    let query = ndarray::concatenate![ndarray::Axis(0), clean, noisy];
    let data_mb = (reference.len() + query.len()) as f64 * 4.0 / 1e6;
    println!(
        "data: {n_ref} references + {n_query} queries of {size}x{size} (D = {}), {:.0} MB, generated in {:.1} s; \
         {} threads, strategy {strategy:?}",
        size * size,
        data_mb,
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let opts = ScoreOptions {
        methods: vec![Method::Knn, Method::Tangent, Method::Lid],
        k,
        dim: DimChoice::Auto,
        knn: knn::KnnOptions { strategy, ..Default::default() },
        ..Default::default()
    };
    let t = Instant::now();
    let r = score(reference.view(), query.view(), None, &opts).expect("score");
    let total = t.elapsed().as_secs_f64();
    println!(
        "score: {total:.1} s total; stages: {:?}",
        r.timings.iter().map(|(s, x)| format!("{s} {x:.1} s")).collect::<Vec<_>>()
    );
    println!(
        "reference MLE dimension {:.2}, tangent d = {:?}, calibration images {}",
        r.reference_dimension,
        r.dim_global,
        r.calibration_rows.len()
    );
    for c in &r.columns {
        let med = |v: &[f64]| intrinsic_dim::stats::median(v);
        println!(
            "  {:>8}: median percentile clean {:.3}, noisy {:.3}; AUROC noisy vs clean {:.3}",
            c.name,
            med(&c.percentiles[..half]),
            med(&c.percentiles[half..]),
            off_manifold::auroc(&c.values[half..], &c.values[..half]).unwrap_or(f64::NAN)
        );
    }
    if args.iter().any(|a| a == "--knn-check") {
        // Where does the kNN time go? The same search on uniform noise of the same size (no near-ties, so the
        // engine's exactness certificate never falls back to an exact scan) and on the blob data.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let ur = Array2::from_shape_fn((n_ref, size * size), |_| rng.random::<f32>());
        let uq = Array2::from_shape_fn((n_query, size * size), |_| rng.random::<f32>());
        let kopts = knn::KnnOptions { strategy, ..Default::default() };
        let t = Instant::now();
        knn::knn_query_with(ur.view(), uq.view(), k, &kopts).unwrap();
        println!("knn_query on uniform noise: {:.1} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        knn::knn_query_with(reference.view(), query.view(), k, &kopts).unwrap();
        println!("knn_query on the blob data: {:.1} s", t.elapsed().as_secs_f64());
    }
    if let Some(mb) = peak_rss_mb() {
        println!("peak resident memory {mb:.0} MB (data {data_mb:.0} MB)");
    }
}
