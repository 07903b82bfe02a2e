//! The geodesic pipeline on a loaded collection: the memory check, grey frames for the flow metric and the named
//! manifest columns, then [`crate::run`] — the one path the CLI and the Python package take.

use dataset::limits::{available_memory, Bytes};
use dataset::{Column, Dataset};
use ndarray::{Array2, Axis};

use crate::{
    memory_needed, GeodesicError, GeodesicInput, GeodesicOptions, GeodesicReport, Metric, NamedColumn, Progress,
};

/// Refuses a run whose matrices cannot fit in the memory available, before allocating them.
pub fn check_memory(n: usize, options: &GeodesicOptions) -> crate::Result<()> {
    let needed = memory_needed(n, options);
    let available = available_memory() as u128;
    if needed > available {
        let what = if options.sources.is_none() { "n × n" } else { "sources × n" };
        return Err(GeodesicError::Memory { n, needed: Bytes(needed), what, available: Bytes(available) });
    }
    Ok(())
}

/// Grey frames (h × w) of every row; `None` for a plain matrix.
pub fn gray_frames(ds: &Dataset) -> crate::Result<Option<Vec<Array2<f32>>>> {
    let Some(shape) = ds.shape else { return Ok(None) };
    (0..ds.n())
        .map(|i| {
            let img = ds.image(i).expect("rows are images");
            if shape.channels == 1 {
                Ok(img.index_axis(Axis(2), 0).to_owned())
            } else {
                optical_flow::to_gray(img).map_err(|source| GeodesicError::Gray { id: ds.ids[i].clone(), source })
            }
        })
        .collect::<crate::Result<Vec<_>>>()
        .map(Some)
}

/// [`crate::run`] on a loaded collection: checks the memory the matrices need, converts the images to grey when the
/// metric is flow, and passes the numeric manifest columns (for `truth`) by name.
pub fn run_dataset(ds: &Dataset, options: &GeodesicOptions, progress: &dyn Progress) -> crate::Result<GeodesicReport> {
    check_memory(ds.n(), options)?;
    let frames = if options.metric == Metric::Flow { gray_frames(ds)? } else { None };
    let columns: Vec<NamedColumn> = ds
        .columns
        .iter()
        .map(|(name, col)| NamedColumn {
            name,
            values: match col {
                Column::Numeric(v) => Some(v.as_slice()),
                Column::Text(_) => None,
            },
        })
        .collect();
    let input = GeodesicInput { data: ds.data.view(), frames: frames.as_deref(), columns: &columns };
    let ends = match &options.path {
        Some(p) => Some((crate::path::resolve(&p.from, &ds.ids)?, crate::path::resolve(&p.to, &ds.ids)?)),
        None => None,
    };
    let mut report = crate::run(input, options, progress)?;
    if let (Some(p), Some((from, to))) = (&options.path, ends) {
        let t = std::time::Instant::now();
        report.path = Some(path_of(ds, options, p, &report, from, to)?);
        report.timings.push(("path", t.elapsed().as_secs_f64()));
    }
    Ok(report)
}

/// The shortest path between two rows on the report's graph, its parameter errors and its image sequence.
fn path_of(
    ds: &Dataset,
    options: &GeodesicOptions,
    p: &crate::path::PathOptions,
    report: &GeodesicReport,
    from: usize,
    to: usize,
) -> crate::Result<crate::path::PathReport> {
    let (nodes, steps) = crate::path::shortest_path(ds.n(), &report.edges, from, to)?.ok_or_else(|| {
        GeodesicError::Param(format!(
            "no path from {} to {}: they lie in different components of the graph ({} components; raise --k)",
            ds.ids[from], ds.ids[to], report.components
        ))
    })?;
    let mut columns = Vec::new();
    for name in &options.truth {
        // run() has checked that each truth column exists, is numeric and finite.
        if let Some(Column::Numeric(v)) = ds.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c) {
            let period = options.periodic.iter().rev().find(|q| &q.name == name).map_or(f64::INFINITY, |q| q.period);
            columns.push((name.clone(), v.as_slice(), period));
        }
    }
    let errors = crate::path::column_errors(&nodes, &steps, &columns);
    let frames = if ds.shape.is_some() {
        let image = |r: usize| ds.image(r).expect("rows are images").to_owned();
        crate::path::path_frames(&nodes, &image, p.frames, &optical_flow::FlowParams::new(options.flow_method.clone()))?
    } else {
        Vec::new()
    };
    let (rendered_truth, rendered_truth_skipped) = match crate::render_truth::RenderSource::find(&ds.source) {
        _ if frames.is_empty() => (None, None),
        Ok(None) => (None, None),
        Ok(Some(source)) => match true_path(ds, options, &source, (from, to), &steps, &frames) {
            Ok(truth) => (Some((source, truth)), None),
            Err(why) => (None, Some(why)),
        },
        Err(why) => (None, Some(why)),
    };
    Ok(crate::path::PathReport {
        from,
        to,
        length: steps.iter().sum(),
        nodes,
        steps,
        errors,
        frames,
        rendered_truth,
        rendered_truth_skipped,
    })
}

/// The renderer's true path beside the path's frames ([`crate::render_truth`]): every free parameter of the render
/// must be a numeric manifest column; for a scene with classes both ends must show the same class.
fn true_path(
    ds: &Dataset,
    options: &GeodesicOptions,
    source: &crate::render_truth::RenderSource,
    ends: (usize, usize),
    steps: &[f64],
    frames: &[crate::path::PathFrame],
) -> std::result::Result<crate::render_truth::RenderedTruth, String> {
    let column = |name: &str| match ds.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c) {
        Some(Column::Numeric(v)) => Ok(v.as_slice()),
        _ => Err(format!("the render's free parameter `{name}` is not a numeric column of the manifest")),
    };
    let columns: Vec<(&[f64], f64)> = source
        .free
        .iter()
        .map(|(n, i)| Ok((column(n)?, source.period(n, *i, &options.periodic))))
        .collect::<std::result::Result<_, String>>()?;
    let label = if source.scene.classes().is_empty() {
        None
    } else {
        let labels = column("label")?;
        if labels[ends.0] != labels[ends.1] {
            return Err("the endpoints show different classes: no rendered path joins them".into());
        }
        Some(labels[ends.0] as usize)
    };
    let positions: Vec<f64> = frames.iter().map(|f| f.position).collect();
    let images: Vec<&ndarray::Array3<f32>> = frames.iter().map(|f| &f.image).collect();
    crate::render_truth::render_true_path(source, &columns, label, ends, steps, &positions, &images)
}
