//! The `neighbors` command as one library call, shared by the CLI and the Python package: validated
//! [`NeighborsOptions`] → a [`NeighborsRun`] (inputs checked, the search structures built once) → the rows searched
//! block by block, each block handed to a sink as soon as it is found → a [`NeighborsReport`] (what `results.json`
//! records). [`write_neighbors_dir`] is the command's writer: it streams the blocks into `indices.npy` (int64) and
//! `distances.npy` (float32) of the output folder and ends with `results.json`.
//!
//! Memory beyond the inputs (which may be memory-mapped files): the search structures (norms, principal
//! coordinates, the k-d tree or the approximate graph) plus one block of results, never the n × k tables. The files
//! are bit for bit what [`knn_self_with`](crate::knn_self_with) / [`knn_query_with`](crate::knn_query_with) return,
//! whatever the block size and the thread count.

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use output::{NpyWriter, Results};
use serde_json::{json, Value};

use crate::approx::{recall_of, recall_rows};
use crate::{KnnError, KnnOptions, Recall, Search, Strategy, MAX_EF};

/// Default number of neighbours.
pub const DEFAULT_K: usize = 10;
/// Result entries (rows × k) per block when [`NeighborsOptions::block_rows`] is 0: about 12 MB of results.
pub const DEFAULT_BLOCK_ENTRIES: usize = 1 << 20;

/// Options of the `neighbors` command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeighborsOptions {
    /// Number of neighbours.
    pub k: usize,
    /// Search strategy (every one but [`Strategy::Approx`] is exact).
    pub strategy: Strategy,
    /// Candidates per query of the approximate search.
    pub ef_search: usize,
    /// Candidates per insertion while building the approximate search's graph.
    pub ef_construction: usize,
    /// Principal coordinates the approximate search's graph is built on (0: all columns).
    pub approx_dims: usize,
    /// Query rows on which the approximate search's recall is measured against exact search.
    pub recall_sample: usize,
    /// Seed of the approximate search's graph and of the recall sample.
    pub seed: u64,
    /// Query rows searched (and written) per block; 0: [`DEFAULT_BLOCK_ENTRIES`] / k. Results do not depend on it.
    pub block_rows: usize,
}

impl Default for NeighborsOptions {
    fn default() -> Self {
        NeighborsOptions {
            k: DEFAULT_K,
            strategy: Strategy::Auto,
            ef_search: crate::DEFAULT_EF_SEARCH,
            ef_construction: crate::DEFAULT_EF_CONSTRUCTION,
            approx_dims: crate::DEFAULT_APPROX_DIMS,
            recall_sample: crate::DEFAULT_RECALL_SAMPLE,
            seed: 0,
            block_rows: 0,
        }
    }
}

/// Errors of the `neighbors` command.
#[derive(Debug, thiserror::Error)]
pub enum NeighborsError {
    /// An option out of its range (named as the command line spells it).
    #[error("{option} must be {expected} (got {value})")]
    Option { option: &'static str, expected: String, value: usize },
    #[error(transparent)]
    Knn(#[from] KnnError),
    #[error("measuring the recall of the approximate search")]
    Recall(#[source] KnnError),
    #[error(transparent)]
    Output(#[from] output::OutputError),
}

impl NeighborsOptions {
    /// Checks what can be checked without the data.
    pub fn validate(&self) -> Result<(), NeighborsError> {
        let bad = |option, expected: &str, value| {
            Err(NeighborsError::Option { option, expected: expected.to_string(), value })
        };
        if self.k == 0 {
            return bad("--k", "at least 1", 0);
        }
        if self.recall_sample == 0 {
            return bad("--recall-sample", "at least 1", 0);
        }
        for (name, v) in [("--ef-search", self.ef_search), ("--ef-construction", self.ef_construction)] {
            if v == 0 || v > MAX_EF {
                return bad(name, &format!("in 1..={MAX_EF}"), v);
            }
        }
        Ok(())
    }

    /// The engine's options.
    pub fn knn_options(&self) -> KnnOptions {
        KnnOptions {
            strategy: self.strategy,
            ef_search: self.ef_search,
            ef_construction: self.ef_construction,
            approx_dims: self.approx_dims,
            seed: self.seed,
            ..KnnOptions::default()
        }
    }

    /// Query rows per block.
    pub fn rows_per_block(&self) -> usize {
        if self.block_rows > 0 {
            self.block_rows
        } else {
            (DEFAULT_BLOCK_ENTRIES / self.k.max(1)).max(1)
        }
    }
}

/// Whether the query rows are the reference rows (each row's neighbours among the others) or another collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SelfSearch,
    Query,
}

impl Mode {
    /// `self` or `query` (the `mode` of `results.json`).
    pub fn name(&self) -> &'static str {
        match self {
            Mode::SelfSearch => "self",
            Mode::Query => "query",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The recall of an approximate search and the parameters it was measured with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecallReport {
    pub recall: Recall,
    pub ef_search: usize,
    pub ef_construction: usize,
    pub approx_dims: usize,
}

/// What a `neighbors` run found (the summary of `results.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct NeighborsReport {
    pub mode: Mode,
    pub n_reference: usize,
    pub n_query: usize,
    pub d: usize,
    pub k: usize,
    pub strategy: Strategy,
    /// Reference rows that exactly duplicate an earlier one (their neighbour distances are zero).
    pub duplicate_rows: usize,
    /// Mean distance to the k-th neighbour.
    pub mean_kth_distance: f64,
    /// The measured recall ([`Strategy::Approx`] only).
    pub recall: Option<RecallReport>,
    /// Seconds of the search (preparation included) and of the recall measurement.
    pub knn_seconds: f64,
    pub recall_seconds: Option<f64>,
}

/// One block of results, in query row order: rows `first_row ..` of the n_query × k tables.
#[derive(Debug, Clone, Copy)]
pub struct NeighborsBlock<'a> {
    pub first_row: usize,
    /// Reference row indices, nearest first (ties: smaller index first).
    pub indices: &'a Array2<usize>,
    /// Exact Euclidean distances, ascending.
    pub distances: &'a Array2<f32>,
}

/// A `neighbors` run with its inputs checked and its search prepared (nothing written yet): every error about the
/// options or the data comes from [`NeighborsRun::new`], before a front end creates its output folder.
pub struct NeighborsRun<'a> {
    opts: NeighborsOptions,
    reference: ArrayView2<'a, f32>,
    query: Option<ArrayView2<'a, f32>>,
    search: Search<'a>,
    prepare_seconds: f64,
}

impl<'a> NeighborsRun<'a> {
    /// Validates `opts` and the data and prepares the search of `query`'s rows (`None`: a self-search of
    /// `reference`, each row's neighbours among the others).
    pub fn new(
        reference: ArrayView2<'a, f32>,
        query: Option<ArrayView2<'a, f32>>,
        opts: &NeighborsOptions,
    ) -> Result<Self, NeighborsError> {
        opts.validate()?;
        let t = Instant::now();
        let search = Search::new(reference, query, opts.k, &opts.knn_options())?;
        Ok(NeighborsRun { opts: *opts, reference, query, search, prepare_seconds: t.elapsed().as_secs_f64() })
    }

    /// Number of query rows (the reference rows in a self-search).
    pub fn n_query(&self) -> usize {
        self.search.n_query()
    }

    /// Searches the query rows in consecutive blocks of [`NeighborsOptions::rows_per_block`] rows, in order, hands
    /// each block to `sink` as soon as it is found, and measures the recall of an approximate search. Stops at the
    /// first error (of the search or of `sink`).
    pub fn run<F>(self, mut sink: F) -> Result<NeighborsReport, NeighborsError>
    where
        F: FnMut(NeighborsBlock<'_>) -> Result<(), NeighborsError>,
    {
        let (k, n_q) = (self.opts.k, self.n_query());
        let t = Instant::now();
        // The recall's sampled rows are known in advance: their neighbour lists are kept as the blocks pass.
        let approximate = !self.opts.strategy.is_exact();
        let sampled = if approximate { recall_rows(n_q, self.opts.recall_sample, self.opts.seed) } else { Vec::new() };
        let mut got = Array2::<usize>::zeros((sampled.len(), k));
        let mut next_sampled = 0;
        let mut kth_sum = 0.0f64;
        for rows in blocks(n_q, self.opts.rows_per_block()) {
            let found = self.search.rows(rows.clone())?;
            kth_sum = found.distances.column(k - 1).iter().fold(kth_sum, |s, &x| s + x as f64);
            while next_sampled < sampled.len() && sampled[next_sampled] < rows.end {
                got.row_mut(next_sampled).assign(&found.indices.row(sampled[next_sampled] - rows.start));
                next_sampled += 1;
            }
            sink(NeighborsBlock { first_row: rows.start, indices: &found.indices, distances: &found.distances })?;
        }
        let knn_seconds = self.prepare_seconds + t.elapsed().as_secs_f64();
        let (recall, recall_seconds) = if approximate {
            let t = Instant::now();
            let r = recall_of(self.reference, self.query, &sampled, got.view()).map_err(NeighborsError::Recall)?;
            let report = RecallReport {
                recall: r,
                ef_search: self.opts.ef_search,
                ef_construction: self.opts.ef_construction,
                approx_dims: self.opts.approx_dims,
            };
            (Some(report), Some(t.elapsed().as_secs_f64()))
        } else {
            (None, None)
        };
        Ok(NeighborsReport {
            mode: if self.query.is_some() { Mode::Query } else { Mode::SelfSearch },
            n_reference: self.reference.nrows(),
            n_query: n_q,
            d: self.reference.ncols(),
            k,
            strategy: self.opts.strategy,
            duplicate_rows: self.search.duplicate_rows(),
            mean_kth_distance: kth_sum / n_q as f64,
            recall,
            knn_seconds,
            recall_seconds,
        })
    }

    /// [`NeighborsRun::run`] into `dir/indices.npy` (n_query × k int64) and `dir/distances.npy` (n_query × k
    /// float32), each block appended as it is found; the files appear only when every row was written.
    pub fn write_arrays(self, dir: &Path) -> Result<NeighborsReport, NeighborsError> {
        let shape = [self.n_query(), self.opts.k];
        let mut indices = NpyWriter::<i64>::create(&dir.join("indices.npy"), &shape)?;
        let mut distances = NpyWriter::<f32>::create(&dir.join("distances.npy"), &shape)?;
        let report = self.run(|b| {
            indices.append_array(&b.indices.mapv(|i| i as i64))?;
            distances.append_array(b.distances)?;
            Ok(())
        })?;
        indices.finish()?;
        distances.finish()?;
        Ok(report)
    }
}

/// Consecutive blocks of `size` rows covering `0..n`.
fn blocks(n: usize, size: usize) -> impl Iterator<Item = Range<usize>> {
    (0..n).step_by(size.max(1)).map(move |s| s..(s + size.max(1)).min(n))
}

/// Prepares and runs the command (see [`NeighborsRun`]).
pub fn run<F>(
    reference: ArrayView2<f32>,
    query: Option<ArrayView2<f32>>,
    opts: &NeighborsOptions,
    sink: F,
) -> Result<NeighborsReport, NeighborsError>
where
    F: FnMut(NeighborsBlock<'_>) -> Result<(), NeighborsError>,
{
    NeighborsRun::new(reference, query, opts)?.run(sink)
}

/// Records a report's fields in `results` (the keys of `results.json`).
pub fn record(report: &NeighborsReport, results: &mut Results) {
    if let Some(r) = &report.recall {
        results.set(
            "recall",
            json!({"recall_at_k": r.recall.recall, "min_row_recall": r.recall.min_row_recall,
                   "sampled_queries": r.recall.sampled, "ef_search": r.ef_search,
                   "ef_construction": r.ef_construction, "approx_dims": r.approx_dims}),
        );
    }
    results.timing("knn", report.knn_seconds);
    if let Some(s) = report.recall_seconds {
        results.timing("recall", s);
    }
    results
        .set("mode", report.mode.name())
        .set("n_reference", report.n_reference)
        .set("n_query", report.n_query)
        .set("d", report.d)
        .set("k", report.k)
        .set("strategy", report.strategy.to_string())
        .set("duplicate_rows", report.duplicate_rows)
        .set("mean_kth_distance", report.mean_kth_distance)
        .set("files", json!({"indices": "indices.npy", "distances": "distances.npy"}));
}

/// The command's writer: runs `run` into the folder `dir` (a staging folder of [`output::write_dir`]: on error
/// the caller's staging removes everything) — `indices.npy` and `distances.npy` streamed block by block, then
/// `results.json` from `results` and the report. Returns the report and the JSON written.
pub fn write_neighbors_dir(
    dir: &Path,
    run: NeighborsRun<'_>,
    mut results: Results,
) -> Result<(NeighborsReport, Value), NeighborsError> {
    let report = run.write_arrays(dir)?;
    record(&report, &mut results);
    let v = results.write(dir)?;
    Ok((report, v))
}
