mod common;

use classifier::adversarial::{attack, Attack, AttackOptions, Norm};
use ndarray::Array2;

/// Held-out shapes10 renders on the 8-bit grid (as PNG-loaded data would be).
fn quantised_test_images() -> (Array2<f32>, Vec<usize>) {
    let t = common::shapes10();
    let n = 60;
    (t.test_x.slice(ndarray::s![..n, ..]).to_owned(), t.test_y[..n].to_vec())
}

fn model() -> &'static classifier::Classifier {
    &common::shapes10().model
}

fn run(attack_kind: Attack, norm: Norm, eps: f32, steps: usize) -> classifier::adversarial::AttackReport {
    let (x, y) = quantised_test_images();
    let opts = AttackOptions {
        attack: attack_kind,
        norm,
        eps,
        random_trials: 50,
        search_rounds: 6,
        steps,
        seed: 5,
        ..AttackOptions::default()
    };
    let t = std::time::Instant::now();
    let r = attack(model(), x.view(), &y, &opts).unwrap();
    eprintln!(
        "{} {} eps {eps}: attacked {} flip {:.3} random l2 {:?} linf {:?} mean l2 {:?} mean linf {:?} ({:.2}s)",
        attack_kind.name(),
        norm.name(),
        r.n_attacked,
        r.flip_rate,
        r.random_flip_rate_l2,
        r.random_flip_rate_linf,
        r.mean_l2,
        r.mean_linf,
        t.elapsed().as_secs_f64()
    );
    r
}

/// Every reported flip holds for the 8-bit image that would be written, and the reported norms are its norms.
fn check_results(r: &classifier::adversarial::AttackReport, budget: Option<(Norm, f32)>) {
    let (x, _) = quantised_test_images();
    let m = model();
    for res in &r.results {
        assert!(res.perturbed.iter().all(|v| ((v * 255.0).round() - v * 255.0).abs() < 1e-3), "not on the 8-bit grid");
        let png_like: Vec<f32> = res.perturbed.iter().map(|v| (v * 255.0).round() / 255.0).collect();
        let p = m.predict(Array2::from_shape_vec((1, png_like.len()), png_like).unwrap().view()).unwrap();
        assert_eq!(p[0].0 != res.original, res.flipped, "row {}: flip does not survive 8-bit storage", res.row);
        let delta: Vec<f32> = res.perturbed.iter().zip(x.row(res.row)).map(|(a, b)| a - b).collect();
        let l2 = delta.iter().map(|d| d * d).sum::<f32>().sqrt();
        let linf = delta.iter().fold(0f32, |a, d| a.max(d.abs()));
        assert!((l2 - res.l2).abs() < 1e-4 && (linf - res.linf).abs() < 1e-6);
        if let Some((norm, eps)) = budget {
            let size = if norm == Norm::L2 { l2 } else { linf };
            assert!(size <= eps * 1.0001 + 1e-6, "row {}: {} > budget {eps}", res.row, size);
        }
    }
}

#[test]
fn pgd_linf_flips_most_images_and_random_noise_does_not() {
    // The CLI default budget: 8 grey levels, 40 steps.
    let defaults = AttackOptions::default();
    assert_eq!((defaults.eps, defaults.steps), (8.0 / 255.0, 40));
    let eps = defaults.eps;
    let r = run(Attack::Pgd, Norm::Linf, eps, defaults.steps);
    assert!(r.n_attacked >= 55);
    assert!(r.flip_rate >= 0.9, "PGD flip rate {}", r.flip_rate);
    let rl2 = r.random_flip_rate_l2.unwrap();
    let rlinf = r.random_flip_rate_linf.unwrap();
    assert!(
        rl2 < 0.1 * r.flip_rate && rlinf < 0.1 * r.flip_rate,
        "random {rl2} / {rlinf} vs adversarial {}",
        r.flip_rate
    );
    check_results(&r, Some((Norm::Linf, eps)));
}

/// With a target confidence PGD keeps going after the flip: its images are far more confident in the wrong class
/// than those of the attack that stops at the first change (which sit next to a decision boundary), and still
/// within the budget; the option is refused for other attacks and outside (0, 1).
#[test]
fn confident_pgd_goes_past_the_boundary() {
    let (x, y) = quantised_test_images();
    let eps = 8.0 / 255.0;
    let base = AttackOptions { eps, random_trials: 0, seed: 5, ..AttackOptions::default() };
    let first = attack(model(), x.view(), &y, &base).unwrap();
    let sure = attack(model(), x.view(), &y, &AttackOptions { confidence: Some(0.99), ..base.clone() }).unwrap();
    check_results(&sure, Some((Norm::Linf, eps)));
    let confidence = |r: &classifier::adversarial::AttackReport| -> Vec<f32> {
        r.results.iter().filter(|a| a.flipped).map(|a| a.adversarial_confidence).collect()
    };
    let median = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let (c_first, c_sure) = (confidence(&first), confidence(&sure));
    assert!(c_sure.len() >= c_first.len() * 9 / 10, "{} vs {} flips", c_sure.len(), c_first.len());
    let (m_first, m_sure) = (median(c_first), median(c_sure.clone()));
    eprintln!("median wrong-class confidence: first flip {m_first:.3}, target 0.99 {m_sure:.3}");
    assert!(m_sure >= 0.95 && m_sure > m_first + 0.1, "first flip {m_first}, target 0.99 {m_sure}");
    assert!(c_sure.iter().filter(|&&c| c >= 0.98).count() * 2 >= c_sure.len());
    for (bad, kind) in [(1.0, Attack::Pgd), (0.0, Attack::Pgd), (f32::NAN, Attack::Pgd), (0.9, Attack::Fgsm)] {
        let o = AttackOptions { confidence: Some(bad), attack: kind, ..base.clone() };
        assert!(o.validate().unwrap_err().to_string().contains("confidence"), "{bad} {kind:?}");
    }
}

#[test]
fn pgd_l2_flips_most_images() {
    let eps = 1.0;
    let r = run(Attack::Pgd, Norm::L2, eps, 40);
    assert!(r.flip_rate >= 0.9, "PGD-L2 flip rate {}", r.flip_rate);
    assert!(r.random_flip_rate_l2.unwrap() < 0.1 * r.flip_rate);
    check_results(&r, Some((Norm::L2, eps)));
}

#[test]
fn fgsm_respects_budget_and_is_weaker_than_pgd() {
    let eps = 4.0 / 255.0;
    let f = run(Attack::Fgsm, Norm::Linf, eps, 1);
    check_results(&f, Some((Norm::Linf, eps)));
    let p = run(Attack::Pgd, Norm::Linf, eps, 10);
    assert!(p.flip_rate >= f.flip_rate, "pgd {} < fgsm {}", p.flip_rate, f.flip_rate);
}

#[test]
fn lbfgs_finds_small_flipping_perturbations() {
    let r = run(Attack::Lbfgs, Norm::L2, 0.0, 15);
    assert!(r.flip_rate >= 0.9, "lbfgs flip rate {}", r.flip_rate);
    check_results(&r, None);
    // Minimal perturbations are smaller (in L2) than PGD's budgeted ones at a budget that flips most images.
    let p = run(Attack::Pgd, Norm::L2, 1.0, 40);
    assert!(r.median_l2.unwrap() < p.median_l2.unwrap(), "lbfgs {:?} vs pgd {:?}", r.median_l2, p.median_l2);
    assert!(r.random_flip_rate_l2.unwrap() < 0.1);
}

#[test]
fn attacks_are_deterministic() {
    let a = run(Attack::Pgd, Norm::L2, 0.5, 10);
    let b = run(Attack::Pgd, Norm::L2, 0.5, 10);
    assert_eq!(a, b);
    assert_eq!(
        a.results.iter().map(|r| &r.perturbed).collect::<Vec<_>>(),
        b.results.iter().map(|r| &r.perturbed).collect::<Vec<_>>()
    );
}

#[test]
fn bad_attack_inputs() {
    let m = model();
    let (x, y) = quantised_test_images();
    let err = attack(m, x.view(), &y[1..], &AttackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("labels"), "{err}");
    let err = attack(m, x.view(), &y, &AttackOptions { eps: -1.0, ..AttackOptions::default() }).unwrap_err();
    assert!(err.to_string().contains("eps"), "{err}");
    let mut bad = x.clone();
    bad[[2, 3]] = 1.5;
    let err = attack(m, bad.view(), &y, &AttackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("row 2"), "{err}");
    let err = attack(m, Array2::<f32>::zeros((1, 10)).view(), &[0], &AttackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("768"), "{err}");
    assert!("cw".parse::<Attack>().is_err() && "l1".parse::<Norm>().is_err());
}

/// The fixture the attacks (and fooling tests) run against is a real classifier of rendered objects.
#[test]
fn shapes10_model_is_accurate_on_held_out_renders() {
    let f = common::shapes10();
    let acc = classifier::train::accuracy(&f.model, f.test_x.view(), &f.test_y).unwrap();
    eprintln!("shapes10 fixture: trained in {:.2}s, held-out accuracy {acc:.3}", f.train_seconds);
    assert!(acc >= 0.95, "held-out accuracy {acc}");
    assert_eq!(f.model.classes()[0], "cube");
}
