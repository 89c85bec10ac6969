//! One module per subcommand.

pub mod activations;
pub mod bench;
pub mod datasets;
pub mod device;
pub mod marimo;
pub mod probe;
pub mod reproduce;
pub mod sae;
pub mod serve;
pub mod shards;
pub mod steer;
pub mod train;
pub mod visuals;
