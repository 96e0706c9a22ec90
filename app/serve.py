"""Serve the app as built by its last `reflex run --env prod`, without building it again.

The launcher starts a web process that died with this: it is back in a second or two
instead of rebuilding the frontend, and open tabs keep working (a rebuild gives the
frontend's files new names, which the tabs' pages no longer find).
Usage: python -m app.serve HOST PORT
"""

import sys

from reflex.utils import exec
from reflex_base import constants
from reflex_base.environment import environment


def main(host: str, port: int) -> None:
    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)
    exec.run_backend_prod(host, port, constants.LogLevel.WARNING, mount_frontend_compiled_app=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
