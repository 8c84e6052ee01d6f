"""claim_next with the pipelined claim against the usual path, alternating, on one database.

    python -m bench.claim_pipeline_ab --db postgresql://... --rounds 4 --report /tmp/ab.json

Each round runs `bench.scale.measure_claims` (1,000 claims each released, then 300
claim + decide) twice on the same code and database: once the usual way, once pipelined
(`_claims.pipelined`). The usual path is forced the way the product itself falls back to
it: an engine with a `before_cursor_execute` listener is never pipelined (here a no-op
listener, about a microsecond per statement). Prints and writes each round's percentiles
with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.scale import measure_claims, open_queue


def _no_op(*_args: Any) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="postgresql://... (e.g. the scale database)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--report", type=Path, default=Path("claim-pipeline-ab.json"))
    args = parser.parse_args()
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        for mode in ("usual", "pipelined"):
            q = open_queue(args.db)
            if mode == "usual":
                event.listen(q.engine, "before_cursor_execute", _no_op)
            load = os.getloadavg()[0]
            result = measure_claims(q)
            q.close()
            print(number, mode, round(load, 2), result["claim_next"], result["decide"], flush=True)
            rounds.append({"round": number, "mode": mode, "load_average": load, **result})
    args.report.write_text(json.dumps(rounds, indent=2))


if __name__ == "__main__":
    main()
