//! The plain binary files shared by `prepare`, the Python peers and `index`.
//!
//! Vectors: `"TRLSVEC1" | rows u32 | dimensions u32 | f32 × rows × dimensions`, little-endian,
//! so `numpy.fromfile(path, "<f4", offset=16)` reads them. Id lists: bare little-endian `u32`.

use std::io::Write;
use std::path::Path;

use crate::BenchResult;

const VECTORS_MAGIC: &[u8; 8] = b"TRLSVEC1";
pub const VECTORS_HEADER_BYTES: usize = 16;

/// Row-major vectors of one length.
pub struct Matrix {
    pub rows: usize,
    pub dimensions: usize,
    pub values: Vec<f32>,
}

impl Matrix {
    pub fn row(&self, row: usize) -> &[f32] {
        &self.values[row * self.dimensions..(row + 1) * self.dimensions]
    }

    /// The given rows, in the given order.
    pub fn select(&self, rows: &[u32]) -> Matrix {
        let mut values = Vec::with_capacity(rows.len() * self.dimensions);
        for row in rows {
            values.extend_from_slice(self.row(*row as usize));
        }
        Matrix {
            rows: rows.len(),
            dimensions: self.dimensions,
            values,
        }
    }
}

/// Writes through a temporary file and a rename, so an interrupted run never leaves a
/// half-written cache behind that a later run would trust.
fn write_atomically(path: &Path, bytes: &[u8]) -> BenchResult<()> {
    let temporary = path.with_extension("partial");
    let mut file = std::fs::File::create(&temporary)
        .map_err(|error| format!("{}: {error}", temporary.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|error| format!("{}: {error}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(())
}

#[cfg(feature = "embed")]
pub fn write_vectors(path: &Path, matrix: &Matrix) -> BenchResult<()> {
    let mut bytes = Vec::with_capacity(VECTORS_HEADER_BYTES + matrix.values.len() * 4);
    bytes.extend_from_slice(VECTORS_MAGIC);
    bytes.extend_from_slice(&u32::try_from(matrix.rows)?.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(matrix.dimensions)?.to_le_bytes());
    for value in &matrix.values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    write_atomically(path, &bytes)
}

/// Reads a vectors file, or `None` if it is missing or not a complete vectors file.
pub fn read_vectors(path: &Path) -> Option<Matrix> {
    let bytes = std::fs::read(path).ok()?;
    let header = bytes.get(..VECTORS_HEADER_BYTES)?;
    if &header[..8] != VECTORS_MAGIC {
        return None;
    }
    let rows = u32::from_le_bytes(header[8..12].try_into().ok()?) as usize;
    let dimensions = u32::from_le_bytes(header[12..16].try_into().ok()?) as usize;
    let body = &bytes[VECTORS_HEADER_BYTES..];
    if body.len() != rows * dimensions * 4 {
        return None;
    }
    let values = body
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    Some(Matrix {
        rows,
        dimensions,
        values,
    })
}

pub fn write_ids(path: &Path, ids: &[u32]) -> BenchResult<()> {
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    write_atomically(path, &bytes)
}

pub fn read_ids(path: &Path) -> BenchResult<Vec<u32>> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    if bytes.len() % 4 != 0 {
        return Err(format!("{}: not a list of u32", path.display()).into());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect())
}

pub fn write_json(path: &Path, value: &serde_json::Value) -> BenchResult<()> {
    write_atomically(path, serde_json::to_string_pretty(value)?.as_bytes())
}

pub fn read_json(path: &Path) -> BenchResult<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}
