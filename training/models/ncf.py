"""Neural collaborative filtering (He et al. 2017): GMF, MLP and NeuMF in TensorFlow/Keras.

Implicit objective: every interaction the user wanted is a positive, `negatives` unobserved items
per positive are drawn afresh each epoch, binary cross-entropy (the paper's setting). Explicit
objective: the same networks with a linear head regress the rating (mean squared error).

Training reads batches through tf.data, evaluates a validation split after every epoch (nDCG@10
over the whole catalogue for the implicit objective, RMSE for the explicit one), keeps the best
epoch's weights and stops after `patience` epochs without improvement. With `refit`, the network
is then trained again on all the training data for the best number of epochs. Runs are
deterministic for a seed (Keras seeds plus TensorFlow op determinism).

Scoring a catalogue does not call Keras: the layers' weights are read into numpy once, the item
side of the first MLP layer and the GMF output weights are folded into per-item matrices, so a
user's scores are a few dense matrix products over the catalogue.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from training import metrics
from training.base import ModelError, Recommender, top_k_indices
from training.feedback import as_ratings, positives
from training.splits import stratified_split

ARCHITECTURES = ("gmf", "mlp", "neumf")
OBJECTIVES = ("implicit", "explicit")
KERAS_FILE = "ncf.keras"
VALID_K = 10


class NeuralCF(Recommender):
    """GMF / MLP / NeuMF. `factors` is the GMF embedding size; the MLP embeddings are half the
    first MLP layer, as in the paper's tower."""

    name = "ncf"
    epoch_based = True
    costly_scoring = True

    def __init__(
        self,
        architecture: str = "neumf",
        objective: str = "implicit",
        factors: int = 32,
        mlp_layers: tuple[int, ...] = (64, 32, 16),
        negatives: int = 4,
        epochs: int = 30,
        batch_size: int = 1024,
        learning_rate: float = 0.001,
        l2: float = 0.0,
        dropout: float = 0.0,
        patience: int = 3,
        validation_share: float = 0.1,
        refit: bool = True,
        seed: int = 42,
    ):
        if architecture not in ARCHITECTURES:
            raise ModelError(f"ncf: architecture '{architecture}' is not one of {', '.join(ARCHITECTURES)}")
        if objective not in OBJECTIVES:
            raise ModelError(f"ncf: objective '{objective}' is not one of {', '.join(OBJECTIVES)}")
        self.architecture = architecture
        self.objective = objective
        self.factors = int(factors)
        self.mlp_layers = tuple(int(x) for x in mlp_layers)
        self.negatives = int(negatives)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.l2 = float(l2)
        self.dropout = float(dropout)
        self.patience = int(patience)
        self.validation_share = float(validation_share)
        self.refit = bool(refit)
        self.seed = int(seed)

    @property
    def predicts_ratings(self) -> bool:  # type: ignore[override]
        return self.objective == "explicit"

    # -- the network ------------------------------------------------------------------

    def _build(self, n_users: int, n_items: int):
        import tensorflow as tf

        keras = tf.keras
        reg = keras.regularizers.l2(self.l2) if self.l2 > 0 else None
        user = keras.Input(shape=(), dtype="int32", name="user")
        item = keras.Input(shape=(), dtype="int32", name="item")
        init = keras.initializers.RandomNormal(stddev=0.01, seed=self.seed)
        towers = []
        if self.architecture in ("gmf", "neumf"):
            pu = keras.layers.Embedding(n_users, self.factors, embeddings_initializer=init,
                                        embeddings_regularizer=reg, name="user_gmf")(user)
            qi = keras.layers.Embedding(n_items, self.factors, embeddings_initializer=init,
                                        embeddings_regularizer=reg, name="item_gmf")(item)
            towers.append(keras.layers.Multiply(name="gmf")([pu, qi]))
        if self.architecture in ("mlp", "neumf"):
            half = max(1, self.mlp_layers[0] // 2)
            pm = keras.layers.Embedding(n_users, half, embeddings_initializer=init,
                                        embeddings_regularizer=reg, name="user_mlp")(user)
            qm = keras.layers.Embedding(n_items, half, embeddings_initializer=init,
                                        embeddings_regularizer=reg, name="item_mlp")(item)
            x = keras.layers.Concatenate(name="mlp_in")([pm, qm])
            for depth, width in enumerate(self.mlp_layers):
                x = keras.layers.Dense(width, activation="relu", kernel_regularizer=reg,
                                       kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + depth),
                                       name=f"mlp_{depth}")(x)
                if self.dropout > 0:
                    x = keras.layers.Dropout(self.dropout, seed=self.seed + depth, name=f"dropout_{depth}")(x)
            towers.append(x)
        joined = towers[0] if len(towers) == 1 else keras.layers.Concatenate(name="neumf")(towers)
        activation = "sigmoid" if self.objective == "implicit" else None
        out = keras.layers.Dense(1, activation=activation, name="output",
                                 kernel_initializer=keras.initializers.LecunUniform(seed=self.seed))(joined)
        model = keras.Model([user, item], keras.layers.Reshape((), name="score")(out))
        loss = "binary_crossentropy" if self.objective == "implicit" else "mean_squared_error"
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=loss)
        return model

    # -- training data ----------------------------------------------------------------

    def _examples(self, train: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user positions, item positions, targets) the network learns from before sampling."""
        if self.objective == "implicit":
            pairs = positives(train)
            return self.users.positions(pairs["user_id"]), self.items.positions(pairs["item_id"]), np.ones(len(pairs))
        ratings = as_ratings(train)
        return (
            self.users.positions(ratings["user_id"]),
            self.items.positions(ratings["item_id"]),
            ratings["rating"].to_numpy(np.float64) - self.global_mean,
        )

    def _epoch_arrays(self, u, i, y, interacted_keys: np.ndarray, epoch: int):
        """One epoch's examples: the positives plus freshly drawn negatives (implicit only)."""
        if self.objective == "explicit" or self.negatives == 0:
            return u, i, y
        rng = np.random.default_rng([self.seed, epoch])
        n_items = len(self.items)
        neg_u = np.repeat(u, self.negatives)
        neg_i = rng.integers(0, n_items, len(neg_u))
        # Redraw negatives that hit an item the user interacted with (a few rounds suffice).
        for _ in range(20):
            clash = np.isin(neg_u.astype(np.int64) * n_items + neg_i, interacted_keys)
            if not clash.any():
                break
            neg_i[clash] = rng.integers(0, n_items, int(clash.sum()))
        return (
            np.concatenate([u, neg_u]),
            np.concatenate([i, neg_i]),
            np.concatenate([y, np.zeros(len(neg_u))]),
        )

    def _dataset(self, u, i, y, epoch: int):
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices(
            ({"user": u.astype(np.int32), "item": i.astype(np.int32)}, y.astype(np.float32))
        )
        ds = ds.shuffle(len(u), seed=self.seed + epoch, reshuffle_each_iteration=False)
        return ds.batch(self.batch_size).prefetch(tf.data.AUTOTUNE)

    # -- fit --------------------------------------------------------------------------

    def _fit(self, train, *, items, valid, callbacks) -> None:
        import tensorflow as tf

        tf.keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        ratings = as_ratings(train)["rating"]
        self.global_mean = float(ratings.mean()) if self.objective == "explicit" else 0.0
        self.rating_scale = (float(ratings.min()), float(ratings.max()))
        if valid is None and self.validation_share > 0:
            train, valid = stratified_split(train, 1.0 - self.validation_share, self.seed)
        best_epoch = self._train(train, valid, callbacks, self.epochs)
        if self.refit and valid is not None and len(valid):
            tf.keras.utils.set_random_seed(self.seed)
            self._train(pd.concat([train, valid], ignore_index=True), None, (), best_epoch + 1)
        self.history_best_epoch = best_epoch

    def _train(self, train: pd.DataFrame, valid: pd.DataFrame | None, callbacks, epochs: int) -> int:
        """Train a fresh network for up to `epochs`; keep the best validated epoch's weights."""
        net = self._build(len(self.users), len(self.items))
        u, i, y = self._examples(train)
        keys = np.unique(self.users.positions(train["user_id"]) * len(self.items) + self.items.positions(train["item_id"]))
        best = (-np.inf, 0, net.get_weights())
        waited = 0
        for epoch in range(epochs):
            eu, ei, ey = self._epoch_arrays(u, i, y, keys, epoch)
            history = net.fit(self._dataset(eu, ei, ey, epoch), epochs=1, verbose=0, shuffle=False)
            report = {"loss": float(history.history["loss"][-1])}
            self._read_weights(net)
            if valid is not None and len(valid):
                report.update(self._validate(train, valid))
                quality = report[f"val_ndcg@{VALID_K}"] if self.objective == "implicit" else -report["val_rmse"]
            else:
                quality = epoch  # nothing to validate on: the last epoch is the best
            stop = any(bool(cb(epoch, report)) for cb in callbacks)
            if quality > best[0]:
                best, waited = (quality, epoch, net.get_weights()), 0
            else:
                waited += 1
            if stop or waited >= self.patience:
                break
        net.set_weights(best[2])
        self.network = net
        self._read_weights(net)
        return best[1]

    def _validate(self, train: pd.DataFrame, valid: pd.DataFrame) -> dict[str, float]:
        if self.objective == "explicit":
            ratings = as_ratings(valid)
            pred = self.predict(ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy())
            return {"val_rmse": metrics.rmse(ratings["rating"], pred)}
        truth = positives(valid)
        truth = truth[self.users.positions(truth["user_id"]) >= 0]
        grouped = truth.groupby("user_id")["item_id"].apply(np.asarray)
        u = self.users.positions(grouped.index.to_numpy())
        scores = self.score_users(u)
        seen = train[["user_id", "item_id"]]
        su, si = self.users.positions(seen["user_id"]), self.items.positions(seen["item_id"])
        lookup = {int(x): n for n, x in enumerate(u)}
        rows = np.array([lookup.get(int(x), -1) for x in su])
        scores[rows[rows >= 0], si[rows >= 0]] = -np.inf
        ranked = self.items.ids[top_k_indices(scores, VALID_K)]
        hits = metrics.hit_matrix(ranked, list(grouped.to_numpy()))
        n_rel = grouped.map(len).to_numpy()
        return {f"val_ndcg@{VALID_K}": metrics.ndcg_at_k(hits, n_rel, VALID_K),
                f"val_hr@{VALID_K}": metrics.hit_rate_at_k(hits, n_rel, VALID_K)}

    # -- numpy scoring ----------------------------------------------------------------

    def _read_weights(self, net) -> None:
        """Fold the network into numpy arrays for catalogue scoring."""
        names = {layer.name: layer for layer in net.layers}
        w_out, b_out = names["output"].get_weights()
        w_out = w_out[:, 0]
        self.np_bias = np.float32(b_out[0])
        self.np_user_gmf = self.np_item_gmf = None
        self.np_user_mlp = None
        offset = 0
        if "user_gmf" in names:
            self.np_user_gmf = names["user_gmf"].get_weights()[0].astype(np.float32)
            # h . (p * q) = p . (q * h): the output weights fold into the item embeddings.
            self.np_item_gmf = (names["item_gmf"].get_weights()[0] * w_out[: self.factors]).astype(np.float32)
            offset = self.factors
        if "user_mlp" in names:
            user_mlp = names["user_mlp"].get_weights()[0]
            item_mlp = names["item_mlp"].get_weights()[0]
            dense = [names[f"mlp_{d}"].get_weights() for d in range(len(self.mlp_layers))]
            w0, b0 = dense[0]
            half = user_mlp.shape[1]
            # First layer split into its user and item halves; the item half is precomputed per item.
            self.np_user_mlp = (user_mlp @ w0[:half]).astype(np.float32)
            self.np_item_mlp = (item_mlp @ w0[half:] + b0).astype(np.float32)
            self.np_dense = [(w.astype(np.float32), b.astype(np.float32)) for w, b in dense[1:]]
            self.np_w_mlp = w_out[offset:].astype(np.float32)
        self._trained = self.popularity > 0

    def _logits(self, u: np.ndarray, i: np.ndarray | None) -> np.ndarray:
        """Pre-activation scores: users x catalogue when i is None, else one per (u, i) pair."""
        if i is None and self.np_user_mlp is not None:
            # The MLP tower holds users x items x width floats: bound that by chunking users.
            step = max(1, 4_000_000 // (len(self.items) * self.np_item_mlp.shape[1]))
            if len(u) > step:
                return np.concatenate([self._logits(u[s : s + step], None) for s in range(0, len(u), step)])
        items = slice(None) if i is None else i
        total = None
        if self.np_user_gmf is not None:
            pu = self.np_user_gmf[u]
            part = pu @ self.np_item_gmf.T if i is None else np.einsum("nd,nd->n", pu, self.np_item_gmf[items])
            total = part
        if self.np_user_mlp is not None:
            hu = self.np_user_mlp[u]
            h = hu[:, None, :] + self.np_item_mlp[None, :, :] if i is None else hu + self.np_item_mlp[items]
            h = np.maximum(h, 0)
            for w, b in self.np_dense:
                h = np.maximum(h @ w + b, 0)
            part = h @ self.np_w_mlp
            total = part if total is None else total + part
        return total + self.np_bias

    def _finish(self, logits: np.ndarray) -> np.ndarray:
        if self.objective == "implicit":
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return (logits + self.global_mean).astype(np.float32)

    def score_users(self, u: np.ndarray) -> np.ndarray:
        known = u >= 0
        out = np.empty((len(u), len(self.items)), dtype=np.float32)
        out[~known] = self.cold_scores()
        if known.any():
            scores = self._finish(self._logits(u[known], None))
            # Items without training interactions have untrained embeddings: rank them last.
            floor = scores[:, self._trained].min(axis=1, keepdims=True) if self._trained.any() else 0.0
            scores[:, ~self._trained] = floor
            out[known] = scores
        return out

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        fallback = np.float32(self.global_mean if self.objective == "explicit" else 0.0)
        out = np.full(len(u), fallback, dtype=np.float32)
        ok = (u >= 0) & (i >= 0)
        if ok.any():
            out[ok] = self._finish(self._logits(u[ok], i[ok]))
            untrained = ok & ~self._trained[np.maximum(i, 0)]
            out[untrained] = fallback if self.objective == "explicit" else 0.0
        return out

    def predict(self, user_ids, item_ids) -> np.ndarray:
        out = super().predict(user_ids, item_ids)
        return np.clip(out, *self.rating_scale).astype(np.float32) if self.objective == "explicit" else out

    # -- persistence ------------------------------------------------------------------

    def _save_state(self, path: Path) -> None:
        self.network.save(path / KERAS_FILE)
        (path / "ncf.json").write_text(
            json.dumps(
                {"global_mean": self.global_mean, "rating_scale": self.rating_scale, "best_epoch": self.history_best_epoch}
            )
        )

    def _load_state(self, path: Path) -> None:
        import tensorflow as tf

        state = json.loads((path / "ncf.json").read_text())
        self.global_mean = state["global_mean"]
        self.rating_scale = tuple(state["rating_scale"])
        self.history_best_epoch = state["best_epoch"]
        self.network = tf.keras.models.load_model(path / KERAS_FILE)
        self._read_weights(self.network)
