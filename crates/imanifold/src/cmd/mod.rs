//! One module per subcommand: `Args` (clap) and `run(Args) -> anyhow::Result<()>`.

pub mod bench;
pub mod common;
pub mod info;
pub mod neighbors;
