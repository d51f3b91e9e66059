#!/bin/sh
# One file past the file-size cap, as a C program writes it: SIGXFSZ must kill it.
exec /usr/bin/head -c 8388608 /dev/zero > /tmp/big
