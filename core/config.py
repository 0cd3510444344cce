"""Typed configuration: each YAML under configs/ loads into a frozen pydantic model, validated once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.generations import current
from core.schema import ACTIVE_STAGES, EVENT_FAMILIES, STAGES

DEFAULT_CONFIG = Path("configs/journey.yaml")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageRules(Frozen):
    """Thresholds of the journey-stage rules (SPEC section 4), from configs/stages.yaml."""

    churn_definition_days: int = Field(90, gt=0)
    advocacy_signal_days: int = Field(180, gt=0)
    advocacy_min_review: float = 4.0
    advocacy_events: tuple[str, ...] = ("referral",)
    loyal_purchases: int = Field(5, gt=1)
    loyal_window_days: int = Field(365, gt=0)
    consideration_days: int = Field(30, gt=0)
    consideration_events: tuple[str, ...] = ("product_view", "cart", "checkout")

    @model_validator(mode="after")
    def _known_events(self) -> StageRules:
        for name in (*self.advocacy_events, *self.consideration_events, "review"):
            if name not in EVENT_FAMILIES:
                raise ValueError(f"unknown event family {name!r}; known: {EVENT_FAMILIES}")
        return self


class Demographic(Frozen):
    name: str
    kind: Literal["categorical", "numeric"]


class Paths(Frozen):
    workdir: Path = Path(".journey")
    data_dir: Path | None = None
    outputs_dir: Path = Path("outputs")

    @property
    def data(self) -> Path:
        return self.data_dir or self.workdir / "data"

    @property
    def clean_root(self) -> Path:
        """Where `journey validate` writes each set of clean tables as a generation (core/generations.py)."""
        return self.workdir / "clean"

    @property
    def clean(self) -> Path:
        """The validated input tables that every later step reads: the current generation."""
        return current(self.clean_root)

    @property
    def features(self) -> Path:
        return self.workdir / "features"

    @property
    def feast_repo(self) -> Path:
        return self.workdir / "feature_repo"


class Validation(Frozen):
    """The data checks of `journey validate` beyond the contract (docs/data-contract.md, "Data checks").

    Exact duplicate rows of an activity table are counted and kept up to `max_duplicate_share` of
    its rows (two identical purchases in one second happen) and refused above it (a file loaded
    twice) once at least `min_duplicate_rows` rows repeat. Amounts more than `outlier_factor`
    times the median absolute amount are flagged, not dropped. Activity dated before `earliest`,
    or cut off from the rest by more than `max_gap_days` with at most `max_isolated_share` of the
    rows on its side, is refused.
    """

    max_duplicate_share: float = Field(0.1, ge=0, le=1)
    # fewer repeats than this are never refused (a tiny table's share says little): a warning
    min_duplicate_rows: int = Field(20, ge=1)
    outlier_factor: float = Field(1000.0, gt=1)
    earliest: date = date(1980, 1, 1)
    max_gap_days: int = Field(365, gt=0)
    max_isolated_share: float = Field(0.01, ge=0, lt=0.5)


class Snapshots(Frozen):
    """Monthly snapshot grid; the first snapshot needs this much history before it."""

    min_history_days: int = Field(60, ge=0)


class Labels(Frozen):
    prediction_window_days: int = Field(90, gt=0)
    stage_horizon_days: int = Field(30, gt=0)


class FeatureServices(Frozen):
    """The Feast FeatureService each model trains on (and serves from: the model keeps its name).

    Each must be defined in features/feature_repo/feature_definitions.py.
    """

    churn: str = "churn_v1"
    stage: str = "next_stage_v1"


class LargeData(Frozen):
    """A schedule for big training sets, where small trees and a slow learning rate stop paying off.

    From `rows` training rows on, the booster is fitted on a seeded random sample of at most
    `max_fit_rows` of them (validation and test rows stay whole) with `lightgbm` overriding the
    other parameters.
    """

    rows: int = Field(200_000, gt=0)
    max_fit_rows: int | None = Field(250_000, gt=0)
    lightgbm: dict[str, Any] = Field(default_factory=dict)


class Training(Frozen):
    # auto: rolling cutoffs when the history allows, else one cohort split by customer (core/cutoffs.py)
    split: Literal["auto", "rolling", "cohort"] = "auto"
    test_from: date | None = None  # the first test cutoff (rolling) or the cohort date (cohort)
    test_cutoffs: int = Field(2, ge=1)
    min_train_cutoffs: int = Field(2, ge=1)
    seed: int = 7
    num_boost_round: int = Field(300, gt=0)
    early_stopping_rounds: int = Field(30, gt=0)
    promotion_margin: float = Field(0.005, ge=0)  # a challenger must beat the champion by this much
    # a model's first version serves by itself only with one of these grades (docs/models.md)
    first_champion_grades: tuple[Literal["A", "B", "C"], ...] = ("A", "B")
    lightgbm: dict[str, Any] = Field(default_factory=dict)
    stage_lightgbm: dict[str, Any] = Field(default_factory=dict)  # next-stage model: overrides lightgbm
    feature_services: FeatureServices = FeatureServices()
    # churn model: +1 = churn probability never falls as the feature grows (others fixed)
    churn_monotone: dict[str, Literal[-1, 1]] = Field(default_factory=dict)
    large_data: LargeData = LargeData()
    # keep the protected attributes (monitoring.fairness.protected) out of both models' features
    exclude_protected: bool = False


class Mlflow(Frozen):
    tracking_uri: str | None = None
    experiment: str = "journey"

    def uri(self, workdir: Path) -> str:
        return self.tracking_uri or f"sqlite:///{workdir / 'mlflow.db'}"


class Feast(Frozen):
    project: str = "journey"
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_connection: str = "127.0.0.1:6379"
    ttl_days: int = Field(45, gt=0)
    # a call to the online store (connect, read, a locked SQLite file) that takes longer fails:
    # the service answers 503 with the reason instead of holding the request (docs/reliability.md)
    timeout_seconds: float = Field(2.0, gt=0, le=30)


class RiskTiers(Frozen):
    high: float = Field(0.5, gt=0, lt=1)
    medium: float = Field(0.25, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> RiskTiers:
        if self.medium >= self.high:
            raise ValueError("risk_tiers.medium must be below risk_tiers.high")
        return self


Tier = Literal["high", "medium", "low"]
TIERS: tuple[Tier, ...] = ("high", "medium", "low")


class Action(Frozen):
    """A retention action for a stage, optionally a risk tier and the family of the main reason.

    `success_rate` is the share of contacted would-be churners the action retains; `cost` is paid per
    contact whether or not it works; `channel` says how the customer is reached, when known.
    `risk_tier` None means every tier; `reason_family` None makes it a default (see `choose_action`).
    """

    stage: str
    risk_tier: Tier | None = None
    reason_family: str | None = None
    action: str
    success_rate: float
    cost: float
    channel: str | None = None

    @property
    def key(self) -> str:
        """How an error names this row of configs/actions.yaml."""
        parts = [f"stage {self.stage}"]
        parts += [f"risk tier {self.risk_tier}"] if self.risk_tier else []
        parts += [f"reason family {self.reason_family}"] if self.reason_family else []
        return ", ".join(parts)

    @model_validator(mode="after")
    def _economics(self) -> Action:
        where = f"actions: {self.key}"
        if not 0.0 <= self.success_rate <= 1.0:
            raise ValueError(f"{where}: success_rate must be between 0 and 1, got {self.success_rate}")
        if self.cost < 0:
            raise ValueError(f"{where}: cost per contact must be >= 0, got {self.cost}")
        return self


def choose_action(
    actions: Sequence[Action], stage: str | None, tier: str | None, family: str | None
) -> Action | None:
    """The action for a customer: the most specific row of the table that applies, first on a tie.

    A row applies when its stage is the customer's, its risk tier is theirs or unset, and its
    reason family is that of their main reason or unset. A row naming the reason family is more
    specific than one naming the tier: the tier sets the default (a likely churner is not offered
    a referral bonus), the main reason refines it. Prospects have no tier: only rows without one.
    """
    fits = [
        a
        for a in actions
        if a.stage == stage and a.risk_tier in (tier, None) and a.reason_family in (family, None)
    ]
    if not fits:
        return None
    return max(fits, key=lambda a: (a.reason_family is not None, a.risk_tier is not None))


def missing_actions(actions: Sequence[Action], stages: Sequence[str] = ACTIVE_STAGES) -> list[str]:
    """The "stage x tier" pairs among `stages` with no default action (one without reason_family)."""
    return [
        f"{stage} x {tier}"
        for stage in stages
        for tier in TIERS
        if choose_action(actions, stage, tier, None) is None
    ]


def _check_actions(actions: Sequence[Action]) -> None:
    """Known stages, tiers only where churn is scored, no row twice, a default for every stage x tier."""
    seen: set[tuple[str, str | None, str | None]] = set()
    for a in actions:
        if a.stage not in STAGES:
            raise ValueError(f"actions: unknown stage {a.stage!r}; known: {', '.join(STAGES)}")
        if a.risk_tier and a.stage not in ACTIVE_STAGES:
            raise ValueError(
                f"actions: {a.key}: only active buyers ({', '.join(ACTIVE_STAGES)}) have a churn risk "
                "tier; remove risk_tier from this row"
            )
        if (a.stage, a.risk_tier, a.reason_family) in seen:
            raise ValueError(f"actions: {a.key} appears twice; keep one row per combination")
        seen.add((a.stage, a.risk_tier, a.reason_family))
    missing = missing_actions(actions)
    if missing:
        raise ValueError(
            f"actions: no default action for {', '.join(missing)} (stage x risk tier): every active "
            f"stage needs, for each risk tier ({', '.join(TIERS)}), a row without reason_family whose "
            "risk_tier is that tier or unset; `journey targets` needs its cost and success rate"
        )


class Targeting(Frozen):
    """How `journey targets` values customers and sizes the list (docs/targeting.md)."""

    # run_rate: spend_365d x window / 365; bgnbd: BG/NBD x Gamma-Gamma fitted on the scoring snapshot
    value_method: Literal["run_rate", "bgnbd"] = "run_rate"
    value_fit_sample: int = Field(50_000, gt=0)  # customers the BG/NBD and Gamma-Gamma are fitted on
    default_capacity: int = Field(100, gt=0)  # list size when neither --budget nor --capacity is given


class ReasonTemplate(Frozen):
    """One way to say why a feature raises churn risk, used when its conditions hold.

    `text` is a Python format string over the customer's features by name (e.g.
    "{days_since_last_purchase:.0f}"); it applies only when every field it names is known and the
    `min`/`max` bounds (feature -> value) hold. With `missing` it applies only when the reason's own
    feature is unknown (never recorded, or null in a request), and may not quote it.
    """

    text: str
    min: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)
    missing: bool = False


class Serving(Frozen):
    host: str = "127.0.0.1"
    port: int = 3000
    max_ids: int = Field(1000, gt=0)
    reasons: int = Field(3, ge=0)
    risk_tiers: RiskTiers = RiskTiers()
    reload_seconds: int = Field(30, gt=0)  # how often the service checks the champion alias
    # a request body above this is refused with 413 before it is read in full: max_ids (1000)
    # customers with all 65 features as 17-digit floats take 2.4 MB of JSON (2.9 MB indented)
    max_body_bytes: int = Field(8_000_000, gt=0)
    # batch scoring (journey score, targets, report): features of the newest snapshot at or before
    # this date; None = the newest snapshot
    as_of: date | None = None


class PredictionLogStore(Frozen):
    """Where batch scoring appends what it predicted (docs/monitoring.md, "Prediction log").

    parquet: one new file per run under <workdir>/predictions, staged and renamed in; postgres: one
    transaction per run into `table` at `postgres_dsn` (a password comes from PGPASSWORD, not git).
    """

    store: Literal["parquet", "postgres"] = "parquet"
    postgres_dsn: str | None = None
    table: str = Field("prediction_log", pattern=r"^[a-z_][a-z0-9_]*$")

    @model_validator(mode="after")
    def _dsn_for_postgres(self) -> PredictionLogStore:
        if self.store == "postgres" and not self.postgres_dsn:
            raise ValueError("monitoring.log.store is postgres: set monitoring.log.postgres_dsn")
        return self


class LiveAccuracy(Frozen):
    """When `journey monitor` alerts on the live figures of matured predictions (docs/monitoring.md)."""

    roc_auc_margin: float = Field(0.05, ge=0, le=1)  # alert below the test ROC AUC by more than this
    max_ece: float = Field(0.1, gt=0, le=1)  # alert when the live ECE is above this
    min_rows: int = Field(100, ge=1)  # an as-of with fewer matured rows is shown, never judged


class Drift(Frozen):
    """When `journey monitor` calls the newest snapshot drifted from the champion's training rows
    (docs/monitoring.md, "Drift"). PSI: population stability index over `bins` quantile bins."""

    bins: int = Field(10, ge=2, le=100)
    psi_alert: float = Field(0.25, gt=0)  # a feature or the scores above this: an alert
    psi_watch: float = Field(0.1, gt=0)  # above this: shown as moderate, no alert
    missing_change: float = Field(0.05, gt=0, le=1)  # alert when a missing rate moves by more than this
    new_category_share: float = Field(0.01, ge=0, le=1)  # alert when unseen levels cover more rows
    stage_mix_psi: float = Field(0.1, gt=0)  # alert when the stage mix moves more than this
    top: int = Field(5, ge=1)  # drifting features named in an alert
    # shown in the table, never alerted on: e.g. tenure, which grows in any customer base that is young
    ignore: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> Drift:
        if self.psi_watch >= self.psi_alert:
            raise ValueError("monitoring.drift.psi_watch must be below monitoring.drift.psi_alert")
        return self


AGE_BANDS: dict[str, tuple[float, ...]] = {"age": (25, 35, 45, 55, 65)}


class Fairness(Frozen):
    """Per-group figures of the churn model and the 80% rule on listing rates (docs/monitoring.md,
    "Fairness"). `protected` None: every declared demographic attribute. A numeric attribute is
    judged in bands: its `bands` edges, or its quintiles when none are configured."""

    protected: tuple[str, ...] | None = None
    bands: dict[str, tuple[float, ...]] = Field(default_factory=lambda: dict(AGE_BANDS))
    min_group_size: int = Field(50, ge=1)  # smaller groups are shown, never judged
    min_ratio: float = Field(0.8, gt=0, le=1)  # the 80% rule: a group's listing rate / the highest


class Monitoring(Frozen):
    """The operations loop (`journey monitor`): the prediction log, live accuracy, drift, fairness."""

    log: PredictionLogStore = PredictionLogStore()
    live: LiveAccuracy = LiveAccuracy()
    drift: Drift = Drift()
    fairness: Fairness = Fairness()


class Settings(Frozen):
    """Everything one Journey run needs; relative paths are resolved against the project root."""

    paths: Paths = Paths()
    demographics: tuple[Demographic, ...] = ()
    validation: Validation = Validation()
    snapshots: Snapshots = Snapshots()
    labels: Labels = Labels()
    training: Training = Training()
    mlflow: Mlflow = Mlflow()
    feast: Feast = Feast()
    serving: Serving = Serving()
    stages: StageRules = StageRules()
    actions: tuple[Action, ...] = ()
    targeting: Targeting = Targeting()
    reasons: dict[str, tuple[ReasonTemplate, ...]] = Field(default_factory=dict)
    monitoring: Monitoring = Monitoring()

    @model_validator(mode="after")
    def _actions_cover_stages(self) -> Settings:
        if self.actions:
            _check_actions(self.actions)
        return self

    def with_paths(self, **paths: Path) -> Settings:
        """A copy with some paths replaced (tests and the demo run in their own folders)."""
        return self.model_copy(update={"paths": self.paths.model_copy(update=paths)})


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    data = read_yaml_text(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def read_yaml_text(path: Path) -> Any:
    """A YAML file's content; a syntax error names the file, line and column (not a traceback)."""
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{path}{where}: not valid YAML: {problem}") from None


def project_root(config_path: Path) -> Path:
    folder = config_path.resolve().parent
    return folder.parent if folder.name == "configs" else folder


def load_settings(path: Path | str = DEFAULT_CONFIG) -> Settings:
    """Load configs/journey.yaml plus the stages, actions and reasons files it names.

    The reasons file is optional unless named: without it every reason reads "<meaning>: <value>".
    """
    path = Path(path)
    raw = _read_yaml(path)
    folder = path.parent
    raw["stages"] = _read_yaml(folder / raw.pop("stages_file", "stages.yaml"))
    raw["actions"] = _read_yaml(folder / raw.pop("actions_file", "actions.yaml")).get("actions", [])
    reasons = folder / raw.pop("reasons_file", "reasons.yaml")
    if reasons.is_file() or reasons.name != "reasons.yaml":
        templates = _read_yaml(reasons).get("reasons", {})
        raw["reasons"] = {
            k: [{"text": v} if isinstance(v, str) else v for v in vs] for k, vs in templates.items()
        }
    settings = Settings.model_validate(raw)
    root = project_root(path)
    resolved = {
        key: (value if value is None or value.is_absolute() else root / value)
        for key, value in settings.paths.model_dump().items()
    }
    return settings.with_paths(**resolved)
