"""The CERS network on MONAI building blocks.

- A U-Net encoder (MONAI `ResidualUnit`s, 4 down-sampling stages and a bottleneck) shared by the image
  and its K reference images.
- At the bottleneck, gated cross-attention from the image's tokens to the references' tokens and to
  the reasoning texts' embeddings (the image's own and the references'), added through a tanh gate
  that starts at 0, so training starts from the plain U-Net (Flamingo-style gating).
- Two decoders: `plain` (a U-Net decoder) and `mcam`, whose 4 stages each fuse the references'
  features of that scale into the main stream through a coordinate-attention gate (MCAM; coordinate
  attention after Hou et al., CVPR 2021: pooling along height and along width keeps where the evidence
  lies in each direction).
- Without references (`refs=None`) both decoders reduce to plain U-Net decoders: this is how the
  supervised baseline runs.
- `guidance="dense"` replaces the gated cross-attention by DenseCLIP's dense pixel-text guidance (Rao et
  al., CVPR 2022): the text embeddings (class prompts and the image's reasoning) are first updated by
  attending to the image's bottleneck tokens (post-model vision-to-language prompting, a small
  transformer decoder added residually with a scale that starts near 0), then compared with every
  bottleneck pixel's embedding (cosine, temperature 0.07) into score maps, which are concatenated to
  the bottleneck features (through a zero-initialised 1x1 convolution, so training starts from the
  U-Net) and supervised by an auxiliary segmentation loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn


@dataclass(frozen=True)
class CersOutput:
    plain: torch.Tensor | None  # logits (B, 1, H, W) of the decoder without MCAM (None: `mcam_only`)
    mcam: torch.Tensor | None  # logits of the decoder with MCAM (None when only the plain one ran)
    embedding: torch.Tensor  # (B, C) pooled bottleneck: the image embedding of the knowledge pool
    scores: torch.Tensor | None = None  # dense guidance: pixel-text score maps (B, T, h, w)


class Encoder(nn.Module):
    def __init__(self, in_channels: int, channels: Sequence[int]) -> None:
        super().__init__()
        stages = [ResidualUnit(2, in_channels, channels[0], strides=1, subunits=2)]
        for before, after in zip(channels[:-1], channels[1:], strict=True):
            stages.append(ResidualUnit(2, before, after, strides=2, subunits=2))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features  # full resolution first, bottleneck last


class CoordinateGate(nn.Module):
    """MCAM at one scale: out = x + a_h * a_w * r, the gates computed from [x; r] pooled along each axis."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.reduce = nn.Sequential(nn.Conv2d(2 * channels, hidden, 1), nn.BatchNorm2d(hidden), nn.Hardswish())
        self.to_h = nn.Conv2d(hidden, channels, 1)
        self.to_w = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        both = torch.cat([x, reference], dim=1)
        height, width = both.shape[2], both.shape[3]
        pooled_h = both.mean(dim=3, keepdim=True)  # (B, 2C, H, 1)
        pooled_w = both.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, 2C, W, 1)
        mixed = self.reduce(torch.cat([pooled_h, pooled_w], dim=2))
        gate_h = torch.sigmoid(self.to_h(mixed[:, :, :height]))  # (B, C, H, 1)
        gate_w = torch.sigmoid(self.to_w(mixed[:, :, height : height + width]).transpose(2, 3))  # (B, C, 1, W)
        return x + gate_h * gate_w * reference


class GatedCrossAttention(nn.Module):
    """Bottleneck tokens attend to the references' tokens and the reasoning embeddings; tanh gate at 0."""

    def __init__(self, channels: int, text_dim: int, heads: int = 4) -> None:
        super().__init__()
        self.text = nn.Linear(text_dim, channels)
        self.norm = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, references: torch.Tensor | None, texts: torch.Tensor | None) -> torch.Tensor:
        batch, channels, height, width = x.shape
        queries = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        memory = []
        if references is not None:  # (B, K, C, h, w) -> (B, K*h*w, C)
            memory.append(references.flatten(3).permute(0, 1, 3, 2).reshape(batch, -1, channels))
        if texts is not None:  # (B, T, text_dim)
            memory.append(self.text(texts))
        if not memory:
            return x
        keys = self.norm(torch.cat(memory, dim=1))
        attended, _ = self.attention(self.norm(queries), keys, keys, need_weights=False)
        out = queries + torch.tanh(self.gate) * attended
        return out.transpose(1, 2).reshape(batch, channels, height, width)


class DenseGuidance(nn.Module):
    """DenseCLIP's pixel-text score maps at the bottleneck, with context-aware (post-model) prompting."""

    def __init__(
        self, channels: int, text_dim: int, texts: int, dim: int = 64, heads: int = 4, layers: int = 1
    ) -> None:
        super().__init__()
        self.text = nn.Linear(text_dim, dim)
        self.visual = nn.Linear(channels, dim)
        self.pixels = nn.Conv2d(channels, dim, 1)
        layer = nn.TransformerDecoderLayer(dim, heads, dim_feedforward=2 * dim, batch_first=True, norm_first=True)
        self.context = nn.TransformerDecoder(layer, layers)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-4))  # DenseCLIP's small initial update scale
        self.temperature = 0.07
        self.fuse = nn.Conv2d(channels + texts, channels, 1)  # zero at first: training starts from the U-Net
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)  # type: ignore[arg-type]  # a Conv2d built with bias has one

    def update_texts(self, texts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) text embeddings after attending to the image's (B, C, h, w) bottleneck."""
        prompts = self.text(texts)
        visual = self.visual(x.flatten(2).transpose(1, 2))
        return prompts + self.gamma * self.context(prompts, visual)

    def score_maps(self, x: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        pixels = nn.functional.normalize(self.pixels(x), dim=1)
        words = nn.functional.normalize(texts, dim=-1)
        return torch.einsum("bdhw,btd->bthw", pixels, words) / self.temperature

    def forward(self, x: torch.Tensor, texts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score_maps(x, self.update_texts(texts, x))
        return x + self.fuse(torch.cat([x, scores], dim=1)), scores


class Decoder(nn.Module):
    def __init__(self, channels: Sequence[int], mcam: bool) -> None:
        super().__init__()
        ups, fuses, gates = [], [], []
        for deep, shallow in zip(reversed(channels[1:]), reversed(channels[:-1]), strict=True):
            ups.append(Convolution(2, deep, shallow, strides=2, kernel_size=3, is_transposed=True))
            fuses.append(ResidualUnit(2, 2 * shallow, shallow, strides=1, subunits=1))
            gates.append(CoordinateGate(shallow) if mcam else nn.Identity())
        self.ups, self.fuses, self.gates = nn.ModuleList(ups), nn.ModuleList(fuses), nn.ModuleList(gates)
        self.head = Convolution(2, channels[0], 1, kernel_size=1, conv_only=True)
        self.mcam = mcam

    def forward(self, features: list[torch.Tensor], references: list[torch.Tensor] | None) -> torch.Tensor:
        x = features[-1]
        for stage, (up, fuse, gate) in enumerate(zip(self.ups, self.fuses, self.gates, strict=True)):
            skip = features[-2 - stage]
            x = up(x)
            if x.shape[2:] != skip.shape[2:]:
                x = nn.functional.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
            x = fuse(torch.cat([x, skip], dim=1))
            if self.mcam and references is not None:
                x = gate(x, references[-2 - stage])
        return self.head(x)


class CersNet(nn.Module):
    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        text_dim: int = 384,
        heads: int = 4,
        guidance: Literal["cross", "dense"] = "cross",
        texts: int = 3,
    ) -> None:
        """`texts`: for dense guidance, the number of texts per image (2 class prompts + the reasoning)."""
        super().__init__()
        if len(channels) != 5:
            raise ValueError("channels: one per encoder stage, 5 (4 decoder stages with MCAM)")
        self.channels = tuple(channels)
        self.guidance = guidance
        self.encoder = Encoder(in_channels, channels)
        self.cross = GatedCrossAttention(channels[-1], text_dim, heads)
        self.dense: DenseGuidance | None = None
        if guidance == "dense":
            self.dense = DenseGuidance(channels[-1], text_dim, texts, heads=heads)
        self.plain = Decoder(channels, mcam=False)
        self.mcam = Decoder(channels, mcam=True)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)[-1].mean(dim=(2, 3))

    @torch.no_grad()
    def encode_references(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's features of reference images (N, 1, H, W) at every scale, for the knowledge
        pool's cache: the same features `forward` computes from reference images (the encoder has no
        batch statistics: MONAI's residual units use instance norm)."""
        return self.encoder(images)

    def forward(
        self,
        images: torch.Tensor,
        references: torch.Tensor | None = None,
        texts: torch.Tensor | None = None,
        *,
        plain_only: bool = False,
        mcam_only: bool = False,
        reference_features: Sequence[torch.Tensor] | None = None,
    ) -> CersOutput:
        """images (B, 1, H, W); references (B, K, 1, H, W) or None; texts (B, T, text_dim) or None (the
        image's reasoning embedding first, then the references'). The references' features are computed
        without gradient: they are knowledge for this step, and it keeps training K+1 times cheaper.
        `reference_features` (one (B, K, C, h, w) tensor per scale, from `encode_references`) replaces
        `references`: the knowledge pool's cached features, not encoded again for every image.
        `mcam_only` skips the plain decoder (prediction reads the MCAM decoder only)."""
        features = self.encoder(images)
        embedding = features[-1].mean(dim=(2, 3))
        if plain_only:
            return CersOutput(plain=self.plain(features, None), mcam=None, embedding=embedding)
        fused = None
        per_scale: Sequence[torch.Tensor] | None = reference_features
        if per_scale is None and references is not None:
            batch, k = references.shape[:2]
            with torch.no_grad():
                encoded = self.encoder(references.flatten(0, 1))
            per_scale = [f.reshape(batch, k, *f.shape[1:]) for f in encoded]
        if per_scale is not None:
            fused = [f.mean(dim=1) for f in per_scale]  # the references' mean at each scale: the MCAM input
            bottleneck = per_scale[-1]
        else:
            bottleneck = None
        scores = None
        if self.dense is not None and texts is not None:
            guided, scores = self.dense(features[-1], texts)
        else:
            guided = self.cross(features[-1], bottleneck, texts)
        features = [*features[:-1], guided]
        plain = None if mcam_only else self.plain(features, None)
        return CersOutput(plain=plain, mcam=self.mcam(features, fused), embedding=embedding, scores=scores)
