//! Speed of the pieces the commands spend their time in: training epochs, batched prediction, input gradients,
//! one MAP-Elites generation, one PGD run. `cargo bench -p classifier`.

use classifier::adversarial::{attack, Attack, AttackOptions, Norm};
use classifier::fool::{fool, FoolOptions, Method};
use classifier::synthetic::patterns;
use classifier::{train, TrainOptions};
use criterion::{criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    // 32×32 RGB with the default architecture: the size of the shipped scene's renders.
    let data = patterns(40, 32, 3, 1);
    let one_epoch = TrainOptions { epochs: 1, ..TrainOptions::default() };
    let mut g = c.benchmark_group("classifier_32x32x3");
    g.sample_size(10);
    g.bench_function("train_1_epoch_240_images", |b| {
        b.iter(|| train(data.data.view(), data.shape, &data.labels, &data.classes, &one_epoch, |_| ()).unwrap())
    });
    let opts = TrainOptions { epochs: 5, ..TrainOptions::default() };
    let (model, _) = train(data.data.view(), data.shape, &data.labels, &data.classes, &opts, |_| ()).unwrap();
    g.bench_function("predict_240", |b| b.iter(|| model.predict_proba(data.data.view()).unwrap()));
    g.bench_function("input_gradient_240", |b| b.iter(|| model.log_prob_grad(data.data.view(), &data.labels).unwrap()));
    let fo = FoolOptions {
        method: Method::EvolveDirect,
        generations: 1,
        population: 64,
        confidence: 1.0,
        ..FoolOptions::default()
    };
    g.bench_function("evolve_direct_2_generations_64", |b| b.iter(|| fool(&model, &fo, |_, _| ()).unwrap()));
    let fo = FoolOptions { method: Method::EvolveCppn, ..fo };
    g.bench_function("evolve_cppn_2_generations_64", |b| b.iter(|| fool(&model, &fo, |_, _| ()).unwrap()));
    let x = data.data.slice(ndarray::s![..60, ..]).mapv(pixels::on_8bit_grid);
    let ao = AttackOptions {
        attack: Attack::Pgd,
        norm: Norm::Linf,
        eps: 8.0 / 255.0,
        steps: 10,
        random_trials: 0,
        ..AttackOptions::default()
    };
    g.bench_function("pgd_10_steps_60_images", |b| {
        b.iter(|| attack(&model, x.view(), &data.labels[..60], &ao).unwrap())
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
