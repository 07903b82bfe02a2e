//! Same seed → same output, whatever the thread count: `render`, `geodesic`, `score` and `neighbors` run with 1 and
//! with 2 worker threads must write byte-identical data files (results.json is compared without its timings and
//! command line, which legitimately differ).

mod common;

use std::path::{Path, PathBuf};

fn run(threads: &str, args: &[&str]) {
    let o = common::imanifold().args(["--quiet", "--threads", threads]).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?} with {threads} threads: {}", String::from_utf8_lossy(&o.stderr));
}

/// Every file under `dir`, relative path → bytes (JSON files without the run-specific keys).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let mut bytes = std::fs::read(&p).unwrap();
            if p.extension().is_some_and(|e| e == "json") {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let obj = v.as_object_mut().unwrap();
                for key in ["timings_seconds", "command_line", "threads"] {
                    obj.remove(key);
                }
                strip_seconds(&mut v);
                bytes = serde_json::to_vec(&v).unwrap();
            }
            files.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
        }
    }
    files.sort();
    files
}

/// Drops every "seconds" entry (per-estimator or per-stage timings) anywhere in the document.
fn strip_seconds(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !k.ends_with("seconds"));
            m.values_mut().for_each(strip_seconds);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_seconds),
        _ => {}
    }
}

/// Runs the pipeline into `root/run` (the same paths for every thread count, so recorded paths agree).
fn pipeline(root: &Path, threads: &str) -> PathBuf {
    let out = root.join("run");
    let _ = std::fs::remove_dir_all(&out);
    let p = |name: &str| out.join(name).to_str().unwrap().to_string();
    run(
        threads,
        &["render", "--scene", "turntable", "--vary", "spin", "--n", "40", "--size", "32", "--gray"]
            .into_iter()
            .chain(["--seed", "5", "--out", &p("ref")])
            .collect::<Vec<_>>(),
    );
    run(
        threads,
        &["render", "--scene", "object", "--vary", "yaw", "--n", "8", "--size", "32", "--gray", "--seed", "6"]
            .into_iter()
            .chain(["--out", &p("query")])
            .collect::<Vec<_>>(),
    );
    run(threads, &["geodesic", &p("ref"), "--k", "6", "--truth", "spin", "--periodic", "spin=360", "--out", &p("geo")]);
    run(threads, &["score", "--reference", &p("ref"), "--query", &p("query"), "--k", "5", "--out", &p("score")]);
    run(threads, &["neighbors", &p("ref"), "--k", "4", "--out", &p("nb")]);
    out
}

#[test]
fn outputs_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let one = snapshot(&pipeline(dir.path(), "1"));
    let two = snapshot(&pipeline(dir.path(), "2"));
    eprintln!("compared {} files: {:?}", one.len(), one.iter().map(|f| f.0.display().to_string()).collect::<Vec<_>>());
    assert!(one.len() > 10, "the pipeline wrote its files: {:?}", one.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert_eq!(one.iter().map(|f| &f.0).collect::<Vec<_>>(), two.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((path, a), (_, b)) in one.iter().zip(&two) {
        assert!(a == b, "{} differs between 1 and 2 threads", path.display());
    }
}
