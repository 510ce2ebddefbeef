//! Distance kernels.
//!
//! The workspace denies `unsafe`, so there are no intrinsics here. Instead every kernel walks the
//! vectors in fixed-width chunks with one independent accumulator per lane: that breaks the
//! floating-point dependency chain, which is what lets LLVM turn the loop into packed SIMD
//! arithmetic (a strict left-to-right sum would have to stay scalar).

use crate::error::{Error, Result};

/// How many independent accumulators each kernel keeps; 16 fills two AVX registers or four SSE
/// registers, enough to hide the latency of the adds.
const LANES: usize = 16;

/// How two vectors are compared. For every metric a smaller distance means closer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `1 - cos(a, b)`, in `[0, 2]`. Vectors are L2-normalized on insert and on query, so this is
    /// computed as `1 - a·b`.
    Cosine,
    /// Squared Euclidean distance. The square root is skipped because it does not change the order.
    L2,
}

impl Metric {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Metric::Cosine => 0,
            Metric::L2 => 1,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Metric::Cosine),
            1 => Some(Metric::L2),
            _ => None,
        }
    }

    /// The distance between two full-precision vectors that are already prepared for this metric
    /// (normalized, for cosine).
    #[inline]
    pub(crate) fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine => 1.0 - dot(a, b),
            Metric::L2 => l2_squared(a, b),
        }
    }
}

/// Sums the lanes pairwise so the result does not depend on how many lanes were busy.
#[inline]
fn reduce(acc: [f32; LANES]) -> f32 {
    let mut width = LANES;
    let mut acc = acc;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            acc[lane] += acc[lane + width];
        }
    }
    acc[0]
}

/// The inner product of two equally long vectors.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (a_chunks, a_rest) = a.as_chunks::<LANES>();
    let (b_chunks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((sum, x), y) in acc.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    let mut sum = reduce(acc);
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// The squared Euclidean distance between two equally long vectors.
#[inline]
pub(crate) fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (a_chunks, a_rest) = a.as_chunks::<LANES>();
    let (b_chunks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((sum, x), y) in acc.iter_mut().zip(x).zip(y) {
            let difference = x - y;
            *sum += difference * difference;
        }
    }
    let mut sum = reduce(acc);
    for (x, y) in a_rest.iter().zip(b_rest) {
        let difference = x - y;
        sum += difference * difference;
    }
    sum
}

/// `Σ weights[i] · codes[i]`: the inner loop of asymmetric SQ8 distance. Widening `u8` to `f32`
/// vectorizes as well as the plain float kernels while reading a quarter of the bytes.
#[inline]
pub(crate) fn dot_codes(weights: &[f32], codes: &[u8]) -> f32 {
    debug_assert_eq!(weights.len(), codes.len());
    let (w_chunks, w_rest) = weights.as_chunks::<LANES>();
    let (c_chunks, c_rest) = codes.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (w, c) in w_chunks.iter().zip(c_chunks) {
        for ((sum, w), c) in acc.iter_mut().zip(w).zip(c) {
            *sum += w * f32::from(*c);
        }
    }
    let mut sum = reduce(acc);
    for (w, c) in w_rest.iter().zip(c_rest) {
        sum += w * f32::from(*c);
    }
    sum
}

/// Rejects vectors that would make distances meaningless, and returns the vector in the form the
/// metric stores (unit length for cosine, unchanged for L2).
pub(crate) fn prepare_vector(
    metric: Metric,
    dimensions: usize,
    vector: &[f32],
) -> Result<Vec<f32>> {
    if vector.len() != dimensions {
        return Err(Error::DimensionMismatch {
            expected: dimensions,
            actual: vector.len(),
        });
    }
    if let Some(position) = vector.iter().position(|value| !value.is_finite()) {
        return Err(Error::NonFiniteVector { position });
    }
    let mut prepared = vector.to_vec();
    if metric == Metric::Cosine {
        // Summing in f64 keeps tiny or huge components from underflowing or overflowing the norm.
        let norm = vector
            .iter()
            .map(|value| f64::from(*value) * f64::from(*value))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return Err(Error::ZeroVector);
        }
        for value in &mut prepared {
            *value = (f64::from(*value) / norm) as f32;
        }
    }
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn kernels_match_naive_sums_for_every_remainder_length() {
        for len in 0..70 {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let codes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            assert!(
                (dot(&a, &b) - naive_dot(&a, &b)).abs() < 1e-4,
                "dot len {len}"
            );
            let naive_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!((l2_squared(&a, &b) - naive_l2).abs() < 1e-4, "l2 len {len}");
            let naive_codes: f32 = a.iter().zip(&codes).map(|(w, c)| w * f32::from(*c)).sum();
            assert!(
                (dot_codes(&a, &codes) - naive_codes).abs() < 1e-2,
                "codes len {len}"
            );
        }
    }

    #[test]
    fn cosine_vectors_are_normalized_and_bad_input_is_rejected() {
        let prepared = prepare_vector(Metric::Cosine, 2, &[3.0, 4.0]).unwrap();
        assert!((prepared[0] - 0.6).abs() < 1e-6 && (prepared[1] - 0.8).abs() < 1e-6);
        assert!(Metric::Cosine.distance(&prepared, &prepared).abs() < 1e-6);
        assert_eq!(
            prepare_vector(Metric::Cosine, 2, &[0.0, 0.0]),
            Err(Error::ZeroVector)
        );
        assert_eq!(
            prepare_vector(Metric::L2, 2, &[0.0, f32::NAN]),
            Err(Error::NonFiniteVector { position: 1 })
        );
        assert_eq!(
            prepare_vector(Metric::L2, 3, &[0.0, 1.0]),
            Err(Error::DimensionMismatch {
                expected: 3,
                actual: 2
            })
        );
        // L2 keeps the vector as given, including the zero vector.
        assert_eq!(
            prepare_vector(Metric::L2, 2, &[0.0, 0.0]).unwrap(),
            vec![0.0, 0.0]
        );
    }
}
