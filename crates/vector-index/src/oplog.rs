//! Operation-log records, so a caller can persist with a snapshot plus an append-only log.
//!
//! This module only turns operations into bytes and back; the caller owns the file. Each record
//! is framed as
//!
//! ```text
//! body_len: u32 LE | !body_len: u32 LE | crc32(body): u32 LE | body
//! body = tag: u8 (1 insert, 2 delete) | id: u64 LE | [dimensions: u32 LE | dimensions × f32 LE]
//! ```
//!
//! The length is stored twice, the second time bit-inverted, so that a damaged length is
//! recognized as damage. Without that, a flipped bit in the length of a record in the middle of
//! the log could point past the end and pass for a torn final append, silently dropping every
//! record after it.

use crate::DIMENSIONS_MAX;
use crate::error::{Error, Result};

const TAG_INSERT: u8 = 1;
const TAG_DELETE: u8 = 2;
const HEADER_BYTES: usize = 12;
const DELETE_BODY_BYTES: usize = 1 + 8;
const INSERT_BODY_PREFIX_BYTES: usize = 1 + 8 + 4;

/// The largest record body: an insert of `DIMENSIONS_MAX` dimensions. Anything longer is damage.
pub const OP_RECORD_BODY_BYTES_MAX: usize = INSERT_BODY_PREFIX_BYTES + DIMENSIONS_MAX * 4;

/// One change to the index.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert or replace `id`'s vector; replayed as an upsert.
    Insert {
        id: u64,
        vector: Vec<f32>,
    },
    Delete {
        id: u64,
    },
}

/// Appends one framed record for `op` to `out`.
pub fn encode_op_into(op: &Op, out: &mut Vec<u8>) -> Result<()> {
    let body_len = match op {
        Op::Insert { vector, .. } => INSERT_BODY_PREFIX_BYTES + vector.len() * 4,
        Op::Delete { .. } => DELETE_BODY_BYTES,
    };
    if body_len > OP_RECORD_BODY_BYTES_MAX {
        return Err(Error::RecordTooLarge {
            bytes: body_len + HEADER_BYTES,
            limit: OP_RECORD_BODY_BYTES_MAX + HEADER_BYTES,
        });
    }
    let start = out.len();
    out.reserve(HEADER_BYTES + body_len);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&(!(body_len as u32)).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    match op {
        Op::Insert { id, vector } => {
            out.push(TAG_INSERT);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(vector.len() as u32).to_le_bytes());
            for value in vector {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        Op::Delete { id } => {
            out.push(TAG_DELETE);
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    let checksum = crc32fast::hash(&out[start + HEADER_BYTES..]);
    out[start + 8..start + HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
    Ok(())
}

/// One framed record for `op`.
pub fn encode_op(op: &Op) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_op_into(op, &mut out)?;
    Ok(out)
}

/// Why decoding stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogEnd {
    /// Every byte belonged to a valid record.
    Clean,
    /// The last record is incomplete or fails its checksum, or the tail is zero fill: the normal
    /// result of a crash mid-append. Truncate the log to `valid_bytes` and carry on. (A damaged
    /// final record is indistinguishable from a torn one; both lose only that record.)
    TornTail,
    /// A bad record is followed by more data, so this is not a torn append but damage in the
    /// middle of the log. Records after `valid_bytes` are not trusted; the caller should alert.
    Corrupt,
}

/// The records that decoded, and where and why decoding stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedOps {
    pub ops: Vec<Op>,
    /// Length of the prefix made of valid records.
    pub valid_bytes: usize,
    pub end: LogEnd,
}

/// Decodes records from the start of `bytes` until the end or the first bad record.
pub fn decode_ops(bytes: &[u8]) -> DecodedOps {
    let mut ops = Vec::new();
    let mut offset = 0usize;
    loop {
        let rest = &bytes[offset..];
        if rest.is_empty() {
            return DecodedOps {
                ops,
                valid_bytes: offset,
                end: LogEnd::Clean,
            };
        }
        match decode_record(rest) {
            Ok((op, used)) => {
                ops.push(op);
                offset += used;
            }
            Err(extent) => {
                let torn = match extent {
                    BadRecord::Incomplete => true,
                    BadRecord::Invalid { record_bytes } => {
                        record_bytes >= rest.len() || rest.iter().all(|byte| *byte == 0)
                    }
                };
                return DecodedOps {
                    ops,
                    valid_bytes: offset,
                    end: if torn {
                        LogEnd::TornTail
                    } else {
                        LogEnd::Corrupt
                    },
                };
            }
        }
    }
}

enum BadRecord {
    /// The buffer ends inside the record.
    Incomplete,
    /// The record is complete (or its length is nonsense) but does not decode; `record_bytes` is
    /// how far it claims to reach.
    Invalid { record_bytes: usize },
}

fn decode_record(bytes: &[u8]) -> std::result::Result<(Op, usize), BadRecord> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Err(BadRecord::Incomplete);
    };
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let (length, inverted_length, checksum) = (word(0), word(4), word(8));
    if length != !inverted_length {
        // The length cannot be trusted, so neither can any estimate of where the record ends.
        return Err(BadRecord::Invalid {
            record_bytes: HEADER_BYTES,
        });
    }
    let body_len = length as usize;
    let record_bytes = HEADER_BYTES + body_len;
    let invalid = BadRecord::Invalid { record_bytes };
    if !(DELETE_BODY_BYTES..=OP_RECORD_BODY_BYTES_MAX).contains(&body_len) {
        return Err(invalid);
    }
    let Some(body) = bytes.get(HEADER_BYTES..record_bytes) else {
        return Err(BadRecord::Incomplete);
    };
    if crc32fast::hash(body) != checksum {
        return Err(invalid);
    }
    let mut id_bytes = [0u8; 8];
    id_bytes.copy_from_slice(&body[1..9]);
    let id = u64::from_le_bytes(id_bytes);
    let op = match body[0] {
        TAG_DELETE if body_len == DELETE_BODY_BYTES => Op::Delete { id },
        TAG_INSERT if body_len >= INSERT_BODY_PREFIX_BYTES => {
            let dimensions = u32::from_le_bytes([body[9], body[10], body[11], body[12]]) as usize;
            if INSERT_BODY_PREFIX_BYTES + dimensions * 4 != body_len {
                return Err(invalid);
            }
            let vector = body[INSERT_BODY_PREFIX_BYTES..]
                .chunks_exact(4)
                .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                .collect();
            Op::Insert { id, vector }
        }
        _ => return Err(invalid),
    };
    Ok((op, record_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_oversized_ones_are_refused() {
        let ops = vec![
            Op::Insert {
                id: 7,
                vector: vec![1.0, -2.5, 3.25],
            },
            Op::Delete { id: 7 },
            Op::Insert {
                id: u64::MAX,
                vector: vec![],
            },
        ];
        let mut log = Vec::new();
        for op in &ops {
            encode_op_into(op, &mut log).unwrap();
        }
        let decoded = decode_ops(&log);
        assert_eq!(decoded.ops, ops);
        assert_eq!(decoded.valid_bytes, log.len());
        assert_eq!(decoded.end, LogEnd::Clean);

        let huge = Op::Insert {
            id: 1,
            vector: vec![0.0; DIMENSIONS_MAX + 1],
        };
        assert_eq!(encode_op(&huge).unwrap_err().code(), "record_too_large");
    }

    #[test]
    fn zero_fill_after_valid_records_is_a_torn_tail() {
        let mut log = encode_op(&Op::Delete { id: 1 }).unwrap();
        let valid = log.len();
        log.extend_from_slice(&[0; 64]);
        let decoded = decode_ops(&log);
        assert_eq!(decoded.valid_bytes, valid);
        assert_eq!(decoded.end, LogEnd::TornTail);
    }
}
