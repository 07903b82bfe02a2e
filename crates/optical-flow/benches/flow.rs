//! Milliseconds per 256×256 pair for each flow method (and OpenCV's, with `--features opencv`), in one run.
//!
//!   cargo bench -p optical-flow [--features opencv]
//!
//! The pair is a smooth synthetic warp (max 4 px) of the 128×128 test photograph upscaled to 256×256, computed on one
//! thread (rayon pool of 1; OpenCV's own threads set to 1), preparation of both frames included.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use optical_flow::synthetic::{motion_field, Motion};
use optical_flow::{method_names, read_gray, warp, FlowEstimator, FlowParams};

fn pair() -> (Array2<f32>, Array2<f32>) {
    let photo =
        read_gray(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/camera_128.png")).expect("test photograph");
    // Bilinear ×2 upscaling to 256×256.
    let big = Array2::from_shape_fn((256, 256), |(y, x)| {
        let sx = ((x as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, 127.0);
        let sy = ((y as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, 127.0);
        let (x0, y0) = (sx as usize, sy as usize);
        let (x1, y1) = ((x0 + 1).min(127), (y0 + 1).min(127));
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let a = photo[[y0, x0]] * (1.0 - fx) + photo[[y0, x1]] * fx;
        let b = photo[[y1, x0]] * (1.0 - fx) + photo[[y1, x1]] * fx;
        a * (1.0 - fy) + b * fy
    });
    let truth = motion_field(Motion::Smooth { seed: 1, max_disp: 4.0 }, 256, 256);
    (warp(big.view(), truth.view()).expect("warp"), big)
}

fn bench(c: &mut Criterion) {
    #[cfg(feature = "opencv")]
    opencv::core::set_num_threads(1).expect("OpenCV threads");
    let (f1, f2) = pair();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let mut g = c.benchmark_group("flow_256x256");
    g.sample_size(20);
    for name in method_names() {
        let est = FlowEstimator::new(FlowParams::from_name(name).expect("method")).expect("params");
        g.bench_function(name, |b| {
            b.iter(|| {
                pool.install(|| {
                    let a = est.prepare(f1.view()).expect("prepare");
                    let b = est.prepare(f2.view()).expect("prepare");
                    est.flow(&a, &b).expect("flow")
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
