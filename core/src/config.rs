//! The mel/STFT/metric constants of widen, in one place.
//!
//! Nothing else in the workspace re-derives these numbers: the DSP, the metrics,
//! the trainer and the model sidecar validation all read them from here.

/// Sample rate of the wide-band domain every model works in (Hz).
pub const SAMPLE_RATE: u32 = 22_050;
/// Sample rate of narrow-band input that the project targets (Hz).
pub const NARROW_BAND_RATE: u32 = 8_000;
/// STFT size of the seed's mel configuration.
pub const N_FFT: usize = 1024;
/// Hop between STFT frames (samples at [`SAMPLE_RATE`]).
pub const HOP: usize = 256;
/// Analysis window length (periodic Hann).
pub const WIN: usize = 1024;
/// Number of mel bands.
pub const N_MELS: usize = 80;
/// Lowest mel band edge (Hz).
pub const F_MIN: f32 = 0.0;
/// Highest mel band edge (Hz): Nyquist of [`SAMPLE_RATE`].
pub const F_MAX: f32 = 11_025.0;
/// Clamp applied before the natural log of the mel magnitudes.
pub const LOG_CLAMP: f32 = 1e-5;

/// Which mel scale the filterbank uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelScale {
    /// `2595 * log10(1 + f / 700)` (the seed's and Vocos' choice).
    Htk,
    /// Slaney's piecewise linear/log scale.
    Slaney,
}

/// Full description of a mel front end. [`MelConfig::default`] is the seed's configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MelConfig {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub win: usize,
    pub n_mels: usize,
    pub f_min: f32,
    pub f_max: f32,
    pub scale: MelScale,
    /// Slaney area normalisation of the filters (`false` for the seed).
    pub area_norm: bool,
    /// Power of the magnitude spectrogram (1.0 = magnitude, 2.0 = power).
    pub power: f32,
    /// Clamp before the natural log.
    pub log_clamp: f32,
}

impl Default for MelConfig {
    fn default() -> Self {
        Self {
            sample_rate: SAMPLE_RATE,
            n_fft: N_FFT,
            hop: HOP,
            win: WIN,
            n_mels: N_MELS,
            f_min: F_MIN,
            f_max: F_MAX,
            scale: MelScale::Htk,
            area_norm: false,
            power: 1.0,
            log_clamp: LOG_CLAMP,
        }
    }
}

impl MelConfig {
    /// Number of one-sided STFT bins (`n_fft / 2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// The low-latency model set's front end: the seed's mel bands over a shorter STFT
    /// ([`low_latency::N_FFT`] / [`low_latency::HOP`]), so the window costs half the delay.
    pub fn low_latency() -> Self {
        Self {
            n_fft: low_latency::N_FFT,
            hop: low_latency::HOP,
            win: low_latency::WIN,
            ..Self::default()
        }
    }
}

/// STFT of the low-latency model set (DESIGN.md, "Latency budget"); everything else as [`MelConfig::default`].
pub mod low_latency {
    /// STFT size.
    pub const N_FFT: usize = 512;
    /// Hop between frames.
    pub const HOP: usize = 128;
    /// Window length.
    pub const WIN: usize = 512;
    /// Most future frames a low-latency set may look at, generator and vocoder together.
    pub const MAX_LOOKAHEAD_FRAMES: usize = 2;
}

/// The model contract (DESIGN.md, "Model contract").
pub mod model {
    /// The `widen.json` format this build reads and writes.
    pub const FORMAT_VERSION: u32 = 1;
    /// File name of the sidecar in a model folder.
    pub const SIDECAR_FILE: &str = "widen.json";
    /// Generator input: log-mel of the upsampled narrow-band input, `[B, n_mels, T]`.
    pub const GENERATOR_INPUT: &str = "mel_lr";
    /// Generator output: predicted wide-band log-mel, `[B, n_mels, T]`.
    pub const GENERATOR_OUTPUT: &str = "mel_hr";
    /// Vocoder input, `[B, n_mels, T]`.
    pub const VOCODER_INPUT: &str = "mel";
    /// Vocoder outputs (magnitude, cosine and sine of the phase), each `[B, n_fft / 2 + 1, T]`.
    pub const VOCODER_OUTPUTS: [&str; 3] = ["mag", "cos", "sin"];
    /// Upper bound of the vocoder magnitude (Vocos clips `exp(x)` here).
    pub const MAG_MAX: f32 = 1e2;
    /// Largest left or right context (frames) a sidecar may declare; beyond this a model is
    /// more likely a typo than a network (512 frames = 5.9 s at hop 256).
    pub const MAX_CONTEXT_FRAMES: usize = 512;
    /// Default splice point for narrow-band input (Hz): telephone band edge.
    pub const DEFAULT_CUTOFF_HZ: f32 = 4_000.0;
    /// Width of the default cross-fade across the splice point (Hz; 8 bins at n_fft 1024).
    pub const DEFAULT_CROSSOVER_HZ: f32 = 172.0;
}

/// Log-spectral distance settings (DESIGN.md, "Metrics").
pub mod lsd {
    /// STFT size of the LSD analysis.
    pub const N_FFT: usize = 2048;
    /// Hop of the LSD analysis.
    pub const HOP: usize = 512;
    /// Power clamp before log10.
    pub const POWER_CLAMP: f64 = 1e-8;
    /// Bins strictly above this frequency form the high band (LSD-HF).
    pub const HIGH_BAND_HZ: f64 = 4_000.0;
}

/// PESQ wide-band (ITU-T P.862.2) runs at this rate.
pub const PESQ_RATE: u32 = 16_000;
/// STOI runs at this rate.
pub const STOI_RATE: u32 = 10_000;
/// `widen eval` searches for a constant lag up to this many samples either way.
pub const MAX_EVAL_LAG: usize = 2048;

/// Streaming-engine settings that belong to the engine rather than to a model sidecar.
pub mod engine {
    /// Input samples per internal call of each engine resampler. Fixed (not the host's block
    /// size) so that the engine's output never depends on how the input was split; small so
    /// that it adds little latency (it enters the latency formula as `RESAMPLER_CHUNK - 1`).
    pub const RESAMPLER_CHUNK: usize = 32;
    /// Frames per model call of an engine built from a model set
    /// ([`engine_config_for`](crate::engine::engine_config_for)): each call recomputes the
    /// models' context, so larger chunks are cheaper per frame but add
    /// `(chunk - 1) * hop` samples of latency.
    pub const DEFAULT_CHUNK_FRAMES: usize = 16;
    /// Per frame, the generated band's energy may be at most this times the energy of the
    /// input's own band below the cutoff (1.0 = equal energy): silence in gives silence out, and
    /// an untrained or broken model cannot blast noise.
    pub const HIGH_BAND_MAX_ENERGY_RATIO: f32 = 1.0;
    /// Largest predicted log-mel value turned back into a magnitude (`exp(20)` ~ 4.9e8): keeps
    /// `exp` finite; the energy limit does the real bounding.
    pub const MAX_LOG_MEL: f32 = 20.0;
    /// Largest model context (left or right, frames) and chunk (frames) accepted.
    pub const MAX_CONTEXT_FRAMES: usize = 4096;
    /// Largest block (samples) an engine accepts per call.
    pub const MAX_BLOCK: usize = 1 << 20;
    /// Cross-fade length (samples at the device rate) of the real-time wrapper between the
    /// enhanced and the dry signal when the worker is late (~5 ms at 48 kHz).
    pub const RT_CROSSFADE: usize = 256;
    /// The real-time wrapper's input queue holds at least this many seconds of audio before
    /// a stalled worker forces a resynchronisation.
    pub const RT_QUEUE_SECONDS: u32 = 4;
}

/// Settings of whole-file enhancement (`widen enhance`).
pub mod enhance {
    /// Frames per model call when enhancing files: latency does not matter offline, and larger
    /// chunks spend less of each call on the models' context frames (the output does not
    /// depend on it). Short files use smaller chunks (at least [`MIN_CHUNK_FRAMES`]). 512: on
    /// 60 s of speech the quality set runs 150x real time at 128 and 163x at 512, 1024 is no
    /// faster (`cargo xtask bench`, chunk sweep in docs/BENCHMARKS.md): the context frames'
    /// share shrinks while the last chunk's padding grows.
    pub const CHUNK_FRAMES: usize = 512;
    /// Smallest chunk used for short files.
    pub const MIN_CHUNK_FRAMES: usize = 16;
    /// With more than one thread, files at least this long (seconds) are cut into segments
    /// that one single-threaded engine per thread enhances in parallel
    /// (`engine::ParallelStream`, same output); shorter ones get one engine whose model calls
    /// use the threads (the segments' pre-roll would cost more than the parallelism saves).
    pub const PARALLEL_MIN_SECONDS: f64 = 10.0;
    /// Frames read, enhanced and written per step (bounds memory on hour-long files).
    pub const BLOCK_FRAMES: usize = 1 << 15;
    /// A file whose bandwidth verdict is wide-band and whose detected cutoff is above this
    /// (Hz) is passed through (resampled only) unless `--force`.
    pub const PASS_THROUGH_CUTOFF_HZ: f64 = 7_000.0;
    /// Lowest splice point an automatic cutoff may give (Hz): below it the input is not speech
    /// with a missing high band but something the models were not made for.
    pub const MIN_AUTO_CUTOFF_HZ: f64 = 1_000.0;
    /// Default output rate floor (Hz): the models' rate; higher input rates are kept.
    pub const MIN_OUTPUT_RATE: u32 = super::SAMPLE_RATE;
}

/// Tensor names of the ONNX model contract (DESIGN.md, "Model contract").
pub mod contract {
    /// Generator input: log-mel of the up-sampled narrow-band input, `[B, n_mels, T]`.
    pub const GENERATOR_INPUT: &str = "mel_lr";
    /// Generator output: predicted wide-band log-mel, `[B, n_mels, T]`.
    pub const GENERATOR_OUTPUT: &str = "mel_hr";
    /// Vocoder input: log-mel, `[B, n_mels, T]`.
    pub const VOCODER_INPUT: &str = "mel";
    /// Vocoder output: STFT magnitude, `[B, n_fft / 2 + 1, T]`.
    pub const VOCODER_MAG: &str = "mag";
    /// Vocoder output: cosine of the STFT phase, `[B, n_fft / 2 + 1, T]`.
    pub const VOCODER_COS: &str = "cos";
    /// Vocoder output: sine of the STFT phase, `[B, n_fft / 2 + 1, T]`.
    pub const VOCODER_SIN: &str = "sin";
}

/// Settings of the CLAP/VST3 plugin (`plugin/`).
pub mod plugin {
    /// Frames per model call in the plugin's low-latency mode: one hop, the lowest latency;
    /// per-hop inference is far below the hop period (README benchmarks), so the worker keeps up.
    pub const CHUNK_FRAMES: usize = 1;
    /// Frames per model call in the quality mode. Each call recomputes the generator's 40 + 40
    /// frames of context, so one frame per call cost a third of a core and late blocks; eight
    /// cut that about fivefold for 7 hops (81 ms) more on a latency of about half a second.
    pub const QUALITY_CHUNK_FRAMES: usize = 8;
    /// Largest host block the plugin accepts per call; longer blocks are split.
    pub const MAX_BLOCK: usize = 8192;
    /// Lowest and highest host sample rates the plugin supports (Hz).
    pub const MIN_RATE_HZ: u32 = 22_050;
    /// See [`MIN_RATE_HZ`].
    pub const MAX_RATE_HZ: u32 = 192_000;
    /// Ramp time of parameter smoothing and of the bypass / band-limit cross-fades (ms).
    pub const SMOOTHING_MS: f64 = 20.0;
    /// Internal chunk (input samples) of the band-limit resamplers (small: it adds latency).
    pub const BAND_LIMIT_CHUNK: usize = 32;
    /// Corner of the high-pass filter the high-band meter measures above (Hz).
    pub const METER_HIGHPASS_HZ: f64 = 5_000.0;
    /// Time constant of the high-band meter's energy averages (s).
    pub const METER_SECONDS: f64 = 0.3;
    /// In offline rendering the audio thread may wait this long for a late worker before
    /// playing the block dry (s).
    pub const OFFLINE_WAIT_SECONDS: f64 = 5.0;
}

/// `widen live` (daemon/).
pub mod live {
    /// Frames per model call in the live engine: every hop runs both models, so the latency is
    /// the models' lookahead and nothing more (larger chunks add `(chunk - 1) * hop`).
    pub const CHUNK_FRAMES: usize = 1;
    /// Frames per model call in the quality mode (see `plugin::QUALITY_CHUNK_FRAMES`).
    pub const QUALITY_CHUNK_FRAMES: usize = 8;
    /// Wet/dry cross-fade of the live real-time engine in low-latency mode when its worker is
    /// late (ms; part of the latency; quality mode keeps the default). Shorter than the plugin's
    /// [`RT_CROSSFADE`](super::engine::RT_CROSSFADE): wet and dry carry the same low band, so
    /// the fade only moves the generated band (above about 4 kHz: 1.5 ms is 6 of its periods).
    pub const RT_CROSSFADE_MS: f64 = 1.5;
    /// SCHED_FIFO priority asked for the engine worker thread (where the system allows it):
    /// the lowest real-time priority, so the worker preempts every normal thread (a busy
    /// machine no longer delays it past its deadline) and never an audio server's threads.
    pub const WORKER_RT_PRIORITY: u8 = 1;
    /// Blocks of worker margin beyond the one every real-time engine has (see
    /// `RealtimeOptions::extra_margin`): an audio server whose cycle ran late runs the next one
    /// at once (JACK's dummy driver 0.2 ms later on a busy VM), so a worker that only had until
    /// the next call had almost no time for the late cycle's block. With one more block it has
    /// until the call after next: at least one period.
    pub const WORKER_CATCH_UP_BLOCKS: usize = 1;
    /// From this period on (ms) the worker margin spans at least [`LONG_PERIOD_MARGIN_MS`].
    /// Shorter periods are the low-latency settings: there the margin stays at two blocks (the
    /// real-time engine's own and the catch-up block), which keeps 48 kHz / 128 frames within
    /// the 50 ms end-to-end target, and the worker may be late (dry, click-free) when the
    /// machine stalls it for longer than a period.
    pub const LONG_PERIOD_MS: f64 = 4.0;
    /// The least worker margin at periods from [`LONG_PERIOD_MS`] on (ms, in whole blocks): a
    /// (virtual) machine can stop the worker for longer than a period however fast it is. On
    /// the 2-core test VM (non-preemptible kernel, a busy neighbour) whole-system stalls of
    /// 10-70 ms came a few times in 10 minutes, and the worker sometimes came out of them later
    /// than the audio server: at 256 frames two blocks of margin gave 10-22 late blocks in 10
    /// minutes, three blocks 0-2, four (21 ms) none, with 5 ms to spare at the closest.
    pub const LONG_PERIOD_MARGIN_MS: f64 = 20.0;
}
