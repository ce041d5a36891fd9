//! The CLAP front end (clack-plugin): ports, parameters, latency, state and render mode
//! around the shared [`Processor`].
//!
//! Threads follow clack's split: [`WidenShared`] (atomics, any thread), [`WidenMain`] (main
//! thread: parameter info, state, port configuration) and [`WidenAudio`] (created in
//! `activate` on the main thread, where the models and ONNX Runtime sessions are loaded;
//! `process` runs on the audio thread and only touches preallocated state).

use std::cell::Cell;
use std::ffi::CStr;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfo, AudioPortInfoWriter, AudioPortType, PluginAudioPorts,
    PluginAudioPortsImpl,
};
use clack_extensions::audio_ports_config::{
    AudioPortConfigWriter, AudioPortsConfiguration, MainPortInfo, PluginAudioPortsConfig,
    PluginAudioPortsConfigImpl,
};
use clack_extensions::latency::{HostLatency, PluginLatency, PluginLatencyImpl};
use clack_extensions::log::{HostLog, LogSeverity};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::render::{PluginRender, PluginRenderImpl, RenderMode};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::plugin::features::{AUDIO_EFFECT, MONO, RESTORATION, STEREO};
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use clack_plugin::utils::Cookie;

use crate::params::{self, Kind, ParamId, Params, PARAMS};
use crate::processor::{Processor, ProcessorConfig};
use crate::{PLUGIN_ID, PLUGIN_NAME, VENDOR};

/// Port configurations offered through `audio-ports-config`: (id, name, inputs, outputs).
const PORT_CONFIGS: [(u32, &str, u32, u32); 3] = [
    (0, "Stereo", 2, 2),
    (1, "Mono", 1, 1),
    (2, "Mono in, stereo out", 1, 2),
];

/// The plugin type tying the three thread-bound parts together.
pub struct WidenClap;

impl Plugin for WidenClap {
    type AudioProcessor<'a> = WidenAudio<'a>;
    type Shared<'a> = WidenShared<'a>;
    type MainThread<'a> = WidenMain<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&WidenShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginAudioPortsConfig>()
            .register::<PluginParams>()
            .register::<PluginLatency>()
            .register::<PluginState>()
            .register::<PluginRender>();
    }
}

impl DefaultPluginFactory for WidenClap {
    fn get_descriptor() -> PluginDescriptor {
        PluginDescriptor::new(PLUGIN_ID, PLUGIN_NAME)
            .with_vendor(VENDOR)
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_description(
                "Restores the missing high band of narrow-band (telephone, 8 kHz) speech",
            )
            .with_features([AUDIO_EFFECT, RESTORATION, STEREO, MONO])
    }

    fn new_shared(host: HostSharedHandle<'_>) -> Result<WidenShared<'_>, PluginError> {
        crate::locate::prefer_ort_beside_plugin();
        Ok(WidenShared {
            host,
            params: Arc::new(Params::default()),
            offline: Arc::new(AtomicBool::new(false)),
            latency: AtomicU32::new(0),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a WidenShared<'a>,
    ) -> Result<WidenMain<'a>, PluginError> {
        Ok(WidenMain {
            shared,
            host,
            port_config: Cell::new(0),
            reported_latency: Cell::new(None),
            active_settings: Cell::new(None),
        })
    }
}

/// Thread-safe part: parameter values, render mode, reported latency.
pub struct WidenShared<'a> {
    host: HostSharedHandle<'a>,
    params: Arc<Params>,
    offline: Arc<AtomicBool>,
    latency: AtomicU32,
}

impl<'a> PluginShared<'a> for WidenShared<'a> {}

impl WidenShared<'_> {
    /// Applies one input event; asks the host for a restart when a parameter that shapes the
    /// engine changed while active (`active` = the settings the running engine was built with).
    fn apply_event(&self, event: &UnknownEvent, active: Option<params::EngineSettings>) {
        if let Some(CoreEventSpace::ParamValue(ev)) = event.as_core_event() {
            if let Some(id) = ev.param_id() {
                if let Some(spec) = self.params.set_from_host(id.get(), ev.value()) {
                    self.restart_if_needed(spec.kind, active);
                }
            }
        }
    }

    fn restart_if_needed(&self, kind: Kind, active: Option<params::EngineSettings>) {
        if kind == Kind::Restart {
            if let Some(a) = active {
                if a != self.params.engine_settings() {
                    self.host.request_restart();
                }
            }
        }
    }
}

/// Main-thread part.
pub struct WidenMain<'a> {
    shared: &'a WidenShared<'a>,
    host: HostMainThreadHandle<'a>,
    port_config: Cell<u32>,
    reported_latency: Cell<Option<u32>>,
    active_settings: Cell<Option<params::EngineSettings>>,
}

impl<'a> PluginMainThread<'a, WidenShared<'a>> for WidenMain<'a> {}

/// Audio part: exists between `activate` and `deactivate`.
pub struct WidenAudio<'a> {
    shared: &'a WidenShared<'a>,
    processor: Processor,
    inputs: [Vec<f32>; 2],
    outputs: [Vec<f32>; 2],
}

impl<'a> PluginAudioProcessor<'a, WidenShared<'a>, WidenMain<'a>> for WidenAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        main: &WidenMain<'a>,
        shared: &'a WidenShared<'a>,
        audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        let (_, _, ins, outs) = PORT_CONFIGS
            .iter()
            .copied()
            .find(|c| c.0 == main.port_config.get())
            .unwrap_or(PORT_CONFIGS[0]);
        let max_block = (audio_config.max_frames_count as usize).max(1);
        // Models and ONNX Runtime sessions load here, on the main thread.
        let processor = Processor::new(
            ProcessorConfig {
                sample_rate: audio_config.sample_rate,
                max_block,
                inputs: ins as usize,
                outputs: outs as usize,
            },
            shared.params.clone(),
            shared.offline.clone(),
        );
        if let Some(why) = processor.status() {
            // The plugin still activates and passes audio through dry; say why.
            if let Some(log) = shared.host.get_extension::<HostLog>() {
                let msg = format!("widen: passing audio through unprocessed: {why}");
                if let Ok(c) = std::ffi::CString::new(msg) {
                    log.log(&shared.host, LogSeverity::Warning, &c);
                }
            }
        }
        let latency = u32::try_from(processor.latency()).unwrap_or(u32::MAX);
        shared.latency.store(latency, Ordering::Release);
        main.active_settings.set(Some(processor.settings()));
        // The latency may only change inside activate; tell the host when it did.
        if main.reported_latency.get().is_some_and(|l| l != latency) {
            if let Some(ext) = main.host.get_extension::<HostLatency>() {
                ext.changed(&main.host);
            }
        }
        main.reported_latency.set(Some(latency));
        let buf = max_block.min(widen_core::config::plugin::MAX_BLOCK);
        Ok(Self {
            shared,
            processor,
            inputs: [vec![0.0; buf], vec![0.0; buf]],
            outputs: [vec![0.0; buf], vec![0.0; buf]],
        })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _scope = crate::alloc_probe::AudioScope::enter();
        let active = Some(self.processor.settings());
        for e in events.input {
            self.shared.apply_event(e, active);
        }
        let frames = audio.frames_count() as usize;
        let Some(mut port) = audio.port_pair(0) else {
            return Ok(ProcessStatus::Continue);
        };
        let chunk = self.inputs[0].len();
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(chunk);
            let range = start..start + n;
            // Gather inputs (copies, so in-place buffers are safe to overwrite afterwards).
            let mut n_in = 0;
            let mut n_out = 0;
            if let Some(chs) = port.channels()?.into_f32() {
                for (i, pair) in chs.into_iter().enumerate().take(2) {
                    let input = match &pair {
                        ChannelPair::InputOnly(x) | ChannelPair::InputOutput(x, _) => Some(&x[..]),
                        ChannelPair::InPlace(x) => Some(&x[..]),
                        ChannelPair::OutputOnly(_) => None,
                    };
                    if let Some(x) = input.and_then(|x| x.get(range.clone())) {
                        self.inputs[i][..n].copy_from_slice(x);
                        n_in = i + 1;
                    }
                    if !matches!(pair, ChannelPair::InputOnly(_)) {
                        n_out = i + 1;
                    }
                }
            }
            let [i0, i1] = &self.inputs;
            let ins: [&[f32]; 2] = [&i0[..n], &i1[..n]];
            let [o0, o1] = &mut self.outputs;
            let mut outs: [&mut [f32]; 2] = [&mut o0[..n], &mut o1[..n]];
            self.processor
                .process(&ins[..n_in], &mut outs[..n_out.max(1)], n);
            if let Some(chs) = port.channels()?.into_f32() {
                for (i, pair) in chs.into_iter().enumerate().take(2) {
                    let out = match pair {
                        ChannelPair::InputOutput(_, y) | ChannelPair::OutputOnly(y) => Some(y),
                        ChannelPair::InPlace(y) => Some(y),
                        ChannelPair::InputOnly(_) => None,
                    };
                    if let Some(y) = out.and_then(|y| y.get_mut(range.clone())) {
                        y.copy_from_slice(&self.outputs[i][..n]);
                    }
                }
            }
            start += n;
        }
        Ok(ProcessStatus::Continue)
    }

    fn reset(&mut self) {
        self.processor.reset();
    }

    fn deactivate(self, main: &WidenMain<'a>) {
        main.active_settings.set(None);
        // Dropping the processor joins the worker threads (main thread: allowed to block).
        drop(self.processor);
    }
}

impl PluginAudioPortsImpl for WidenMain<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        if index != 0 {
            return;
        }
        let (_, _, ins, outs) = PORT_CONFIGS
            .iter()
            .copied()
            .find(|c| c.0 == self.port_config.get())
            .unwrap_or(PORT_CONFIGS[0]);
        let channels = if is_input { ins } else { outs };
        writer.set(&AudioPortInfo {
            id: ClapId::new(0),
            name: if is_input { b"Input" } else { b"Output" },
            channel_count: channels,
            flags: AudioPortFlags::IS_MAIN,
            port_type: AudioPortType::from_channel_count(channels),
            in_place_pair: (ins == outs).then(|| ClapId::new(0)),
        });
    }
}

impl PluginAudioPortsConfigImpl for WidenMain<'_> {
    fn count(&self) -> u32 {
        PORT_CONFIGS.len() as u32
    }

    fn get(&self, index: u32, writer: &mut AudioPortConfigWriter) {
        let Some(&(id, name, ins, outs)) = PORT_CONFIGS.get(index as usize) else {
            return;
        };
        writer.write(&AudioPortsConfiguration {
            id: ClapId::new(id),
            name: name.as_bytes(),
            input_port_count: 1,
            output_port_count: 1,
            main_input: Some(MainPortInfo {
                channel_count: ins,
                port_type: AudioPortType::from_channel_count(ins),
            }),
            main_output: Some(MainPortInfo {
                channel_count: outs,
                port_type: AudioPortType::from_channel_count(outs),
            }),
        });
    }

    fn select(&self, config_id: ClapId) -> Result<(), PluginError> {
        if PORT_CONFIGS.iter().any(|c| c.0 == config_id.get()) {
            self.port_config.set(config_id.get());
            Ok(())
        } else {
            Err(PluginError::Message("unknown audio port configuration id"))
        }
    }
}

impl PluginLatencyImpl for WidenMain<'_> {
    fn get(&self) -> u32 {
        self.shared.latency.load(Ordering::Acquire)
    }
}

impl PluginRenderImpl for WidenMain<'_> {
    fn has_hard_realtime_requirement(&self) -> bool {
        false
    }

    fn set(&self, mode: RenderMode) -> Result<(), PluginError> {
        self.shared
            .offline
            .store(mode == RenderMode::Offline, Ordering::Relaxed);
        Ok(())
    }
}

impl PluginStateImpl for WidenMain<'_> {
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        output.write_all(&self.shared.params.save())?;
        Ok(())
    }

    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        self.shared
            .params
            .load(&bytes)
            .map_err(|_| PluginError::Message("widen: unreadable plugin state"))?;
        self.shared
            .restart_if_needed(Kind::Restart, self.active_settings.get());
        Ok(())
    }
}

impl PluginMainThreadParams for WidenMain<'_> {
    fn count(&self) -> u32 {
        PARAMS.len() as u32
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let Some(p) = PARAMS.get(param_index as usize) else {
            return;
        };
        let mut flags = match p.kind {
            Kind::Continuous => ParamInfoFlags::IS_AUTOMATABLE,
            Kind::Toggle => ParamInfoFlags::IS_AUTOMATABLE | ParamInfoFlags::IS_STEPPED,
            Kind::Restart if p.stepped() => ParamInfoFlags::IS_STEPPED | ParamInfoFlags::IS_ENUM,
            Kind::Restart => ParamInfoFlags::empty(),
            Kind::ReadOnly => ParamInfoFlags::IS_READONLY,
        };
        match p.id {
            ParamId::Bypass => flags |= ParamInfoFlags::IS_BYPASS,
            ParamId::DiagAudioAllocations => flags |= ParamInfoFlags::IS_HIDDEN,
            _ => {}
        }
        info.set(&ParamInfo {
            id: ClapId::new(p.id as u32),
            flags,
            cookie: Cookie::empty(),
            name: p.name.as_bytes(),
            module: match p.id {
                ParamId::DiagAudioAllocations => b"Diagnostics",
                _ if p.kind == Kind::ReadOnly => b"Meters",
                _ => b"",
            },
            min_value: p.min,
            max_value: p.max,
            default_value: p.default,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        let p = params::spec(param_id.get())?;
        Some(self.shared.params.get(p.id))
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        match params::spec(param_id.get()) {
            Some(p) => writer.write_str(&p.format(value)),
            None => Err(std::fmt::Error),
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        params::spec(param_id.get())?.parse(text.to_str().ok()?)
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        for e in input {
            self.shared.apply_event(e, self.active_settings.get());
        }
    }
}

impl PluginAudioProcessorParams for WidenAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        let _scope = crate::alloc_probe::AudioScope::enter();
        let active = Some(self.processor.settings());
        for e in input {
            self.shared.apply_event(e, active);
        }
    }
}
