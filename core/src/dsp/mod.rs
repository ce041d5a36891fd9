//! DSP building blocks. (skeleton: the dsp helper fills this in)
pub mod filters;
