//! The render folder: files, manifest, render.json, npy, depth, flow; errors before any output.
use scene_render::{
    consecutive_pairs, read_flow_pairs, sample_parameters, write_render_dir, ColorMode, RenderOptions, RenderSet,
    Sampling, Scene, WriteOptions,
};

fn set(scene: &Scene, vary: &[&str], n: usize, sampling: Sampling) -> RenderSet {
    let vary: Vec<String> = vary.iter().map(|s| s.to_string()).collect();
    RenderSet { params: sample_parameters(scene, &vary, n, sampling, 9).unwrap(), vary, sampling, seed: 9 }
}

#[test]
fn render_folder_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let scene = Scene::builtin("object").unwrap();
    let s = set(&scene, &["yaw", "pitch"], 6, Sampling::Trajectory);
    let opts = RenderOptions { color: ColorMode::Gray, ..RenderOptions::square(20) };
    let w = WriteOptions { npy: true, depth: true, flow_pairs: consecutive_pairs(6), force: false };
    let v = write_render_dir(&out, &scene, &s, &opts, &w).unwrap();
    assert_eq!(v["schema"], "imanifold/render/v1");
    assert_eq!(v["seed"], 9);
    assert_eq!(v["free_parameters"], serde_json::json!(["yaw", "pitch"]));
    assert!(v["fixed_parameters"]["distance"].is_number());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("render.json")).unwrap()).unwrap();
    assert_eq!(json["scene"]["name"], "object");
    assert!(json["scene"]["toml"].as_str().unwrap().contains("[camera]"));

    let manifest = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(lines[0], "file,yaw,pitch");
    assert_eq!(lines.len(), 7);
    for (i, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], format!("images/{i:06}.png"));
        assert!(out.join(cells[0]).is_file());
        let yaw: f64 = cells[1].parse().unwrap();
        assert_eq!(yaw, s.params[i].values[0], "manifest holds the true value in degrees");
        let img = image::open(out.join(cells[0])).unwrap();
        assert_eq!((img.width(), img.height(), img.color()), (20, 20, image::ColorType::L8));
    }
    let npy: ndarray::Array3<f32> = ndarray_npy::read_npy(out.join("images.npy")).unwrap();
    assert_eq!(npy.dim(), (6, 20, 20));
    let png0 = image::open(out.join("images/000000.png")).unwrap().to_luma8();
    for (a, b) in npy.index_axis(ndarray::Axis(0), 0).iter().zip(png0.as_raw()) {
        assert_eq!((a * 255.0).round() as u8, *b);
    }
    let depth: ndarray::Array2<f32> = ndarray_npy::read_npy(out.join("depth/000003.npy")).unwrap();
    assert_eq!(depth.dim(), (20, 20));
    assert!(depth.iter().any(|d| d.is_finite() && *d > 0.0));
    let flows = std::fs::read_to_string(out.join("flow.csv")).unwrap();
    assert_eq!(flows.lines().next().unwrap(), "frame1,frame2,flow,valid");
    assert_eq!(flows.lines().count(), 6);
    let f: ndarray::Array3<f32> = ndarray_npy::read_npy(out.join("flow/000002_000003.npy")).unwrap();
    assert_eq!(f.dim(), (20, 20, 2));
    assert!(out.join("flow/000002_000003_valid.png").is_file());

    // A second run into the same folder is refused, unless forced (which leaves no stale images behind).
    let e = write_render_dir(&out, &scene, &s, &opts, &w).unwrap_err().to_string();
    assert!(e.contains("already holds a render"), "{e}");
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let small = set(&scene, &["yaw"], 2, Sampling::Random);
    let w2 = WriteOptions { force: true, ..Default::default() };
    write_render_dir(&out, &scene, &small, &RenderOptions::square(8), &w2).unwrap();
    assert!(!out.join("images/000002.png").exists() && !out.join("flow").exists() && !out.join("images.npy").exists());
    assert!(out.join("notes.txt").exists());
}

#[test]
fn labelled_scene_writes_label_column() {
    let dir = tempfile::tempdir().unwrap();
    let scene = Scene::builtin("shapes10").unwrap();
    let s = set(&scene, &["yaw", "hue"], 40, Sampling::Random);
    write_render_dir(dir.path(), &scene, &s, &RenderOptions::square(16), &WriteOptions::default()).unwrap();
    let manifest = std::fs::read_to_string(dir.path().join("manifest.csv")).unwrap();
    assert_eq!(manifest.lines().next().unwrap(), "file,yaw,hue,label");
    let labels: std::collections::BTreeSet<usize> =
        manifest.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
    assert!(labels.len() >= 8 && labels.iter().all(|&l| l < 10), "{labels:?}");
}

#[test]
fn bad_requests_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let scene = Scene::builtin("object").unwrap();
    let s = set(&scene, &["yaw"], 3, Sampling::Random);
    let w = WriteOptions { flow_pairs: vec![(0, 3)], ..Default::default() };
    let e = write_render_dir(&out, &scene, &s, &RenderOptions::square(8), &w).unwrap_err().to_string();
    assert!(e.contains("(0, 3)"), "{e}");
    let e =
        write_render_dir(&out, &scene, &s, &RenderOptions { ssaa: 0, ..Default::default() }, &WriteOptions::default())
            .unwrap_err()
            .to_string();
    assert!(e.contains("ssaa"), "{e}");
    assert!(!out.exists());

    let shapes = Scene::builtin("shapes10").unwrap();
    let mut s = set(&shapes, &["yaw"], 2, Sampling::Random);
    s.params[0].label = Some(1);
    s.params[1].label = Some(2);
    let w = WriteOptions { flow_pairs: vec![(0, 1)], ..Default::default() };
    let e = write_render_dir(&out, &shapes, &s, &RenderOptions::square(8), &w).unwrap_err().to_string();
    assert!(e.contains("different classes"), "{e}");
    assert!(!out.exists());
}

#[test]
fn flow_pairs_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pairs.csv");
    std::fs::write(&p, "frame1,frame2\n0,1\n 5 , 2\n").unwrap();
    assert_eq!(read_flow_pairs(&p).unwrap(), vec![(0, 1), (5, 2)]);
    std::fs::write(&p, "0,1\n2,x\n").unwrap();
    let e = read_flow_pairs(&p).unwrap_err().to_string();
    assert!(e.contains("pairs.csv") && e.contains("row 2"), "{e}");
    std::fs::write(&p, "0,1,2\n").unwrap();
    assert!(read_flow_pairs(&p).unwrap_err().to_string().contains("3 columns"));
    std::fs::write(&p, "").unwrap();
    assert!(read_flow_pairs(&p).unwrap_err().to_string().contains("no index pairs"));
    assert!(read_flow_pairs(&dir.path().join("missing.csv")).unwrap_err().to_string().contains("missing.csv"));
}
