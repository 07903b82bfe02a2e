//! Self-contained HTML reports: charts drawn with `plotters` into inline SVG, images as inline PNG data URIs,
//! tables, and links to the data files each figure was drawn from.
//!
//! * [`xy_chart`]: lines and/or markers with optional vertical error bars and dashed reference lines (estimated vs
//!   true dimension, ID-vs-k curves, scatter plots).
//! * [`box_chart`]: horizontal box plots of one value per group (score distributions), one row per group.
//! * [`Document`]: the page. Every figure is placed with the relative paths of its data files (CSV / `.npy` beside
//!   the report) and, optionally, of its own SVG file; [`Document::linked_files`] lists every path the page refers
//!   to, so a caller (or a test) can check that they all exist. The page loads nothing from the network: styles are
//!   inline, plots are inline SVG, images are `data:` URIs.
//!
//! Axes can be logarithmic ([`Axis::log`]): values are drawn as log10 and the tick labels show the original values;
//! non-positive values cannot be drawn on a log axis and are left out (counted in the figure's note by the caller,
//! if it matters). Non-finite values are always left out; a line is broken where a point is missing.

mod axis;
mod boxes;
mod document;
#[cfg(test)]
mod tests;
mod xy;

use plotters::style::RGBColor;

pub use axis::{format_tick, Axis};
pub use boxes::{box_chart, quantile_sorted, BoxGroup};
pub use document::{escape, Document, Figure, FigureInfo};
pub use xy::{xy_chart, Legend, Point, Series, Style, XyChart, LEGEND_WIDTH};

/// Errors while drawing or writing a report. Each names the chart or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("chart {title:?}: {message}")]
    Plot { title: String, message: String },
    #[error("chart {title:?} has no finite data to draw")]
    NoData { title: String },
    #[error(transparent)]
    Output(#[from] output::OutputError),
}

pub type Result<T> = std::result::Result<T, ReportError>;

/// Ten distinguishable colours (Tableau 10), used in order by series without an explicit colour.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

pub(crate) fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

pub(crate) fn plot_err<E: std::fmt::Display>(title: &str) -> impl Fn(E) -> ReportError + '_ {
    move |e| ReportError::Plot { title: title.to_string(), message: e.to_string() }
}
