//! The plugin's parameters: one table shared by the CLAP and VST3 front ends, values in atomics
//! (written by the host's threads, read by the audio thread without locks), and the versioned
//! state format.

use std::sync::atomic::{AtomicU64, Ordering};

/// Stable parameter ids (CLAP ids and VST3 `ParamID`s; never renumber, only append).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ParamId {
    /// Dry/wet mix, 0..1 (1 = all enhanced).
    Mix = 0,
    /// Output gain in dB.
    Gain = 1,
    /// Bypass (latency-compensated dry signal), 0/1.
    Bypass = 2,
    /// Input cutoff mode: 0 auto (the model's), 1 3.4 kHz, 2 4 kHz, 3 custom.
    CutoffMode = 3,
    /// Cutoff (Hz) used by the custom mode.
    CutoffHz = 4,
    /// Band-limit the input (resample to 8 kHz and back) before enhancing, 0/1 (changes the
    /// latency, so it rebuilds the processor like the quality mode).
    BandLimit = 5,
    /// Quality mode: 0 low-latency models, 1 quality (lookahead) models.
    Quality = 6,
    /// Read-only meter: high-band energy of the output relative to the dry signal (dB).
    MeterHighBand = 7,
    /// Read-only meter: blocks played dry because the inference worker was late.
    MeterLate = 8,
    /// Read-only diagnostic: heap allocations made inside audio callbacks (must stay 0).
    DiagAudioAllocations = 9,
}

/// How a parameter behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Continuous, automatable, smoothed.
    Continuous,
    /// On/off, automatable, cross-faded.
    Toggle,
    /// A choice among `max + 1` steps; changing it rebuilds the engine (the host restarts the
    /// plugin), so it is not automatable.
    Restart,
    /// Written by the plugin (meters); hosts display it.
    ReadOnly,
}

/// One parameter's description.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// Stable id.
    pub id: ParamId,
    /// Key in the saved state (stable).
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Smallest plain value.
    pub min: f64,
    /// Largest plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// Behaviour.
    pub kind: Kind,
    /// Labels of the steps of a stepped parameter (empty for continuous ones).
    pub steps: &'static [&'static str],
    /// Unit shown after the value.
    pub unit: &'static str,
}

impl ParamSpec {
    /// Whether the value is an integer step (toggles and choices).
    pub fn stepped(&self) -> bool {
        !self.steps.is_empty()
    }

    /// `value` clamped to the range (and rounded for stepped parameters); NaN gives the default.
    pub fn sanitize(&self, value: f64) -> f64 {
        if value.is_nan() {
            return self.default;
        }
        let v = value.clamp(self.min, self.max);
        if self.stepped() {
            v.round()
        } else {
            v
        }
    }

    /// Plain value -> normalised 0..1 (VST3).
    pub fn to_normalized(&self, plain: f64) -> f64 {
        let span = self.max - self.min;
        if span <= 0.0 {
            0.0
        } else {
            ((self.sanitize(plain) - self.min) / span).clamp(0.0, 1.0)
        }
    }

    /// Normalised 0..1 -> plain value (VST3).
    pub fn from_normalized(&self, norm: f64) -> f64 {
        self.sanitize(self.min + norm.clamp(0.0, 1.0) * (self.max - self.min))
    }

    /// Text for a plain value.
    pub fn format(&self, plain: f64) -> String {
        let v = self.sanitize(plain);
        if self.stepped() {
            let i = (v - self.min) as usize;
            return self.steps.get(i).copied().unwrap_or("?").to_string();
        }
        match self.id {
            ParamId::Mix => format!("{:.0} %", v * 100.0),
            ParamId::MeterLate | ParamId::DiagAudioAllocations => format!("{v:.0}"),
            _ => format!("{v:.1} {}", self.unit).trim_end().to_string(),
        }
    }

    /// Plain value for a text (a step label, or a number with an optional unit).
    pub fn parse(&self, text: &str) -> Option<f64> {
        let t = text.trim();
        if let Some(i) = self.steps.iter().position(|s| s.eq_ignore_ascii_case(t)) {
            return Some(self.min + i as f64);
        }
        let num: String = t
            .chars()
            .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
            .collect();
        let v: f64 = num.parse().ok()?;
        let v = if self.id == ParamId::Mix && t.ends_with('%') {
            v / 100.0
        } else {
            v
        };
        Some(self.sanitize(v))
    }
}

const ON_OFF: &[&str] = &["off", "on"];

/// Every parameter, indexed by `ParamId as usize`.
pub const PARAMS: [ParamSpec; 10] = [
    ParamSpec {
        id: ParamId::Mix,
        key: "mix",
        name: "Mix",
        min: 0.0,
        max: 1.0,
        default: 1.0,
        kind: Kind::Continuous,
        steps: &[],
        unit: "",
    },
    ParamSpec {
        id: ParamId::Gain,
        key: "output_gain_db",
        name: "Output gain",
        min: -24.0,
        max: 12.0,
        default: 0.0,
        kind: Kind::Continuous,
        steps: &[],
        unit: "dB",
    },
    ParamSpec {
        id: ParamId::Bypass,
        key: "bypass",
        name: "Bypass",
        min: 0.0,
        max: 1.0,
        default: 0.0,
        kind: Kind::Toggle,
        steps: ON_OFF,
        unit: "",
    },
    ParamSpec {
        id: ParamId::CutoffMode,
        key: "cutoff_mode",
        name: "Input cutoff",
        min: 0.0,
        max: 3.0,
        default: 0.0,
        kind: Kind::Restart,
        steps: &["auto", "3.4 kHz", "4 kHz", "custom"],
        unit: "",
    },
    ParamSpec {
        id: ParamId::CutoffHz,
        key: "cutoff_custom_hz",
        name: "Custom cutoff",
        min: 2000.0,
        max: 8000.0,
        default: 4000.0,
        kind: Kind::Restart,
        steps: &[],
        unit: "Hz",
    },
    ParamSpec {
        id: ParamId::BandLimit,
        key: "band_limit_input",
        name: "Band-limit input",
        min: 0.0,
        max: 1.0,
        default: 0.0,
        kind: Kind::Restart,
        steps: ON_OFF,
        unit: "",
    },
    ParamSpec {
        id: ParamId::Quality,
        key: "quality_mode",
        name: "Quality mode",
        min: 0.0,
        max: 1.0,
        default: 0.0,
        kind: Kind::Restart,
        steps: &["low latency", "quality"],
        unit: "",
    },
    ParamSpec {
        id: ParamId::MeterHighBand,
        key: "meter_high_band_db",
        name: "Added high band",
        min: -60.0,
        max: 60.0,
        default: 0.0,
        kind: Kind::ReadOnly,
        steps: &[],
        unit: "dB",
    },
    ParamSpec {
        id: ParamId::MeterLate,
        key: "meter_late_blocks",
        name: "Late blocks",
        min: 0.0,
        max: 1.0e9,
        default: 0.0,
        kind: Kind::ReadOnly,
        steps: &[],
        unit: "",
    },
    ParamSpec {
        id: ParamId::DiagAudioAllocations,
        key: "diag_audio_thread_allocations",
        name: "Audio-thread allocations",
        min: 0.0,
        max: 1.0e12,
        default: 0.0,
        kind: Kind::ReadOnly,
        steps: &[],
        unit: "",
    },
];

/// The spec of parameter `id` (a raw host id); `None` for unknown ids.
pub fn spec(id: u32) -> Option<&'static ParamSpec> {
    PARAMS.get(id as usize)
}

/// Current parameter values (plain), shared by every thread of one plugin instance.
#[derive(Debug)]
pub struct Params {
    values: [AtomicU64; PARAMS.len()],
}

impl Default for Params {
    fn default() -> Self {
        Self {
            values: PARAMS.map(|p| AtomicU64::new(p.default.to_bits())),
        }
    }
}

/// Version written into saved states; loading accepts every version up to this one.
pub const STATE_VERSION: u32 = 1;
/// `format` field of a saved state.
pub const STATE_FORMAT: &str = "widen-plugin-state";

/// Errors loading a saved state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not JSON, or not an object.
    #[error("plugin state: expected a JSON object, found {0}")]
    NotJson(String),
    /// The `format` field is wrong.
    #[error("plugin state: expected format {STATE_FORMAT:?}, found {0:?}")]
    Format(String),
    /// Saved by a newer version with an incompatible layout.
    #[error("plugin state: expected version 1..={STATE_VERSION}, found {0}")]
    Version(u64),
}

impl Params {
    /// Plain value of `id`.
    pub fn get(&self, id: ParamId) -> f64 {
        f64::from_bits(self.values[id as usize].load(Ordering::Relaxed))
    }

    /// Sets `id` (clamped/rounded); returns whether the stored value changed.
    pub fn set(&self, id: ParamId, value: f64) -> bool {
        let v = PARAMS[id as usize].sanitize(value);
        self.values[id as usize].swap(v.to_bits(), Ordering::Relaxed) != v.to_bits()
    }

    /// Sets parameter `raw_id` from the host; read-only and unknown ids are ignored.
    /// Returns the spec when the value changed.
    pub fn set_from_host(&self, raw_id: u32, value: f64) -> Option<&'static ParamSpec> {
        let s = spec(raw_id)?;
        if s.kind == Kind::ReadOnly {
            return None;
        }
        self.set(s.id, value).then_some(s)
    }

    /// The settings that need a processor rebuild (they shape the engine or the latency).
    pub fn engine_settings(&self) -> EngineSettings {
        let cutoff = match self.get(ParamId::CutoffMode) as u32 {
            1 => Some(3400.0),
            2 => Some(4000.0),
            3 => Some(self.get(ParamId::CutoffHz) as f32),
            _ => None,
        };
        EngineSettings {
            quality: self.get(ParamId::Quality) >= 0.5,
            cutoff_hz: cutoff,
            band_limit: self.get(ParamId::BandLimit) >= 0.5,
        }
    }

    /// The state as versioned JSON (every writable parameter by its stable key).
    pub fn save(&self) -> Vec<u8> {
        let mut map = serde_json::Map::new();
        for p in PARAMS.iter().filter(|p| p.kind != Kind::ReadOnly) {
            map.insert(p.key.into(), serde_json::json!(self.get(p.id)));
        }
        let doc = serde_json::json!({
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "params": map,
        });
        doc.to_string().into_bytes()
    }

    /// Restores a state from [`save`](Self::save) of this or an older version. Unknown keys
    /// are ignored and missing ones take their defaults, so projects survive parameters being
    /// added. Nothing changes on error.
    pub fn load(&self, bytes: &[u8]) -> Result<(), StateError> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StateError::NotJson(e.to_string()))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| StateError::NotJson(format!("a JSON {}", kind_of(&doc))))?;
        let format = obj.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != STATE_FORMAT {
            return Err(StateError::Format(format.into()));
        }
        let version = obj.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version == 0 || version > STATE_VERSION as u64 {
            return Err(StateError::Version(version));
        }
        let empty = serde_json::Map::new();
        let params = obj
            .get("params")
            .and_then(|p| p.as_object())
            .unwrap_or(&empty);
        for p in PARAMS.iter().filter(|p| p.kind != Kind::ReadOnly) {
            let v = params
                .get(p.key)
                .and_then(|v| v.as_f64())
                .unwrap_or(p.default);
            self.set(p.id, v);
        }
        Ok(())
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// The parameters that decide how the engine is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineSettings {
    /// Quality (lookahead) models instead of the low-latency ones.
    pub quality: bool,
    /// Input cutoff (Hz); `None` = the model set's own.
    pub cutoff_hz: Option<f32>,
    /// Band-limit the input (8 kHz round trip) before enhancing; adds its delay to the latency.
    pub band_limit: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        for (i, p) in PARAMS.iter().enumerate() {
            assert_eq!(p.id as usize, i);
            assert!(p.min <= p.default && p.default <= p.max, "{}", p.key);
            if p.stepped() {
                assert_eq!(p.steps.len() as f64, p.max - p.min + 1.0, "{}", p.key);
            }
        }
    }

    #[test]
    fn state_round_trips_and_tolerates_old_or_partial_states() {
        let a = Params::default();
        a.set(ParamId::Mix, 0.25);
        a.set(ParamId::Gain, -3.5);
        a.set(ParamId::Quality, 1.0);
        a.set(ParamId::CutoffMode, 3.0);
        a.set(ParamId::CutoffHz, 3700.0);
        let b = Params::default();
        b.load(&a.save()).unwrap();
        for p in PARAMS.iter().filter(|p| p.kind != Kind::ReadOnly) {
            assert_eq!(a.get(p.id), b.get(p.id), "{}", p.key);
        }
        // A version-1 state that knew only the mix (and a key from the future) still loads.
        b.load(br#"{"format":"widen-plugin-state","version":1,"params":{"mix":0.5,"zzz":3}}"#)
            .unwrap();
        assert_eq!(b.get(ParamId::Mix), 0.5);
        assert_eq!(b.get(ParamId::Gain), 0.0);
        assert!(matches!(
            b.load(br#"{"format":"widen-plugin-state","version":99}"#),
            Err(StateError::Version(99))
        ));
        assert!(matches!(
            b.load(b"\x00garbage"),
            Err(StateError::NotJson(_))
        ));
        assert_eq!(b.get(ParamId::Mix), 0.5, "a failed load changes nothing");
    }

    #[test]
    fn text_and_normalised_values() {
        let mode = &PARAMS[ParamId::CutoffMode as usize];
        assert_eq!(mode.format(1.0), "3.4 kHz");
        assert_eq!(mode.parse("custom"), Some(3.0));
        assert_eq!(mode.from_normalized(0.34), 1.0);
        let gain = &PARAMS[ParamId::Gain as usize];
        assert_eq!(gain.parse("-6 dB"), Some(-6.0));
        assert_eq!(gain.sanitize(f64::NAN), 0.0);
        assert!((gain.from_normalized(gain.to_normalized(3.0)) - 3.0).abs() < 1e-12);
        let mix = &PARAMS[ParamId::Mix as usize];
        assert_eq!(mix.parse("50 %"), Some(0.5));
    }
}
