//! On-disk cache of the default estimator's calibration values, shared across runs.
//!
//! A calibration value c(d) is the base statistic on seeded uniform reference samples (exact samples, or simulated
//! query points, see [`crate::corrected::Calibration`]); it depends only on the statistic (base and k), the sample
//! size n, the dimension d, the seed, the reference shape, the method and its budget (replicates of exact samples,
//! or the number of simulated queries), and the code that draws and measures the samples. Each value and its
//! standard error are one small file named by all of those (the code by [`FORMAT`] and the crate version), holding
//! the f64s' bits in hex, one per line, so that a cached value equals the computed one bit for bit. The cache is off unless a front end turns it on with [`set_dir`] (the CLI does, under
//! the user's cache directory); a missing, unreadable or corrupt entry is a miss, and a failed write leaves the run
//! unaffected (the value is then only cached in memory). Entries are written to a temporary file and renamed, so a
//! concurrent or interrupted run never leaves a half-written value behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Version of the calibration procedure; bump it when the sampling or the statistics change.
pub const FORMAT: &str = "calibration-v2";

fn dir_slot() -> &'static Mutex<Option<PathBuf>> {
    static DIR: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    DIR.get_or_init(|| Mutex::new(None))
}

/// Turns the disk cache on (values under `dir/<FORMAT>-<crate version>/`) or off (`None`, the default).
pub fn set_dir(dir: Option<PathBuf>) {
    if let Ok(mut d) = dir_slot().lock() {
        *d = dir;
    }
}

/// The folder holding this version's entries, if the cache is on.
pub fn current_dir() -> Option<PathBuf> {
    let base = dir_slot().lock().ok()?.clone()?;
    Some(base.join(format!("{FORMAT}-{}", env!("CARGO_PKG_VERSION"))))
}

/// The conventional cache folder: `$IMANIFOLD_CACHE_DIR` if set (empty: no cache), else `$XDG_CACHE_HOME/imanifold`,
/// else `$HOME/.cache/imanifold`; `None` when none of them is available.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("IMANIFOLD_CACHE_DIR") {
        return if v.is_empty() { None } else { Some(PathBuf::from(v)) };
    }
    if let Some(v) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v).join("imanifold"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache").join("imanifold"))
}

/// The file name of one calibration value: every input it depends on, spelled out.
/// `method` names the calibration method and its budget (e.g. `exact-r2`, `simulated-q200000`).
pub(crate) fn entry_name(statistic: &str, n: usize, d: usize, seed: u64, reference: &str, method: &str) -> String {
    format!("{statistic}_n{n}_d{d}_seed{seed:016x}_{reference}_{method}.f64")
}

/// The cached values of an entry, if the cache is on and the entry is readable and well formed.
pub(crate) fn get(name: &str) -> Option<Vec<f64>> {
    let path = current_dir()?.join(name);
    read_entry(&path)
}

fn read_entry(path: &Path) -> Option<Vec<f64>> {
    let text = fs::read_to_string(path).ok()?;
    let values = text
        .lines()
        .map(|l| u64::from_str_radix(l.trim(), 16).ok().map(f64::from_bits).filter(|v| v.is_finite()))
        .collect::<Option<Vec<f64>>>()?;
    (!values.is_empty()).then_some(values)
}

/// Stores values (best effort: an error leaves the cache without this entry).
pub(crate) fn put(name: &str, values: &[f64]) {
    let Some(dir) = current_dir() else { return };
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) || fs::create_dir_all(&dir).is_err() {
        return;
    }
    let text: String = values.iter().map(|v| format!("{:016x}\n", v.to_bits())).collect();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let ok = fs::write(&tmp, text).is_ok() && fs::rename(&tmp, dir.join(name)).is_ok();
    if !ok {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_bit_for_bit_and_bad_entries_are_misses() {
        let dir = std::env::temp_dir().join(format!("imanifold-calcache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        set_dir(Some(dir.clone()));
        let name = entry_name("twonn", 2000, 7, 42, "ball", "exact-r2");
        assert_eq!(get(&name), None);
        let v = [6.123_456_789_012_345_f64.next_up(), 0.0123];
        put(&name, &v);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(get(&name).map(|g| bits(&g)), Some(bits(&v)));
        // The method and its budget are part of the name: another budget is another entry.
        assert_ne!(name, entry_name("twonn", 2000, 7, 42, "ball", "simulated-q4000"));
        assert_eq!(get(&entry_name("twonn", 2000, 7, 42, "ball", "simulated-q4000")), None);
        // A corrupt entry is a miss, and is replaced by the next put.
        fs::write(current_dir().unwrap().join(&name), "not hex").unwrap();
        assert_eq!(get(&name), None);
        put(&name, &v);
        assert_eq!(get(&name), Some(v.to_vec()));
        // No temporary files are left behind.
        assert!(!current_dir().unwrap().join(format!(".{name}.{}.tmp", std::process::id())).exists());
        set_dir(None);
        assert_eq!(get(&name), None, "off: no reads");
        fs::remove_dir_all(&dir).unwrap();
    }
}
