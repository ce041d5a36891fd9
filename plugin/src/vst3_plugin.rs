//! The VST3 front end (the `vst3` crate's COM bindings) around the shared [`Processor`].
//!
//! One class implements the component, the audio processor and the edit controller (a
//! "single component" effect, which hosts query for `IEditController` directly). The
//! processor is built in `setActive(true)` (main thread, where the models and ONNX Runtime
//! sessions load) and dropped in `setActive(false)`. `process` reaches it through
//! `Mutex::try_lock`: uncontended it is one atomic operation, and when the main thread holds it
//! (activation in progress) the block is passed through instead of waiting.
//!
//! All `unsafe` here is the COM ABI: raw pointers the host hands in, checked for null before
//! use.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use vst3::Steinberg::Vst::BusDirections_::kInput;
use vst3::Steinberg::Vst::BusInfo_::BusFlags_::kDefaultActive;
use vst3::Steinberg::Vst::BusTypes_::kMain;
use vst3::Steinberg::Vst::MediaTypes_::kAudio;
use vst3::Steinberg::Vst::ParameterInfo_::ParameterFlags_::{
    kCanAutomate, kIsBypass, kIsHidden, kIsList, kIsReadOnly,
};
use vst3::Steinberg::Vst::ProcessModes_::kOffline;
use vst3::Steinberg::Vst::RestartFlags_::kLatencyChanged;
use vst3::Steinberg::Vst::SpeakerArr::{kMono, kStereo};
use vst3::Steinberg::Vst::SymbolicSampleSizes_::kSample32;
use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{Class, ComPtr, ComRef, ComWrapper};

use crate::params::{self, EngineSettings, Kind, ParamId, Params, PARAMS};
use crate::processor::{Processor, ProcessorConfig};
use crate::{PLUGIN_NAME, VENDOR};

/// Class id of the widen VST3 component ("WidenPluginVST3\x01").
pub const CID: TUID = vst3::uid(0x5769_6465, 0x6E50_6C75, 0x6769_6E56, 0x5354_3301);

/// The plugin factory the host gets from `GetPluginFactory`.
pub struct Factory;

impl Class for Factory {
    type Interfaces = (IPluginFactory2,);
}

fn copy_cstr<const N: usize>(dst: &mut [i8; N], s: &str) {
    dst.fill(0);
    for (d, b) in dst.iter_mut().zip(s.bytes().take(N - 1)) {
        *d = b as i8;
    }
}

fn copy_str16(dst: &mut String128, s: &str) {
    dst.fill(0);
    for (d, c) in dst.iter_mut().zip(s.encode_utf16().take(127)) {
        *d = c;
    }
}

impl IPluginFactoryTrait for Factory {
    unsafe fn getFactoryInfo(&self, info: *mut PFactoryInfo) -> tresult {
        let Some(info) = (unsafe { info.as_mut() }) else {
            return kInvalidArgument;
        };
        copy_cstr(&mut info.vendor, VENDOR);
        copy_cstr(&mut info.url, "https://example.invalid/widen");
        copy_cstr(&mut info.email, "");
        info.flags = PFactoryInfo_::FactoryFlags_::kUnicode as int32;
        kResultOk
    }

    unsafe fn countClasses(&self) -> int32 {
        1
    }

    unsafe fn getClassInfo(&self, index: int32, info: *mut PClassInfo) -> tresult {
        let Some(info) = (unsafe { info.as_mut() }) else {
            return kInvalidArgument;
        };
        if index != 0 {
            return kInvalidArgument;
        }
        info.cid = CID;
        info.cardinality = PClassInfo_::ClassCardinality_::kManyInstances as int32;
        copy_cstr(&mut info.category, "Audio Module Class");
        copy_cstr(&mut info.name, PLUGIN_NAME);
        kResultOk
    }

    unsafe fn createInstance(
        &self,
        cid: FIDString,
        iid: FIDString,
        obj: *mut *mut c_void,
    ) -> tresult {
        if cid.is_null() || iid.is_null() || obj.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: the host passes 16-byte class and interface ids.
        let cid = unsafe { &*(cid as *const TUID) };
        if *cid != CID {
            return kNoInterface;
        }
        let Some(component) = ComWrapper::new(WidenVst3::new()).to_com_ptr::<IComponent>() else {
            return kNoInterface;
        };
        let unknown = component.as_ptr() as *mut FUnknown;
        // SAFETY: every COM interface starts with the FUnknown vtable; queryInterface adds the
        // reference the caller owns, and `component` releases ours when dropped.
        unsafe { ((*(*unknown).vtbl).queryInterface)(unknown, iid as *const TUID, obj) }
    }
}

impl IPluginFactory2Trait for Factory {
    unsafe fn getClassInfo2(&self, index: int32, info: *mut PClassInfo2) -> tresult {
        let Some(info) = (unsafe { info.as_mut() }) else {
            return kInvalidArgument;
        };
        if index != 0 {
            return kInvalidArgument;
        }
        info.cid = CID;
        info.cardinality = PClassInfo_::ClassCardinality_::kManyInstances as int32;
        copy_cstr(&mut info.category, "Audio Module Class");
        copy_cstr(&mut info.name, PLUGIN_NAME);
        info.classFlags = 0;
        copy_cstr(&mut info.subCategories, "Fx|Restoration");
        copy_cstr(&mut info.vendor, VENDOR);
        copy_cstr(&mut info.version, env!("CARGO_PKG_VERSION"));
        copy_cstr(&mut info.sdkVersion, "VST 3.7");
        kResultOk
    }
}

/// Audio-thread state: the processor of the current activation and its scratch buffers.
struct Active {
    processor: Processor,
    inputs: [Vec<f32>; 2],
    outputs: [Vec<f32>; 2],
}

/// Settings from `setupProcessing`.
#[derive(Clone, Copy)]
struct Setup {
    rate: f64,
    max_block: usize,
}

/// A component handler the host gave us (used on the main thread only).
struct Handler(ComPtr<IComponentHandler>);
// SAFETY: stored behind a mutex and only called from the host's main thread (VST3 rules).
unsafe impl Send for Handler {}

/// The widen VST3 component / processor / controller.
pub struct WidenVst3 {
    params: Arc<Params>,
    offline: Arc<AtomicBool>,
    setup: Mutex<Setup>,
    /// (input channels, output channels).
    channels: Mutex<(usize, usize)>,
    active: Mutex<Option<Active>>,
    active_settings: Mutex<Option<EngineSettings>>,
    latency: AtomicU32,
    handler: Mutex<Option<Handler>>,
}

impl Class for WidenVst3 {
    type Interfaces = (IComponent, IAudioProcessor, IEditController);
}

impl WidenVst3 {
    fn new() -> Self {
        Self {
            params: Arc::new(Params::default()),
            offline: Arc::new(AtomicBool::new(false)),
            setup: Mutex::new(Setup {
                rate: 48_000.0,
                max_block: 1024,
            }),
            channels: Mutex::new((2, 2)),
            active: Mutex::new(None),
            active_settings: Mutex::new(None),
            latency: AtomicU32::new(0),
            handler: Mutex::new(None),
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the host to restart us when a parameter that shapes the processor changed while
    /// active (main thread).
    fn restart_if_needed(&self) {
        let active = *Self::lock(&self.active_settings);
        if active.is_some_and(|a| a != self.params.engine_settings()) {
            if let Some(h) = Self::lock(&self.handler).as_ref() {
                // SAFETY: a live handler pointer from setComponentHandler.
                unsafe { h.0.restartComponent(kLatencyChanged) };
            }
        }
    }

    fn read_stream(state: *mut IBStream) -> Option<Vec<u8>> {
        // SAFETY: a host stream pointer, checked for null by from_raw.
        let stream = unsafe { ComRef::from_raw(state) }?;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let mut read: int32 = 0;
            // SAFETY: `buf` is writable for its length.
            let r = unsafe {
                stream.read(
                    buf.as_mut_ptr() as *mut c_void,
                    buf.len() as int32,
                    &mut read,
                )
            };
            if r != kResultOk || read <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..(read as usize).min(buf.len())]);
            if out.len() > 1 << 20 {
                return None;
            }
        }
        Some(out)
    }

    fn load_state(&self, state: *mut IBStream) -> tresult {
        let Some(bytes) = Self::read_stream(state) else {
            return kInvalidArgument;
        };
        if bytes.is_empty() {
            return kResultOk;
        }
        match self.params.load(&bytes) {
            Ok(()) => {
                self.restart_if_needed();
                kResultOk
            }
            Err(_) => kResultFalse,
        }
    }

    fn save_state(&self, state: *mut IBStream) -> tresult {
        // SAFETY: a host stream pointer, checked for null by from_raw.
        let Some(stream) = (unsafe { ComRef::from_raw(state) }) else {
            return kInvalidArgument;
        };
        let bytes = self.params.save();
        let mut written: int32 = 0;
        // SAFETY: `bytes` is readable for its length.
        let r = unsafe {
            stream.write(
                bytes.as_ptr() as *mut c_void,
                bytes.len() as int32,
                &mut written,
            )
        };
        if r == kResultOk && written as usize == bytes.len() {
            kResultOk
        } else {
            kResultFalse
        }
    }
}

impl IPluginBaseTrait for WidenVst3 {
    unsafe fn initialize(&self, _context: *mut FUnknown) -> tresult {
        kResultOk
    }

    unsafe fn terminate(&self) -> tresult {
        *Self::lock(&self.active) = None;
        *Self::lock(&self.handler) = None;
        kResultOk
    }
}

impl IComponentTrait for WidenVst3 {
    unsafe fn getControllerClassId(&self, _class_id: *mut TUID) -> tresult {
        // Single component: the controller is this object.
        kNotImplemented
    }

    unsafe fn setIoMode(&self, _mode: IoMode) -> tresult {
        kResultOk
    }

    unsafe fn getBusCount(&self, media: MediaType, _dir: BusDirection) -> int32 {
        if media == kAudio as MediaType {
            1
        } else {
            0
        }
    }

    unsafe fn getBusInfo(
        &self,
        media: MediaType,
        dir: BusDirection,
        index: int32,
        bus: *mut BusInfo,
    ) -> tresult {
        let Some(bus) = (unsafe { bus.as_mut() }) else {
            return kInvalidArgument;
        };
        if media != kAudio as MediaType || index != 0 {
            return kInvalidArgument;
        }
        let (ins, outs) = *Self::lock(&self.channels);
        bus.mediaType = media;
        bus.direction = dir;
        bus.channelCount = if dir == kInput as BusDirection {
            ins
        } else {
            outs
        } as int32;
        copy_str16(
            &mut bus.name,
            if dir == kInput as BusDirection {
                "Input"
            } else {
                "Output"
            },
        );
        bus.busType = kMain as BusType;
        bus.flags = kDefaultActive as uint32;
        kResultOk
    }

    unsafe fn getRoutingInfo(&self, _i: *mut RoutingInfo, _o: *mut RoutingInfo) -> tresult {
        kNotImplemented
    }

    unsafe fn activateBus(
        &self,
        _media: MediaType,
        _dir: BusDirection,
        _index: int32,
        _state: TBool,
    ) -> tresult {
        kResultOk
    }

    unsafe fn setActive(&self, state: TBool) -> tresult {
        let mut active = Self::lock(&self.active);
        if state == 0 {
            *active = None;
            *Self::lock(&self.active_settings) = None;
            return kResultOk;
        }
        let setup = *Self::lock(&self.setup);
        let (ins, outs) = *Self::lock(&self.channels);
        let max_block = setup
            .max_block
            .clamp(1, widen_core::config::plugin::MAX_BLOCK);
        // Models and ONNX Runtime sessions load here, on the main thread.
        let processor = Processor::new(
            ProcessorConfig {
                sample_rate: setup.rate,
                max_block,
                inputs: ins,
                outputs: outs,
            },
            self.params.clone(),
            self.offline.clone(),
        );
        self.latency.store(
            u32::try_from(processor.latency()).unwrap_or(u32::MAX),
            Ordering::Release,
        );
        *Self::lock(&self.active_settings) = Some(processor.settings());
        *active = Some(Active {
            processor,
            inputs: [vec![0.0; max_block], vec![0.0; max_block]],
            outputs: [vec![0.0; max_block], vec![0.0; max_block]],
        });
        kResultOk
    }

    unsafe fn setState(&self, state: *mut IBStream) -> tresult {
        self.load_state(state)
    }

    unsafe fn getState(&self, state: *mut IBStream) -> tresult {
        self.save_state(state)
    }
}

fn arrangement_channels(a: SpeakerArrangement) -> Option<usize> {
    match a {
        x if x == kMono => Some(1),
        x if x == kStereo => Some(2),
        _ => None,
    }
}

impl IAudioProcessorTrait for WidenVst3 {
    unsafe fn setBusArrangements(
        &self,
        inputs: *mut SpeakerArrangement,
        num_ins: int32,
        outputs: *mut SpeakerArrangement,
        num_outs: int32,
    ) -> tresult {
        if num_ins != 1 || num_outs != 1 || inputs.is_null() || outputs.is_null() {
            return kResultFalse;
        }
        // SAFETY: one arrangement each, as counted.
        let (i, o) = unsafe { (*inputs, *outputs) };
        match (arrangement_channels(i), arrangement_channels(o)) {
            // Mono/mono, stereo/stereo, mono in/stereo out.
            (Some(ins), Some(outs)) if ins <= outs => {
                *Self::lock(&self.channels) = (ins, outs);
                kResultTrue
            }
            _ => kResultFalse,
        }
    }

    unsafe fn getBusArrangement(
        &self,
        dir: BusDirection,
        index: int32,
        arr: *mut SpeakerArrangement,
    ) -> tresult {
        let Some(arr) = (unsafe { arr.as_mut() }) else {
            return kInvalidArgument;
        };
        if index != 0 {
            return kInvalidArgument;
        }
        let (ins, outs) = *Self::lock(&self.channels);
        let n = if dir == kInput as BusDirection {
            ins
        } else {
            outs
        };
        *arr = if n == 1 { kMono } else { kStereo };
        kResultOk
    }

    unsafe fn canProcessSampleSize(&self, size: int32) -> tresult {
        if size == kSample32 as int32 {
            kResultTrue
        } else {
            kResultFalse
        }
    }

    unsafe fn getLatencySamples(&self) -> uint32 {
        self.latency.load(Ordering::Acquire)
    }

    unsafe fn setupProcessing(&self, setup: *mut ProcessSetup) -> tresult {
        let Some(setup) = (unsafe { setup.as_ref() }) else {
            return kInvalidArgument;
        };
        if setup.symbolicSampleSize != kSample32 as int32 {
            return kResultFalse;
        }
        *Self::lock(&self.setup) = Setup {
            rate: setup.sampleRate,
            max_block: setup.maxSamplesPerBlock.max(1) as usize,
        };
        self.offline
            .store(setup.processMode == kOffline as int32, Ordering::Relaxed);
        kResultOk
    }

    unsafe fn setProcessing(&self, _state: TBool) -> tresult {
        kResultOk
    }

    unsafe fn process(&self, data: *mut ProcessData) -> tresult {
        let _scope = crate::alloc_probe::AudioScope::enter();
        let Some(data) = (unsafe { data.as_mut() }) else {
            return kInvalidArgument;
        };
        // Parameter changes: the last point of each queue (applied at the block start).
        // SAFETY: host pointers, null-checked by from_raw.
        if let Some(changes) = unsafe { ComRef::from_raw(data.inputParameterChanges) } {
            let count = unsafe { changes.getParameterCount() };
            for i in 0..count {
                let Some(queue) = (unsafe { ComRef::from_raw(changes.getParameterData(i)) }) else {
                    continue;
                };
                let id = unsafe { queue.getParameterId() };
                let points = unsafe { queue.getPointCount() };
                let (mut offset, mut value) = (0, 0.0);
                if points > 0
                    && unsafe { queue.getPoint(points - 1, &mut offset, &mut value) } == kResultOk
                {
                    if let Some(spec) = params::spec(id) {
                        self.params.set_from_host(id, spec.from_normalized(value));
                    }
                }
            }
        }
        let frames = data.numSamples.max(0) as usize;
        if frames == 0 || data.numOutputs < 1 || data.outputs.is_null() {
            return kResultOk;
        }
        if data.symbolicSampleSize != kSample32 as int32 {
            return kResultFalse;
        }
        // SAFETY: numOutputs >= 1 buses, each with numChannels channel pointers of numSamples.
        let out_bus = unsafe { &mut *data.outputs };
        let in_bus =
            (data.numInputs >= 1 && !data.inputs.is_null()).then(|| unsafe { &*data.inputs });
        let channel = |bus: &AudioBusBuffers, c: usize| -> Option<*mut f32> {
            let ptrs = unsafe { bus.__field0.channelBuffers32 };
            if ptrs.is_null() || c >= bus.numChannels.max(0) as usize {
                return None;
            }
            let p = unsafe { *ptrs.add(c) };
            (!p.is_null()).then_some(p)
        };
        let n_in = in_bus.map_or(0, |b| b.numChannels.clamp(0, 2) as usize);
        let n_out = out_bus.numChannels.clamp(0, 2) as usize;

        let Ok(mut guard) = self.active.try_lock() else {
            // Activation in progress on the main thread: pass the input through.
            pass_through(in_bus, out_bus, frames, &channel);
            return kResultOk;
        };
        let Some(active) = guard.as_mut() else {
            // Not active (process before setActive): pass the input through.
            pass_through(in_bus, out_bus, frames, &channel);
            return kResultOk;
        };
        let chunk = active.inputs[0].len();
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(chunk);
            for c in 0..n_in {
                if let Some(p) = in_bus.and_then(|b| channel(b, c)) {
                    // SAFETY: the host's channel holds `frames` samples.
                    let x = unsafe { std::slice::from_raw_parts(p.add(start), n) };
                    active.inputs[c][..n].copy_from_slice(x);
                }
            }
            let [i0, i1] = &active.inputs;
            let ins: [&[f32]; 2] = [&i0[..n], &i1[..n]];
            let [o0, o1] = &mut active.outputs;
            let mut outs: [&mut [f32]; 2] = [&mut o0[..n], &mut o1[..n]];
            active
                .processor
                .process(&ins[..n_in], &mut outs[..n_out.max(1)], n);
            for c in 0..n_out {
                if let Some(p) = channel(out_bus, c) {
                    // SAFETY: the host's channel holds `frames` samples; inputs were copied
                    // first, so in-place buffers are fine.
                    let y = unsafe { std::slice::from_raw_parts_mut(p.add(start), n) };
                    y.copy_from_slice(&active.outputs[c][..n]);
                }
            }
            start += n;
        }
        out_bus.silenceFlags = 0;
        kResultOk
    }

    unsafe fn getTailSamples(&self) -> uint32 {
        self.latency.load(Ordering::Acquire)
    }
}

/// Copies (sanitised) input to output, or silence where there is no input channel.
fn pass_through(
    in_bus: Option<&AudioBusBuffers>,
    out_bus: &mut AudioBusBuffers,
    frames: usize,
    channel: &dyn Fn(&AudioBusBuffers, usize) -> Option<*mut f32>,
) {
    for c in 0..out_bus.numChannels.clamp(0, 2) as usize {
        let Some(po) = channel(out_bus, c) else {
            continue;
        };
        let pi = in_bus.and_then(|b| channel(b, c.min(b.numChannels.max(1) as usize - 1)));
        // Raw pointers throughout: input and output may be the same buffer (in place).
        for i in 0..frames {
            // SAFETY: host channels of `frames` samples.
            unsafe {
                let v = pi.map_or(0.0, |p| *p.add(i));
                *po.add(i) = if v.is_finite() { v } else { 0.0 };
            }
        }
    }
}

impl IEditControllerTrait for WidenVst3 {
    unsafe fn setComponentState(&self, state: *mut IBStream) -> tresult {
        // Same object: the component state is ours already; reading it again is harmless.
        self.load_state(state)
    }

    unsafe fn setState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getParameterCount(&self) -> int32 {
        PARAMS.len() as int32
    }

    unsafe fn getParameterInfo(&self, index: int32, info: *mut ParameterInfo) -> tresult {
        let (Some(info), Some(p)) = (unsafe { info.as_mut() }, PARAMS.get(index.max(0) as usize))
        else {
            return kInvalidArgument;
        };
        info.id = p.id as ParamID;
        copy_str16(&mut info.title, p.name);
        copy_str16(&mut info.shortTitle, p.name);
        copy_str16(&mut info.units, p.unit);
        info.stepCount = if p.stepped() {
            p.steps.len() as int32 - 1
        } else {
            0
        };
        info.defaultNormalizedValue = p.to_normalized(p.default);
        info.unitId = 0;
        info.flags = match p.kind {
            Kind::Continuous | Kind::Toggle => kCanAutomate,
            Kind::Restart if p.stepped() => kIsList,
            Kind::Restart => 0,
            Kind::ReadOnly => kIsReadOnly,
        };
        match p.id {
            ParamId::Bypass => info.flags |= kIsBypass,
            ParamId::DiagAudioAllocations => info.flags |= kIsHidden,
            _ => {}
        }
        kResultOk
    }

    unsafe fn getParamStringByValue(
        &self,
        id: ParamID,
        value: ParamValue,
        string: *mut String128,
    ) -> tresult {
        let (Some(s), Some(p)) = (unsafe { string.as_mut() }, params::spec(id)) else {
            return kInvalidArgument;
        };
        copy_str16(s, &p.format(p.from_normalized(value)));
        kResultOk
    }

    unsafe fn getParamValueByString(
        &self,
        id: ParamID,
        string: *mut TChar,
        value: *mut ParamValue,
    ) -> tresult {
        let (Some(p), false, Some(out)) = (params::spec(id), string.is_null(), unsafe {
            value.as_mut()
        }) else {
            return kInvalidArgument;
        };
        let mut units = Vec::new();
        for i in 0..128 {
            // SAFETY: a NUL-terminated UTF-16 string of at most 128 units (String128).
            let c = unsafe { *string.add(i) };
            if c == 0 {
                break;
            }
            units.push(c);
        }
        match p.parse(&String::from_utf16_lossy(&units)) {
            Some(v) => {
                *out = p.to_normalized(v);
                kResultOk
            }
            None => kResultFalse,
        }
    }

    unsafe fn normalizedParamToPlain(&self, id: ParamID, value: ParamValue) -> ParamValue {
        params::spec(id).map_or(0.0, |p| p.from_normalized(value))
    }

    unsafe fn plainParamToNormalized(&self, id: ParamID, plain: ParamValue) -> ParamValue {
        params::spec(id).map_or(0.0, |p| p.to_normalized(plain))
    }

    unsafe fn getParamNormalized(&self, id: ParamID) -> ParamValue {
        params::spec(id).map_or(0.0, |p| p.to_normalized(self.params.get(p.id)))
    }

    unsafe fn setParamNormalized(&self, id: ParamID, value: ParamValue) -> tresult {
        let Some(p) = params::spec(id) else {
            return kInvalidArgument;
        };
        if p.kind == Kind::ReadOnly {
            return kResultOk;
        }
        self.params.set(p.id, p.from_normalized(value));
        if p.kind == Kind::Restart {
            self.restart_if_needed();
        }
        kResultOk
    }

    unsafe fn setComponentHandler(&self, handler: *mut IComponentHandler) -> tresult {
        // SAFETY: a host pointer (or null); to_com_ptr adds the reference we keep.
        let h = unsafe { ComRef::from_raw(handler) }.map(|r| Handler(r.to_com_ptr()));
        *Self::lock(&self.handler) = h;
        kResultOk
    }

    unsafe fn createView(&self, _name: FIDString) -> *mut IPlugView {
        std::ptr::null_mut()
    }
}

/// The VST3 module entry: the host's first call after loading the library.
///
/// # Safety
/// Called by the host with its module handle (unused).
#[no_mangle]
pub extern "C" fn ModuleEntry(_handle: *mut c_void) -> bool {
    crate::locate::prefer_ort_beside_plugin();
    true
}

/// The VST3 module exit: the host's last call before unloading the library.
#[no_mangle]
pub extern "C" fn ModuleExit() -> bool {
    true
}

/// The VST3 factory entry point.
#[no_mangle]
pub extern "system" fn GetPluginFactory() -> *mut IPluginFactory {
    crate::locate::prefer_ort_beside_plugin();
    ComWrapper::new(Factory)
        .to_com_ptr::<IPluginFactory>()
        .map_or(std::ptr::null_mut(), |p| p.into_raw())
}
