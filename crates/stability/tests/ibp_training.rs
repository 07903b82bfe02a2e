//! The IBP bounds certified training minimises (candle, f32) are the verifier's IBP bounds (f64).

use classifier::model::Pooling;
use classifier::{synthetic, train, Architecture, TrainOptions};
use stability::verify::eps_box;
use stability::Net;

/// Same model, same boxes: `classifier::ibp::margin_lower_bounds` equals `stability::ibp`'s margins within 1e-4
/// (relative to the bound's size), for RGB and grey inputs, flattened maps and global average pooling, on models
/// trained plainly (loose bounds, hundreds of logits below zero) and with certified training (bounds near zero).
#[test]
fn training_bounds_equal_the_verifier_bounds() {
    classifier::single_threaded_elementwise();
    let mut certified_rows = 0;
    for (size, channels, seed, pool, certified_eps) in [
        (8, 3, 1, Pooling::Flatten, 0.0),
        (7, 1, 2, Pooling::Flatten, 4.0 / 255.0),
        (9, 3, 3, Pooling::Global, 2.0 / 255.0),
    ] {
        let data = synthetic::patterns(50, size, channels, seed);
        let opts = TrainOptions {
            epochs: 15,
            seed,
            architecture: Architecture { pool, ..Architecture::from_channels(&[6, 8], 12) },
            validation_fraction: 0.0,
            certified_eps,
            ..TrainOptions::default()
        };
        let (model, _) = train(data.data.view(), data.shape, &data.labels, &data.classes, &opts, |_| {}).unwrap();
        let net = Net::from_classifier(&model).unwrap();
        let rows = 30;
        for eps in [0.0, 1.0 / 255.0, 4.0 / 255.0, 0.1] {
            let x = data.data.slice(ndarray::s![..rows, ..]);
            let ours = classifier::ibp::margin_lower_bounds(&model, x, &data.labels[..rows], eps).unwrap();
            for (i, row) in x.rows().into_iter().enumerate() {
                let xf: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
                let (lo, hi) = eps_box(&xf, eps);
                let reference = stability::ibp(&net, &lo, &hi, data.labels[i]);
                for (j, &want) in reference.margins.iter().enumerate() {
                    let got = f64::from(ours[[i, j]]);
                    if want.is_infinite() {
                        assert_eq!(got, want, "row {i} class {j}");
                        continue;
                    }
                    assert!(
                        (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{size}×{size}×{channels} {pool:?} eps {eps}: row {i} class {j}: {got} vs {want}"
                    );
                }
                certified_rows += usize::from(eps > 0.0 && reference.certified());
            }
        }
    }
    // Some boxes are certified: the comparison covers bounds on both sides of zero.
    assert!(certified_rows > 0);
}
