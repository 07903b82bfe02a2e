//! One module per subcommand: `Args` (clap) and `run(Args) -> anyhow::Result<()>`.

pub mod adversarial;
pub mod bench;
pub mod bench_dim;
pub mod classifier;
pub mod common;
pub mod demo;
pub mod dim;
pub mod flow;
pub mod fool;
pub mod geodesic;
pub mod info;
pub mod interpolate;
pub mod neighbors;
pub mod render;
pub mod score;
pub mod stability;
