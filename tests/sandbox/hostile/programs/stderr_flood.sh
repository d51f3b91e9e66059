#!/bin/sh
# Write to stderr without end.
exec /usr/bin/yes "stderr flood" >&2
