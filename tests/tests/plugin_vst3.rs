//! The VST3 plugin in a small Rust VST3 host: `libloading` opens the built bundle's
//! `widen.vst3/Contents/x86_64-linux/widen.so`, calls `ModuleEntry` and `GetPluginFactory`, and
//! drives the component through the `vst3` crate's COM bindings (`cargo xtask bundle` first).
//!
//! Core checks as for CLAP: reported latency = measured delay on real band-limited speech at
//! 44.1/48/96 kHz with several block sizes, finite output, high band not lost, mix = 0 bit-exact
//! dry, state round trip through `IBStream`, reactivation at a new rate, quality mode changing
//! the latency, process before activation, no allocation in `process`.
//!
//! `unsafe` is the COM ABI: every call into the plugin goes through raw vtables.

mod plugin_common;

use std::ffi::c_void;
use std::sync::Mutex;

use plugin_common::*;
use vst3::Steinberg::Vst::ProcessModes_::{kOffline, kRealtime};
use vst3::Steinberg::Vst::SpeakerArr::{kMono, kStereo};
use vst3::Steinberg::Vst::SymbolicSampleSizes_::kSample32;
use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{Class, ComPtr, ComWrapper, Interface};
use widen_plugin::params::{ParamId, PARAMS};

/// A growable memory stream (the host side of `IBStream`).
struct MemStream {
    data: Mutex<(Vec<u8>, usize)>,
}

impl Class for MemStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemStream {
    unsafe fn read(&self, buffer: *mut c_void, num: int32, read: *mut int32) -> tresult {
        let mut g = self.data.lock().unwrap();
        let (data, pos) = &mut *g;
        let n = (num.max(0) as usize).min(data.len() - *pos);
        unsafe { std::ptr::copy_nonoverlapping(data[*pos..].as_ptr(), buffer as *mut u8, n) };
        *pos += n;
        if !read.is_null() {
            unsafe { *read = n as int32 };
        }
        kResultOk
    }
    unsafe fn write(&self, buffer: *mut c_void, num: int32, written: *mut int32) -> tresult {
        let mut g = self.data.lock().unwrap();
        let bytes = unsafe { std::slice::from_raw_parts(buffer as *const u8, num.max(0) as usize) };
        g.0.extend_from_slice(bytes);
        g.1 = g.0.len();
        if !written.is_null() {
            unsafe { *written = num };
        }
        kResultOk
    }
    unsafe fn seek(&self, pos: int64, _mode: int32, result: *mut int64) -> tresult {
        let mut g = self.data.lock().unwrap();
        g.1 = (pos.max(0) as usize).min(g.0.len());
        if !result.is_null() {
            unsafe { *result = g.1 as int64 };
        }
        kResultOk
    }
    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        if !pos.is_null() {
            unsafe { *pos = self.data.lock().unwrap().1 as int64 };
        }
        kResultOk
    }
}

/// The host's component handler: records `restartComponent` flags.
struct Handler {
    restarts: Mutex<Vec<int32>>,
}

impl Class for Handler {
    type Interfaces = (IComponentHandler,);
}

impl IComponentHandlerTrait for Handler {
    unsafe fn beginEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }
    unsafe fn performEdit(&self, _id: ParamID, _value: ParamValue) -> tresult {
        kResultOk
    }
    unsafe fn endEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }
    unsafe fn restartComponent(&self, flags: int32) -> tresult {
        self.restarts.lock().unwrap().push(flags);
        kResultOk
    }
}

fn stream(bytes: Vec<u8>) -> ComWrapper<MemStream> {
    ComWrapper::new(MemStream {
        data: Mutex::new((bytes, 0)),
    })
}

/// The loaded module (kept alive while any object from it exists).
struct Module {
    _lib: libloading::Library,
    factory: ComPtr<IPluginFactory>,
}

impl Module {
    fn load() -> Self {
        let path = bundle_dir().join("widen.vst3/Contents/x86_64-linux/widen.so");
        // SAFETY: our own plugin; its initialisers are plain Rust statics.
        let lib = unsafe { libloading::Library::new(&path) }
            .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
        unsafe {
            let entry: libloading::Symbol<unsafe extern "C" fn(*mut c_void) -> bool> =
                lib.get(b"ModuleEntry").expect("ModuleEntry");
            assert!(entry(std::ptr::null_mut()));
            let get: libloading::Symbol<unsafe extern "system" fn() -> *mut IPluginFactory> =
                lib.get(b"GetPluginFactory").expect("GetPluginFactory");
            let factory = ComPtr::from_raw(get()).expect("a factory");
            Self { _lib: lib, factory }
        }
    }

    fn create(&self) -> Vst {
        unsafe {
            assert_eq!(self.factory.countClasses(), 1);
            let mut info: PClassInfo = std::mem::zeroed();
            assert_eq!(self.factory.getClassInfo(0, &mut info), kResultOk);
            let name: Vec<u8> = info
                .name
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            assert_eq!(name, b"widen");
            let mut obj: *mut c_void = std::ptr::null_mut();
            let r = self.factory.createInstance(
                info.cid.as_ptr(),
                IComponent::IID.as_ptr() as FIDString,
                &mut obj,
            );
            assert_eq!(r, kResultOk);
            let component = ComPtr::from_raw(obj as *mut IComponent).expect("a component");
            assert_eq!(component.initialize(std::ptr::null_mut()), kResultOk);
            let processor = component
                .cast::<IAudioProcessor>()
                .expect("IAudioProcessor");
            let controller = component
                .cast::<IEditController>()
                .expect("IEditController");
            Vst {
                component,
                processor,
                controller,
            }
        }
    }
}

struct Vst {
    component: ComPtr<IComponent>,
    processor: ComPtr<IAudioProcessor>,
    controller: ComPtr<IEditController>,
}

impl Vst {
    fn setup(&self, rate: f64, max_block: i32, channels: usize, offline: bool) {
        unsafe {
            let mut arr = [if channels == 1 { kMono } else { kStereo }];
            let mut arr_out = arr;
            assert_eq!(
                self.processor
                    .setBusArrangements(arr.as_mut_ptr(), 1, arr_out.as_mut_ptr(), 1),
                kResultTrue
            );
            let mut setup = ProcessSetup {
                processMode: if offline { kOffline } else { kRealtime } as int32,
                symbolicSampleSize: kSample32 as int32,
                maxSamplesPerBlock: max_block,
                sampleRate: rate,
            };
            assert_eq!(self.processor.setupProcessing(&mut setup), kResultOk);
            assert_eq!(self.component.setActive(1), kResultOk);
            assert_eq!(self.processor.setProcessing(1), kResultOk);
        }
    }

    fn stop(&self) {
        unsafe {
            self.processor.setProcessing(0);
            self.component.setActive(0);
        }
    }

    fn latency(&self) -> usize {
        unsafe { self.processor.getLatencySamples() as usize }
    }

    fn set(&self, id: ParamId, plain: f64) {
        let spec = &PARAMS[id as usize];
        unsafe {
            assert_eq!(
                self.controller
                    .setParamNormalized(id as ParamID, spec.to_normalized(plain)),
                kResultOk
            );
        }
    }

    fn get(&self, id: ParamId) -> f64 {
        let spec = &PARAMS[id as usize];
        unsafe { spec.from_normalized(self.controller.getParamNormalized(id as ParamID)) }
    }

    /// Processes `input` (one Vec per channel) in blocks of `sizes`.
    fn run(&self, input: &[Vec<f32>], sizes: &[usize]) -> Vec<Vec<f32>> {
        let total = input[0].len();
        let mut inp = input.to_vec();
        let mut out = vec![vec![0.0f32; total]; input.len()];
        let mut pos = 0;
        for n in blocks(total, sizes) {
            let mut in_ptrs: Vec<*mut f32> =
                inp.iter_mut().map(|c| c[pos..].as_mut_ptr()).collect();
            let mut out_ptrs: Vec<*mut f32> =
                out.iter_mut().map(|c| c[pos..].as_mut_ptr()).collect();
            let mut in_bus = AudioBusBuffers {
                numChannels: input.len() as int32,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 {
                    channelBuffers32: in_ptrs.as_mut_ptr(),
                },
            };
            let mut out_bus = AudioBusBuffers {
                numChannels: input.len() as int32,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 {
                    channelBuffers32: out_ptrs.as_mut_ptr(),
                },
            };
            let mut data = ProcessData {
                processMode: 0,
                symbolicSampleSize: kSample32 as int32,
                numSamples: n as int32,
                numInputs: 1,
                numOutputs: 1,
                inputs: &mut in_bus,
                outputs: &mut out_bus,
                inputParameterChanges: std::ptr::null_mut(),
                outputParameterChanges: std::ptr::null_mut(),
                inputEvents: std::ptr::null_mut(),
                outputEvents: std::ptr::null_mut(),
                processContext: std::ptr::null_mut(),
            };
            assert_eq!(unsafe { self.processor.process(&mut data) }, kResultOk);
            pos += n;
        }
        out
    }

    fn save(&self) -> Vec<u8> {
        let s = stream(Vec::new());
        let p = s.to_com_ptr::<IBStream>().unwrap();
        assert_eq!(unsafe { self.component.getState(p.as_ptr()) }, kResultOk);
        let bytes = s.data.lock().unwrap().0.clone();
        bytes
    }

    fn load(&self, bytes: &[u8]) {
        let s = stream(bytes.to_vec());
        let p = s.to_com_ptr::<IBStream>().unwrap();
        assert_eq!(unsafe { self.component.setState(p.as_ptr()) }, kResultOk);
    }
}

impl Drop for Vst {
    fn drop(&mut self) {
        unsafe {
            self.component.terminate();
        }
    }
}

#[test]
fn vst3_latency_speech_and_block_sizes() {
    let module = Module::load();
    for (rate, sizes) in [
        (44_100u32, vec![1usize, 511]),
        (48_000, vec![32, 128]),
        (96_000, vec![4096]),
    ] {
        let lead = rate as usize / 2;
        let mut x = burst(rate, lead, lead / 2);
        x.extend(band_limited_speech(rate, 10.0));
        let hb_in = high_band_energy(&x, rate);
        for block in sizes {
            let vst = module.create();
            vst.setup(rate as f64, block as i32, 1, true);
            let latency = vst.latency();
            let y = vst.run(&[x.clone()], &[block]);
            let late = vst.get(ParamId::MeterLate);
            vst.stop();
            let tag = format!("VST3 {rate} Hz, block {block}");
            assert!(y[0].iter().all(|v| v.is_finite()), "{tag}");
            let w = rate as usize / 100;
            let lag = best_lag(
                &x,
                &y[0],
                lead / 2 - w,
                lead / 2 + w,
                latency + rate as usize / 10,
            );
            assert_eq!(lag, latency, "{tag}: measured delay vs reported latency");
            assert_eq!(late, 0.0, "{tag}");
            let hb_out = high_band_energy(&y[0][latency..], rate);
            assert!(
                hb_out > hb_in,
                "{tag}: high band {hb_out:.3e} vs {hb_in:.3e}"
            );
        }
    }
}

#[test]
fn vst3_mix_zero_state_reactivation_and_quality() {
    let module = Module::load();
    let vst = module.create();
    let rate = 48_000;
    let x = band_limited_speech(rate, 2.0);
    let x2: Vec<f32> = x.iter().rev().copied().collect();
    vst.set(ParamId::Mix, 0.0);
    vst.setup(rate as f64, 300, 2, true);
    let low = vst.latency();
    let y = vst.run(&[x.clone(), x2.clone()], &[300, 1, 77]);
    let allocs = vst.get(ParamId::DiagAudioAllocations);
    vst.stop();
    assert!(
        y[0][low..] == x[..x.len() - low],
        "mix 0: not the dry input, bit-exact"
    );
    assert!(y[1][low..] == x2[..x2.len() - low], "mix 0, right channel");
    assert_eq!(allocs, 0.0, "allocations inside process");

    // State round trip into a fresh instance.
    vst.set(ParamId::Gain, -6.0);
    vst.set(ParamId::CutoffMode, 1.0);
    let state = vst.save();
    let other = module.create();
    other.load(&state);
    for id in [ParamId::Mix, ParamId::Gain, ParamId::CutoffMode] {
        assert_eq!(other.get(id), vst.get(id), "{id:?}");
    }
    assert_eq!(other.save(), state);

    // Quality mode while active: the plugin asks the host to restart it (latency changed);
    // after re-activation at a new rate the latency is the quality set's.
    let handler = ComWrapper::new(Handler {
        restarts: Mutex::new(Vec::new()),
    });
    let h = handler.to_com_ptr::<IComponentHandler>().unwrap();
    assert_eq!(
        unsafe { vst.controller.setComponentHandler(h.as_ptr()) },
        kResultOk
    );
    vst.set(ParamId::Gain, 0.0);
    vst.setup(rate as f64, 300, 1, true);
    assert!(handler.restarts.lock().unwrap().is_empty());
    vst.set(ParamId::Quality, 1.0);
    assert_eq!(
        *handler.restarts.lock().unwrap(),
        vec![vst3::Steinberg::Vst::RestartFlags_::kLatencyChanged as int32]
    );
    vst.stop();
    vst.setup(96_000.0, 300, 1, true);
    let high = vst.latency();
    let x96 = band_limited_speech(96_000, 1.0);
    let y = vst.run(std::slice::from_ref(&x96), &[300]);
    vst.stop();
    assert!(
        high > 2 * low,
        "quality at 96 kHz {high} vs low-latency at 48 kHz {low}"
    );
    assert!(
        y[0][high..] == x96[..x96.len() - high],
        "still mix 0: not the delayed input"
    );
}

#[test]
fn vst3_process_before_activation_and_bad_input() {
    let module = Module::load();
    let vst = module.create();
    // Never activated: the input passes through (NaN becomes 0).
    let x = vec![0.5f32, f32::NAN, -0.25, f32::INFINITY];
    let y = vst.run(std::slice::from_ref(&x), &[4]);
    assert_eq!(y[0], vec![0.5, 0.0, -0.25, 0.0]);
    // Active in real-time mode with NaN, Inf, denormals and zero-length blocks.
    vst.setup(48_000.0, 512, 1, false);
    let mut bad = vec![f32::NAN; 700];
    bad.extend(vec![f32::NEG_INFINITY; 300]);
    bad.extend(vec![1e-41f32; 3000]);
    bad.extend(band_limited_speech(48_000, 1.0));
    let y = vst.run(&[bad], &[512, 0, 1, 100]);
    vst.stop();
    assert!(y[0].iter().all(|v| v.is_finite()));
}
