//! Options shared by every command that reads a collection, and small helpers for writing results.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use dataset::{ColorMode, Dataset, LoadOptions};

/// `--gray/--rgb/--resize/--limit/--sample/--seed/--recursive`.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Convert images to gray (default: gray if the first image is gray, RGB otherwise).
    #[arg(long, conflicts_with = "rgb")]
    pub gray: bool,
    /// Convert images to RGB.
    #[arg(long)]
    pub rgb: bool,
    /// Resize every image to WxH (bilinear).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub resize: Option<(u32, u32)>,
    /// Keep only the first N images/rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Keep N images/rows drawn at random (with --seed), in their original order.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Seed for --sample and for every random choice of the command.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Descend into sub-folders of an image folder.
    #[arg(long)]
    pub recursive: bool,
}

impl InputArgs {
    pub fn options(&self) -> LoadOptions {
        // clap refuses --gray with --rgb (`conflicts_with`), so both cannot reach here.
        let color = ColorMode::from_switches(self.gray, self.rgb).unwrap_or_default();
        LoadOptions {
            color,
            resize: self.resize,
            limit: self.limit,
            sample: self.sample,
            seed: self.seed,
            recursive: self.recursive,
        }
    }

    /// Loads `path` with these options (the loaders' errors name the file, row or value at fault).
    pub fn load(&self, path: &Path) -> anyhow::Result<Dataset> {
        Ok(dataset::load(path, &self.options())?)
    }
}

/// Parses an image size, `WxH` or `N` (square): `--resize`, `render --size`.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a size: use WxH or N (square), e.g. 96x64 or 64");
    let (w, h) = match s.split_once(['x', 'X']) {
        Some((w, h)) => (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?),
        None => {
            let n = s.trim().parse().map_err(|_| bad())?;
            (n, n)
        }
    };
    if w == 0 || h == 0 {
        return Err(format!("`{s}`: width and height must be positive"));
    }
    Ok((w, h))
}

/// `--out DIR` and `--json`, shared by every command that writes an output folder.
///
/// A command checks the folder with [`OutArgs::check`] before any work, computes its report, and only then
/// writes the folder with [`OutArgs::write`] (one library writer per command) as a whole: into a hidden staging
/// sibling that replaces `--out` when the writer succeeded (`output::write_dir`). A run refused on bad input or
/// options, or failing while writing, leaves nothing behind; a rerun replaces its earlier output folder with no
/// stale files; a folder holding anything else is refused.
#[derive(Debug, Clone, Args)]
pub struct OutArgs {
    /// Output folder (created when the results are ready).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also print the summary (the contents of results.json) to stdout.
    #[arg(long)]
    pub json: bool,
}

impl OutArgs {
    /// Refuses an `--out` that cannot receive the output folder, before any work is done.
    pub fn check(&self) -> anyhow::Result<()> {
        output::check_destination(&self.out)?;
        Ok(())
    }

    /// [`OutArgs::check`], and refuses an `--out` that is one of `inputs` or contains one (compared canonicalised):
    /// writing the output folder replaces `--out` as a whole, so it must never hold what the run reads.
    pub fn check_inputs(&self, inputs: &[&Path]) -> anyhow::Result<()> {
        check_not_input(&self.out, inputs)?;
        self.check()
    }

    /// Runs the command's writer into a staging folder and moves it into place when it succeeded.
    pub fn write<T>(&self, write: impl FnOnce(&Path) -> anyhow::Result<T>) -> anyhow::Result<T> {
        output::write_dir(&self.out, write)
    }

    /// Prints the summary JSON to stdout when `--json` was given.
    pub fn print(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        print_json(self.json, value)
    }
}

/// Refuses an output path `out` that is one of `inputs` or contains one. Both sides are compared in two forms, and
/// any containment refuses: with every symbolic link resolved (as far as the path exists), and as written (made
/// absolute, `.` and `..` folded). So an input reached through a link inside `--out`, an `--out` reached through a
/// link into an input, or a `..` after a missing folder cannot hide the overlap.
pub fn check_not_input(out: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    let out_forms = path_forms(out);
    for input in inputs {
        let input_forms = path_forms(input);
        let hit = input_forms.iter().find_map(|i| out_forms.iter().find(|o| i.starts_with(o)).map(|o| i == o));
        if let Some(same) = hit {
            let what = if same { "is" } else { "contains" };
            bail!(
                "--out {} {what} the input {}; choose an output folder outside the inputs",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// `path` resolved (symbolic links followed as far as it exists) and as written, both absolute and folded.
fn path_forms(path: &Path) -> [PathBuf; 2] {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    [fold(&canonical_prefix(&absolute)), fold(&absolute)]
}

/// `path` made absolute with its symbolic links resolved, as far as it exists (the missing tail is appended as is).
fn canonical_prefix(absolute: &Path) -> PathBuf {
    let mut tail = Vec::new();
    let mut head = absolute;
    loop {
        if let Ok(c) = head.canonicalize() {
            return tail.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                head = parent;
            }
            _ => return absolute.to_path_buf(),
        }
    }
}

/// `path` with `.` dropped and each `..` removing the component before it (lexically).
fn fold(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Prints the summary JSON to stdout when `--json` was given.
pub fn print_json(enabled: bool, value: &serde_json::Value) -> anyhow::Result<()> {
    if enabled {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64"), Ok((64, 64)));
        assert_eq!(parse_size("96x64"), Ok((96, 64)));
        assert_eq!(parse_size("96X64"), Ok((96, 64)));
        assert!(parse_size("0").is_err());
        assert!(parse_size("0x5").unwrap_err().contains("positive"));
        assert!(parse_size("64x").unwrap_err().contains("WxH"));
        assert!(parse_size("-3x4").is_err());
    }
}
