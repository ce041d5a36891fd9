//! [`Engine`]: the streaming implementation of the signal path.

use super::spectral::{
    phase_copy, FrameFft, MelInverse, Ola, SpliceGeometry, SpliceOutcome, Splicer,
};
use super::timing::{Mark, Stage, StageTimes};
use super::{
    latency_formula, synthesis_context, validate, Context, EngineConfig, EngineError, EngineStats,
    ModelRuntime, ResamplerLag, StreamProcessor, Synthesis,
};
use crate::config::contract;
use crate::config::engine::{MAX_BLOCK, RESAMPLER_CHUNK};
use crate::dsp::resample::EXACT_MAX_CALL;
use crate::dsp::{Complex32, MelFilterbank, StreamResampler};

/// Input samples beyond this magnitude are clipped: far above any real audio (+120 dBFS), and
/// low enough that spectra and energies stay finite in `f32`.
const INPUT_LIMIT: f32 = 1e6;

/// The last `cap` frames of a frame sequence, each `width` values, addressed by frame index.
struct FrameRing<T: Copy> {
    width: usize,
    cap: usize,
    data: Vec<T>,
}

impl<T: Copy> FrameRing<T> {
    fn new(width: usize, cap: usize, fill: T) -> Self {
        Self {
            width,
            cap,
            data: vec![fill; width * cap],
        }
    }

    fn get(&self, t: u64) -> &[T] {
        let i = (t % self.cap as u64) as usize * self.width;
        &self.data[i..i + self.width]
    }

    fn get_mut(&mut self, t: u64) -> &mut [T] {
        let i = (t % self.cap as u64) as usize * self.width;
        &mut self.data[i..i + self.width]
    }

    fn fill(&mut self, v: T) {
        self.data.fill(v);
    }
}

/// Copies frames `start .. start + frames` of a frame sequence into `dst` as a channel-major
/// `[channels, frames]` tensor; frames for which `frame` gives `None` (before the start of the
/// stream, or past the end offline) are `floor` (the log-mel of silence).
pub(crate) fn gather<'a>(
    dst: &mut [f32],
    channels: usize,
    frames: usize,
    start: i64,
    floor: f32,
    frame: impl Fn(i64) -> Option<&'a [f32]>,
) {
    for j in 0..frames {
        match frame(start + j as i64) {
            Some(src) => {
                for (c, &v) in src.iter().enumerate().take(channels) {
                    dst[c * frames + j] = v;
                }
            }
            None => {
                for c in 0..channels {
                    dst[c * frames + j] = floor;
                }
            }
        }
    }
}

/// Fixed-capacity sample queue (never reallocates).
struct Fifo {
    buf: Vec<f32>,
    head: usize,
    len: usize,
}

impl Fifo {
    fn new(cap: usize) -> Self {
        Self {
            buf: vec![0.0; cap],
            head: 0,
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Appends `s`; returns how many samples did not fit (dropped).
    fn push(&mut self, s: &[f32]) -> usize {
        let cap = self.buf.len();
        let n = s.len().min(cap - self.len);
        let tail = (self.head + self.len) % cap;
        let first = n.min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&s[..first]);
        self.buf[..n - first].copy_from_slice(&s[first..n]);
        self.len += n;
        s.len() - n
    }

    fn push_zeros(&mut self, mut n: usize) {
        const Z: [f32; 64] = [0.0; 64];
        while n > 0 {
            let k = n.min(Z.len());
            self.push(&Z[..k]);
            n -= k;
        }
    }

    /// Pops up to `out.len()` samples into `out`; returns how many.
    fn pop_into(&mut self, out: &mut [f32]) -> usize {
        let cap = self.buf.len();
        let n = out.len().min(self.len);
        let first = n.min(cap - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        self.head = (self.head + n) % cap;
        self.len -= n;
        n
    }
}

/// `|c|^power` (power 1 and 2 special-cased like the DSP module's mel).
fn magnitude_pow(c: Complex32, power: f32) -> f32 {
    if power == 1.0 {
        c.norm_sqr().sqrt()
    } else if power == 2.0 {
        c.norm_sqr()
    } else {
        c.norm_sqr().powf(0.5 * power)
    }
}

/// Output slots of a model, by the contract's names.
fn output_index(
    model: &'static str,
    rt: &dyn ModelRuntime,
    name: &str,
    channels: usize,
    only_one: bool,
) -> Result<usize, EngineError> {
    let names = rt.output_names();
    let chans = rt.output_channels();
    if names.len() != chans.len() {
        return Err(EngineError::ModelShape {
            model,
            expected: "one channel count per output name".into(),
            found: format!("{} names and {} channel counts", names.len(), chans.len()),
        });
    }
    let idx = match names.iter().position(|n| n == name) {
        Some(i) => i,
        // A one-output generator may name its output differently; the runtime checks names.
        None if only_one && names.len() == 1 => 0,
        None => {
            return Err(EngineError::ModelShape {
                model,
                expected: format!("an output named `{name}`"),
                found: format!("outputs {names:?}"),
            })
        }
    };
    if chans[idx] != channels {
        return Err(EngineError::ModelShape {
            model,
            expected: format!("output `{}` with {channels} channels", names[idx]),
            found: format!("{} channels", chans[idx]),
        });
    }
    Ok(idx)
}

/// The streaming enhancer (see the [module docs](super)).
///
/// Mono. Built once with everything allocated; [`process_block`](StreamProcessor::process_block),
/// [`process`](Self::process) (given enough capacity) and [`reset`](StreamProcessor::reset)
/// never allocate, provided the model runtimes' `run` does not.
pub struct Engine {
    cfg: EngineConfig,
    amount: f32,
    max_block: usize,
    latency: usize,
    n_fft: usize,
    hop: usize,
    n_mels: usize,
    chunk: usize,
    gen_ctx: Context,
    syn_ctx: Context,
    /// Synthesis chunks start this many frames before a multiple of `chunk`, so that each one
    /// becomes ready exactly when a generator chunk completes (`syn_ctx.right % chunk`).
    syn_shift: usize,
    /// `ln(clamp)`: the log-mel of silence.
    floor: f32,

    rs_in: Option<StreamResampler>,
    /// Leading resampler output samples that precede input time zero.
    in_drop: usize,
    in_drop_left: usize,
    piece: Vec<f32>,
    core_tmp: Vec<f32>,

    /// Core-rate samples from the next frame's first sample on (fewer than `n_fft`).
    abuf: Vec<f32>,
    fft: FrameFft,
    filterbank: MelFilterbank,
    spec: Vec<Complex32>,
    mag: Vec<f32>,
    mel: Vec<f32>,
    frames: u64,

    x_ring: FrameRing<Complex32>,
    lr_ring: FrameRing<f32>,
    hr_ring: FrameRing<f32>,
    hr_ok: FrameRing<bool>,

    generator: Box<dyn ModelRuntime>,
    gen_idx: usize,
    gen_in: Vec<f32>,
    gen_out: Vec<Vec<f32>>,
    gen_chunks: u64,
    vocoder: Option<Box<dyn ModelRuntime>>,
    voc_idx: [usize; 3],
    voc_in: Vec<f32>,
    voc_out: Vec<Vec<f32>>,
    syn_chunks: u64,
    /// Last frame whose generated band the caller's output needs ([`Engine::limit_output`]);
    /// `u64::MAX` when unlimited.
    gen_last: u64,

    splicer: Splicer,
    inverse: MelInverse,
    phase_base: usize,
    v_spec: Vec<Complex32>,
    y_spec: Vec<Complex32>,
    v_mag: Vec<f32>,
    ola: Ola,
    /// Core-rate index of the first sample of the next frame's window (negative at the start).
    ola_start: i64,
    hop_buf: Vec<f32>,

    rs_out: Option<StreamResampler>,
    out_lat: usize,
    out_tmp: Vec<f32>,
    fifo: Fifo,
    in_total: u64,
    due_total: u64,
    /// Smallest number of queued output samples left over after a pop since the last reset
    /// (how much of the latency was never needed; 0 means the bound is tight).
    min_slack: usize,
    stats: EngineStats,
    times: StageTimes,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.cfg)
            .field("max_block", &self.max_block)
            .field("latency", &self.latency)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Engine {
    /// Builds an engine for `config`, accepting blocks of up to `max_block` input samples.
    ///
    /// `vocoder` is required for [`Synthesis::Vocoder`] and unused otherwise. Errors on an
    /// invalid config ([`EngineError::InvalidConfig`], [`EngineError::Dsp`]), on Griffin-Lim
    /// ([`EngineError::GriffinLimNotStreamable`]), a missing vocoder, or models whose outputs
    /// do not match the contract ([`EngineError::ModelShape`]).
    pub fn new(
        config: EngineConfig,
        generator: Box<dyn ModelRuntime>,
        vocoder: Option<Box<dyn ModelRuntime>>,
        max_block: usize,
    ) -> Result<Self, EngineError> {
        validate(&config)?;
        if matches!(config.synthesis, Synthesis::GriffinLim { .. }) {
            return Err(EngineError::GriffinLimNotStreamable);
        }
        if max_block == 0 || max_block > MAX_BLOCK {
            return Err(EngineError::InvalidConfig {
                field: "max_block",
                expected: format!("1..={MAX_BLOCK} samples"),
                found: max_block.to_string(),
            });
        }
        let m = config.mel.clone();
        let (n_fft, hop, n_mels, n_bins) = (m.n_fft, m.hop, m.n_mels, m.n_bins());
        let chunk = config.chunk_frames;
        let gen_ctx = config.generator_context;
        let syn_ctx = synthesis_context(&config);
        let use_vocoder = config.synthesis == Synthesis::Vocoder;
        let vocoder = if use_vocoder {
            Some(vocoder.ok_or(EngineError::MissingVocoder)?)
        } else {
            None
        };

        let gen_idx = output_index(
            "generator",
            generator.as_ref(),
            contract::GENERATOR_OUTPUT,
            n_mels,
            true,
        )?;
        let gen_t = gen_ctx.left + chunk + gen_ctx.right;
        let gen_out = generator
            .output_channels()
            .iter()
            .map(|c| Vec::with_capacity(c * gen_t))
            .collect();
        let voc_t = syn_ctx.left + chunk + syn_ctx.right;
        let (voc_idx, voc_out) = match &vocoder {
            Some(v) => {
                let mut idx = [0; 3];
                for (i, name) in [
                    contract::VOCODER_MAG,
                    contract::VOCODER_COS,
                    contract::VOCODER_SIN,
                ]
                .iter()
                .enumerate()
                {
                    idx[i] = output_index("vocoder", v.as_ref(), name, n_bins, false)?;
                }
                let outs = v
                    .output_channels()
                    .iter()
                    .map(|c| Vec::with_capacity(c * voc_t))
                    .collect();
                (idx, outs)
            }
            None => ([0; 3], Vec::new()),
        };

        let core = m.sample_rate;
        let c = RESAMPLER_CHUNK;
        let rs_in = if config.input_rate != core {
            Some(StreamResampler::with_profile(
                config.input_rate,
                core,
                c,
                config.resampler,
            )?)
        } else {
            None
        };
        let rs_out = if config.output_rate != core {
            Some(StreamResampler::with_profile(
                core,
                config.output_rate,
                c,
                config.resampler,
            )?)
        } else {
            None
        };
        let lag = |rs: &Option<StreamResampler>| match rs {
            Some(rs) => ResamplerLag {
                a: (c - 1 + rs.lookahead_in_samples()) as u128,
                e: 2,
            },
            None => ResamplerLag::default(),
        };
        let out_lat = rs_out.as_ref().map_or(0, |rs| rs.latency_out_samples());
        let latency = latency_formula(&config, lag(&rs_in), lag(&rs_out)).max(out_lat);
        let in_drop = rs_in.as_ref().map_or(0, |rs| rs.latency_out_samples());
        // Worst-case output of one resampler call (first call includes the zero pre-roll).
        // Input is resampled in pieces of `c` samples, or of up to `EXACT_MAX_CALL` where the
        // resampler takes any size without delay (same output, a fraction of the work).
        let piece_len = match &rs_in {
            Some(rs) if rs.emits_immediately() => max_block.clamp(c, EXACT_MAX_CALL),
            _ => c,
        };
        let core_cap = rs_in
            .as_ref()
            .map_or(c, |rs| rs.max_output_len(2 * piece_len));
        let out_cap = rs_out.as_ref().map_or(hop, |rs| rs.max_output_len(hop + c));
        let max_out_block = max_output_len(max_block, config.input_rate, config.output_rate);
        // With `limit_output` the last chunk's synthesis can run up to a chunk early.
        let early = max_output_len(chunk * hop, core, config.output_rate);
        let fifo_cap = latency + max_out_block + out_cap + n_fft + 1024 + early;

        let filterbank = MelFilterbank::new(&m)?;
        let inverse = MelInverse::new(&filterbank, m.power);
        let geom = SpliceGeometry::new(&config);
        let floor = m.log_clamp.ln();
        let zero = Complex32::new(0.0, 0.0);
        let x_cap = chunk + syn_ctx.right + gen_ctx.right + 2;
        let hr_cap = syn_ctx.left + chunk + syn_ctx.right + 2;
        let mut engine = Self {
            amount: config.amount,
            max_block,
            latency,
            n_fft,
            hop,
            n_mels,
            chunk,
            gen_ctx,
            syn_ctx,
            syn_shift: syn_ctx.right % chunk,
            floor,
            rs_in,
            in_drop,
            in_drop_left: in_drop,
            piece: vec![0.0; piece_len],
            core_tmp: Vec::with_capacity(core_cap),
            abuf: Vec::with_capacity(n_fft),
            fft: FrameFft::new(&config)?,
            filterbank,
            spec: vec![zero; n_bins],
            mag: vec![0.0; n_bins],
            mel: vec![0.0; n_mels],
            frames: 0,
            x_ring: FrameRing::new(n_bins, x_cap, zero),
            lr_ring: FrameRing::new(n_mels, gen_t + 2, floor),
            hr_ring: FrameRing::new(n_mels, hr_cap, floor),
            hr_ok: FrameRing::new(1, hr_cap, true),
            generator,
            gen_idx,
            gen_in: vec![0.0; n_mels * gen_t],
            gen_out,
            gen_chunks: 0,
            vocoder,
            voc_idx,
            voc_in: vec![0.0; n_mels * voc_t],
            voc_out,
            syn_chunks: 0,
            gen_last: u64::MAX,
            splicer: Splicer::new(&config),
            inverse,
            phase_base: geom.phase_base,
            v_spec: vec![zero; n_bins],
            y_spec: vec![zero; n_bins],
            v_mag: vec![0.0; n_bins],
            ola: Ola::new(n_fft),
            ola_start: -((n_fft / 2) as i64),
            hop_buf: vec![0.0; hop],
            rs_out,
            out_lat,
            out_tmp: Vec::with_capacity(out_cap),
            fifo: Fifo::new(fifo_cap),
            in_total: 0,
            due_total: 0,
            min_slack: usize::MAX,
            stats: EngineStats::default(),
            times: StageTimes::default(),
            cfg: config,
        };
        engine.reset();
        Ok(engine)
    }

    /// The configuration the engine was built from.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Counters of unusual events since construction.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Wall time spent in each stage since construction or the last
    /// [`clear_stage_times`](Self::clear_stage_times) (all zero unless widen-core is built with
    /// the `stage-timing` feature; `reset` keeps them).
    pub fn stage_times(&self) -> StageTimes {
        self.times
    }

    /// Zeroes the [`stage_times`](Self::stage_times).
    pub fn clear_stage_times(&mut self) {
        self.times = StageTimes::default();
    }

    /// Current gain on the generated band.
    pub fn amount(&self) -> f32 {
        self.amount
    }

    /// Sets the gain on the generated band from the next frame on (NaN or negative -> 0).
    pub fn set_amount(&mut self, amount: f32) {
        self.amount = if amount.is_finite() && amount > 0.0 {
            amount
        } else {
            0.0
        };
    }

    /// Most output samples [`process`](Self::process) appends for `input_len` input samples;
    /// reserve this in its `output` to keep it allocation-free.
    pub fn max_output_len(&self, input_len: usize) -> usize {
        max_output_len(input_len, self.cfg.input_rate, self.cfg.output_rate)
    }

    /// Streams `input` (at most `max_block` samples, any rates) and appends the output that is
    /// due: after `n` input samples in total, `floor(n * output_rate / input_rate)` output
    /// samples in total, the output stream being the enhanced input delayed by
    /// `latency_samples()` output samples. Returns how many samples were appended.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<usize, EngineError> {
        if input.len() > self.max_block {
            return Err(EngineError::BlockTooLarge {
                max: self.max_block,
                found: input.len(),
            });
        }
        self.push_input(input)?;
        let due = (self.in_total as u128 * self.cfg.output_rate as u128
            / self.cfg.input_rate as u128) as u64;
        let n = (due - self.due_total) as usize;
        self.due_total = due;
        let start = output.len();
        output.resize(start + n, 0.0);
        self.pop_due(&mut output[start..]);
        Ok(n)
    }

    /// Sanitises and resamples `input`, and runs every stage that becomes ready.
    fn push_input(&mut self, input: &[f32]) -> Result<(), EngineError> {
        for block in input.chunks(self.piece.len()) {
            let n = block.len();
            for (d, &s) in self.piece[..n].iter_mut().zip(block) {
                *d = if s.is_finite() {
                    s.clamp(-INPUT_LIMIT, INPUT_LIMIT)
                } else {
                    self.stats.non_finite_samples += 1;
                    0.0
                };
            }
            self.in_total += n as u64;
            let mut core = std::mem::take(&mut self.core_tmp);
            core.clear();
            let res = match self.rs_in.as_mut() {
                None => {
                    core.extend_from_slice(&self.piece[..n]);
                    Ok(())
                }
                Some(rs) => {
                    let t0 = Mark::now();
                    let r = rs
                        .process(&self.piece[..n], &mut core)
                        .map(drop)
                        .map_err(EngineError::from);
                    self.times.add(Stage::InputResample, t0);
                    r
                }
            };
            let res = res.and_then(|()| {
                let skip = self.in_drop_left.min(core.len());
                self.in_drop_left -= skip;
                self.push_core(&core[skip..])
            });
            self.core_tmp = core;
            res?;
        }
        Ok(())
    }

    /// Adds time-aligned core-rate samples; analyses every frame that completes.
    fn push_core(&mut self, mut rest: &[f32]) -> Result<(), EngineError> {
        while !rest.is_empty() {
            let take = (self.n_fft - self.abuf.len()).min(rest.len());
            self.abuf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.abuf.len() == self.n_fft {
                self.analyse_frame()?;
                self.abuf.copy_within(self.hop.., 0);
                self.abuf.truncate(self.n_fft - self.hop);
            }
        }
        Ok(())
    }

    /// STFT and log-mel of the frame in `abuf`; runs the generator when a chunk is ready.
    fn analyse_frame(&mut self) -> Result<(), EngineError> {
        let t0 = Mark::now();
        let t = self.frames;
        self.fft.analyse(&self.abuf, &mut self.spec);
        self.x_ring.get_mut(t).copy_from_slice(&self.spec);
        let power = self.cfg.mel.power;
        for (m, &c) in self.mag.iter_mut().zip(&self.spec) {
            *m = magnitude_pow(c, power);
        }
        self.filterbank.apply(&self.mag, &mut self.mel)?;
        let clamp = self.cfg.mel.log_clamp;
        for (d, &v) in self.lr_ring.get_mut(t).iter_mut().zip(&self.mel) {
            *d = v.max(clamp).ln();
        }
        self.frames += 1;
        self.stats.frames += 1;
        self.times.add(Stage::Analysis, t0);
        while self.frames >= self.generator_due() + self.gen_ctx.right as u64 {
            self.run_generator()?;
        }
        Ok(())
    }

    /// Frames the next generator chunk covers (exclusive end): the whole chunk, or up to the
    /// last frame the output needs when [`limit_output`](Self::limit_output) ends it early.
    fn generator_due(&self) -> u64 {
        let c = self.chunk as u64;
        let (start, end) = (self.gen_chunks * c, (self.gen_chunks + 1) * c);
        if start <= self.gen_last && self.gen_last < end {
            self.gen_last + 1
        } else {
            end
        }
    }

    /// Declares that only the first `samples` samples of the time-aligned output (the output
    /// with the latency trimmed, at the output rate) will be used, for an offline caller that
    /// knows where its output ends. The generator then stops at the last frame those samples
    /// depend on (through the synthesis window, the vocoder's context and the output
    /// resampler's lookahead): the chunk holding it is run on fewer frames as soon as their
    /// context is there, and later chunks are not run (their generated band is silence).
    /// Output past `samples` is not meaningful; everything before it is unchanged. Lasts
    /// until the next [`reset`](StreamProcessor::reset).
    pub fn limit_output(&mut self, samples: u64) {
        let core = self.cfg.mel.sample_rate as u128;
        let out_rate = self.cfg.output_rate as u128;
        let look = self
            .rs_out
            .as_ref()
            .map_or(0, |rs| rs.lookahead_in_samples()) as u64;
        // Last core-rate sample needed, with rounding room.
        let s = (samples as u128 * core).div_ceil(out_rate) as u64 + look + 2;
        // Frames whose window (centred on t * hop, n_fft long) reaches it, plus one.
        let t = (s + (self.n_fft / 2) as u64) / self.hop as u64 + 1;
        self.gen_last = t + self.syn_ctx.right as u64;
    }

    /// Generator on chunk `gen_chunks` with its context; runs synthesis chunks that become ready.
    fn run_generator(&mut self) -> Result<(), EngineError> {
        let t0 = Mark::now();
        let c = self.chunk;
        let k = self.gen_chunks;
        // Frames of this chunk the output needs (all of them unless `limit_output` says so).
        let need = (self.generator_due() - k * c as u64) as usize;
        if k * c as u64 > self.gen_last {
            self.silence_frames(k * c as u64..(k + 1) * c as u64);
            return self.chunk_done(t0);
        }
        self.silence_frames(k * c as u64 + need as u64..(k + 1) * c as u64);
        let t_len = self.gen_ctx.left + need + self.gen_ctx.right;
        let start = (k * c as u64) as i64 - self.gen_ctx.left as i64;
        let ring = &self.lr_ring;
        gather(
            &mut self.gen_in,
            self.n_mels,
            t_len,
            start,
            self.floor,
            |t| (t >= 0).then(|| ring.get(t as u64)),
        );
        self.generator
            .run(
                &self.gen_in[..self.n_mels * t_len],
                self.n_mels,
                t_len,
                &mut self.gen_out,
            )
            .map_err(|source| EngineError::Runtime {
                model: "generator",
                source,
            })?;
        let out = &self.gen_out[self.gen_idx];
        if out.len() < self.n_mels * t_len {
            return Err(EngineError::ModelShape {
                model: "generator",
                expected: format!("{} values ({} x {t_len})", self.n_mels * t_len, self.n_mels),
                found: format!("{} values", out.len()),
            });
        }
        for i in 0..need {
            let t = k * c as u64 + i as u64;
            let col = self.gen_ctx.left + i;
            let dst = self.hr_ring.get_mut(t);
            let mut ok = true;
            for (m, d) in dst.iter_mut().enumerate() {
                let v = out[m * t_len + col];
                ok &= v.is_finite();
                *d = v;
            }
            if !ok {
                // The vocoder's context must not see NaN either: silence stands in.
                dst.fill(self.floor);
            }
            self.hr_ok.get_mut(t)[0] = ok;
        }
        self.chunk_done(t0)
    }

    /// Generated band of `frames` set to silence (frames past what `limit_output` needs).
    fn silence_frames(&mut self, frames: std::ops::Range<u64>) {
        for t in frames {
            self.hr_ring.get_mut(t).fill(self.floor);
            self.hr_ok.get_mut(t)[0] = true;
        }
    }

    /// Counts the generator chunk as done and runs the synthesis chunks that become ready.
    fn chunk_done(&mut self, t0: Mark) -> Result<(), EngineError> {
        let c = self.chunk;
        self.gen_chunks += 1;
        self.times.add(Stage::Generator, t0);
        let ready = self.gen_chunks * c as u64;
        let need = (self.syn_ctx.right - self.syn_shift) as u64;
        while (self.syn_chunks + 1) * c as u64 + need <= ready {
            self.run_synthesis()?;
        }
        Ok(())
    }

    /// Vocoder (if any) on synthesis chunk `syn_chunks`, then splice and overlap-add its frames.
    fn run_synthesis(&mut self) -> Result<(), EngineError> {
        let c = self.chunk;
        let first = (self.syn_chunks * c as u64) as i64 - self.syn_shift as i64;
        let t_len = self.syn_ctx.left + c + self.syn_ctx.right;
        if let Some(voc) = self.vocoder.as_mut() {
            let t0 = Mark::now();
            let ring = &self.hr_ring;
            gather(
                &mut self.voc_in,
                self.n_mels,
                t_len,
                first - self.syn_ctx.left as i64,
                self.floor,
                |t| (t >= 0).then(|| ring.get(t as u64)),
            );
            voc.run(&self.voc_in, self.n_mels, t_len, &mut self.voc_out)
                .map_err(|source| EngineError::Runtime {
                    model: "vocoder",
                    source,
                })?;
            let need = self.spec.len() * t_len;
            for &i in &self.voc_idx {
                if self.voc_out[i].len() < need {
                    return Err(EngineError::ModelShape {
                        model: "vocoder",
                        expected: format!(
                            "{need} values per output ({} x {t_len})",
                            self.spec.len()
                        ),
                        found: format!("{} values", self.voc_out[i].len()),
                    });
                }
            }
            self.times.add(Stage::Vocoder, t0);
        }
        for i in 0..c {
            let t = first + i as i64;
            if t >= 0 {
                self.synthesise_frame(t as u64, self.syn_ctx.left + i, t_len)?;
            }
        }
        self.syn_chunks += 1;
        Ok(())
    }

    /// Builds frame `t`'s generated spectrum, splices it with the input and overlap-adds it.
    fn synthesise_frame(&mut self, t: u64, col: usize, t_len: usize) -> Result<(), EngineError> {
        let t0 = Mark::now();
        let x = self.x_ring.get(t);
        let mut valid = self.hr_ok.get(t)[0];
        if self.vocoder.is_some() {
            let [im, ic, is] = self.voc_idx;
            let (mag, cos, sin) = (&self.voc_out[im], &self.voc_out[ic], &self.voc_out[is]);
            for (k, v) in self.v_spec.iter_mut().enumerate() {
                let j = k * t_len + col;
                let (a, co, si) = (mag[j], cos[j], sin[j]);
                valid &= a.is_finite() && co.is_finite() && si.is_finite();
                *v = Complex32::new(a * co, a * si);
            }
        } else {
            let first = self.splicer.first_generated_bin();
            self.inverse
                .magnitude_from(self.hr_ring.get(t), first, &mut self.v_mag);
            phase_copy(x, &self.v_mag, self.phase_base, first, &mut self.v_spec);
            valid &= self
                .v_spec
                .iter()
                .all(|c| c.re.is_finite() && c.im.is_finite());
        }
        match self
            .splicer
            .splice(x, &self.v_spec, self.amount, valid, &mut self.y_spec)
        {
            SpliceOutcome::Kept => {}
            SpliceOutcome::Limited => self.stats.limited_frames += 1,
            SpliceOutcome::Dropped => self.stats.dropped_frames += 1,
        }
        self.fft.synthesise_into(&self.y_spec, &mut self.ola);
        self.ola.take_hop(&mut self.hop_buf);
        let start = self.ola_start;
        self.ola_start += self.fft.hop() as i64;
        let skip = (-start).clamp(0, self.hop as i64) as usize;
        self.times.add(Stage::Synthesis, t0);
        let mut buf = std::mem::take(&mut self.hop_buf);
        let res = self.push_final(&mut buf[skip..]);
        self.hop_buf = buf;
        res
    }

    /// Queues finished core-rate samples for output (through the output resampler).
    fn push_final(&mut self, samples: &mut [f32]) -> Result<(), EngineError> {
        // Nothing non-finite can get here; this keeps the promise if something ever did.
        for s in samples.iter_mut() {
            if !s.is_finite() {
                *s = 0.0;
            }
        }
        let dropped = match self.rs_out.as_mut() {
            None => self.fifo.push(samples),
            Some(rs) => {
                let t0 = Mark::now();
                self.out_tmp.clear();
                let r = rs.process(samples, &mut self.out_tmp);
                self.times.add(Stage::OutputResample, t0);
                r?;
                self.fifo.push(&self.out_tmp)
            }
        };
        debug_assert_eq!(dropped, 0, "output queue sized too small");
        Ok(())
    }

    /// Fills `out` from the output queue (silence, counted, if the pipeline were ever late).
    fn pop_due(&mut self, out: &mut [f32]) {
        let got = self.fifo.pop_into(out);
        self.min_slack = self.min_slack.min(self.fifo.len);
        if got < out.len() {
            out[got..].fill(0.0);
            self.stats.underruns += (out.len() - got) as u64;
        }
    }
}

/// `ceil(n * out / in) + 1`.
fn max_output_len(n: usize, input_rate: u32, output_rate: u32) -> usize {
    ((n as u128 * output_rate as u128).div_ceil(input_rate as u128) + 1) as usize
}

impl StreamProcessor for Engine {
    fn latency_samples(&self) -> usize {
        self.latency
    }

    fn max_block(&self) -> usize {
        self.max_block
    }

    fn reset(&mut self) {
        if let Some(rs) = self.rs_in.as_mut() {
            rs.reset();
        }
        if let Some(rs) = self.rs_out.as_mut() {
            rs.reset();
        }
        self.in_drop_left = self.in_drop;
        self.abuf.clear();
        // Frame 0 is centred on the first sample; before it the stream is silence.
        self.abuf.resize(self.n_fft / 2, 0.0);
        self.frames = 0;
        self.gen_chunks = 0;
        self.syn_chunks = 0;
        self.gen_last = u64::MAX;
        self.x_ring.fill(Complex32::new(0.0, 0.0));
        self.lr_ring.fill(self.floor);
        self.hr_ring.fill(self.floor);
        self.hr_ok.fill(true);
        self.ola.clear();
        self.ola_start = -((self.n_fft / 2) as i64);
        self.fifo.clear();
        // The output resampler's own latency is part of the total; the rest waits here.
        self.fifo.push_zeros(self.latency - self.out_lat);
        if let Some(rs) = self.rs_out.as_mut() {
            // Feed its zero pre-roll now rather than with the first finished samples, which
            // come only after the window and model lookahead: its output count then keeps
            // pace from the start, as the latency formula assumes.
            self.out_tmp.clear();
            if rs.process(&[], &mut self.out_tmp).is_ok() {
                self.fifo.push(&self.out_tmp);
            }
        }
        self.in_total = 0;
        self.due_total = 0;
        self.min_slack = usize::MAX;
    }

    fn process_block(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        if self.cfg.input_rate != self.cfg.output_rate {
            return Err(EngineError::RateMismatch {
                input_rate: self.cfg.input_rate,
                output_rate: self.cfg.output_rate,
            });
        }
        if input.len() != output.len() {
            return Err(EngineError::BlockLengthMismatch {
                input: input.len(),
                output: output.len(),
            });
        }
        if input.len() > self.max_block {
            return Err(EngineError::BlockTooLarge {
                max: self.max_block,
                found: input.len(),
            });
        }
        if let Err(e) = self.push_input(input) {
            output.fill(0.0);
            return Err(e);
        }
        self.due_total += input.len() as u64;
        self.pop_due(output);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mock::{MockGenerator, MockVocoder};
    use rand::{Rng, SeedableRng};

    fn noise(n: usize) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        (0..n).map(|_| rng.gen_range(-0.5f32..0.5)).collect()
    }

    /// Streams with block size 1 (the worst case for the latency bound) at many rates: the
    /// output queue never runs dry, and the computed latency is close to the least that works.
    #[test]
    fn latency_bound_holds_and_is_tight() {
        for chunk in [1usize, 3] {
            for rate in [8_000u32, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000] {
                let cfg = EngineConfig {
                    generator_context: Context { left: 2, right: 2 },
                    vocoder_context: Context { left: 1, right: 4 },
                    chunk_frames: chunk,
                    input_rate: rate,
                    output_rate: rate,
                    ..EngineConfig::default()
                };
                let g = MockGenerator::new(80, 50, 1);
                let v = MockVocoder::new(&cfg.mel, 1, 1.0).unwrap();
                let mut e = Engine::new(cfg, Box::new(g), Some(Box::new(v)), 1).unwrap();
                let x = noise(rate as usize * 3 / 2);
                let mut y = [0.0f32];
                for s in &x {
                    e.process_block(std::slice::from_ref(s), &mut y).unwrap();
                }
                let slack = e.min_slack;
                eprintln!(
                    "chunk {chunk}, {rate} Hz: latency {}, unused slack {slack}",
                    e.latency
                );
                assert_eq!(e.stats.underruns, 0, "{rate} Hz");
                if rate == 22_050 {
                    // No resamplers: the bound is exact.
                    assert_eq!(slack, 0, "{rate} Hz");
                } else {
                    // Only the resamplers' rounding allowances and chunk phase are unused.
                    let bound =
                        2 * RESAMPLER_CHUNK * rate as usize / 22_050 + 2 * RESAMPLER_CHUNK + 8;
                    assert!(slack <= bound, "{rate} Hz: slack {slack} > {bound}");
                }
            }
        }
    }
}
