//! AdamW written out in tch so that its state (moments and step count) can be checkpointed and
//! a resumed run continues exactly where the interrupted one stopped.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{nn, Tensor};

/// AdamW over the trainable variables of one `VarStore`, in name order.
#[derive(Debug)]
pub struct Adam {
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates done so far.
    pub t: i64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Adam {
    /// Fresh state for `vs`.
    pub fn new(vs: &nn::VarStore, beta1: f64, beta2: f64, weight_decay: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let zeros = |p: &Tensor| tch::no_grad(|| p.zeros_like());
        let m = params.iter().map(|(_, p)| zeros(p)).collect();
        let v = params.iter().map(|(_, p)| zeros(p)).collect();
        Self {
            params,
            m,
            v,
            t: 0,
            beta1,
            beta2,
            weight_decay,
        }
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// Scales the gradients so their global L2 norm is at most `max_norm`; returns the norm
    /// before clipping (non-finite when a gradient is).
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .map(|(_, p)| p.grad())
            .filter(|g| g.defined())
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let total = tch::no_grad(|| {
            Tensor::stack(
                &grads
                    .iter()
                    .map(|g| g.square().sum(None))
                    .collect::<Vec<_>>(),
                0,
            )
            .sum(None)
            .sqrt()
        });
        let norm = total.double_value(&[]);
        if norm.is_finite() && norm > max_norm {
            let s = max_norm / (norm + 1e-6);
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.f_mul_scalar_(s);
                }
            });
        }
        norm
    }

    /// One AdamW update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let bc1 = 1.0 - b1.powi(self.t as i32);
        let bc2 = 1.0 - b2.powi(self.t as i32);
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter_mut().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let m = &mut self.m[i];
                let v = &mut self.v[i];
                let _ = m
                    .f_mul_scalar_(b1)
                    .and_then(|mut m| m.f_add_(&(&g * (1.0 - b1))));
                let _ = v
                    .f_mul_scalar_(b2)
                    .and_then(|mut v| v.f_add_(&(g.square() * (1.0 - b2))));
                let denom = (&*v / bc2).sqrt() + 1e-8;
                let upd = (&*m / bc1) / denom;
                if self.weight_decay > 0.0 {
                    let _ = p.f_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let _ = p.f_sub_(&(upd * lr));
            }
        });
    }

    /// Writes the moments and step count.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.params.len() + 1);
        for (i, (n, _)) in self.params.iter().enumerate() {
            named.push((format!("m.{n}"), self.m[i].shallow_clone()));
            named.push((format!("v.{n}"), self.v[i].shallow_clone()));
        }
        named.push(("t".into(), Tensor::from_slice(&[self.t])));
        Tensor::write_safetensors(&named, path)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Restores what [`Adam::save`] wrote; the variables must be the same.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let named = Tensor::read_safetensors(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let map: std::collections::HashMap<String, Tensor> = named.into_iter().collect();
        for (i, (n, p)) in self.params.iter().enumerate() {
            for (key, dst) in [
                (format!("m.{n}"), &mut self.m[i]),
                (format!("v.{n}"), &mut self.v[i]),
            ] {
                let Some(src) = map.get(&key) else {
                    bail!("{}: optimiser state lacks `{key}`", path.display());
                };
                if src.size() != p.size() {
                    bail!(
                        "{}: `{key}` has shape {:?}, the model needs {:?}",
                        path.display(),
                        src.size(),
                        p.size()
                    );
                }
                tch::no_grad(|| dst.copy_(&src.to_device(p.device())));
            }
        }
        self.t = map
            .get("t")
            .map(|t| t.int64_value(&[0]))
            .with_context(|| format!("{}: optimiser state lacks `t`", path.display()))?;
        Ok(())
    }
}
