"""Tuning from a pre-trained search model (warm start) against MetaSchedule's default (cold start),
at the same trials per kernel: per kernel, and for the whole network against PyTorch eager.

The cold side is the shipped data set's own search of each kernel (the campaign tunes cold at 64
trials; ``--tune-cold`` tunes what it lacks). The warm side tunes each kernel again, guided by a
search model trained on the data set *without the network's family* (every workload of a network
of the same model family is left out), so the network is as new to the model as a user's is.

Resumable: warm tuning commits to ``--workdir`` after each kernel.

    python benchmarks/warm_start.py --network resnet18 --trials 64 [--kernels 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from lorien.config import open_logs, open_store
from lorien.datasets.campaign import read_networks
from lorien.datasets.eager import time_torch_eager_alone
from lorien.datasets.seed import seed_store, tuning_logs_dir
from lorien.datasets.zoo import family_workloads, load_model, model_family
from lorien.dialects import TuneOptions, get_dialect
from lorien.dialects.tvm.search_model import fit_search_model, save_search_model
from lorien.logstore import LocalLogStore, read_logs
from lorien.tuner import tune_workloads


def best_search_latency(logs: list, key: str, trials: int) -> float | None:
    """The fastest of the first ``trials`` search measurements (not random samples) of a kernel."""
    found = [m.latency.mean for log in logs if log.workload.key == key
             for m in log.measurements[:trials] if m.latency is not None and m.origin == "search"]
    return min(found) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--kernels", type=int, default=None,
                        help="only the N kernels that cost the network most (FLOPs x uses)")
    parser.add_argument("--tune-cold", action="store_true",
                        help="tune cold, into the data set's folder, the kernels it lacks")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/results/warm_start"))
    args = parser.parse_args()

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    source = load_model(args.network)
    model = dialect.load_model(source)
    uses = sorted((u for u in dialect.extract(model, target) if u.workload.flops > 0),
                  key=lambda u: -u.workload.flops * u.weight)[: args.kernels]
    workdir = args.workdir / args.network
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = tuning_logs_dir()
    if args.tune_cold:
        with open_store(f"sqlite:///{workdir.resolve()}/cold.db") as cold_store:
            seed_store(cold_store, data_dir)
            lacking = [u.workload for u in uses if not cold_store.count(workload_key=u.workload.key)]
            tune_workloads(dialect, lacking, target, cold_store, open_logs(f"file://{data_dir}"),
                           TuneOptions(trials=args.trials, warm_start=False))
    data_logs = read_logs(LocalLogStore(data_dir))[0]

    model_file = workdir / "search_model.json"
    if not model_file.exists():
        left_out = family_workloads(read_networks(LocalLogStore(data_dir)), args.network)
        left_out |= {u.workload.key for u in uses}
        search_model, rows = fit_search_model(data_logs, exclude=left_out)
        save_search_model(search_model, rows, model_file)
        print(f"search model: {rows} measurements, {len(left_out)} workloads of the "
              f"{model_family(args.network)} family left out", flush=True)

    with open_store(f"sqlite:///{workdir.resolve()}/warm.db") as warm_store:
        tune_workloads(dialect, [u.workload for u in uses], target, warm_store,
                       open_logs(f"file://{(workdir / 'logs').resolve()}"),
                       TuneOptions(trials=args.trials, search_model=model_file.resolve()))
        warm_logs = read_logs(LocalLogStore(workdir / "logs"))[0]
        rows_out = []
        print(f"\n{args.network}, {args.trials} trials per kernel, target {target.canonical}\n")
        print("kernel | uses | cold best | warm best | cold / warm")
        for use in uses:
            cold = best_search_latency(data_logs, use.workload.key, args.trials)
            warm = best_search_latency(warm_logs, use.workload.key, args.trials)
            rows_out.append({"kernel": use.workload.name, "key": use.workload.key, "uses": use.weight,
                             "cold_ms": cold and cold * 1e3, "warm_ms": warm and warm * 1e3})
            ratio = f"{cold / warm:.2f}x" if cold and warm else "-"
            print(f"{use.workload.name[:70]} | {use.weight} | "
                  f"{cold * 1e3 if cold else float('nan'):.3f} ms | "
                  f"{warm * 1e3 if warm else float('nan'):.3f} ms | {ratio}")
        paired = [r["cold_ms"] / r["warm_ms"] for r in rows_out if r["cold_ms"] and r["warm_ms"]]
        if paired:
            print(f"\nmedian cold / warm over {len(paired)} kernels: {statistics.median(paired):.2f}x; "
                  f"geometric mean {statistics.geometric_mean(paired):.2f}x")
        seconds = {"warm": sum(log.finished_at - log.started_at for log in warm_logs
                               if log.workload.key in {u.workload.key for u in uses})}
        summary: dict[str, object] = {"network": args.network, "trials": args.trials, "kernels": rows_out,
                                      "warm_tuning_s": seconds["warm"]}
        if args.kernels is None:  # the whole network: build it both ways
            with open_store(f"sqlite:///{workdir.resolve()}/cold.db") as cold_store:
                seed_store(cold_store, data_dir)
                cold_build = dialect.compile(model, target, cold_store)
            warm_build = dialect.compile(model, target, warm_store)
            eager = time_torch_eager_alone(args.network, repeat=args.repeat).median
            latency = {"cold": dialect.time(cold_build, args.repeat).median,
                       "warm": dialect.time(warm_build, args.repeat).median, "eager": eager}
            print("\nbuild | kernels scheduled | latency | vs PyTorch eager")
            for name, build in (("cold", cold_build), ("warm", warm_build)):
                print(f"{name} start | {build.kernels_scheduled}/{build.kernels} | "
                      f"{latency[name] * 1e3:.1f} ms | {latency[name] / eager:.2f}x")
            print(f"PyTorch eager | | {eager * 1e3:.1f} ms | 1.00x")
            summary["latency_s"] = latency
        (workdir / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
