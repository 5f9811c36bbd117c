#!/usr/bin/python3
"""Regenerate everything the model toolchain makes, from a seed: the sample catalog, the tiny models'
datasets, tokenizers and weights, their ONNX towers, contracts, golden packs and READMEs.

    /usr/bin/python3 tools/model/regen.py [--seed 1] [--models tiny-clip,tiny-siglip] [--from-committed]
        [--no-samples] [--steps-clip N] [--steps-siglip N]

Each model goes train -> checkpoint folder (.cache/model-ckpt/NAME, Hugging Face layout) -> convert.py
(the converter real checkpoints go through) -> contracts/NAME.json -> golden/NAME -> quality + README
-> the int8 variant (quantize.py: models/NAME/onnx/*_int8.onnx and contracts/NAME-int8.json, not committed).
--from-committed skips training and converts the committed models/NAME/model.safetensors again.
The contract is written after every file it pins (tokenizer, configs, towers), never before.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PY = sys.executable
TOOLS = os.path.dirname(os.path.abspath(__file__))
STEPS = {"tiny-clip": 600, "tiny-siglip": 400}


def run(*args, env=None):
    print("regen: " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([PY, *args], check=True, env=env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", default="tiny-clip,tiny-siglip")
    ap.add_argument("--from-committed", action="store_true")
    ap.add_argument("--no-samples", action="store_true")
    ap.add_argument("--steps-clip", type=int, default=STEPS["tiny-clip"])
    ap.add_argument("--steps-siglip", type=int, default=STEPS["tiny-siglip"])
    args = ap.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if not args.no_samples:
        run(f"{TOOLS}/samples.py", "--seed", str(args.seed), env=env)
    for name in args.models.split(","):
        out = os.path.join(common.ROOT, "models", name)
        contract = os.path.join(common.ROOT, "contracts", name + ".json")
        if args.from_committed:
            ckpt = out
        else:
            ckpt = os.path.join(common.ROOT, ".cache", "model-ckpt", name)
            steps = args.steps_clip if name == "tiny-clip" else args.steps_siglip
            extra = []
            if name == "tiny-siglip":  # its image tower starts from tiny-clip's (trained first)
                extra = ["--init-vision-from", os.path.join(common.ROOT, "models", "tiny-clip")]
            run(f"{TOOLS}/train.py", "--model", name, "--out", ckpt, "--seed", str(args.seed), "--steps", str(steps),
                "--threads", "1", *extra, env=env)
        run(f"{TOOLS}/convert.py", ckpt, "--out", out, "--id", name, "--contract", contract, env=env)
        run(f"{TOOLS}/golden.py", "--contract", contract, env=env)
        run(f"{TOOLS}/quality.py", "--contract", contract, "--seed", str(args.seed), "--readme", env=env)
        run(f"{TOOLS}/quantize.py", "--contract", contract, env=env)  # after the fp32 golden pack it is checked on


if __name__ == "__main__":
    main()
