//! Tables and the arithmetic on recall/throughput curves.

/// One point of a recall@10 vs queries/s curve.
#[derive(Clone, Debug)]
pub struct Point {
    pub ef: usize,
    pub recall: f64,
    pub qps: f64,
    /// Mean distance computations per query, where the index reports them.
    pub distance_computations: Option<f64>,
}

/// Queries/s at `target` recall, interpolated linearly between the two sweep points around it.
/// `None` when the curve never reaches the target. When even the narrowest beam is above the
/// target, that point's throughput is returned: a lower bound on the real figure.
pub fn qps_at_recall(points: &[Point], target: f64) -> Option<f64> {
    let reached = points.iter().position(|point| point.recall >= target)?;
    if reached == 0 {
        return Some(points[0].qps);
    }
    let (below, above) = (&points[reached - 1], &points[reached]);
    let fraction = (target - below.recall) / (above.recall - below.recall);
    Some(below.qps + fraction * (above.qps - below.qps))
}

pub fn max_recall(points: &[Point]) -> f64 {
    points.iter().map(|point| point.recall).fold(0.0, f64::max)
}

/// Prints a Markdown table with aligned columns.
pub fn table(title: &str, headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    println!();
    println!("### {title}");
    println!();
    line(&headers.iter().map(ToString::to_string).collect::<Vec<_>>());
    line(
        &widths
            .iter()
            .map(|width| "-".repeat(*width))
            .collect::<Vec<_>>(),
    );
    for row in rows {
        line(row);
    }
}

/// A number with thousands separators, for queries/s and counts.
pub fn grouped(value: f64) -> String {
    let rounded = value.round() as i64;
    let digits = rounded.abs().to_string();
    let mut out = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if rounded < 0 { format!("-{out}") } else { out }
}

pub fn optional(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "n/a".to_string(), format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(ef: usize, recall: f64, qps: f64) -> Point {
        Point {
            ef,
            recall,
            qps,
            distance_computations: None,
        }
    }

    #[test]
    fn interpolates_between_the_points_around_the_target() {
        let curve = [
            point(10, 0.80, 10_000.0),
            point(20, 0.90, 8_000.0),
            point(40, 1.00, 4_000.0),
        ];
        let at_95 = qps_at_recall(&curve, 0.95).unwrap();
        assert!((at_95 - 6_000.0).abs() < 1e-6, "{at_95}");
        assert_eq!(qps_at_recall(&curve, 0.5), Some(10_000.0));
        assert_eq!(qps_at_recall(&curve[..2], 0.95), None);
        assert_eq!(max_recall(&curve), 1.0);
        assert_eq!(grouped(1_234_567.4), "1,234,567");
        assert_eq!(grouped(999.0), "999");
    }
}
