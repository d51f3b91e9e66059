"""Write to stdout without end."""

import os

block = b"flood " * 10_000
while True:
    os.write(1, block)
