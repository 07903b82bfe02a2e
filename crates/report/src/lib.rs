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

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// One axis of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    /// Logarithmic (base 10) scale.
    pub log: bool,
    /// Fixed range (in data units); `None`: the data range with a 5 % margin.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(label: &str) -> Self {
        Axis { label: label.to_string(), log: false, range: None }
    }
    pub fn log(label: &str) -> Self {
        Axis { label: label.to_string(), log: true, range: None }
    }
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }
    /// Data value → drawing coordinate (log10 on a log axis); `None` when it cannot be drawn.
    fn map(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }
    fn unmap(&self, c: f64) -> f64 {
        if self.log {
            10f64.powf(c)
        } else {
            c
        }
    }
    /// Drawing range from the mapped data values (or the fixed range).
    fn span(&self, mapped: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
        if let Some((lo, hi)) = self.range {
            let (a, b) = (self.map(lo)?, self.map(hi)?);
            return (b > a).then_some((a, b));
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in mapped {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !(lo.is_finite() && hi.is_finite()) {
            return None;
        }
        if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            let pad = if self.log { 0.5 } else { 0.5 * lo.abs().max(1.0) };
            return Some((lo - pad, hi + pad));
        }
        let pad = 0.05 * (hi - lo);
        Some((lo - pad, hi + pad))
    }
}

/// Tick label: a short decimal representation.
pub fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// One point of a series, optionally with an interval (drawn as a vertical error bar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub interval: Option<(f64, f64)>,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y, interval: None }
    }
    pub fn with_interval(x: f64, y: f64, lo: f64, hi: f64) -> Self {
        Point { x, y, interval: Some((lo, hi)) }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Line,
    Markers,
    LineAndMarkers,
    /// A dashed reference line (e.g. y = x, the truth), no markers, no error bars.
    Dashed,
}

/// A named series of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<Point>,
    pub style: Style,
    /// Palette index (default: the series' position).
    pub color: Option<usize>,
    /// Marker radius in pixels.
    pub marker_size: u32,
}

impl Series {
    pub fn new(label: &str, points: Vec<Point>, style: Style) -> Self {
        Series { label: label.to_string(), points, style, color: None, marker_size: 3 }
    }
    pub fn color(mut self, palette_index: usize) -> Self {
        self.color = Some(palette_index);
        self
    }
    pub fn marker_size(mut self, px: u32) -> Self {
        self.marker_size = px;
        self
    }
}

/// Where a chart's legend is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    None,
    /// Inside the plot, top left corner (over the data).
    UpperLeft,
    /// Inside the plot, bottom right corner.
    LowerRight,
    /// In a panel right of the plot (never covers data; the chart gets wider by `LEGEND_WIDTH`).
    Right,
}

/// Width in pixels of a [`Legend::Right`] panel.
pub const LEGEND_WIDTH: u32 = 190;

/// A chart of series over two numeric axes.
#[derive(Debug, Clone, PartialEq)]
pub struct XyChart {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub width: u32,
    pub height: u32,
    /// Where the series labels go.
    pub legend: Legend,
}

impl XyChart {
    pub fn new(title: &str, x: Axis, y: Axis) -> Self {
        XyChart {
            title: title.to_string(),
            x,
            y,
            series: Vec::new(),
            width: 640,
            height: 420,
            legend: Legend::UpperLeft,
        }
    }
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
    pub fn legend(mut self, legend: Legend) -> Self {
        self.legend = legend;
        self
    }
}

fn plot_err<E: std::fmt::Display>(title: &str) -> impl Fn(E) -> ReportError + '_ {
    move |e| ReportError::Plot { title: title.to_string(), message: e.to_string() }
}

/// A point in drawing coordinates (None when it cannot be drawn) and its interval in drawing coordinates.
type MappedPoint = (Option<(f64, f64)>, Option<(f64, f64)>);

/// Draws an [`XyChart`] and returns the SVG document (a string starting with `<svg`).
pub fn xy_chart(c: &XyChart) -> Result<String> {
    let title = c.title.as_str();
    let err = plot_err(title);
    // Mapped coordinates of everything that will be drawn.
    let mapped: Vec<Vec<MappedPoint>> = c
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .map(|p| {
                    let xy = c.x.map(p.x).zip(c.y.map(p.y));
                    let iv = match (s.style, p.interval, c.x.map(p.x)) {
                        (Style::Dashed, _, _) | (_, None, _) | (_, _, None) => None,
                        (_, Some((lo, hi)), Some(_)) => c.y.map(lo).zip(c.y.map(hi)),
                    };
                    (xy, iv)
                })
                .collect()
        })
        .collect();
    let xs = mapped.iter().flatten().filter_map(|(xy, _)| xy.map(|v| v.0));
    let ys = mapped.iter().flatten().flat_map(|(xy, iv)| {
        let mut v = Vec::with_capacity(3);
        if let Some((_, y)) = xy {
            v.push(*y);
        }
        if let Some((lo, hi)) = iv {
            v.extend([*lo, *hi]);
        }
        v
    });
    let (x0, x1) = c.x.span(xs).ok_or_else(|| ReportError::NoData { title: title.to_string() })?;
    let (y0, y1) = c.y.span(ys).ok_or_else(|| ReportError::NoData { title: title.to_string() })?;

    let mut svg = String::new();
    {
        let right_panel = c.legend == Legend::Right && c.series.iter().any(|s| !s.label.is_empty());
        let total_width = c.width + if right_panel { LEGEND_WIDTH } else { 0 };
        let root = SVGBackend::with_string(&mut svg, (total_width, c.height)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let (plot_area, legend_area) = root.split_horizontally(c.width);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(58)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(&err)?;
        let (xa, ya) = (c.x.clone(), c.y.clone());
        let xf = move |v: &f64| format_tick(xa.unmap(*v));
        let yf = move |v: &f64| format_tick(ya.unmap(*v));
        chart
            .configure_mesh()
            .x_desc(c.x.label.as_str())
            .y_desc(c.y.label.as_str())
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(&err)?;
        for (si, (s, pts)) in c.series.iter().zip(&mapped).enumerate() {
            let col = color(s.color.unwrap_or(si));
            let mut labelled = false;
            // Lines, broken at missing points.
            if matches!(s.style, Style::Line | Style::LineAndMarkers | Style::Dashed) {
                let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for (xy, _) in pts {
                    match xy {
                        Some(p) => runs.last_mut().expect("non-empty").push(*p),
                        None => runs.push(Vec::new()),
                    }
                }
                for run in runs.into_iter().filter(|r| r.len() >= 2) {
                    let style = col.stroke_width(if s.style == Style::Dashed { 1 } else { 2 });
                    let anno = if s.style == Style::Dashed {
                        chart.draw_series(DashedLineSeries::new(run, 6, 4, style)).map_err(&err)?
                    } else {
                        chart.draw_series(LineSeries::new(run, style)).map_err(&err)?
                    };
                    if !labelled && !s.label.is_empty() {
                        anno.label(s.label.as_str())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2)));
                        labelled = true;
                    }
                }
            }
            if matches!(s.style, Style::Markers | Style::LineAndMarkers) {
                let r = s.marker_size;
                let anno = chart
                    .draw_series(pts.iter().filter_map(|(xy, _)| xy.map(|p| Circle::new(p, r, col.filled()))))
                    .map_err(&err)?;
                if !labelled && !s.label.is_empty() {
                    anno.label(s.label.as_str()).legend(move |(x, y)| Circle::new((x + 9, y), 4, col.filled()));
                }
            }
            if s.style != Style::Dashed {
                // Error bars as plain paths (plotters' ErrorBar also draws a dot at the centre, which would
                // double the markers): the interval and two caps 8 px wide.
                let cap = 4.0 * (x1 - x0) / c.width.max(1) as f64;
                chart
                    .draw_series(pts.iter().filter_map(|(xy, iv)| {
                        let ((x, _), (lo, hi)) = (xy.as_ref()?, iv.as_ref()?);
                        Some(PathElement::new(
                            vec![(x - cap, *lo), (x + cap, *lo), (*x, *lo), (*x, *hi), (x - cap, *hi), (x + cap, *hi)],
                            col.stroke_width(1),
                        ))
                    }))
                    .map_err(&err)?;
            }
        }
        let inside = match c.legend {
            Legend::UpperLeft => Some(SeriesLabelPosition::UpperLeft),
            Legend::LowerRight => Some(SeriesLabelPosition::LowerRight),
            Legend::None | Legend::Right => None,
        };
        if let Some(pos) = inside.filter(|_| c.series.iter().any(|s| !s.label.is_empty())) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .label_font(("sans-serif", 15))
                .position(pos)
                .draw()
                .map_err(&err)?;
        }
        if right_panel {
            let font = ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
            let mut y = 48i32;
            for (si, s) in c.series.iter().enumerate().filter(|(_, s)| !s.label.is_empty()) {
                let col = color(s.color.unwrap_or(si));
                if matches!(s.style, Style::Markers) {
                    legend_area.draw(&Circle::new((16, y), 4, col.filled())).map_err(&err)?;
                } else {
                    legend_area.draw(&PathElement::new(vec![(6, y), (26, y)], col.stroke_width(2))).map_err(&err)?;
                }
                legend_area.draw(&Text::new(s.label.clone(), (32, y), font.clone())).map_err(&err)?;
                y += 22;
            }
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// One group of a [`box_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct BoxGroup {
    pub label: String,
    pub values: Vec<f64>,
}

/// Quantile by linear interpolation between order statistics (numpy's default) of sorted finite values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

/// Horizontal box plots, one row per group (top to bottom in the given order): box from the 25th to the 75th
/// percentile, a bar at the median, whiskers from the 5th to the 95th percentile, every value as a small dot.
pub fn box_chart(title: &str, value_axis: &Axis, groups: &[BoxGroup], width: u32) -> Result<String> {
    let err = plot_err(title);
    let mapped: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| {
            let mut v: Vec<f64> = g.values.iter().filter_map(|&x| value_axis.map(x)).collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let (x0, x1) = value_axis
        .span(mapped.iter().flatten().copied())
        .ok_or_else(|| ReportError::NoData { title: title.to_string() })?;
    let n = groups.len().max(1);
    let height = 70 + 34 * n as u32;
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        // Row i is drawn at y = n − 1 − i so that the first group is on top.
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size((longest * 7 + 10).clamp(60, 260))
            .build_cartesian_2d(x0..x1, -0.6f64..(n as f64 - 0.4))
            .map_err(&err)?;
        let va = value_axis.clone();
        let xf = move |v: &f64| format_tick(va.unmap(*v));
        let labels_for_axis = labels.clone();
        let yf = move |v: &f64| {
            let r = v.round();
            if (v - r).abs() > 1e-6 || r < 0.0 || r as usize >= n {
                return String::new();
            }
            labels_for_axis.get(n - 1 - r as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_desc(value_axis.label.as_str())
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .y_labels(2 * n + 1)
            .disable_y_mesh()
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(&err)?;
        for (i, v) in mapped.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let y = (n - 1 - i) as f64;
            let col = color(i);
            let q = |p: f64| quantile_sorted(v, p);
            let (q05, q25, q50, q75, q95) = (q(0.05), q(0.25), q(0.5), q(0.75), q(0.95));
            // Deterministic vertical jitter of the dots (golden-ratio sequence), so identical inputs give identical SVG.
            chart
                .draw_series(v.iter().enumerate().map(|(j, &x)| {
                    let jitter = ((j as f64 * 0.618_033_988_75).fract() - 0.5) * 0.5;
                    Circle::new((x, y + jitter), 2, col.mix(0.45).filled())
                }))
                .map_err(&err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new([(q25, y - 0.3), (q75, y + 0.3)], col.stroke_width(2))))
                .map_err(&err)?;
            chart
                .draw_series([
                    PathElement::new(vec![(q50, y - 0.3), (q50, y + 0.3)], BLACK.stroke_width(2)),
                    PathElement::new(vec![(q05, y), (q25, y)], col.stroke_width(1)),
                    PathElement::new(vec![(q75, y), (q95, y)], col.stroke_width(1)),
                    PathElement::new(vec![(q05, y - 0.15), (q05, y + 0.15)], col.stroke_width(1)),
                    PathElement::new(vec![(q95, y - 0.15), (q95, y + 0.15)], col.stroke_width(1)),
                ])
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A figure of the page: inline SVG plus links to the files holding its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// HTML id (also the base name of the SVG file when one is written).
    pub id: String,
    pub svg: String,
    pub caption: String,
    /// Paths relative to the report of the data behind the figure (CSV / .npy) and of its SVG file, if written.
    pub files: Vec<String>,
}

/// What the page refers to, figure by figure.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureInfo {
    pub id: String,
    pub kind: &'static str,
    pub files: Vec<String>,
}

/// An HTML page being assembled.
#[derive(Debug, Clone, Default)]
pub struct Document {
    title: String,
    body: String,
    figures: Vec<FigureInfo>,
    links: Vec<String>,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1380px;margin:2em auto;\
padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.7em}h2{margin-top:2em;border-bottom:1px solid #ddd;\
padding-bottom:.2em}figure{display:inline-block;vertical-align:top;margin:.6em .8em .6em 0;max-width:100%}\
figure svg,figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.86em;color:#444;\
max-width:680px}.files{font-size:.8em;color:#666}.files a{color:#36c;margin-right:.6em}table{border-collapse:collapse;\
margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}\
td:first-child,th:first-child{text-align:left}.note{background:#fff6dd;border-left:4px solid #e0b040;padding:.5em .8em;\
margin:.8em 0}.fail{background:#fde8e8;border-left:4px solid #d04040;padding:.5em .8em;margin:.8em 0}\
caption{caption-side:bottom;font-size:.85em;color:#555;text-align:left;padding-top:.3em}code{background:#f4f4f4;\
padding:0 .2em}img.pixelated{image-rendering:pixelated}";

/// The `<svg ...>` element of an SVG document (drops an XML declaration or doctype, which HTML does not allow).
fn svg_element(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

impl Document {
    pub fn new(title: &str) -> Self {
        Document { title: title.to_string(), ..Default::default() }
    }

    /// A heading (level 1–4).
    pub fn heading(&mut self, level: u8, text: &str, id: Option<&str>) {
        let l = level.clamp(1, 4);
        let id = id.map(|i| format!(" id=\"{}\"", escape(i))).unwrap_or_default();
        let _ = writeln!(self.body, "<h{l}{id}>{}</h{l}>", escape(text));
    }

    /// A paragraph of plain text (escaped).
    pub fn paragraph(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p>{}</p>", escape(text));
    }

    /// A paragraph of trusted HTML (not escaped; the caller escapes any data it inserts).
    pub fn html(&mut self, html: &str) {
        self.body.push_str(html);
        self.body.push('\n');
    }

    /// A highlighted note (e.g. a stage left out and why).
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.body, "<div class=\"note\">{}</div>", escape(text));
    }

    /// A highlighted failure message.
    pub fn failure(&mut self, text: &str) {
        let _ = writeln!(self.body, "<div class=\"fail\">{}</div>", escape(text));
    }

    fn file_links(&mut self, files: &[String]) -> String {
        if files.is_empty() {
            return String::new();
        }
        let mut s = String::from("<div class=\"files\">data: ");
        for f in files {
            let _ = write!(s, "<a href=\"{}\">{}</a>", escape(f), escape(f));
            self.links.push(f.clone());
        }
        s.push_str("</div>");
        s
    }

    /// Figures side by side (wrapping on narrow screens).
    pub fn figures(&mut self, figs: Vec<Figure>) {
        self.body.push_str("<div class=\"row\">\n");
        for f in figs {
            let links = self.file_links(&f.files);
            let _ = writeln!(
                self.body,
                "<figure id=\"{}\">{}<figcaption>{}{}</figcaption></figure>",
                escape(&f.id),
                svg_element(&f.svg),
                escape(&f.caption),
                links
            );
            self.figures.push(FigureInfo { id: f.id, kind: "svg", files: f.files });
        }
        self.body.push_str("</div>\n");
    }

    /// A PNG image embedded as a data URI, shown at `scale` times its pixel size without smoothing.
    pub fn png(&mut self, id: &str, png: &[u8], alt: &str, caption: &str, files: Vec<String>, width_px: Option<u32>) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        let links = self.file_links(&files);
        let width = width_px.map(|w| format!(" width=\"{w}\"")).unwrap_or_default();
        let _ = writeln!(
            self.body,
            "<figure id=\"{}\"><img class=\"pixelated\" alt=\"{}\"{width} src=\"data:image/png;base64,{b64}\">\
             <figcaption>{}{}</figcaption></figure>",
            escape(id),
            escape(alt),
            escape(caption),
            links
        );
        self.figures.push(FigureInfo { id: id.to_string(), kind: "png", files });
    }

    /// A table of text cells (escaped), with a caption and optional data files.
    pub fn table(&mut self, id: &str, caption: &str, header: &[&str], rows: &[Vec<String>], files: Vec<String>) {
        let links = self.file_links(&files);
        let mut s = format!("<table id=\"{}\"><caption>{}{}</caption><tr>", escape(id), escape(caption), links);
        for h in header {
            let _ = write!(s, "<th>{}</th>", escape(h));
        }
        s.push_str("</tr>");
        for r in rows {
            s.push_str("<tr>");
            for c in r {
                let _ = write!(s, "<td>{}</td>", escape(c));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
        self.body.push_str(&s);
        self.body.push('\n');
        self.figures.push(FigureInfo { id: id.to_string(), kind: "table", files });
    }

    /// Everything placed so far, in order.
    pub fn figure_list(&self) -> &[FigureInfo] {
        &self.figures
    }

    /// Every relative path the page links to (data files, SVG files), in order of appearance, without repeats.
    pub fn linked_files(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.links {
            if !out.contains(l) {
                out.push(l.clone());
            }
        }
        out
    }

    /// The complete page.
    pub fn to_html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
             <body>\n{}</body>\n</html>\n",
            escape(&self.title),
            self.body
        )
    }

    /// Writes the page atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        output::write_bytes(path, self.to_html().as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    /// Whether the SVG holds a text element with exactly this text (plotters puts it on its own line).
    fn has_text(svg: &str, t: &str) -> bool {
        svg.contains(&format!(">\n{t}\n<")) || svg.contains(&format!(">{t}<"))
    }

    #[test]
    fn xy_chart_draws_every_finite_point_and_error_bar() {
        let pts: Vec<Point> =
            (1..=5).map(|i| Point::with_interval(i as f64, i as f64 * 1.1, i as f64, i as f64 * 1.2)).collect();
        let mut with_nan = pts.clone();
        with_nan.push(Point::new(6.0, f64::NAN));
        let c = XyChart::new("dimension", Axis::linear("true"), Axis::linear("estimated"))
            .series(Series::new("mle", with_nan, Style::Markers))
            .series(Series::new("truth", vec![Point::new(0.0, 0.0), Point::new(7.0, 7.0)], Style::Dashed));
        let svg = xy_chart(&c).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        // 5 markers + 1 legend marker; the NaN point is left out.
        assert_eq!(count(&svg, "<circle"), 6, "{svg}");
        assert!(has_text(&svg, "dimension") && has_text(&svg, "mle") && has_text(&svg, "truth"), "{svg}");
        // Same input, same bytes.
        assert_eq!(svg, xy_chart(&c).unwrap());
    }

    #[test]
    fn log_axis_drops_non_positive_values_and_labels_original_units() {
        let pts = vec![Point::new(1.0, 0.01), Point::new(2.0, 100.0), Point::new(3.0, 0.0), Point::new(4.0, -1.0)];
        let c = XyChart::new("log", Axis::linear("x"), Axis::log("y"))
            .series(Series::new("", pts, Style::Markers))
            .legend(Legend::None);
        let svg = xy_chart(&c).unwrap();
        assert_eq!(count(&svg, "<circle"), 2);
        // Tick labels are in data units (powers of ten), not in log10 units.
        assert!(has_text(&svg, "100") && has_text(&svg, "0.01"), "{svg}");
        let empty = XyChart::new("nothing", Axis::linear("x"), Axis::log("y")).series(Series::new(
            "",
            vec![Point::new(1.0, -1.0)],
            Style::Markers,
        ));
        assert!(matches!(xy_chart(&empty), Err(ReportError::NoData { .. })));
    }

    #[test]
    fn right_legend_widens_the_chart_and_lists_every_labelled_series() {
        let line = |i: f64| vec![Point::new(0.0, i), Point::new(1.0, i + 1.0)];
        let c = XyChart::new("curves", Axis::linear("k"), Axis::linear("d"))
            .size(400, 300)
            .legend(Legend::Right)
            .series(Series::new("p = 1", line(1.0), Style::LineAndMarkers))
            .series(Series::new("", line(1.0), Style::Dashed))
            .series(Series::new("p = 2", line(2.0), Style::Line));
        let svg = xy_chart(&c).unwrap();
        assert!(svg.starts_with(&format!("<svg width=\"{}\"", 400 + LEGEND_WIDTH)), "{}", &svg[..60]);
        assert!(has_text(&svg, "p = 1") && has_text(&svg, "p = 2"));
        // Markers of the one LineAndMarkers series only (the legend panel draws lines for line series).
        assert_eq!(count(&svg, "<circle"), 2);
    }

    #[test]
    fn box_chart_has_one_box_per_group_and_all_dots() {
        let g = vec![
            BoxGroup { label: "natural".into(), values: (0..20).map(|i| 1.0 + i as f64 * 0.01).collect() },
            BoxGroup { label: "noise".into(), values: (0..10).map(|i| 5.0 + i as f64 * 0.1).collect() },
        ];
        let svg = box_chart("knn", &Axis::linear("score"), &g, 600).unwrap();
        assert_eq!(count(&svg, "<circle"), 30);
        assert_eq!(count(&svg, "<rect") - 1, 2, "background + 2 boxes");
        assert!(has_text(&svg, "natural") && has_text(&svg, "noise"), "{svg}");
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.25), 1.75);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn document_links_escapes_and_embeds() {
        let mut d = Document::new("A <demo>");
        d.heading(2, "Stage 1 & 2", Some("s1"));
        d.paragraph("x < y");
        let svg = "<?xml version=\"1.0\"?><svg width=\"10\" height=\"10\"></svg>".to_string();
        d.figures(vec![Figure {
            id: "f1".into(),
            svg,
            caption: "cap".into(),
            files: vec!["plots/a.csv".into(), "plots/f1.svg".into()],
        }]);
        d.png("gallery", &[137, 80, 78, 71], "fooling images", "gallery", vec!["plots/a.csv".into()], Some(320));
        d.table("t", "flip rates", &["a", "b"], &[vec!["1".into(), "<2>".into()]], vec![]);
        let html = d.to_html();
        assert!(html.contains("<title>A &lt;demo&gt;</title>"));
        assert!(html.contains("Stage 1 &amp; 2") && html.contains("x &lt; y") && html.contains("&lt;2&gt;"));
        assert!(!html.contains("<?xml"), "XML declarations are not valid inside HTML");
        assert!(html.contains("src=\"data:image/png;base64,iVBORw==\""));
        assert_eq!(d.linked_files(), vec!["plots/a.csv".to_string(), "plots/f1.svg".to_string()]);
        assert_eq!(d.figure_list().len(), 3);
        assert!(!html.contains("http://") && !html.contains("https://"), "self-contained");
        let dir = tempfile::tempdir().unwrap();
        d.write(&dir.path().join("r.html")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("r.html")).unwrap(), html);
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(format_tick(0.5), "0.5");
        assert_eq!(format_tick(2.0), "2");
        assert_eq!(format_tick(12.34), "12.3");
        assert_eq!(format_tick(1234.0), "1234");
        assert_eq!(format_tick(0.0001), "1.0e-4");
    }
}
