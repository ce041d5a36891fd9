//! Optional per-stage wall-clock timers of the engine (cargo feature `stage-timing`, used by
//! the pipeline benchmark). Without the feature [`Mark`] is a zero-sized type and
//! [`StageTimes::add`] an empty inline function, so the instrumented paths cost nothing.

use std::time::Duration;

/// The stages of the signal path, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Input rate -> 22.05 kHz.
    InputResample,
    /// Frame FFT, magnitude, mel filterbank and log.
    Analysis,
    /// Gathering the generator's chunk with context, the run, and storing its output.
    Generator,
    /// Gathering the vocoder's chunk with context and the run (absent for phase copy).
    Vocoder,
    /// Building the generated spectrum (from the vocoder outputs or by phase copy), band
    /// splice, inverse FFT and overlap-add.
    Synthesis,
    /// 22.05 kHz -> output rate.
    OutputResample,
}

impl Stage {
    /// Every stage, in signal order.
    pub const ALL: [Stage; 6] = [
        Stage::InputResample,
        Stage::Analysis,
        Stage::Generator,
        Stage::Vocoder,
        Stage::Synthesis,
        Stage::OutputResample,
    ];

    /// Short machine-readable name (`input_resample`, `analysis`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Stage::InputResample => "input_resample",
            Stage::Analysis => "analysis",
            Stage::Generator => "generator",
            Stage::Vocoder => "vocoder",
            Stage::Synthesis => "synthesis",
            Stage::OutputResample => "output_resample",
        }
    }
}

/// Cumulative wall time the engine spent in each [`Stage`] (all zero unless widen-core is
/// built with the `stage-timing` feature; see [`StageTimes::ENABLED`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimes {
    nanos: [u64; Stage::ALL.len()],
}

impl StageTimes {
    /// Whether this build records stage times (the `stage-timing` feature).
    pub const ENABLED: bool = cfg!(feature = "stage-timing");

    /// Time spent in `stage`.
    pub fn get(&self, stage: Stage) -> Duration {
        Duration::from_nanos(self.nanos[stage as usize])
    }

    /// Sum over all stages.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.iter().sum())
    }

    /// Stage by stage sum of `self` and `other` (engines that ran side by side: CPU time, not
    /// wall time).
    pub fn plus(mut self, other: &StageTimes) -> StageTimes {
        for (a, b) in self.nanos.iter_mut().zip(&other.nanos) {
            *a += b;
        }
        self
    }

    /// Adds the time since `since` to `stage`.
    #[inline(always)]
    pub(crate) fn add(&mut self, stage: Stage, since: Mark) {
        #[cfg(feature = "stage-timing")]
        {
            self.nanos[stage as usize] += since.0.elapsed().as_nanos() as u64;
        }
        #[cfg(not(feature = "stage-timing"))]
        let _ = (stage, since);
    }
}

/// A point in time (nothing at all without the `stage-timing` feature).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark(#[cfg(feature = "stage-timing")] std::time::Instant);

impl Mark {
    #[inline(always)]
    pub(crate) fn now() -> Self {
        #[cfg(feature = "stage-timing")]
        {
            Mark(std::time::Instant::now())
        }
        #[cfg(not(feature = "stage-timing"))]
        Mark()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mock::{MockGenerator, MockVocoder};
    use crate::engine::{process_offline, Context, Engine, EngineConfig};

    /// With the feature every stage of an 8 kHz -> 48 kHz run records time; without it none
    /// does. Either way `clear_stage_times` zeroes them.
    #[test]
    fn stage_times_follow_the_feature() {
        let cfg = EngineConfig {
            generator_context: Context { left: 2, right: 2 },
            vocoder_context: Context { left: 2, right: 2 },
            chunk_frames: 4,
            input_rate: 8_000,
            output_rate: 48_000,
            ..EngineConfig::default()
        };
        let g = MockGenerator::new(cfg.mel.n_mels, 50, 1);
        let v = MockVocoder::new(&cfg.mel, 1, 1.0).unwrap();
        let mut e = Engine::new(cfg, Box::new(g), Some(Box::new(v)), 4096).unwrap();
        let x: Vec<f32> = (0..8_000).map(|i| (i as f32 * 0.37).sin() * 0.3).collect();
        process_offline(&mut e, &x).unwrap();
        let t = e.stage_times();
        for stage in Stage::ALL {
            assert_eq!(
                t.get(stage) > Duration::ZERO,
                StageTimes::ENABLED,
                "{}",
                stage.name()
            );
        }
        e.clear_stage_times();
        assert_eq!(e.stage_times(), StageTimes::default());
    }
}
