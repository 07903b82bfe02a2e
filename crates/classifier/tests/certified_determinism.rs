//! Certified training gives the same model for the same seed whatever the thread count (its own binary because it
//! sets RAYON_NUM_THREADS, read by candle's matmul on every call).

use classifier::synthetic::patterns;
use classifier::{train, Architecture, TrainOptions};

fn weights() -> Vec<(String, Vec<f32>)> {
    let d = patterns(20, 10, 3, 4);
    let opts = TrainOptions {
        epochs: 3,
        seed: 9,
        certified_eps: 4.0 / 255.0,
        certified_warmup: 0.0,
        architecture: Architecture::from_channels(&[6, 8], 12),
        ..TrainOptions::default()
    };
    let (m, report) = train(d.data.view(), d.shape, &d.labels, &d.classes, &opts, |_| ()).unwrap();
    assert!(report.epochs.iter().all(|e| e.certified_accuracy.is_some()));
    m.parameters().unwrap()
}

fn with_threads(n: usize) -> Vec<(String, Vec<f32>)> {
    // Edition 2021: set_var is safe; this binary has a single test, so nothing reads the variable concurrently.
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(weights)
}

#[test]
fn certified_training_does_not_depend_on_thread_count() {
    classifier::single_threaded_elementwise();
    let one = with_threads(1);
    let two = with_threads(2);
    let three = with_threads(3);
    assert!(one == two && one == three, "certified training differs between 1, 2 and 3 threads");
    assert_ne!(
        one,
        {
            std::env::set_var("RAYON_NUM_THREADS", "1");
            let d = patterns(20, 10, 3, 4);
            let opts = TrainOptions {
                epochs: 3,
                seed: 9,
                certified_warmup: 0.0,
                architecture: Architecture::from_channels(&[6, 8], 12),
                ..TrainOptions::default()
            };
            train(d.data.view(), d.shape, &d.labels, &d.classes, &opts, |_| ()).unwrap().0.parameters().unwrap()
        },
        "certified training equals plain training"
    );
}
