"""Entry point of a scan worker process: aggregate one byte range, pickle it to stdout."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

from flowctl.optimize.scan import scan_range


def main(argv: list[str]) -> int:
    request = json.loads(argv[0])
    result = scan_range(
        Path(request["path"]), request["start"], request["end"], request["workflow"]
    )
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
