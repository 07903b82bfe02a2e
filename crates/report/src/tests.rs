//! Tests of the charts and the page.

use super::*;
use crate::axis::Axis;

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
