//! Helpers shared by the CLI tests: run the binary, parse its JSON, render small sets, check refusals.
//! Each test file includes it with `mod common;` and uses what it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test, with the calibration disk cache off (tests never write into the user's cache folder;
/// `tests/calibration_cache.rs` turns it on in a temporary folder).
pub fn imanifold() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imanifold"));
    c.env("IMANIFOLD_CACHE_DIR", "");
    c
}

/// Runs `imanifold --quiet ARGS`.
pub fn run(args: &[&str]) -> Output {
    imanifold().arg("--quiet").args(args).output().expect("the binary runs")
}

/// Runs `imanifold --quiet ARGS`, asserts success and returns stdout parsed as JSON (`null` without `--json`).
pub fn ok(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    if args.contains(&"--json") {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON: {e}"))
    } else {
        serde_json::Value::Null
    }
}

/// Asserts that `imanifold ARGS` is refused: exit code 2, one line on stderr naming `needle`, and `out` not created.
pub fn refused(args: &[&str], out: &Path, needle: &str) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: stderr does not name {needle:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: more than one line on stderr: {err}");
    assert!(!out.exists(), "{args:?} left {}", out.display());
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Renders `n` square images of `scene` with the parameters `vary` free into `dir/name`, plus `extra` flags.
pub fn render(
    dir: &Path,
    name: &str,
    scene: &str,
    vary: &str,
    n: usize,
    size: usize,
    seed: u64,
    extra: &[&str],
) -> PathBuf {
    let out = dir.join(name);
    let (n, size, seed) = (n.to_string(), size.to_string(), seed.to_string());
    let mut args = vec!["render", "--scene", scene, "--vary", vary, "--n", &n, "--size", &size, "--seed", &seed];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", s(&out)]);
    ok(&args);
    out
}

/// The schema of a JSON value: every key path (`/a/b`; array elements share `/a[]`, their keys merged). The
/// contents of objects whose key is in `opaque` are left out (only their presence counts): timings, or keys named
/// by the run such as estimator labels.
pub fn schema_keys(v: &serde_json::Value, opaque: &[&str]) -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, prefix: &str, opaque: &[&str], out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{prefix}/{k}");
                    out.insert(p.clone());
                    if !opaque.contains(&k.as_str()) {
                        walk(x, &p, opaque, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, &format!("{prefix}[]"), opaque, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(v, "", opaque, &mut out);
    out
}
