"""What Lorien's tests and benchmarks stand on, for Lorien's own suite and for third-party
backends and dialects: the conformance suites every store, queue and log store must pass
(``store_conformance``, ``queue_conformance``, ``logstore_conformance``; pytest classes to
subclass), builders of records (``factories``), moto's server answering one request at a time
(``local_aws``) and a proxy injecting AWS faults in front of it (``aws_faults``), a real TVM RPC
tracker and servers on 127.0.0.1 (``local_rpc``), and the ``instant`` dialect (no compiler, tunes
at once) for queue drills and benchmarks.

The package needs the test extras (pytest, moto); nothing outside it imports it, so an
installation without them never loads it.
"""
