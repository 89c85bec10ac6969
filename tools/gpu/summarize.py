"""Fold tools/gpu/check.sh's results.jsonl into one JSON object of figures and ratios."""

import json
import sys


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
    r = {row["name"]: row.get("result") or {} for row in rows}
    g = lambda n, k: (r.get(n) or {}).get(k)

    def ratio(a, b):
        return round(a / b, 3) if a and b else None

    topk = g("topk_cached", "examples_per_s") or g("topk_fresh", "examples_per_s")
    out = {
        "ratios_vs_pytorch_same_card": {
            "topk_k32_step": ratio(topk, g("torch_topk", "examples_per_s")),
            "topk_k32_step_bf16": ratio(g("topk_bf16", "examples_per_s"), g("torch_topk", "examples_per_s")),
            "relu_step_at_init": ratio(g("relu_init", "examples_per_s"), g("torch_relu", "examples_per_s")),
            "seed_24_sae_group": ratio(g("seed_group", "steps_per_s"), g("torch_sweep", "steps_per_s")),
            "vit_b16_forward_tf32": ratio(g("vit_b16", "images_per_s"), g("torch_vit", "img_per_s")),
            "vit_b16_forward_bf16": ratio(g("vit_b16_bf16", "images_per_s"), g("torch_vit_bf16", "img_per_s")),
        },
        "first_step_s_fresh_cache": g("topk_fresh", "first_step_s"),
        "first_step_s_cached": g("topk_cached", "first_step_s"),
        "seed_group_100M_minutes": round(1e8 / g("seed_group", "examples_per_s") / 60, 1) if g("seed_group", "examples_per_s") else None,
        "parity": {n: g(n, "parity") for n in ["topk_fresh", "relu_init", "topk_bf16", "batchtopk_aux"]},
        "steps": rows,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
