//! One module per subcommand.

pub mod activations;
pub mod bench;
pub mod datasets;
pub mod device;
pub mod shards;
pub mod train;
