//! `Lowpass::process` must not allocate (it may run on an audio thread). A counting global
//! allocator (test binary only; the one place `unsafe` is needed, to implement `GlobalAlloc`)
//! counts allocations made by the current thread while `process` runs.

mod alloc_counter;

use alloc_counter::allocations;
use widen_core::dsp::filters::{design, FirWindow, LowpassKind, LowpassSpec};

#[test]
fn process_and_reset_do_not_allocate() {
    let specs = [
        LowpassKind::Butterworth { order: 12 },
        LowpassKind::Chebyshev1 {
            order: 9,
            ripple_db: 0.3,
        },
        LowpassKind::Fir {
            taps: 255,
            window: FirWindow::Kaiser { beta: 9.0 },
        },
    ];
    let mut block = vec![0.25f32; 512];
    for kind in specs {
        let mut f = design(
            LowpassSpec {
                kind,
                cutoff_hz: 3700.0,
            },
            22_050,
        )
        .expect("valid spec");
        let before = allocations();
        for _ in 0..20 {
            f.process(&mut block);
            f.process(&mut block[..1]);
        }
        f.reset();
        assert_eq!(allocations(), before, "{kind:?} allocated in process/reset");
    }
    // The counter works: a fresh Vec is counted.
    let before = allocations();
    let v: Vec<u8> = (0..100).collect();
    assert!(allocations() > before && v.len() == 100);
}
