//! Snapshots and the operation log: what goes in comes back, and damage is always detected.

use vector_index::{
    Error, Index, IndexConfig, LogEnd, Metric, Op, Quantization, SNAPSHOT_FORMAT_VERSION,
    decode_ops, encode_op, encode_op_into,
};

use crate::data::{self, K};

fn small_index(quantization: Quantization) -> (data::Dataset, Index) {
    let dataset = data::clustered(9, 1_500, 20, 24);
    let mut config = IndexConfig::new(24, Metric::L2);
    config.quantization = quantization;
    config.ef_construction = 48;
    config.sq8_training_vectors = 400;
    let mut index = data::build(&dataset, config);
    for position in (0..1_500).step_by(10) {
        index.delete(data::id_of(position));
    }
    (dataset, index)
}

fn assert_same_answers(left: &Index, right: &Index, queries: &[Vec<f32>]) {
    for query in queries {
        assert_eq!(
            left.search(query, K).unwrap(),
            right.search(query, K).unwrap()
        );
    }
}

#[test]
fn snapshot_round_trip_answers_identically() {
    let fixture = data::shared();
    let bytes = fixture.index.to_snapshot_bytes();
    let restored = Index::from_snapshot_bytes(&bytes).unwrap();
    assert_same_answers(&fixture.index, &restored, &fixture.dataset.queries);
    assert_eq!(
        restored.stats().live_vectors,
        fixture.index.stats().live_vectors
    );
    assert_eq!(restored.to_snapshot_bytes(), bytes);
}

#[test]
fn restored_indexes_keep_growing_exactly_like_the_original() {
    for quantization in [
        Quantization::None,
        Quantization::Sq8 { rerank: true },
        Quantization::Sq8 { rerank: false },
    ] {
        let (dataset, mut original) = small_index(quantization);
        let mut restored = Index::from_snapshot_bytes(&original.to_snapshot_bytes()).unwrap();
        assert_same_answers(&original, &restored, &dataset.queries);
        // The level generator's state is in the snapshot, so new inserts draw the same levels.
        for (offset, query) in dataset.queries.iter().enumerate() {
            original.insert(50_000 + offset as u64, query).unwrap();
            restored.insert(50_000 + offset as u64, query).unwrap();
        }
        original.compact();
        restored.compact();
        assert_eq!(original.to_snapshot_bytes(), restored.to_snapshot_bytes());
    }
}

#[test]
fn any_flipped_byte_or_truncation_is_rejected() {
    let (_, index) = small_index(Quantization::Sq8 { rerank: true });
    let bytes = index.to_snapshot_bytes();
    // Every header byte, then a spread of payload positions including the last byte.
    let positions = (0..32)
        .chain((32..bytes.len()).step_by(997))
        .chain([bytes.len() - 1]);
    for position in positions {
        for mask in [0x01u8, 0x80] {
            let mut damaged = bytes.clone();
            damaged[position] ^= mask;
            let error = Index::from_snapshot_bytes(&damaged).unwrap_err();
            assert_eq!(
                error.code(),
                "corrupt_snapshot",
                "flip at {position}: {error}"
            );
        }
    }
    for length in [0, 7, 23, 24, 100, bytes.len() / 2, bytes.len() - 1] {
        let error = Index::from_snapshot_bytes(&bytes[..length]).unwrap_err();
        assert_eq!(error.code(), "corrupt_snapshot", "truncated to {length}");
    }
    let mut extended = bytes.clone();
    extended.push(0);
    assert_eq!(
        Index::from_snapshot_bytes(&extended).unwrap_err().code(),
        "corrupt_snapshot"
    );
}

#[test]
fn a_future_format_version_is_refused_by_name() {
    let (_, index) = small_index(Quantization::None);
    let mut bytes = index.to_snapshot_bytes();
    bytes[8..12].copy_from_slice(&(SNAPSHOT_FORMAT_VERSION + 1).to_le_bytes());
    // Re-seal the checksum so that only the version is wrong.
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[8..20]);
    hasher.update(&bytes[24..]);
    let checksum = hasher.finalize();
    bytes[20..24].copy_from_slice(&checksum.to_le_bytes());
    assert_eq!(
        Index::from_snapshot_bytes(&bytes).unwrap_err(),
        Error::UnsupportedVersion {
            found: SNAPSHOT_FORMAT_VERSION + 1,
            supported: SNAPSHOT_FORMAT_VERSION
        }
    );
}

#[test]
fn snapshot_plus_log_replay_rebuilds_the_live_index() {
    let dataset = data::clustered(17, 800, 10, 16);
    let config = IndexConfig::new(16, Metric::Cosine);
    let mut live = Index::new(config).unwrap();
    for position in 0..400 {
        live.insert(data::id_of(position), &dataset.vectors[position])
            .unwrap();
    }
    let snapshot = live.to_snapshot_bytes();

    // After the snapshot, the caller appends every change to its log file.
    let mut log = Vec::new();
    let mut ops = Vec::new();
    for position in 400..800 {
        ops.push(Op::Insert {
            id: data::id_of(position),
            vector: dataset.vectors[position].clone(),
        });
        if position % 5 == 0 {
            ops.push(Op::Delete {
                id: data::id_of(position - 300),
            });
        }
    }
    ops.push(Op::Insert {
        id: data::id_of(3),
        vector: dataset.vectors[700].clone(),
    });
    for op in &ops {
        live.apply(op).unwrap();
        encode_op_into(op, &mut log).unwrap();
    }

    let mut recovered = Index::from_snapshot_bytes(&snapshot).unwrap();
    let decoded = decode_ops(&log);
    assert_eq!(decoded.end, LogEnd::Clean);
    assert_eq!(decoded.valid_bytes, log.len());
    assert_eq!(decoded.ops, ops);
    for op in &decoded.ops {
        recovered.apply(op).unwrap();
    }
    assert_same_answers(&live, &recovered, &dataset.queries);
    assert_eq!(live.to_snapshot_bytes(), recovered.to_snapshot_bytes());

    // Replaying the log a second time (a crash before the caller recorded progress) is harmless.
    for op in &decoded.ops {
        recovered.apply(op).unwrap();
    }
    assert_eq!(recovered.len(), live.len());
}

#[test]
fn decoding_stops_cleanly_at_a_torn_tail_and_flags_damage_in_the_middle() {
    let ops = [
        Op::Insert {
            id: 1,
            vector: vec![0.5; 8],
        },
        Op::Delete { id: 1 },
        Op::Insert {
            id: 2,
            vector: vec![-1.0; 8],
        },
    ];
    let records: Vec<Vec<u8>> = ops.iter().map(|op| encode_op(op).unwrap()).collect();
    let log: Vec<u8> = records.concat();
    let last_start = records[0].len() + records[1].len();

    // A crash can cut the last append anywhere.
    for cut in last_start..log.len() {
        let decoded = decode_ops(&log[..cut]);
        assert_eq!(decoded.ops, ops[..2], "cut at {cut}");
        assert_eq!(decoded.valid_bytes, last_start);
        let expected = if cut == last_start {
            LogEnd::Clean
        } else {
            LogEnd::TornTail
        };
        assert_eq!(decoded.end, expected, "cut at {cut}");
    }
    // A damaged last record also reads as a torn append.
    let mut damaged_tail = log.clone();
    *damaged_tail.last_mut().unwrap() ^= 0x10;
    let decoded = decode_ops(&damaged_tail);
    assert_eq!(
        (decoded.valid_bytes, decoded.end),
        (last_start, LogEnd::TornTail)
    );

    // Damage followed by intact records is corruption, not a torn tail.
    let middle_start = records[0].len();
    for position in middle_start..last_start {
        let mut damaged = log.clone();
        damaged[position] ^= 0x04;
        let decoded = decode_ops(&damaged);
        assert_eq!(decoded.ops, ops[..1], "flip at {position}");
        assert_eq!(decoded.valid_bytes, middle_start);
        assert_eq!(decoded.end, LogEnd::Corrupt, "flip at {position}");
    }
}

#[test]
fn replaying_an_invalid_vector_from_the_log_fails_without_changing_the_index() {
    let mut index = Index::new(IndexConfig::new(2, Metric::Cosine)).unwrap();
    let op = Op::Insert {
        id: 1,
        vector: vec![f32::NAN, 1.0],
    };
    let decoded = decode_ops(&encode_op(&op).unwrap());
    assert_eq!(
        index.apply(&decoded.ops[0]).unwrap_err().code(),
        "non_finite_vector"
    );
    assert!(index.is_empty());
}
