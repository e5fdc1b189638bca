"""`python -m tests.flink_oracle ...` runs the fuzzer (run.py)."""

import sys

from .run import main

sys.exit(main())
