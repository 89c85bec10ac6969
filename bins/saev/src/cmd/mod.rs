//! One module per subcommand.

pub mod shards;
