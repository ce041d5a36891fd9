//! Flush-to-zero / denormals-are-zero for the duration of an audio callback.
//!
//! Denormal floats make x86 arithmetic up to 100x slower; a decaying filter or reverb tail can
//! produce them in long stretches. The guard sets the MXCSR FTZ and DAZ bits and restores the
//! host's value on drop, so the host's own code is unaffected.

/// Sets FTZ/DAZ while alive (a no-op on other architectures).
pub struct FlushToZero {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

#[cfg(target_arch = "x86_64")]
#[allow(deprecated)] // _mm_getcsr/_mm_setcsr: the replacement (inline asm) is no safer.
impl FlushToZero {
    /// FTZ (bit 15) and DAZ (bit 6) of MXCSR.
    const BITS: u32 = 0x8040;

    /// Saves MXCSR and sets FTZ and DAZ.
    pub fn new() -> Self {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        // SAFETY: SSE is part of the x86_64 baseline; setting FTZ/DAZ only changes how
        // denormal results and operands are treated, and the old value is restored on drop.
        let saved = unsafe { _mm_getcsr() };
        unsafe { _mm_setcsr(saved | Self::BITS) };
        Self { saved }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(deprecated)]
impl Drop for FlushToZero {
    fn drop(&mut self) {
        // SAFETY: restores the value read in `new`.
        unsafe { std::arch::x86_64::_mm_setcsr(self.saved) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl FlushToZero {
    /// No-op.
    pub fn new() -> Self {
        Self {}
    }
}

impl Default for FlushToZero {
    fn default() -> Self {
        Self::new()
    }
}
