//! The pairs file of the perturbation mode: a CSV with columns `clean` and `perturbed` (other columns are ignored),
//! as `imanifold classifier` writes it. Each cell is
//! * an image path (PNG, JPEG, …) relative to the CSV's folder,
//! * a `.npy` file holding one image, or
//! * `file.npy#ROW`: row ROW (0-based) of a `.npy` stack (e.g. `perturbed.npy#3`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dataset::{Dataset, LoadOptions};
use ndarray::{Array1, Array2};

use crate::{check_same_size, matching_load_options, Result, ScoreError};

/// (clean, perturbed) image pairs as rows, with the names the pairs file gives them.
#[derive(Debug, Clone)]
pub struct Pairs {
    pub clean_ids: Vec<String>,
    pub perturbed_ids: Vec<String>,
    pub clean: Array2<f32>,
    pub perturbed: Array2<f32>,
}

/// Where one image of a pair comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairEntry {
    Image(PathBuf),
    Npy { path: PathBuf, row: Option<usize> },
}

impl PairEntry {
    pub fn path(&self) -> &Path {
        match self {
            PairEntry::Image(p) => p,
            PairEntry::Npy { path, .. } => path,
        }
    }
}

/// One data line of the pairs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairLine {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// The cells as written.
    pub clean_text: String,
    pub perturbed_text: String,
    pub clean: PairEntry,
    pub perturbed: PairEntry,
}

fn bad(path: &Path, message: String) -> ScoreError {
    ScoreError::PairsFile { path: path.to_path_buf(), message }
}

fn parse_cell(csv: &Path, cell: &str, line: usize, column: &str) -> Result<PairEntry> {
    let (file, row) = match cell.rsplit_once('#') {
        Some((f, r)) if f.to_ascii_lowercase().ends_with(".npy") => {
            let r = r.trim().parse::<usize>().map_err(|_| {
                bad(csv, format!("line {line}, column {column}: `{cell}`: the row after # is not a whole number"))
            })?;
            (f, Some(r))
        }
        _ => (cell, None),
    };
    let path = dataset::pairs::resolve(csv, file);
    if !path.is_file() {
        return Err(bad(csv, format!("line {line}, column {column} names {} which does not exist", path.display())));
    }
    Ok(if file.to_ascii_lowercase().ends_with(".npy") { PairEntry::Npy { path, row } } else { PairEntry::Image(path) })
}

/// Reads and checks a pairs file ([`dataset::pairs::read_path_pairs`]; every named file must exist).
pub fn read_pairs_csv(path: &Path) -> Result<Vec<PairLine>> {
    let rows = dataset::pairs::read_path_pairs(path, &["clean", "perturbed"], &[]).map_err(|e| match e {
        dataset::DatasetError::Pairs { path, message } => ScoreError::PairsFile { path, message },
        e => bad(path, e.to_string()),
    })?;
    rows.into_iter()
        .map(|r| {
            let [c, p] = <[String; 2]>::try_from(r.cells).expect("two required columns");
            Ok(PairLine {
                line: r.line,
                clean: parse_cell(path, &c, r.line, "clean")?,
                perturbed: parse_cell(path, &p, r.line, "perturbed")?,
                clean_text: c,
                perturbed_text: p,
            })
        })
        .collect()
}

fn load_error(what: String) -> impl FnOnce(dataset::DatasetError) -> ScoreError {
    move |source| ScoreError::Load { what, source }
}

/// Reads a pairs file and every image it names, at the reference's size: images are decoded once each (in
/// parallel) with `opts` (colour mode: the reference's unless `opts` names one), every `.npy` is loaded once.
pub fn read_pairs(csv_path: &Path, reference: &Dataset, opts: &LoadOptions) -> Result<Pairs> {
    let opts = matching_load_options(reference, opts.clone());
    let lines = read_pairs_csv(csv_path)?;
    let mut images: Vec<PathBuf> = Vec::new();
    let mut npys: Vec<PathBuf> = Vec::new();
    for e in lines.iter().flat_map(|l| [&l.clean, &l.perturbed]) {
        match e {
            PairEntry::Image(p) if !images.contains(p) => images.push(p.clone()),
            PairEntry::Npy { path, .. } if !npys.contains(path) => npys.push(path.clone()),
            _ => {}
        }
    }
    let d = reference.d();
    let mut image_rows: HashMap<PathBuf, usize> = HashMap::new();
    let mut decoded = Array2::<f32>::zeros((0, d));
    if !images.is_empty() {
        let (data, shape) = dataset::decode_images(&images, &opts)
            .map_err(load_error(format!("decoding the images named in {}", csv_path.display())))?;
        let ds = Dataset {
            data: data.into(),
            shape: Some(shape),
            ids: vec![],
            columns: vec![],
            source: csv_path.to_path_buf(),
        };
        check_same_size(reference, &ds)?;
        decoded = ds.data.into_owned();
        image_rows = images.iter().cloned().enumerate().map(|(i, p)| (p, i)).collect();
    }
    let mut npy_data: HashMap<PathBuf, Dataset> = HashMap::new();
    let npy_opts = LoadOptions { limit: None, sample: None, ..opts.clone() };
    for p in npys {
        let ds = dataset::load(&p, &npy_opts).map_err(load_error(format!("loading {}", p.display())))?;
        check_same_size(reference, &ds)?;
        npy_data.insert(p, ds);
    }
    let row_of = |e: &PairEntry, line: usize| -> Result<Array1<f32>> {
        match e {
            PairEntry::Image(p) => Ok(decoded.row(image_rows[p]).to_owned()),
            PairEntry::Npy { path, row } => {
                let ds = &npy_data[path];
                let r = match row {
                    Some(r) => *r,
                    None if ds.n() == 1 => 0,
                    None => {
                        return Err(bad(
                            csv_path,
                            format!(
                                "line {line}: {} holds {} images: name one as FILE.npy#ROW",
                                path.display(),
                                ds.n()
                            ),
                        ))
                    }
                };
                if r >= ds.n() {
                    return Err(bad(
                        csv_path,
                        format!("line {line}: {}#{r} does not exist ({} rows)", path.display(), ds.n()),
                    ));
                }
                Ok(ds.data.row(r).to_owned())
            }
        }
    };
    let n = lines.len();
    let mut clean = Array2::<f32>::zeros((n, d));
    let mut perturbed = Array2::<f32>::zeros((n, d));
    for (i, l) in lines.iter().enumerate() {
        clean.row_mut(i).assign(&row_of(&l.clean, l.line)?);
        perturbed.row_mut(i).assign(&row_of(&l.perturbed, l.line)?);
    }
    Ok(Pairs {
        clean_ids: lines.iter().map(|l| l.clean_text.clone()).collect(),
        perturbed_ids: lines.iter().map(|l| l.perturbed_text.clone()).collect(),
        clean,
        perturbed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_images_npy_files_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("clean")).unwrap();
        std::fs::write(d.join("clean/0.png"), b"x").unwrap();
        std::fs::write(d.join("perturbed.npy"), b"x").unwrap();
        std::fs::write(d.join("one.npy"), b"x").unwrap();
        let csv = d.join("pairs.csv");
        std::fs::write(&csv, "clean,perturbed,label\nclean/0.png,perturbed.npy#3,cat\none.npy, perturbed.npy#0 ,dog\n")
            .unwrap();
        let lines = read_pairs_csv(&csv).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].clean, PairEntry::Image(d.join("clean/0.png")));
        assert_eq!(lines[0].perturbed, PairEntry::Npy { path: d.join("perturbed.npy"), row: Some(3) });
        assert_eq!(lines[1].clean, PairEntry::Npy { path: d.join("one.npy"), row: None });
        assert_eq!(lines[1].perturbed_text, "perturbed.npy#0");
        assert_eq!(lines[1].line, 3);
    }

    #[test]
    fn bad_files_name_the_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.png"), b"x").unwrap();
        let write = |text: &str| {
            let p = d.join("p.csv");
            std::fs::write(&p, text).unwrap();
            read_pairs_csv(&p).unwrap_err().to_string()
        };
        assert!(write("clean,other\na.png,a.png\n").contains("no `perturbed` column"));
        assert!(write("clean,perturbed\na.png,missing.png\n").contains("line 2, column perturbed"));
        assert!(write("clean,perturbed\n").contains("no pairs"));
        assert!(write("clean,perturbed\na.png,\n").contains("empty"));
        std::fs::write(d.join("s.npy"), b"x").unwrap();
        assert!(write("clean,perturbed\na.png,s.npy#x\n").contains("not a whole number"));
        assert!(read_pairs_csv(&d.join("nope.csv")).unwrap_err().to_string().contains("nope.csv"));
    }
}
