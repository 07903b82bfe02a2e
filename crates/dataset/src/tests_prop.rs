//! Property tests: random bytes and mutated headers of `.npy`, IDX (raw and gzip) and `manifest.csv` never panic;
//! every refusal names the file it is about.

use super::*;
use crate::tests_hostile::{cap_memory, npy_bytes};
use image::{GrayImage, Luma};
use proptest::collection::vec;
use proptest::prelude::*;
use std::io::Write;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// Loads `bytes` written as `dir/name`; Ok, or an error whose message names the file.
fn check(name: &str, bytes: &[u8], opts: &LoadOptions) -> std::result::Result<(), TestCaseError> {
    cap_memory();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    fs::write(&p, bytes).unwrap();
    if let Err(e) = load(&p, opts) {
        let msg = e.to_string();
        prop_assert!(msg.contains(name), "error does not name {name}: {msg}");
    }
    Ok(())
}

fn any_opts() -> impl Strategy<Value = LoadOptions> {
    (prop::option::of(1usize..5), prop::option::of(1usize..5), prop::option::of((1u32..6, 1u32..6)), 0u8..3).prop_map(
        |(limit, sample, resize, c)| LoadOptions {
            color: [ColorMode::Auto, ColorMode::Gray, ColorMode::Rgb][c as usize],
            resize,
            limit,
            sample,
            seed: 1,
            recursive: false,
        },
    )
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Sizes that matter: small, zero, and the edges of the integer types.
fn dim() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..6, Just(u32::MAX as u64), Just(1 << 31), Just(u64::MAX), Just(1 << 40)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn npy_random_bytes(bytes in vec(any::<u8>(), 0..300), magic in any::<bool>()) {
        let bytes = if magic { [&b"\x93NUMPY\x01\x00"[..], &bytes].concat() } else { bytes };
        check("r.npy", &bytes, &LoadOptions::default())?;
    }

    #[test]
    fn npy_mutated_headers(
        descr in prop::sample::select(vec!["<f4", ">f4", "<f8", "|u1", "<u2", ">u2", "<i8", "|b1", "O", "<f4'"]),
        fortran in any::<bool>(),
        shape in vec(dim(), 0..5),
        extra in prop::sample::select(vec!["", ",", ", 3", "L", "x"]),
        data_len in 0usize..200,
        flip in prop::option::of((0usize..128, any::<u8>())),
        opts in any_opts(),
    ) {
        let shape_text = format!("({}{extra})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
        let data: Vec<u8> = (0..data_len).map(|i| (i * 37) as u8).collect();
        let mut bytes = npy_bytes(descr, fortran, &shape_text, &data);
        if let Some((at, v)) = flip {
            let at = at % bytes.len();
            bytes[at] = v;
        }
        check("m.npy", &bytes, &opts)?;
    }

    #[test]
    fn npy_consistent_headers_load(rows in 1usize..5, cols in 1usize..5, fortran in any::<bool>(), opts in any_opts()) {
        // Valid files of every shape load (f32 matrices, so `resize` is refused, naming the file).
        let data: Vec<u8> = (0..rows * cols).flat_map(|i| (i as f32 / 20.0).to_le_bytes()).collect();
        let bytes = npy_bytes("<f4", fortran, &format!("({rows}, {cols})"), &data);
        cap_memory();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ok.npy");
        fs::write(&p, bytes).unwrap();
        match load(&p, &opts) {
            Ok(ds) => prop_assert_eq!((ds.n(), ds.d()), (kept_count(rows, &opts), cols)),
            Err(e) => prop_assert!(opts.resize.is_some() && e.to_string().contains("ok.npy"), "{}", e),
        }
    }

    #[test]
    fn idx_random_bytes(bytes in vec(any::<u8>(), 0..300), header in any::<bool>(), compress in any::<bool>()) {
        let bytes = if header { [&[0u8, 0, 8, 3][..], &bytes].concat() } else { bytes };
        let (name, bytes) = if compress { ("r-images-idx3-ubyte.gz", gz(&bytes)) } else { ("r-images-idx3-ubyte", bytes) };
        check(name, &bytes, &LoadOptions::default())?;
    }

    #[test]
    fn idx_mutated_headers(
        ty in prop::sample::select(vec![0x08u8, 0x08, 0x09, 0x0d]),
        dims in vec(dim(), 0..5),
        payload_len in 0usize..300,
        compress in any::<bool>(),
        labels in prop::option::of((vec(dim(), 0..3), 0usize..8)),
        opts in any_opts(),
    ) {
        let header = |ty: u8, dims: &[u64]| {
            let mut v = vec![0, 0, ty, dims.len() as u8];
            dims.iter().for_each(|&d| v.extend_from_slice(&(d as u32).to_be_bytes()));
            v
        };
        let wrap = |b: Vec<u8>| if compress { gz(&b) } else { b };
        let mut bytes = header(ty, &dims);
        bytes.extend((0..payload_len).map(|i| i as u8));
        cap_memory();
        let dir = tempfile::tempdir().unwrap();
        let suffix = if compress { ".gz" } else { "" };
        let p = dir.path().join(format!("t-images-idx3-ubyte{suffix}"));
        fs::write(&p, wrap(bytes)).unwrap();
        if let Some((ldims, llen)) = &labels {
            let mut lb = header(8, ldims);
            lb.extend((0..*llen).map(|i| i as u8));
            fs::write(dir.path().join(format!("t-labels-idx1-ubyte{suffix}")), wrap(lb)).unwrap();
        }
        if let Err(e) = load(&p, &opts) {
            let msg = e.to_string();
            prop_assert!(msg.contains("-idx3-ubyte") || msg.contains("-idx1-ubyte"), "{}", msg);
        }
    }

    #[test]
    fn manifest_random_text(
        lines in vec(vec(prop::sample::select(vec![
            "file", "label", "a.png", "b.png", "./a.png", "c.npy", "d.npy", "missing.png", "sub/../a.png", "1e300",
            "", "\"", "\"a.png\"", "x,y", "-0", "nan", "é", "../outside.png", "/", "a.png\n", "file,file",
        ]), 1..4), 0..6),
        opts in any_opts(),
    ) {
        cap_memory();
        let dir = tempfile::tempdir().unwrap();
        GrayImage::from_pixel(2, 2, Luma([9])).save(dir.path().join("a.png")).unwrap();
        GrayImage::from_pixel(3, 2, Luma([90])).save(dir.path().join("b.png")).unwrap();
        ndarray_npy::write_npy(dir.path().join("c.npy"), &ndarray::arr1(&[1.0f32, 2.0])).unwrap();
        ndarray_npy::write_npy(dir.path().join("d.npy"), &ndarray::arr2(&[[1e300f64]])).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let text: String = lines.iter().map(|cells| cells.join(",") + "\n").collect();
        fs::write(dir.path().join("manifest.csv"), text).unwrap();
        if let Err(e) = load(dir.path(), &opts) {
            let msg = e.to_string();
            let named = ["manifest.csv", "a.png", "b.png", "c.npy", "d.npy", "--resize"];
            prop_assert!(named.iter().any(|n| msg.contains(n)), "{}", msg);
        }
    }
}
