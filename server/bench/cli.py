"""`tongbu bench ...`: one sub-command per benchmark, each in its own module.

Why a registry of lines and not auto-discovery: the command list is the table
of contents of docs/benchmarks.md; keeping it explicit keeps the two in step.
"""

from __future__ import annotations

import typer

bench_app = typer.Typer(
    help="Benchmarks: run Tongbu and a naive baseline side by side, print a table and a ratio.",
    no_args_is_help=True,
)

# One line per benchmark module, e.g. `bench_app.command("fanout")(fanout.main)`.
from server.bench import fanout  # noqa: E402

bench_app.command("fanout")(fanout.main)
from server.bench import stats as stats_bench  # noqa: E402

bench_app.command("stats")(stats_bench.main)
from server.bench import village  # noqa: E402

bench_app.command("village")(village.main)
from server.bench import interaction  # noqa: E402

bench_app.command("interaction")(interaction.main)
from server.bench import courseware as courseware_bench  # noqa: E402

bench_app.command("courseware")(courseware_bench.main)
from server.bench import broadcast as broadcast_bench  # noqa: E402

bench_app.command("broadcast")(broadcast_bench.main)
