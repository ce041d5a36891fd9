//! A fixed sample delay: the dry path of the real-time wrapper, the plugin and the live daemon.

/// Fixed delay line of `delay` samples. Allocates only in [`DelayLine::new`].
#[derive(Debug, Clone)]
pub struct DelayLine {
    buf: Vec<f32>,
    pos: usize,
}

impl DelayLine {
    /// A delay of `delay` samples, initially silent.
    pub fn new(delay: usize) -> Self {
        Self {
            buf: vec![0.0; delay + 1],
            pos: 0,
        }
    }

    /// Writes `x`, returns the sample written `delay` calls ago.
    pub fn tick(&mut self, x: f32) -> f32 {
        self.buf[self.pos] = x;
        self.pos = (self.pos + 1) % self.buf.len();
        // The oldest slot is the next one to be written.
        self.buf[self.pos]
    }

    /// Back to silence.
    pub fn clear(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_by_exactly_the_given_samples() {
        for delay in [0usize, 1, 5] {
            let mut d = DelayLine::new(delay);
            let out: Vec<f32> = (1..=10).map(|i| d.tick(i as f32)).collect();
            let want: Vec<f32> = (1..=10)
                .map(|i| if i > delay { (i - delay) as f32 } else { 0.0 })
                .collect();
            assert_eq!(out, want, "delay {delay}");
            d.clear();
            assert_eq!(d.tick(7.0), if delay == 0 { 7.0 } else { 0.0 });
        }
    }
}
