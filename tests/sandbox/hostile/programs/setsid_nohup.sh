#!/bin/sh
# nohup + setsid + background: the classic way to leave a shell behind.
marker=$(printf '%s' "$1" | sed 's/.*"marker": *"\([^"]*\)".*/\1/')
nohup /usr/bin/setsid /bin/sh -c "exec /usr/bin/sleep 3600 $marker" >/dev/null 2>&1 &
nohup /bin/sh -c "trap '' HUP TERM; exec /usr/bin/sleep 3601 $marker" >/dev/null 2>&1 &
echo '{"escaped": false, "detail": "left two sleepers behind"}'
