"""The settings of one unlearning run (:class:`UnlearnConfig`): the method, its learning rate and epoch cap, the
stopping criterion, and the switches of the MMRecUN additions (:mod:`mmrecun_core.unlearning.loop`)."""

from __future__ import annotations

from dataclasses import dataclass

from mmrecun_core.unlearning.forget import ForgetSet
from mmrecun_core.unlearning.objective import MMRecUNConfig
from mmrecun_core.unlearning.replay import ReplaySchedule

METHODS = ("mmrecun", "mmrecun-paper", "finetune", "neggrad")
LR = 5e-3  # chosen on validation forget sets without Gold: docs/decisions/002-unlearning-methods.md
PAPER_LR, PAPER_EPOCHS = 1e-3, 20  # the paper states neither: docs/decisions/002-unlearning-methods.md


@dataclass(frozen=True)
class UnlearnConfig:
    """Settings of one unlearning run; ``objective`` weighs the MMRecUN terms. A None takes the ``method``'s own value.

    ``lr``: Adam's learning rate (``LR``; ``PAPER_LR`` for the paper's form); ``max_epochs``: the epoch cap (50;
    ``PAPER_EPOCHS``); ``stop_on_criterion``: stop once every kind meets the criterion (off for the paper's form);
    ``reset_own_rows``, ``retrained_references``: the row redraw and the references of retraining (``mmrecun`` only);
    ``request_rows_only``: the loop's steps move only the ID rows of the users of erased interactions and of the
    forgotten and content-deleted items, every other parameter held at the parent's (``mmrecun`` only);
    ``replay``: the parent's training schedule for the replay of redrawn item rows (None = no replay; used only
    with the redraw); ``withdraw_pull``: take out of the users' rows their first-order pull towards the revoked items
    (``mmrecun`` only; :func:`~mmrecun_core.unlearning.rows.withdraw_revoked_pull`); ``criterion_sample``: rows of each
    kind in the stopping probe (5,000: a standard error of about 0.007 on the AUC, small against ``auc_tolerance``);
    ``reference_pool``: least size of the cold pool; ``rank_cutoff``: the length of the served list whose top the
    erasures are judged on (``erasures@top``, with retraining's references; 20, the cutoff model selection reads).
    """

    method: str = "mmrecun"
    objective: MMRecUNConfig = MMRecUNConfig()
    lr: float | None = None
    batch_size: int = 2048
    max_epochs: int | None = None
    stop_on_criterion: bool | None = None
    auc_tolerance: float = 0.05
    criterion_sample: int = 5000
    reference_pool: int = 100
    rank_cutoff: int = 20
    reset_own_rows: bool | None = None
    retrained_references: bool | None = None
    request_rows_only: bool | None = None
    replay: ReplaySchedule | None = None
    withdraw_pull: bool | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown unlearning method {self.method!r}; choose one of {list(METHODS)}")
        if self.epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")

    @property
    def paper(self) -> bool:
        return self.method == "mmrecun-paper"

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else PAPER_LR if self.paper else LR

    @property
    def epochs(self) -> int:
        return self.max_epochs if self.max_epochs is not None else PAPER_EPOCHS if self.paper else 50

    @property
    def stops(self) -> bool:
        return not self.paper if self.stop_on_criterion is None else self.stop_on_criterion

    @property
    def resets_own_rows(self) -> bool:
        return self.method == "mmrecun" if self.reset_own_rows is None else self.reset_own_rows

    @property
    def uses_retrained_references(self) -> bool:
        return self.method == "mmrecun" if self.retrained_references is None else self.retrained_references

    @property
    def moves_request_rows_only(self) -> bool:
        return self.method == "mmrecun" if self.request_rows_only is None else self.request_rows_only

    @property
    def withdraws_pull(self) -> bool:
        return self.method == "mmrecun" if self.withdraw_pull is None else self.withdraw_pull

    def pulls(self, forget: ForgetSet) -> bool:
        """Whether unlearning ``forget`` withdraws revoked items' pull, and so needs what the model was trained on."""
        return self.withdraws_pull and len(forget.items) > 0

    @property
    def replays(self) -> bool:
        """Whether redrawn item rows are replayed: an MMRecUN form with a schedule, from redrawn rows (as retraining starts)."""
        return self.method in ("mmrecun", "mmrecun-paper") and self.replay is not None and self.resets_own_rows

    @property
    def criterion(self) -> str:
        """The stopping rule in words, for manifests and reports."""
        if not self.stops:
            rule = f"none: a fixed {self.epochs} epochs at lr {self.learning_rate:g}"
        else:
            level = (
                "the parent's AUC of held-out interactions (drawn to match the erased items' popularity) vs never-seen items"
                if self.uses_retrained_references
                else "0.5"
            )
            rule = (
                f"paired membership AUC, per kind: erased interactions vs never-seen items of the same users <= {level} "
                f"+ {self.auc_tolerance:g}; revoked items vs the least-interacted retained items, for users drawn "
                f"by their retain interactions, <= {0.5 + self.auc_tolerance:.2f}"
            )
            if self.uses_retrained_references:
                rule += (
                    f"; and the share of each user's erased interactions in the user's top {self.rank_cutoff}, averaged over "
                    f"users, <= the parent's share for those held-out interactions + {self.auc_tolerance:g}"
                )
        if self.resets_own_rows:
            rule += (
                "; the rows of erased users, revoked items and content-deleted items are redrawn from the initialiser, "
                "erased users' rows frozen and their interactions not judged by the AUC (under a random row it "
                "measures only the draw)"
            )
        if self.moves_request_rows_only:
            rule += (
                "; a step moves only the ID rows of the users whose interactions are erased and of the forgotten and "
                "content-deleted items, every other parameter held at the parent's"
            )
        if self.withdraws_pull:
            rule += "; the users' rows lose their first-order pull towards the revoked items they were trained on"
        if self.replays:
            rule += (
                f"; the redrawn item rows are then replayed through retraining's own steps ({self.replay.epochs} "
                f"epochs at batch {self.replay.batch_size}, lr {self.replay.lr:g}) before the criterion is first measured"
            )
        return rule
