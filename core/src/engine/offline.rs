//! Whole-signal processing: the streaming engine with its latency trimmed, and Griffin-Lim.

use std::borrow::BorrowMut;

use super::spectral::{phase_copy, FrameFft, MelInverse, Ola, SpliceGeometry, Splicer};
use super::stream::gather;
use super::{
    validate, Engine, EngineConfig, EngineError, ModelRuntime, StreamProcessor, Synthesis,
};
use crate::config::contract;
use crate::dsp::{
    griffin_lim_from, resample_with, Complex32, GriffinLimConfig, MelFilterbank, Stft,
};

/// Block size [`enhance_offline`] gives its engine (samples per call).
const OFFLINE_BLOCK: usize = 1 << 16;

/// `round(n * to / from)` with halves rounded up (the length convention of `dsp::resample`).
fn scaled_len(n: usize, from_hz: u32, to_hz: u32) -> usize {
    let num = n as u128 * to_hz as u128;
    let den = from_hz as u128;
    ((2 * num + den) / (2 * den)) as usize
}

/// Streams a signal of any length through an [`Engine`] with the latency trimmed off, in
/// bounded memory: the output is what [`process_offline`] gives for the whole signal, handed
/// out block by block (for hour-long files).
///
/// [`push`](Self::push) appends the output that is ready (the first `latency_samples()`
/// engine output samples are dropped); [`finish`](Self::finish) feeds silence until the output
/// totals `round(n_in * output_rate / input_rate)` samples, then resets the engine for the next
/// stream. `E` is an owned [`Engine`] or a `&mut Engine`.
///
/// Knowing where the output ends, `finish` tells the engine ([`Engine::limit_output`]), so
/// that its last generator chunk runs on only the frames that output needs and the silence fed
/// after the input is no longer than they need: the output is the same, for less work.
/// A caller that needs only the start of the output says so earlier with
/// [`limit_output`](Self::limit_output).
pub struct OfflineStream<E: BorrowMut<Engine> = Engine> {
    engine: E,
    /// Leading engine output samples still to drop.
    skip: usize,
    in_total: u64,
    out_total: u64,
    /// Output samples the caller needs at most (`limit_output`).
    limit: Option<u64>,
}

impl<E: BorrowMut<Engine>> std::fmt::Debug for OfflineStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineStream")
            .field("engine", self.engine.borrow())
            .field("skip", &self.skip)
            .field("in_total", &self.in_total)
            .field("out_total", &self.out_total)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<E: BorrowMut<Engine>> OfflineStream<E> {
    /// Starts a stream on `engine` (reset first).
    pub fn new(mut engine: E) -> Self {
        engine.borrow_mut().reset();
        let skip = engine.borrow().latency_samples();
        Self {
            engine,
            skip,
            in_total: 0,
            out_total: 0,
            limit: None,
        }
    }

    /// Declares that only the first `samples` output samples of this stream will be used:
    /// [`finish`](Self::finish) stops there, and the engine skips the model work that only
    /// later samples need ([`Engine::limit_output`]). Samples appended past `samples` (by
    /// [`push`](Self::push)) are not meaningful. Lasts until `finish`.
    pub fn limit_output(&mut self, samples: u64) {
        self.limit = Some(samples);
        self.engine.borrow_mut().limit_output(samples);
    }

    /// The engine (for its configuration and [`stats`](Engine::stats)).
    pub fn engine(&self) -> &Engine {
        self.engine.borrow()
    }

    /// The engine, mutably (for its statistics and timers; feeding it directly would break
    /// the stream's bookkeeping).
    pub fn engine_mut(&mut self) -> &mut Engine {
        self.engine.borrow_mut()
    }

    /// Gives the engine back (mid-stream unless [`finish`](Self::finish) ran last).
    pub fn into_engine(self) -> E {
        self.engine
    }

    /// Feeds `input` (any length) and appends the trimmed output that is ready to `out`;
    /// returns how many samples were appended.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<usize, EngineError> {
        let start = out.len();
        let block = self.engine.borrow().max_block();
        for piece in input.chunks(block) {
            self.feed(piece, out)?;
        }
        self.in_total += input.len() as u64;
        Ok(out.len() - start)
    }

    /// Ends the stream: appends the rest of the output, so that everything appended since the
    /// start totals `round(n_in * output_rate / input_rate)` samples (at most the
    /// [`limit_output`](Self::limit_output), when one was set and `push` had not already gone
    /// past it), and resets the engine.
    /// Returns how many samples were appended.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<usize, EngineError> {
        let start = out.len();
        let (r_in, r_out, block) = {
            let e = self.engine.borrow();
            (e.config().input_rate, e.config().output_rate, e.max_block())
        };
        let mut target = scaled_len(self.in_total as usize, r_in, r_out) as u64;
        match self.limit {
            Some(l) => target = target.min(l),
            None => self.engine.borrow_mut().limit_output(target),
        }
        let mut zeros = Vec::new();
        while self.out_total < target {
            // Engine output still owed, the untrimmed latency included.
            let missing = (self.skip as u64 + target - self.out_total) as u128;
            let n_in = (missing * r_in as u128).div_ceil(r_out as u128) as usize;
            let n_in = n_in.clamp(1, block);
            if zeros.len() < n_in {
                zeros.resize(n_in, 0.0);
            }
            self.feed(&zeros[..n_in], out)?;
        }
        let extra = (self.out_total - target) as usize;
        out.truncate(out.len() - extra.min(out.len() - start));
        let appended = out.len() - start;
        self.engine.borrow_mut().reset();
        self.skip = self.engine.borrow().latency_samples();
        self.in_total = 0;
        self.out_total = 0;
        self.limit = None;
        Ok(appended)
    }

    /// One engine call (at most `max_block` samples) with the leading latency dropped.
    fn feed(&mut self, piece: &[f32], out: &mut Vec<f32>) -> Result<(), EngineError> {
        let start = out.len();
        self.engine.borrow_mut().process(piece, out)?;
        let drop = self.skip.min(out.len() - start);
        out.drain(start..start + drop);
        self.skip -= drop;
        self.out_total += (out.len() - start) as u64;
        Ok(())
    }
}

/// Runs a whole signal through `engine` (reset first): the same streaming engine with big
/// blocks, `latency_samples()` of zeros' worth of input fed at the end and the first
/// `latency_samples()` output samples trimmed ([`OfflineStream`] on the whole signal). The
/// output has `round(input.len() * output_rate / input_rate)` samples (the input's length at
/// equal rates) and is time-aligned with the input. The engine is reset afterwards.
pub fn process_offline(engine: &mut Engine, input: &[f32]) -> Result<Vec<f32>, EngineError> {
    let (r_in, r_out) = (engine.config().input_rate, engine.config().output_rate);
    let lat = engine.latency_samples();
    let target = scaled_len(input.len(), r_in, r_out);
    let mut out = Vec::with_capacity(lat + target + engine.max_output_len(engine.max_block()));
    let mut stream = OfflineStream::new(engine);
    stream.push(input, &mut out)?;
    stream.finish(&mut out)?;
    Ok(out)
}

/// Enhances a whole signal with `config` (any synthesis, Griffin-Lim included); the output
/// has `round(input.len() * output_rate / input_rate)` samples, time-aligned with the input.
///
/// Vocoder and phase-copy synthesis run the streaming [`Engine`] through
/// [`process_offline`], so the result is what a live front end would play. Griffin-Lim runs
/// on the whole signal: the generator predicts the log-mel (same chunks and context as the
/// engine), the mel pseudo-inverse gives the magnitude, Griffin-Lim its phase, and the result
/// is re-analysed and band-spliced with the input exactly like the engine does.
pub fn enhance_offline(
    config: &EngineConfig,
    generator: Box<dyn ModelRuntime>,
    vocoder: Option<Box<dyn ModelRuntime>>,
    input: &[f32],
) -> Result<Vec<f32>, EngineError> {
    match config.synthesis {
        Synthesis::GriffinLim { iterations } => {
            griffin_lim_offline(config, iterations, generator, input)
        }
        _ => {
            let mut engine = Engine::new(config.clone(), generator, vocoder, OFFLINE_BLOCK)?;
            process_offline(&mut engine, input)
        }
    }
}

/// Centred STFT frames `0 .. 1 + len / hop` of `x` with zeros outside it (the engine's
/// framing), frame-major, via `f(t, spectrum)`.
fn for_each_frame(
    fft: &mut FrameFft,
    x: &[f32],
    n_fft: usize,
    hop: usize,
    spec: &mut [Complex32],
    mut f: impl FnMut(usize, &[Complex32]),
) {
    let half = n_fft / 2;
    let mut padded = vec![0.0f32; x.len() + n_fft + hop];
    padded[half..half + x.len()].copy_from_slice(x);
    for t in 0..1 + x.len() / hop {
        fft.analyse(&padded[t * hop..t * hop + n_fft], spec);
        f(t, spec);
    }
}

fn griffin_lim_offline(
    cfg: &EngineConfig,
    iterations: usize,
    mut generator: Box<dyn ModelRuntime>,
    input: &[f32],
) -> Result<Vec<f32>, EngineError> {
    validate(cfg)?;
    let m = &cfg.mel;
    let (n_fft, hop, n_mels, n_bins) = (m.n_fft, m.hop, m.n_mels, m.n_bins());
    let x = to_core_rate(cfg, input)?;
    let len = x.len();
    let n_frames = 1 + len / hop;

    // Analysis: input spectrum and log-mel, frame-major.
    let mut fft = FrameFft::new(cfg)?;
    let fb = MelFilterbank::new(m)?;
    let zero = Complex32::new(0.0, 0.0);
    let mut spec = vec![zero; n_bins];
    let mut xs = vec![zero; n_frames * n_bins];
    let mut lr = vec![0.0f32; n_frames * n_mels];
    let mut mag = vec![0.0f32; n_bins];
    let mut mel = vec![0.0f32; n_mels];
    let mut fb_err = None;
    for_each_frame(&mut fft, &x, n_fft, hop, &mut spec, |t, s| {
        xs[t * n_bins..(t + 1) * n_bins].copy_from_slice(s);
        for (d, c) in mag.iter_mut().zip(s) {
            *d = c.norm_sqr().powf(0.5 * m.power);
        }
        if let Err(e) = fb.apply(&mag, &mut mel) {
            fb_err = Some(e);
        }
        for (d, &v) in lr[t * n_mels..(t + 1) * n_mels].iter_mut().zip(&mel) {
            *d = v.max(m.log_clamp).ln();
        }
    });
    if let Some(e) = fb_err {
        return Err(e.into());
    }

    // Generator, chunked with the same context as the engine (frames outside are silence).
    let floor = m.log_clamp.ln();
    let (c, ctx) = (cfg.chunk_frames, cfg.generator_context);
    let t_len = ctx.left + c + ctx.right;
    let names = generator.output_names();
    let gen_idx = names
        .iter()
        .position(|n| n == contract::GENERATOR_OUTPUT)
        .unwrap_or(0);
    let mut outs: Vec<Vec<f32>> = generator
        .output_channels()
        .iter()
        .map(|ch| Vec::with_capacity(ch * t_len))
        .collect();
    if outs.is_empty() {
        return Err(EngineError::ModelShape {
            model: "generator",
            expected: "one output".into(),
            found: "none".into(),
        });
    }
    let mut gin = vec![0.0f32; n_mels * t_len];
    let mut hr = vec![floor; n_frames * n_mels];
    let mut ok = vec![true; n_frames];
    for k in 0..n_frames.div_ceil(c) {
        let start = (k * c) as i64 - ctx.left as i64;
        gather(&mut gin, n_mels, t_len, start, floor, |t| {
            (t >= 0 && (t as usize) < n_frames)
                .then(|| &lr[t as usize * n_mels..(t as usize + 1) * n_mels])
        });
        generator
            .run(&gin, n_mels, t_len, &mut outs)
            .map_err(|source| EngineError::Runtime {
                model: "generator",
                source,
            })?;
        let out = &outs[gen_idx];
        if out.len() < n_mels * t_len {
            return Err(EngineError::ModelShape {
                model: "generator",
                expected: format!("{} values ({n_mels} x {t_len})", n_mels * t_len),
                found: format!("{} values", out.len()),
            });
        }
        for i in 0..c {
            let t = k * c + i;
            if t >= n_frames {
                break;
            }
            let col = ctx.left + i;
            let dst = &mut hr[t * n_mels..(t + 1) * n_mels];
            for (mm, d) in dst.iter_mut().enumerate() {
                *d = out[mm * t_len + col];
            }
            ok[t] = dst.iter().all(|v| v.is_finite());
        }
    }

    // Magnitude from the predicted mel, phase from Griffin-Lim.
    let mut inverse = MelInverse::new(&fb, m.power);
    let mut gmag = vec![0.0f32; n_frames * n_bins];
    for t in 0..n_frames {
        let dst = &mut gmag[t * n_bins..(t + 1) * n_bins];
        if ok[t] {
            inverse.magnitude(&hr[t * n_mels..(t + 1) * n_mels], dst);
        }
        if !dst.iter().all(|v| v.is_finite()) {
            ok[t] = false;
        }
        if !ok[t] {
            dst.fill(0.0);
        }
    }
    let stft = Stft::new(n_fft, hop, m.win)?;
    let gl = GriffinLimConfig {
        iterations,
        ..GriffinLimConfig::default()
    };
    // With the band splice, start from the input's own phases below the phase-copy base and
    // the phase copy above it (what the phase-copy synthesis plays) rather than random phases:
    // the iterations keep part of the harmonic alignment with the low band (hold-out, quality
    // set: PESQ-WB +0.02 at the same LSD-HF; docs/TRAINING.md). Without the splice (the
    // seed's pure synthesis, and `vocoder-eval`'s judgement of the synthesis alone) the
    // signal's phase is not the synthesis' to know: random start.
    let init = cfg.splice.then(|| {
        let geom = SpliceGeometry::new(cfg);
        let ones = vec![1.0f32; n_bins];
        let mut init = vec![zero; n_frames * n_bins];
        for (x, o) in xs.chunks_exact(n_bins).zip(init.chunks_exact_mut(n_bins)) {
            phase_copy(x, &ones, geom.phase_base, 0, o);
            o[..geom.phase_base].copy_from_slice(&x[..geom.phase_base]);
        }
        init
    });
    let g = griffin_lim_from(&gmag, init.as_deref(), n_frames, &stft, len, &gl)?;

    // Re-analyse, splice with the input frame by frame, overlap-add.
    let mut gs = vec![zero; n_frames * n_bins];
    for_each_frame(&mut fft, &g, n_fft, hop, &mut spec, |t, s| {
        gs[t * n_bins..(t + 1) * n_bins].copy_from_slice(s);
    });
    splice_and_synthesise(cfg, &mut fft, &xs, &gs, &ok, len, input.len())
}

/// The input with non-finite samples zeroed and the rest clipped like the engine does,
/// resampled to the models' rate.
fn to_core_rate(cfg: &EngineConfig, input: &[f32]) -> Result<Vec<f32>, EngineError> {
    let clean: Vec<f32> = input
        .iter()
        .map(|&s| {
            if s.is_finite() {
                s.clamp(-1e6, 1e6)
            } else {
                0.0
            }
        })
        .collect();
    Ok(resample_with(
        &clean,
        cfg.input_rate,
        cfg.mel.sample_rate,
        cfg.resampler,
    )?)
}

/// Splices the input frames `xs` with the generated frames `gs` (both frame-major, `n_bins`
/// per frame; `ok[t] == false` drops frame `t`'s generated band) exactly like the engine,
/// overlap-adds them into `len` samples at the models' rate and resamples to the output rate
/// (`round(input_len * output_rate / input_rate)` samples).
fn splice_and_synthesise(
    cfg: &EngineConfig,
    fft: &mut FrameFft,
    xs: &[Complex32],
    gs: &[Complex32],
    ok: &[bool],
    len: usize,
    input_len: usize,
) -> Result<Vec<f32>, EngineError> {
    let m = &cfg.mel;
    let (n_fft, hop, n_bins) = (m.n_fft, m.hop, m.n_bins());
    let n_frames = ok.len();
    let splicer = Splicer::new(cfg);
    let mut ola = Ola::new(n_fft);
    let mut y = vec![0.0f32; len];
    let mut ys = vec![Complex32::new(0.0, 0.0); n_bins];
    let mut hop_buf = vec![0.0f32; hop];
    let mut emit = |start: i64, hop_buf: &[f32]| {
        for (i, &v) in hop_buf.iter().enumerate() {
            let n = start + i as i64;
            if n >= 0 && (n as usize) < len {
                y[n as usize] = if v.is_finite() { v } else { 0.0 };
            }
        }
    };
    let mut start = -((n_fft / 2) as i64);
    for t in 0..n_frames {
        let xf = &xs[t * n_bins..(t + 1) * n_bins];
        let gf = &gs[t * n_bins..(t + 1) * n_bins];
        splicer.splice(xf, gf, cfg.amount, ok[t], &mut ys);
        fft.synthesise_into(&ys, &mut ola);
        ola.take_hop(&mut hop_buf);
        emit(start, &hop_buf);
        start += hop as i64;
    }
    // The samples after the last frame's first hop: only earlier frames cover them.
    while start < len as i64 {
        ola.take_hop(&mut hop_buf);
        emit(start, &hop_buf);
        start += hop as i64;
    }

    let mut out = resample_with(&y, m.sample_rate, cfg.output_rate, cfg.resampler)?;
    out.resize(scaled_len(input_len, cfg.input_rate, cfg.output_rate), 0.0);
    Ok(out)
}

/// The simple DSP bandwidth extension the quality report compares against (no model): the
/// band from half the cutoff up to the cutoff (2-4 kHz for narrow-band speech) is translated
/// upwards, copy after copy, to fill every bin above the cutoff, each copied bin scaled by
/// `source frequency / target frequency` (a -6 dB per octave tilt, roughly the fall of a
/// speech spectrum), then band-spliced with the input exactly like the engine's output
/// (`cfg.amount`, cross-fade and energy limit apply). Shifts are whole multiples of the
/// phase-copy step, so the copied phases stay coherent from frame to frame.
///
/// `cfg.synthesis` and the model contexts are ignored; `cfg.splice` must be `true`. The
/// output has `round(input.len() * output_rate / input_rate)` samples, time-aligned.
pub fn translate_offline(cfg: &EngineConfig, input: &[f32]) -> Result<Vec<f32>, EngineError> {
    let cfg = &EngineConfig {
        synthesis: Synthesis::PhaseCopy,
        ..cfg.clone()
    };
    validate(cfg)?;
    if !cfg.splice {
        return Err(EngineError::InvalidConfig {
            field: "splice",
            expected: "true (the translation baseline always keeps the input band)".into(),
            found: "false".into(),
        });
    }
    let m = &cfg.mel;
    let (n_fft, hop, n_bins) = (m.n_fft, m.hop, m.n_bins());
    let geom = SpliceGeometry::new(cfg);
    // The source band is [cut - width, cut); its width a multiple of the phase step.
    let width = (geom.phase_base / 2) / geom.phase_step * geom.phase_step;
    let x = to_core_rate(cfg, input)?;
    let len = x.len();
    let n_frames = 1 + len / hop;
    let mut fft = FrameFft::new(cfg)?;
    let zero = Complex32::new(0.0, 0.0);
    let mut spec = vec![zero; n_bins];
    let mut xs = vec![zero; n_frames * n_bins];
    let mut gs = vec![zero; n_frames * n_bins];
    for_each_frame(&mut fft, &x, n_fft, hop, &mut spec, |t, s| {
        xs[t * n_bins..(t + 1) * n_bins].copy_from_slice(s);
        if width == 0 {
            return;
        }
        let g = &mut gs[t * n_bins..(t + 1) * n_bins];
        for (k, gk) in g.iter_mut().enumerate().skip(geom.phase_base) {
            let src = geom.phase_base - width + (k - geom.phase_base) % width;
            *gk = s[src] * (src as f32 / k as f32);
        }
    });
    let ok = vec![true; n_frames];
    splice_and_synthesise(cfg, &mut fft, &xs, &gs, &ok, len, input.len())
}
