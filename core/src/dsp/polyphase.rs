//! Exact-phase polyphase resampling for rate pairs with a small rational ratio.
//!
//! [`Polyphase`] computes exactly what rubato's `SincFixedIn` computes with
//! `SincInterpolationType::Nearest` and an oversampling factor equal to the number of phases
//! `L = to / gcd(from, to)` (each output falls on a table phase, so no interpolation is
//! needed): the same windowed-sinc table, the same read positions, the same zero history. It
//! differs in the order of the work. rubato walks the outputs in time order, so consecutive
//! outputs read different rows of a table that for 8 -> 22.05 kHz is 441 x 256 floats (450 kB,
//! as large as the core's L2 cache); here a block's outputs are grouped by phase, so each row
//! is loaded once and used for every output of that phase in the block, the way a strided
//! convolution runs. On the offline 8 -> 22.05 kHz path that is about four times faster
//! (`cargo run --release -p widen-core --example resample_speed`). Output is emitted as soon
//! as the filter has seen its input (no chunk granularity).

use rubato::WindowFunction;

/// Windowed-sinc polyphase resampler with `phases` exact phases (see the module docs).
pub(crate) struct Polyphase {
    /// `L`: output samples per `step` input samples (`to / gcd`).
    phases: usize,
    /// `F`: input samples per `phases` outputs (`from / gcd`).
    step: usize,
    /// Filter length in input samples (a multiple of 8).
    taps: usize,
    /// Row `r` (`taps` floats) is the filter of the outputs whose read position is `r / L`
    /// past an input sample.
    table: Vec<f32>,
    /// Input from absolute index `origin` on (zeros before the stream start).
    buf: Vec<f32>,
    origin: i64,
    /// Index of the next output to emit.
    next: u64,
    /// Input samples fed since the last reset.
    fed: u64,
    /// The CPU runs [`dot_avx2`].
    avx2: bool,
}

impl Polyphase {
    /// A resampler for `from_hz -> to_hz` with `taps` filter taps (input samples, a multiple
    /// of 8), rubato's `f_cutoff` (relative to the input Nyquist; scaled down by the ratio
    /// when downsampling, as rubato does) and window, taking blocks of up to `max_block` input
    /// samples without allocating.
    pub(crate) fn new(
        from_hz: u32,
        to_hz: u32,
        taps: usize,
        f_cutoff: f32,
        window: WindowFunction,
        max_block: usize,
    ) -> Self {
        let g = gcd(from_hz, to_hz);
        let (phases, step) = ((to_hz / g) as usize, (from_hz / g) as usize);
        let f_cutoff = if to_hz >= from_hz {
            f_cutoff
        } else {
            f_cutoff * (to_hz as f64 / from_hz as f64) as f32
        };
        let mut s = Self {
            phases,
            step,
            taps,
            table: sinc_table(taps, phases, f_cutoff, window),
            buf: Vec::with_capacity(2 * taps + max_block + 8),
            origin: 0,
            next: 0,
            fed: 0,
            avx2: has_avx2_fma(),
        };
        s.reset();
        s
    }

    /// Forgets all input.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(self.taps, 0.0);
        self.origin = -(self.taps as i64);
        self.next = 0;
        self.fed = 0;
    }

    /// Most outputs one call with `n` input samples can emit.
    pub(crate) fn max_output(&self, n: usize) -> usize {
        (n * self.phases).div_ceil(self.step) + 2
    }

    /// Output `j` reads input `[q - taps/2, q + taps/2)` with row `r`, where
    /// `(j + 1) * F = q * L + r` (rubato's first read position is `-taps/2 + F/L`).
    fn position(&self, j: u64) -> (i64, usize) {
        let t = (j + 1) * self.step as u64;
        let q = (t / self.phases as u64) as i64 - (self.taps / 2) as i64;
        (q, (t % self.phases as u64) as usize)
    }

    /// Appends `input` and every output that is now complete (at most
    /// [`max_output`](Self::max_output)`(input.len())` samples) to `out`.
    pub(crate) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> usize {
        // Drop history that no future output reads (keeps `buf` within its capacity).
        let (first, _) = self.position(self.next);
        let drop = (first - self.origin).clamp(0, self.buf.len() as i64) as usize;
        if drop > 0 {
            self.buf.drain(..drop);
            self.origin += drop as i64;
        }
        self.buf.extend_from_slice(input);
        self.fed += input.len() as u64;
        // Outputs whose last read sample has arrived: q + taps <= fed, q from `position`.
        let fed = self.fed as i64 + (self.taps / 2) as i64 - self.taps as i64;
        // (j + 1) * F <= (fed + 1) * L - 1  <=>  floor((j + 1) F / L) <= fed.
        let limit = if fed < 0 {
            0
        } else {
            ((fed as u64 + 1) * self.phases as u64 - 1) / self.step as u64
        };
        let end = limit.max(self.next);
        let count = (end - self.next) as usize;
        if count == 0 {
            return 0;
        }
        let base = out.len();
        out.resize(base + count, 0.0);
        let dst = &mut out[base..];
        let taps = self.taps;
        let avx2 = self.avx2;
        let dot = |row: &[f32], x: &[f32]| -> f32 {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: `avx2` is true only where `has_avx2_fma` detected both features.
                return unsafe { dot_avx2(row, x) };
            }
            let _ = avx2;
            dot_lanes(row, x)
        };
        let dot4 = |row: &[f32], x: [&[f32]; 4]| -> [f32; 4] {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: as for `dot`.
                return unsafe { dot4_avx2(row, x) };
            }
            dot4_lanes(row, x)
        };
        // Phase-major: all outputs sharing a table row, one row at a time.
        for c in 0..self.phases.min(count) {
            let j0 = self.next + c as u64;
            let (q0, r) = self.position(j0);
            let row = &self.table[r * taps..(r + 1) * taps];
            let mut start = (q0 - self.origin) as usize;
            let mut k = c;
            let (step, buf) = (self.step, &self.buf);
            while k + 3 * self.phases < count {
                let w = |i: usize| &buf[start + i * step..start + i * step + taps];
                let y = dot4(row, [w(0), w(1), w(2), w(3)]);
                for (i, v) in y.into_iter().enumerate() {
                    dst[k + i * self.phases] = v;
                }
                start += 4 * step;
                k += 4 * self.phases;
            }
            while k < count {
                dst[k] = dot(row, &self.buf[start..start + taps]);
                start += self.step;
                k += self.phases;
            }
        }
        self.next = end;
        count
    }
}

/// Dot product of two equally long slices (portable; the compiler vectorises it for SSE2).
/// Where the CPU has AVX2 and FMA (checked once, at construction) [`dot_avx2`] runs instead.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    // Sixteen independent lanes: two vector registers of accumulators hide the add latency.
    let mut acc = [0.0f32; 16];
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    // A plain ordered sum: a pairwise one here makes the compiler split the loop's lanes.
    acc.iter().sum::<f32>() + tail16(a, b)
}

/// Dot product of the elements past the last whole 16 (what the 16-lane loops leave).
#[inline(always)]
fn tail16(a: &[f32], b: &[f32]) -> f32 {
    a.chunks_exact(16)
        .remainder()
        .iter()
        .zip(b.chunks_exact(16).remainder())
        .map(|(x, y)| x * y)
        .sum()
}

/// Four dot products of one filter row with four input windows (the same phase, `step`
/// apart): the row is loaded once per four multiply-adds, and four independent accumulators
/// keep the adders busy. `row.len()` is a multiple of 8 and each window as long as `row`.
#[inline(always)]
fn dot4_lanes(row: &[f32], x: [&[f32]; 4]) -> [f32; 4] {
    let (mut a0, mut a1, mut a2, mut a3) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    let lanes = row
        .chunks_exact(8)
        .zip(x[0].chunks_exact(8))
        .zip(x[1].chunks_exact(8))
        .zip(x[2].chunks_exact(8))
        .zip(x[3].chunks_exact(8));
    for ((((r, v0), v1), v2), v3) in lanes {
        for i in 0..8 {
            a0[i] += r[i] * v0[i];
            a1[i] += r[i] * v1[i];
            a2[i] += r[i] * v2[i];
            a3[i] += r[i] * v3[i];
        }
    }
    let sum = |a: [f32; 8]| a.iter().sum::<f32>();
    [sum(a0), sum(a1), sum(a2), sum(a3)]
}

/// [`dot_lanes`] with AVX2/FMA intrinsics (two accumulators).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut pairs = a.chunks_exact(16).zip(b.chunks_exact(16));
    for (x, y) in &mut pairs {
        // SAFETY: each chunk holds 16 floats, so both 8-float loads are in bounds.
        unsafe {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr()), _mm256_loadu_ps(y.as_ptr()), s0);
            s1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(x.as_ptr().add(8)),
                _mm256_loadu_ps(y.as_ptr().add(8)),
                s1,
            );
        }
    }
    hsum(_mm256_add_ps(s0, s1)) + tail16(a, b)
}

/// [`dot4_lanes`] with AVX2/FMA intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(row: &[f32], x: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 4];
    let lanes = row
        .chunks_exact(8)
        .zip(x[0].chunks_exact(8))
        .zip(x[1].chunks_exact(8))
        .zip(x[2].chunks_exact(8))
        .zip(x[3].chunks_exact(8));
    for ((((r, v0), v1), v2), v3) in lanes {
        // SAFETY: every chunk holds exactly 8 floats.
        unsafe {
            let r = _mm256_loadu_ps(r.as_ptr());
            acc[0] = _mm256_fmadd_ps(r, _mm256_loadu_ps(v0.as_ptr()), acc[0]);
            acc[1] = _mm256_fmadd_ps(r, _mm256_loadu_ps(v1.as_ptr()), acc[1]);
            acc[2] = _mm256_fmadd_ps(r, _mm256_loadu_ps(v2.as_ptr()), acc[2]);
            acc[3] = _mm256_fmadd_ps(r, _mm256_loadu_ps(v3.as_ptr()), acc[3]);
        }
    }
    // `row.len()` is a multiple of 8 (the filter lengths are), so there is no tail.
    acc.map(|a| hsum(a))
}

/// Sum of the eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

/// Whether [`dot_avx2`] may run on this CPU.
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// rubato's windowed-sinc table (`taps` points x `phases`), row-major: the sinc sampled at
/// `taps * phases` points under a periodic window of the same length, normalised to unit DC
/// gain per phase, row `r` holding the points `phases * p + (phases - 1 - r)`.
fn sinc_table(taps: usize, phases: usize, f_cutoff: f32, window: WindowFunction) -> Vec<f32> {
    let total = taps * phases;
    let w = window_values(total, window);
    let centre = (total / 2) as f64;
    let mut y = Vec::with_capacity(total);
    let mut sum = 0.0f64;
    for (x, &wx) in w.iter().enumerate() {
        let v = wx * sinc((x as f64 - centre) * f_cutoff as f64 / phases as f64);
        sum += v;
        y.push(v);
    }
    sum /= phases as f64;
    let mut table = vec![0.0f32; total];
    for r in 0..phases {
        for p in 0..taps {
            table[r * taps + p] = (y[phases * p + (phases - 1 - r)] / sum) as f32;
        }
    }
    table
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Periodic window of `n` points (rubato's definitions; the "2" windows are squared).
fn window_values(n: usize, window: WindowFunction) -> Vec<f64> {
    use std::f64::consts::PI;
    let cosine_sum = |a: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let x = 2.0 * PI * i as f64 / n as f64;
                a.iter()
                    .enumerate()
                    .map(|(k, &ak)| {
                        let s = if k % 2 == 0 { 1.0 } else { -1.0 };
                        s * ak * (k as f64 * x).cos()
                    })
                    .sum()
            })
            .collect()
    };
    const BH: [f64; 4] = [0.35875, 0.48829, 0.14128, 0.01168];
    const BLACKMAN: [f64; 3] = [0.42, 0.5, 0.08];
    const HANN: [f64; 2] = [0.5, 0.5];
    let (base, squared) = match window {
        WindowFunction::BlackmanHarris => (cosine_sum(&BH), false),
        WindowFunction::BlackmanHarris2 => (cosine_sum(&BH), true),
        WindowFunction::Blackman => (cosine_sum(&BLACKMAN), false),
        WindowFunction::Blackman2 => (cosine_sum(&BLACKMAN), true),
        WindowFunction::Hann => (cosine_sum(&HANN), false),
        WindowFunction::Hann2 => (cosine_sum(&HANN), true),
    };
    if squared {
        base.into_iter().map(|v| v * v).collect()
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rubato::{
        calculate_cutoff, Resampler, SincFixedIn, SincInterpolationParameters,
        SincInterpolationType,
    };

    use crate::dsp::test_noise as noise;

    /// The same stream through rubato's exact-phase (`Nearest`) resampler: the reference.
    fn rubato_nearest(
        x: &[f32],
        from: u32,
        to: u32,
        taps: usize,
        window: WindowFunction,
    ) -> Vec<f32> {
        let phases = (to / gcd(from, to)) as usize;
        let params = SincInterpolationParameters {
            sinc_len: taps,
            f_cutoff: calculate_cutoff(taps, window),
            interpolation: SincInterpolationType::Nearest,
            oversampling_factor: phases,
            window,
        };
        let chunk = 1000;
        let mut rs =
            SincFixedIn::<f32>::new(to as f64 / from as f64, 1.0, params, chunk, 1).unwrap();
        let mut out = Vec::new();
        let mut padded = x.to_vec();
        padded.resize(x.len().div_ceil(chunk) * chunk + 4 * chunk, 0.0);
        for c in padded.chunks(chunk) {
            out.extend_from_slice(&rs.process(&[c], None).unwrap()[0]);
        }
        out
    }

    #[test]
    fn equals_rubato_exact_phase_output_in_any_blocks() {
        for (from, to, taps, window) in [
            (8000u32, 22050u32, 256usize, WindowFunction::BlackmanHarris2),
            (48000, 22050, 560, WindowFunction::BlackmanHarris2),
            (22050, 48000, 256, WindowFunction::BlackmanHarris2),
            (22050, 44100, 64, WindowFunction::Blackman),
            (44100, 22050, 512, WindowFunction::BlackmanHarris2),
        ] {
            let x = noise(30_000);
            let want = rubato_nearest(&x, from, to, taps, window);
            let cutoff = calculate_cutoff(taps, window);
            for block in [1usize, 7, 4096] {
                let mut p = Polyphase::new(from, to, taps, cutoff, window, block);
                let mut got = Vec::new();
                for piece in x.chunks(block) {
                    let before = got.len();
                    let n = p.process(piece, &mut got);
                    assert_eq!(n, got.len() - before);
                    assert!(n <= p.max_output(piece.len()), "{from}->{to}: {n} outputs");
                }
                // The tail: as many zeros as the filter needs.
                for _ in 0..(2 * taps).div_ceil(block) {
                    p.process(&vec![0.0; block], &mut got);
                }
                let n = got.len().min(want.len());
                assert!(
                    n >= x.len() * to as usize / from as usize,
                    "{from}->{to}: {n}"
                );
                let err = got[..n]
                    .iter()
                    .zip(&want[..n])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                // rubato builds its table in f32 (a sum over up to 10^5 points normalises it):
                // a gain error of about 1e-5 that the f64 table here does not have.
                assert!(
                    err < 5e-5,
                    "{from}->{to}, blocks of {block}: differs from rubato by {err}"
                );
            }
        }
    }

    #[test]
    fn portable_and_avx2_dot_products_agree_with_f64() {
        let x = noise(560 * 5 + 40);
        for taps in [256usize, 560, 712] {
            let row = &x[..taps];
            let wins: Vec<&[f32]> = (0..4).map(|i| &x[40 + i * 7..40 + i * 7 + taps]).collect();
            let exact: Vec<f64> = wins
                .iter()
                .map(|w| row.iter().zip(*w).map(|(a, b)| *a as f64 * *b as f64).sum())
                .collect();
            let quad = dot4_lanes(row, [wins[0], wins[1], wins[2], wins[3]]);
            for i in 0..4 {
                assert!(
                    (dot_lanes(row, wins[i]) as f64 - exact[i]).abs() < 1e-4,
                    "{taps}"
                );
                assert!((quad[i] as f64 - exact[i]).abs() < 1e-4, "{taps}");
            }
            #[cfg(target_arch = "x86_64")]
            if has_avx2_fma() {
                // SAFETY: the features were detected just above.
                let quad = unsafe { dot4_avx2(row, [wins[0], wins[1], wins[2], wins[3]]) };
                for i in 0..4 {
                    let one = unsafe { dot_avx2(row, wins[i]) };
                    assert!((one as f64 - exact[i]).abs() < 1e-4, "{taps}");
                    assert!((quad[i] as f64 - exact[i]).abs() < 1e-4, "{taps}");
                }
            }
        }
    }

    #[test]
    fn emits_each_output_once_its_input_has_arrived() {
        let (from, to, taps) = (8000u32, 22050u32, 256usize);
        let cutoff = calculate_cutoff(taps, WindowFunction::BlackmanHarris2);
        let mut p = Polyphase::new(from, to, taps, cutoff, WindowFunction::BlackmanHarris2, 1);
        let mut out = Vec::new();
        for n in 1..=2000u64 {
            p.process(&[0.25], &mut out);
            // Output j needs input up to floor((j + 1) * F / L) + taps / 2 - 1.
            let j = out.len() as u64;
            let need = |j: u64| ((j + 1) * 160 / 441) + taps as u64 / 2;
            if j > 0 {
                assert!(
                    need(j - 1) <= n,
                    "output {} emitted after {n} inputs",
                    j - 1
                );
            }
            assert!(need(j) > n, "output {j} held back after {n} inputs");
        }
    }
}
