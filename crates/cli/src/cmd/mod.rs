//! One module per subcommand.

pub mod demo;
pub mod generate;
pub mod probe;
pub mod reflect;
pub mod report;
pub mod serve;
pub mod serve_reward;
pub mod sft;
pub mod train;
pub mod verify;
