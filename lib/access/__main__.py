"""``python -m lib.access``: the app's bind and role checks from a shell."""
import sys

from lib.access.bind import main

sys.exit(main())
