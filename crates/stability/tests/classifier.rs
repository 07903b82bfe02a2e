//! The f64 network equals the candle classifier it was read from.

use classifier::model::Pooling;
use classifier::{synthetic, train, Architecture, TrainOptions};
use stability::Net;

/// Logits of [`Net::from_classifier`] match candle's channel-first reference forward pass within 1e-4, for a
/// trained RGB model (strided convolutions, normalisation folded in), a grey one and one with global average
/// pooling (folded into the hidden layer).
#[test]
fn net_matches_the_candle_model() {
    classifier::single_threaded_elementwise();
    for (size, channels, seed, pool) in
        [(8, 3, 1, Pooling::Flatten), (7, 1, 2, Pooling::Flatten), (9, 3, 3, Pooling::Global)]
    {
        let data = synthetic::patterns(6, size, channels, seed);
        let opts = TrainOptions {
            epochs: 1,
            seed,
            architecture: Architecture { pool, ..Architecture::from_channels(&[4, 6], 8) },
            validation_fraction: 0.0,
            ..TrainOptions::default()
        };
        let (model, _) = train(data.data.view(), data.shape, &data.labels, &data.classes, &opts, |_| {}).unwrap();
        let net = Net::from_classifier(&model).unwrap();
        assert_eq!(net.n_inputs(), data.shape.len());
        assert_eq!(net.n_classes(), data.classes.len());
        let reference = classifier::model::forward_reference(&model, data.data.view()).unwrap();
        let mut worst = 0f64;
        for (row, want) in data.data.rows().into_iter().zip(reference.rows()) {
            let x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            for (a, b) in net.logits(&x).iter().zip(want) {
                worst = worst.max((a - f64::from(*b)).abs());
            }
        }
        assert!(worst < 1e-4, "{size}×{size}×{channels}: largest logit difference {worst}");
        // Not trivially equal: the logits vary between images.
        let l0 = net.logits(&data.data.row(0).iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        let l1 = net.logits(&data.data.row(1).iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        assert!(l0.iter().zip(&l1).any(|(a, b)| (a - b).abs() > 1e-3));
    }
}
