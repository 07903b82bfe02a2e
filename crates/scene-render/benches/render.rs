//! Images per second for the shipped object scene (target: ≥ 1000 images/s at 64×64, --ssaa 4, on two
//! cores). `cargo bench -p scene-render --bench render` (criterion prints the throughput in elements/s = images/s).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scene_render::{render_set, sample_parameters, true_flow, RenderOptions, Sampling, Scene};

fn bench(c: &mut Criterion) {
    let n = 256;
    let mut g = c.benchmark_group("render");
    g.sample_size(20);
    for (scene_name, size, ssaa) in [("object", 64, 4), ("object", 64, 1), ("room", 64, 4), ("shapes10", 32, 4)] {
        let scene = Scene::builtin(scene_name).unwrap();
        let vary: Vec<String> = scene.parameters().iter().filter(|p| p.can_vary()).map(|p| p.name.clone()).collect();
        let params = sample_parameters(&scene, &vary, n, Sampling::Random, 1).unwrap();
        let opts = RenderOptions { ssaa, ..RenderOptions::square(size) };
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{scene_name}_{size}px_ssaa{ssaa}_{}threads", rayon::current_num_threads()), |b| {
            b.iter(|| render_set(&scene, &params, &opts).unwrap())
        });
    }
    let scene = Scene::builtin("object").unwrap();
    let params = sample_parameters(&scene, &["yaw".into(), "pitch".into()], 2, Sampling::Trajectory, 1).unwrap();
    let opts = RenderOptions::square(64);
    g.throughput(Throughput::Elements(1));
    g.bench_function("object_true_flow_64px", |b| b.iter(|| true_flow(&scene, &params[0], &params[1], &opts).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
