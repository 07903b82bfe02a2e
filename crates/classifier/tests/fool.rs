mod common;

use classifier::fool::{fool, FoolOptions, Method};

/// Fooling runs against the model trained on shapes10 renders (10 classes, 16×16 RGB).
fn run(method: Method, generations: usize, seed: u64) -> classifier::fool::FoolReport {
    let m = &common::shapes10().model;
    let opts = FoolOptions { method, generations, seed, ..FoolOptions::default() };
    let t = std::time::Instant::now();
    let r = fool(m, &opts, |_, _| ()).unwrap();
    eprintln!(
        "{}: {} generations, {} evaluations, {:.2}s, confidences {:?}",
        method.name(),
        r.generations,
        r.evaluations,
        t.elapsed().as_secs_f64(),
        r.images.iter().map(|i| i.confidence).collect::<Vec<_>>()
    );
    r
}

fn check_all_reached(r: &classifier::fool::FoolReport) {
    let m = &common::shapes10().model;
    assert_eq!(r.images.len(), m.n_classes());
    for img in &r.images {
        assert!(
            img.reached && img.confidence >= 0.99,
            "{}: class {} only {}",
            r.method.name(),
            img.class,
            img.confidence
        );
        assert!(img.image.iter().all(|v| (0.0..=1.0).contains(v)));
        // On the 8-bit grid: the confidence is that of the PNG that would be written.
        assert!(img.image.iter().all(|v| ((v * 255.0).round() - v * 255.0).abs() < 1e-3), "not on the 8-bit grid");
        // The reported confidence is what the model says about the returned image (evaluated alone rather than in
        // a batch, gemm's blocking may change the last bits).
        let x = ndarray::Array2::from_shape_vec((1, img.image.len()), img.image.clone()).unwrap();
        let p = m.predict_proba(x.view()).unwrap()[[0, img.class]];
        assert!((p - img.confidence).abs() < 1e-5, "{p} vs {}", img.confidence);
    }
}

#[test]
fn evolve_direct_reaches_target_for_every_class() {
    let r = run(Method::EvolveDirect, 400, 1);
    check_all_reached(&r);
}

#[test]
fn evolve_cppn_reaches_target_for_every_class() {
    let r = run(Method::EvolveCppn, 1000, 1);
    check_all_reached(&r);
}

#[test]
fn gradient_ascent_reaches_target_for_every_class() {
    let r = run(Method::GradientAscent, 300, 1);
    check_all_reached(&r);
}

#[test]
fn fooling_is_deterministic_and_seed_dependent() {
    let a = run(Method::EvolveCppn, 5, 9);
    let b = run(Method::EvolveCppn, 5, 9);
    assert_eq!(a, b);
    let c = run(Method::EvolveCppn, 5, 10);
    assert_ne!(a.images[0].image, c.images[0].image);
}

#[test]
fn bad_fool_options() {
    let m = &common::shapes10().model;
    let err = fool(m, &FoolOptions { classes: vec![42], ..FoolOptions::default() }, |_, _| ()).unwrap_err();
    assert!(err.to_string().contains("42"), "{err}");
    let err = fool(m, &FoolOptions { confidence: 1.5, ..FoolOptions::default() }, |_, _| ()).unwrap_err();
    assert!(err.to_string().contains("confidence"), "{err}");
    assert!("evolve-magic".parse::<Method>().is_err());
}

/// The fooling folder `imanifold fool` and the demo write: file names, manifest columns, results keys.
#[test]
fn fool_folder_format() {
    use classifier::fool::{set_fool_results, slug, write_fool_files};
    let m = &common::shapes10().model;
    let opts = FoolOptions {
        method: Method::EvolveCppn,
        classes: vec![1, 0],
        generations: 3,
        seed: 2,
        ..FoolOptions::default()
    };
    let r = fool(m, &opts, |_, _| ()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let png = write_fool_files(dir.path(), m, &r).unwrap();
    assert_eq!(png.len(), 2);
    // With `quantize` the search already judges the 8-bit images.
    for (p, img) in png.iter().zip(&r.images) {
        assert!((p - img.confidence).abs() < 1e-5, "{p} vs {}", img.confidence);
    }
    for f in ["fooling.npy", "manifest.csv", "gallery.png"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let manifest = std::fs::read_to_string(dir.path().join("manifest.csv")).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(lines[0], "file,class,confidence,method,generation,reached");
    let first = format!("images/01_{}.png,{},", slug(&m.classes()[1]), m.classes()[1]);
    assert!(lines[1].starts_with(&first), "{}", lines[1]);
    assert!(lines[1].contains(",evolve-cppn,"), "{}", lines[1]);
    assert!(dir.path().join(format!("images/00_{}.png", slug(&m.classes()[0]))).is_file());
    let mut results = output::Results::new("fool");
    set_fool_results(&mut results, m, &r, &opts, &png);
    let v = results.to_value();
    assert_eq!(v["method"], "evolve-cppn");
    assert_eq!(v["n_classes"], 2);
    assert_eq!(v["per_class"][0]["class"], m.classes()[1].as_str());
    for key in ["target_confidence", "budget_generations", "population", "generations_run", "evaluations"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    for key in ["confidence", "confidence_png", "generation", "reached"] {
        assert!(v["per_class"][1].get(key).is_some(), "{key}");
    }
    assert_eq!(slug("a b/c"), "a_b_c");
    assert_eq!(slug(""), "class");
}
