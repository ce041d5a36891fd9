//! Keeping separate input and output clocks in step: the output side reads the ring through
//! an adaptive resampler (rubato `FastFixedOut`, cubic) whose ratio a PI controller trims so
//! that the ring's fill, and with it the latency, stays at its target.
//!
//! Clock pairs differ by up to a few hundred ppm (200 ppm is 12 ms of drift per minute), so
//! without the loop the ring would drain or overflow within minutes. The fill the output
//! callback sees jumps by whole blocks as callbacks interleave, so the controller low-passes
//! it (time constant [`FILL_TAU_S`]) and reacts slowly (loop time constant about 10 s): it
//! follows clock drift, never block jitter. The fill it is given must be phase-corrected (ring
//! slots plus the input samples accrued since the last input callback): the raw slot count
//! seen by one clock's callbacks beats with the other clock as a sawtooth of one block (a
//! 27 s period at 200 ppm and 256 frames), which a PI loop turns into a limit cycle.

use rubato::{FastFixedOut, PolynomialDegree, Resampler};

/// Time constant (s) of the low-pass on the measured fill.
pub const FILL_TAU_S: f64 = 0.5;
/// Proportional gain: relative ratio change per second of fill error.
pub const KP: f64 = 0.1;
/// Integral gain (per second squared): critically damped with `KP` (`KP^2 / 4`).
pub const KI: f64 = KP * KP / 4.0;
/// Largest correction the loop applies (relative), far above any real clock error.
pub const MAX_CORRECTION: f64 = 2e-3;
/// Output frames per resampler call (small, so a callback of any size is served exactly).
pub const CHUNK: usize = 64;

/// Errors setting up clock sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// rubato refused the ratio or chunk size.
    #[error("clock-sync resampler: expected rates {from_hz} Hz -> {to_hz} Hz to be usable, found error: {source}")]
    Resampler {
        /// Input (ring) rate.
        from_hz: u32,
        /// Output device rate.
        to_hz: u32,
        /// rubato's error.
        source: rubato::ResamplerConstructionError,
    },
}

/// PI controller from ring fill to a relative resampling ratio.
#[derive(Debug, Clone)]
pub struct DriftController {
    target: f64,
    rate: f64,
    filtered: Option<f64>,
    integral: f64,
    correction: f64,
}

impl DriftController {
    /// A controller holding the fill at `target` samples of a ring running at `rate` Hz.
    pub fn new(target: usize, rate: u32) -> Self {
        Self {
            target: target as f64,
            rate: rate as f64,
            filtered: None,
            integral: 0.0,
            correction: 0.0,
        }
    }

    /// Feeds one fill measurement taken `dt` seconds after the previous one; returns the
    /// relative ratio (output/input) to apply: below 1 when the ring fills up (the input
    /// clock is fast), above 1 when it drains.
    pub fn update(&mut self, fill: f64, dt: f64) -> f64 {
        let f = match self.filtered {
            None => fill,
            Some(prev) => prev + (fill - prev) * (dt / FILL_TAU_S).min(1.0),
        };
        self.filtered = Some(f);
        let err = (f - self.target) / self.rate;
        // Anti-windup: integrate only while the output is not clamped.
        let next_integral = self.integral + err * dt;
        let c = KP * err + KI * next_integral;
        if c.abs() < MAX_CORRECTION {
            self.integral = next_integral;
        }
        self.correction = (KP * err + KI * self.integral).clamp(-MAX_CORRECTION, MAX_CORRECTION);
        1.0 - self.correction
    }

    /// The current correction in ppm (positive: consuming input faster than nominal).
    pub fn correction_ppm(&self) -> f64 {
        self.correction * 1e6
    }

    /// The low-passed fill (samples).
    pub fn filtered_fill(&self) -> f64 {
        self.filtered.unwrap_or(self.target)
    }

    /// Forgets the history (after the ring was re-centred).
    pub fn reset(&mut self) {
        self.filtered = None;
        self.integral = 0.0;
        self.correction = 0.0;
    }
}

/// The adaptive resampler of the output side: ring samples at the input rate in, output-rate
/// samples out, in chunks of [`CHUNK`]. All buffers are allocated in [`new`](Self::new).
pub struct AdaptiveResampler {
    resampler: FastFixedOut<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    /// Unread samples in `output` start here.
    out_pos: usize,
    /// Valid samples in `output`.
    out_len: usize,
    controller: DriftController,
    from_hz: u32,
    to_hz: u32,
}

impl std::fmt::Debug for AdaptiveResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveResampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("controller", &self.controller)
            .finish()
    }
}

impl AdaptiveResampler {
    /// A resampler from `from_hz` (ring) to `to_hz` (output) holding the ring at `target` samples.
    pub fn new(from_hz: u32, to_hz: u32, target: usize) -> Result<Self, SyncError> {
        let ratio = to_hz as f64 / from_hz as f64;
        let resampler = FastFixedOut::new(
            ratio,
            1.0 + 2.0 * MAX_CORRECTION,
            PolynomialDegree::Cubic,
            CHUNK,
            1,
        )
        .map_err(|source| SyncError::Resampler {
            from_hz,
            to_hz,
            source,
        })?;
        let max_in = resampler.input_frames_max();
        Ok(Self {
            resampler,
            input: vec![0.0; max_in],
            output: vec![0.0; CHUNK],
            out_pos: 0,
            out_len: 0,
            controller: DriftController::new(target, from_hz),
            from_hz,
            to_hz,
        })
    }

    /// Ring samples the resampler holds internally (for the latency estimate), in input samples.
    pub fn delay_in_samples(&self) -> f64 {
        let pending_out = (self.out_len - self.out_pos) as f64;
        (self.resampler.output_delay() as f64 + pending_out) * self.from_hz as f64
            / self.to_hz as f64
    }

    /// The controller (for reports).
    pub fn controller(&self) -> &DriftController {
        &self.controller
    }

    /// Updates the ratio from the ring's phase-corrected `fill` (input samples) measured at
    /// this callback, `dt` seconds after the previous one.
    pub fn steer(&mut self, fill: f64, dt: f64) {
        let rel = self.controller.update(fill, dt);
        // In range by construction (the controller clamps below the resampler's bound).
        let _ = self.resampler.set_resample_ratio_relative(rel, true);
    }

    /// Fills `out` with resampled ring samples; `pop(buf)` must fill `buf` completely or return
    /// false (ring too short). Returns the frames written; the rest of `out` is untouched.
    pub fn produce(&mut self, out: &mut [f32], mut pop: impl FnMut(&mut [f32]) -> bool) -> usize {
        let mut written = 0;
        while written < out.len() {
            if self.out_pos == self.out_len {
                let need = self.resampler.input_frames_next().min(self.input.len());
                if !pop(&mut self.input[..need]) {
                    break;
                }
                let wave_in = [&self.input[..need]];
                let mut wave_out = [&mut self.output[..]];
                match self
                    .resampler
                    .process_into_buffer(&wave_in, &mut wave_out, None)
                {
                    Ok((_, n)) => {
                        self.out_pos = 0;
                        self.out_len = n;
                    }
                    Err(_) => break,
                }
            }
            let k = (self.out_len - self.out_pos).min(out.len() - written);
            out[written..written + k].copy_from_slice(&self.output[self.out_pos..self.out_pos + k]);
            self.out_pos += k;
            written += k;
        }
        written
    }

    /// Forgets the signal and the controller state.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.out_pos = 0;
        self.out_len = 0;
        self.controller.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtrb::RingBuffer;

    /// Simulates `minutes` of an input clock `ppm` off the output clock, both with 256-frame
    /// callbacks at 48 kHz, through the real ring and resampler. Returns the largest deviation
    /// of the latency (ring fill + resampler delay) from the target, in ms, and the final
    /// correction in ppm. `steer: false` leaves the ratio alone (the control).
    fn simulate(ppm: f64, minutes: f64, steer: bool) -> (f64, f64) {
        let rate = 48_000u32;
        let block = 256usize;
        let target = 2 * block + rate as usize / 500;
        let mut rs = AdaptiveResampler::new(rate, rate, target).unwrap();
        let (mut tx, mut rx) = RingBuffer::<f32>::new(rate as usize * 2);
        for _ in 0..target {
            tx.push(0.0).unwrap();
        }
        let t_in = block as f64 / (rate as f64 * (1.0 + ppm * 1e-6));
        let t_out = block as f64 / rate as f64;
        // Start the output a third of a period late: the callbacks interleave.
        let (mut next_in, mut next_out) = (0.0, t_out / 3.0);
        let end = minutes * 60.0;
        let input = vec![0.25f32; block];
        let mut out = vec![0.0f32; block];
        let mut worst = 0.0f64;
        let mut last_in = 0.0;
        while next_out < end {
            if next_in <= next_out {
                tx.push_entire_slice(&input).unwrap();
                last_in = next_in;
                next_in += t_in;
            } else {
                let got = rs.produce(&mut out, |buf| rx.pop_entire_slice(buf).is_ok());
                assert_eq!(got, block, "underrun at t = {next_out:.2} s");
                // What the daemon measures: slots after the read plus input accrued since the
                // last input callback.
                let fill = rx.slots() as f64 + (next_out - last_in) / t_in * block as f64;
                if steer {
                    rs.steer(fill, t_out);
                }
                let dev = (fill - target as f64) / rate as f64 * 1e3;
                worst = worst.max(dev.abs());
                next_out += t_out;
            }
        }
        (worst, rs.controller().correction_ppm())
    }

    #[test]
    fn drift_200_ppm_for_10_minutes_stays_within_5_ms() {
        for ppm in [200.0, -200.0] {
            let (worst, corr) = simulate(ppm, 10.0, true);
            eprintln!("{ppm:+} ppm: worst latency deviation {worst:.3} ms, final correction {corr:.2} ppm");
            assert!(worst < 5.0, "{ppm} ppm: latency deviated by {worst:.2} ms");
            // The loop ends up consuming input at the input clock's rate.
            assert!(
                (corr - ppm).abs() < 2.0,
                "{ppm} ppm: final correction {corr:.1} ppm"
            );
        }
    }

    #[test]
    fn without_the_loop_the_same_drift_breaks_the_bound() {
        // 200 ppm over one minute is 12 ms: the simulation above can fail.
        let (worst, _) = simulate(200.0, 1.0, false);
        assert!(worst > 5.0, "uncontrolled drift only {worst:.2} ms");
    }

    #[test]
    fn controller_is_deterministic_and_signed() {
        let mut a = DriftController::new(1000, 48_000);
        let mut b = DriftController::new(1000, 48_000);
        let ra: Vec<f64> = (0..100)
            .map(|i| a.update(1000.0 + i as f64 * 10.0, 0.005))
            .collect();
        let rb: Vec<f64> = (0..100)
            .map(|i| b.update(1000.0 + i as f64 * 10.0, 0.005))
            .collect();
        assert_eq!(ra, rb);
        // A filling ring (fast input) slows the output/input ratio down.
        assert!(*ra.last().unwrap() < 1.0);
        let mut c = DriftController::new(1000, 48_000);
        assert!(c.update(500.0, 0.005) > 1.0);
    }
}
