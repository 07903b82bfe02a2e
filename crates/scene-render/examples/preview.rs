//! Renders a contact sheet of a scene: `cargo run --release -p scene-render --example preview -- SCENE OUT.png
//! [SIZE] [N] [VARY,...]` (random parameters, seed 0; default: all parameters that can vary).
use scene_render::{render_set, sample_parameters, RenderOptions, Sampling, Scene};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let scene = Scene::load(args.get(1).map(String::as_str).unwrap_or("object"))?;
    let out = args.get(2).cloned().unwrap_or_else(|| "preview.png".into());
    let size: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(96);
    let n: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let vary: Vec<String> = match args.get(5) {
        Some(v) => v.split(',').map(String::from).collect(),
        None => scene.parameters().iter().filter(|p| p.can_vary()).map(|p| p.name.clone()).collect(),
    };
    let mut params = sample_parameters(&scene, &vary, n, Sampling::Random, 0)?;
    params[0] = scene.default_params();
    let imgs = render_set(&scene, &params, &RenderOptions::square(size))?;
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows: Vec<Vec<f32>> = imgs.iter().map(|img| img.image.iter().copied().collect()).collect();
    let (h, w, c) = imgs.first().ok_or("no images to preview")?.image.dim();
    pixels::write_gallery(std::path::Path::new(&out), &rows, pixels::ImageShape::new(h, w, c), cols, 1)?;
    Ok(())
}
