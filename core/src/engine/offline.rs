//! Whole-signal processing: the streaming engine with its latency trimmed, and Griffin-Lim.

use super::spectral::{FrameFft, MelInverse, Ola, Splicer};
use super::stream::gather;
use super::{
    validate, Engine, EngineConfig, EngineError, ModelRuntime, StreamProcessor, Synthesis,
};
use crate::config::contract;
use crate::dsp::{griffin_lim, resample, Complex32, GriffinLimConfig, MelFilterbank, Stft};

/// Block size [`enhance_offline`] gives its engine (samples per call).
const OFFLINE_BLOCK: usize = 1 << 16;

/// `round(n * to / from)` with halves rounded up (the length convention of `dsp::resample`).
fn scaled_len(n: usize, from_hz: u32, to_hz: u32) -> usize {
    let num = n as u128 * to_hz as u128;
    let den = from_hz as u128;
    ((2 * num + den) / (2 * den)) as usize
}

/// Runs a whole signal through `engine` (reset first): the same streaming engine with big
/// blocks, `latency_samples()` of zeros' worth of input fed at the end and the first
/// `latency_samples()` output samples trimmed. The output has
/// `round(input.len() * output_rate / input_rate)` samples (the input's length at equal
/// rates) and is time-aligned with the input. The engine is left mid-stream; reset it before
/// streaming with it again.
pub fn process_offline(engine: &mut Engine, input: &[f32]) -> Result<Vec<f32>, EngineError> {
    engine.reset();
    let (r_in, r_out) = (engine.config().input_rate, engine.config().output_rate);
    let target = scaled_len(input.len(), r_in, r_out);
    let lat = engine.latency_samples();
    let block = engine.max_block();
    let mut out = Vec::with_capacity(lat + target + engine.max_output_len(block));
    for piece in input.chunks(block) {
        engine.process(piece, &mut out)?;
    }
    let zeros = vec![0.0f32; block];
    while out.len() < lat + target {
        let missing = (lat + target - out.len()) as u128;
        let n_in = (missing * r_in as u128).div_ceil(r_out as u128) as usize;
        engine.process(&zeros[..n_in.clamp(1, block)], &mut out)?;
    }
    out.drain(..lat);
    out.truncate(target);
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
    let core = m.sample_rate;
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
    let x = resample(&clean, cfg.input_rate, core)?;
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
    let g = griffin_lim(&gmag, n_frames, &stft, len, &gl)?;

    // Re-analyse, splice with the input frame by frame, overlap-add.
    let splicer = Splicer::new(cfg);
    let mut gs = vec![zero; n_frames * n_bins];
    for_each_frame(&mut fft, &g, n_fft, hop, &mut spec, |t, s| {
        gs[t * n_bins..(t + 1) * n_bins].copy_from_slice(s);
    });
    let mut ola = Ola::new(n_fft);
    let mut y = vec![0.0f32; len];
    let mut ys = vec![zero; n_bins];
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

    let mut out = resample(&y, core, cfg.output_rate)?;
    out.resize(
        scaled_len(input.len(), cfg.input_rate, cfg.output_rate),
        0.0,
    );
    Ok(out)
}
