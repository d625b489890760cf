"""The conformance suite every :class:`~lorien.store.ScheduleStore` backend must pass.

A backend's test module subclasses :class:`ScheduleStoreConformance` and provides a ``store_uri``
fixture naming a fresh, empty store; every test opens it with :func:`lorien.config.open_store`, so
backends are exercised through the same door users take (and child processes can open it too).
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator

import pytest

from lorien.config import open_store
from lorien.lookup import find_schedule
from lorien.records import ScheduleRecord, best_per_group
from lorien.store import ScheduleStore
from lorien.store.base import lookup_rank
from lorien.testing.factories import CPU_A, CPU_B, GPU, record, workload


def _commit_in_child(uri: str, records: list[dict], batch: int) -> None:
    with open_store(uri) as store:
        for start in range(0, len(records), batch):
            store.commit([ScheduleRecord.from_dict(r) for r in records[start:start + batch]])


def _ids(records: list[ScheduleRecord]) -> list[str]:
    return sorted(r.record_id for r in records)


class ScheduleStoreConformance:
    """Subclass and define the ``store_uri`` fixture (an empty store, keep=5 by default).

    A store that cannot be opened by URI (the in-memory one) overrides the ``store`` fixture
    instead and sets :attr:`opened_by_uri` to False: the tests that reopen the store or open it
    in other processes do not apply to it and are skipped, saying so.
    """

    #: The store is opened by URI, outlives one open (reopening it finds everything) and other
    #: processes can open it too.
    opened_by_uri = True

    @pytest.fixture
    def store_uri(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError("a backend test module provides store_uri")

    @pytest.fixture
    def store(self, store_uri: str) -> Iterator[ScheduleStore]:
        with open_store(store_uri) as opened:
            yield opened

    # -- workloads -------------------------------------------------------------------------------
    def test_workloads_round_trip_and_are_stored_once(self, store: ScheduleStore) -> None:
        a, b = workload("00000000000000aa"), workload("00000000000000bb")
        assert store.put_workloads([a, b]) == 2
        assert store.put_workloads([a]) == 0
        assert store.get_workload("fake", a.key) == a
        assert store.get_workload("fake", "missing") is None
        assert store.get_workload("other", a.key) is None
        assert store.list_workloads() == [a, b]
        assert store.list_workloads("other") == []

    def test_workload_summaries_leave_out_payloads_and_start_at_a_time(self, store: ScheduleStore) -> None:
        import time

        first, other = workload("00000000000000bb"), workload("00000000000000cc", dialect="other")
        store.put_workloads([first, other])
        [summary] = store.workload_summaries("fake")
        assert (summary.key, summary.name, summary.flops) == (first.key, first.name, first.flops)
        assert not hasattr(summary, "payload")
        time.sleep(0.05)
        later = workload("00000000000000aa")
        store.put_workloads([later])
        assert [s.key for s in store.workload_summaries("fake")] == [later.key, first.key]  # by key
        stored_at = {s.key: s.stored_at for s in store.workload_summaries("fake")}
        since = [s.key for s in store.workload_summaries("fake", since=stored_at[later.key])]
        assert later.key in since  # never fewer than asked; none older when the store records when
        assert stored_at[first.key] == 0.0 or since == [later.key]

    # -- records ---------------------------------------------------------------------------------
    def test_commit_then_query_returns_equal_records(self, store: ScheduleStore) -> None:
        rec = record(seconds=2e-3)
        result = store.commit([rec])
        assert (result.kept, result.dropped) == (1, 0)
        assert store.top_k(rec.workload_key, CPU_A, 3) == [rec]
        assert store.best(rec.workload_key, CPU_A) == rec
        assert store.best("unknown", CPU_A) is None

    def test_keeps_best_n_per_group_fastest_first(self, store: ScheduleStore) -> None:
        times = [9e-3, 1e-3, 5e-3, 3e-3, 7e-3, 2e-3, 8e-3, 4e-3]
        store.commit([record(seconds=t) for t in times[:4]])
        result = store.commit([record(seconds=t) for t in times[4:]])
        assert result.kept + result.dropped == 4
        found = store.top_k("00000000000000aa", CPU_A, 100)
        assert [r.latency.mean for r in found] == pytest.approx(sorted(times)[: store.keep])
        assert store.count() == store.keep

    def test_same_schedule_twice_keeps_the_faster_measurement(self, store: ScheduleStore) -> None:
        slow = record(seconds=4e-3, schedule="s")
        fast = record(seconds=1e-3, schedule="s")
        store.commit([slow])
        assert store.commit([fast]).kept == 1
        assert store.commit([slow]).dropped == 1
        [stored] = store.top_k(slow.workload_key, CPU_A, 10)
        assert stored.latency.mean == pytest.approx(1e-3)

    def test_groups_are_per_target_build_and_source(self, store: ScheduleStore) -> None:
        recs = [
            record(seconds=1e-3, target=CPU_A), record(seconds=2e-3, target=CPU_B),
            record(seconds=3e-3, target=GPU), record(seconds=4e-3, build="fake-2"),
            record(seconds=5e-4, source="predicted"),
        ]
        store.commit(recs)
        assert store.count() == 5
        assert [r.source for r in store.top_k("00000000000000aa", CPU_A, 10)] == [
            "tuned", "tuned", "predicted"]
        assert store.top_k("00000000000000aa", CPU_A, 1, build="fake-2")[0].build == "fake-2"
        assert store.top_k("00000000000000aa", CPU_A, 5, source="predicted")[0].source == "predicted"
        loose = store.top_k("00000000000000aa", CPU_B, 10, match="loose")
        assert {r.target for r in loose} == {CPU_A, CPU_B}
        assert all(r.target != GPU for r in loose)

    def test_estimates_are_never_ranked_against_measurements(self, store: ScheduleStore) -> None:
        """An optimistic estimate (predicted) never outranks a measured or tuned record, however
        fast it claims to be; measured records rank after tuned ones, each group by latency."""
        store.commit([record(seconds=1e-6, schedule="estimate", source="predicted"),
                      record(seconds=2e-3, schedule="measured-slow", source="measured"),
                      record(seconds=1e-3, schedule="measured-fast", source="measured"),
                      record(seconds=5e-3, schedule="tuned", source="tuned")])
        ranked = store.top_k("00000000000000aa", CPU_A, 10)
        assert [r.schedule for r in ranked] == ["tuned", "measured-fast", "measured-slow", "estimate"]
        assert [r.schedule for r in store.top_k("00000000000000aa", CPU_A, 10, source="measured")] == [
            "measured-fast", "measured-slow"]
        store.delete("00000000000000aa")
        store.commit([record(seconds=1e-6, schedule="estimate", source="predicted"),
                      record(seconds=1e-3, schedule="measured", source="measured")])
        found = find_schedule(store, "00000000000000aa", CPU_A, "fake-1")
        assert found is not None and found.record.schedule == "measured" and not found.complete

    def test_a_measurement_on_this_target_beats_a_search_on_another_cpu(self, store: ScheduleStore) -> None:
        store.commit([record(seconds=1e-4, schedule="tuned-elsewhere", target=CPU_B),
                      record(seconds=2e-3, schedule="measured-here", source="measured"),
                      record(seconds=1e-6, schedule="estimate-here", source="predicted")])
        found = find_schedule(store, "00000000000000aa", CPU_A, "fake-1")
        assert found is not None and found.record.schedule == "measured-here" and found.match == "exact"
        store.commit([record(seconds=5e-3, schedule="tuned-here")])
        found = find_schedule(store, "00000000000000aa", CPU_A, "fake-1")
        assert found is not None and found.record.schedule == "tuned-here" and found.complete
        elsewhere = find_schedule(store, "00000000000000aa", GPU, "fake-1")
        assert elsewhere is None  # another kind of target: nothing applies
        store.delete("00000000000000aa")
        store.commit([record(seconds=1e-4, schedule="tuned-elsewhere", target=CPU_B),
                      record(seconds=1e-6, schedule="estimate-here", source="predicted")])
        found = find_schedule(store, "00000000000000aa", CPU_A, "fake-1")
        assert found is not None and found.record.schedule == "tuned-elsewhere" and found.match == "loose"

    def test_equivalents_compete_within_each_step_of_the_rule(self, store: ScheduleStore) -> None:
        """An equivalent's faster record wins at the same step; a better step of the rule (tuned
        over measured, exact target over loose) wins whatever the equivalent's latency."""
        aa, bb = "00000000000000aa", "00000000000000bb"
        store.commit([record(aa, 2e-3, schedule="own"), record(bb, 1e-3, schedule="twin"),
                      record(bb, 1e-6, schedule="twin-elsewhere", target=CPU_B)])
        found = find_schedule(store, aa, CPU_A, "fake-1", equivalents=[bb, aa])
        assert found is not None and found.record.schedule == "twin" and found.record.workload_key == bb
        assert not found.own and not found.complete  # its own search may still find better
        own = find_schedule(store, aa, CPU_A, "fake-1")
        assert own is not None and own.record.schedule == "own" and own.complete  # its own only
        store.commit([record(bb, 1e-9, schedule="twin-measured", source="measured")])
        store.delete(aa)
        store.commit([record(aa, 5e-3, schedule="own-tuned")])
        found = find_schedule(store, aa, CPU_A, "fake-1", equivalents=[bb])
        assert found is not None and found.record.schedule == "twin" and found.match == "exact"
        nothing = find_schedule(store, "00000000000000cc", CPU_A, "fake-1", equivalents=["00000000000000dd"])
        assert nothing is None

    def test_lookup_is_the_rule_in_one_call(self, store: ScheduleStore) -> None:
        """What ``lookup`` returns is the lowest ``lookup_rank`` among the records of the keys
        for the target's kind, whatever the backend does to find it."""
        aa, bb, cc = "00000000000000aa", "00000000000000bb", "00000000000000cc"
        every = [record(aa, 1e-3, target=CPU_B), record(aa, 3e-3, build="fake-0"),
                 record(aa, 1e-6, source="predicted"), record(bb, 4e-3, source="measured"),
                 record(bb, 2e-6, target=CPU_B, source="predicted"), record(aa, 1e-9, target=GPU),
                 record(cc, 1e-9)]
        store.commit(every)
        asked = (([aa, bb, aa], "fake-1"), ([aa], "fake-0"), ([bb], "fake-1"), ([aa, bb], "fake-0"))
        for keys, build in asked:
            wanted = [r for r in every if r.workload_key in keys and r.target.loose_key == CPU_A.loose_key]
            expected = min(wanted, key=lambda r: lookup_rank(r, CPU_A, build))
            assert store.lookup(keys, CPU_A, build) == expected, (keys, build)
        assert store.lookup([], CPU_A, "fake-1") is None and store.lookup([cc], GPU, "fake-1") is None

    def test_predicted_records_never_evict_tuned_ones(self, store: ScheduleStore) -> None:
        store.commit([record(seconds=5e-3 + i * 1e-4, schedule=f"t{i}") for i in range(store.keep)])
        store.commit([record(seconds=1e-6 * (i + 1), schedule=f"p{i}", source="predicted")
                      for i in range(store.keep + 2)])
        assert store.count() == 2 * store.keep
        tuned = store.top_k("00000000000000aa", CPU_A, store.keep, source="tuned")
        assert len(tuned) == store.keep

    def test_records_count_delete_with_filters(self, store: ScheduleStore) -> None:
        store.commit([record("00000000000000aa", 1e-3), record("00000000000000aa", 2e-3, target=CPU_B),
                      record("00000000000000bb", 1e-3, dialect="other")])
        assert store.count() == 3
        assert store.count(dialect="other") == 1
        assert store.count(workload_key="00000000000000aa", target=CPU_B) == 1
        assert [r.workload_key for r in store.records(dialect="fake")] == ["00000000000000aa"] * 2
        assert store.delete("00000000000000aa", target=CPU_B) == 1
        assert store.delete("00000000000000aa", build="nope") == 0
        assert store.delete("00000000000000aa") == 1
        assert store.count() == 1

    def test_delete_records_deletes_those_named_and_keeps_the_rest_of_their_groups(
            self, store: ScheduleStore) -> None:
        recs = [record(seconds=(i + 1) * 1e-3, schedule=f"s{i}") for i in range(3)]
        other = record("00000000000000bb", 1e-3, target=CPU_B)
        store.commit([*recs, other])
        never_stored = record(seconds=9e-3, schedule="never")
        assert store.delete_records([recs[0], recs[2], never_stored]) == 2
        assert _ids(list(store.records())) == _ids([recs[1], other])
        assert store.top_k("00000000000000aa", CPU_A, 3)[0].schedule == "s1"
        assert store.delete_records([recs[1], other]) == 2  # groups emptied
        assert store.count() == 0 and list(store.groups()) == []
        assert store.delete_records([]) == 0
        store.commit([recs[0]])  # an emptied group takes records again
        assert _ids(list(store.records())) == _ids([recs[0]])

    def test_groups_summarise_without_reading_schedules(self, store: ScheduleStore) -> None:
        store.commit([record(seconds=t) for t in (3e-3, 1e-3)]
                     + [record(seconds=2e-3, target=CPU_B), record("00000000000000bb", 5e-3, build="fake-2")])
        summary = [(g.workload_key, g.target, g.build, g.source, g.records, g.best_seconds)
                   for g in store.groups()]
        assert summary == sorted(summary, key=lambda g: (g[0], g[1].canonical, g[2], g[3]))
        assert sorted(summary, key=lambda g: (g[0], g[1].canonical)) == sorted([
            ("00000000000000aa", CPU_A, "fake-1", "tuned", 2, pytest.approx(1e-3)),
            ("00000000000000aa", CPU_B, "fake-1", "tuned", 1, pytest.approx(2e-3)),
            ("00000000000000bb", CPU_A, "fake-2", "tuned", 1, pytest.approx(5e-3)),
        ], key=lambda g: (g[0], g[1].canonical))

    def test_prune_keeps_the_best_of_every_group(self, store: ScheduleStore) -> None:
        from lorien.errors import InvalidInput

        recs = [record(seconds=(i + 1) * 1e-3, schedule=f"s{i}") for i in range(4)]
        recs += [record("00000000000000bb", (i + 1) * 1e-3, schedule=f"s{i}", target=CPU_B) for i in range(3)]
        store.commit(recs)
        assert store.prune(2) == 3
        assert _ids(list(store.records())) == _ids(best_per_group(recs, 2))
        assert store.prune(2) == 0
        with pytest.raises(InvalidInput):
            store.prune(0)

    def test_empty_commit_and_bad_arguments(self, store: ScheduleStore) -> None:
        from lorien.errors import InvalidInput

        assert store.commit([]).kept == 0
        with pytest.raises(InvalidInput):
            store.top_k("00000000000000aa", CPU_A, 0)
        with pytest.raises(InvalidInput):
            store.top_k("00000000000000aa", CPU_A, 1, match="fuzzy")  # type: ignore[arg-type]

    def _uri(self, request: pytest.FixtureRequest) -> str:
        if not self.opened_by_uri:
            pytest.skip("this store lives in one process and one open (opened_by_uri = False)")
        return str(request.getfixturevalue("store_uri"))

    def test_reopened_store_keeps_everything(self, request: pytest.FixtureRequest) -> None:
        store_uri = self._uri(request)
        recs = [record(seconds=t) for t in (1e-3, 2e-3)]
        with open_store(store_uri) as first:
            first.commit(recs)
            first.put_workloads([workload()])
        with open_store(store_uri) as second:
            assert _ids(list(second.records())) == _ids(recs)
            assert second.get_workload("fake", "00000000000000aa") == workload()

    def test_threads_committing_at_once(self, store: ScheduleStore) -> None:
        from concurrent.futures import ThreadPoolExecutor

        rng = random.Random(1)
        recs = [record(key=rng.choice(["00000000000000aa", "00000000000000bb"]),
                       seconds=rng.uniform(1e-4, 1e-2)) for _ in range(80)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda chunk: store.commit(chunk), [recs[i::4] for i in range(4)]))
        assert _ids(list(store.records())) == _ids(best_per_group(recs, store.keep))

    def test_processes_committing_interleaved_records(self, request: pytest.FixtureRequest) -> None:
        """Several processes commit interleaved records for the same workloads: what is stored
        equals the best-N of everything committed (no lost update, no duplicate, no excess)."""
        store_uri = self._uri(request)
        rng = random.Random(7)
        keys = ["00000000000000aa", "00000000000000bb", "00000000000000cc"]
        recs = []
        for _ in range(240):
            schedule = f"s{rng.randrange(60)}"  # repeated schedules with different timings
            recs.append(record(key=rng.choice(keys), seconds=rng.uniform(1e-4, 1e-2),
                               schedule=schedule, target=rng.choice([CPU_A, CPU_B])))
        open_store(store_uri).close()  # create the schema before the race
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=_commit_in_child,
                            args=(store_uri, [r.to_dict() for r in recs[i::4]], 1 + i * 3))
            for i in range(4)
        ]
        for proc in workers:
            proc.start()
        for proc in workers:
            proc.join(120)
            assert proc.exitcode == 0
        with open_store(store_uri) as store:
            stored = list(store.records())
            expected = best_per_group(recs, store.keep)
        assert _ids(stored) == _ids(expected)
        by_id = {r.record_id: r for r in expected}
        for rec in stored:
            assert rec.latency.mean == pytest.approx(by_id[rec.record_id].latency.mean)
