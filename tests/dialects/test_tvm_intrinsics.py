"""Only the host CPU's tensor intrinsics are loaded for CPU work (seconds instead of tens)."""

from __future__ import annotations

import subprocess
import sys


def test_cpu_intrinsics_skip_the_other_backends() -> None:
    code = (
        "import sys, time\n"
        "from lorien.dialects.tvm.intrinsics import load_intrinsics_for\n"
        "start = time.perf_counter(); init = load_intrinsics_for('llvm')\n"
        "import tvm.s_tir.tensor_intrin\n"
        "from tvm.s_tir import meta_schedule as ms\n"
        "import tvm\n"
        "ms.TuneContext(target=tvm.target.Target({'kind': 'llvm', 'num-cores': 1}))\n"
        "print(round(time.perf_counter() - start, 1), init is not None,\n"
        "      'tvm.s_tir.tensor_intrin.cuda' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=300)
    seconds, has_initializer, cuda_loaded = out.stdout.split()
    assert has_initializer == "True" and cuda_loaded == "False"
    assert float(seconds) < 10
