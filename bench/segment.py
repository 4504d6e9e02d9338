"""Segmentation benchmark: training images/s and inference latency of CERS vs the plain U-Net.

Both are the same `CersNet` at the same size, measured side by side in this one run on the same
device: the plain U-Net runs the encoder and the plain decoder (`plain_only=True`, what the
supervised baseline trains); CERS also encodes K references (without gradient), runs the gated
cross-attention with reasoning embeddings and both decoders. Training steps include the backward
pass and the optimizer step (a labelled and an unlabelled batch for CERS, as in `train_method`, so a
CERS step consumes twice the images).
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
    net = CersNet(channels=channels).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    criterion = SupervisedLoss()
    images = torch.rand(batch, 1, size, size, device=device)
    masks = (torch.rand(batch, 1, size, size, device=device) > 0.9).float()
    refs = torch.rand(batch, k, 1, size, size, device=device)
    texts = torch.randn(batch, k + 1, 384, device=device)

    def train_plain() -> None:
        loss = criterion(net(images, plain_only=True).plain, masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def train_cers() -> None:
        out = net(images, refs, texts)
        loss = criterion(out.plain, masks) + criterion(out.mcam, masks)
        out_u = net(images, refs, texts)  # the unlabelled batch
        loss = loss + mutual_loss(out_u.plain, out_u.mcam)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer_plain() -> None:
        net(images[:1], plain_only=True)

    @torch.no_grad()
    def infer_cers() -> None:
        net(images[:1], refs[:1], texts[:1])

    net.train()
    # interleave the two so that machine noise hits both alike
    plain_train, cers_train = [], []
    for _ in range(repeats):
        plain_train += _timed(train_plain, device, 1, warmup=1 if not plain_train else 0)
        cers_train += _timed(train_cers, device, 1, warmup=1 if not cers_train else 0)
    net.eval()
    plain_infer, cers_infer = [], []
    for _ in range(repeats):
        plain_infer += _timed(infer_plain, device, 3, warmup=1 if not plain_infer else 0)
        cers_infer += _timed(infer_cers, device, 3, warmup=1 if not cers_infer else 0)
    plain_step, cers_step = statistics.median(plain_train), statistics.median(cers_train)
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": size,
        "batch": batch,
        "k": k,
        "channels": list(channels),
        "parameters_millions": sum(p.numel() for p in net.parameters()) / 1e6,
        # a CERS step consumes a labelled and an unlabelled batch
        "train_images_per_s": {"plain_unet": batch / plain_step, "cers": 2 * batch / cers_step},
        "train_slowdown_cers_over_plain": cers_step / plain_step,
        "inference_ms_per_image": {
            "plain_unet": 1000 * statistics.median(plain_infer),
            "cers": 1000 * statistics.median(cers_infer),
        },
        "inference_slowdown_cers_over_plain": statistics.median(cers_infer) / statistics.median(plain_infer),
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
            f"{r['device']} ({r['size']}x{r['size']}, batch {r['batch']}, K={r['k']}, {r['parameters_millions']:.2f}M "
            f"parameters):\n"
            f"  training: plain U-Net {r['train_images_per_s']['plain_unet']:.1f} images/s, "
            f"CERS {r['train_images_per_s']['cers']:.1f} images/s "
            f"(CERS step {r['train_slowdown_cers_over_plain']:.2f}x the plain step)\n"
            f"  inference: plain U-Net {r['inference_ms_per_image']['plain_unet']:.1f} ms/image, "
            f"CERS {r['inference_ms_per_image']['cers']:.1f} ms/image "
            f"({r['inference_slowdown_cers_over_plain']:.2f}x)"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
