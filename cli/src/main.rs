//! `widen`: the one user-facing program.
fn main() {}
