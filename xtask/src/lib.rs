//! Library half of `cargo xtask`: what its tests check as well as its commands run.

pub mod bench;
pub mod bundle;
pub mod corpus;
pub mod default_models;
pub mod quality;
