"""``python -m lib.calllog``: verify, checkpoint and back up the call log from a shell."""
import sys

from lib.calllog.cli import main

sys.exit(main())
