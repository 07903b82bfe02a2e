//! Measures approximate-search crates on a collection: build + query time and recall@k against the exact engine.
//! `cargo run --release -p knn --example ann_candidates -- DATA K`

use std::time::Instant;

use instant_distance::{Builder, Point, Search};
use ndarray::ArrayView2;
use rayon::prelude::*;

#[derive(Clone, Copy)]
struct Row<'a>(&'a [f32]);
impl Point for Row<'_> {
    fn distance(&self, o: &Self) -> f32 {
        self.0.iter().zip(o.0).map(|(a, b)| (a - b) * (a - b)).sum()
    }
}

fn recall(found: &[Vec<usize>], exact: &[Vec<usize>]) -> f64 {
    let mut hit = 0usize;
    let mut tot = 0usize;
    for (f, e) in found.iter().zip(exact) {
        tot += e.len();
        hit += e.iter().filter(|j| f.contains(j)).count();
    }
    hit as f64 / tot as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ds = dataset::load(args[1].as_ref(), &Default::default()).unwrap();
    let k: usize = args[2].parse().unwrap();
    let which = args.get(3).map(String::as_str).unwrap_or("all");
    let data: ArrayView2<f32> = ds.data.view();
    let (n, d) = data.dim();
    let flat = data.as_slice().unwrap();
    let rows: Vec<&[f32]> = flat.chunks_exact(d).collect();
    // Exact reference for 500 sampled rows.
    let sample: Vec<usize> = (0..500).map(|i| (i * 7919 * 13) % n).collect();
    let q = ndarray::Array2::from_shape_fn((sample.len(), d), |(i, c)| data[(sample[i], c)]);
    let t = Instant::now();
    let ex = knn::knn_query(data, q.view(), k + 1).unwrap();
    let exact: Vec<Vec<usize>> = sample
        .iter()
        .enumerate()
        .map(|(i, &s)| ex.indices.row(i).iter().copied().filter(|&j| j != s).take(k).collect())
        .collect();
    eprintln!("exact sample {:.2}s  n={n} d={d}", t.elapsed().as_secs_f64());
    let threads = rayon::current_num_threads();
    for ef in [64usize] {
        if which != "all" && which != "id" {
            break;
        }
        for single in [true] {
            let t = Instant::now();
            let pts: Vec<Row> = rows.iter().map(|r| Row(r)).collect();
            let build = || Builder::default().ef_construction(100).ef_search(ef).seed(7).build_hnsw(pts.clone());
            let (h, ids) = if single {
                rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(build)
            } else {
                build()
            };
            let tb = t.elapsed().as_secs_f64();
            let mut back = vec![0usize; n];
            for (i, p) in ids.iter().enumerate() {
                back[p.into_inner() as usize] = i;
            }
            let res: Vec<Vec<usize>> = (0..n)
                .into_par_iter()
                .map_init(Search::default, |s, i| {
                    h.search(&Row(rows[i]), s)
                        .map(|it| back[it.pid.into_inner() as usize])
                        .filter(|&j| j != i)
                        .take(k)
                        .collect()
                })
                .collect();
            let tt = t.elapsed().as_secs_f64();
            let found: Vec<Vec<usize>> = sample.iter().map(|&s| res[s].clone()).collect();
            println!("instant-distance ef_c=100 ef_s={ef} single_build={single} build {tb:.2}s total {tt:.2}s recall {:.4} threads {threads}", recall(&found, &exact));
            if ef != 48 {
                break;
            }
        }
    }
    if which == "all" || which == "hnsw" {
        use hnsw_rs::prelude::*;
        for (efc, efs) in [(100usize, 64usize)] {
            let t = Instant::now();
            let h = Hnsw::<f32, DistL2>::new(32, n, 16, efc, DistL2 {});
            for (i, r) in rows.iter().enumerate() {
                h.insert_slice((r, i));
            }
            let tb = t.elapsed().as_secs_f64();
            let res: Vec<Vec<usize>> = (0..n)
                .into_par_iter()
                .map(|i| h.search(rows[i], k + 1, efs).iter().map(|nb| nb.d_id).filter(|&j| j != i).take(k).collect())
                .collect();
            let tt = t.elapsed().as_secs_f64();
            let found: Vec<Vec<usize>> = sample.iter().map(|&s| res[s].clone()).collect();
            println!(
                "hnsw_rs M=32 ef_c={efc} ef_s={efs} sequential build {tb:.2}s total {tt:.2}s recall {:.4}",
                recall(&found, &exact)
            );
        }
    }
}
