//! Pairs files: CSV tables with a header whose named columns hold paths, e.g. `a,b[,truth]` for a batch of
//! optical-flow pairs or `clean,perturbed` for perturbation pairs. One reader with one set of rules:
//!
//! * the header names the columns (cells and names are trimmed); every required column must be there, other
//!   columns are ignored;
//! * an empty cell of a required column is refused, naming its line; an empty optional cell means "none";
//! * a header without data lines is refused;
//! * relative paths are relative to the CSV's folder ([`resolve`]).

use std::path::{Path, PathBuf};

use crate::{DatasetError, Result};

/// One data line of a pairs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// The required columns' cells, trimmed and non-empty, in the order they were asked for.
    pub cells: Vec<String>,
    /// The optional columns' cells, in the order they were asked for: `None` when the column is absent or the
    /// cell empty.
    pub optional: Vec<Option<String>>,
}

fn bad(csv: &Path, message: String) -> DatasetError {
    DatasetError::Pairs { path: csv.to_path_buf(), message }
}

/// Reads the pairs file `csv`: per data line, the cells of the `required` columns and of the `optional` ones (see
/// the module docs for the rules). Cells are returned as written; [`resolve`] turns one into a path.
pub fn read_path_pairs(csv: &Path, required: &[&str], optional: &[&str]) -> Result<Vec<PathRow>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(csv)
        .map_err(|e| bad(csv, format!("cannot read: {e}")))?;
    let headers: Vec<String> =
        rdr.headers().map_err(|e| bad(csv, format!("no header row: {e}")))?.iter().map(str::to_string).collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let required: Vec<(&str, usize)> = required
        .iter()
        .map(|&name| {
            col(name)
                .map(|i| (name, i))
                .ok_or_else(|| bad(csv, format!("no `{name}` column (header: {})", headers.join(","))))
        })
        .collect::<Result<_>>()?;
    let optional: Vec<Option<usize>> = optional.iter().map(|name| col(name)).collect();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| bad(csv, format!("line {}: {e}", i + 2)))?;
        let line = rec.position().map_or(i + 2, |p| p.line() as usize);
        let get = |k: usize| rec.get(k).filter(|s| !s.is_empty()).map(str::to_string);
        let cells = required
            .iter()
            .map(|&(name, k)| get(k).ok_or_else(|| bad(csv, format!("line {line}, column {name} is empty"))))
            .collect::<Result<_>>()?;
        rows.push(PathRow { line, cells, optional: optional.iter().map(|k| k.and_then(get)).collect() });
    }
    if rows.is_empty() {
        return Err(bad(csv, "no pairs: the file has a header but no data lines".into()));
    }
    Ok(rows)
}

/// The path a cell of the pairs file `csv` names: relative to the CSV's folder unless absolute.
pub fn resolve(csv: &Path, cell: &str) -> PathBuf {
    csv.parent().unwrap_or(Path::new("")).join(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("pairs.csv");
        std::fs::write(&csv, text).unwrap();
        (dir, csv)
    }

    #[test]
    fn reads_named_columns_in_the_order_asked() {
        let (dir, csv) = table("b , a,truth,note\nx.png, y.png ,,n\n/abs/z.png,w.png,t.npy,\n");
        let rows = read_path_pairs(&csv, &["a", "b"], &["truth", "missing"]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[0].cells.clone()), (2, vec!["y.png".to_string(), "x.png".to_string()]));
        assert_eq!(rows[0].optional, vec![None, None]);
        assert_eq!(rows[1].optional, vec![Some("t.npy".to_string()), None]);
        assert_eq!(resolve(&csv, &rows[1].cells[0]), dir.path().join("w.png"));
        assert_eq!(resolve(&csv, &rows[1].cells[1]), PathBuf::from("/abs/z.png"));
        assert_eq!(resolve(Path::new("pairs.csv"), "a.png"), PathBuf::from("a.png"));
    }

    #[test]
    fn refusals_name_the_column_or_line() {
        let msg = |text: &str| {
            let (_dir, csv) = table(text);
            let e = read_path_pairs(&csv, &["clean", "perturbed"], &[]).unwrap_err();
            assert!(matches!(e, DatasetError::Pairs { .. }), "{e}");
            e.to_string()
        };
        assert!(msg("clean,other\na,b\n").contains("no `perturbed` column (header: clean,other)"));
        assert!(msg("clean,perturbed\na,b\nc, \n").contains("line 3, column perturbed is empty"));
        assert!(msg("clean,perturbed\n").contains("no data lines"));
        assert!(msg("clean,perturbed\na,b,c\n").contains("line 2"));
        let e = read_path_pairs(Path::new("/nonexistent/p.csv"), &["a"], &[]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/p.csv") && e.to_string().contains("cannot read"), "{e}");
    }
}
