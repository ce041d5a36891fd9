//! The engine's audio-thread paths must not allocate. A counting global allocator (test
//! binary only; `unsafe` is needed to implement `GlobalAlloc`) counts the allocations the
//! current thread makes.

mod alloc_counter;
mod engine_common;

use alloc_counter::allocations;

use engine_common::*;
use widen_core::engine::{EngineConfig, RealtimeEngine, StreamProcessor, Synthesis};

#[test]
fn process_block_and_reset_do_not_allocate() {
    for (rate, synthesis) in [
        (48_000u32, Synthesis::Vocoder),
        (22_050, Synthesis::Vocoder),
        (44_100, Synthesis::PhaseCopy),
    ] {
        let cfg = EngineConfig {
            synthesis,
            ..small_config(rate)
        };
        let mut e = engine(cfg, 1024);
        let x = speech(rate, 0.5);
        let mut y = vec![0.0f32; 1024];
        let before = allocations();
        let mut calls = 0usize;
        // Thousands of calls with mixed block sizes (the signal repeats), a reset half-way.
        let mut i = 0;
        for b in [1usize, 7, 64, 480, 1024, 33, 256, 2, 5]
            .iter()
            .cycle()
            .take(4000)
        {
            if i + b > x.len() {
                i = 0;
            }
            e.process_block(&x[i..i + b], &mut y[..*b]).unwrap();
            i += b;
            calls += 1;
            if calls == 2000 {
                e.reset();
            }
        }
        let n = allocations() - before;
        assert_eq!(
            n, 0,
            "{rate} Hz {synthesis:?}: {n} allocations in {calls} calls"
        );
        assert!(e.stats().frames > 100);
    }
}

#[test]
fn rate_converting_process_does_not_allocate_with_reserved_output() {
    let cfg = EngineConfig {
        input_rate: 8_000,
        output_rate: 22_050,
        ..small_config(8_000)
    };
    let mut e = engine(cfg, 160);
    let x = speech(8_000, 0.5);
    let mut out = Vec::with_capacity(e.max_output_len(160));
    let before = allocations();
    for piece in x.chunks(160) {
        out.clear();
        e.process(piece, &mut out).unwrap();
    }
    assert_eq!(allocations() - before, 0);
}

#[test]
fn realtime_process_does_not_allocate_on_the_audio_thread() {
    let rate = 48_000;
    let mut rt = RealtimeEngine::new(engine(small_config(rate), 256)).unwrap();
    let x = speech(rate, 0.5);
    let mut y = vec![0.0f32; 256];
    let before = allocations();
    let mut calls = 0;
    for piece in x.chunks(256) {
        rt.process(piece, &mut y[..piece.len()]).unwrap();
        calls += 1;
        if calls == 40 {
            rt.reset();
        }
    }
    let _ = rt.stats();
    assert_eq!(allocations() - before, 0, "{calls} calls");
}
