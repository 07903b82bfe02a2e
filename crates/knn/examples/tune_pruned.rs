//! Tuning the PCA-pruned search on a real collection: times brute force, the planner, and the pruned search with
//! each coordinate count and block size (CPU seconds), checking every answer against brute force, with the
//! fraction of (query, reference block) pairs the block bounds did not skip and the exact distances per query.
//!
//!     cargo run -p knn --release --example tune_pruned -- FILE [ROWS] [K]
//!
//! FILE: anything `dataset` loads (e.g. Fashion-MNIST's IDX file); ROWS: first rows only (default all).
//! GRID=m:query_block:reference_block,… sets the pruned runs; NO_BRUTE=1 skips brute force (profiling).

use knn::bench::pruned_self_stats;
use knn::{knn_self_with, plan, KnnOptions, Strategy};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.first().expect("usage: tune_pruned FILE [ROWS] [K]");
    let rows: usize = args.get(1).map_or(0, |s| s.parse().expect("ROWS"));
    let k: usize = args.get(2).map_or(20, |s| s.parse().expect("K"));
    let opts = dataset::LoadOptions { limit: (rows > 0).then_some(rows), ..Default::default() };
    let x = dataset::load(std::path::Path::new(file), &opts).expect("load").data;
    println!("{} × {}, k = {k}", x.nrows(), x.ncols());
    // CPU seconds (the machine is shared: CPU time is steadier than wall time).
    let time = |o: &KnnOptions| {
        let c = cpu_seconds();
        let nb = knn_self_with(x.view(), k, o).expect("search");
        (cpu_seconds() - c, nb)
    };
    // NO_BRUTE=1 skips brute force (for profiling; nothing is checked then).
    let (tb, brute) = if std::env::var_os("NO_BRUTE").is_some() {
        (f64::NAN, None)
    } else {
        let (tb, nb) = time(&KnnOptions { strategy: Strategy::Brute, ..Default::default() });
        (tb, Some(nb))
    };
    println!("brute: {tb:.2} CPU s");
    let c = cpu_seconds();
    let p = plan(x.view(), k, &KnnOptions::default()).expect("plan");
    println!("plan: {:.2} CPU s -> {:?}", cpu_seconds() - c, p);
    let grid: Vec<(usize, usize, usize)> = std::env::var("GRID")
        .unwrap_or_else(|_| "8:256:2048,16:256:2048,24:256:2048,32:256:2048,48:256:2048".into())
        .split(',')
        .map(|g| {
            let v: Vec<usize> = g.split(':').map(|s| s.parse().expect("GRID m:qb:rb")).collect();
            (v[0], v[1], v[2])
        })
        .collect();
    for (m, qb, rb) in grid {
        let o = KnnOptions {
            strategy: Strategy::PcaPruned,
            pruning_dims: m,
            query_block: qb,
            reference_block: rb,
            ..Default::default()
        };
        let c = cpu_seconds();
        let (idx, st) = pruned_self_stats(x.view(), k, &o).expect("search");
        let tp = cpu_seconds() - c;
        println!(
            "pruned m={m:>2} qb={qb:>4} rb={rb:>5}: {tp:.2} CPU s ({:.2}× brute) identical={:?} \
             blocks visited {:.4} (query blocks × blocks {:.4}), second bound excluded {:.1}, refined {:.1} per query",
            tb / tp,
            brute.as_ref().map(|b| idx == b.indices),
            st.visited_block_pairs as f64 / st.block_pairs as f64,
            st.visited_group_pairs as f64 / st.group_pairs as f64,
            st.second_excluded as f64 / x.nrows() as f64,
            st.refined as f64 / x.nrows() as f64,
        );
    }
}

/// CPU time (user + system) of this process, from /proc/self/stat (Linux), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<f64>().ok()).sum::<f64>() / 100.0
}
