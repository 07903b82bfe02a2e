//! Loading image collections and point clouds into one matrix.
//!
//! A [`Dataset`] is n rows × d columns of f32, one row per image (pixels row-major: y, then x, then channel; values
//! scaled to [0, 1]) or per point, plus the image shape when the rows are images and per-row metadata from a manifest.
//!
//! Sources ([`load`] picks by what the path is):
//! * a folder of PNG/JPEG/BMP/TIFF images, sorted by name (`recursive` descends into sub-folders, each folder once
//!   by its canonical path: a symbolic link looping back, or a second link to a folder already listed, is not
//!   followed). With a `manifest.csv` in the folder the manifest defines the collection instead: its rows, in its
//!   order; column `file` holds each image's path relative to the folder, the other columns become [`Column`]s
//!   (numeric when every cell parses as a number, text otherwise, e.g. `label`). Each file may be listed once: a
//!   second listing is refused, with the same metadata or not (it would be a second image at distance 0). A render
//!   output folder is read as it is.
//! * `.npy`: 2-D n × d (float32/float64/uint8/uint16; integers are scaled to [0, 1] by their type's maximum) or image
//!   stacks n × h × w and n × h × w × c. A 1-D array is refused (reshape it to n × 1 or 1 × n); as one row of a
//!   manifest, any shape is a flat row. The header is checked against the file length before anything is read, and
//!   a float64 value beyond float32's range is refused, naming its row and column. Little-endian C-order files are
//!   memory-mapped, so `limit`/`sample` touch only the selected rows.
//! * MNIST / Fashion-MNIST IDX image files (`*-idx3-ubyte`, optionally `.gz`, at least one image of at least 1×1
//!   pixel); the matching labels file (`*-labels-idx1-ubyte[.gz]`, or `*-idx1-ubyte` with the same prefix) becomes
//!   the `label` column when present.
//!
//! Pairs files (CSV tables of paths, e.g. image pairs) are read by [`pairs::read_path_pairs`].
//!
//! Before the n × d matrix is allocated (after `limit`/`sample`, including `resize` and colour conversion), the
//! memory it needs is estimated and compared with what is available ([`limits::available_memory`]); a load that
//! does not fit is refused with both figures ([`DatasetError::Memory`]).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView3, Axis};
use rand::seq::index::sample as sample_indices;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

mod idx;
pub mod limits;
mod npy;
mod npy_header;
pub mod pairs;
mod rows;

pub use rows::Rows;

/// Errors of the loaders. Every variant names the file, row or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: cannot decode image: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("{path}: no images in this folder (looked for .png .jpg .jpeg .bmp .tif .tiff{recursive})")]
    EmptyFolder { path: PathBuf, recursive: &'static str },
    #[error("{path}: unknown input type (expected an image folder, .npy, an image file list or an MNIST *-idx3-ubyte[.gz] file)")]
    UnknownFormat { path: PathBuf },
    #[error("images differ in size: {first} is {first_size} but {other} is {other_size} (use --resize WxH)")]
    MixedSizes { first: PathBuf, first_size: String, other: PathBuf, other_size: String },
    #[error("{path}: row {row} ({id}) holds a non-finite value ({value}) at column {col}")]
    NonFinite { path: PathBuf, row: usize, id: String, col: usize, value: f32 },
    #[error("{path}: manifest problem: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: {place}: the float64 value {value:e} overflows float32 (largest finite value ±3.4e38)")]
    Overflow { path: PathBuf, place: String, value: f64 },
    #[error("{path}: needs {needed} for {what}, {available} available{hint}")]
    Memory { path: PathBuf, needed: limits::Bytes, what: String, available: limits::Bytes, hint: String },
    #[error("invalid option: {0}")]
    Option(String),
    #[error("pairs file {path}: {message}")]
    Pairs { path: PathBuf, message: String },
}

pub type Result<T> = std::result::Result<T, DatasetError>;

/// How images become rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// Gray when the first image is gray (or gray + alpha), RGB otherwise.
    #[default]
    Auto,
    /// Grey: colour images by ITU-R BT.601 luma ([`pixels::luma`]: 0.299 R + 0.587 G + 0.114 B, as OpenCV and
    /// PIL), grey images as they are.
    Gray,
    /// RGB; alpha is dropped, gray is replicated.
    Rgb,
}

impl ColorMode {
    /// The mode of the front ends' `gray` / `rgb` switches (neither: [`ColorMode::Auto`]); `None` when both are set,
    /// which every front end refuses.
    pub fn from_switches(gray: bool, rgb: bool) -> Option<ColorMode> {
        match (gray, rgb) {
            (true, true) => None,
            (true, false) => Some(ColorMode::Gray),
            (false, true) => Some(ColorMode::Rgb),
            (false, false) => Some(ColorMode::Auto),
        }
    }
}

/// Options shared by every command that reads a collection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadOptions {
    pub color: ColorMode,
    /// Resize every image to width × height (bilinear, "triangle" filter).
    pub resize: Option<(u32, u32)>,
    /// Keep the first N rows.
    pub limit: Option<usize>,
    /// Keep N rows drawn uniformly without replacement (seeded), in their original order.
    pub sample: Option<usize>,
    pub seed: u64,
    /// Descend into sub-folders of an image folder.
    pub recursive: bool,
}

/// Height, width, channels of the images behind the rows (the toolkit's one image-shape type).
pub use pixels::ImageShape;

/// A per-row metadata column.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Numeric(Vec<f64>),
    Text(Vec<String>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Cell `i` as text (numbers formatted as they would be written back).
    pub fn text(&self, i: usize) -> String {
        match self {
            Column::Numeric(v) => format!("{}", v[i]),
            Column::Text(v) => v[i].clone(),
        }
    }
    fn select(&self, rows: &[usize]) -> Column {
        match self {
            Column::Numeric(v) => Column::Numeric(rows.iter().map(|&r| v[r]).collect()),
            Column::Text(v) => Column::Text(rows.iter().map(|&r| v[r].clone()).collect()),
        }
    }
}

/// n × d matrix of f32 plus what is known about its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// One row per image or point (owned, or borrowed from a memory-mapped `.npy`: [`Rows`]).
    pub data: Rows,
    /// Image shape when the rows are images (d = h·w·c).
    pub shape: Option<ImageShape>,
    /// Per-row identifier: file path relative to the source folder, or `row N`.
    pub ids: Vec<String>,
    /// Manifest columns (not including `file`).
    pub columns: Vec<(String, Column)>,
    /// Where the data came from.
    pub source: PathBuf,
}

impl Dataset {
    /// Wraps an in-memory matrix (rows named `row 0`, `row 1`, …).
    pub fn from_array(data: Array2<f32>, shape: Option<ImageShape>) -> Result<Self> {
        if let Some(s) = shape {
            if s.len() != data.ncols() {
                return Err(DatasetError::Option(format!(
                    "image shape {s} has {} values but rows have {}",
                    s.len(),
                    data.ncols()
                )));
            }
        }
        let ids = (0..data.nrows()).map(|i| format!("row {i}")).collect();
        Ok(Dataset { data: data.into(), shape, ids, columns: Vec::new(), source: PathBuf::from("<memory>") })
    }
    pub fn n(&self) -> usize {
        self.data.nrows()
    }
    pub fn d(&self) -> usize {
        self.data.ncols()
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
    /// Row `i` as an h × w × c image view (None when the rows are not images).
    pub fn image(&self, i: usize) -> Option<ArrayView3<'_, f32>> {
        let s = self.shape?;
        self.data.row(i).into_shape_with_order((s.height, s.width, s.channels)).ok()
    }
    /// The rows `rows` (in that order), with their ids and metadata.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        Dataset {
            data: self.data.select(Axis(0), rows).into(),
            shape: self.shape,
            ids: rows.iter().map(|&r| self.ids[r].clone()).collect(),
            columns: self.columns.iter().map(|(n, c)| (n.clone(), c.select(rows))).collect(),
            source: self.source.clone(),
        }
    }
    /// Smallest and largest value.
    pub fn value_range(&self) -> (f32, f32) {
        self.data.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
    }
}

/// Loads a collection from `path` (folder, `.npy`, or MNIST IDX file).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    check_options(opts)?;
    if !path.exists() {
        return Err(DatasetError::NotFound { path: path.to_path_buf() });
    }
    let ds = if path.is_dir() {
        if path.join("manifest.csv").is_file() {
            load_manifest_folder(path, opts)?
        } else {
            load_image_folder(path, opts)?
        }
    } else {
        let name = path.file_name().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
        if name.ends_with(".npy") {
            npy::load_npy(path, opts)?
        } else if name.contains("idx3-ubyte") {
            idx::load_idx(path, opts)?
        } else if is_image_name(&name) {
            // A single image is a collection of one.
            let rows = vec![path.to_path_buf()];
            let dir = path.parent().unwrap_or(Path::new("."));
            let (data, shape) = decode_images_at(path, &rows, opts)?;
            let ids = vec![rel_name(dir, path)];
            Dataset { data: data.into(), shape: Some(shape), ids, columns: Vec::new(), source: path.to_path_buf() }
        } else {
            return Err(DatasetError::UnknownFormat { path: path.to_path_buf() });
        }
    };
    check_finite(&ds)?;
    Ok(ds)
}

fn check_options(opts: &LoadOptions) -> Result<()> {
    if let Some((w, h)) = opts.resize {
        if w == 0 || h == 0 || w > 16384 || h > 16384 {
            return Err(DatasetError::Option(format!("--resize {w}x{h}: width and height must be in 1..=16384")));
        }
    }
    if opts.limit == Some(0) {
        return Err(DatasetError::Option("--limit 0 selects nothing".into()));
    }
    if opts.sample == Some(0) {
        return Err(DatasetError::Option("--sample 0 selects nothing".into()));
    }
    Ok(())
}

/// How many of `n` rows survive `limit` and `sample` (what [`select_rows`] returns, without allocating).
pub fn kept_count(n: usize, opts: &LoadOptions) -> usize {
    let n_lim = opts.limit.map_or(n, |l| l.min(n));
    opts.sample.map_or(n_lim, |s| s.min(n_lim))
}

/// Which of `n` rows survive `limit` and `sample` (ascending).
pub fn select_rows(n: usize, opts: &LoadOptions) -> Vec<usize> {
    let n_lim = opts.limit.map_or(n, |l| l.min(n));
    match opts.sample {
        Some(s) if s < n_lim => {
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
            let mut v = sample_indices(&mut rng, n_lim, s).into_vec();
            v.sort_unstable();
            v
        }
        _ => (0..n_lim).collect(),
    }
}

fn check_finite(ds: &Dataset) -> Result<()> {
    let data = ds.data.view();
    let bad = data.axis_iter(Axis(0)).into_par_iter().enumerate().find_first(|(_, r)| r.iter().any(|x| !x.is_finite()));
    if let Some((row, r)) = bad {
        let (col, &value) = r.iter().enumerate().find(|(_, x)| !x.is_finite()).expect("non-finite exists");
        return Err(DatasetError::NonFinite { path: ds.source.clone(), row, id: ds.ids[row].clone(), col, value });
    }
    Ok(())
}

const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff"];

fn is_image_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
        .unwrap_or(false)
}

fn rel_name(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

/// Image files under `dir`. With `recursive`, sub-folders are visited once each by their canonical path, so a
/// symbolic link that loops back (or a second link to a folder already seen) is not followed again.
fn list_images(dir: &Path, recursive: bool, seen: &mut HashSet<PathBuf>, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |e: std::io::Error| DatasetError::Io { path: dir.to_path_buf(), message: e.to_string() };
    if recursive && !seen.insert(fs::canonicalize(dir).map_err(io)?) {
        return Ok(());
    }
    let mut entries = Vec::new();
    for e in fs::read_dir(dir).map_err(io)? {
        entries.push(e.map_err(io)?.path());
    }
    // Sorted, so that of two links to one folder the same one is always kept.
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                list_images(&p, true, seen, out)?;
            }
        } else if p.file_name().map(|n| is_image_name(&n.to_string_lossy())).unwrap_or(false) {
            out.push(p);
        }
    }
    Ok(())
}

/// The rows of an image folder, in the order [`load`] gives them, before decoding: each image's file, id and
/// manifest cells. [`decode_image_range`] decodes any range of `files` into the rows [`load`] gives for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRows {
    /// The image of each row.
    pub files: Vec<PathBuf>,
    /// Per-row identifier (as [`Dataset::ids`]).
    pub ids: Vec<String>,
    /// Manifest columns (not including `file`), as [`Dataset::columns`].
    pub columns: Vec<(String, Column)>,
    /// The folder.
    pub source: PathBuf,
}

/// The rows of the image folder `dir` (with or without `manifest.csv`) that [`load`] reads, after `limit` and
/// `sample`, without decoding an image. A manifest of `.npy` rows is refused (it holds no images: [`load`] it).
pub fn list_image_rows(dir: &Path, opts: &LoadOptions) -> Result<ImageRows> {
    check_options(opts)?;
    if !dir.exists() {
        return Err(DatasetError::NotFound { path: dir.to_path_buf() });
    }
    if !dir.is_dir() {
        return Err(DatasetError::Option(format!("{} is not an image folder", dir.display())));
    }
    if !dir.join("manifest.csv").is_file() {
        return image_folder_rows(dir, opts);
    }
    let (rows, npy_rows) = manifest_rows(dir, opts)?;
    if npy_rows {
        return Err(DatasetError::Manifest {
            path: dir.join("manifest.csv"),
            message: "lists .npy rows, not images: load the folder as a whole".into(),
        });
    }
    Ok(rows)
}

fn image_folder_rows(dir: &Path, opts: &LoadOptions) -> Result<ImageRows> {
    let mut files = Vec::new();
    list_images(dir, opts.recursive, &mut HashSet::new(), &mut files)?;
    files.sort();
    if files.is_empty() {
        let recursive = if opts.recursive { ", recursively" } else { "" };
        return Err(DatasetError::EmptyFolder { path: dir.to_path_buf(), recursive });
    }
    let keep = select_rows(files.len(), opts);
    let files: Vec<PathBuf> = keep.iter().map(|&i| files[i].clone()).collect();
    let ids = files.iter().map(|p| rel_name(dir, p)).collect();
    Ok(ImageRows { files, ids, columns: Vec::new(), source: dir.to_path_buf() })
}

fn load_image_folder(dir: &Path, opts: &LoadOptions) -> Result<Dataset> {
    let rows = image_folder_rows(dir, opts)?;
    let (data, shape) = decode_images_at(dir, &rows.files, opts)?;
    Ok(Dataset { data: data.into(), shape: Some(shape), ids: rows.ids, columns: rows.columns, source: rows.source })
}

/// A manifest's columns other than `file`: name and cells as text.
type TextColumns = Vec<(String, Vec<String>)>;

/// Reads `manifest.csv`: `file` column + other columns. Returns (files, columns).
fn read_manifest(dir: &Path) -> Result<(Vec<String>, TextColumns)> {
    let path = dir.join("manifest.csv");
    let merr = |message: String| DatasetError::Manifest { path: path.clone(), message };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(&path)
        .map_err(|e| DatasetError::Io { path: path.clone(), message: e.to_string() })?;
    let headers: Vec<String> =
        rdr.headers().map_err(|e| merr(e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
    let file_col =
        headers.iter().position(|h| h == "file").ok_or_else(|| merr("no `file` column in the header".into()))?;
    let mut seen = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(merr(format!("column {} has an empty name", i + 1)));
        }
        if let Some(j) = seen.insert(h.clone(), i) {
            return Err(merr(format!("column `{h}` appears twice (columns {} and {})", j + 1, i + 1)));
        }
    }
    let mut files = Vec::new();
    let mut cols: Vec<(String, Vec<String>)> =
        headers.iter().enumerate().filter(|(i, _)| *i != file_col).map(|(_, h)| (h.clone(), Vec::new())).collect();
    // Each file once: a second listing would be a second image at distance 0 (and, with other metadata, a
    // contradiction), so duplicates are refused whether or not their other cells agree.
    let mut first_seen: HashMap<String, (u64, usize)> = HashMap::new();
    for (line, rec) in rdr.records().enumerate() {
        // csv reports ragged rows (UnequalLengths) with their line number.
        let rec = rec.map_err(|e| merr(format!("data row {}: {e}", line + 1)))?;
        let file = rec[file_col].trim().to_string();
        let line_no = rec.position().map_or(line as u64 + 2, |p| p.line());
        if let Some(&(l0, r0)) = first_seen.get(&normalise_rel(&file)) {
            let cells: Vec<&str> =
                rec.iter().enumerate().filter(|(i, _)| *i != file_col).map(|(_, c)| c.trim()).collect();
            let conflict = cols.iter().zip(&cells).find(|((_, v), c)| v[r0] != **c);
            let detail = match conflict {
                Some(((name, v), c)) => {
                    format!(" with different `{name}` ({} on line {l0}, {c} on line {line_no})", v[r0])
                }
                None => String::new(),
            };
            return Err(merr(format!(
                "{file} is listed twice, on lines {l0} and {line_no}{detail}: list each file once"
            )));
        }
        first_seen.insert(normalise_rel(&file), (line_no, files.len()));
        files.push(file);
        let mut c = 0;
        for (i, cell) in rec.iter().enumerate() {
            if i != file_col {
                cols[c].1.push(cell.trim().to_string());
                c += 1;
            }
        }
    }
    if files.is_empty() {
        return Err(merr("the manifest lists no files".into()));
    }
    Ok((files, cols))
}

/// A manifest path compared lexically: `./a.png` and `a.png`, `x\a.png` and `x/a.png` are the same file.
fn normalise_rel(file: &str) -> String {
    let file = file.replace('\\', "/");
    Path::new(&file)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn to_column(cells: Vec<String>) -> Column {
    let nums: Option<Vec<f64>> = cells.iter().map(|c| c.parse::<f64>().ok()).collect();
    match nums {
        Some(v) => Column::Numeric(v),
        None => Column::Text(cells),
    }
}

/// The rows a manifest folder lists (after `limit`/`sample`; every file must exist) and whether they are `.npy`
/// rows.
fn manifest_rows(dir: &Path, opts: &LoadOptions) -> Result<(ImageRows, bool)> {
    let (files, cols) = read_manifest(dir)?;
    let keep = select_rows(files.len(), opts);
    let paths: Vec<PathBuf> = keep.iter().map(|&i| dir.join(&files[i])).collect();
    for (p, &i) in paths.iter().zip(&keep) {
        if !p.is_file() {
            return Err(DatasetError::Manifest {
                path: dir.join("manifest.csv"),
                message: format!("row {} names {} which does not exist", i + 1, p.display()),
            });
        }
    }
    let npy_rows = files.iter().all(|f| f.to_lowercase().ends_with(".npy"));
    let columns = cols
        .into_iter()
        .map(|(name, cells)| (name, to_column(keep.iter().map(|&i| cells[i].clone()).collect())))
        .collect();
    let ids = keep.iter().map(|&i| files[i].clone()).collect();
    Ok((ImageRows { files: paths, ids, columns, source: dir.to_path_buf() }, npy_rows))
}

fn load_manifest_folder(dir: &Path, opts: &LoadOptions) -> Result<Dataset> {
    let (rows, npy_rows) = manifest_rows(dir, opts)?;
    let (data, shape) = if npy_rows {
        npy::decode_npy_rows(&dir.join("manifest.csv"), &rows.files)?
    } else {
        decode_images_at(dir, &rows.files, opts).map(|(d, s)| (d, Some(s)))?
    };
    Ok(Dataset { data: data.into(), shape, ids: rows.ids, columns: rows.columns, source: rows.source })
}

/// Decodes images in parallel into rows. Sizes must agree (after `resize`). The memory needed is checked (after
/// decoding the first image, before anything else) against what is available.
pub fn decode_images(files: &[PathBuf], opts: &LoadOptions) -> Result<(Array2<f32>, ImageShape)> {
    let source = files.first().and_then(|f| f.parent()).unwrap_or(Path::new("."));
    decode_images_at(source, files, opts)
}

/// [`decode_images`] naming `source` (the folder or manifest the files come from) in a memory refusal.
fn decode_images_at(source: &Path, files: &[PathBuf], opts: &LoadOptions) -> Result<(Array2<f32>, ImageShape)> {
    let Some(first_path) = files.first() else {
        return Err(DatasetError::EmptyFolder { path: source.to_path_buf(), recursive: "" });
    };
    let spec = DecodeSpec::from_first(first_path, opts)?;
    Ok((decode_with(source, files, &spec)?, spec.shape()))
}

/// How the images of a collection become rows, fixed by the collection's first image: the channels (for
/// [`ColorMode::Auto`]) and, without `resize`, the size every image must have. Rows decoded by one spec, in any
/// number of pieces ([`decode_image_range`]), are the rows the whole collection's load gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeSpec {
    /// The collection's first image (named when another image's size differs).
    pub first: PathBuf,
    /// Its width and height.
    pub first_size: (u32, u32),
    /// Bytes per pixel of its decoded form (the memory estimate's transient buffers).
    pub first_bytes_per_pixel: u32,
    /// Channels of the rows: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Every image resized to (width, height); without it every image must have `first_size`.
    pub resize: Option<(u32, u32)>,
}

impl DecodeSpec {
    /// The spec of a collection whose first image is `first`, read with `opts` (its colour and resize options).
    pub fn from_first(first: &Path, opts: &LoadOptions) -> Result<Self> {
        let img = image::open(first).map_err(|e| decode_err(first, e))?;
        let channels = match opts.color {
            ColorMode::Gray => 1,
            ColorMode::Rgb => 3,
            ColorMode::Auto => {
                if img.color().has_color() {
                    3
                } else {
                    1
                }
            }
        };
        let (w0, h0) = (img.width(), img.height());
        let bpp = (img.as_bytes().len() as u128 / (w0 as u128 * h0 as u128).max(1)) as u32;
        Ok(DecodeSpec {
            first: first.to_path_buf(),
            first_size: (w0, h0),
            first_bytes_per_pixel: bpp,
            channels,
            resize: opts.resize,
        })
    }

    /// The shape of the rows' images.
    pub fn shape(&self) -> ImageShape {
        let (w, h) = self.resize.unwrap_or(self.first_size);
        ImageShape { height: h as usize, width: w as usize, channels: self.channels }
    }
}

/// Decodes `files` (a piece of a collection, e.g. a range of [`ImageRows::files`]) into rows with the collection's
/// `spec`: the rows [`load`] gives for them.
pub fn decode_image_range(files: &[PathBuf], spec: &DecodeSpec) -> Result<Array2<f32>> {
    let source = files.first().and_then(|f| f.parent()).unwrap_or(Path::new("."));
    decode_with(source, files, spec)
}

/// Decodes images in parallel into rows with `spec`; the memory needed is checked first.
fn decode_with(source: &Path, files: &[PathBuf], spec: &DecodeSpec) -> Result<Array2<f32>> {
    let (w0, h0) = spec.first_size;
    let ImageShape { height, width, channels } = spec.shape();
    let (w, h) = (width as u32, height as u32);
    let d = height * width * channels;
    // Per decoding thread: the decoded image, its resized copy (same pixel type) and its float32 conversion.
    let per_pixel = spec.first_bytes_per_pixel as u128;
    let src_bytes = per_pixel * w0 as u128 * h0 as u128;
    let transient = src_bytes + (w as u128 * h as u128) * (per_pixel + 12);
    let threads = rayon::current_num_threads().min(files.len()) as u128;
    let needed = limits::f32_matrix(files.len(), d) + limits::ROW_OVERHEAD * files.len() as u128 + threads * transient;
    let hint = npy::resize_hint(&LoadOptions { resize: spec.resize, ..LoadOptions::default() });
    limits::check(source, needed, || limits::values(files.len(), d), &hint)?;
    let mut data = Array2::<f32>::zeros((files.len(), d));
    let sizes: Vec<Result<(u32, u32)>> = data
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(files.par_iter())
        .map(|(mut row, path)| {
            let img = image::open(path).map_err(|e| decode_err(path, e))?;
            let size = (img.width(), img.height());
            if spec.resize.is_none() && size != (w0, h0) {
                return Ok(size);
            }
            let img = if size != (w, h) { img.resize_exact(w, h, image::imageops::FilterType::Triangle) } else { img };
            let out = row.as_slice_mut().expect("rows of a fresh array are contiguous");
            if channels == 1 && img.color().has_color() {
                // One grey conversion for the whole toolkit: BT.601 luma (`pixels::luma`).
                let rgb = img.to_rgb32f();
                out.iter_mut().zip(rgb.as_raw().chunks_exact(3)).for_each(|(o, p)| *o = pixels::luma(p[0], p[1], p[2]));
            } else if channels == 1 {
                out.copy_from_slice(img.to_luma32f().as_raw());
            } else {
                out.copy_from_slice(img.to_rgb32f().as_raw());
            }
            Ok(size)
        })
        .collect();
    for (i, s) in sizes.into_iter().enumerate() {
        let s = s?;
        if spec.resize.is_none() && s != (w0, h0) {
            return Err(DatasetError::MixedSizes {
                first: spec.first.clone(),
                first_size: format!("{w0}x{h0}"),
                other: files[i].clone(),
                other_size: format!("{}x{}", s.0, s.1),
            });
        }
    }
    // 16-bit and float images may carry values slightly outside [0, 1] after resampling; clamp.
    data.par_mapv_inplace(|x| x.clamp(0.0, 1.0));
    Ok(data)
}

fn decode_err(path: &Path, e: image::ImageError) -> DatasetError {
    DatasetError::Decode { path: path.to_path_buf(), message: e.to_string() }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_prop;
