//! Fast Griffin-Lim phase reconstruction (Perraudin, Balazs & Søndergaard, 2013), with the
//! update of `librosa.griffinlim` / `torchaudio.functional.griffinlim`:
//! `angles = rebuilt - momentum / (1 + momentum) * previous_rebuilt`, normalised to unit
//! magnitude (the normalisation makes this the paper's `t_n + a (t_n - t_{n-1})`).

use rand::{Rng, SeedableRng};

use super::stft::Stft;
use super::{check_len, invalid, Complex32, DspError};

/// Settings of [`griffin_lim`].
#[derive(Debug, Clone, PartialEq)]
pub struct GriffinLimConfig {
    /// Number of projection iterations (default 32).
    pub iterations: usize,
    /// Momentum in `[0, 1)` (default 0.99; 0 is classic Griffin-Lim).
    pub momentum: f32,
    /// `Some(seed)`: uniformly random initial phase from a ChaCha8 generator seeded with it
    /// (librosa's `init="random"`); `None`: zero initial phase. Both are deterministic.
    pub seed: Option<u64>,
}

impl Default for GriffinLimConfig {
    fn default() -> Self {
        Self {
            iterations: 32,
            momentum: 0.99,
            seed: Some(0),
        }
    }
}

/// Checks the magnitude shape against `stft` and that `length` samples give `n_frames` frames.
fn check_shape(
    magnitude: &[f32],
    n_frames: usize,
    stft: &Stft,
    length: usize,
) -> Result<(), DspError> {
    let expected = n_frames.checked_mul(stft.n_bins()).ok_or_else(|| {
        invalid(
            "n_frames",
            "a frame count whose data fits in memory",
            n_frames,
        )
    })?;
    check_len(
        "magnitude length (n_frames * n_bins)",
        expected,
        magnitude.len(),
    )?;
    check_len(
        "frames of a signal of the requested length (1 + length / hop)",
        n_frames,
        stft.n_frames(length),
    )
}

/// Reconstructs a signal of `length` samples whose STFT magnitude approximates `magnitude`
/// (frame-major `n_frames x n_bins`, power 1, analysed with `stft`).
///
/// `length` must give `n_frames` frames (`1 + length / hop == n_frames`), as it does for the
/// signal the magnitude came from; `(n_frames - 1) * hop` always qualifies. Errors on a shape mismatch or a momentum outside `[0, 1)`.
pub fn griffin_lim(
    magnitude: &[f32],
    n_frames: usize,
    stft: &Stft,
    length: usize,
    config: &GriffinLimConfig,
) -> Result<Vec<f32>, DspError> {
    griffin_lim_from(magnitude, None, n_frames, stft, length, config)
}

/// [`griffin_lim`] starting from the phases of `initial` (frame-major like `magnitude`; its
/// magnitudes are ignored, a zero bin starts at phase 0) instead of `config.seed`'s.
pub fn griffin_lim_from(
    magnitude: &[f32],
    initial: Option<&[Complex32]>,
    n_frames: usize,
    stft: &Stft,
    length: usize,
    config: &GriffinLimConfig,
) -> Result<Vec<f32>, DspError> {
    check_shape(magnitude, n_frames, stft, length)?;
    if !(config.momentum.is_finite() && (0.0..1.0).contains(&config.momentum)) {
        return Err(invalid("momentum", "a value in [0, 1)", config.momentum));
    }
    let size = magnitude.len();
    if let Some(init) = initial {
        check_len("initial phase length", size, init.len())?;
    }
    let mut angles: Vec<Complex32> = match (initial, config.seed) {
        (Some(init), _) => init
            .iter()
            .map(|v| {
                let n = super::abs(*v);
                if n > 0.0 && n.is_finite() {
                    v / n
                } else {
                    Complex32::new(1.0, 0.0)
                }
            })
            .collect(),
        (None, Some(seed)) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..size)
                .map(|_| {
                    let phase = std::f32::consts::TAU * rng.gen::<f32>();
                    Complex32::from_polar(1.0, phase)
                })
                .collect()
        }
        (None, None) => vec![Complex32::new(1.0, 0.0); size],
    };
    let alpha = config.momentum / (1.0 + config.momentum);
    let mut scratch = stft.scratch();
    let (mut ola, mut wsum) = (Vec::new(), Vec::new());
    let mut spec = vec![Complex32::new(0.0, 0.0); size];
    let mut rebuilt = Vec::with_capacity(size);
    let mut previous = vec![Complex32::new(0.0, 0.0); size];
    let mut signal = vec![0.0f32; length];
    for _ in 0..config.iterations {
        for ((s, a), m) in spec.iter_mut().zip(&angles).zip(magnitude) {
            *s = a * *m;
        }
        stft.inverse_into(
            &spec,
            n_frames,
            &mut scratch,
            &mut ola,
            &mut wsum,
            &mut signal,
        );
        stft.forward_into(&signal, &mut scratch, &mut rebuilt);
        for ((a, r), p) in angles.iter_mut().zip(&rebuilt).zip(&previous) {
            let v = r - p * alpha;
            // Unit phasor; a zero bin stays zero (its magnitude is then irrelevant anyway).
            *a = v / (super::abs(v) + f32::MIN_POSITIVE);
        }
        std::mem::swap(&mut previous, &mut rebuilt);
    }
    for ((s, a), m) in spec.iter_mut().zip(&angles).zip(magnitude) {
        *s = a * *m;
    }
    stft.inverse_into(
        &spec,
        n_frames,
        &mut scratch,
        &mut ola,
        &mut wsum,
        &mut signal,
    );
    Ok(signal)
}

/// Spectral convergence `|| magnitude - |STFT(signal)| ||_F / || magnitude ||_F`
/// (0 when `signal` has exactly the target magnitude). Same shape rules as [`griffin_lim`].
pub fn spectral_convergence(
    magnitude: &[f32],
    n_frames: usize,
    stft: &Stft,
    signal: &[f32],
) -> Result<f32, DspError> {
    check_shape(magnitude, n_frames, stft, signal.len())?;
    let mut scratch = stft.scratch();
    let mut spec = Vec::with_capacity(magnitude.len());
    stft.forward_into(signal, &mut scratch, &mut spec);
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (m, c) in magnitude.iter().zip(&spec) {
        diff += (*m as f64 - super::abs(*c) as f64).powi(2);
        norm += (*m as f64).powi(2);
    }
    Ok(if norm > 0.0 {
        (diff / norm).sqrt() as f32
    } else {
        diff.sqrt() as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A harmonic tone with vibrato plus a little noise: structured like voiced speech.
    fn test_signal(n: usize) -> Vec<f32> {
        let mut state = 12345u32;
        (0..n)
            .map(|i| {
                let t = i as f32 / 22050.0;
                let f0 = 140.0 + 20.0 * (2.0 * std::f32::consts::PI * 3.0 * t).sin();
                let mut v = 0.0;
                for h in 1..8 {
                    v += (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32;
                }
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                v * 0.2 + ((state >> 8) as f32 / 16_777_216.0 - 0.5) * 0.01
            })
            .collect()
    }

    fn sc_after(x: &[f32], stft: &Stft, iterations: usize, momentum: f32) -> f32 {
        let spec = stft.forward(x);
        let mag = spec.magnitude();
        let cfg = GriffinLimConfig {
            iterations,
            momentum,
            seed: Some(1),
        };
        let y = griffin_lim(&mag, spec.n_frames, stft, x.len(), &cfg).unwrap();
        spectral_convergence(&mag, spec.n_frames, stft, &y).unwrap()
    }

    #[test]
    fn convergence_improves_and_momentum_helps() {
        let stft = Stft::new(1024, 256, 1024).unwrap();
        let x = test_signal(11025);
        let sc: Vec<f32> = [0, 4, 16, 32]
            .iter()
            .map(|&n| sc_after(&x, &stft, n, 0.99))
            .collect();
        for w in sc.windows(2) {
            assert!(w[1] < w[0], "spectral convergence did not improve: {sc:?}");
        }
        let plain = sc_after(&x, &stft, 32, 0.0);
        assert!(
            sc[3] < plain,
            "momentum 0.99: {}, momentum 0: {plain}",
            sc[3]
        );
    }

    #[test]
    fn deterministic_and_zero_phase_init_works() {
        let stft = Stft::new(512, 128, 512).unwrap();
        let x = test_signal(4000);
        let spec = stft.forward(&x);
        let mag = spec.magnitude();
        for seed in [Some(3), None] {
            let cfg = GriffinLimConfig {
                iterations: 5,
                seed,
                ..GriffinLimConfig::default()
            };
            let a = griffin_lim(&mag, spec.n_frames, &stft, 4000, &cfg).unwrap();
            let b = griffin_lim(&mag, spec.n_frames, &stft, 4000, &cfg).unwrap();
            assert_eq!(a, b);
            assert_eq!(a.len(), 4000);
        }
    }

    #[test]
    fn exact_phase_is_a_fixed_point() {
        let stft = Stft::new(512, 128, 512).unwrap();
        let x = test_signal(3000);
        let spec = stft.forward(&x);
        let sc = spectral_convergence(&spec.magnitude(), spec.n_frames, &stft, &x).unwrap();
        assert!(sc < 1e-5, "{sc}");
    }

    #[test]
    fn initial_phases_are_used() {
        // Started from the signal's own phases, iterations keep it (to float precision) while
        // a random start stays far off after the same few iterations; the initial spectrum's
        // magnitudes do not matter, and a wrong-length start is an error.
        let stft = Stft::new(512, 128, 512).unwrap();
        let x = test_signal(3000);
        let spec = stft.forward(&x);
        let mag = spec.magnitude();
        let scaled: Vec<Complex32> = spec.data.iter().map(|v| v * 3.5).collect();
        let cfg = GriffinLimConfig {
            iterations: 2,
            ..GriffinLimConfig::default()
        };
        let err = |y: &[f32]| {
            let e: f32 = x.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum();
            let r: f32 = x.iter().map(|a| a * a).sum();
            (e / r).sqrt()
        };
        let from = griffin_lim_from(&mag, Some(&scaled), spec.n_frames, &stft, 3000, &cfg).unwrap();
        let random = griffin_lim(&mag, spec.n_frames, &stft, 3000, &cfg).unwrap();
        assert!(err(&from) < 1e-3, "{}", err(&from));
        assert!(err(&random) > 0.3, "{}", err(&random));
        assert!(
            griffin_lim_from(&mag, Some(&scaled[1..]), spec.n_frames, &stft, 3000, &cfg).is_err()
        );
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let stft = Stft::new(512, 128, 512).unwrap();
        let mag = vec![1.0; 257 * 10];
        let cfg = GriffinLimConfig::default();
        // 1 + 1280 / 128 = 11 frames, not 10.
        let err = griffin_lim(&mag, 10, &stft, 1280, &cfg)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 10, found 11"), "{err}");
        assert!(griffin_lim(&mag[..100], 10, &stft, 1200, &cfg).is_err());
        for momentum in [-0.1, 1.0, f32::NAN] {
            let bad = GriffinLimConfig {
                momentum,
                ..cfg.clone()
            };
            assert!(griffin_lim(&mag, 10, &stft, 1200, &bad).is_err());
        }
        assert!(griffin_lim(&mag, 10, &stft, 1200, &cfg).is_ok());
    }
}
