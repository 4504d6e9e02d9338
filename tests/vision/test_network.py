from __future__ import annotations

import pytest
import torch

from clinreason.vision.network import CersNet, CoordinateGate, GatedCrossAttention

CHANNELS = (4, 8, 8, 16, 16)


@pytest.mark.parametrize("size", [32, 48])
def test_shapes_with_and_without_references(size: int) -> None:
    net = CersNet(channels=CHANNELS, text_dim=12, heads=2)
    images = torch.randn(2, 1, size, size)
    out = net(images, torch.randn(2, 3, 1, size, size), torch.randn(2, 4, 12))
    assert out.plain.shape == out.mcam.shape == (2, 1, size, size)
    assert out.embedding.shape == (2, 16)
    plain = net(images, plain_only=True)
    assert plain.mcam is None and plain.plain.shape == (2, 1, size, size)


def test_mcam_gate_shapes_and_that_it_uses_the_reference() -> None:
    gate = CoordinateGate(8)
    x = torch.randn(2, 8, 6, 10)
    zero = gate(x, torch.zeros(2, 8, 6, 10))
    assert zero.shape == x.shape and torch.allclose(zero, x)  # nothing to fuse: the main stream unchanged
    fused = gate(x, torch.ones(2, 8, 6, 10))
    gates = fused - x  # = a_h * a_w * 1, each gate in (0, 1)
    assert torch.all(gates > 0) and torch.all(gates < 1)
    # coordinate attention: the gate factorises into a row part and a column part (rank one per channel)
    ratio = gates[:, :, :, :1] * gates[:, :, :1, :] / gates[:, :, :1, :1]
    assert torch.allclose(ratio, gates, atol=1e-5)


def test_cross_attention_starts_closed_and_gets_gradients() -> None:
    layer = GatedCrossAttention(16, text_dim=12, heads=2)
    x = torch.randn(2, 16, 3, 3, requires_grad=True)
    refs, texts = torch.randn(2, 4, 16, 3, 3), torch.randn(2, 5, 12)
    out = layer(x, refs, texts)
    assert torch.allclose(out, x)  # tanh(0) = 0: training starts from the plain U-Net
    out.sum().backward()
    assert layer.gate.grad is not None and layer.gate.grad.abs() > 0
    assert layer(x, None, None) is x


def test_every_part_trains_and_references_carry_no_gradient() -> None:
    net = CersNet(channels=CHANNELS, text_dim=12, heads=2)
    with torch.no_grad():
        net.cross.gate.fill_(0.5)
    refs = torch.randn(1, 2, 1, 32, 32, requires_grad=True)
    out = net(torch.randn(1, 1, 32, 32), refs, torch.randn(1, 3, 12))
    (out.plain.mean() + out.mcam.mean()).backward()
    assert refs.grad is None  # the references' features are computed without gradient
    for name in ("encoder", "cross", "plain", "mcam"):
        grads = [p.grad for p in getattr(net, name).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
    with pytest.raises(ValueError, match="5"):
        CersNet(channels=(4, 8, 16))
