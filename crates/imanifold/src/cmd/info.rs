//! `imanifold info INPUT`: what a collection holds.

use std::path::PathBuf;

use clap::Args as ClapArgs;
use dataset::Column;
use serde_json::json;

use super::common::InputArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Image folder (with optional manifest.csv), render output folder, .npy file or MNIST *-idx3-ubyte[.gz] file.
    pub input: PathBuf,
    #[command(flatten)]
    pub input_args: InputArgs,
    /// Print the description as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let ds = a.input_args.load(&a.input)?;
    let (lo, hi) = ds.value_range();
    let duplicates = knn::duplicate_rows(ds.data.view());
    let columns: Vec<serde_json::Value> = ds
        .columns
        .iter()
        .map(|(name, c)| match c {
            Column::Numeric(v) => {
                let (mn, mx) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
                json!({"name": name, "kind": "numeric", "min": output::json_f64(mn), "max": output::json_f64(mx)})
            }
            Column::Text(v) => {
                let mut distinct: Vec<&String> = v.iter().collect();
                distinct.sort();
                distinct.dedup();
                json!({"name": name, "kind": "text", "distinct": distinct.len()})
            }
        })
        .collect();
    let summary = json!({
        "source": ds.source,
        "n": ds.n(),
        "d": ds.d(),
        "image_shape": ds.shape.map(|s| json!({"height": s.height, "width": s.width, "channels": s.channels})),
        "value_range": [lo, hi],
        "duplicate_rows": duplicates.len(),
        "first_duplicates": duplicates.iter().take(10).map(|&i| &ds.ids[i]).collect::<Vec<_>>(),
        "columns": columns,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("source          {}", ds.source.display());
    println!("rows (n)        {}", ds.n());
    println!("columns (d)     {}", ds.d());
    match ds.shape {
        Some(s) => println!("image shape     {} x {} pixels, {} channel(s)", s.width, s.height, s.channels),
        None => println!("image shape     (not images)"),
    }
    println!("value range     [{lo}, {hi}]");
    println!("duplicate rows  {}", duplicates.len());
    for c in &columns {
        println!("manifest column {}", c);
    }
    Ok(())
}
