//! Distance kernels.
//!
//! The workspace denies `unsafe`, so there are no intrinsics here. Instead every kernel walks the
//! vectors in fixed-width chunks with one independent accumulator per lane: that breaks the
//! floating-point dependency chain, which is what lets LLVM turn the loop into packed SIMD
//! arithmetic (a strict left-to-right sum would have to stay scalar).
//!
//! Graph search is bound by memory, not arithmetic: a 384-dimension `f32` row is 24 cache lines,
//! and a row that is not cached costs far more than the multiply-adds on it. The four-row kernels
//! (`dot4`, `l2_squared4`, `dot_codes4`) walk four rows in the same loop, so the CPU has four
//! independent streams of loads in flight instead of one, which is what prefetch instructions
//! would otherwise buy (we have none without `unsafe`).

use crate::error::{Error, Result};

/// Lanes per accumulator: one 512-bit or two 256-bit registers. Baseline x86-64 (SSE2) has only
/// 16 vector registers, so there 8 lanes keep the four-row kernels' accumulators in registers.
const LANES: usize = if cfg!(target_feature = "avx2") { 16 } else { 8 };

/// `sum + x·y`, fused into one instruction when the build targets FMA. Without the target
/// feature `mul_add` would be a library call, so the plain form is used.
#[inline(always)]
fn multiply_add(sum: f32, x: f32, y: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        x.mul_add(y, sum)
    } else {
        sum + x * y
    }
}

/// One kernel step: folds a query value and a stored value into an accumulator.
trait Step<T>: Fn(f32, f32, T) -> f32 + Copy {}
impl<T, F: Fn(f32, f32, T) -> f32 + Copy> Step<T> for F {}

#[inline(always)]
fn dot_step(sum: f32, query: f32, stored: f32) -> f32 {
    multiply_add(sum, query, stored)
}

#[inline(always)]
fn l2_step(sum: f32, query: f32, stored: f32) -> f32 {
    let difference = query - stored;
    multiply_add(sum, difference, difference)
}

#[inline(always)]
fn code_step(sum: f32, weight: f32, code: u8) -> f32 {
    multiply_add(sum, weight, f32::from(code))
}

/// Sums the lanes pairwise so the result does not depend on how many lanes were busy.
#[inline(always)]
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

#[inline(always)]
fn fold<T: Copy>(
    acc: &mut [f32; LANES],
    query: &[f32; LANES],
    row: &[T; LANES],
    step: impl Step<T>,
) {
    for ((sum, q), x) in acc.iter_mut().zip(query).zip(row) {
        *sum = step(*sum, *q, *x);
    }
}

/// One row: two accumulators, alternating chunks, so that even a single 512-bit register's
/// worth of lanes has two dependency chains to interleave.
#[inline(always)]
fn kernel<T: Copy>(query: &[f32], row: &[T], step: impl Step<T>) -> f32 {
    debug_assert_eq!(query.len(), row.len());
    let (query_chunks, query_rest) = query.as_chunks::<LANES>();
    let (row_chunks, row_rest) = row.as_chunks::<LANES>();
    let mut even = [0.0f32; LANES];
    let mut odd = [0.0f32; LANES];
    let (query_pairs, query_last) = query_chunks.as_chunks::<2>();
    let (row_pairs, row_last) = row_chunks.as_chunks::<2>();
    for (q, x) in query_pairs.iter().zip(row_pairs) {
        for lane in 0..LANES {
            even[lane] = step(even[lane], q[0][lane], x[0][lane]);
            odd[lane] = step(odd[lane], q[1][lane], x[1][lane]);
        }
    }
    for (q, x) in query_last.iter().zip(row_last) {
        fold(&mut even, q, x, step);
    }
    for (sum, other) in even.iter_mut().zip(odd) {
        *sum += other;
    }
    let mut sum = reduce(even);
    for (q, x) in query_rest.iter().zip(row_rest) {
        sum = step(sum, *q, *x);
    }
    sum
}

/// Four rows against one query in one pass; see the module documentation for why.
#[inline(always)]
fn kernel4<T: Copy>(query: &[f32], rows: [&[T]; 4], step: impl Step<T>) -> [f32; 4] {
    debug_assert!(rows.iter().all(|row| row.len() == query.len()));
    let (query_chunks, query_rest) = query.as_chunks::<LANES>();
    let [(c0, r0), (c1, r1), (c2, r2), (c3, r3)] = rows.map(|row| row.as_chunks::<LANES>());
    let mut a0 = [0.0f32; LANES];
    let mut a1 = [0.0f32; LANES];
    let mut a2 = [0.0f32; LANES];
    let mut a3 = [0.0f32; LANES];
    for ((((q, x0), x1), x2), x3) in query_chunks.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
        // One lane loop over all four rows, not one per row: LLVM then keeps each row's lanes in
        // one register, where four separate loops get vectorized across the rows instead.
        for lane in 0..LANES {
            a0[lane] = step(a0[lane], q[lane], x0[lane]);
            a1[lane] = step(a1[lane], q[lane], x1[lane]);
            a2[lane] = step(a2[lane], q[lane], x2[lane]);
            a3[lane] = step(a3[lane], q[lane], x3[lane]);
        }
    }
    let mut sums = [reduce(a0), reduce(a1), reduce(a2), reduce(a3)];
    for (sum, rest) in sums.iter_mut().zip([r0, r1, r2, r3]) {
        for (q, x) in query_rest.iter().zip(rest) {
            *sum = step(*sum, *q, *x);
        }
    }
    sums
}

/// The inner product of two equally long vectors (the cosine similarity of unit vectors).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    kernel(a, b, dot_step)
}

/// The squared Euclidean distance between two equally long vectors.
#[inline]
pub(crate) fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    kernel(a, b, l2_step)
}

/// `Σ weights[i] · codes[i]`: the inner loop of asymmetric SQ8 distance. Widening `u8` to `f32`
/// vectorizes as well as the plain float kernels while reading a quarter of the bytes.
#[inline]
pub(crate) fn dot_codes(weights: &[f32], codes: &[u8]) -> f32 {
    kernel(weights, codes, code_step)
}

/// `dot(query, row)` for four rows.
#[inline]
pub(crate) fn dot4(query: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    kernel4(query, rows, dot_step)
}

/// `l2_squared(query, row)` for four rows.
#[inline]
pub(crate) fn l2_squared4(query: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    kernel4(query, rows, l2_step)
}

/// `dot_codes(weights, codes)` for four rows of codes.
#[inline]
pub(crate) fn dot_codes4(weights: &[f32], codes: [&[u8]; 4]) -> [f32; 4] {
    kernel4(weights, codes, code_step)
}

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

    /// `distance(query, row)` for four rows at once.
    #[inline]
    pub(crate) fn distance4(self, query: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
        match self {
            Metric::Cosine => dot4(query, rows).map(|dot| 1.0 - dot),
            Metric::L2 => l2_squared4(query, rows),
        }
    }
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
            let c: Vec<f32> = (0..len).map(|i| (i as f32 * 0.53).cos()).collect();
            let d: Vec<f32> = (0..len).map(|i| (i as f32 * 0.29).sin()).collect();
            let rows = [a.as_slice(), b.as_slice(), c.as_slice(), d.as_slice()];
            let fours = dot4(&a, rows);
            let l2_fours = l2_squared4(&a, rows);
            for (row, (four, l2_four)) in rows.iter().zip(fours.iter().zip(l2_fours)) {
                assert!((four - naive_dot(&a, row)).abs() < 1e-4, "dot4 len {len}");
                assert!(
                    (l2_four - l2_squared(&a, row)).abs() < 1e-4,
                    "l2_squared4 len {len}"
                );
            }
            let code_rows = [codes.as_slice(); 4];
            for four in dot_codes4(&a, code_rows) {
                assert!((four - naive_codes).abs() < 1e-2, "dot_codes4 len {len}");
            }
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
