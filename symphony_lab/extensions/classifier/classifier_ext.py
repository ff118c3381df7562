"""The ``classifier`` instrument: a small torch MLP over bag-of-words features.

Bag-of-words keeps it self-contained (no other extension to call, no model
to download) and fast to train on a CPU. A trained model is one artifact:
weights, vocabulary and class labels saved with ``torch.save`` and read back
with ``weights_only=True``, so loading a hash can never run code. Seeds and
a single thread make training deterministic, hence the same data gives the
same bytes and the same hash.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from symphony_lab.sdk import Context, instrument

if TYPE_CHECKING:
    import torch

KIND = "classifier"
TOKEN = re.compile(r"[\w']+")
_defaults: dict[str, Any] = {"hidden": 32, "lr": 0.05, "max_features": 5000, "seed": 0}


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def features(texts: list[str], vocab: list[str]) -> torch.Tensor:
    """Rows of log-scaled word counts, L2-normalized (words outside ``vocab`` ignored)."""
    import torch

    index = {w: i for i, w in enumerate(vocab)}
    x = torch.zeros(len(texts), len(vocab))
    for row, text in enumerate(texts):
        for word, n in Counter(tokens(text)).items():
            if word in index:
                x[row, index[word]] = float(n)
    return torch.nn.functional.normalize(torch.log1p(x), dim=1)


def network(inputs: int, hidden: int, classes: int) -> torch.nn.Module:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes)
    )


def _check_texts(texts: object) -> list[str]:
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of strings")
    return texts


@instrument
def train(
    texts: list[str],
    labels: list[str | int],
    epochs: int = 100,
    hidden: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    *,
    ctx: Context,
) -> dict[str, Any]:
    """Trains on ``texts`` -> ``labels`` (full batch, Adam) and stores the
    model: ``{"hash", "classes", "train_accuracy", "loss"}``."""
    import torch

    _check_texts(texts)
    if not isinstance(labels, list) or len(labels) != len(texts):
        raise ValueError(
            f"labels must be a list as long as texts ({len(texts)}), "
            f"got {len(labels) if isinstance(labels, list) else type(labels).__name__}"
        )
    if not texts:
        raise ValueError("nothing to train on: texts is empty")
    if len({type(label) for label in labels}) > 1 or not isinstance(labels[0], (str, int)):
        raise TypeError("labels must be all strings or all integers")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"need at least two classes to train, got only {classes!r}")
    hidden = int(hidden or _defaults["hidden"])
    seed = int(_defaults["seed"] if seed is None else seed)
    counts = Counter(w for t in texts for w in set(tokens(t)))
    vocab = sorted(counts, key=lambda w: (-counts[w], w))[: int(_defaults["max_features"])]
    if not vocab:
        raise ValueError("the texts contain no words to learn from")

    torch.manual_seed(seed)
    x = features(texts, vocab)
    y = torch.tensor([classes.index(label) for label in labels])
    net = network(len(vocab), hidden, len(classes))
    opt = torch.optim.Adam(net.parameters(), lr=float(lr or _defaults["lr"]))
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(epochs):
        if epoch % 10 == 0 and ctx.cancelled:
            raise InterruptedError(f"training cancelled by the host after {epoch} epochs")
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x).argmax(1) == y).float().mean())
        final = float(loss_fn(net(x), y))
    buf = io.BytesIO()
    torch.save({"weights": net.state_dict(), "vocab": vocab, "classes": classes}, buf)
    digest = ctx.put(buf.getvalue(), kind=KIND, media_type="application/x-pytorch")
    return {"hash": digest, "classes": classes, "train_accuracy": accuracy, "loss": final}


def restore(data: bytes, model: str) -> tuple[torch.nn.Module, list[str], list[Any]]:
    """The network, vocabulary and classes saved by :func:`train`."""
    import torch

    try:
        saved = torch.load(io.BytesIO(data), weights_only=True)
        weights, vocab, classes = saved["weights"], saved["vocab"], saved["classes"]
    except Exception as e:
        raise ValueError(f"artifact {model} is not a classifier saved by train: {e}") from None
    hidden = weights["0.weight"].shape[0]
    net = network(len(vocab), hidden, len(classes))
    net.load_state_dict(weights)
    net.eval()
    return net, vocab, classes


@instrument
def predict(texts: list[str], model: str, *, ctx: Context) -> list[str | int]:
    """The most likely class of each text under the stored ``model``."""
    import torch

    _check_texts(texts)
    net, vocab, classes = restore(ctx.get(model), model)
    if not texts:
        return []
    with torch.no_grad():
        best = net(features(texts, vocab)).argmax(1).tolist()
    return [classes[i] for i in best]


@train.configure
def _configure(config: dict[str, Any]) -> None:
    """Sets default hyperparameters; importing torch here moves its cost to start-up."""
    import torch

    unknown = set(config) - set(_defaults)
    if unknown:
        raise ValueError(
            f"unknown classifier setting(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_defaults))}"
        )
    _defaults.update(config)
    torch.set_num_threads(1)


@train.health_check
def _healthy() -> bool:
    import torch

    out = network(3, 2, 2)(torch.ones(1, 3))
    return tuple(out.shape) == (1, 2)
