//! On-disk cache of the default estimator's calibration values, shared across runs.
//!
//! A calibration value c(d) is the base statistic averaged over seeded uniform reference samples; it depends only on
//! the statistic (base and k), the sample size n, the dimension d, the seed, the reference shape, the number of
//! replicates, and the code that draws and measures the samples. Each value is one small file named by all of
//! those (the code by [`FORMAT`] and the crate version), holding the f64's bits in hex so that a cached value equals
//! the computed one bit for bit. The cache is off unless a front end turns it on with [`set_dir`] (the CLI does, under
//! the user's cache directory); a missing, unreadable or corrupt entry is a miss, and a failed write leaves the run
//! unaffected (the value is then only cached in memory). Entries are written to a temporary file and renamed, so a
//! concurrent or interrupted run never leaves a half-written value behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Version of the calibration procedure; bump it when the sampling or the statistics change.
pub const FORMAT: &str = "calibration-v1";

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
pub(crate) fn entry_name(statistic: &str, n: usize, d: usize, seed: u64, reference: &str, replicates: usize) -> String {
    format!("{statistic}_n{n}_d{d}_seed{seed:016x}_{reference}_r{replicates}.f64")
}

/// The cached value of an entry, if the cache is on and the entry is readable and well formed.
pub(crate) fn get(name: &str) -> Option<f64> {
    let path = current_dir()?.join(name);
    read_entry(&path)
}

fn read_entry(path: &Path) -> Option<f64> {
    let text = fs::read_to_string(path).ok()?;
    let bits = u64::from_str_radix(text.trim(), 16).ok()?;
    let v = f64::from_bits(bits);
    v.is_finite().then_some(v)
}

/// Stores a value (best effort: an error leaves the cache without this entry).
pub(crate) fn put(name: &str, value: f64) {
    let Some(dir) = current_dir() else { return };
    if !value.is_finite() || fs::create_dir_all(&dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let ok = fs::write(&tmp, format!("{:016x}\n", value.to_bits())).is_ok() && fs::rename(&tmp, dir.join(name)).is_ok();
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
        let name = entry_name("twonn", 2000, 7, 42, "ball", 2);
        assert_eq!(get(&name), None);
        let v = 6.123_456_789_012_345_f64.next_up();
        put(&name, v);
        assert_eq!(get(&name).map(f64::to_bits), Some(v.to_bits()));
        // A corrupt entry is a miss, and is replaced by the next put.
        fs::write(current_dir().unwrap().join(&name), "not hex").unwrap();
        assert_eq!(get(&name), None);
        put(&name, v);
        assert_eq!(get(&name), Some(v));
        // No temporary files are left behind.
        assert!(!current_dir().unwrap().join(format!(".{name}.{}.tmp", std::process::id())).exists());
        set_dir(None);
        assert_eq!(get(&name), None, "off: no reads");
        fs::remove_dir_all(&dir).unwrap();
    }
}
