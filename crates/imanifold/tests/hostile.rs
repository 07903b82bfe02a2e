//! Hostile input, table-driven, through the real binary: every case must exit with code 2 and one line on stderr
//! naming the file, option or value at fault, create no output folder, and leave every input untouched.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{ok, render, run, s};

/// Builds a command line from an input path and an output path.
type ArgsFor = Box<dyn Fn(&str, &str) -> Vec<String>>;

/// A float32 `.npy` (version 1) of `rows × cols` values `f(i, j)`.
fn write_npy(path: &Path, rows: usize, cols: usize, f: impl Fn(usize, usize) -> f32) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for i in 0..rows {
        for j in 0..cols {
            bytes.extend_from_slice(&f(i, j).to_le_bytes());
        }
    }
    fs::write(path, bytes).unwrap();
}

/// Every file under `dir` with a hash of its bytes (FNV-1a): equal maps mean untouched folders.
fn hash_tree(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let h = fs::read(&p)
                    .unwrap()
                    .iter()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
                out.insert(p, h);
            }
        }
    }
    out
}

/// Asserts a refusal: exit 2, no panic, one message line naming `needle` (clap's usage errors add a blank line and
/// a "For more information" hint, not counted), and `out` as it was before (`existed`).
fn refused_case(args: &[String], out: &Path, existed: bool, needle: &str) -> Result<(), String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&a);
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> =
        err.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("For more information")).collect();
    if o.status.code() != Some(2) {
        return Err(format!("{a:?}: exit {:?}: {err}", o.status.code()));
    }
    if !err.contains(needle) {
        return Err(format!("{a:?}: stderr does not name {needle:?}: {err}"));
    }
    if lines.len() != 1 || err.contains("panicked") {
        return Err(format!("{a:?}: {} lines on stderr: {err}", lines.len()));
    }
    if !existed && out.exists() {
        return Err(format!("{a:?} left {}", out.display()));
    }
    Ok(())
}

// One test over a table of cases (fixtures built once); its length is the table.
#[test]
fn hostile_inputs_are_refused_and_inputs_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inputs = dir.join("in");
    fs::create_dir(&inputs).unwrap();
    let outs = dir.join("outs");
    fs::create_dir(&outs).unwrap();

    // Fixtures, built once.
    let r = render(&inputs, "r", "object", "yaw", 8, 16, 1, &[]);
    let c = render(&inputs, "c", "shapes10", "yaw,pitch", 30, 12, 2, &[]);
    let model = inputs.join("model");
    ok(&[
        "classifier",
        "train",
        "--data",
        s(&c),
        "--epochs",
        "1",
        "--channels",
        "4",
        "--hidden",
        "8",
        "--out",
        s(&model),
    ]);
    let interp = inputs.join("interp");
    let (f0, f1) = (r.join("images/000000.png"), r.join("images/000001.png"));
    ok(&["interpolate", s(&f0), s(&f1), "--steps", "3", "--out", s(&interp)]);
    let morph0 = fs::read_dir(interp.join("morph")).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    let good = inputs.join("good.npy");
    write_npy(&good, 40, 3, |i, j| ((i * 7 + j * 13) % 17) as f32 + 0.1 * i as f32);
    let nan = inputs.join("nan.npy");
    write_npy(&nan, 40, 3, |i, j| if i == 5 && j == 1 { f32::NAN } else { (i + j) as f32 });
    let inf = inputs.join("inf.npy");
    write_npy(&inf, 40, 3, |i, _| if i == 3 { f32::INFINITY } else { i as f32 });
    let trunc = inputs.join("trunc.npy");
    fs::write(&trunc, &fs::read(&good).unwrap()[..200]).unwrap();
    let huge = inputs.join("huge.npy");
    let mut h = String::from("{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 100000), }");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    fs::write(&huge, bytes).unwrap();
    let garbage = inputs.join("garbage.npy");
    fs::write(&garbage, b"this is not an npy file at all").unwrap();
    let bad_png = inputs.join("badpng");
    fs::create_dir(&bad_png).unwrap();
    fs::write(bad_png.join("a.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    fs::copy(&f0, bad_png.join("b.png")).unwrap();
    let mixed = inputs.join("mixed");
    fs::create_dir(&mixed).unwrap();
    fs::copy(&f0, mixed.join("a.png")).unwrap();
    fs::copy(c.join("images/000000.png"), mixed.join("b.png")).unwrap();
    let idx = inputs.join("bad-images-idx3-ubyte");
    fs::write(&idx, [0u8, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]).unwrap();
    let bad_toml = inputs.join("bad.toml");
    fs::write(&bad_toml, "name = \"x\"\n[[objects]\nshape = ").unwrap();
    let neg_scale = inputs.join("neg.toml");
    let scenes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/scenes");
    fs::copy(scenes.join("crate.png"), inputs.join("crate.png")).unwrap();
    let object = fs::read_to_string(scenes.join("object.toml")).unwrap();
    let with_scale = object.replacen("[[objects]]\n", "[[objects]]\nscale = -1e308\n", 1);
    assert_ne!(with_scale, object, "object.toml has an [[objects]] table");
    fs::write(&neg_scale, with_scale).unwrap();
    let nan_truth = inputs.join("nantruth");
    fs::create_dir(&nan_truth).unwrap();
    let mut manifest = String::from("file,yaw\n");
    for i in 0..8 {
        let name = format!("{i:06}.png");
        fs::copy(r.join("images").join(&name), nan_truth.join(&name)).unwrap();
        manifest.push_str(&format!("{name},{}\n", if i == 2 { "nan".to_string() } else { (i * 10).to_string() }));
    }
    fs::write(nan_truth.join("manifest.csv"), manifest).unwrap();
    // Enough rows that the n × n matrices of geodesic and the neighbour lists of score exceed any machine.
    let tall = inputs.join("tall.npy");
    write_npy(&tall, 200_000, 1, |i, _| i as f32);
    // An earlier output folder with a link to the inputs inside it, and a link to the inputs beside it.
    let via = outs.join("via");
    fs::create_dir(&via).unwrap();
    fs::write(via.join("results.json"), "{\"schema\": \"imanifold/dim/v1\"}").unwrap();
    std::os::unix::fs::symlink(&inputs, via.join("deep")).unwrap();
    std::os::unix::fs::symlink(&inputs, outs.join("alias")).unwrap();
    let a_file = outs.join("a_file");
    fs::write(&a_file, b"x").unwrap();
    let foreign = outs.join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), b"mine").unwrap();

    let before = hash_tree(&inputs);
    let before_outs = hash_tree(&outs);

    let p = |x: &Path| s(x).to_string();
    let (rs, cs, ms, goods) = (p(&r), p(&c), p(&model), p(&good));
    // Commands over one collection X, writing into O.
    let over: Vec<(&str, ArgsFor)> = vec![
        ("neighbors", Box::new(|x, o| v(&["neighbors", x, "--k", "2", "--out", o]))),
        ("dim", Box::new(|x, o| v(&["dim", x, "--out", o]))),
        ("geodesic", Box::new(|x, o| v(&["geodesic", x, "--k", "2", "--metric", "euclidean", "--out", o]))),
        ("score", Box::new(|x, o| v(&["score", "--reference", x, "--query", x, "--methods", "knn", "--out", o]))),
        ("train", Box::new(|x, o| v(&["classifier", "train", "--data", x, "--epochs", "1", "--out", o]))),
        (
            "eval",
            Box::new({
                let m = ms.clone();
                move |x, o| v(&["classifier", "eval", "--model", &m, "--data", x, "--out", o])
            }),
        ),
        (
            "adversarial",
            Box::new({
                let m = ms.clone();
                move |x, o| v(&["adversarial", "--model", &m, "--data", x, "--method", "fgsm", "--out", o])
            }),
        ),
        ("info", Box::new(|x, _| v(&["info", x]))),
    ];
    let missing = p(&inputs.join("missing.npy"));
    let bad_inputs: Vec<(String, &str)> = vec![
        (missing.clone(), "missing.npy"),
        (p(&trunc), "trunc.npy"),
        (p(&nan), "nan.npy"),
        (p(&huge), "huge.npy"),
        (p(&garbage), "garbage.npy"),
        (p(&bad_png), "a.png"),
        (p(&mixed), "mixed"),
        (p(&idx), "bad-images-idx3-ubyte"),
    ];
    let mut cases: Vec<(Vec<String>, PathBuf, bool, String)> = Vec::new();
    let mut n_out = 0;
    let mut fresh = || {
        n_out += 1;
        outs.join(format!("o{n_out}"))
    };
    for (_, cmd) in &over {
        for (x, needle) in &bad_inputs {
            let o = fresh();
            cases.push((cmd(x, s(&o)), o, false, needle.to_string()));
        }
    }
    // Options shared by every command.
    for (name, cmd) in &over {
        let x = if matches!(*name, "train" | "eval" | "adversarial") { cs.clone() } else { rs.clone() };
        let o = fresh();
        let mut a = cmd(&x, s(&o));
        a.extend(v(&["--resize", "0x16"]));
        cases.push((a, o, false, "--resize".into()));
        if *name == "info" {
            continue;
        }
        let o = fresh();
        let mut a = v(&["--threads", "0"]);
        a.extend(cmd(&x, s(&o)));
        cases.push((a, o, false, "--threads".into()));
        let o = fresh();
        let mut a = v(&["--threads", "100000"]);
        a.extend(cmd(&x, s(&o)));
        cases.push((a, o, false, "--threads".into()));
        cases.push((cmd(&x, s(&a_file)), a_file.clone(), true, "a_file".into()));
        cases.push((cmd(&x, s(&foreign)), foreign.clone(), true, "foreign".into()));
        cases.push((cmd(&x, &x), PathBuf::from(&x), true, "input".into()));
    }
    let mut add = |args: &[&str], needle: &str| {
        let o = fresh();
        let mut a = v(args);
        if !a.iter().any(|x| x == "--out") {
            a.extend(v(&["--out", s(&o)]));
        }
        cases.push((a, o, false, needle.to_string()));
    };
    // Absurd sizes and counts.
    add(&["classifier", "train", "--data", &cs, "--channels", "100000000"], "100000000");
    add(&["classifier", "train", "--data", &cs, "--hidden", "1000000000"], "1000000000");
    add(&["classifier", "train", "--data", &cs, "--epochs", "1000000000"], "epochs");
    add(&["classifier", "train", "--data", &cs, "--channels", "1e8"], "--channels");
    add(&["classifier", "train", "--data", &cs, "--batch-size", "0"], "batch size");
    add(&["fool", "--model", &ms, "--method", "evolve-direct", "--population", "1000000000"], "population");
    add(&["fool", "--model", &ms, "--method", "evolve-direct", "--confidence", "2"], "confidence");
    add(&["fool", "--model", &ms, "--method", "nope"], "nope");
    add(&["fool", "--model", &ms, "--method", "evolve-direct", "--classes", "unicorn"], "unicorn");
    add(&["fool", "--model", &p(&inputs.join("nomodel")), "--method", "evolve-direct"], "nomodel");
    add(
        &["adversarial", "--model", &ms, "--data", &cs, "--method", "fgsm", "--random-trials", "4000000000"],
        "random trials",
    );
    add(&["adversarial", "--model", &ms, "--data", &cs, "--method", "fgsm", "--eps", "2"], "eps");
    add(&["adversarial", "--model", &ms, "--data", &cs, "--method", "fgsm", "--eps=-1"], "eps");
    add(&["adversarial", "--model", &ms, "--data", &cs, "--method", "magic"], "magic");
    add(&["bench", "knn", "--shape", "100000000x100000", "--k", "2"], "100000000x100000");
    add(&["bench", "knn", "--shape", "1x5"], "1x5");
    add(&["bench", "dim", "--estimator", "nope"], "nope");
    add(&["bench", "dim", "--k", "0"], "k");
    add(&["bench", "dim", "--shape", "100000000x100000"], "100000000");
    // Wrong acceptances.
    add(&["dim", &goods, "--k", "99999999999"], "99999999999");
    add(&["dim", &goods, "--estimator", "nope"], "nope");
    add(&["dim", &goods, "--k", "1"], "k");
    add(&["dim", &p(&inf), "--k", "5"], "inf.npy");
    add(&["neighbors", &goods, "--k", "40"], "40");
    add(&["neighbors", &goods, "--k", "2", "--strategy", "psychic"], "psychic");
    add(&["neighbors", &goods, "--k", "2", "--strategy", "approx", "--ef-search", "0"], "ef-search");
    add(&["neighbors", &goods, "--k", "2", "--strategy", "approx", "--recall-sample", "0"], "recall-sample");
    add(&["geodesic", &p(&nan_truth), "--k", "2", "--metric", "euclidean", "--truth", "yaw"], "yaw");
    add(&["geodesic", &rs, "--k", "2", "--metric", "euclidean", "--truth", "nope"], "nope");
    add(&["geodesic", &goods, "--k", "2", "--metric", "flow"], "images");
    add(&["score", "--reference", &rs, "--query", &rs, "--methods", "vibes"], "vibes");
    add(&["render", "--scene", "object", "--set", "yaw=3", "--vary", "yaw", "--n", "3", "--size", "16"], "yaw");
    add(&["render", "--scene", &p(&neg_scale), "--vary", "yaw", "--n", "3", "--size", "16"], "scale");
    add(&["render", "--scene", &p(&bad_toml), "--vary", "yaw", "--n", "3", "--size", "16"], "bad.toml");
    add(&["render", "--scene", "object", "--vary", "warp", "--n", "3", "--size", "16"], "warp");
    add(&["render", "--scene", "object", "--vary", "yaw", "--n", "3", "--size", "0"], "size");
    add(&["interpolate", s(&f0), &missing, "--steps", "3"], "missing.npy");
    add(&["interpolate", s(&f0), s(&f1), "--steps", "1"], "steps");
    add(&["interpolate", s(&f0), s(&c.join("images/000000.png"))], "size");
    add(&["flow", "--pairs", &missing], "missing.npy");
    // Memory needed beyond what the machine has: refused with the figures before allocating.
    let talls = p(&tall);
    add(&["geodesic", &talls, "--k", "2", "--metric", "euclidean"], "available");
    add(&["geodesic", &talls, "--k", "2", "--metric", "euclidean", "--dims", "0"], "n × n");
    let score_big = ["--methods", "knn", "--k", "100000", "--calibration", "200000"];
    add(&[&["score", "--reference", &talls, "--query", &talls][..], &score_big].concat(), "available");
    let score_query = ["--methods", "knn", "--k", "100000", "--calibration", "2"];
    add(&[&["score", "--reference", &talls, "--query", &talls][..], &score_query].concat(), "--k 100000");
    // A --k that none of the chosen estimators would use.
    add(&["dim", &goods, "--estimator", "lpca", "--k", "20"], "(lpca)");
    add(&["dim", &goods, "--estimator", "twonn", "--estimator", "pca", "--k", "20"], "twonn, pca");
    add(&["dim", &goods, "--estimator", "mle:n_neighbors=5", "--k", "20"], "k 20");
    // --out holding an input: an earlier interpolate folder whose frames are the inputs, a model folder.
    let (m0, ints) = (p(&morph0), p(&interp));
    cases.push((v(&["interpolate", &m0, &m0, "--steps", "3", "--out", &ints]), interp.clone(), true, "input".into()));
    cases.push((
        v(&["fool", "--model", &ms, "--method", "evolve-direct", "--generations", "1", "--out", &ms]),
        model.clone(),
        true,
        "input".into(),
    ));
    cases.push((
        v(&["classifier", "train", "--data", &p(&c.join("images")), "--epochs", "1", "--out", &cs]),
        c.clone(),
        true,
        "input".into(),
    ));
    cases.push((v(&["dim", &p(&r.join("images")), "--out", &rs]), r.clone(), true, "input".into()));
    // ... through a link inside --out, through a link to the inputs, or through `..` after a missing folder.
    let deep_input = p(&via.join("deep/good.npy"));
    cases.push((v(&["dim", &deep_input, "--out", &p(&via)]), via.clone(), true, "input".into()));
    let deep_images = p(&via.join("deep/r/images"));
    cases.push((v(&["neighbors", &deep_images, "--k", "2", "--out", &p(&via)]), via.clone(), true, "input".into()));
    let alias_r = outs.join("alias/r");
    cases.push((v(&["dim", &p(&r.join("images")), "--out", &p(&alias_r)]), alias_r, true, "input".into()));
    let dotdot = inputs.join("nothere/../r");
    cases.push((v(&["dim", &p(&r.join("images")), "--out", &p(&dotdot)]), dotdot, true, "input".into()));

    let failures: Vec<String> =
        cases.iter().filter_map(|(a, o, existed, needle)| refused_case(a, o, *existed, needle).err()).collect();
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(before, hash_tree(&inputs), "an input file changed");
    assert_eq!(before_outs, hash_tree(&outs), "an output path was created or changed");
    assert!(!inputs.join("nothere").exists(), "a refused --out created a folder");
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}
