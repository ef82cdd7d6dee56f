# Regenerates src/io/sae-releases.json from SAELens's sae_lens/pretrained_saes.yaml (a local copy).
# Keeps the releases saelab can read: SAELens directories (conversion_func null) and Gemma Scope
# params.npz (conversion_func gemma_2). Usage: python3 scripts/sae-releases-from-saelens.py YAML COMMIT
import json, sys
import yaml

RELEASES = [
    "gpt2-small-res-jb", "gpt2-small-res-jb-feature-splitting",
    "gpt2-small-resid-post-v5-32k", "gpt2-small-resid-post-v5-128k",
    "gpt2-small-resid-mid-v5-32k", "gpt2-small-resid-mid-v5-128k",
    "gpt2-small-mlp-out-v5-32k", "gpt2-small-mlp-out-v5-128k",
    "gpt2-small-attn-out-v5-32k", "gpt2-small-attn-out-v5-128k",
    "pythia-70m-deduped-res-sm", "pythia-70m-deduped-mlp-sm", "pythia-70m-deduped-att-sm",
    "gemma-scope-2b-pt-res-canonical", "gemma-scope-2b-pt-res",
    "gemma-scope-2b-pt-mlp-canonical", "gemma-scope-2b-pt-att-canonical",
    "gemma-scope-9b-pt-res-canonical", "gemma-scope-27b-pt-res-canonical",
]
FORMATS = {None: "saelens", "gemma_2": "gemma_scope"}

src, commit = sys.argv[1], sys.argv[2]
data = yaml.safe_load(open(src))
data = data.get("SAE_LOOKUP", data)
out = {"source": f"SAELens sae_lens/pretrained_saes.yaml at commit {commit}", "releases": {}}
for name in RELEASES:
    r = data[name]
    fmt = FORMATS[r.get("conversion_func")]
    out["releases"][name] = {
        "repo": r["repo_id"], "model": r["model"], "format": fmt,
        "saes": {s["id"]: s["path"] for s in r["saes"]},
    }
json.dump(out, open("src/io/sae-releases.json", "w"), indent=1)
open("src/io/sae-releases.json", "a").write("\n")
