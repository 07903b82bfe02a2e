//! Output folders written as a whole: a run either leaves its complete output folder or nothing.
//!
//! A command's writer fills a hidden sibling of the destination (`.NAME.partial-PID`); [`StagedDir::commit`]
//! renames it into place. A failed run removes the staging folder (on drop) and leaves the destination as it was; a
//! killed run leaves only its staging folder, which the next run into the same destination removes. A rerun into an earlier output folder of the same command replaces that folder as a whole,
//! so no stale file of the first run survives beside the second run's results. A destination that holds anything
//! else (files imanifold did not write, or another command's results) is refused: imanifold never deletes a user's
//! files.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{OutputError, Result};

/// What an existing destination folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Nothing there (or an empty folder).
    Nothing,
    /// An earlier output folder: its `results.json` schema.
    Output(String),
}

/// Checks that `dir` can receive a command's output folder: it does not exist, is an empty folder, or is an earlier
/// output folder (a `results.json` with a `schema`). Call it before any work, so bad `--out` values fail fast.
pub fn check_destination(dir: &Path) -> Result<Existing> {
    let refuse = |message: String| OutputError::Destination { path: dir.to_path_buf(), message };
    if !dir.exists() {
        return Ok(Existing::Nothing);
    }
    if !dir.is_dir() {
        return Err(refuse("exists and is not a folder".into()));
    }
    let mut entries = fs::read_dir(dir).map_err(|source| OutputError::Io { path: dir.to_path_buf(), source })?;
    if entries.next().is_none() {
        return Ok(Existing::Nothing);
    }
    let results = dir.join("results.json");
    let schema = fs::read(&results)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
    match schema {
        Some(s) if s.starts_with("imanifold/") => Ok(Existing::Output(s)),
        _ => Err(refuse(
            "exists and holds files that are not an imanifold output folder (no results.json); \
             choose a new folder"
                .into(),
        )),
    }
}

/// A folder being written: files go to [`StagedDir::path`] until [`StagedDir::commit`].
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    stage: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Starts writing the folder `target` (checked with [`check_destination`]; its parent is created if needed).
    pub fn new(target: &Path) -> Result<Self> {
        check_destination(target)?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        crate::create_dir(&parent)?;
        let name = target.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
        remove_stale_stages(&parent, &name);
        let stage = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if stage.exists() {
            let _ = fs::remove_dir_all(&stage);
        }
        crate::create_dir(&stage)?;
        Ok(StagedDir { target: target.to_path_buf(), stage, committed: false })
    }

    /// Where the writer puts the files.
    pub fn path(&self) -> &Path {
        &self.stage
    }

    /// Moves the finished folder into place. An existing destination must be empty or an earlier output folder of
    /// the same command (same `results.json` schema), which is then replaced as a whole.
    pub fn commit(mut self) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutputError::Io { path, source }
        };
        match check_destination(&self.target)? {
            Existing::Nothing => {
                if self.target.exists() {
                    fs::remove_dir(&self.target).map_err(io(&self.target))?;
                }
                fs::rename(&self.stage, &self.target).map_err(io(&self.target))?;
            }
            Existing::Output(old) => {
                let new = schema_of(&self.stage);
                if new.as_deref() != Some(old.as_str()) {
                    return Err(OutputError::Destination {
                        path: self.target.clone(),
                        message: format!(
                            "holds the results of another command ({old}); choose a new folder for {}",
                            new.unwrap_or_else(|| "these results".into())
                        ),
                    });
                }
                let old_dir = self.stage.with_file_name(format!(
                    "{}.old",
                    self.stage.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
                ));
                fs::rename(&self.target, &old_dir).map_err(io(&self.target))?;
                if let Err(e) = fs::rename(&self.stage, &self.target) {
                    // Put the earlier folder back: the destination is never left missing.
                    let _ = fs::rename(&old_dir, &self.target);
                    return Err(io(&self.target)(e));
                }
                let _ = fs::remove_dir_all(&old_dir);
            }
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.stage);
        }
    }
}

/// Removes the staging folders (`.NAME.partial-PID`, and `.NAME.partial-PID.old` of an interrupted replacement) of
/// `name` in `parent` whose process is gone: what a killed or crashed run left behind. A staging folder of a live
/// process (a concurrent run) is kept, and so is any folder whose owner cannot be told (no `/proc`).
pub fn remove_stale_stages(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
        let pid = rest.strip_suffix(".old").unwrap_or(rest);
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid != std::process::id() && process_gone(pid) && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether process `pid` has certainly exited (only known where `/proc` lists the processes).
fn process_gone(pid: u32) -> bool {
    let proc = Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

fn schema_of(dir: &Path) -> Option<String> {
    let bytes = fs::read(dir.join("results.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("schema")?.as_str().map(str::to_string)
}

/// Writes the folder `dir` as a whole: `write` fills a staging folder, which replaces `dir` only when `write`
/// succeeded. On error nothing is left behind and `dir` is untouched.
pub fn write_dir<T, E>(dir: &Path, write: impl FnOnce(&Path) -> std::result::Result<T, E>) -> std::result::Result<T, E>
where
    E: From<OutputError>,
{
    let staged = StagedDir::new(dir)?;
    let value = write(staged.path())?;
    staged.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(dir: &Path, command: &str) {
        crate::Results::new(command).write(dir).unwrap();
    }

    #[test]
    fn failed_write_leaves_nothing_and_success_replaces_stale_files() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("a/out");
        let r: std::result::Result<(), OutputError> = write_dir(&out, |d| {
            crate::write_bytes(&d.join("x.txt"), b"x")?;
            Err(OutputError::Destination { path: d.to_path_buf(), message: "boom".into() })
        });
        assert!(r.is_err());
        assert!(!out.exists());
        assert_eq!(fs::read_dir(tmp.path().join("a")).unwrap().count(), 0, "staging folder left behind");

        write_dir::<_, OutputError>(&out, |d| {
            crate::write_bytes(&d.join("stale.npy"), b"1")?;
            results(d, "dim");
            Ok(())
        })
        .unwrap();
        assert!(out.join("stale.npy").is_file());
        write_dir::<_, OutputError>(&out, |d| {
            results(d, "dim");
            Ok(())
        })
        .unwrap();
        assert!(out.join("results.json").is_file() && !out.join("stale.npy").exists(), "rerun keeps stale files");
        assert_eq!(fs::read_dir(tmp.path().join("a")).unwrap().count(), 1);
    }

    #[test]
    fn stale_staging_folders_of_dead_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // A process that has exited: its pid stays unused while nothing reaps and reuses it this instant.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::process::id();
        let stale = tmp.path().join(format!(".out.partial-{dead}"));
        let stale_old = tmp.path().join(format!(".out.partial-{dead}.old"));
        let other_name = tmp.path().join(format!(".other.partial-{dead}"));
        for d in [&stale, &stale_old, &other_name] {
            fs::create_dir(d).unwrap();
            fs::write(d.join("half.npy"), b"x").unwrap();
        }
        let staged = StagedDir::new(&tmp.path().join("out")).unwrap();
        assert!(!stale.exists() && !stale_old.exists(), "stale staging folders kept");
        assert!(other_name.exists(), "another destination's staging folder removed");
        assert_eq!(staged.path(), tmp.path().join(format!(".out.partial-{live}")));
        results(staged.path(), "dim");
        staged.commit().unwrap();
        assert!(tmp.path().join("out/results.json").is_file());
    }

    #[test]
    fn foreign_or_other_command_folders_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        fs::write(user.join("data.csv"), "precious").unwrap();
        assert!(check_destination(&user).is_err());
        let r = write_dir::<_, OutputError>(&user, |d| {
            results(d, "dim");
            Ok(())
        });
        assert!(r.is_err());
        assert_eq!(fs::read_to_string(user.join("data.csv")).unwrap(), "precious");

        let other = tmp.path().join("other");
        write_dir::<_, OutputError>(&other, |d| {
            results(d, "score");
            Ok(())
        })
        .unwrap();
        let r = write_dir::<_, OutputError>(&other, |d| {
            results(d, "dim");
            Ok(())
        });
        assert!(r.unwrap_err().to_string().contains("another command"));
        assert!(schema_of(&other).unwrap().contains("score"));
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(check_destination(&file).is_err());
        assert_eq!(check_destination(&tmp.path().join("new")).unwrap(), Existing::Nothing);
    }
}
