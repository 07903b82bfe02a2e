//! Off-manifold scores on rendered image sets with known structure: a reference of renders of the `object` scene
//! (camera yaw and pitch varied), held-out renders of the same scene, uniform noise, renders of another scene, and
//! flow-morph versus cross-fade interpolations between two renders.

use std::sync::OnceLock;

use ndarray::{Array2, Array3, Axis};
use off_manifold::{group_report, score, ImageShape, Method, ScoreOptions};
use optical_flow::{FlowEstimator, FlowParams, Morph, MorphParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scene_render::{render_set, sample_parameters, Params, RenderOptions, Sampling, Scene};

const SIZE: usize = 32;

fn render_rows(scene: &Scene, params: &[Params]) -> Array2<f32> {
    let opts = RenderOptions { ssaa: 2, ..RenderOptions::square(SIZE) };
    let imgs = render_set(scene, params, &opts).expect("render");
    let d = SIZE * SIZE * 3;
    let mut out = Array2::zeros((imgs.len(), d));
    for (mut row, img) in out.rows_mut().into_iter().zip(&imgs) {
        row.iter_mut().zip(img.image.iter()).for_each(|(o, &v)| *o = v);
    }
    out
}

fn shape() -> ImageShape {
    ImageShape { height: SIZE, width: SIZE, channels: 3 }
}

fn median(x: &[f64]) -> f64 {
    intrinsic_dim::stats::median(x)
}

fn vary() -> Vec<String> {
    vec!["yaw".into(), "pitch".into()]
}

/// Reference renders (800, seed 1), shared by the tests of this file.
fn reference() -> &'static Array2<f32> {
    static REF: OnceLock<Array2<f32>> = OnceLock::new();
    REF.get_or_init(|| {
        let scene = Scene::builtin("object").unwrap();
        render_rows(&scene, &sample_parameters(&scene, &vary(), 800, Sampling::Random, 1).unwrap())
    })
}

fn options() -> ScoreOptions {
    ScoreOptions { methods: Method::ALL.to_vec(), k: 10, flow_calibration: 100, ..Default::default() }
}

#[test]
fn held_out_renders_are_typical_noise_and_another_scene_are_not() {
    let scene = Scene::builtin("object").unwrap();
    let reference = reference();
    let held_out = render_rows(&scene, &sample_parameters(&scene, &vary(), 40, Sampling::Random, 2).unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let noise = Array2::from_shape_fn((20, reference.ncols()), |_| rng.random::<f32>());
    let other_scene = Scene::builtin("turntable").unwrap();
    let other = render_rows(&other_scene, &sample_parameters(&other_scene, &vary(), 20, Sampling::Random, 4).unwrap());
    let query = ndarray::concatenate![Axis(0), held_out, noise, other];
    let groups: Vec<String> = (0..80)
        .map(|i| {
            if i < 40 {
                "natural"
            } else if i < 60 {
                "noise"
            } else {
                "other-scene"
            }
            .to_string()
        })
        .collect();
    let r = score(reference.view(), query.view(), Some(shape()), &options()).unwrap();
    // The yaw/pitch manifold is 2-D; at this sampling density and 32×32 pixels the MLE sees about 3.
    assert!((1.5..5.0).contains(&r.reference_dimension), "reference MLE {}", r.reference_dimension);
    assert_eq!(r.columns.len(), 5);
    assert_eq!(r.flow_calibration_rows.len(), 100);
    for c in &r.columns {
        let pct = |a: usize, b: usize| c.percentiles[a..b].to_vec();
        let held = median(&pct(0, 40));
        assert!((0.3..=0.7).contains(&held), "{}: held-out median percentile {held}", c.name);
        for (name, a, b) in [("noise", 40, 60), ("other scene", 60, 80)] {
            let p = pct(a, b);
            let (med, min) = (median(&p), p.iter().cloned().fold(f64::INFINITY, f64::min));
            assert!(med >= 0.99 && min >= 0.95, "{}: {name} median percentile {med}, min {min}", c.name);
        }
    }
    let g = group_report(&r.columns, &groups);
    assert_eq!(g.reference_group, "natural");
    for grp in &g.groups[1..] {
        for (score, auc) in &grp.auroc {
            let auc = auc.expect("both groups non-empty");
            assert!(auc >= 0.99, "AUROC of {score} for {} is {auc}", grp.name);
        }
    }
}

#[test]
fn flow_morph_is_closer_to_the_manifold_than_a_cross_fade() {
    let scene = Scene::builtin("object").unwrap();
    let reference = reference();
    // Pairs of renders 12° of yaw apart.
    let base = sample_parameters(&scene, &vary(), 8, Sampling::Random, 9).unwrap();
    let yaw = scene.param_index("yaw").unwrap();
    let mut pairs = Vec::new();
    for p in &base {
        let mut q = p.clone();
        q.values[yaw] = (p.values[yaw] + 12.0).min(180.0);
        pairs.push(p.clone());
        pairs.push(q);
    }
    let imgs = render_rows(&scene, &pairs);
    let est = FlowEstimator::new(FlowParams::default()).unwrap();
    let n = base.len();
    let mut morph = Array2::zeros((n, reference.ncols()));
    let mut fade = Array2::zeros((n, reference.ncols()));
    for i in 0..n {
        let a = Array3::from_shape_vec((SIZE, SIZE, 3), imgs.row(2 * i).to_vec()).unwrap();
        let b = Array3::from_shape_vec((SIZE, SIZE, 3), imgs.row(2 * i + 1).to_vec()).unwrap();
        let m = Morph::new(a.view(), b.view(), &est, MorphParams::default()).unwrap().frame(0.5).unwrap();
        let f = optical_flow::cross_fade(a.view(), b.view(), 0.5).unwrap();
        morph.row_mut(i).iter_mut().zip(m.iter()).for_each(|(o, &v)| *o = v);
        fade.row_mut(i).iter_mut().zip(f.iter()).for_each(|(o, &v)| *o = v);
    }
    let rm = score(reference.view(), morph.view(), Some(shape()), &options()).unwrap();
    let rf = score(reference.view(), fade.view(), Some(shape()), &options()).unwrap();
    // The flow score sees the double image of a cross-fade: every morph scores lower, and the cross-fades are
    // off the manifold (percentile ≥ 0.95) while the morphs are not. LID agrees. (The pixel-space scores knn and
    // tangent do NOT separate them: a cross-fade of two nearby images lies on the chord between them, which is
    // close to the local affine tangent space — a limitation of pixel-distance scores, see the crate docs.)
    for name in ["flow", "lid"] {
        let (cm, cf) = (rm.column(name).unwrap(), rf.column(name).unwrap());
        let lower = cm.values.iter().zip(&cf.values).filter(|(a, b)| a < b).count();
        assert!(lower >= n - 1, "{name}: the morph scores lower in only {lower} of {n} pairs");
        assert!(median(&cm.values) < median(&cf.values), "{name}");
    }
    let (pm, pf) = (median(&rm.column("flow").unwrap().percentiles), median(&rf.column("flow").unwrap().percentiles));
    assert!(pf >= 0.95 && pm < 0.9, "flow percentiles: morph {pm}, cross-fade {pf}");
}
