//! Output conventions shared by every imanifold command.
//!
//! * Every file is written atomically: to a temporary file in the destination folder, then renamed, so a crash or
//!   an error never leaves a half-written result behind.
//! * Arrays go to `.npy` (whole, or a block of rows at a time with [`NpyWriter`]), tables to CSV with a header row, summaries to `results.json` with
//!   `"schema": "imanifold/<command>/v1"`, the toolkit version, the command line, the seed and timings.
//! * Progress bars are drawn only when stderr is a terminal and the user did not ask for `--quiet`.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ndarray::{ArrayBase, Data, Dimension};
use ndarray_npy::{WritableElement, WriteNpyExt};
use serde::Serialize;
use serde_json::{Map, Value};

mod npy_stream;
mod staged;
pub use npy_stream::{npy_header, NpyElement, NpyWriter};
pub use staged::{check_destination, remove_stale_stages, write_dir, Existing, StagedDir};

/// Errors raised while writing results.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot create output folder {path}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot write {path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {message}")]
    Encode { path: PathBuf, message: String },
    #[error("--out {path} {message}")]
    Destination { path: PathBuf, message: String },
}

pub type Result<T> = std::result::Result<T, OutputError>;

/// Version of the toolkit written into every `results.json`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Creates `dir` (and its parents) if needed.
pub fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| OutputError::CreateDir { path: dir.to_path_buf(), source })
}

/// Writes a file atomically: `write` fills a temporary file next to `path`, which is renamed onto `path` only when
/// `write` and the flush succeed. On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<fs::File>) -> std::result::Result<(), String>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dir(&dir)?;
    let file_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    let io_err = |source: io::Error| OutputError::Io { path: path.to_path_buf(), source };
    let result = (|| {
        let file = fs::File::create(&tmp).map_err(io_err)?;
        let mut w = BufWriter::new(file);
        write(&mut w).map_err(|message| OutputError::Encode { path: path.to_path_buf(), message })?;
        w.flush().map_err(io_err)?;
        // No fsync: the rename makes the file appear whole or not at all for readers and after a crash of this
        // process; power-loss durability is not worth ~0.25 ms per file on image sets of thousands.
        drop(w.into_inner().map_err(|e| io_err(e.into_error()))?);
        fs::rename(&tmp, path).map_err(io_err)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes raw bytes atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| e.to_string()))
}

/// Writes an ndarray as `.npy` atomically.
pub fn write_npy<A, S, D>(path: &Path, array: &ArrayBase<S, D>) -> Result<()>
where
    A: WritableElement,
    S: Data<Elem = A>,
    D: Dimension,
{
    write_atomic(path, |w| array.write_npy(w).map_err(|e| e.to_string()))
}

/// Writes any serialisable value as pretty JSON atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| e.to_string())?;
        w.write_all(b"\n").map_err(|e| e.to_string())
    })
}

/// Writes a CSV table (header row + rows of already formatted cells) atomically.
pub fn write_csv<R, C>(path: &Path, header: &[&str], rows: R) -> Result<()>
where
    R: IntoIterator<Item = Vec<C>>,
    C: AsRef<str>,
{
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(header).map_err(|e| e.to_string())?;
        for (i, row) in rows.into_iter().enumerate() {
            if row.len() != header.len() {
                return Err(format!("row {i} has {} cells, header has {}", row.len(), header.len()));
            }
            csv.write_record(row.iter().map(|c| c.as_ref())).map_err(|e| e.to_string())?;
        }
        csv.flush().map_err(|e| e.to_string())
    })
}

/// Encodes an image buffer as PNG and writes it atomically.
pub fn write_png<P, C>(path: &Path, img: &image::ImageBuffer<P, C>) -> Result<()>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut bytes = Vec::new();
    img.write_to(&mut io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| OutputError::Encode { path: path.to_path_buf(), message: e.to_string() })?;
    write_bytes(path, &bytes)
}

/// Formats a float for CSV: shortest representation that round-trips, `nan`/`inf` spelled as numpy reads them.
pub fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{x}")
    }
}

/// JSON number that stays valid JSON: non-finite values become `null`.
pub fn json_f64(x: f64) -> Value {
    serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
}

/// The `results.json` every command writes: schema, version, command line, seed, timings and a free-form summary.
#[derive(Debug, Clone)]
pub struct Results {
    command: String,
    started: Instant,
    fields: Map<String, Value>,
    timings: Map<String, Value>,
}

impl Results {
    /// Starts a results record for `command` (e.g. `"dim"`); the clock for `seconds_total` starts now.
    pub fn new(command: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("schema".into(), Value::String(format!("imanifold/{command}/v1")));
        fields.insert("version".into(), Value::String(VERSION.into()));
        let argv: Vec<Value> = std::env::args().map(Value::String).collect();
        fields.insert("command_line".into(), Value::Array(argv));
        Results { command: command.into(), started: Instant::now(), fields, timings: Map::new() }
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    /// Records the seed (reproducibility).
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.fields.insert("seed".into(), Value::from(seed));
        self
    }

    /// Sets a top-level summary field.
    pub fn set<T: Serialize>(&mut self, key: &str, value: T) -> &mut Self {
        let v = serde_json::to_value(value).unwrap_or(Value::Null);
        self.fields.insert(key.into(), v);
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// Records the duration of a named stage in seconds.
    pub fn timing(&mut self, stage: &str, seconds: f64) -> &mut Self {
        self.timings.insert(stage.into(), json_f64(seconds));
        self
    }

    /// Runs `f`, recording its duration under `stage`.
    pub fn timed<T>(&mut self, stage: &str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.timing(stage, t.elapsed().as_secs_f64());
        out
    }

    /// The finished JSON value (with `timings.total`).
    pub fn to_value(&self) -> Value {
        let mut fields = self.fields.clone();
        let mut timings = self.timings.clone();
        timings.insert("total".into(), json_f64(self.started.elapsed().as_secs_f64()));
        fields.insert("timings_seconds".into(), Value::Object(timings));
        Value::Object(fields)
    }

    /// Writes `dir/results.json` atomically and returns the JSON value written.
    pub fn write(&self, dir: &Path) -> Result<Value> {
        let v = self.to_value();
        write_json(&dir.join("results.json"), &v)?;
        Ok(v)
    }
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// Turns progress bars off for the whole process (`--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// A progress bar over `len` steps, hidden when stderr is not a terminal or in quiet mode.
pub fn progress(len: u64, message: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if QUIET.load(Ordering::Relaxed) || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template("{msg:>14} [{elapsed_precise}] {wide_bar} {pos}/{len} ({eta})")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(message.to_string());
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err("boom".into())
        });
        assert!(err.is_err());
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file left behind");
    }

    #[test]
    fn npy_and_csv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let a = ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]);
        write_npy(&dir.path().join("a.npy"), &a).unwrap();
        let b: ndarray::Array2<f32> = ndarray_npy::read_npy(dir.path().join("a.npy")).unwrap();
        assert_eq!(a, b);
        write_csv(&dir.path().join("t.csv"), &["k", "v"], vec![vec!["1", "2.5"]]).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("t.csv")).unwrap(), "k,v\n1,2.5\n");
        assert!(write_csv(&dir.path().join("bad.csv"), &["k", "v"], vec![vec!["1"]]).is_err());
        assert!(!dir.path().join("bad.csv").exists());
    }

    #[test]
    fn results_json_has_schema_and_timings() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Results::new("neighbors");
        r.seed(7).set("k", 5);
        r.timed("work", || ());
        let v = r.write(dir.path()).unwrap();
        assert_eq!(v["schema"], "imanifold/neighbors/v1");
        assert_eq!(v["seed"], 7);
        assert!(v["timings_seconds"]["work"].is_number());
        let back: Value = serde_json::from_str(&fs::read_to_string(dir.path().join("results.json")).unwrap()).unwrap();
        assert_eq!(back["k"], 5);
    }
}
