"""Independent NumPy (float64) reference of Hugging Face's BloomForCausalLM forward pass, written
from modeling_bloom.py (build_alibi_tensor, _split_heads on a [B, T, H, 3, D] view, baddbmm with
beta=1 and alpha=1/sqrt(D), masked_fill with finfo.min, softmax, _merge_heads, bloom_gelu_forward).

Parameters are a deterministic function of (tensor index in state-dict order, element index), which
the Swift test reproduces, so no weights need to be stored. Writes bloom_tiny.json:
    python3 bloom_reference.py > bloom_tiny.json
"""
import json, math
import numpy as np

V, C, L, H, T, B = 67, 24, 2, 3, 9, 2   # 3 heads: exercises non-power-of-two ALiBi slopes
D = C // H
EPS = 1e-5

names = [("transformer.word_embeddings.weight", (V, C)),
         ("transformer.word_embeddings_layernorm.weight", (C,)),
         ("transformer.word_embeddings_layernorm.bias", (C,))]
for l in range(L):
    p = f"transformer.h.{l}."
    names += [(p + "input_layernorm.weight", (C,)), (p + "input_layernorm.bias", (C,)),
              (p + "self_attention.query_key_value.weight", (3 * C, C)), (p + "self_attention.query_key_value.bias", (3 * C,)),
              (p + "self_attention.dense.weight", (C, C)), (p + "self_attention.dense.bias", (C,)),
              (p + "post_attention_layernorm.weight", (C,)), (p + "post_attention_layernorm.bias", (C,)),
              (p + "mlp.dense_h_to_4h.weight", (4 * C, C)), (p + "mlp.dense_h_to_4h.bias", (4 * C,)),
              (p + "mlp.dense_4h_to_h.weight", (C, 4 * C)), (p + "mlp.dense_4h_to_h.bias", (C,))]
names += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,))]

def value(k, name, i):
    s = math.sin(0.7 * i + 1.1 * k)
    if name.endswith("layernorm.weight") or name.endswith("ln_f.weight"):
        return 1.0 + 0.1 * s
    if name.endswith(".bias"):
        return 0.05 * s
    return 0.3 * s

W = {}
for k, (name, shape) in enumerate(names):
    n = int(np.prod(shape))
    W[name] = np.array([np.float32(value(k, name, i)) for i in range(n)], dtype=np.float64).reshape(shape)

tokens = np.array([[(7 * b + 13 * t + 3) % V for t in range(T)] for b in range(B)])
targets = np.array([[(5 * b + 11 * t + 1) % V for t in range(T)] for b in range(B)])
targets[1, 4] = -100   # an ignored (padding) target

def layer_norm(x, w, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + EPS) * w + b

def alibi_slopes(n):
    closest = 2 ** math.floor(math.log2(n))
    base = 2 ** (-(2 ** -(math.log2(closest) - 3)))
    slopes = [base ** p for p in range(1, 1 + closest)]
    if closest != n:
        extra = 2 ** (-(2 ** -(math.log2(2 * closest) - 3)))
        rem = min(closest, n - closest)
        slopes += [extra ** p for p in range(1, 1 + 2 * rem, 2)]
    return np.array(slopes)

def gelu(x):
    return x * 0.5 * (1.0 + np.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))

mask = np.ones((B, T))
positions = (np.cumsum(mask, -1) - 1) * mask                       # [B, T]
alibi = alibi_slopes(H)[None, :, None] * positions[:, None, :]     # [B, H, 1->T keys]
causal = np.triu(np.ones((T, T), dtype=bool), 1)

h = W["transformer.word_embeddings.weight"][tokens]
h = layer_norm(h, W["transformer.word_embeddings_layernorm.weight"], W["transformer.word_embeddings_layernorm.bias"])
for l in range(L):
    p = f"transformer.h.{l}."
    x = layer_norm(h, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"])
    fused = x @ W[p + "self_attention.query_key_value.weight"].T + W[p + "self_attention.query_key_value.bias"]
    fused = fused.reshape(B, T, H, 3, D)
    q, k, v = fused[..., 0, :], fused[..., 1, :], fused[..., 2, :]            # [B, T, H, D]
    q, k, v = (a.transpose(0, 2, 1, 3) for a in (q, k, v))                   # [B, H, T, D]
    scores = alibi[:, :, None, :] + (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(D)
    scores = np.where(causal, np.finfo(np.float32).min, scores)
    scores = scores - scores.max(-1, keepdims=True)
    probs = np.exp(scores); probs /= probs.sum(-1, keepdims=True)
    ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(B, T, C)                 # merge heads
    h = h + ctx @ W[p + "self_attention.dense.weight"].T + W[p + "self_attention.dense.bias"]
    x = layer_norm(h, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"])
    x = gelu(x @ W[p + "mlp.dense_h_to_4h.weight"].T + W[p + "mlp.dense_h_to_4h.bias"])
    h = h + x @ W[p + "mlp.dense_4h_to_h.weight"].T + W[p + "mlp.dense_4h_to_h.bias"]
h = layer_norm(h, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"])
logits = h @ W["transformer.word_embeddings.weight"].T                      # tied lm_head

lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
valid = targets != -100
nll = lse - np.take_along_axis(logits, np.where(valid, targets, 0)[..., None], -1)[..., 0]
loss = nll[valid].mean()

print(json.dumps({"vocab": V, "hidden": C, "layers": L, "heads": H, "seq": T, "batch": B,
                  "tokens": tokens.reshape(-1).tolist(), "targets": targets.reshape(-1).tolist(),
                  "logits": logits.reshape(-1).tolist(), "loss": float(loss),
                  "alibi_slopes": alibi_slopes(H).tolist()}))
