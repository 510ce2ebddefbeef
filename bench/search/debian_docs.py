#!/usr/bin/env python3
"""Debian's documentation through the real indexer: pages in over the API, searchable out.

Reads DOCS documents from this machine, half of them text files from /usr/share/doc (README*,
NEWS*, *.txt, changelogs, gzipped or not) and half man pages from /usr/share/man/man1 (troff,
reduced to text with each `.SH` section as a heading, so the chunker follows their structure),
chosen evenly from the sorted file lists, each cut at TEXT_CHARS_MAX characters. Starts
`trellis serve` with the local model on an empty data directory, creates one page per document
through the Notion-compatible API (headings and paragraphs, 100 blocks a request), and waits until
the indexer has every chunk in BM25 and in the vector index (`/platform/v1/search/status`:
no pending events, no object awaiting vectors). Then asks SEARCHES questions, each the first
words of a paragraph from the middle of a random document, in semantic and in keyword mode
(`/v1/search`, page results), and counts how often that document is among the first 5.

Prints what it read, the timings and index sizes, the recall table, and a final
`RESULT key=value ...` line. Nothing here is a test: run it by hand (release build):

    TRELLIS_BIN=target/release/trellis python3 bench/search/debian_docs.py
"""
import glob, gzip, os, random, re, sys, time

from trellis_server import Server

BIN = os.environ.get("TRELLIS_BIN", "target/release/trellis")
DOCS = int(os.environ.get("DOCS", "300"))
TEXT_CHARS_MAX = int(os.environ.get("TEXT_CHARS_MAX", "12000"))
SEARCHES = int(os.environ.get("SEARCHES", "100"))
QUERY_WORDS = int(os.environ.get("QUERY_WORDS", "12"))
PORT = int(os.environ.get("PORT", "7793"))
# Notion's limits: 2,000 characters a rich-text object, 100 blocks a request.
RICH_TEXT_CHARS_MAX = 2000
BLOCKS_PER_REQUEST = 100


def read_text(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read(TEXT_CHARS_MAX * 4)
    except OSError:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def doc_sections(text):
    """Plain text: paragraphs split by blank lines, one section."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return [(None, [p for p in paragraphs if p])]


TROFF_ESCAPES = re.compile(r"\\f[BIRP]|\\f\(..|\\[&\-e|^~0]|\\\(..|\\\*\(..|\\\*.|\\s[+-]?\d")


def man_sections(text):
    """troff man page: `.SH NAME` starts a section; other requests are dropped, text kept."""
    sections, heading, paragraph, paragraphs = [], None, [], []

    def flush_paragraph():
        if paragraph:
            paragraphs.append(" ".join(" ".join(paragraph).split()))
            paragraph.clear()

    for line in text.splitlines():
        line = TROFF_ESCAPES.sub("", line)
        if line.startswith((".SH", ".SS")):
            flush_paragraph()
            if paragraphs or heading:
                sections.append((heading, paragraphs))
            heading, paragraphs = line[3:].strip().strip('"').title() or None, []
        elif line.startswith((".PP", ".P", ".LP", ".TP", ".IP", ".sp", ".br")) or not line.strip():
            flush_paragraph()
        elif line.startswith((".B ", ".I ", ".BR ", ".IR ", ".BI ", ".RB ", ".RI ")):
            paragraph.append(line.split(" ", 1)[1].replace('"', ""))
        elif line.startswith((".", "'")):
            continue
        else:
            paragraph.append(line)
    flush_paragraph()
    if paragraphs or heading:
        sections.append((heading, paragraphs))
    return [(h, [p for p in ps if p]) for h, ps in sections]


def pick(paths, count):
    if count <= 0 or not paths:
        return []
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def collect():
    doc_paths = sorted(p for p in glob.glob("/usr/share/doc/**/*", recursive=True)
                       if os.path.isfile(p) and re.search(
                           r"/(README|NEWS|changelog)[^/]*$|\.txt(\.gz)?$", p))
    man_paths = sorted(glob.glob("/usr/share/man/man1/*.1*"))
    docs = []
    for path in pick(doc_paths, DOCS - DOCS // 2) + pick(man_paths, DOCS // 2):
        text = read_text(path)
        if not text:
            continue
        text = text[:TEXT_CHARS_MAX]
        sections = man_sections(text) if "/man/" in path else doc_sections(text)
        if sum(len(ps) for _, ps in sections) == 0:
            continue
        docs.append((path, sections))
    return docs, len(doc_paths), len(man_paths)


def blocks_of(sections):
    blocks = []
    for heading, paragraphs in sections:
        if heading:
            blocks.append({"type": "heading_2", "heading_2": {
                "rich_text": [{"type": "text", "text": {"content": heading[:RICH_TEXT_CHARS_MAX]}}]}})
        for p in paragraphs:
            for start in range(0, len(p), RICH_TEXT_CHARS_MAX):
                blocks.append({"type": "paragraph", "paragraph": {"rich_text": [
                    {"type": "text", "text": {"content": p[start:start + RICH_TEXT_CHARS_MAX]}}]}})
    return blocks


def main():
    docs, doc_files, man_files = collect()
    words = sum(len(p.split()) for _, s in docs for _, ps in s for p in ps)
    print(f"read {len(docs)} documents ({doc_files} doc files and {man_files} man pages here), "
          f"{words} words")
    if not docs:
        sys.exit("no documents found under /usr/share/doc or /usr/share/man")
    with Server(BIN, PORT, "local") as server:
        pages = []  # (page id, path, paragraphs)
        started = time.monotonic()
        blocks_total = 0
        for path, sections in docs:
            blocks = blocks_of(sections)
            blocks_total += len(blocks)
            title = path.replace("/usr/share/", "")
            page = server.call("POST", "/v1/pages", {
                "parent": {"workspace": True},
                "properties": {"title": {"title": [{"text": {"content": title}}]}},
                "children": blocks[:BLOCKS_PER_REQUEST]})
            for start in range(BLOCKS_PER_REQUEST, len(blocks), BLOCKS_PER_REQUEST):
                server.call("PATCH", f"/v1/blocks/{page['id']}/children",
                            {"children": blocks[start:start + BLOCKS_PER_REQUEST]})
            pages.append((page["id"], path, [p for _, ps in sections for p in ps]))
        ingested = time.monotonic() - started
        while True:
            status = server.call("GET", "/platform/v1/search/status")
            if status["pending_events"] == 0 and status["objects_awaiting_vectors"] == 0:
                break
            time.sleep(0.2)
        indexed = time.monotonic() - started
        chunks = status["chunks"]
        print(f"| step | seconds |")
        print(f"|---|---|")
        print(f"| create {len(pages)} pages ({blocks_total} blocks) over the API | {ingested:.1f} |")
        print(f"| ... until every chunk is in BM25 and has its vector | {indexed:.1f} |")
        print(f"chunks {chunks}, {chunks / indexed:.1f} chunks/s and {len(pages) / indexed:.2f} "
              f"documents/s end to end; vector memory {status['vector_memory_bytes']} bytes, "
              f"disk {status['disk_bytes']} bytes")
        freshness = status.get("freshness") or {}
        for measure in ("keyword", "meaning"):
            stats = freshness.get(measure)
            if stats:
                print(f"indexer {measure} lag per edit: p50 {stats['p50_ms']} ms, "
                      f"p99 {stats['p99_ms']} ms, max {stats['max_ms']} ms")

        rng = random.Random(11)
        candidates = [(pid, paras) for pid, _, paras in pages
                      if any(len(p.split()) >= QUERY_WORDS for p in paras)]
        found = {"semantic": 0, "keyword": 0, "hybrid": 0}
        asked = 0
        for _ in range(min(SEARCHES, len(candidates))):
            pid, paras = rng.choice(candidates)
            long_paras = [p for p in paras if len(p.split()) >= QUERY_WORDS]
            query = " ".join(long_paras[len(long_paras) // 2].split()[:QUERY_WORDS])
            asked += 1
            for mode in found:
                results = server.call("POST", "/v1/search",
                                      {"query": query, "mode": mode, "page_size": 5})["results"]
                found[mode] += any(r["id"] == pid for r in results)
        print("| mode | questions | document in the first 5 |")
        print("|---|---|---|")
        for mode, n in found.items():
            print(f"| {mode} | {asked} | {n / asked:.2f} |")
        print("RESULT " + " ".join([
            f"documents={len(pages)}", f"words={words}", f"blocks={blocks_total}",
            f"chunks={chunks}", f"ingest_s={ingested:.1f}", f"indexed_s={indexed:.1f}",
            f"chunks_per_s={chunks / indexed:.1f}",
            f"vector_memory_bytes={status['vector_memory_bytes']}",
            f"disk_bytes={status['disk_bytes']}"] + [
            f"{mode}_recall_at_5={n / asked:.2f}" for mode, n in found.items()]))


if __name__ == "__main__":
    main()
