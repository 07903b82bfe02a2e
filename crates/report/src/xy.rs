//! Line, marker and error-bar charts over two numeric axes ([`xy_chart`]).

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::{format_tick, Axis};
use crate::{color, plot_err, ReportError, Result};

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

/// A point in drawing coordinates (None when it cannot be drawn) and its interval in drawing coordinates.
type MappedPoint = (Option<(f64, f64)>, Option<(f64, f64)>);

/// Draws an [`XyChart`] and returns the SVG document (a string starting with `<svg`).
pub fn xy_chart(c: &XyChart) -> Result<String> {
    let title = c.title.as_str();
    let err = plot_err(title);
    // Mapped coordinates of everything that will be drawn.
    let mapped = map_points(c);
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
            draw_series(&mut chart, c, si, s, pts, x1 - x0)?;
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
            draw_right_legend(&legend_area, c)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// Drawing coordinates of every point and interval of every series.
fn map_points(c: &XyChart) -> Vec<Vec<MappedPoint>> {
    c.series
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
        .collect()
}

/// Lines (broken at missing points), markers and error bars of one series, with its legend entry.
fn draw_series(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    c: &XyChart,
    si: usize,
    s: &Series,
    pts: &[MappedPoint],
    x_span: f64,
) -> Result<()> {
    let err = plot_err(&c.title);
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
        let cap = 4.0 * x_span / c.width.max(1) as f64;
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
    Ok(())
}

/// The [`Legend::Right`] panel: one line per labelled series.
fn draw_right_legend(legend_area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, c: &XyChart) -> Result<()> {
    let err = plot_err(&c.title);
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
    Ok(())
}
