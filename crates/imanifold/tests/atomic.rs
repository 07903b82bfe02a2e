//! Runs are transactions: a killed `demo` leaves no half output folder and nothing that blocks the next run.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::imanifold;

/// Hidden staging siblings (`.NAME.partial-PID`) of `out`.
fn staging_folders(out: &Path) -> Vec<PathBuf> {
    let name = format!(".{}.partial-", out.file_name().unwrap().to_string_lossy());
    let mut v: Vec<PathBuf> = fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&name))
        .collect();
    v.sort();
    v
}

#[test]
fn a_killed_demo_leaves_no_output_folder_and_its_stage_is_cleared_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let mut child = imanifold()
        .args(["--quiet", "demo", "--quick", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it mid-run: once the first stage has written a file into the staging folder (a liveness bound, not a
    // timing assertion: the quick demo takes minutes, its first files appear within seconds).
    let started = Instant::now();
    let stage = loop {
        let found = staging_folders(&out).into_iter().find(|s| s.join("stage1_dimension").is_dir());
        if let Some(s) = found {
            break s;
        }
        assert!(child.try_wait().unwrap().is_none(), "the demo ended before it was killed");
        assert!(started.elapsed() < Duration::from_secs(300), "no staging folder appeared");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the demo finished before it was killed");

    // No output folder at all: only the hidden staging folder of the dead process.
    assert!(!out.exists(), "a killed demo left {}", out.display());
    assert_eq!(staging_folders(&out), vec![stage.clone()]);
    assert!(stage.join("stage1_dimension").is_dir(), "the staging folder holds the killed run's files");

    // The next run accepts the destination (the demo's own folder check) and clears the dead run's staging folder
    // when it starts writing (the same `StagedDir` the demo uses; dropped uncommitted, it leaves nothing either).
    demo::check_out(&out).unwrap();
    let next = output::StagedDir::new(&out).unwrap();
    assert!(!stage.exists(), "the dead run's staging folder survived the next run");
    assert_eq!(staging_folders(&out), vec![next.path().to_path_buf()]);
    drop(next);
    assert!(staging_folders(&out).is_empty() && !out.exists());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "files left beside the output folder");
}

#[test]
fn demo_folder_rules_match_the_other_commands() {
    let tmp = tempfile::tempdir().unwrap();
    // A previous demo folder is replaced as a whole; another command's output folder and a foreign folder are not.
    let prev = tmp.path().join("prev");
    fs::create_dir(&prev).unwrap();
    fs::write(prev.join("results.json"), format!("{{\"schema\": \"{}\"}}", demo::SCHEMA)).unwrap();
    demo::check_out(&prev).unwrap();
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("results.json"), "{\"schema\": \"imanifold/dim/v1\"}").unwrap();
    let foreign = tmp.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "mine").unwrap();
    for (dir, needle) in [(&other, "imanifold/dim/v1"), (&foreign, "not empty")] {
        let o = imanifold().args(["--quiet", "demo", "--quick", "--out"]).arg(dir).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle) && err.contains(&dir.display().to_string()), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(fs::read_to_string(foreign.join("notes.txt")).unwrap(), "mine");
    assert_eq!(fs::read_dir(&foreign).unwrap().count(), 1);
    assert_eq!(fs::read_dir(&other).unwrap().count(), 1);
    // The refusals staged nothing.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
}
