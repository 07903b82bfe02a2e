//! Memory needed versus memory available, checked before any matrix is allocated.
//!
//! Available memory is the smallest of: `MemAvailable` in `/proc/meminfo`, the limit of this process's memory cgroup
//! minus its usage without file cache (v2 or v1), and the address-space limit (`ulimit -v`) minus the process's
//! current virtual size. When none of these can be read, [`FALLBACK_AVAILABLE`] is assumed.

use std::fmt;
use std::fs;
use std::path::Path;

use crate::{DatasetError, Result};

/// Bytes assumed available when `/proc` cannot be read (non-Linux systems, sandboxes): 8 GB.
pub const FALLBACK_AVAILABLE: u64 = 8_000_000_000;

/// Bookkeeping per kept row besides its values (row index, id string): a generous estimate.
pub(crate) const ROW_OVERHEAD: u128 = 64;

/// A byte count printed in decimal units ("40.0 GB").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u128);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if b >= 1e12 {
            write!(f, "{:.1} TB", b / 1e12)
        } else if b >= 1e9 {
            write!(f, "{:.1} GB", b / 1e9)
        } else if b >= 1e6 {
            write!(f, "{:.1} MB", b / 1e6)
        } else {
            write!(f, "{:.1} kB", b / 1e3)
        }
    }
}

pub(crate) fn meminfo_available() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// A `key value` line of a cgroup `memory.stat`.
fn stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The cgroup limit minus its usage, not counting file cache (reclaimable, as in `MemAvailable`). cgroup v2
/// (`memory.max`, `memory.current`) or v1 (`memory.limit_in_bytes`, `memory.usage_in_bytes`).
fn cgroup_available() -> Option<u64> {
    let cg = fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |p: &Path| fs::read_to_string(p).ok();
    let num = |p: &Path| read(p)?.trim().parse::<u64>().ok(); // "max" → None
    let (max, current, file) = if let Some(rel) = cg.lines().find_map(|l| l.split_once(":memory:").map(|x| x.1)) {
        let dir = Path::new("/sys/fs/cgroup/memory").join(rel.trim().trim_start_matches('/'));
        let stat = read(&dir.join("memory.stat")).unwrap_or_default();
        let file =
            stat_value(&stat, "total_inactive_file").unwrap_or(0) + stat_value(&stat, "total_active_file").unwrap_or(0);
        (num(&dir.join("memory.limit_in_bytes"))?, num(&dir.join("memory.usage_in_bytes"))?, file)
    } else {
        let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?.trim().trim_start_matches('/');
        let dir = Path::new("/sys/fs/cgroup").join(rel);
        let file = stat_value(&read(&dir.join("memory.stat")).unwrap_or_default(), "file").unwrap_or(0);
        (num(&dir.join("memory.max"))?, num(&dir.join("memory.current"))?, file)
    };
    Some(max.saturating_sub(current.saturating_sub(file)))
}

fn address_space_available() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max address space"))?;
    let soft: u64 = line["Max address space".len()..].split_whitespace().next()?.parse().ok()?; // "unlimited" → None
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let vm_kb: u64 = status.lines().find(|l| l.starts_with("VmSize:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(soft.saturating_sub(vm_kb.saturating_mul(1024)))
}

/// Bytes this process may still allocate (see the module documentation for the sources).
pub fn available_memory() -> u64 {
    let limits = [meminfo_available(), cgroup_available(), address_space_available()];
    let available = limits.into_iter().flatten().min().unwrap_or(FALLBACK_AVAILABLE);
    #[cfg(test)]
    let available = available.min(TEST_CAP.load(std::sync::atomic::Ordering::Relaxed));
    available
}

/// Tests lower the available memory to this many bytes, so refusals do not depend on the machine.
#[cfg(test)]
pub(crate) static TEST_CAP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

/// Bytes of an `rows × cols` float32 matrix (no overflow: u128).
pub(crate) fn f32_matrix(rows: usize, cols: usize) -> u128 {
    rows as u128 * cols as u128 * 4
}

/// Refuses `needed` bytes when they exceed what is available. `what` completes "needs 4.0 GB for …" and `hint`
/// (possibly empty) is appended after the figures.
pub(crate) fn check(path: &Path, needed: u128, what: impl FnOnce() -> String, hint: &str) -> Result<()> {
    let available = available_memory();
    if needed > available as u128 {
        return Err(refusal(path, needed, available, what(), hint));
    }
    Ok(())
}

/// The refusal of `needed` bytes when `available` are left.
pub(crate) fn refusal(path: &Path, needed: u128, available: u64, what: String, hint: &str) -> DatasetError {
    DatasetError::Memory {
        path: path.to_path_buf(),
        needed: Bytes(needed),
        what,
        available: Bytes(available as u128),
        hint: hint.to_string(),
    }
}

/// "n × d float32 values" for the common case.
pub(crate) fn values(n: usize, d: usize) -> String {
    format!("{n} × {d} float32 values")
}
