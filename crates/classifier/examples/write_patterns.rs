//! Writes the synthetic pattern classes as a labelled image folder (PNG files + manifest.csv with `file,label`),
//! the input format of `imanifold classifier train`:
//! `cargo run --release -p classifier --example write_patterns -- OUT [N_PER_CLASS] [SIZE] [CHANNELS] [SEED]`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(args.first().ok_or("usage: write_patterns OUT [N_PER_CLASS] [SIZE] [CHANNELS] [SEED]")?);
    let num = |i: usize, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(default))
    };
    let (n, size, channels, seed) = (num(1, 50)?, num(2, 16)?, num(3, 1)?, num(4, 0)? as u64);
    let d = classifier::synthetic::patterns(n, size, channels, seed);
    let mut rows = Vec::new();
    for (i, row) in d.data.rows().into_iter().enumerate() {
        let file = format!("images/{i:05}.png");
        pixels::write_png(&out.join(&file), &row.to_vec(), d.shape)?;
        rows.push(vec![file, d.classes[d.labels[i]].clone()]);
    }
    output::write_csv(&out.join("manifest.csv"), &["file", "label"], rows)?;
    println!("wrote {} images of {} to {}", d.data.nrows(), d.shape, out.display());
    Ok(())
}
