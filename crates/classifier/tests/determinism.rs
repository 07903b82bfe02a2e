//! Same seed → same model, fooling images and perturbations, whatever the thread count. One test in its own binary
//! because it sets RAYON_NUM_THREADS (read by candle's matmul on every call).

use classifier::adversarial::{attack, AttackOptions, Norm};
use classifier::fool::{fool, FoolOptions, Method};
use classifier::synthetic::patterns;
use classifier::{train, Architecture, ConvSpec, TrainOptions};

type Outcome = (Vec<(String, Vec<f32>)>, Vec<Vec<f32>>, Vec<Vec<f32>>);

fn pipeline() -> Outcome {
    let d = patterns(20, 16, 3, 11);
    let opts = TrainOptions {
        epochs: 3,
        seed: 5,
        architecture: Architecture {
            conv: vec![ConvSpec { channels: 8, kernel: 3, stride: 1 }, ConvSpec { channels: 16, kernel: 3, stride: 2 }],
            hidden: 16,
            pool: Default::default(),
        },
        ..TrainOptions::default()
    };
    let (m, _) = train(d.data.view(), d.shape, &d.labels, &d.classes, &opts, |_| ()).unwrap();
    let f = fool(
        &m,
        &FoolOptions {
            method: Method::EvolveDirect,
            generations: 3,
            population: 40,
            seed: 2,
            ..FoolOptions::default()
        },
        |_, _| (),
    )
    .unwrap();
    let x = d.data.mapv(|v| (v * 255.0).round() / 255.0);
    let a = attack(
        &m,
        x.view(),
        &d.labels,
        &AttackOptions { norm: Norm::L2, eps: 0.5, steps: 5, random_trials: 10, ..AttackOptions::default() },
    )
    .unwrap();
    (
        m.parameters().unwrap(),
        f.images.into_iter().map(|i| i.image).collect(),
        a.results.into_iter().map(|r| r.perturbed).collect(),
    )
}

fn with_threads(n: usize) -> Outcome {
    // Edition 2021: set_var is safe; this binary has a single test, so nothing reads the variable concurrently.
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(pipeline)
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let one = with_threads(1);
    let two = with_threads(2);
    let three = with_threads(3);
    assert!(one.0 == two.0 && one.0 == three.0, "trained weights differ between 1, 2 and 3 threads");
    assert!(one.1 == two.1 && one.1 == three.1, "fooling images differ between thread counts");
    assert!(one.2 == two.2 && one.2 == three.2, "perturbations differ between thread counts");
}
