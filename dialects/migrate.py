"""Moving a store forward when a dialect's lowering changes its kernels (``lorien db migrate``).

A workload's key is the content hash of its kernel as lowered, so records of one lowering are
never served for a kernel of another unless the two kernels are the same: nothing needs moving
for correctness. What a migration adds is coverage. For each model named it asks the dialect
(:meth:`~lorien.dialects.Frontend.lowering_change`) for the model's kernels under the chosen
lowering and, where another kernel's schedules give exactly the same code (a prepacked kernel and
its plain twin), copies that kernel's records under the new key once each schedule applies to it.
Kernels that changed (BatchNorm folded into a convolution's epilogue) cannot take the old
records: the report names them, with the command that covers them.

Idempotent: running it twice copies nothing the second time (records are content-addressed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from lorien.dialects.base import Lowering
from lorien.dialects.roles import Frontend
from lorien.records import ScheduleRecord, Target
from lorien.store.base import ScheduleStore


@dataclass
class ModelMigration:
    """What one model's kernels had, and what the migration did for them.

    Attributes:
        model: the model's name.
        kernels: its kernels under the lowering.
        covered: kernels that already had records (unchanged kernels among them).
        rekeyed: kernel name -> records copied to it from a kernel with the same code.
        refused: kernel name -> why a twin's record was not copied (its schedule does not apply).
        uncovered: names of the kernels with no record and nothing to copy.
        retired: kernels an earlier lowering gave this model that no lowering gives now.
        retired_records: how many stored records those retired kernels hold.
    """

    model: str
    kernels: int = 0
    covered: int = 0
    rekeyed: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    uncovered: list[str] = field(default_factory=list)
    retired: int = 0
    retired_records: int = 0


def migrate_model(store: ScheduleStore, dialect: Frontend, name: str, model: object, target: Target,
                  lowering: Lowering, *, dry_run: bool = False) -> ModelMigration:
    """Re-key what can move for one loaded model's kernels under ``lowering``; report the rest.

    Records of every target and build move (a kernel's code does not depend on who asks).
    With ``dry_run`` nothing is written; the report says what would be.

    Raises:
        StoreError: the store failed; records committed before stay (a commit is per kernel).
    """
    change = dialect.lowering_change(model, target, lowering)
    report = ModelMigration(name, kernels=len(change.kernels))
    for use, twins in change.kernels:
        workload = use.workload
        if store.count(dialect=dialect.name, workload_key=workload.key):
            report.covered += 1
            continue
        moved: list[ScheduleRecord] = []
        for twin in twins:
            for record in store.records(dialect=dialect.name, workload_key=twin):
                problem = dialect.schedule_problem(workload, record.schedule)
                if problem is not None:
                    report.refused[workload.name] = problem
                    continue
                moved.append(dataclasses.replace(record, workload_key=workload.key))
        if not moved:
            report.uncovered.append(workload.name)
            continue
        report.rekeyed[workload.name] = len(moved)
        if not dry_run:
            store.put_workloads([workload])
            store.commit(moved)
    report.retired = len(change.retired)
    report.retired_records = sum(store.count(dialect=dialect.name, workload_key=key)
                                 for key in change.retired)
    return report
