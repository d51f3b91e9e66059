"""Sleep far past the wall-time cap."""

import time

time.sleep(3600)
