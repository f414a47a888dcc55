"""The transformers side of `atelier bench --generate`.

Builds a BloomForCausalLM with random weights from a fixed torch seed, normal(0, --init-std) (the
LayerNorm parameters and biases perturbed too, so every tensor matters) and saves it with
save_pretrained (f32 safetensors) for atelier to load, or with --load loads that directory again;
then times greedy generate() on the prompt ids atelier passes. Prints one JSON object: versions,
threads, prefill seconds (generate of 1 token, median), total seconds (generate of --new-tokens,
median), the median seconds of one cached forward step outside generate(), the generated ids, and
at each step the chosen token's logit and the gap between the two largest logits.
"""
import argparse
import json
import statistics
import time

import torch
import transformers
from transformers import BloomConfig, BloomForCausalLM


def build(a):
    torch.manual_seed(a.seed)
    config = BloomConfig(vocab_size=a.vocab, hidden_size=a.hidden, n_layer=a.layers, n_head=a.heads,
                         layer_norm_epsilon=1e-5, initializer_range=a.init_std, tie_word_embeddings=True,
                         use_cache=True, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    model = BloomForCausalLM(config).float().eval()
    with torch.no_grad():
        for name, t in model.named_parameters():
            if name.endswith("bias") or "layernorm" in name or "ln_f" in name:
                t.add_(0.02 * torch.randn_like(t))
    return model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True, help="directory for config.json and model.safetensors")
    p.add_argument("--vocab", type=int, default=250880)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    # BLOOM's own 0.02 makes a random model of this size repeat one token forever, which checks
    # little; at 0.1 greedy tokens vary (18 distinct of 24 in a trial) and logits reach about 15.
    p.add_argument("--init-std", type=float, default=0.1)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--prompt", required=True, help="comma-separated token ids")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--sampleable", type=int, help="suppress ids >= this (the tokenizer's vocabulary)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--load", action="store_true", help="time the model saved in --out instead of building one")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    if a.load:
        model = BloomForCausalLM.from_pretrained(a.out, dtype=torch.float32).eval()
    else:
        model = build(a)
        model.save_pretrained(a.out, safe_serialization=True)
    ids = torch.tensor([[int(x) for x in a.prompt.split(",")]])
    suppress = list(range(a.sampleable, a.vocab)) if a.sampleable and a.sampleable < a.vocab else None

    def generate(n):
        with torch.inference_mode():
            return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                  do_sample=False, num_beams=1, suppress_tokens=suppress, use_cache=True,
                                  eos_token_id=None, pad_token_id=0)

    def timed(n):
        start = time.perf_counter()
        out = generate(n)
        return time.perf_counter() - start, out

    generate(2)   # warm-up
    prefill = statistics.median(timed(1)[0] for _ in range(3))
    runs = [timed(a.new_tokens) for _ in range(a.repeats)]
    tokens = runs[0][1][0, ids.shape[1]:].tolist()
    assert all(r[1][0, ids.shape[1]:].tolist() == tokens for r in runs)
    # The model alone, without generate()'s machinery: one forward per token with the cache, argmax
    # below the sampleable vocabulary.
    limit = a.sampleable or a.vocab

    def decode_steps():
        times = []
        with torch.inference_mode():
            out = model(ids, use_cache=True)
            cache, mask = out.past_key_values, torch.ones_like(ids)
            nxt = out.logits[:, -1, :limit].argmax(-1, keepdim=True)
            for _ in range(a.new_tokens - 1):
                mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
                start = time.perf_counter()
                out = model(nxt, past_key_values=cache, attention_mask=mask, use_cache=True)
                nxt = out.logits[:, -1, :limit].argmax(-1, keepdim=True)
                times.append(time.perf_counter() - start)
                cache = out.past_key_values
        return statistics.median(times)

    forward_per_token = decode_steps()

    # Untimed: how far apart the two largest logits were at each step (a near-tie can flip on rounding).
    with torch.inference_mode():
        scored = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=a.new_tokens, do_sample=False,
                                num_beams=1, suppress_tokens=suppress, use_cache=True, eos_token_id=None, pad_token_id=0,
                                output_scores=True, return_dict_in_generate=True)
    gaps = [(lambda top: float(top[0] - top[1]))(torch.topk(s[0], 2).values) for s in scored.scores]
    chosen = [float(s[0, t]) for s, t in zip(scored.scores, tokens)]
    print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__, "threads": a.threads,
                      "prefill_s": prefill, "total_s": statistics.median(r[0] for r in runs), "tokens": tokens,
                      "forward_per_token_s": forward_per_token, "top_two_gaps": gaps, "chosen_logits": chosen}))


if __name__ == "__main__":
    main()
