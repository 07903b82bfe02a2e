//! Hostile inputs: each is refused with a message naming the file, row or value (or, for symbolic-link loops,
//! handled), never with a panic, an abort or a huge allocation.

use super::*;
use image::{GrayImage, Luma, Rgb, RgbImage};
use std::io::Write;
use std::sync::atomic::Ordering;

fn opts() -> LoadOptions {
    LoadOptions::default()
}

/// Caps the memory the loaders see at 2 GB, so that refusals do not depend on the machine.
pub(crate) fn cap_memory() {
    limits::TEST_CAP.store(2_000_000_000, Ordering::Relaxed);
}

fn err(path: &Path, o: &LoadOptions) -> String {
    match load(path, o) {
        Ok(ds) => panic!("{} was accepted: {} × {}", path.display(), ds.n(), ds.d()),
        Err(e) => e.to_string(),
    }
}

/// A version-1 `.npy` with a hand-written header (padded to a multiple of 64 bytes) and `data` after it.
pub(crate) fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    v.extend_from_slice(dict.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn npy_declaring_a_huge_shape_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.npy");
    fs::write(&p, npy_bytes("<f4", false, "(1000000, 1000000)", &[0; 64])).unwrap();
    assert_eq!(fs::metadata(&p).unwrap().len(), 192);
    for o in [opts(), LoadOptions { limit: Some(3), ..opts() }, LoadOptions { sample: Some(2), ..opts() }] {
        let msg = err(&p, &o);
        assert!(
            msg.contains("huge.npy")
                && msg.contains("shorter than its header declares")
                && msg.contains("expected 4000000000000 bytes of data")
                && msg.contains("found 64"),
            "{msg}"
        );
    }
    // A shape whose size overflows any integer.
    fs::write(&p, npy_bytes("<f8", false, "(18446744073709551615, 18446744073709551615)", &[])).unwrap();
    assert!(err(&p, &opts()).contains("more values than can be addressed"));
    // No data, no rows, or empty rows: the other sizes do not matter.
    fs::write(&p, npy_bytes("<f4", false, "(0, 18446744073709551615, 18446744073709551615)", &[])).unwrap();
    assert!(err(&p, &opts()).contains("no rows"));
    fs::write(&p, npy_bytes("<f4", false, "(2, 0)", &[])).unwrap();
    assert!(err(&p, &opts()).contains("rows are empty"));
    fs::write(&p, npy_bytes("<f4", false, "(2, 4294967296, 4294967296, 0)", &[])).unwrap();
    assert!(err(&p, &opts()).contains("needs c in {1, 3, 4}"));
    fs::write(&p, npy_bytes("<f4", false, "(2, 1, 1, 1, 0)", &[])).unwrap();
    assert!(err(&p, &opts()).contains("2-D matrix or an image stack"));
}

#[test]
fn truncated_npy_of_every_dtype_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let m = ndarray::Array2::<f64>::from_elem((4, 3), 0.5);
    let p = dir.path().join("t.npy");
    type Writer<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: [(&str, Writer<'_>, usize); 4] = [
        ("u8", Box::new(|p: &Path| ndarray_npy::write_npy(p, &m.mapv(|x| (x * 255.0) as u8)).unwrap()), 12),
        ("u16", Box::new(|p: &Path| ndarray_npy::write_npy(p, &m.mapv(|x| (x * 9.0) as u16)).unwrap()), 24),
        ("f32", Box::new(|p: &Path| ndarray_npy::write_npy(p, &m.mapv(|x| x as f32)).unwrap()), 48),
        ("f64", Box::new(|p: &Path| ndarray_npy::write_npy(p, &m).unwrap()), 96),
    ];
    for (name, write, bytes) in cases {
        write(&p);
        let full = fs::read(&p).unwrap();
        fs::write(&p, &full[..full.len() - 5]).unwrap();
        let msg = err(&p, &opts());
        let want = format!("shorter than its header declares: expected {bytes} bytes of data");
        assert!(
            msg.contains("t.npy") && msg.contains(&want) && msg.contains(&format!("found {}", bytes - 5)),
            "{name}: {msg}"
        );
        assert!(!msg.contains("descriptor"), "{name}: {msg}");
        fs::write(&p, [&full[..], &[0u8; 3]].concat()).unwrap();
        assert!(err(&p, &opts()).contains("longer than its header declares"), "{name}");
    }
    fs::write(&p, &b"\x93NUMPY\x01\x00\xff\x00{'descr'"[..]).unwrap();
    assert!(err(&p, &opts()).contains("file ends inside the .npy header"));
    fs::write(&p, npy_bytes("<i4", false, "(1, 1)", &[0; 4])).unwrap();
    assert!(err(&p, &opts()).contains("dtype '<i4' is not supported"));
}

#[test]
fn float64_beyond_float32_is_named_as_an_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = ndarray::Array2::<f64>::zeros((4, 3));
    m[[2, 1]] = 1e300;
    m[[3, 0]] = -1e39;
    let p = dir.path().join("big.npy");
    ndarray_npy::write_npy(&p, &m).unwrap();
    let msg = err(&p, &opts());
    assert!(
        msg.contains("big.npy")
            && msg.contains("row 2, column 1")
            && msg.contains("1e300")
            && msg.contains("overflows float32"),
        "{msg}"
    );
    // A genuine infinity is still reported as non-finite, and 3e38 still fits.
    m[[2, 1]] = f64::INFINITY;
    m[[3, 0]] = 3e38;
    ndarray_npy::write_npy(&p, &m).unwrap();
    let msg = err(&p, &opts());
    assert!(msg.contains("non-finite") && msg.contains("row 2"), "{msg}");
    // Rows named by a manifest: the file and the position within it.
    let rows = tempfile::tempdir().unwrap();
    let mut a = ndarray::Array2::<f64>::zeros((2, 2));
    ndarray_npy::write_npy(rows.path().join("a.npy"), &a).unwrap();
    a[[1, 0]] = 1e300;
    ndarray_npy::write_npy(rows.path().join("b.npy"), &a).unwrap();
    fs::write(rows.path().join("manifest.csv"), "file\na.npy\nb.npy\n").unwrap();
    let msg = err(rows.path(), &opts());
    assert!(msg.contains("b.npy") && msg.contains("value 2") && msg.contains("overflows float32"), "{msg}");
}

#[test]
fn one_dimensional_npy_is_refused_with_a_reshape_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.npy");
    ndarray_npy::write_npy(&p, &ndarray::arr1(&[1.0f32, 2.0, 3.0])).unwrap();
    let msg = err(&p, &opts());
    assert!(msg.contains("v.npy") && msg.contains("1-D array of 3 values") && msg.contains("reshape(-1, 1)"), "{msg}");
    fs::write(&p, npy_bytes("<f4", false, "()", &[0; 4])).unwrap();
    assert!(err(&p, &opts()).contains("a single number"));
    // A 1-D file as one manifest row is a flat row, as documented.
    ndarray_npy::write_npy(dir.path().join("r0.npy"), &ndarray::arr1(&[1.0f32, 2.0])).unwrap();
    ndarray_npy::write_npy(dir.path().join("r1.npy"), &ndarray::arr1(&[3.0f32, 4.0])).unwrap();
    fs::write(dir.path().join("manifest.csv"), "file\nr0.npy\nr1.npy\n").unwrap();
    let ds = load(dir.path(), &opts()).unwrap();
    assert_eq!(ds.data, ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
}

fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_without_images_or_pixels_and_with_absurd_sizes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, wrap) in [("x-images-idx3-ubyte", false), ("x-images-idx3-ubyte.gz", true)] {
        let p = dir.path().join(name);
        let put = |b: Vec<u8>| fs::write(&p, if wrap { gz(&b) } else { b }).unwrap();
        put(idx(&[0, 28, 28], &[]));
        let msg = err(&p, &opts());
        assert!(msg.contains(name) && msg.contains("holds 0 images"), "{msg}");
        put(idx(&[5, 0, 0], &[]));
        let msg = err(&p, &opts());
        assert!(msg.contains(name) && msg.contains("0×0 pixels"), "{msg}");
        put(idx(&[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]));
        let msg = err(&p, &opts());
        assert!(msg.contains(name) && msg.contains("truncated"), "{msg}");
        put(idx(&[3, 2, 2], &[7; 12]));
        assert_eq!(load(&p, &LoadOptions { limit: Some(2), ..opts() }).unwrap().n(), 2);
    }
}

#[test]
fn manifest_listing_a_file_twice_is_refused_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    GrayImage::from_pixel(2, 2, Luma([9])).save(dir.path().join("a.png")).unwrap();
    GrayImage::from_pixel(2, 2, Luma([90])).save(dir.path().join("b.png")).unwrap();
    let m = dir.path().join("manifest.csv");
    fs::write(&m, "file,label\na.png,cube\nb.png,cube\na.png,sphere\n").unwrap();
    let msg = err(dir.path(), &opts());
    assert!(
        msg.contains("manifest.csv")
            && msg.contains("a.png is listed twice, on lines 2 and 4")
            && msg.contains("different `label` (cube on line 2, sphere on line 4)"),
        "{msg}"
    );
    // The same label twice, or the same file spelled `./a.png`, is still a duplicate row.
    fs::write(&m, "file,label\na.png,cube\n./a.png,cube\n").unwrap();
    let msg = err(dir.path(), &opts());
    assert!(msg.contains("./a.png is listed twice, on lines 2 and 3: list each file once"), "{msg}");
}

#[test]
#[cfg(unix)]
fn recursive_listing_survives_symlink_loops() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    GrayImage::from_pixel(2, 2, Luma([1])).save(dir.path().join("a.png")).unwrap();
    GrayImage::from_pixel(2, 2, Luma([2])).save(dir.path().join("sub/b.png")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/loop")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("sub"), dir.path().join("alias")).unwrap();
    let ds = load(dir.path(), &LoadOptions { recursive: true, ..opts() }).unwrap();
    // Each folder once: `alias` (sorted first) stands for `sub`, the loop back to the top is not followed.
    assert_eq!(ds.ids, vec!["a.png", "alias/b.png"]);
}

#[test]
#[cfg(target_os = "linux")]
fn available_memory_is_read_and_bounded_by_memavailable() {
    let mem = limits::meminfo_available().expect("/proc/meminfo has MemAvailable");
    let a = limits::available_memory();
    assert!(a > 0 && a <= mem, "{a} of {mem}");
    assert!(
        limits::Bytes(40_000_000_000).to_string() == "40.0 GB" && limits::Bytes(23_100_000).to_string() == "23.1 MB"
    );
}

#[test]
fn memory_refusals_give_the_figures() {
    let e = limits::check(
        Path::new("x.npy"),
        limits::f32_matrix(100_000, 100_000),
        || limits::values(100_000, 100_000),
        "",
    );
    let msg = e.unwrap_err().to_string();
    assert!(msg.starts_with("x.npy: needs 40.0 GB for 100000 × 100000 float32 values, "), "{msg}");
    assert!(msg.ends_with(" available"), "{msg}");

    cap_memory();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        RgbImage::from_pixel(4, 4, Rgb([i, 2, 3])).save(dir.path().join(format!("{i}.png"))).unwrap();
    }
    let big = LoadOptions { resize: Some((16384, 16384)), limit: Some(3), ..opts() };
    let msg = err(dir.path(), &big);
    assert!(
        msg.contains("needs ")
            && msg.contains("for 3 × 805306368 float32 values")
            && msg.contains("available")
            && msg.contains("--resize 16384x16384: each side may be 1..=16384"),
        "{msg}"
    );
    assert_eq!(load(dir.path(), &LoadOptions { resize: Some((64, 64)), ..big }).unwrap().d(), 64 * 64 * 3);
    // The same for image stacks in .npy and for IDX files.
    let stack = dir.path().join("s.npy");
    ndarray_npy::write_npy(&stack, &ndarray::Array3::<u8>::zeros((3, 4, 4))).unwrap();
    assert!(err(&stack, &big).contains("needs "));
    let p = dir.path().join("m-images-idx3-ubyte");
    fs::write(&p, idx(&[3, 2, 2], &[7; 12])).unwrap();
    assert!(err(&p, &big).contains("for 3 × 268435456 float32 values"));
}
