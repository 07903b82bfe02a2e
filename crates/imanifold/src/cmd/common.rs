//! Options shared by every command that reads a collection, and small helpers for writing results.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
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
        let color = if self.gray {
            ColorMode::Gray
        } else if self.rgb {
            ColorMode::Rgb
        } else {
            ColorMode::Auto
        };
        LoadOptions {
            color,
            resize: self.resize,
            limit: self.limit,
            sample: self.sample,
            seed: self.seed,
            recursive: self.recursive,
        }
    }

    /// Loads `path` with these options.
    pub fn load(&self, path: &Path) -> anyhow::Result<Dataset> {
        dataset::load(path, &self.options()).with_context(|| format!("loading {}", path.display()))
    }
}

/// Parses `WxH`.
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("`{s}` is not WxH (e.g. 64x64)"))?;
    let w: u32 = w.trim().parse().map_err(|_| format!("`{s}`: width `{w}` is not a whole number"))?;
    let h: u32 = h.trim().parse().map_err(|_| format!("`{s}`: height `{h}` is not a whole number"))?;
    if w == 0 || h == 0 {
        return Err(format!("`{s}`: width and height must be positive"));
    }
    Ok((w, h))
}

/// `--out DIR` handling: creates the folder, refuses a path that is an existing file.
pub fn prepare_out(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() && !dir.is_dir() {
        bail!("--out {} exists and is not a folder", dir.display());
    }
    output::create_dir(dir)?;
    Ok(dir.to_path_buf())
}

/// Prints the summary JSON to stdout when `--json` was given.
pub fn print_json(enabled: bool, value: &serde_json::Value) -> anyhow::Result<()> {
    if enabled {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}
