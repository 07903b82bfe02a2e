//! Horizontal box plots of one value per group ([`box_chart`]).

use plotters::prelude::*;

use crate::axis::{format_tick, Axis};
use crate::{color, plot_err, ReportError, Result};

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
