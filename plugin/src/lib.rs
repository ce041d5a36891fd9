//! widen as an audio plugin: CLAP (clack-plugin) and VST3 (the `vst3` crate) from one cdylib,
//! both driving the shared streaming engine ([`widen_core::engine::RealtimeEngine`]) through
//! one format-independent [`processor::Processor`].
//!
//! - [`params`]: the parameter table, values shared between threads, versioned state.
//! - [`processor`]: band-limit stage, real-time engine per channel with dry fallback, mix,
//!   gain, bypass, meters; everything allocated at activation.
//! - `clap_plugin` / `vst3_plugin`: the two front ends.
//!
//! `unsafe` appears only where a plugin ABI or the CPU needs it: the MXCSR flush-to-zero guard,
//! the allocation probe's `GlobalAlloc` and the VST3 COM glue; the CLAP side is safe code on clack's wrappers.

pub mod alloc_probe;
pub mod clap_plugin;
mod denormals;
mod locate;
pub mod params;
pub mod processor;
pub mod vst3_plugin;

/// Plugin id (CLAP) and stable identity.
pub const PLUGIN_ID: &str = "org.widen.widen";
/// Display name.
pub const PLUGIN_NAME: &str = "widen";
/// Vendor shown by hosts.
pub const VENDOR: &str = "widen";

clack_plugin::clack_export_entry!(clack_plugin::entry::SinglePluginEntry<clap_plugin::WidenClap>);
