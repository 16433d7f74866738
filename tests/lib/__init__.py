# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The one harness of the wspipe integration tests.  A test script does
#
#     import lib as w
#
# (it runs as tests/NAME.py, so tests/ is on sys.path) and finds every
# helper in one namespace:
#
#   tap      TAP output, run() under an alarm with cleanup, point()
#   proc     /proc probes (children, zombies, fds, RSS), polling with a
#            deadline, the subreaper, fixture directories, ASan/valgrind
#   gateway  the Gateway class (a wspipe on a free port), start-up
#            failures, a respawning gateway, log polling
#   ws       WebSocket frames, the raw client (HTTP and WebSocket over TCP
#            or TLS), and the python3-websockets glue
#   http     whole HTTP requests on fresh connections, TLS fixtures
#   listen   listen mode: brokers, their line protocol, the Fixture
#   redis    a real redis-server per test, and a RESP client
#
# Nothing here sleeps to synchronise: every wait polls a deadline.

from .proc import *             # noqa: F401,F403
from .tap import *              # noqa: F401,F403
from .gateway import *          # noqa: F401,F403
from .ws import *               # noqa: F401,F403
from .http import *             # noqa: F401,F403
from .listen import *           # noqa: F401,F403
from .redis import *            # noqa: F401,F403
