"""Metric-learning losses that shape the image embedding for search, added to the classifier's cross-entropy.

The embedding the catalogue searches is the L2-normalised input of the model's linear head (`forward_features`,
the ONNX graph's `embedding` output). Each loss here acts on that vector and needs no parameter of its own:
the proxy losses use the head's rows as class proxies, so a checkpoint, a bundle and the exported graph are
exactly what they were without it.

- `supcon`: supervised contrastive (Khosla et al. 2020) over the batch, one view per image.
- `cosface`: large-margin cosine loss (Wang et al. 2018) against the head's rows.
- `proxy_anchor`: proxy-anchor loss (Kim et al. 2020) with the head's rows as proxies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

METRIC_LOSSES = ("none", "supcon", "cosface", "proxy_anchor")
SUPCON_TEMPERATURE = 0.1
COSFACE_SCALE, COSFACE_MARGIN = 16.0, 0.2
PROXY_ALPHA, PROXY_DELTA = 32.0, 0.1


def network(model: nn.Module) -> nn.Module:
    """The network itself, unwrapped from DistributedDataParallel."""
    return getattr(model, "module", model)


def logits_and_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits and the features its head received in the same forward pass (DDP-wrapped or not)."""
    seen: list[torch.Tensor] = []
    handle = network(model).head.register_forward_pre_hook(lambda _module, args: seen.append(args[0]))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, seen[0]


def supcon_loss(features: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss: each image pulled towards the batch's others of its class, away from the rest."""
    z = F.normalize(features, dim=1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=z.device)
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    count = positives.sum(1)
    has = count > 0
    if not has.any():
        return features.sum() * 0.0
    mean_log_prob = log_prob.masked_fill(~positives, 0.0).sum(1)[has] / count[has]
    return -mean_log_prob.mean()


def _cosines(features: torch.Tensor, proxies: torch.Tensor) -> torch.Tensor:
    return F.normalize(features, dim=1) @ F.normalize(proxies, dim=1).T


def cosface_loss(
    features: torch.Tensor, labels: torch.Tensor, proxies: torch.Tensor, scale: float, margin: float
) -> torch.Tensor:
    """Cross-entropy over scaled cosines to the class proxies, the true class's cosine lowered by a margin."""
    cos = _cosines(features, proxies)
    onehot = F.one_hot(labels, len(proxies)).to(cos.dtype)
    return F.cross_entropy(scale * (cos - margin * onehot), labels)


def proxy_anchor_loss(
    features: torch.Tensor, labels: torch.Tensor, proxies: torch.Tensor, alpha: float, delta: float
) -> torch.Tensor:
    """Proxy-anchor loss: every proxy pulls the batch's images of its class and pushes the others away."""
    cos = _cosines(features, proxies)
    positive = F.one_hot(labels, len(proxies)).bool()
    neg_inf = torch.tensor(float("-inf"), dtype=cos.dtype, device=cos.device)
    pos_lse = torch.logsumexp(torch.where(positive, -alpha * (cos - delta), neg_inf), dim=0)
    neg_lse = torch.logsumexp(torch.where(~positive, alpha * (cos + delta), neg_inf), dim=0)
    with_positives = positive.any(0)
    pos_term = F.softplus(pos_lse[with_positives]).sum() / with_positives.sum().clamp(min=1)
    return pos_term + F.softplus(neg_lse).mean()


def metric_loss(name: str, features: torch.Tensor, labels: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """The named metric loss of these features (the head's inputs) under their labels."""
    if name == "supcon":
        return supcon_loss(features, labels, SUPCON_TEMPERATURE)
    if name == "cosface":
        return cosface_loss(features, labels, network(model).head.weight, COSFACE_SCALE, COSFACE_MARGIN)
    if name == "proxy_anchor":
        return proxy_anchor_loss(features, labels, network(model).head.weight, PROXY_ALPHA, PROXY_DELTA)
    raise ValueError(f"unknown metric loss {name!r} ({', '.join(METRIC_LOSSES)})")
