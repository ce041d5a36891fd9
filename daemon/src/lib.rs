//! `widen-daemon`: live enhancement with cpal (the `widen live` command).
//!
//! Capture -> [`RealtimeEngine`](widen_core::engine::RealtimeEngine) (inference on its worker
//! thread) -> lock-free ring -> playback, with clock sync between separate devices, a status
//! line, recovery from lost devices/servers and an optional virtual microphone.
//!
//! - [`pipeline`]: the callbacks' state (no cpal; tests drive it directly).
//! - [`sync`]: the drift controller and adaptive resampler.
//! - [`devices`]: hosts, device listing and lookup by name.
//! - [`daemon`]: streams, status, recovery ([`daemon::run`]).
//! - [`virtual_mic`]: "widen microphone" on PipeWire/PulseAudio via `pactl`.

pub mod daemon;
pub mod devices;
pub mod models;
pub mod pipeline;
pub mod stats;
pub mod sync;
pub mod virtual_mic;

pub use daemon::{run, EngineFactory, Event, LiveConfig, LiveError, Mode, SessionInfo, Summary};
pub use devices::{DeviceEntry, HostChoice};
pub use models::{LiveModels, ModelLoadError};
pub use stats::{Counters, StatusReport};
