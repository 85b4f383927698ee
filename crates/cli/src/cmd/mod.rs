//! One module per subcommand, each with its own flags and help text.

pub mod fields;
pub mod parse;
