"""python -m devcluster (with the repository's devtools/ on PYTHONPATH)."""

import sys

from devcluster.cli import main

sys.exit(main())
