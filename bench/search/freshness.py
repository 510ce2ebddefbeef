#!/usr/bin/env python3
"""Edit -> searchable latency under a steady edit rate, against a live `trellis serve`.

Each edit appends a paragraph carrying a unique word to one of PAGES pages, at RATE edits/s for
SECONDS. Pollers ask the chunk search for the oldest word each has not found yet (one keyword
poller; SEMANTIC_POLLERS semantic ones, each with a different word):

- keyword: `mode: keyword` (BM25). The indexer's keyword stage makes a changed chunk findable
  this way without waiting for the model.
- semantic: `mode: semantic` (vector search only) with the largest page size (100), asked with
  the sentence of the oldest pending edit. A chunk comes back by a full vector (of exactly the
  text it holds now: the indexer drops a chunk's vector when its text changes) or by a
  provisional one, which names the passages it was embedded from (`provisional_passages`: the
  changed words of an edit with a little context, or an earlier version of the chunk while all
  of it is still there; the passage that ranked the chunk, and each other of the chunk's
  passages that ranked among the query's nearest vectors). A word counts as found by meaning
  when a hit's full vector covers a text with the word, or a passage a hit names holds it. Polled every SEMANTIC_POLL_MS,
  because each query is embedded by the same model the indexer uses.

An edit's freshness is the time from the edit's acknowledgement to the first search that finds
it. The semantic poller's figure is an upper bound, never early but sometimes late: a passage
that matched less well than the answer's nearest vectors is not named; a run makes more than
100 chunks, so a chunk can fall off the answer; and one poller asks about 5 queries a second for
20 edits a second. So the script also
prints the indexer's own measure (`freshness` in `/platform/v1/search/status`, no queries
involved): change-log commit -> the edit's chunks are in BM25 (keyword), and -> a vector of text
holding the edit is searchable, provisional or full (meaning). Each edit's sentence is drawn
from word lists of unrelated topics, so that edits differ in meaning, not only in their unique
word. Prints a table (p50/p90/p99/max per measure), how many semantic queries missed the very
edit they asked about and why (its chunk answered by another of its vectors, or absent from the
answer), and a final `RESULT key=value ...` line.

Options (environment): RATE, SECONDS, PAGES, EMBEDDER (`local` or `hashing`), PORT,
DRAIN_SECONDS, SEMANTIC_POLLERS, SEMANTIC_POLL_MS, KEYWORD_POLLERS (0 for none: the indexer's
measure alone, with no query load), KEYWORD_POLL_MS, SERVER_LOG (a file for the server's log).
"""
import collections, os, random, sys, threading, time

from trellis_server import Server

BIN = os.environ.get("TRELLIS_BIN", "target/release/trellis")
RATE = float(os.environ.get("RATE", "20"))
SECONDS = float(os.environ.get("SECONDS", "30"))
PAGES = int(os.environ.get("PAGES", "20"))
EMBEDDER = os.environ.get("EMBEDDER", "local")
PORT = int(os.environ.get("PORT", "7791"))
# How long the pollers keep looking after the last edit before counting the rest as lost.
DRAIN_SECONDS = float(os.environ.get("DRAIN_SECONDS", "120"))
SEMANTIC_POLL_MS = float(os.environ.get("SEMANTIC_POLL_MS", "50"))
# Semantic pollers at once, each asking for the oldest pending word no other is asking for. Every
# query is embedded by the indexer's model, so more pollers see more at once but also take model
# time from the indexer (measured in docs/benchmarks.md: 1 gave the better freshness).
SEMANTIC_POLLERS = int(os.environ.get("SEMANTIC_POLLERS", "1"))
# Pause of the keyword poller after a miss. Each miss is a query the server answers on the same
# two cores as the indexer, so polling hard slows the indexer it measures: at 2 ms the poller
# sent about 120 queries a second and the indexer's own meaning p99 was 0.85-1.1 s; at 20 ms,
# 45 a second and 0.37 s (docs/benchmarks.md).
KEYWORD_POLL_MS = float(os.environ.get("KEYWORD_POLL_MS", "20"))
KEYWORD_POLLERS = int(os.environ.get("KEYWORD_POLLERS", "1"))
SEMANTIC_PAGE_SIZE = 100
MODES = ("keyword", "semantic")


SUBJECTS = [
    "The harbor pilot", "A pastry chef", "Our tax auditor", "The violin teacher",
    "A glacier researcher", "The night nurse", "A beekeeper", "The stadium groundskeeper",
    "A tax-law professor", "The museum restorer", "A long-haul trucker", "The choir director",
    "A wildfire spotter", "The bank's fraud analyst", "A vineyard owner", "The chess coach",
    "A subway mechanic", "The wedding photographer", "A marine biologist", "The school librarian",
]
ACTIONS = [
    "repaired the cracked telescope mount", "baked rye loaves for the harvest fair",
    "flagged a suspicious wire transfer", "tuned the old cello strings",
    "measured how fast the ice sheet melted", "calmed a feverish toddler",
    "moved the hives away from the orchard", "reseeded the muddy penalty area",
    "graded essays on inheritance tax", "cleaned soot from a baroque painting",
    "hauled frozen salmon across the border", "rehearsed a requiem with the sopranos",
    "reported smoke rising over the ridge", "froze a compromised credit card",
    "pruned the merlot vines by hand", "analysed a rook endgame with students",
    "replaced worn brake pads on a train", "photographed the couple under an oak",
    "tagged a sea turtle near the reef", "catalogued donated poetry books",
]


TAILS = [
    "before the monsoon arrived", "during the regional chess tournament",
    "after the power cut at midnight", "while snow blocked the mountain pass",
    "on the first warm morning of spring", "despite a strike at the port",
    "ahead of the annual audit", "as the festival crowds gathered",
    "under a full moon", "between two long hospital shifts",
]


def sentence_for(n, word, rng):
    # One of 4,000 combinations, so that a query with one edit's sentence matches that edit's
    # passage better than its neighbours'. (Shorter sentences, 20 x 20 combinations, were tried:
    # the chunk's best vector for a sentence was then often another edit's passage sharing its
    # subject or action, and the semantic poller could not credit the edit.)
    return (f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(TAILS)} "
            f"(note {n}, code {word}).")


def percentile(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def main():
    with Server(BIN, PORT, EMBEDDER, log=os.environ.get("SERVER_LOG")) as server:
        pages = []
        for i in range(PAGES):
            page = server.call("POST", "/v1/pages", {
                "parent": {"workspace": True},
                "properties": {"title": {"title": [{"text": {"content": f"Bench page {i}"}}]}},
                "children": [{"type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": "Seed text about logistics and routing."}}]}}]})
            pages.append(page["id"])
        while server.call("GET", "/platform/v1/search/status")["pending_events"] > 0:
            time.sleep(0.05)

        # The keyword stage follows the change log, so the keyword poller asks only for the
        # oldest word it has not found yet: one search per edit plus idle polls. Vectors land in
        # no strict order, so the semantic poller checks every pending word against each answer.
        lock = threading.Lock()
        pending = {mode: collections.OrderedDict() for mode in MODES}  # word -> (acked, sentence)
        latencies = {mode: [] for mode in MODES}
        done = threading.Event()
        deadline = [None]
        chunks_seen = [0]
        query_ms = []  # how long each semantic query took: the poller's own pace
        keyword_queries = [0]
        # Why a semantic query missed the very edit it asked about: the chunk holding the edit
        # came back by another of its vectors (a passage or an older full vector without the
        # edit), or no answered chunk holds the edit at all.
        asked_misses = {"other_vector": 0, "absent": 0}

        asking = set()  # words a semantic poller is asking for now

        def poll(mode):
            queue = pending[mode]
            while True:
                with lock:
                    if mode == "keyword":
                        head = next(iter(queue.items()), None)
                    else:
                        head = next(((w, v) for w, v in queue.items() if w not in asking), None)
                        if head is not None:
                            asking.add(head[0])
                if head is None:
                    if done.is_set():
                        return
                    time.sleep(0.002)
                    continue
                if deadline[0] is not None and time.monotonic() > deadline[0]:
                    return
                word, (acked, sentence) = head
                if mode == "keyword":
                    keyword_queries[0] += 1
                    hits = server.call("POST", "/platform/v1/search/chunks",
                                       {"query": word, "mode": "keyword", "page_size": 1})["results"]
                    if hits and word in hits[0]["text"]:
                        seen = time.monotonic()
                        with lock:
                            queue.pop(word, None)
                        latencies[mode].append(seen - acked)
                    else:
                        time.sleep(KEYWORD_POLL_MS / 1000)
                    continue
                asked = time.monotonic()
                hits = server.call("POST", "/platform/v1/search/chunks",
                                   {"query": sentence, "mode": "semantic",
                                    "page_size": SEMANTIC_PAGE_SIZE})["results"]
                seen = time.monotonic()
                query_ms.append((seen - asked) * 1000)
                chunks_seen[0] = max(chunks_seen[0], len(hits))
                # What each hit's vectors were embedded from: the chunk's text for a full
                # vector; for provisional ones, every passage the hit names (the one that ranked
                # the chunk, and each other that ranked among the query's nearest vectors).
                texts = [text for hit in hits
                         for text in ([p["text"] for p in hit["provisional_passages"]]
                                      or [hit["text"]])]
                with lock:
                    asking.discard(word)
                    found = [(w, t) for w, (t, _) in queue.items()
                             if any(w in text for text in texts)]
                    for w, t in found:
                        del queue[w]
                        latencies[mode].append(seen - t)
                    if word not in (w for w, _ in found):
                        held = any(word in hit["text"] for hit in hits)
                        asked_misses["other_vector" if held else "absent"] += 1
                time.sleep(SEMANTIC_POLL_MS / 1000)

        pollers = [threading.Thread(target=poll, args=("keyword",)) for _ in range(KEYWORD_POLLERS)] + [
            threading.Thread(target=poll, args=("semantic",)) for _ in range(SEMANTIC_POLLERS)]
        for poller in pollers:
            poller.start()
        rng = random.Random(7)
        edits = int(RATE * SECONDS)
        start = time.monotonic()
        for n in range(edits):
            due = start + n / RATE
            time.sleep(max(0.0, due - time.monotonic()))
            word = f"zq{n}x{rng.randrange(10**6)}"
            sentence = sentence_for(n, word, rng)
            server.call("PATCH", f"/v1/blocks/{rng.choice(pages)}/children", {"children": [
                {"type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": sentence}}]}}]})
            acked = time.monotonic()
            with lock:
                for mode in MODES:
                    pending[mode][word] = (acked, sentence)
        achieved = edits / (time.monotonic() - start)
        deadline[0] = time.monotonic() + DRAIN_SECONDS
        done.set()
        for poller in pollers:
            poller.join()

        status = server.call("GET", "/platform/v1/search/status")
        print("indexer: " + ", ".join(f"{key} {status.get(key)}" for key in (
            "provisional_passages_added", "superseded_vectors_kept",
            "superseded_vectors_discarded", "provisional_vectors", "provisional_vectors_dropped",
            "objects_awaiting_vectors")))
        print(f"embedder {EMBEDDER}, {PAGES} pages, {edits} edits at {achieved:.1f} edits/s "
              f"(asked {RATE:g}/s for {SECONDS:g} s), load average {os.getloadavg()[0]:.2f}")
        if query_ms:
            q = sorted(query_ms)
            print(f"semantic queries: {len(q)}, p50 {percentile(q, 0.5):.0f} ms, "
                  f"p99 {percentile(q, 0.99):.0f} ms (each is embedded by the indexer's model)")
            print(f"semantic queries that missed the edit they asked about: "
                  f"{asked_misses['other_vector']} with its chunk answered by another of its "
                  f"vectors, {asked_misses['absent']} with no answered chunk holding it")
        if chunks_seen[0] >= SEMANTIC_PAGE_SIZE:
            print(f"note: a semantic answer was full ({SEMANTIC_PAGE_SIZE} chunks), so the semantic "
                  "poller may have missed a chunk (fewer SECONDS make fewer chunks)")
        print("| measure | found | lost | p50 ms | p90 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|---|---|")
        print(f"keyword queries: {keyword_queries[0]} (one per miss, KEYWORD_POLL_MS apart)")
        result = [f"embedder={EMBEDDER}", f"edits={edits}", f"rate={achieved:.1f}",
                  f"keyword_queries={keyword_queries[0]}", f"semantic_queries={len(query_ms)}",
                  f"semantic_asked_misses_other_vector={asked_misses['other_vector']}",
                  f"semantic_asked_misses_absent={asked_misses['absent']}"]
        for mode in MODES:
            ms = sorted(x * 1000 for x in latencies[mode])
            lost = edits - len(ms)
            if ms:
                p50, p90, p99, worst = (percentile(ms, 0.5), percentile(ms, 0.9),
                                        percentile(ms, 0.99), ms[-1])
                print(f"| {mode} | {len(ms)} | {lost} | {p50:.0f} | {p90:.0f} | {p99:.0f} | {worst:.0f} |")
                result += [f"{mode}_p50_ms={p50:.0f}", f"{mode}_p90_ms={p90:.0f}",
                           f"{mode}_p99_ms={p99:.0f}", f"{mode}_max_ms={worst:.0f}"]
            else:
                print(f"| {mode} | 0 | {lost} | - | - | - | - |")
            result.append(f"{mode}_lost={lost}")
        # The indexer's own measure, over every edit since the server started (the setup pages
        # included), from commit time; no queries involved.
        freshness = status.get("freshness") or {}
        for measure in ("keyword", "meaning"):
            stats = freshness.get(measure)
            if not stats:
                continue
            print(f"| indexer: {measure} | {stats['samples']} | - | {stats['p50_ms']} | "
                  f"{stats['p90_ms']} | {stats['p99_ms']} | {stats['max_ms']} |")
            result += [f"indexer_{measure}_{key}={stats[key]}"
                       for key in ("samples", "p50_ms", "p90_ms", "p99_ms", "max_ms")]
        result.append(f"indexer_awaiting_meaning={freshness.get('edits_awaiting_meaning')}")
        print("RESULT " + " ".join(result))


if __name__ == "__main__":
    main()
