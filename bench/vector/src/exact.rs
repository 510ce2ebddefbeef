//! Exact nearest neighbours by brute force: the ground truth every recall figure is measured
//! against. It runs on every core; it is not part of any timed figure.

use crate::files::Matrix;

/// The inner product with independent lane sums, so it vectorizes like the index's kernel.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let (a_chunks, a_rest) = a.as_chunks::<LANES>();
    let (b_chunks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((sum, x), y) in acc.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    acc.iter().sum::<f32>() + a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum::<f32>()
}

/// The `k` rows of `base` (among `candidates`, or all rows) with the highest inner product with
/// `query`, best first; ties go to the lower row. Vectors are unit length, so this is cosine.
pub fn top_k(base: &Matrix, candidates: Option<&[u32]>, query: &[f32], k: usize) -> Vec<u32> {
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    let mut consider = |row: u32| {
        let score = dot(query, base.row(row as usize));
        if best.len() == k && best[k - 1].0 >= score {
            return;
        }
        let position = best.partition_point(|(other, _)| *other >= score);
        best.insert(position, (score, row));
        best.truncate(k);
    };
    match candidates {
        Some(rows) => rows.iter().copied().for_each(&mut consider),
        None => (0..base.rows as u32).for_each(&mut consider),
    }
    best.into_iter().map(|(_, row)| row).collect()
}

/// Exact top-`k` for every query, `k` rows per query. `candidates_of(query)` restricts a query
/// to an allowed set.
pub fn ground_truth<'a>(
    base: &Matrix,
    queries: &Matrix,
    k: usize,
    candidates_of: &(dyn Fn(usize) -> Option<&'a [u32]> + Sync),
) -> Vec<u32> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = queries.rows.div_ceil(threads);
    let mut truth = vec![0u32; queries.rows * k];
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in truth.chunks_mut(per_thread * k).enumerate() {
            scope.spawn(move || {
                for (offset, answer) in chunk.chunks_mut(k).enumerate() {
                    let query = chunk_index * per_thread + offset;
                    let found = top_k(base, candidates_of(query), queries.row(query), k);
                    answer[..found.len()].copy_from_slice(&found);
                }
            });
        }
    });
    truth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_score_and_respects_candidates() {
        let base = Matrix {
            rows: 4,
            dimensions: 2,
            values: vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8, 0.8, 0.6],
        };
        assert_eq!(top_k(&base, None, &[1.0, 0.0], 3), vec![0, 3, 2]);
        assert_eq!(top_k(&base, Some(&[1, 2]), &[1.0, 0.0], 3), vec![2, 1]);
        let queries = Matrix {
            rows: 3,
            dimensions: 2,
            values: vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8],
        };
        let truth = ground_truth(&base, &queries, 1, &|_| None);
        assert_eq!(truth, vec![0, 1, 2]);
    }
}
