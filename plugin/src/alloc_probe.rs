//! Counts heap allocations made by this library's code while an audio callback runs.
//!
//! A host cannot see a plugin's allocations with its own counting allocator: every Rust cdylib
//! carries its own global allocator. So the plugin counts for itself: the global allocator
//! below forwards to the system allocator and, when the calling thread is inside
//! [`Processor::process`](crate::processor::Processor::process) (a thread-local flag),
//! increments a counter. The count is published as the read-only "Audio-thread allocations"
//! parameter, which host tests read back; it must stay 0. The cost is one thread-local read
//! per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Probe;

thread_local! {
    // Const-initialised without destructor: usable from inside the allocator.
    static IN_AUDIO: Cell<bool> = const { Cell::new(false) };
}

static AUDIO_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn note() {
    if IN_AUDIO.with(|f| f.get()) {
        AUDIO_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Probe = Probe;

/// Marks the current thread as being inside an audio callback until dropped.
pub struct AudioScope {
    was: bool,
}

impl AudioScope {
    /// Enters the scope.
    pub fn enter() -> Self {
        Self {
            was: IN_AUDIO.with(|f| f.replace(true)),
        }
    }
}

impl Drop for AudioScope {
    fn drop(&mut self) {
        let was = self.was;
        IN_AUDIO.with(|f| f.set(was));
    }
}

/// Allocations and frees made inside audio callbacks so far (all instances in this process).
pub fn audio_allocations() -> u64 {
    AUDIO_ALLOCATIONS.load(Ordering::Relaxed)
}
