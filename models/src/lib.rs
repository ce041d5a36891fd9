//! `widen-train`: trains widen's mel generator (CNN baseline and GAN) and its Vocos vocoder with
//! tch (libtorch 2.11) and exports them to ONNX for the engine.
//!
//! The network shapes come from `widen_onnx::nets` (one definition for training and export);
//! the training data is made on the fly from the corpus (`cargo xtask corpus`) by [`data`],
//! with log-mels computed by `widen_core` exactly like the engine computes them.

pub mod adam;
pub mod checkpoint;
pub mod cuda;
pub mod data;
pub mod disc;
pub mod evaluate;
pub mod export;
pub mod generator;
pub mod import;
pub mod plot;
pub mod spec;
pub mod tch_mel;
pub mod train;
pub mod validate;
pub mod vdisc;
pub mod vocoder;
pub mod vtrain;
