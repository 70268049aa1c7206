"""Small PyTorch models for the pytorch flavor tests, trained briefly with fixed seeds.

The classes live in this importable module because a whole-module pickle refers to its class by
name: the loading process (mlnb's or MLflow's) must be able to import it.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn

from _models import classification, regression


class Classifier(nn.Module):
    """A two-layer net returning class probabilities (dropout makes eval mode matter)."""

    def __init__(self, n_features: int, n_classes: int = 2) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_features, 16)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(16, n_classes)

    def forward(self, x):
        return torch.softmax(self.out(self.dropout(torch.relu(self.hidden(x)))), dim=1)


class TwoInputs(nn.Module):
    """A model whose forward takes two named tensors (for dict-of-arrays input)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 1)
        self.b = nn.Linear(2, 1)

    def forward(self, left, right):
        return self.a(left) + self.b(right)


def _fit(model: nn.Module, X: pd.DataFrame, y: np.ndarray, loss_fn, epochs: int = 30) -> nn.Module:
    inputs = torch.tensor(X.to_numpy(np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(epochs):
        opt.zero_grad()
        loss_fn(model(inputs), y).backward()
        opt.step()
    return model.eval()


@functools.lru_cache(maxsize=None)
def trained(kind: str) -> tuple[nn.Module, pd.DataFrame]:
    """A trained model of ``kind`` ("regression": a Sequential MLP; "classifier": ``Classifier``)
    and its training frame. Cached: callers must not train it further."""
    torch.manual_seed(0)
    if kind == "regression":
        X, y = regression()
        model = nn.Sequential(nn.Linear(X.shape[1], 8), nn.ReLU(), nn.Linear(8, 1))
        target = torch.from_numpy((y / y.std()).astype(np.float32)).reshape(-1, 1)
        return _fit(model, X, target, nn.functional.mse_loss), X
    X, y = classification()
    target = torch.from_numpy(y.astype(np.int64))
    return _fit(Classifier(X.shape[1]), X, target, lambda p, t: nn.functional.nll_loss(torch.log(p), t)), X


def native_predict(model: nn.Module, X) -> np.ndarray:
    """What the module itself gives for ``X`` (a DataFrame as one float32 tensor), without grad."""
    data = X.to_numpy(np.float32) if isinstance(X, pd.DataFrame) else X
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas hands out read-only arrays; forward only reads
        return model(torch.from_numpy(data)).numpy()
