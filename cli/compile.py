"""``lorien compile``: build a model with the store's schedules and compare its latency."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from lorien.cli.common import (
    format_seconds,
    lowering_of,
    model_options,
    open_schedule_store,
    print_json,
    print_table,
    service_token,
    storage_options,
    target_options,
)
from lorien.errors import InvalidInput, WrongOutput
from lorien.outputs import DEFAULT_ATOL, DEFAULT_RTOL, max_abs_error, output_mismatch


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compile", parents=[model_options(), target_options(), storage_options()],
        help="build a model with the stored schedules; compare with untuned and torch eager",
        description="Build a model with the store's schedules through the compiler hook, and "
                    "print its latency beside the untuned build and PyTorch eager.",
    )
    parser.add_argument("--service", metavar="URL",
                        help="ask a Lorien service (lorien serve) for the schedules instead of the store: "
                             "one request for the whole model; misses come back predicted")
    parser.add_argument("--no-predict", action="store_true",
                        help="with --service: only stored schedules, no predictions for misses")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="with --service: let the service improve the schedules for this long first, "
                             "measuring them on its machine where the model's time goes (the service must "
                             "run on the target's CPU; needs its token: LORIEN_SERVICE_TOKEN, or the token "
                             "file of a service this user started here)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each build (5)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="time only the build with Lorien's schedules")
    parser.add_argument("--check", action="store_true",
                        help="compare the build's outputs with the reference (PyTorch for a torch model, "
                             "the untuned build otherwise); exit code 6 beyond the tolerance")
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL,
                        help=f"--check's relative tolerance ({DEFAULT_RTOL:g})")
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL,
                        help=f"--check's absolute tolerance ({DEFAULT_ATOL:g})")
    parser.add_argument("--output", metavar="FILE.so",
                        help="write the built model as a shared library (weights included) that "
                             "tvm.runtime.load_module loads; with --check, only once it passed")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.cli.models import load_for_dialect
    from lorien.datasets.eager import time_torch_eager_alone
    from lorien.dialects import Builder, TorchModel

    if not args.model:
        raise InvalidInput("--model is required")
    if args.repeat < 1:
        raise InvalidInput(f"--repeat must be at least 1, got {args.repeat}")
    if not (0 <= args.rtol < 1 and 0 <= args.atol):
        raise InvalidInput(f"--rtol must be in [0, 1) and --atol not negative, got {args.rtol}, {args.atol}")
    if args.budget is not None and not args.service:
        raise InvalidInput("--budget needs --service (without a service: lorien predict --budget)")
    if args.budget is not None and not (math.isfinite(args.budget) and args.budget > 0):
        raise InvalidInput(f"--budget must be a finite number of seconds above 0, got {args.budget}")
    if args.output and not args.output.endswith(".so"):
        raise InvalidInput(f"--output must name a .so file, got {args.output}")
    dialect, target, source, model = load_for_dialect(args, Builder)
    lowering = lowering_of(args) or dialect.default_lowering
    answered: dict[str, int] = {}
    refused: list[str] = []
    if args.service:
        from lorien.serving.client import ServiceClient, fetch_schedules

        uses = dialect.extract(model, target, lowering)
        token = service_token() if args.budget else None
        with ServiceClient(args.service, token=token) as client, \
                fetch_schedules(client, target, [use.workload for use in uses], predict=not args.no_predict,
                                budget_s=args.budget, weights=[use.weight for use in uses]) as fetched:
            answered = {s: fetched.count(s) for s in ("tuned", "measured", "predicted", "missing")}
            refused = fetched.refused
            tuned = dialect.compile(model, target, fetched.store, lowering)
    else:
        with open_schedule_store(args) as store:
            tuned = dialect.compile(model, target, store, lowering)
    untuned = None
    check: dict[str, object] = {}
    if args.check:
        from lorien.datasets.eager import torch_outputs

        if isinstance(source, TorchModel):
            reference, reference_name = torch_outputs(source), "torch"
        else:
            untuned = dialect.compile(model, target, None, lowering)
            reference, reference_name = dialect.outputs(untuned), "untuned"
        got = dialect.outputs(tuned)
        problem = output_mismatch(got, reference, rtol=args.rtol, atol=args.atol)
        if problem is not None:
            raise WrongOutput(f"{args.model} built with these schedules computes the wrong thing: {problem}")
        check = {"reference": reference_name, "max_abs_error": max_abs_error(got, reference),
                 "rtol": args.rtol, "atol": args.atol}
    written = [str(p) for p in dialect.export(tuned, Path(args.output))] if args.output else []
    results = {"lorien": dialect.time(tuned, args.repeat).median}
    if not args.no_baselines:
        untuned = untuned or dialect.compile(model, target, None, lowering)
        results["untuned"] = dialect.time(untuned, args.repeat).median
        if isinstance(source, TorchModel):  # alone, in a fresh process: see time_torch_eager_alone
            try:
                results["torch_eager"] = time_torch_eager_alone(args.model, args.batch, args.repeat).median
            except RuntimeError as exc:
                print(f"warning: no PyTorch eager baseline: {exc}", file=sys.stderr)
    summary = {
        "model": args.model,
        "target": target.canonical,
        "lowering": lowering.name,
        "kernels": tuned.kernels,
        "kernels_scheduled": tuned.kernels_scheduled,
        "missing": tuned.missing,
        "unusable": tuned.unusable,
        "latency_s": results,
        **({"service": args.service, "answers": answered, "refused": refused} if args.service else {}),
        **({"check": check} if check else {}),
        **({"output": written} if written else {}),
    }
    if args.json:
        print_json(summary)
        return 0
    print(f"{args.model} on {target.canonical}, lowered {lowering.name}")
    print(f"kernels with a stored schedule: {tuned.kernels_scheduled}/{tuned.kernels}")
    for key, why in tuned.unusable.items():
        print(f"stored schedule of kernel {key} not used (built unscheduled): {why}")
    if answered:
        print(f"from {args.service}: " + ", ".join(f"{n} {status}" for status, n in answered.items()))
    for reason in refused:
        print(f"refused from {args.service}: {reason}")
    if check:
        print(f"outputs match {check['reference']} (largest difference {check['max_abs_error']:.3g})")
    for path in written:
        print(f"wrote {path}")
    lorien_s = results["lorien"]
    print_table(
        ["build", "median latency", "vs Lorien"],
        [[name, format_seconds(seconds), f"{seconds / lorien_s:.2f}x"]
         for name, seconds in results.items()],
    )
    return 0
