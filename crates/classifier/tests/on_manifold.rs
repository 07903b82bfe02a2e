//! The on-manifold attack: perturbations stay in the reference's tangent spaces and inside the budget, the
//! tangent spaces span the reference's local directions with the estimated dimension, results do not depend on the
//! thread count, and bad settings are refused.

mod common;

use classifier::adversarial::{attack_on_manifold, tangent_spaces, Attack, AttackOptions, Norm, TangentOptions};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};

/// Maps images into [0.05, 0.95], so a budget below 0.05 can never be clipped by the [0, 1] box.
fn squeeze(x: &Array2<f32>) -> Array2<f32> {
    x.mapv(|v| 0.05 + 0.9 * v)
}

fn opts(norm: Norm, eps: f32) -> AttackOptions {
    AttackOptions {
        attack: Attack::OnManifold,
        norm,
        eps,
        steps: 20,
        quantize: false,
        random_trials: 0,
        seed: 3,
        ..AttackOptions::default()
    }
}

#[test]
fn perturbations_stay_in_the_tangent_space_and_the_budget() {
    let t = common::shapes10();
    let (reference, _) = common::shapes10_renders(600, 11);
    let reference = squeeze(&reference);
    let x = squeeze(&t.test_x.slice(ndarray::s![..40, ..]).to_owned());
    let y = &t.test_y[..40];
    let tangents = tangent_spaces(reference.view(), x.view(), &TangentOptions { k: 20, dim: Some(8) }, 1).unwrap();
    for (norm, eps) in [(Norm::Linf, 8.0 / 255.0), (Norm::L2, 0.5)] {
        let r = attack_on_manifold(&t.model, x.view(), y, &opts(norm, eps), &tangents).unwrap();
        assert!(r.n_attacked >= 20, "{norm}: only {} correctly classified squeezed images", r.n_attacked);
        let mut moved = 0;
        for res in &r.results {
            let delta = Array1::from_iter(res.perturbed.iter().zip(x.row(res.row)).map(|(a, c)| a - c));
            let size = match norm {
                Norm::L2 => delta.dot(&delta).sqrt(),
                Norm::Linf => delta.iter().fold(0f32, |m, d| m.max(d.abs())),
            };
            assert!(size <= eps * 1.0001, "{norm} row {}: {size} > {eps}", res.row);
            let off = res.off_tangent_fraction.unwrap();
            if delta.iter().any(|d| *d != 0.0) {
                moved += 1;
                // Without clipping or quantisation δ = Uᵀz exactly (float32 rounding aside).
                assert!(off < 1e-3, "{norm} row {}: {off} of the perturbation leaves the tangent space", res.row);
            }
        }
        assert!(moved >= r.n_attacked / 2, "{norm}: the attack moved only {moved} images");
        let pgd = r.pgd_flip_rate.unwrap();
        assert!((0.0..=1.0).contains(&pgd) && (0.0..=1.0).contains(&r.flip_rate));
        eprintln!("{norm} eps {eps}: on-manifold flips {:.3}, PGD {pgd:.3}", r.flip_rate);
    }
}

#[test]
fn tangent_spaces_recover_a_flat_manifold_and_its_dimension() {
    // 1500 points uniform in a 5-dimensional box inside a random 5-plane of R^48.
    let (d_true, dim) = (5, 48);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut plane = Array2::<f64>::zeros((d_true, dim));
    plane.iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
    // Orthonormalise the plane's rows (Gram–Schmidt) so coordinates are isotropic.
    for i in 0..d_true {
        for j in 0..i {
            let c = plane.row(i).dot(&plane.row(j));
            let pj = plane.row(j).to_owned();
            plane.row_mut(i).scaled_add(-c, &pj);
        }
        let n = plane.row(i).dot(&plane.row(i)).sqrt();
        plane.row_mut(i).mapv_inplace(|v| v / n);
    }
    let sample = |n: usize, rng: &mut rand_chacha::ChaCha8Rng| {
        let mut x = Array2::<f32>::zeros((n, dim));
        for mut r in x.rows_mut() {
            let c: Vec<f64> = (0..d_true).map(|_| rng.random_range(-0.3..0.3)).collect();
            for (j, v) in r.iter_mut().enumerate() {
                *v = (0.5 + (0..d_true).map(|i| c[i] * plane[[i, j]]).sum::<f64>()) as f32;
            }
        }
        x
    };
    let reference = sample(1500, &mut rng);
    let queries = sample(10, &mut rng);
    let t = tangent_spaces(reference.view(), queries.view(), &TangentOptions { k: 30, dim: None }, 1).unwrap();
    let est = t.estimated_dim.unwrap();
    // The MLE is biased low near the box's faces; within one of the truth, and `dim` is its rounding.
    assert!((est - d_true as f64).abs() < 1.0, "MLE dimension {est} for a flat 5-manifold");
    assert_eq!(t.dim, est.round() as usize);
    let t = tangent_spaces(reference.view(), queries.view(), &TangentOptions { k: 30, dim: Some(d_true) }, 1).unwrap();
    assert!(t.estimated_dim.is_none());
    for b in &t.bases {
        assert_eq!(b.nrows(), d_true);
        // Every direction of the plane lies in the estimated tangent space.
        for p in plane.rows() {
            let p32 = p.mapv(|v| v as f32);
            let coef = b.dot(&p32);
            let resid = &p32 - &b.t().dot(&coef);
            assert!(resid.dot(&resid).sqrt() < 1e-3, "residual {}", resid.dot(&resid).sqrt());
        }
    }
}

#[test]
fn same_result_at_any_thread_count() {
    let t = common::shapes10();
    let (reference, _) = common::shapes10_renders(300, 12);
    let x = t.test_x.slice(ndarray::s![..12, ..]).to_owned();
    let y = &t.test_y[..12];
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let o = TangentOptions { k: 15, dim: None };
            let tangents = tangent_spaces(reference.view(), x.view(), &o, 2).unwrap();
            let o = AttackOptions { quantize: true, ..opts(Norm::Linf, 8.0 / 255.0) };
            attack_on_manifold(&t.model, x.view(), y, &o, &tangents).unwrap()
        })
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.results, b.results);
    assert_eq!(a.pgd_flip_rate, b.pgd_flip_rate);
}

#[test]
fn bad_settings_are_refused() {
    let x = Array2::<f32>::from_elem((3, 12), 0.5);
    let reference = Array2::<f32>::from_shape_fn((30, 12), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
    let narrow = Array2::<f32>::zeros((30, 10));
    let err = |r: &Array2<f32>, o: TangentOptions| tangent_spaces(r.view(), x.view(), &o, 1).unwrap_err().to_string();
    assert!(err(&narrow, TangentOptions::default()).contains("10 values"));
    assert!(err(&reference, TangentOptions { k: 30, dim: None }).contains("at least 31"));
    assert!(err(&reference, TangentOptions { k: 10, dim: Some(10) }).contains("tangent dim"));
    assert!(err(&reference, TangentOptions { k: 10, dim: Some(0) }).contains("tangent dim"));
    assert!(err(&reference, TangentOptions { k: 1, dim: None }).contains("tangent k"));
    // Plain attacks take no tangent spaces, and on-manifold needs them.
    let t = common::shapes10();
    let xs = t.test_x.slice(ndarray::s![..4, ..]).to_owned();
    let tangents = tangent_spaces(t.test_x.view(), xs.view(), &TangentOptions { k: 10, dim: Some(3) }, 1).unwrap();
    let pgd = AttackOptions { attack: Attack::Pgd, ..opts(Norm::Linf, 0.03) };
    assert!(attack_on_manifold(&t.model, xs.view(), &t.test_y[..4], &pgd, &tangents).is_err());
    let e = classifier::adversarial::attack(&t.model, xs.view(), &t.test_y[..4], &opts(Norm::Linf, 0.03)).unwrap_err();
    assert!(e.to_string().contains("reference"), "{e}");
}
