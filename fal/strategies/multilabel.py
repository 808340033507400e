"""Query scores for multi-label data (sigmoid outputs, one probability per label: KAFAL's Table 4 on NIH
ChestX-ray14), each the multi-label reading of a single-label method's score, with the same ranking
convention as that method's module (fal.strategies.methods):

- Entropy: minus the binary entropy of each label, averaged over labels; the lowest scores are queried.
- Margin: each label's gap between its two outcomes, |p − (1 − p)| = |2p − 1|, averaged over labels;
  the smallest are queried.
- KSAS (KAFAL, fal.strategies.methods.ksas): the symmetric KL divergence between the client model's and the global model's
  knowledge-specialised outputs, the largest queried. Neither the paper nor the official code (which
  has no multi-label path) says how to specialise sigmoid outputs; two readings are offered
  (``KSAS_MULTILABEL_PRIORS``):
  ``log_odds`` (default) treats each label as the two-class problem it is: the single-label rule adds
  λ·log n_c to each class's logit, which for a label's two outcomes (n⁺ images with it, n⁻ without)
  shifts its sigmoid logit by λ·log(n⁺/n⁻); D sums the Bernoulli KL terms over the labels, leaving out
  labels the client has no positive or no negative example of (λ ≠ 0), as the single-label rule leaves
  out classes the client does not hold. ``softmax`` applies the single-label rule to the label logits
  as if they were one categorical distribution, with n⁺ as the counts.
- Core-Set and Random need no change: Core-Set works on the penultimate features, Random on nothing.
"""

from __future__ import annotations

import torch


def negative_mean_binary_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Per sample: minus the mean over labels of H(p) = −p log p − (1 − p) log(1 − p); lowest = most uncertain."""
    return (torch.xlogy(probs, probs) + torch.xlogy(1 - probs, 1 - probs)).mean(dim=1)  # xlogy: 0·log 0 = 0


def mean_label_margin(probs: torch.Tensor) -> torch.Tensor:
    """Per sample: the mean over labels of |2p − 1|; smallest = most uncertain."""
    return (2 * probs - 1).abs().mean(dim=1)
