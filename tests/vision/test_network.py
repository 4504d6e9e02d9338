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


def test_dense_guidance_score_maps_aux_gradient_and_image_dependent_texts() -> None:
    import torch

    from clinreason.vision.network import CersNet
    from clinreason.vision.train import dense_aux_logits

    torch.manual_seed(0)
    net = CersNet(channels=(4, 8, 8, 16, 16), guidance="dense", texts=3)
    images, refs, texts = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 1, 32, 32), torch.rand(2, 3, 384)
    out = net(images, refs, texts)
    assert out.scores is not None and out.scores.shape == (2, 3, 2, 2)  # one map per text at the bottleneck
    assert out.mcam is not None and out.mcam.shape == (2, 1, 32, 32)
    aux = dense_aux_logits(out.scores, (32, 32))
    assert aux.shape == (2, 1, 32, 32)
    aux.sum().backward()
    pixels = net.dense.pixels.weight.grad  # type: ignore[union-attr]
    assert pixels is not None and pixels.abs().sum() > 0  # the auxiliary loss reaches the pixel embeddings
    assert net.cross.attention.in_proj_weight.grad is None  # the gated cross-attention is not used

    dense = net.dense
    assert dense is not None
    with torch.no_grad():
        dense.gamma.fill_(1.0)  # make the post-model prompting's update visible
        x = net.encoder(torch.rand(2, 1, 32, 32))[-1]
        updated = dense.update_texts(texts[:1].expand(2, -1, -1), x)
    assert not torch.allclose(updated[0], updated[1])  # the same texts, two images: two different updates


def test_dense_guidance_starts_as_the_plain_network() -> None:
    import torch

    from clinreason.vision.network import CersNet

    torch.manual_seed(0)
    net = CersNet(channels=(4, 8, 8, 16, 16), guidance="dense").eval()
    images, refs = torch.rand(1, 1, 32, 32), torch.rand(1, 2, 1, 32, 32)
    with torch.no_grad():
        guided = net(images, refs, torch.rand(1, 3, 384)).mcam
        without = net(images, refs, None).mcam  # no texts: the bottleneck passes unchanged (gate at 0)
    assert torch.allclose(guided, without, atol=1e-6)  # type: ignore[arg-type]  # the zero-initialised fusion
