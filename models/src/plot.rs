//! A PNG of the training curves, drawn without any font or plotting dependency.
//!
//! Three stacked panels over the step axis (each auto-scaled, grid lines at tenths):
//! 1. training loss, log10 scale (black);
//! 2. high-band log-mel L1: training (blue), in-corpus hold-out (green), eval split (red);
//! 3. eval-split LSD-HF with Griffin-Lim (red) and the sinc baseline (grey line); for vocoder
//!    runs, the hold-out re-synthesis' LSD-HF (red) and Griffin-Lim's on the same mels (grey).

use std::path::Path;

use anyhow::{Context, Result};

const W: usize = 900;
const PANEL_H: usize = 220;
const PAD: usize = 20;

type Rgb = [u8; 3];

struct Canvas {
    px: Vec<u8>,
    w: usize,
    h: usize,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Self {
            px: vec![255; w * h * 3],
            w,
            h,
        }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = (y as usize * self.w + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb) {
        let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for i in 0..=n {
            let t = i as f64 / n as f64;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            self.set(x.round() as i64, y.round() as i64, c);
            self.set(x.round() as i64, y.round() as i64 + 1, c);
        }
    }
}

/// One panel: series of (step, value) with colours, optional horizontal reference.
fn panel(
    cv: &mut Canvas,
    top: usize,
    max_step: f64,
    series: &[(&[(f64, f64)], Rgb)],
    hline: Option<f64>,
) {
    let (x0, x1) = (PAD as f64, (W - PAD) as f64);
    let (y0, y1) = ((top + PAD) as f64, (top + PANEL_H - PAD) as f64);
    let vals = series
        .iter()
        .flat_map(|(s, _)| s.iter().map(|p| p.1))
        .chain(hline)
        .filter(|v| v.is_finite());
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let grid = [225, 225, 225];
    for i in 0..=10 {
        let y = y0 + (y1 - y0) * i as f64 / 10.0;
        cv.line((x0, y), (x1, y), grid);
        let x = x0 + (x1 - x0) * i as f64 / 10.0;
        cv.line((x, y0), (x, y1), grid);
    }
    if !lo.is_finite() {
        return;
    }
    let span = (hi - lo).max(1e-9);
    let map = |(s, v): (f64, f64)| {
        (
            x0 + (x1 - x0) * s / max_step.max(1.0),
            y1 - (y1 - y0) * (v - lo) / span,
        )
    };
    if let Some(h) = hline {
        cv.line(map((0.0, h)), map((max_step, h)), [150, 150, 150]);
    }
    for (s, c) in series {
        let pts: Vec<_> = s.iter().copied().filter(|p| p.1.is_finite()).collect();
        for w in pts.windows(2) {
            cv.line(map(w[0]), map(w[1]), *c);
        }
        if pts.len() == 1 {
            let (x, y) = map(pts[0]);
            cv.line((x - 2.0, y), (x + 2.0, y), *c);
        }
    }
}

/// Reads a run's `log.jsonl` and writes the curves to `png`.
pub fn plot_log(log: &Path, png: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut train = Vec::new();
    let mut train_hf = Vec::new();
    let mut hold = Vec::new();
    let mut eval = Vec::new();
    let mut lsd = Vec::new();
    let mut sinc = None;
    for l in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        let step = v["step"].as_f64().unwrap_or(0.0);
        let f = |k: &str| v[k].as_f64();
        match v["kind"].as_str() {
            Some("train") => {
                if let Some(x) = f("loss").filter(|x| *x > 0.0) {
                    train.push((step, x.log10()));
                }
                if let Some(x) = f("hf_l1") {
                    train_hf.push((step, x));
                }
            }
            Some("val") => {
                if let Some(x) = f("holdout_hf_l1") {
                    hold.push((step, x));
                }
                if let Some(x) = f("eval_hf_l1") {
                    eval.push((step, x));
                }
                // Vocoder runs score the hold-out re-synthesis instead of the eval split.
                if let Some(x) = f("eval_lsd_hf").or_else(|| f("holdout_lsd_hf")) {
                    lsd.push((step, x));
                }
            }
            Some("baseline") => sinc = f("eval_sinc_lsd_hf").or_else(|| f("holdout_gl_lsd_hf")),
            _ => {}
        }
    }
    let max_step = train
        .iter()
        .chain(&hold)
        .map(|p| p.0)
        .fold(1.0f64, f64::max);
    let mut cv = Canvas::new(W, 3 * PANEL_H);
    panel(&mut cv, 0, max_step, &[(&train, [0, 0, 0])], None);
    panel(
        &mut cv,
        PANEL_H,
        max_step,
        &[
            (&train_hf, [40, 90, 220]),
            (&hold, [20, 160, 60]),
            (&eval, [220, 40, 40]),
        ],
        None,
    );
    panel(
        &mut cv,
        2 * PANEL_H,
        max_step,
        &[(&lsd, [220, 40, 40])],
        sinc,
    );
    let file = std::fs::File::create(png).with_context(|| format!("creating {}", png.display()))?;
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(file),
        W as u32,
        (3 * PANEL_H) as u32,
    );
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header()?;
    wr.write_image_data(&cv.px)?;
    Ok(())
}
