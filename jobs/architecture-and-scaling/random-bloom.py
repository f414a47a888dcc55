# A Hugging Face BLOOM directory of random weights, written by the safetensors package (not by
# atelier): BLOOM-560m's widths (vocabulary 250,880, hidden 1024, 16 heads) with LAYERS layers, one
# f32 model.safetensors under the Hub's tensor names. For the loading figures in docs/benchmarks.md:
#   python3 jobs/architecture-and-scaling/random-bloom.py DIR 24
import json, sys, numpy as np
from safetensors.numpy import save_file
d, layers = sys.argv[1], int(sys.argv[2])
V, C = 250880, 1024
rng = np.random.default_rng(0)
t = {"word_embeddings.weight": (V, C), "word_embeddings_layernorm.weight": (C,), "word_embeddings_layernorm.bias": (C,)}
for l in range(layers):
    p = f"h.{l}."
    t.update({p+"input_layernorm.weight": (C,), p+"input_layernorm.bias": (C,),
              p+"self_attention.query_key_value.weight": (3*C, C), p+"self_attention.query_key_value.bias": (3*C,),
              p+"self_attention.dense.weight": (C, C), p+"self_attention.dense.bias": (C,),
              p+"post_attention_layernorm.weight": (C,), p+"post_attention_layernorm.bias": (C,),
              p+"mlp.dense_h_to_4h.weight": (4*C, C), p+"mlp.dense_h_to_4h.bias": (4*C,),
              p+"mlp.dense_4h_to_h.weight": (C, 4*C), p+"mlp.dense_4h_to_h.bias": (C,)})
t.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
arrays = {}
for k, s in t.items():
    if k.endswith("layernorm.weight") or k.endswith("ln_f.weight"): arrays[k] = np.ones(s, np.float32)
    elif k.endswith(".bias"): arrays[k] = np.zeros(s, np.float32)
    else: arrays[k] = (rng.standard_normal(s, dtype=np.float32) * 0.02)
import os; os.makedirs(d, exist_ok=True)
save_file(arrays, d + "/model.safetensors", metadata={"format": "pt"})
json.dump({"model_type": "bloom", "vocab_size": V, "hidden_size": C, "n_layer": layers, "n_head": 16, "layer_norm_epsilon": 1e-5,
           "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3}, open(d + "/config.json", "w"))
print(sum(a.size for a in arrays.values()), "parameters")
