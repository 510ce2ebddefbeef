//! Scalar quantization to one byte per dimension (SQ8).
//!
//! Each dimension gets its own affine map `x ≈ minimum[i] + code · step[i]`, trained from the
//! data's per-dimension minimum and maximum. Per-dimension ranges matter because embedding
//! dimensions have very different spreads; one global scale would waste most of the 256 levels on
//! the narrow ones.
//!
//! Distances are asymmetric: the query stays in `f32` and only the stored side is quantized. The
//! inner product then folds into one weighted sum over the codes,
//! `q·x̂ = Σ q[i]·minimum[i] + Σ (q[i]·step[i]) · code[i]`, so a distance costs one
//! multiply-add per dimension on bytes, with no decoding.

use crate::distance::{dot_codes, dot_codes4};

/// The largest code; codes use the full `u8` range.
const CODE_MAX: f32 = 255.0;

/// How far each dimension's trained range is widened on both sides, as a fraction of its span.
/// The quantizer is trained once, on the first vectors to arrive, and those are rarely a fair
/// sample: on WordNet inserted in file order, training on the first 1,024 vectors (all nouns)
/// clamped later adjectives and adverbs enough to cost up to 1.5 points of recall@10 without
/// re-ranking. A margin of a quarter coarsens the steps by half and brought recall back to within
/// about half a point of f32 at every beam width (`bench/vector`).
const TRAINING_RANGE_MARGIN: f32 = 0.25;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sq8Quantizer {
    minimum: Vec<f32>,
    step: Vec<f32>,
}

/// A query prepared for asymmetric distance against codes.
#[derive(Clone, Debug)]
pub(crate) struct QuantizedQuery {
    /// `query[i] · step[i]`.
    pub weights: Vec<f32>,
    /// `Σ query[i] · minimum[i]`, the part of the inner product that does not depend on the codes.
    pub base: f32,
}

impl QuantizedQuery {
    /// The inner product of the query with the decoded vector behind `codes`.
    #[inline]
    pub fn dot(&self, codes: &[u8]) -> f32 {
        self.base + dot_codes(&self.weights, codes)
    }

    /// `dot` for four rows of codes at once.
    #[inline]
    pub fn dot4(&self, codes: [&[u8]; 4]) -> [f32; 4] {
        dot_codes4(&self.weights, codes).map(|dot| self.base + dot)
    }
}

impl Sq8Quantizer {
    /// Learns each dimension's range from the training rows.
    pub fn train<'a>(dimensions: usize, rows: impl Iterator<Item = &'a [f32]>) -> Self {
        let mut minimum = vec![f32::INFINITY; dimensions];
        let mut maximum = vec![f32::NEG_INFINITY; dimensions];
        let mut seen_any = false;
        for row in rows {
            seen_any = true;
            for ((low, high), value) in minimum.iter_mut().zip(&mut maximum).zip(row) {
                *low = low.min(*value);
                *high = high.max(*value);
            }
        }
        if !seen_any {
            minimum.fill(0.0);
            maximum.fill(0.0);
        }
        for (low, high) in minimum.iter_mut().zip(&mut maximum) {
            let margin = (*high - *low) * TRAINING_RANGE_MARGIN;
            *low -= margin;
            *high += margin;
        }
        let step = minimum
            .iter()
            .zip(&maximum)
            .map(|(low, high)| (high - low) / CODE_MAX)
            .collect();
        Self { minimum, step }
    }

    /// Rebuilds a quantizer from its persisted parts, refusing values that could not have come
    /// from `train`.
    pub fn from_parts(minimum: Vec<f32>, step: Vec<f32>) -> Option<Self> {
        let plausible = minimum.len() == step.len()
            && minimum.iter().all(|value| value.is_finite())
            && step.iter().all(|value| value.is_finite() && *value >= 0.0);
        plausible.then_some(Self { minimum, step })
    }

    pub fn minimum(&self) -> &[f32] {
        &self.minimum
    }

    pub fn step(&self) -> &[f32] {
        &self.step
    }

    /// Writes the codes for `vector` into `codes`. Values outside the trained range are clamped,
    /// which is the price of training once instead of re-encoding on every outlier.
    pub fn encode(&self, vector: &[f32], codes: &mut [u8]) {
        for (((code, value), low), step) in codes
            .iter_mut()
            .zip(vector)
            .zip(&self.minimum)
            .zip(&self.step)
        {
            let level = if *step > 0.0 {
                ((value - low) / step).round().clamp(0.0, CODE_MAX)
            } else {
                0.0
            };
            *code = level as u8;
        }
    }

    /// Writes the vector that `codes` stand for into `vector`.
    pub fn decode(&self, codes: &[u8], vector: &mut [f32]) {
        for (((value, code), low), step) in vector
            .iter_mut()
            .zip(codes)
            .zip(&self.minimum)
            .zip(&self.step)
        {
            *value = low + f32::from(*code) * step;
        }
    }

    pub fn prepare(&self, query: &[f32]) -> QuantizedQuery {
        let weights = query.iter().zip(&self.step).map(|(q, s)| q * s).collect();
        let base = crate::distance::dot(query, &self.minimum);
        QuantizedQuery { weights, base }
    }

    pub fn heap_bytes(&self) -> usize {
        (self.minimum.capacity() + self.step.capacity()) * size_of::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_error_is_within_half_a_step_and_adc_matches_decoded_dot() {
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|r| {
                (0..20)
                    .map(|i| ((r * 7 + i * 3) as f32 * 0.13).sin() * (i as f32 + 1.0))
                    .collect()
            })
            .collect();
        let quantizer = Sq8Quantizer::train(20, rows.iter().map(Vec::as_slice));
        let mut codes = vec![0u8; 20];
        let mut decoded = vec![0f32; 20];
        for row in &rows {
            quantizer.encode(row, &mut codes);
            quantizer.decode(&codes, &mut decoded);
            for ((original, restored), step) in row.iter().zip(&decoded).zip(quantizer.step()) {
                assert!((original - restored).abs() <= step * 0.5 + 1e-5);
            }
            let query: Vec<f32> = (0..20).map(|i| (i as f32 * 0.7).cos()).collect();
            let adc = quantizer.prepare(&query).dot(&codes);
            let exact: f32 = query.iter().zip(&decoded).map(|(a, b)| a * b).sum();
            assert!((adc - exact).abs() < 1e-3, "adc {adc} exact {exact}");
        }
    }

    #[test]
    fn constant_dimensions_and_out_of_range_values_do_not_break_encoding() {
        let rows = [vec![1.0, 0.0], vec![1.0, 1.0]];
        let quantizer = Sq8Quantizer::train(2, rows.iter().map(Vec::as_slice));
        let mut codes = [0u8; 2];
        quantizer.encode(&[5.0, 3.0], &mut codes);
        assert_eq!(codes, [0, 255]);
        let mut decoded = [0f32; 2];
        quantizer.decode(&codes, &mut decoded);
        // The trained range [0, 1] is widened by a quarter of its span on each side, so values
        // up to 1.25 are still represented; beyond that they clamp.
        assert_eq!(decoded[0], 1.0);
        assert!((decoded[1] - 1.25).abs() < 1e-6, "{decoded:?}");
        quantizer.encode(&[1.0, 1.2], &mut codes);
        quantizer.decode(&codes, &mut decoded);
        assert!((decoded[1] - 1.2).abs() <= quantizer.step()[1] / 2.0 + 1e-6);
    }
}
