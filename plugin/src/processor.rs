//! The format-independent audio processor both front ends (CLAP, VST3) drive.
//!
//! Per channel:
//!
//! ```text
//! x -> sanitise -> [band-limit: 8 kHz round trip, when switched on] = x'
//!   x' -> RealtimeEngine (worker thread, dry fallback) -> wet
//!   x' -> delay(engine latency)                          -> dry
//!   out = gain * (mix * wet + (1 - mix) * dry), cross-faded with delay(x, total latency) by bypass
//! ```
//!
//! Everything is allocated in [`Processor::new`] (on the host's main thread, which is also where
//! the ONNX Runtime sessions are created); [`Processor::process`] and [`Processor::reset`] never
//! allocate, lock or make system calls, except that in offline rendering `process` may sleep
//! while waiting for the worker (offline rendering has no deadline).
//! The total latency is constant for the life of the processor and does not depend on any
//! automatable parameter, so it is reported once per activation. The band-limit stage costs
//! about 35 ms of latency, so it exists only when switched on (a change rebuilds the processor,
//! like the quality mode).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use widen_core::config::engine::RT_CROSSFADE;
use widen_core::config::plugin as cfg;
use widen_core::config::NARROW_BAND_RATE;
use widen_core::dsp::{DelayLine, StreamResampler};
use widen_core::engine::mock::{MockGenerator, MockVocoder};
use widen_core::engine::{
    engine_config_for, Engine, EngineConfig, EngineError, RealtimeEngine, RealtimeMonitor,
    ResamplerProfile, StreamProcessor, Synthesis,
};
use widen_core::model::{ModelError, ModelSet, Variant};
use widen_core::runtime::SessionOptions;

use crate::params::{EngineSettings, ParamId, Params};

/// What the host tells the plugin at activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessorConfig {
    /// Host sample rate (Hz).
    pub sample_rate: f64,
    /// Largest block the host will pass (samples; clamped to 1..=[`cfg::MAX_BLOCK`]).
    pub max_block: usize,
    /// Input channels (1 or 2).
    pub inputs: usize,
    /// Output channels (1 or 2).
    pub outputs: usize,
}

/// Why the plugin cannot enhance (it then passes the audio through dry, with the same latency).
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The host rate is outside the supported range.
    #[error("expected a sample rate of {min}..={max} Hz, found {found} Hz")]
    Rate {
        /// Lowest supported rate.
        min: u32,
        /// Highest supported rate.
        max: u32,
        /// The host's rate.
        found: f64,
    },
    /// The embedded model set or ONNX Runtime could not be loaded.
    #[error("cannot load the models: {0}")]
    Model(#[from] ModelError),
    /// The engine refused its configuration.
    #[error("cannot build the engine: {0}")]
    Engine(#[from] EngineError),
    /// A resampler refused its configuration.
    #[error("cannot build the band-limit resamplers: {0}")]
    Dsp(#[from] widen_core::dsp::DspError),
}

/// Preallocated FIFO of samples.
#[derive(Debug)]
struct Fifo {
    buf: Vec<f32>,
    head: usize,
    len: usize,
}

impl Fifo {
    fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0.0; capacity.max(1)],
            head: 0,
            len: 0,
        }
    }

    /// Appends what fits; returns how many samples did not.
    fn push(&mut self, xs: &[f32]) -> usize {
        let cap = self.buf.len();
        let n = xs.len().min(cap - self.len);
        for &x in &xs[..n] {
            let i = (self.head + self.len) % cap;
            self.buf[i] = x;
            self.len += 1;
        }
        xs.len() - n
    }

    /// Pops into `out`, zero-filling what is missing; returns how many were missing.
    fn pop(&mut self, out: &mut [f32]) -> usize {
        let cap = self.buf.len();
        let n = out.len().min(self.len);
        for y in &mut out[..n] {
            *y = self.buf[self.head];
            self.head = (self.head + 1) % cap;
        }
        self.len -= n;
        out[n..].fill(0.0);
        out.len() - n
    }

    /// Appends up to `n` zeros (as many as fit).
    fn push_zeros(&mut self, n: usize) {
        let cap = self.buf.len();
        for _ in 0..n.min(cap - self.len) {
            let i = (self.head + self.len) % cap;
            self.buf[i] = 0.0;
            self.len += 1;
        }
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// Band-limiting by a round trip through [`NARROW_BAND_RATE`], with a fixed delay.
///
/// Each resampler's own leading latency is dropped, which aligns the round trip with the
/// input; what is left is the chunk buffering and filter lookahead, bounded by `delay` (the
/// same formula the engine uses). The aligned stream waits in a FIFO pre-filled with `delay`
/// zeros, so the output is the band-limited input delayed by exactly `delay` samples for any
/// block sizes.
#[derive(Debug)]
struct BandLimiter {
    down: StreamResampler,
    up: StreamResampler,
    mid: Vec<f32>,
    up_out: Vec<f32>,
    drop_down: usize,
    drop_up: usize,
    fifo: Fifo,
    delay: usize,
    underruns: u64,
}

impl BandLimiter {
    fn new(rate: u32, max_block: usize) -> Result<Self, widen_core::dsp::DspError> {
        let chunk = cfg::BAND_LIMIT_CHUNK;
        let down = StreamResampler::new(rate, NARROW_BAND_RATE, chunk)?;
        let up = StreamResampler::new(NARROW_BAND_RATE, rate, chunk)?;
        let a1 = (chunk - 1 + down.lookahead_in_samples()) as f64;
        let a2 = (chunk - 1 + up.lookahead_in_samples()) as f64;
        // Rounding of each resampler's output count: 2 samples each (as in the engine).
        let delay = (a1 + (2.0 + a2) * rate as f64 / NARROW_BAND_RATE as f64).ceil() as usize + 2;
        let mid_cap = down.max_output_len(max_block + chunk) + chunk;
        let up_cap = up.max_output_len(mid_cap + chunk) + chunk;
        let mut s = Self {
            drop_down: down.latency_out_samples(),
            drop_up: up.latency_out_samples(),
            down,
            up,
            mid: Vec::with_capacity(mid_cap),
            up_out: Vec::with_capacity(up_cap),
            fifo: Fifo::new(delay + up_cap + max_block + chunk),
            delay,
            underruns: 0,
        };
        s.reset();
        Ok(s)
    }

    fn reset(&mut self) {
        self.down.reset();
        self.up.reset();
        self.drop_down = self.down.latency_out_samples();
        self.drop_up = self.up.latency_out_samples();
        self.fifo.clear();
        self.fifo.push_zeros(self.delay);
    }

    fn process(&mut self, x: &[f32], y: &mut [f32]) {
        self.mid.clear();
        self.up_out.clear();
        // Capacities were reserved for max_block; errors cannot happen with valid rates.
        if self.down.process(x, &mut self.mid).is_ok() {
            let d = self.drop_down.min(self.mid.len());
            self.drop_down -= d;
            let _ = self.up.process(&self.mid[d..], &mut self.up_out);
            let u = self.drop_up.min(self.up_out.len());
            self.drop_up -= u;
            self.fifo.push(&self.up_out[u..]);
        }
        self.underruns += self.fifo.pop(y) as u64;
    }
}

/// Linear ramp towards a target, reaching it exactly.
#[derive(Debug, Clone, Copy)]
struct Smoother {
    value: f32,
    target: f32,
    step: f32,
    len: f32,
}

impl Smoother {
    fn new(value: f32, len: usize) -> Self {
        Self {
            value,
            target: value,
            step: 0.0,
            len: len.max(1) as f32,
        }
    }

    fn set(&mut self, target: f32) {
        if target != self.target {
            self.target = target;
            self.step = (target - self.value) / self.len;
        }
    }

    fn snap(&mut self) {
        self.value = self.target;
        self.step = 0.0;
    }

    /// Fills `out` with the next values.
    fn fill(&mut self, out: &mut [f32]) {
        for y in out {
            if self.step != 0.0 {
                self.value += self.step;
                if (self.step > 0.0 && self.value >= self.target)
                    || (self.step < 0.0 && self.value <= self.target)
                {
                    self.snap();
                }
            }
            *y = self.value;
        }
    }
}

/// Second-order high-pass (RBJ cookbook), for the high-band meter.
#[derive(Debug, Clone, Copy)]
struct HighPass {
    b: [f32; 3],
    a: [f32; 2],
    z: [f32; 2],
}

impl HighPass {
    fn new(rate: f64, hz: f64) -> Self {
        let w = 2.0 * std::f64::consts::PI * (hz / rate).min(0.45);
        let (s, c) = w.sin_cos();
        let alpha = s / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let b0 = (1.0 + c) / 2.0 / a0;
        Self {
            b: [b0 as f32, (-(1.0 + c) / a0) as f32, b0 as f32],
            a: [(-2.0 * c / a0) as f32, ((1.0 - alpha) / a0) as f32],
            z: [0.0; 2],
        }
    }

    /// Energy of the filtered block.
    fn energy(&mut self, x: &[f32]) -> f64 {
        let mut e = 0.0f64;
        for &v in x {
            let y = self.b[0] * v + self.z[0];
            self.z[0] = self.b[1] * v - self.a[0] * y + self.z[1];
            self.z[1] = self.b[2] * v - self.a[1] * y;
            e += (y as f64) * (y as f64);
        }
        if !e.is_finite() {
            self.z = [0.0; 2];
            return 0.0;
        }
        e
    }

    fn clear(&mut self) {
        self.z = [0.0; 2];
    }
}

/// One processed channel.
struct Channel {
    rt: Option<RealtimeEngine>,
    monitor: Option<RealtimeMonitor>,
    band: Option<BandLimiter>,
    dry: DelayLine,
    bypass: DelayLine,
    x: Vec<f32>,
    xb: Vec<f32>,
    wet: Vec<f32>,
    drybuf: Vec<f32>,
    hp_wet: HighPass,
    hp_dry: HighPass,
    /// Samples handed to the engine since its last (acknowledged) reset.
    pushed: u64,
    seen_resets: u64,
}

/// The plugin's audio processing for one activation (see the module docs).
pub struct Processor {
    params: Arc<Params>,
    offline: Arc<AtomicBool>,
    config: ProcessorConfig,
    settings: EngineSettings,
    max_block: usize,
    latency: usize,
    engine_latency: usize,
    channels: Vec<Channel>,
    status: Option<String>,
    mix: Smoother,
    gain: Smoother,
    byp: Smoother,
    mix_buf: Vec<f32>,
    gain_buf: Vec<f32>,
    byp_buf: Vec<f32>,
    meter_decay: f64,
    e_wet: f64,
    e_dry: f64,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("config", &self.config)
            .field("settings", &self.settings)
            .field("latency", &self.latency)
            .field("status", &self.status)
            .finish()
    }
}

/// The engine configuration the plugin uses for `settings` at `rate`.
pub fn plugin_engine_config(set: &ModelSet, settings: EngineSettings, rate: u32) -> EngineConfig {
    let mut c = engine_config_for(set, rate, rate);
    c.chunk_frames = if settings.quality {
        cfg::QUALITY_CHUNK_FRAMES
    } else {
        cfg::CHUNK_FRAMES
    };
    // Low-latency mode: the short rate-converter filter (a quarter of its lookahead).
    if !settings.quality {
        c.resampler = ResamplerProfile::LowLatency;
    }
    if let Some(hz) = settings.cutoff_hz {
        c.cutoff_hz = hz;
    }
    // Griffin-Lim cannot stream; phase copy is the streaming stand-in.
    if matches!(c.synthesis, Synthesis::GriffinLim { .. }) {
        c.synthesis = Synthesis::PhaseCopy;
    }
    c
}

/// The model set of a quality mode.
pub fn variant_of(settings: EngineSettings) -> Variant {
    if settings.quality {
        Variant::Quality
    } else {
        Variant::LowLatency
    }
}

/// Environment variable naming a folder of model sets to use instead of the embedded ones:
/// `<folder>/quality/` and `<folder>/low-latency/`, each a `widen.json` with its two ONNX files
/// (the layout of `models/default/`). Read at activation.
pub const MODELS_ENV: &str = "WIDEN_PLUGIN_MODELS";

/// The model set of `variant`: from [`MODELS_ENV`] when set, else the embedded default.
pub fn model_set(variant: Variant) -> Result<ModelSet, ModelError> {
    match std::env::var_os(MODELS_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => ModelSet::load_dir(std::path::Path::new(&dir).join(variant.as_str())),
        None => ModelSet::embedded(variant),
    }
}

/// Builds the real engine (ONNX Runtime sessions included), or explains why not.
fn build_engine(
    settings: EngineSettings,
    rate: u32,
    max_block: usize,
) -> Result<Engine, ProcessorError> {
    let set = model_set(variant_of(settings))?;
    let c = plugin_engine_config(&set, settings, rate);
    let (generator, vocoder) = set.instantiate(&SessionOptions::default())?;
    Ok(Engine::new(
        c,
        Box::new(generator),
        Some(Box::new(vocoder)),
        max_block,
    )?)
}

/// The latency the real engine would have, computed with stand-in models (no ONNX Runtime
/// needed), so that a plugin that cannot load its models reports the same latency. A model
/// folder whose sidecar cannot be read falls back to the embedded set's sidecar.
fn engine_latency_without_models(
    settings: EngineSettings,
    rate: u32,
    max_block: usize,
) -> Result<usize, ProcessorError> {
    let variant = variant_of(settings);
    let set = model_set(variant).or_else(|_| ModelSet::embedded(variant))?;
    let c = plugin_engine_config(&set, settings, rate);
    let n_mels = c.mel.n_mels;
    let voc = MockVocoder::new(&c.mel, 0, 1.0).map_err(EngineError::from)?;
    let e = Engine::new(
        c,
        Box::new(MockGenerator::new(n_mels, n_mels, 0)),
        Some(Box::new(voc)),
        max_block,
    )?;
    Ok(e.latency_samples())
}

impl Processor {
    /// Builds everything for one activation. Never fails: when the models or ONNX Runtime
    /// cannot be loaded the processor passes the input through dry (delayed by the latency it
    /// reports) and [`status`](Self::status) says why.
    pub fn new(config: ProcessorConfig, params: Arc<Params>, offline: Arc<AtomicBool>) -> Self {
        let max_block = config.max_block.clamp(1, cfg::MAX_BLOCK);
        let settings = params.engine_settings();
        let rate_ok = config.sample_rate.is_finite()
            && config.sample_rate >= cfg::MIN_RATE_HZ as f64 - 0.5
            && config.sample_rate <= cfg::MAX_RATE_HZ as f64 + 0.5;
        let rate = if rate_ok {
            config.sample_rate.round() as u32
        } else {
            48_000
        };
        let n_engines = if config.inputs >= 2 && config.outputs >= 2 {
            2
        } else {
            1
        };
        let mut status = (!rate_ok).then(|| {
            ProcessorError::Rate {
                min: cfg::MIN_RATE_HZ,
                max: cfg::MAX_RATE_HZ,
                found: config.sample_rate,
            }
            .to_string()
        });

        let mut engines = Vec::new();
        if status.is_none() {
            for _ in 0..n_engines {
                match build_engine(settings, rate, max_block)
                    .and_then(|e| Ok(RealtimeEngine::new(e)?))
                {
                    Ok(rt) => engines.push(Some(rt)),
                    Err(e) => {
                        status = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        if status.is_some() {
            engines = (0..n_engines).map(|_| None).collect();
        }
        let margin = max_block + RT_CROSSFADE;
        let engine_latency = match engines.first() {
            Some(Some(rt)) => rt.latency_samples(),
            _ => engine_latency_without_models(settings, rate, max_block).unwrap_or(0) + margin,
        };

        let band = |_: usize| {
            settings
                .band_limit
                .then(|| BandLimiter::new(rate, max_block).ok())
                .flatten()
        };
        let band_delay = band(0).map_or(0, |b| b.delay);
        let latency = band_delay + engine_latency;
        let channels = engines
            .into_iter()
            .enumerate()
            .map(|(i, rt)| {
                let monitor = rt.as_ref().map(|r| r.monitor());
                Channel {
                    rt,
                    monitor,
                    band: band(i),
                    dry: DelayLine::new(engine_latency),
                    bypass: DelayLine::new(latency),
                    x: vec![0.0; max_block],
                    xb: vec![0.0; max_block],
                    wet: vec![0.0; max_block],
                    drybuf: vec![0.0; max_block],
                    hp_wet: HighPass::new(rate as f64, cfg::METER_HIGHPASS_HZ),
                    hp_dry: HighPass::new(rate as f64, cfg::METER_HIGHPASS_HZ),
                    pushed: 0,
                    seen_resets: 0,
                }
            })
            .collect();
        let ramp = (cfg::SMOOTHING_MS * 1e-3 * rate as f64).round() as usize;
        let mut p = Self {
            mix: Smoother::new(params.get(ParamId::Mix) as f32, ramp),
            gain: Smoother::new(db_to_gain(params.get(ParamId::Gain)), ramp),
            byp: Smoother::new(params.get(ParamId::Bypass) as f32, ramp),
            params,
            offline,
            config,
            settings,
            max_block,

            latency,
            engine_latency,
            channels,
            status,
            mix_buf: vec![0.0; max_block],
            gain_buf: vec![0.0; max_block],
            byp_buf: vec![0.0; max_block],
            meter_decay: 0.0,
            e_wet: 0.0,
            e_dry: 0.0,
        };
        p.meter_decay = (-(max_block as f64) / (cfg::METER_SECONDS * rate as f64)).exp();
        p
    }

    /// Total latency (samples at the host rate), constant for this activation.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Latency of the enhancement path alone (real-time engine including its margin).
    pub fn engine_latency(&self) -> usize {
        self.engine_latency
    }

    /// `None` when enhancing; otherwise why the audio passes through dry.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The engine settings this processor was built with (a change needs a new processor).
    pub fn settings(&self) -> EngineSettings {
        self.settings
    }

    /// The configuration this processor was built for.
    pub fn config(&self) -> ProcessorConfig {
        self.config
    }

    /// Blocks played dry because the worker was late (all channels).
    pub fn late_blocks(&self) -> u64 {
        self.channels
            .iter()
            .filter_map(|c| c.monitor.as_ref())
            .map(|m| m.stats().late_blocks)
            .sum()
    }

    /// Forgets the signal history (transport jumps). Allocation-free.
    pub fn reset(&mut self) {
        for c in &mut self.channels {
            if let Some(rt) = c.rt.as_mut() {
                rt.reset();
            }
            if let Some(b) = c.band.as_mut() {
                b.reset();
            }
            c.dry.clear();
            c.bypass.clear();
            c.hp_wet.clear();
            c.hp_dry.clear();
            c.pushed = 0;
        }
        self.update_targets();
        for s in [&mut self.mix, &mut self.gain, &mut self.byp] {
            s.snap();
        }
        self.e_wet = 0.0;
        self.e_dry = 0.0;
    }

    /// Processes one block: `inputs` and `outputs` hold one slice per channel (any count; a
    /// missing input reads as silence, extra outputs repeat the last processed channel), each
    /// at least `frames` long. Blocks longer than the activation's maximum are split.
    pub fn process(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]], frames: usize) {
        let _ftz = crate::denormals::FlushToZero::new();
        let _scope = crate::alloc_probe::AudioScope::enter();
        self.update_targets();
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(self.max_block);
            self.process_chunk(inputs, outputs, start, n);
            start += n;
        }
        self.publish_meters();
    }

    fn update_targets(&mut self) {
        let p = &self.params;
        self.mix.set(p.get(ParamId::Mix) as f32);
        self.gain.set(db_to_gain(p.get(ParamId::Gain)));
        self.byp.set(p.get(ParamId::Bypass) as f32);
    }

    fn process_chunk(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        start: usize,
        n: usize,
    ) {
        self.mix.fill(&mut self.mix_buf[..n]);
        self.gain.fill(&mut self.gain_buf[..n]);
        self.byp.fill(&mut self.byp_buf[..n]);
        let n_ch = self.channels.len();
        let offline = self.offline.load(Ordering::Relaxed);
        let (mut e_wet, mut e_dry) = (0.0, 0.0);
        for (ci, ch) in self.channels.iter_mut().enumerate() {
            // Input: this channel's, or the mean of all inputs when one engine serves them.
            let x = &mut ch.x[..n];
            let take = |i: usize| inputs.get(i).and_then(|s| s.get(start..start + n));
            if n_ch == 1 && inputs.len() >= 2 {
                match (take(0), take(1)) {
                    (Some(a), Some(b)) => {
                        for ((y, &l), &r) in x.iter_mut().zip(a).zip(b) {
                            *y = clean(l) * 0.5 + clean(r) * 0.5;
                        }
                    }
                    _ => x.fill(0.0),
                }
            } else {
                match take(ci) {
                    Some(s) => {
                        for (y, &v) in x.iter_mut().zip(s) {
                            *y = clean(v);
                        }
                    }
                    None => x.fill(0.0),
                }
            }

            // Band-limit stage (x' in ch.xb).
            let xb = &mut ch.xb[..n];
            match ch.band.as_mut() {
                Some(b) => b.process(x, xb),
                None => xb.copy_from_slice(x),
            }

            // Enhancement.
            let wet = &mut ch.wet[..n];
            let mut ok = false;
            if let (Some(rt), Some(mon)) = (ch.rt.as_mut(), ch.monitor.as_ref()) {
                let resets = mon.worker_resets();
                if resets != ch.seen_resets {
                    ch.seen_resets = resets;
                    ch.pushed = 0;
                }
                if offline {
                    wait_for_worker(mon, ch.pushed + n as u64, self.max_block as u64);
                }
                ok = rt.process(xb, wet).is_ok();
                ch.pushed += n as u64;
            }
            let dry = &mut ch.drybuf[..n];
            for (d, &v) in dry.iter_mut().zip(xb.iter()) {
                *d = ch.dry.tick(v);
            }
            if !ok {
                wet.copy_from_slice(dry);
            }
            e_wet += ch.hp_wet.energy(wet);
            e_dry += ch.hp_dry.energy(dry);

            // Mix, gain, bypass. Exact branches keep mix = 0 / bypass bit-exact.
            for i in 0..n {
                let (m, g, b) = (self.mix_buf[i], self.gain_buf[i], self.byp_buf[i]);
                let mixed = if m >= 1.0 {
                    wet[i]
                } else if m <= 0.0 {
                    dry[i]
                } else {
                    m * wet[i] + (1.0 - m) * dry[i]
                };
                let mut y = if g == 1.0 { mixed } else { g * mixed };
                let byp = ch.bypass.tick(x[i]);
                if b >= 1.0 {
                    y = byp;
                } else if b > 0.0 {
                    y = b * byp + (1.0 - b) * y;
                }
                // x is already clean here; wet comes from the engine's own guards.
                wet[i] = if y.is_finite() { y } else { byp };
            }
        }
        // Outputs: channel i from engine i, extra channels repeat the last engine.
        for (oi, out) in outputs.iter_mut().enumerate() {
            let ch = &self.channels[oi.min(n_ch - 1)];
            if let Some(o) = out.get_mut(start..start + n) {
                o.copy_from_slice(&ch.wet[..n]);
            }
        }
        let d = self.meter_decay;
        self.e_wet = self.e_wet * d + e_wet;
        self.e_dry = self.e_dry * d + e_dry;
    }

    fn publish_meters(&self) {
        let ratio = (self.e_wet + 1e-12) / (self.e_dry + 1e-12);
        self.params
            .set(ParamId::MeterHighBand, 10.0 * ratio.log10());
        self.params
            .set(ParamId::MeterLate, self.late_blocks() as f64);
        self.params.set(
            ParamId::DiagAudioAllocations,
            crate::alloc_probe::audio_allocations() as f64,
        );
    }
}

/// In offline rendering, waits until the worker has processed enough input that the next
/// block finds its enhanced samples queued with a full cross-fade length to spare, so the
/// wrapper never starts fading to dry: `processed >= pushed_after - slack`, where the wrapper's
/// margin is `slack + RT_CROSSFADE` (`slack` = the largest block).
/// Gives up after [`cfg::OFFLINE_WAIT_SECONDS`] (the block then plays dry, as in real time).
fn wait_for_worker(mon: &RealtimeMonitor, pushed_after: u64, slack: u64) {
    let need = pushed_after.saturating_sub(slack);
    if mon.processed_samples() >= need || mon.stats().worker_errors > 0 {
        return;
    }
    // Yield first (the worker usually needs microseconds), sleep only on long waits.
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(cfg::OFFLINE_WAIT_SECONDS);
    while mon.processed_samples() < need {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if now - start < Duration::from_millis(2) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// NaN/Inf and denormals -> 0.
fn clean(x: f32) -> f32 {
    if x.is_finite() && (x == 0.0 || x.abs() >= f32::MIN_POSITIVE) {
        x
    } else {
        0.0
    }
}

fn db_to_gain(db: f64) -> f32 {
    if db == 0.0 {
        1.0
    } else {
        10f64.powf(db / 20.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impulse_delay(y: &[f32]) -> Option<usize> {
        let peak = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        (peak > 0.0).then(|| y.iter().position(|v| v.abs() == peak).unwrap_or(0))
    }

    #[test]
    fn band_limiter_delay_is_exact_for_every_block_size() {
        for rate in [22_050, 44_100, 48_000, 96_000, 192_000] {
            for block in [1, 7, 32, 511, 4096] {
                let mut b = BandLimiter::new(rate, block).unwrap();
                let len = b.delay + 3 * rate as usize / 100 + 10_000;
                // A band-limited click: a windowed 1 kHz burst centred at `at`.
                let at = 5_000;
                let x: Vec<f32> = (0..len)
                    .map(|i| {
                        let t = i as f64 - at as f64;
                        let w = (-(t / (rate as f64 * 0.002)).powi(2)).exp();
                        (w * (2.0 * std::f64::consts::PI * 1000.0 * t / rate as f64).cos()) as f32
                    })
                    .collect();
                let mut y = vec![0.0; len];
                for (xi, yi) in x.chunks(block).zip(y.chunks_mut(block)) {
                    b.process(xi, yi);
                }
                assert_eq!(b.underruns, 0, "rate {rate} block {block}");
                let got = impulse_delay(&y).unwrap();
                assert_eq!(got, at + b.delay, "rate {rate} block {block}");
            }
        }
    }

    #[test]
    fn dry_fallback_processor_is_a_pure_delay_at_mix_zero_and_bypass() {
        // Without ONNX Runtime in this unit test's process (ORT_DYLIB_PATH points nowhere),
        // the processor still reports its latency and passes the input through, delayed.
        let params = Arc::new(Params::default());
        let cfgp = ProcessorConfig {
            sample_rate: 48_000.0,
            max_block: 64,
            inputs: 1,
            outputs: 1,
        };
        let mut p = Processor::new(cfgp, params.clone(), Arc::new(AtomicBool::new(false)));
        let lat = p.latency();
        assert_eq!(lat, p.engine_latency(), "no band-limit stage by default");
        params.set(ParamId::BandLimit, 1.0);
        let with_band = Processor::new(cfgp, params.clone(), Arc::new(AtomicBool::new(false)));
        let band = BandLimiter::new(48_000, 64).unwrap().delay;
        assert_eq!(with_band.latency(), lat + band);
        assert!(with_band.settings().band_limit);
        params.set(ParamId::BandLimit, 0.0);
        let x: Vec<f32> = (0..lat + 1000)
            .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
            .collect();
        for bypass in [0.0, 1.0] {
            params.set(ParamId::Bypass, bypass);
            params.set(ParamId::Mix, 0.0);
            p.reset();
            let mut y = vec![0.0; x.len()];
            for (xi, yi) in x.chunks(37).zip(y.chunks_mut(37)) {
                let n = xi.len();
                p.process(&[xi], &mut [yi], n);
            }
            assert_eq!(&y[lat..], &x[..x.len() - lat], "bypass {bypass}");
        }
    }
}
