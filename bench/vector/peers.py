#!/usr/bin/env python3
"""The peers of our index on the vectors `vector-bench prepare` wrote: hnswlib and faiss, one
thread each, same base set, same queries, same ground truth, same permission sets.

    python3 bench/vector/peers.py WORK_DIR      # writes WORK_DIR/peers.json

Query throughput is the best of REPEATS timed passes over all queries, each pass one batch call
(the libraries' fastest path: no Python per query). Filtered searches go one query per call,
because each query carries its own permission set.
"""

import os

# Single-threaded means single-threaded everywhere, numpy's BLAS included; these must be set
# before numpy loads.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import faiss  # noqa: E402
import hnswlib  # noqa: E402
import numpy as np  # noqa: E402

EF_SWEEP = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
FILTERED_EFS = [64, 256]
REPEATS = 3


def log(message):
    print(f"peers: {message}", file=sys.stderr, flush=True)


def load(work_dir):
    with open(os.path.join(work_dir, "prepare.json")) as file:
        manifest = json.load(file)
    dimensions = manifest["dimensions"]
    k = manifest["k"]
    vectors = np.fromfile(manifest["vectors_path"], dtype="<f4", offset=16).reshape(-1, dimensions)
    query_rows = np.fromfile(os.path.join(work_dir, "queries.u32"), dtype="<u4").astype(np.int64)
    is_base = np.ones(len(vectors), dtype=bool)
    is_base[query_rows] = False
    base = np.ascontiguousarray(vectors[is_base])
    queries = np.ascontiguousarray(vectors[query_rows])
    truth = np.fromfile(os.path.join(work_dir, "truth.u32"), dtype="<u4").reshape(-1, k)
    filters = []
    for spec in manifest["filters"]:
        tag = spec["tag"]
        sets = np.fromfile(os.path.join(work_dir, f"allowed_{tag}.u32"), dtype="<u4")
        filters.append(
            {
                "tag": tag,
                "selectivity": spec["selectivity"],
                "sets": sets.reshape(spec["sets"], spec["set_size"]).astype(np.int64),
                "truth": np.fromfile(os.path.join(work_dir, f"truth_{tag}.u32"), dtype="<u4").reshape(-1, k),
            }
        )
    return manifest, base, queries, truth, filters


def recall_at_k(found, truth):
    k = truth.shape[1]
    hits = sum(len(set(row[:k].tolist()) & set(expected.tolist())) for row, expected in zip(found, truth))
    return hits / truth.size


def best_seconds(search):
    """Runs `search` REPEATS times; returns its first answer and the fastest time."""
    answer, best = None, float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = search()
        best = min(best, time.perf_counter() - started)
        if answer is None:
            answer = result
    return answer, best


def sweep(name, set_ef, search, queries, truth):
    points = []
    for ef in EF_SWEEP:
        set_ef(ef)
        found, seconds = best_seconds(lambda: search(queries))
        points.append({"ef": ef, "recall": recall_at_k(found, truth), "qps": len(queries) / seconds})
        log(f"{name} ef={ef} recall={points[-1]['recall']:.4f} qps={points[-1]['qps']:.0f}")
    return points


def file_bytes(save):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "index")
        save(path)
        return os.path.getsize(path)


def bench_hnswlib(base, queries, truth, k):
    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.init_index(max_elements=len(base), ef_construction=200, M=16, random_seed=100)
    index.set_num_threads(1)
    started = time.perf_counter()
    index.add_items(base, np.arange(len(base)), num_threads=1)
    build_seconds = time.perf_counter() - started
    log(f"hnswlib built in {build_seconds:.1f} s")
    memory = file_bytes(index.save_index)
    points = sweep(
        "hnswlib",
        index.set_ef,
        lambda q: index.knn_query(q, k=k, num_threads=1)[0],
        queries,
        truth,
    )
    entry = {
        "name": "hnswlib",
        "params": "M=16 efC=200",
        "build_seconds": build_seconds,
        "memory_bytes": memory,
        "memory_method": "save_index file",
        "sweep": points,
    }
    return entry, index


def bench_faiss(name, params, index, base, queries, truth, k):
    if not index.is_trained:
        started = time.perf_counter()
        index.train(base)
        train_seconds = time.perf_counter() - started
    else:
        train_seconds = 0.0
    started = time.perf_counter()
    index.add(base)
    build_seconds = time.perf_counter() - started + train_seconds
    log(f"{name} built in {build_seconds:.1f} s")
    memory = int(faiss.serialize_index(index).nbytes)

    def set_ef(ef):
        index.hnsw.efSearch = ef

    points = sweep(name, set_ef, lambda q: index.search(q, k)[1], queries, truth)
    entry = {
        "name": name,
        "params": params,
        "build_seconds": build_seconds,
        "memory_bytes": memory,
        "memory_method": "serialize_index bytes",
        "sweep": points,
    }
    return entry


def timed_per_query(queries, sets, search):
    """One call per query with its own permission set; best of REPEATS passes."""

    def run_all():
        return [search(query, sets[i % len(sets)], i % len(sets)) for i, query in enumerate(queries)]

    return best_seconds(run_all)


def filtered(hnsw, faiss_index, base, queries, filters, k):
    rows = []
    for spec in filters:
        sets, truth = spec["sets"], spec["truth"]
        as_python_sets = [set(s.tolist()) for s in sets]

        for ef in FILTERED_EFS:
            hnsw.set_ef(ef)

            def hnsw_search(query, _set, set_index):
                allowed = as_python_sets[set_index]
                try:
                    labels, _ = hnsw.knn_query(query, k=k, num_threads=1, filter=lambda label: label in allowed)
                    return labels[0]
                except RuntimeError:
                    # hnswlib refuses to return fewer than k results.
                    return np.array([], dtype=np.int64)

            found, seconds = timed_per_query(queries, sets, hnsw_search)
            rows.append(
                {
                    "name": "hnswlib, in-graph (Python filter callback)",
                    "tag": spec["tag"],
                    "ef": ef,
                    "recall": recall_at_k(found, truth),
                    "qps": len(queries) / seconds,
                }
            )
            log(f"hnswlib filtered {spec['tag']}% ef={ef}: {rows[-1]}")

        selectors = [faiss.IDSelectorBatch(s) for s in sets]
        for ef in FILTERED_EFS:
            parameters = []
            for selector in selectors:
                p = faiss.SearchParametersHNSW()
                p.sel = selector
                p.efSearch = ef
                parameters.append(p)

            def faiss_search(query, _set, set_index):
                _, labels = faiss_index.search(query.reshape(1, -1), k, params=parameters[set_index])
                return labels[0]

            found, seconds = timed_per_query(queries, sets, faiss_search)
            rows.append(
                {
                    "name": "faiss HNSW32, in-graph (IDSelectorBatch)",
                    "tag": spec["tag"],
                    "ef": ef,
                    "recall": recall_at_k(found, truth),
                    "qps": len(queries) / seconds,
                }
            )
            log(f"faiss filtered {spec['tag']}% ef={ef}: {rows[-1]}")

        # Exact search over the allowed rows, gathered into one matrix per set beforehand (as a
        # permission cache would), one BLAS matrix-vector product per query.
        gathered = [np.ascontiguousarray(base[s]) for s in sets]

        def numpy_search(query, set_rows, set_index):
            scores = gathered[set_index] @ query
            top = np.argpartition(-scores, k)[:k]
            return set_rows[top[np.argsort(-scores[top])]]

        found, seconds = timed_per_query(queries, sets, numpy_search)
        rows.append(
            {
                "name": "numpy exact over pre-gathered allowed rows",
                "tag": spec["tag"],
                "ef": None,
                "recall": recall_at_k(found, truth),
                "qps": len(queries) / seconds,
            }
        )
        log(f"numpy exact {spec['tag']}%: {rows[-1]}")
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: peers.py WORK_DIR")
    work_dir = sys.argv[1]
    faiss.omp_set_num_threads(1)
    manifest, base, queries, truth, filters = load(work_dir)
    k = manifest["k"]
    dimensions = base.shape[1]
    log(f"{len(base)} base vectors, {len(queries)} queries, {dimensions} dimensions")

    indexes = []
    hnsw_entry, hnsw = bench_hnswlib(base, queries, truth, k)
    indexes.append(hnsw_entry)
    flat = faiss.IndexHNSWFlat(dimensions, 32, faiss.METRIC_INNER_PRODUCT)
    indexes.append(
        bench_faiss(
            "faiss HNSW32",
            f"M=32 efC={flat.hnsw.efConstruction}",
            flat,
            base,
            queries,
            truth,
            k,
        )
    )
    sq8 = faiss.IndexHNSWSQ(dimensions, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT)
    indexes.append(
        bench_faiss(
            "faiss HNSW32+SQ8",
            f"M=32 efC={sq8.hnsw.efConstruction}",
            sq8,
            base,
            queries,
            truth,
            k,
        )
    )
    del sq8
    filtered_rows = filtered(hnsw, flat, base, queries, filters, k)

    output = {
        "threads": "hnswlib num_threads=1, faiss.omp_set_num_threads(1), OMP/BLAS threads 1",
        "repeats": REPEATS,
        "versions": {
            "hnswlib": metadata.version("hnswlib"),
            "faiss-cpu": metadata.version("faiss-cpu"),
            "numpy": np.__version__,
        },
        "indexes": indexes,
        "filtered": filtered_rows,
    }
    with open(os.path.join(work_dir, "peers.json"), "w") as file:
        json.dump(output, file, indent=2)
    log("wrote peers.json")


if __name__ == "__main__":
    main()
