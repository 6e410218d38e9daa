"""Churn scoring: an online River model, and the population's rhythm as the cold start.

Until a partition's model has learned enough labels, and as long as it does not beat it on the
latest ones (log loss over about QUALITY_MEMORY labels, each judged before it is learned), the
cold start serves: the probability, from the partition's return table (streams/core/rhythm.py),
that a user with this many active days and this much silence shows no activity within H. The
model's inputs are the catalog's features, the cold start's log-odds, log active days and log
silence, and one indicator per attribute value the user's events carried.

Model kinds (``CHURNGUARD_MODEL_KIND``; the choice and its evidence: docs/model.md):
- ``logreg``: StandardScaler | clip to +-3 (attribute indicators as 0/1 variables) |
  LogisticRegression (SGD 0.006, L2 1e-4) around the cold start: its log-odds is the regression's
  offset, so the model starts as the cold start and learns from the labels only what the features
  add to it, of which it serves RESIDUAL_WEIGHT, with its weights averaged over its latest labels
  (streams/core/learners.py). Reasons: served weight x scaled value.
- ``logreg_balanced``: the same, each label weighted by n / (2 n_class) so both classes count equally.
- ``hat``: Hoeffding adaptive tree; ``arf``: adaptive random forest (10 trees). Reasons for these:
  how much the risk drops when the feature is set to its running mean (one extra prediction per
  feature, computed only when an alert fires).
Seeds are fixed per partition, so a replay of the same labels gives the same model.
"""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from typing import Any, NamedTuple

from streams.core.catalog import FEATURE_INDEX, FEATURE_NAMES, plain_words
from streams.core.learning_math import add_into
from streams.core.quality import Quality
from streams.core.rhythm import ReturnTable, cold_start_risk

TOP_REASONS = 3
MIN_LABELS_PER_CLASS = 50


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float
    contribution: float
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "value": round(self.value, 4),
                "contribution": round(self.contribution, 4), "text": self.text}


class Score(NamedTuple):
    """Made at every snapshot: a named tuple is made in under half the time of a frozen dataclass."""
    risk: float
    kind: str  # "heuristic" | "river_<model kind>"
    version: str
    reasons: tuple[Reason, ...] = ()  # filled by ChurnModel.explain, only for alerts


# The model's inputs: the catalog's features, then what the population's rhythm says
# (streams/core/rhythm.py). The cold-start probability is the risk served until the model has
# earned the right to replace it.
EXTRA_INPUTS = ("cold_start_risk", "log_active_days", "log_silence_days")
INPUT_NAMES: tuple[str, ...] = FEATURE_NAMES + EXTRA_INPUTS
COLD_START = len(FEATURE_NAMES)


def heuristic_risk(inputs: list[float]) -> tuple[float, tuple[Reason, ...]]:
    """The cold-start risk: the share of the population's users with this many active days who,
    after this much silence, stay silent for the whole horizon (streams/core/rhythm.py)."""
    risk = inputs[COLD_START]
    i = FEATURE_INDEX["recency_days"]
    return risk, (Reason("recency_days", inputs[i], risk, plain_words("recency_days", inputs[i])),)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


ATTRIBUTE_PREFIX = "attribute:"


def attribute_input(key: str, value: str) -> str:
    return f"{ATTRIBUTE_PREFIX}{key}={value}"


def model_input(inputs: list[float], attributes: dict[str, str] | None = None) -> dict[str, float]:
    """The dict the River model reads: inputs by name (the cold-start risk as a log-odds), then one
    indicator per attribute value (after the inputs: ResidualLogReg finds them there)."""
    x = dict(zip(INPUT_NAMES, inputs))
    x["cold_start_risk"] = _logit(x["cold_start_risk"])
    if attributes:
        for key, value in attributes.items():
            x[attribute_input(key, value)] = 1.0
    return x


# Attribute values the model gives an input of its own, per partition: the first met in its labels
# (event-time order, so a replay keeps the same ones); the others are read as absent. River keeps
# a mean, a variance, a count and a weight per input, pickled with the partition's state, so an
# export whose attributes include a customer id or a postcode would otherwise grow the model with
# the customers. The return table has the same bound (streams/core/rhythm.py).
MAX_ATTRIBUTE_INPUTS = 256


# The model serves only while its log loss on the labels it has just been given (each judged
# before it is learned) beats the cold start's on the same labels, over about the last
# QUALITY_MEMORY labels.
QUALITY_MEMORY = 2000


MODEL_KINDS = ("logreg", "logreg_balanced", "hat", "arf")


# Standardised inputs are clipped to +-MAX_Z before the linear model: a state far outside what the
# labels so far have shown (a regular silent for 7x their usual gap, a silence longer than any
# labelled one) would otherwise get a linear extrapolation, and on a real grocery log the model's
# most confident risks were its least accurate (0.85 served, 0.48 observed).
MAX_Z = 3.0

# The model serves the cold start plus this share of the residual it learned (in log-odds). Its
# labels are one horizon old: on real logs the residual that beat the cold start on them ranked
# customers worse at some cuts (Ta Feng: 0.7419 against the cold start's 0.7478) and better at
# others. With one model per partition, half of it ranked best; the partitions' regressions
# pooled (ChurnModel.pool) are an average of four, less noisy, and three quarters of theirs
# ranked above every baseline on five splits of two real logs, where half fell below one (Ta
# Feng's classic split: 0.7385 against 0.7396). docs/model.md, "One regression for all partitions".
RESIDUAL_WEIGHT = 0.75

OFFSET = "offset"  # the key of the linear model's per-example offset (attribute keys start with "attribute:")

# River's learners live in streams/core/learners.py, imported when a model is first made or loaded:
# importing River takes about 1.5 s, which a starting worker spends while its group forms.
LEARNER_CLASSES = ("OffsetLogisticRegression", "ResidualLogReg")


def __getattr__(name: str) -> object:
    # Pickled models name the learner classes as this module's (their __module__).
    if name in LEARNER_CLASSES:
        from streams.core import learners

        return getattr(learners, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ChurnModel:
    """One partition's online model, learned one released label at a time, with the quality of
    the scores it served (streams/core/quality.py)."""

    def __init__(self, partition: int, min_labels: int, kind: str = "logreg") -> None:
        self.partition = partition
        self.min_labels = min_labels
        self.kind = kind
        from streams.core.learners import new_learner

        self.learner = new_learner(kind, seed=1000 + partition)
        self.labels = [0, 0]
        self.feature_sums = [0.0] * len(INPUT_NAMES)
        self.quality = Quality()
        self.rhythm = ReturnTable()
        self.log_loss = {"model": 0.0, "cold_start": 0.0}  # decayed sums over recent labels
        self.attribute_inputs: dict[str, None] = {}  # ordered, so pickles do not vary with hashing
        # The linear kinds score with every partition's regression pooled (``pool``), this one's
        # learning on; None: with its own.
        self.pooled: object | None = None

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        if self.pooled is not None:
            # As JSON text: the pooled regression's names are the objects its summaries brought (read
            # from the topic, or this process's own), and pickle writes shared objects once, so its
            # bytes would depend on where the summaries came from; the state's digest must not.
            state["pooled"] = json.dumps(self.pooled.summary())  # type: ignore[attr-defined]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update({"pooled": None, **state})
        if isinstance(self.pooled, str):
            from streams.core.learners import ResidualLogReg

            self.pooled = ResidualLogReg.from_summary(json.loads(self.pooled))
        if "attribute_inputs" not in state:  # pickled before the bound: the inputs it already has
            scaler = getattr(self.learner, "scaler", None)  # the tree kinds keep no list of inputs
            known = [name for name in (scaler.counts if scaler else ()) if name.startswith("attribute:")]
            self.attribute_inputs = dict.fromkeys(known)

    def _input(self, inputs: list[float], attributes: dict[str, str] | None,
               learning: bool = False) -> dict[str, float]:
        """model_input with only the attribute values this model has an input for; learning adds
        new ones while there is room."""
        if not attributes:
            return model_input(inputs)
        known = self.attribute_inputs
        kept = {}
        for key, value in attributes.items():
            name = attribute_input(key, value)
            if name not in known:
                if not learning or len(known) >= MAX_ATTRIBUTE_INPUTS:
                    continue
                known[name] = None
            kept[key] = value
        return model_input(inputs, kept)

    @property
    def trained(self) -> bool:
        return sum(self.labels) >= self.min_labels and min(self.labels) >= MIN_LABELS_PER_CLASS

    @property
    def ready(self) -> bool:
        """Trained, and scoring recent labels better than the cold start does."""
        return self.trained and self.log_loss["model"] < self.log_loss["cold_start"]

    @property
    def version(self) -> str:
        own = f"p{self.partition}-n{sum(self.labels)}"
        if self.pooled is None or not self.ready:  # the cold start serves: the pool is not in the score
            return own
        return f"{own}-pooled-n{self.pooled.synced_scaler().counts[INPUT_NAMES[0]]}"  # type: ignore[attr-defined]

    def learn(self, inputs: list[float], label: int, attributes: dict[str, str] | None = None) -> None:
        x = self._input(inputs, attributes, learning=True)
        if self.trained:
            decay = 1 - 1 / QUALITY_MEMORY
            for name, p in (("model", self._risk(x)), ("cold_start", inputs[COLD_START])):
                p = min(max(p, 1e-6), 1 - 1e-6)
                self.log_loss[name] = self.log_loss[name] * decay - math.log(p if label else 1 - p)
        if self.kind == "logreg_balanced":
            weight = (sum(self.labels) + 2) / (2 * (self.labels[label] + 1))
            self.learner.learn_one(x, label, w=weight)  # type: ignore[attr-defined]
        else:
            self.learner.learn_one(x, label)  # type: ignore[attr-defined]
        self.labels[label] += 1
        add_into(self.feature_sums, inputs)

    def cold_start(self, active_days: int, silence: int, horizon_days: int,
                   attributes: dict[str, str] | None = None) -> float:
        """The cold-start risk as the model reads it (an input, rounded): the partition's return
        table for this many active days, this silence and these attributes (rhythm.cold_start_risk)."""
        return cold_start_risk(self.rhythm, active_days, silence, horizon_days, attributes)

    def with_current_cold_start(self, inputs: list[float], horizon_days: int,
                                attributes: dict[str, str] | None = None) -> list[float]:
        """A released snapshot's inputs with the cold start of today's table in place of the one
        served H days ago, so the model learns what the features add to the cold start it will be
        used with. On a real grocery log the table of the first weeks served about 0.08 where 0.33
        churned; the model learned an intercept of +2.5 to correct that stale error and then served
        0.8 to regulars who had just come back."""
        out = list(inputs)
        out[COLD_START] = self.cold_start(round(math.expm1(inputs[COLD_START + 1])),
                                          round(math.expm1(inputs[COLD_START + 2])), horizon_days, attributes)
        return out

    @property
    def scorer(self) -> object:
        return self.learner if self.pooled is None else self.pooled

    def _risk(self, x: dict[str, float]) -> float:
        return float(self.scorer.predict_proba_one(x).get(1, 0.0))  # type: ignore[attr-defined]

    def summary(self) -> dict[str, Any] | None:
        """This partition's regression for the others to pool (None for the tree kinds)."""
        return self.learner.summary() if self.kind.startswith("logreg") else None  # type: ignore[attr-defined]

    def pool(self, summaries: list[dict[str, Any] | None]) -> None:
        """Score with the partitions' regressions pooled (their ``summary``, this one's included,
        as of the same day: every partition then scores with the same model). Each partition's
        model learns from its own customers' labels only; four of them, each a quarter of a
        grocery chain's customers, ranked its customers at 0.7374 on their own and at 0.7385 as
        their average, serving the same half of the residual (docs/model.md)."""
        learned = [s for s in summaries if s is not None and s["labels"]]
        if learned:
            from streams.core.learners import ResidualLogReg

            self.pooled = ResidualLogReg.pooled(learned, self.attribute_inputs)
        else:
            self.pooled = None

    def score(self, inputs: list[float], attributes: dict[str, str] | None = None) -> Score:
        if not self.ready:
            return self.cold_start_score(inputs[COLD_START])
        return Score(self._risk(self._input(inputs, attributes)), f"river_{self.kind}",
                     f"river_{self.kind}-v2-{self.version}")

    def cold_start_score(self, risk: float) -> Score:
        """The score while the cold start serves (heuristic_risk; its reason only if explained)."""
        return Score(risk, "heuristic", f"heuristic-v2-{self.version}")

    def explain(self, inputs: list[float], score: Score, attributes: dict[str, str] | None = None) -> Score:
        """The score with its top reasons: the catalog features that pushed this risk up the most."""
        if score.kind == "heuristic":
            return score._replace(reasons=heuristic_risk(inputs)[1])
        x = self._input(inputs, attributes)
        if self.kind.startswith("logreg"):
            contributions = self._linear_contributions(x)
        else:
            n = max(sum(self.labels), 1)
            contributions = [(score.risk - self._risk({**x, name: self.feature_sums[i] / n}), name)
                             for i, name in enumerate(FEATURE_NAMES)]
        contributions = [(c, name) for c, name in contributions if name in FEATURE_INDEX]
        contributions.sort(reverse=True)
        reasons = tuple(Reason(name, x[name], c, plain_words(name, x[name]))
                        for c, name in contributions[:TOP_REASONS] if c > 0)
        if not reasons:  # the risk comes from the rhythm inputs: say so in the catalog's words
            reasons = heuristic_risk(inputs)[1]
        return score._replace(reasons=reasons)

    def _linear_contributions(self, x: dict[str, float]) -> list[tuple[float, str]]:
        # Linear attribution: weight x standardised (and clipped) value, as the model serves it.
        scaler = self.scorer.synced_scaler()  # type: ignore[attr-defined]
        weights = self.scorer.average  # type: ignore[attr-defined]
        out = []
        for name, value in x.items():
            std = math.sqrt(scaler.vars.get(name, 0.0)) or 1.0
            z = max(-MAX_Z, min(MAX_Z, (value - scaler.means.get(name, 0.0)) / std))
            out.append((RESIDUAL_WEIGHT * weights.get(name, 0.0) * z, name))
        return out

    def to_bytes(self) -> bytes:
        return pickle.dumps(self, protocol=5)

    @staticmethod
    def from_bytes(blob: bytes) -> "ChurnModel":
        model = pickle.loads(blob)
        if not isinstance(model, ChurnModel):
            raise TypeError("not a ChurnModel")
        return model
