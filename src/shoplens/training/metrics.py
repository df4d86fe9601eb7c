"""Classification, calibration and human-review metrics: numpy in, JSON-able Python out."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

_EPS = 1e-12
MIN_ACCEPTED_ACCURACY = 0.5  # a threshold no accepted set of answers beats this with reviews everything
_MIN_TEMPERATURE = 1e-2
_MAX_TEMPERATURE = 1e2
MIN_INTERVAL_SAMPLES = 100  # fewer test images: NLL and ECE are reported as "n too small", not as numbers
_BOOTSTRAP_ROUNDS = 200


def _validate(probs: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probs as float (N, K) and labels as int (N,), or a ValueError saying what is wrong."""
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"probs must have shape (N, K) with N, K > 0, got {probs.shape}")
    if y_true.shape != (probs.shape[0],):
        raise ValueError(f"y_true must have shape ({probs.shape[0]},), got {y_true.shape}")
    if not np.issubdtype(y_true.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class indices, got dtype {y_true.dtype}")
    low, high = int(y_true.min()), int(y_true.max())
    if low < 0 or high >= probs.shape[1]:
        raise ValueError(f"y_true values must lie in [0, {probs.shape[1]}), got {low}..{high}")
    return probs, y_true.astype(np.int64)


def _bin_stats(probs: np.ndarray, y_true: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """Edges, and per equal-width (lower, upper] confidence bin: count, mean confidence, accuracy."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    probs, y_true = _validate(probs, y_true)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    correct_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    safe = np.maximum(count, 1)
    return edges, count, conf_sum / safe, correct_sum / safe


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """Count-weighted mean |accuracy - confidence| over equal-width max-probability bins."""
    _, count, conf, acc = _bin_stats(probs, y_true, n_bins)
    return float(np.sum(count * np.abs(acc - conf)) / count.sum())


def reliability_bins(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> dict:
    """Per confidence bin: edges, mean confidence, accuracy and count (None where a bin is empty)."""
    edges, count, conf, acc = _bin_stats(probs, y_true, n_bins)
    filled = count > 0
    return {
        "bin_lower": [float(x) for x in edges[:-1]],
        "bin_upper": [float(x) for x in edges[1:]],
        "confidence": [float(c) if f else None for c, f in zip(conf, filled)],
        "accuracy": [float(a) if f else None for a, f in zip(acc, filled)],
        "count": [int(c) for c in count],
    }


def _top_k_accuracy(probs: np.ndarray, y_true: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the k most probable."""
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == y_true[:, None], axis=1)))


def _nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean negative log-probability of the true class."""
    p = probs[np.arange(len(y_true)), y_true]
    return 0.0 - float(np.mean(np.log(np.clip(p, _EPS, 1.0))))  # 0.0 - x: a perfect score is 0.0, not -0.0


def _ece(probs: np.ndarray, y_true: np.ndarray) -> float:
    """ECE with the report's 15 bins."""
    return expected_calibration_error(probs, y_true, n_bins=15)


def bootstrap_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float], probs: np.ndarray, y_true: np.ndarray, seed: int = 0
) -> list[float] | None:
    """95 % percentile-bootstrap interval of statistic(probs, y_true); None below MIN_INTERVAL_SAMPLES samples."""
    n = len(y_true)
    if n < MIN_INTERVAL_SAMPLES:
        return None
    rng = np.random.default_rng(seed)
    values = [statistic(probs[idx], y_true[idx]) for idx in rng.integers(0, n, (_BOOTSTRAP_ROUNDS, n))]
    low, high = np.percentile(values, [2.5, 97.5])
    return [0.0 + float(low), 0.0 + float(high)]


def describe_estimate(metrics: dict, key: str) -> str:
    """'0.0123 (95 % CI 0.0100–0.0150)', or 'n too small (27 samples)' when no interval could be given."""
    value, interval = metrics.get(key), metrics.get(f"{key}_interval")
    if value is None:
        return "—"
    if not interval:
        return f"n too small ({metrics.get('num_samples', '?')} samples)"
    return f"{0.0 + value:.4f} (95 % CI {interval[0]:.4f}–{interval[1]:.4f})"


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, top-3, macro and per-class P/R/F1, confusion matrix, ECE and NLL as a JSON-able dict."""
    probs, y_true = _validate(probs, y_true)
    k = probs.shape[1]
    if len(class_names) != k:
        raise ValueError(f"{len(class_names)} class names for {k} probability columns")
    labels = list(range(k))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    per_class = {
        str(name): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(np.mean(y_pred == y_true)),
        "top3_accuracy": _top_k_accuracy(probs, y_true, min(3, k)),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "macro_f1": float(np.mean(f1)),
        "per_class": per_class,
        "confusion_matrix": cm.astype(int).tolist(),
        "ece": _ece(probs, y_true),
        "ece_interval": bootstrap_interval(_ece, probs, y_true),
        "nll": _nll(probs, y_true),
        "nll_interval": bootstrap_interval(_nll, probs, y_true),
        "num_samples": len(y_true),
        "labels": [str(name) for name in class_names],  # the order of confusion_matrix's rows and columns
    }


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """Temperature T in [0.01, 100] minimising the NLL of softmax(logits / T) on (logits, y_true)."""
    logits = np.asarray(logits, dtype=np.float64)
    _, y_true = _validate(logits, y_true)
    true_logit = logits[np.arange(len(y_true)), y_true]

    def nll(log_t: float) -> float:
        inv_t = math.exp(-log_t)
        return float(np.mean(logsumexp(logits * inv_t, axis=1) - true_logit * inv_t))

    # NLL is convex in 1/T, hence unimodal in log T: a bounded scalar search finds its minimum.
    bounds = (math.log(_MIN_TEMPERATURE), math.log(_MAX_TEMPERATURE))
    result = minimize_scalar(nll, bounds=bounds, method="bounded", options={"xatol": 1e-6})
    return float(math.exp(result.x))


def _confidence_and_correct(probs: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max probability and whether the argmax is right, per sample."""
    probs, y_true = _validate(probs, y_true)
    return probs.max(axis=1), probs.argmax(axis=1) == y_true


def choose_review_threshold(probs_val: np.ndarray, y_val: np.ndarray, target_accuracy: float = 0.98) -> float:
    """Smallest confidence threshold whose accepted predictions reach target_accuracy on validation; when none
    does, the one whose accepted predictions are right most often — unless that is under MIN_ACCEPTED_ACCURACY,
    when 1.0 sends every answer to review."""
    conf, correct = _confidence_and_correct(probs_val, y_val)
    if correct.mean() >= target_accuracy - _EPS:
        return 0.0
    order = np.argsort(-conf, kind="stable")
    conf, correct = conf[order], correct[order]
    accepted_acc = np.cumsum(correct) / np.arange(1, len(conf) + 1)
    # A threshold t accepts every sample with confidence >= t, so only the last of equal confidences counts.
    last_of_group = np.append(conf[1:] != conf[:-1], True)
    thresholds, accs = conf[last_of_group], accepted_acc[last_of_group]
    reaching = np.flatnonzero(accs >= target_accuracy - _EPS)
    if reaching.size:
        return float(thresholds[reaching[-1]])
    if accs.max() < MIN_ACCEPTED_ACCURACY:  # however sure, its answers are wrong more often than right
        return 1.0
    best = np.flatnonzero(accs == accs.max())
    return float(thresholds[best[-1]])


def review_stats(
    probs: np.ndarray, y_true: np.ndarray, threshold: float, class_thresholds: np.ndarray | None = None
) -> dict:
    """What reviewing predictions under the threshold (per predicted class, if given) flags, catches, leaves."""
    conf, correct = _confidence_and_correct(probs, y_true)
    cutoff = np.asarray(class_thresholds)[probs.argmax(axis=1)] if class_thresholds is not None else threshold
    flagged = conf < cutoff
    errors = ~correct
    accepted = ~flagged
    error_count = int(errors.sum())
    return {
        "threshold": float(threshold),
        "flagged_share": float(flagged.mean()),
        "errors_caught_share": float((errors & flagged).sum() / error_count) if error_count else 0.0,
        "accepted_accuracy": float(correct[accepted].mean()) if accepted.any() else None,
        "flagged_count": int(flagged.sum()),
        "error_count": error_count,
    }
