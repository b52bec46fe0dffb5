"""``python -m newsbeam`` is the same as the ``newsbeam`` command."""

import sys

from newsbeam.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
