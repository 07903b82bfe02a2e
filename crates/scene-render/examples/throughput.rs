//! Renders N random images of a scene and prints images/s (wall clock):
//! `cargo run --release -p scene-render --example throughput -- [SCENE] [SIZE] [SSAA] [N]`.
//! Run under `perf stat -e task-clock` to get CPU time per image independent of machine load.
use scene_render::{render_set, sample_parameters, RenderOptions, Sampling, Scene};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let scene = Scene::load(a.get(1).map(String::as_str).unwrap_or("object"))?;
    let size: usize = a.get(2).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let ssaa: usize = a.get(3).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let n: usize = a.get(4).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let vary: Vec<String> = scene.parameters().iter().filter(|p| p.can_vary()).map(|p| p.name.clone()).collect();
    let params = sample_parameters(&scene, &vary, n, Sampling::Random, 1)?;
    let opts = RenderOptions { ssaa, ..RenderOptions::square(size) };
    let t = std::time::Instant::now();
    let imgs = render_set(&scene, &params, &opts)?;
    let s = t.elapsed().as_secs_f64();
    let mean: f64 = imgs.iter().map(|i| i.image.mean().unwrap_or(0.0) as f64).sum::<f64>() / n as f64;
    println!(
        "{} {size}px ssaa{ssaa}: {n} images in {s:.3} s = {:.0} images/s on {} threads (mean pixel {mean:.4})",
        scene.name(),
        n as f64 / s,
        rayon::current_num_threads()
    );
    Ok(())
}
