//! One module per subcommand.

pub mod generate;
pub mod probe;
pub mod reflect;
pub mod serve_reward;
pub mod verify;
