use super::*;
use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use ndarray::{Array3, Array4};
use std::io::Write;

fn gray(w: u32, h: u32, v: u8) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([v.wrapping_add((x + 2 * y) as u8)]))
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

#[test]
fn image_folder_sorted_scaled_gray() {
    let dir = tempfile::tempdir().unwrap();
    gray(4, 3, 10).save(dir.path().join("b.png")).unwrap();
    gray(4, 3, 200).save(dir.path().join("a.png")).unwrap();
    fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let ds = load(dir.path(), &opts()).unwrap();
    assert_eq!((ds.n(), ds.d()), (2, 12));
    assert_eq!(ds.ids, vec!["a.png", "b.png"]);
    assert_eq!(ds.shape, Some(ImageShape { height: 3, width: 4, channels: 1 }));
    assert!((ds.data[[0, 0]] - 200.0 / 255.0).abs() < 1e-6);
    // pixel (x=1, y=2) of b.png is row-major index 2*4+1
    assert!((ds.data[[1, 9]] - 15.0 / 255.0).abs() < 1e-6);
}

#[test]
fn colour_modes_and_bit_depths() {
    let dir = tempfile::tempdir().unwrap();
    RgbImage::from_fn(2, 2, |x, _| Rgb([255 * x as u8, 0, 0])).save(dir.path().join("c.png")).unwrap();
    let rgb = load(dir.path(), &opts()).unwrap();
    assert_eq!(rgb.shape.unwrap().channels, 3, "auto keeps colour");
    assert_eq!(rgb.data.row(0).to_vec()[3..6], [1.0, 0.0, 0.0]);
    let g = load(dir.path(), &LoadOptions { color: ColorMode::Gray, ..opts() }).unwrap();
    assert_eq!(g.d(), 4);
    assert!((g.data[[0, 1]] - 0.299).abs() < 1e-6, "BT.601 luma of pure red: {}", g.data[[0, 1]]);

    let d16 = tempfile::tempdir().unwrap();
    let img: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(2, 1, |x, _| Luma([if x == 0 { 65535 } else { 32768 }]));
    img.save(d16.path().join("x.png")).unwrap();
    let ds = load(d16.path(), &opts()).unwrap();
    assert_eq!(ds.data[[0, 0]], 1.0);
    assert!((ds.data[[0, 1]] - 0.5).abs() < 1e-4);

    let da = tempfile::tempdir().unwrap();
    RgbaImage::from_pixel(2, 2, Rgba([0, 0, 255, 7])).save(da.path().join("x.png")).unwrap();
    let ds = load(da.path(), &LoadOptions { color: ColorMode::Rgb, ..opts() }).unwrap();
    assert_eq!(ds.d(), 12, "alpha dropped");
    assert_eq!(ds.data[[0, 2]], 1.0);
}

#[test]
fn recursive_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    gray(3, 3, 1).save(dir.path().join("a.bmp")).unwrap();
    gray(3, 3, 2).save(dir.path().join("sub/b.tiff")).unwrap();
    gray(3, 3, 3).save(dir.path().join("sub/c.jpg")).unwrap();
    assert_eq!(load(dir.path(), &opts()).unwrap().n(), 1);
    let ds = load(dir.path(), &LoadOptions { recursive: true, ..opts() }).unwrap();
    assert_eq!(ds.ids, vec!["a.bmp", "sub/b.tiff", "sub/c.jpg"]);
}

#[test]
fn mixed_sizes_name_both_files_and_resize_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    gray(4, 4, 0).save(dir.path().join("a.png")).unwrap();
    gray(5, 4, 0).save(dir.path().join("b.png")).unwrap();
    let msg = load(dir.path(), &opts()).unwrap_err().to_string();
    assert!(msg.contains("a.png") && msg.contains("4x4") && msg.contains("b.png") && msg.contains("5x4"), "{msg}");
    let ds = load(dir.path(), &LoadOptions { resize: Some((8, 2)), ..opts() }).unwrap();
    assert_eq!(ds.shape, Some(ImageShape { height: 2, width: 8, channels: 1 }));
}

#[test]
fn corrupt_truncated_empty_unknown() {
    let dir = tempfile::tempdir().unwrap();
    gray(4, 4, 0).save(dir.path().join("a.png")).unwrap();
    let bytes = fs::read(dir.path().join("a.png")).unwrap();
    fs::write(dir.path().join("b.png"), &bytes[..bytes.len() / 2]).unwrap();
    let msg = load(dir.path(), &opts()).unwrap_err().to_string();
    assert!(msg.contains("b.png"), "{msg}");
    fs::write(dir.path().join("b.png"), b"not an image at all").unwrap();
    assert!(load(dir.path(), &opts()).unwrap_err().to_string().contains("b.png"));

    let empty = tempfile::tempdir().unwrap();
    fs::write(empty.path().join("readme.txt"), "x").unwrap();
    assert!(matches!(load(empty.path(), &opts()), Err(DatasetError::EmptyFolder { .. })));
    let odd = empty.path().join("data.xyz");
    fs::write(&odd, "1,2").unwrap();
    assert!(matches!(load(&odd, &opts()), Err(DatasetError::UnknownFormat { .. })));
    assert!(matches!(load(&empty.path().join("missing"), &opts()), Err(DatasetError::NotFound { .. })));
    assert!(load(dir.path(), &LoadOptions { resize: Some((0, 3)), ..opts() }).is_err());
}

#[test]
fn manifest_attaches_columns_in_manifest_order() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("images")).unwrap();
    for i in 0..3 {
        gray(2, 2, i * 50).save(dir.path().join(format!("images/{i:06}.png"))).unwrap();
    }
    fs::write(
        dir.path().join("manifest.csv"),
        "file,yaw,label\nimages/000002.png,30.5,cube\nimages/000000.png,-10,sphere\nimages/000001.png,0,cube\n",
    )
    .unwrap();
    let ds = load(dir.path(), &opts()).unwrap();
    assert_eq!(ds.ids[0], "images/000002.png");
    assert_eq!(ds.column("yaw"), Some(&Column::Numeric(vec![30.5, -10.0, 0.0])));
    assert_eq!(ds.column("label").unwrap().text(1), "sphere");
    assert!((ds.data[[1, 0]] - 0.0).abs() < 1e-6 && (ds.data[[0, 0]] - 100.0 / 255.0).abs() < 1e-6);
    let sub = load(dir.path(), &LoadOptions { limit: Some(2), ..opts() }).unwrap();
    assert_eq!(sub.column("yaw"), Some(&Column::Numeric(vec![30.5, -10.0])));

    fs::write(dir.path().join("manifest.csv"), "file,yaw\nimages/000000.png,1\nimages/000001.png,2,3\n").unwrap();
    let msg = load(dir.path(), &opts()).unwrap_err().to_string();
    assert!(msg.contains("manifest") && msg.contains("row"), "ragged manifest: {msg}");
    fs::write(dir.path().join("manifest.csv"), "name,yaw\nimages/000000.png,1\n").unwrap();
    assert!(load(dir.path(), &opts()).unwrap_err().to_string().contains("`file`"));
    fs::write(dir.path().join("manifest.csv"), "file,yaw\nimages/nope.png,1\n").unwrap();
    assert!(load(dir.path(), &opts()).unwrap_err().to_string().contains("nope.png"));
}

#[test]
fn npy_matrices_of_every_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let m = ndarray::arr2(&[[0.0f32, 0.5], [1.0, 0.25], [0.75, 0.125]]);
    ndarray_npy::write_npy(dir.path().join("f32.npy"), &m).unwrap();
    ndarray_npy::write_npy(dir.path().join("f64.npy"), &m.mapv(|x| x as f64)).unwrap();
    ndarray_npy::write_npy(dir.path().join("u8.npy"), &m.mapv(|x| (x * 255.0) as u8)).unwrap();
    ndarray_npy::write_npy(dir.path().join("u16.npy"), &m.mapv(|x| (x * 65535.0) as u16)).unwrap();
    for f in ["f32", "f64", "u8", "u16"] {
        let ds = load(&dir.path().join(format!("{f}.npy")), &opts()).unwrap();
        assert_eq!((ds.n(), ds.d(), ds.shape), (3, 2, None), "{f}");
        for (a, b) in ds.data.iter().zip(m.iter()) {
            assert!((a - b).abs() < 0.01, "{f}: {a} vs {b}");
        }
    }
    // Fortran order goes through the read path.
    let fortran = m.clone().reversed_axes().as_standard_layout().to_owned().reversed_axes();
    ndarray_npy::write_npy(dir.path().join("fortran.npy"), &fortran).unwrap();
    assert_eq!(load(&dir.path().join("fortran.npy"), &opts()).unwrap().data, m);
    let sel = load(&dir.path().join("f32.npy"), &LoadOptions { sample: Some(2), seed: 5, ..opts() }).unwrap();
    let again = load(&dir.path().join("f32.npy"), &LoadOptions { sample: Some(2), seed: 5, ..opts() }).unwrap();
    assert_eq!(sel, again);
    assert_eq!(sel.n(), 2);
}

#[test]
fn float32_npy_rows_stay_mapped_unless_selected_or_converted() {
    let dir = tempfile::tempdir().unwrap();
    let m = Array2::<f32>::from_shape_fn((7, 5), |(i, j)| (i * 5 + j) as f32 / 40.0);
    let p = dir.path().join("m.npy");
    ndarray_npy::write_npy(&p, &m).unwrap();
    let whole = load(&p, &opts()).unwrap();
    assert!(whole.data.is_mapped(), "a float32 C-order file is used in place");
    assert_eq!(whole.data, m);
    assert_eq!(whole.ids[6], "row 6");
    let head = load(&p, &LoadOptions { limit: Some(3), ..opts() }).unwrap();
    assert!(head.data.is_mapped(), "--limit keeps a prefix");
    assert_eq!(head.data.view(), m.slice(ndarray::s![..3, ..]));
    // `sample` of at least every row keeps them all, in order, so it may stay mapped too.
    let all = load(&p, &LoadOptions { sample: Some(9), ..opts() }).unwrap();
    assert!(all.data.is_mapped());
    assert_eq!(all.data, m);
    let some = load(&p, &LoadOptions { sample: Some(4), seed: 3, ..opts() }).unwrap();
    assert!(!some.data.is_mapped(), "a scattered sample is copied");
    let rows: Vec<usize> = some.ids.iter().map(|id| id[4..].parse().unwrap()).collect();
    assert_eq!(some.data, m.select(Axis(0), &rows));
    // The mapped and the copied path agree value for value with the read path of a float64 file.
    ndarray_npy::write_npy(dir.path().join("m64.npy"), &m.mapv(f64::from)).unwrap();
    let copied = load(&dir.path().join("m64.npy"), &opts()).unwrap();
    assert!(!copied.data.is_mapped());
    assert_eq!(copied.data, whole.data);
    // Image stacks: mapped as they are, copied when a colour conversion or resizing is asked for.
    let s = Array4::<f32>::from_shape_fn((2, 3, 4, 3), |(i, y, x, c)| (i + y + x + c) as f32 / 12.0);
    ndarray_npy::write_npy(dir.path().join("s.npy"), &s).unwrap();
    let rgb = load(&dir.path().join("s.npy"), &opts()).unwrap();
    assert!(rgb.data.is_mapped());
    assert_eq!(rgb.image(1).unwrap()[[2, 3, 1]], 7.0 / 12.0);
    let gray = load(&dir.path().join("s.npy"), &LoadOptions { color: ColorMode::Gray, ..opts() }).unwrap();
    assert!(!gray.data.is_mapped());
    assert_eq!(gray.d(), 12);
    // A NaN in a mapped file is refused as in a copied one.
    let mut bad = m.clone();
    bad[[5, 2]] = f32::NAN;
    ndarray_npy::write_npy(dir.path().join("bad.npy"), &bad).unwrap();
    let msg = load(&dir.path().join("bad.npy"), &opts()).unwrap_err().to_string();
    assert!(msg.contains("row 5") && msg.contains("bad.npy"), "{msg}");
}

#[test]
fn npy_image_stacks_and_nan() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = Array3::<f32>::from_shape_fn((2, 3, 4), |(i, y, x)| (i + y + x) as f32 / 10.0);
    ndarray_npy::write_npy(dir.path().join("s3.npy"), &s3).unwrap();
    let ds = load(&dir.path().join("s3.npy"), &opts()).unwrap();
    assert_eq!(ds.shape, Some(ImageShape { height: 3, width: 4, channels: 1 }));
    assert_eq!(ds.image(1).unwrap()[[2, 3, 0]], 0.6);
    let s4 = Array4::<u8>::from_elem((2, 3, 4, 3), 255);
    ndarray_npy::write_npy(dir.path().join("s4.npy"), &s4).unwrap();
    let g = load(&dir.path().join("s4.npy"), &LoadOptions { color: ColorMode::Gray, ..opts() }).unwrap();
    assert_eq!(g.d(), 12);
    assert!((g.data[[0, 0]] - 1.0).abs() < 1e-5);
    let r = load(&dir.path().join("s4.npy"), &LoadOptions { resize: Some((2, 2)), ..opts() }).unwrap();
    assert_eq!(r.d(), 12);

    let mut bad = ndarray::Array2::<f32>::zeros((4, 3));
    bad[[2, 1]] = f32::INFINITY;
    ndarray_npy::write_npy(dir.path().join("bad.npy"), &bad).unwrap();
    let msg = load(&dir.path().join("bad.npy"), &opts()).unwrap_err().to_string();
    assert!(msg.contains("row 2") && msg.contains("bad.npy"), "{msg}");
    fs::write(dir.path().join("trunc.npy"), &fs::read(dir.path().join("s3.npy")).unwrap()[..100]).unwrap();
    assert!(load(&dir.path().join("trunc.npy"), &opts()).unwrap_err().to_string().contains("trunc.npy"));
}

fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

#[test]
fn mnist_idx_with_labels_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..3 * 2 * 2).map(|i| (i * 20) as u8).collect();
    fs::write(dir.path().join("train-images-idx3-ubyte"), idx(&[3, 2, 2], &pixels)).unwrap();
    fs::write(dir.path().join("train-labels-idx1-ubyte"), idx(&[3], &[7, 1, 9])).unwrap();
    let ds = load(&dir.path().join("train-images-idx3-ubyte"), &opts()).unwrap();
    assert_eq!((ds.n(), ds.d()), (3, 4));
    assert_eq!(ds.column("label"), Some(&Column::Numeric(vec![7.0, 1.0, 9.0])));
    assert!((ds.data[[1, 1]] - 100.0 / 255.0).abs() < 1e-6);

    let gz = |name: &str, bytes: Vec<u8>| {
        let f = fs::File::create(dir.path().join(name)).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap();
    };
    gz("t10k-images-idx3-ubyte.gz", idx(&[3, 2, 2], &pixels));
    gz("t10k-labels-idx1-ubyte.gz", idx(&[3], &[0, 1, 2]));
    let ds = load(&dir.path().join("t10k-images-idx3-ubyte.gz"), &opts()).unwrap();
    assert_eq!(ds.column("label"), Some(&Column::Numeric(vec![0.0, 1.0, 2.0])));

    fs::write(dir.path().join("short-images-idx3-ubyte"), idx(&[3, 2, 2], &pixels[..5])).unwrap();
    let msg = load(&dir.path().join("short-images-idx3-ubyte"), &opts()).unwrap_err().to_string();
    assert!(msg.contains("truncated") && msg.contains("short-images"), "{msg}");
}

#[test]
fn image_ranges_decode_to_the_rows_of_the_whole_load() {
    let dir = tempfile::tempdir().unwrap();
    // The first image is grey: Auto reads every image grey, also in a range that starts with a colour image.
    gray(4, 3, 9).save(dir.path().join("a.png")).unwrap();
    for (i, v) in [40u8, 90, 130, 170, 220].iter().enumerate() {
        RgbImage::from_fn(4, 3, |x, y| Rgb([*v, (x * 40) as u8, (y * 60) as u8]))
            .save(dir.path().join(format!("c{i}.png")))
            .unwrap();
    }
    for o in [opts(), LoadOptions { color: ColorMode::Rgb, resize: Some((3, 2)), ..opts() }] {
        let whole = load(dir.path(), &o).unwrap();
        let rows = list_image_rows(dir.path(), &o).unwrap();
        assert_eq!(rows.ids, whole.ids);
        let spec = DecodeSpec::from_first(&rows.files[0], &o).unwrap();
        assert_eq!(Some(spec.shape()), whole.shape);
        for (a, b) in [(0, 2), (2, 6), (3, 4)] {
            let part = decode_image_range(&rows.files[a..b], &spec).unwrap();
            assert_eq!(part, whole.data.slice(ndarray::s![a..b, ..]), "rows {a}..{b}");
        }
    }
    // Without resize, a range holding an image of another size is refused as the whole load refuses it, naming the
    // collection's first image.
    gray(5, 3, 0).save(dir.path().join("d.png")).unwrap();
    let rows = list_image_rows(dir.path(), &opts()).unwrap();
    let spec = DecodeSpec::from_first(&rows.files[0], &opts()).unwrap();
    let e = decode_image_range(&rows.files[5..], &spec).unwrap_err().to_string();
    assert!(e.contains("a.png is 4x3") && e.contains("d.png is 5x3"), "{e}");
    // A manifest folder lists its rows in its order with its columns; limit applies.
    fs::write(dir.path().join("manifest.csv"), "file,label\nc1.png,1\na.png,0\n").unwrap();
    let o = LoadOptions { limit: Some(1), ..opts() };
    let rows = list_image_rows(dir.path(), &o).unwrap();
    assert_eq!(rows.ids, vec!["c1.png"]);
    assert_eq!(rows.columns, load(dir.path(), &o).unwrap().columns);
    assert!(list_image_rows(&dir.path().join("a.png"), &opts()).is_err());
}
