"""Segmentation benchmark: training step and inference latency of CERS and DenseCLIP-guided CERS vs
the plain U-Net, measured side by side in this one run on the same device.

All are `CersNet` at the same size: the plain U-Net runs the encoder and the plain decoder
(`plain_only=True`, what the supervised baseline trains); CERS also fuses K references (their
features encoded at every step, the old path, or taken from the knowledge pool's cache, the default),
runs the gated cross-attention with reasoning embeddings and both decoders; `dense` replaces the
cross-attention by DenseCLIP's pixel-text score maps with its auxiliary loss. Training steps include
the backward pass and the optimizer step; a semi-supervised step takes a labelled and an unlabelled
batch, as in `train_method`, so it consumes twice the images: both ratios, per step and per image,
are printed.
Runs on CPU, and on CUDA where available (same script, nothing to change).

    .venv/bin/python bench/segment.py                       # default: 128 x 128, batch 4, K = 5
    .venv/bin/python bench/segment.py --size 96 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import torch

from clinreason.vision.losses import SupervisedLoss, mutual_loss
from clinreason.vision.network import CersNet
from clinreason.vision.train import dense_aux_logits


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Any, device: str, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def bench(device: str, size: int, batch: int, k: int, repeats: int, channels: tuple[int, ...]) -> dict[str, Any]:
    torch.manual_seed(0)
    nets = {
        "cross": CersNet(channels=channels).to(device),
        "dense": CersNet(channels=channels, guidance="dense").to(device),
    }
    optimizers = {name: torch.optim.AdamW(net.parameters(), lr=1e-4) for name, net in nets.items()}
    criterion = SupervisedLoss()
    images = torch.rand(batch, 1, size, size, device=device)
    masks = (torch.rand(batch, 1, size, size, device=device) > 0.9).float()
    refs = torch.rand(batch, k, 1, size, size, device=device)
    texts = {"cross": torch.randn(batch, k + 1, 384, device=device), "dense": torch.randn(batch, 3, 384, device=device)}
    # the knowledge pool's cache: the references' features, encoded once (refreshed once an epoch in training)
    cached = {
        name: [f.reshape(batch, k, *f.shape[1:]) for f in net.encode_references(refs.flatten(0, 1))]
        for name, net in nets.items()
    }

    def step(name: str, loss: torch.Tensor) -> None:
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()

    def train_plain() -> None:
        step("cross", criterion(nets["cross"](images, plain_only=True).plain, masks))

    def semi(name: str, use_cache: bool) -> None:
        net = nets[name]
        inputs = {"reference_features": cached[name]} if use_cache else {"references": refs}
        out = net(images, texts=texts[name], **inputs)
        loss = criterion(out.plain, masks) + criterion(out.mcam, masks)
        if out.scores is not None:
            loss = loss + 0.4 * criterion(dense_aux_logits(out.scores, (size, size)), masks)
        out_u = net(images, texts=texts[name], **inputs)  # the unlabelled batch
        step(name, loss + mutual_loss(out_u.plain, out_u.mcam))

    trainers = {
        "plain_unet": train_plain,
        "cers_references_encoded": lambda: semi("cross", use_cache=False),
        "cers_cached_features": lambda: semi("cross", use_cache=True),
        "dense_cached_features": lambda: semi("dense", use_cache=True),
    }

    @torch.no_grad()
    def infer(name: str | None, use_cache: bool) -> None:
        if name is None:
            nets["cross"](images[:1], plain_only=True)
            return
        inputs = {"reference_features": [f[:1] for f in cached[name]]} if use_cache else {"references": refs[:1]}
        nets[name](images[:1], texts=texts[name][:1], mcam_only=True, **inputs)  # what `predict` runs

    inferers = {
        "plain_unet": lambda: infer(None, False),
        "cers_references_encoded": lambda: infer("cross", False),
        "cers_cached_features": lambda: infer("cross", True),
        "dense_cached_features": lambda: infer("dense", True),
    }
    for net in nets.values():
        net.train()
    # interleaved, so that machine noise hits every variant alike
    train_times: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(repeats):
        for name, fn in trainers.items():
            train_times[name] += _timed(fn, device, 1, warmup=1 if not train_times[name] else 0)
    for net in nets.values():
        net.eval()
    infer_times: dict[str, list[float]] = {name: [] for name in inferers}
    for _ in range(repeats):
        for name, fn in inferers.items():
            infer_times[name] += _timed(fn, device, 3, warmup=1 if not infer_times[name] else 0)
    steps = {name: statistics.median(t) for name, t in train_times.items()}
    infers = {name: statistics.median(t) for name, t in infer_times.items()}
    images_per_step = {name: batch if name == "plain_unet" else 2 * batch for name in steps}
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": size,
        "batch": batch,
        "k": k,
        "channels": list(channels),
        "parameters_millions": sum(p.numel() for p in nets["cross"].parameters()) / 1e6,
        # a semi-supervised step consumes a labelled and an unlabelled batch
        "train_step_s": steps,
        "train_step_over_plain": {name: t / steps["plain_unet"] for name, t in steps.items()},
        "train_images_per_s": {name: images_per_step[name] / t for name, t in steps.items()},
        "train_per_image_over_plain": {
            name: (t / images_per_step[name]) / (steps["plain_unet"] / batch) for name, t in steps.items()
        },
        "inference_ms_per_image": {name: 1000 * t for name, t in infers.items()},
        "inference_over_plain": {name: t / infers["plain_unet"] for name, t in infers.items()},
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--channels", default="16,32,64,128,256")
    parser.add_argument("--json", help="Also write the results here.")
    args = parser.parse_args()
    channels = tuple(int(c) for c in args.channels.split(","))
    results = [bench("cpu", args.size, args.batch, args.k, args.repeats, channels)]
    if torch.cuda.is_available():
        results.append(bench("cuda", args.size, args.batch, args.k, args.repeats * 4, channels))
    for r in results:
        print(
            f"{r['device']} ({r['size']}x{r['size']}, batch {r['batch']}, K={r['k']}, "
            f"{r['parameters_millions']:.2f}M parameters, {r['threads']} threads):"
        )
        for name in r["train_step_s"]:
            print(
                f"  {name:24s} training step {r['train_step_over_plain'][name]:.2f}x the plain step "
                f"({r['train_per_image_over_plain'][name]:.2f}x per image, {r['train_images_per_s'][name]:.1f} "
                f"images/s); inference {r['inference_ms_per_image'][name]:.1f} ms/image "
                f"({r['inference_over_plain'][name]:.2f}x)"
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
