"""The REST API behind the gateway, as app/app.py stacks it minus the Reflex pages, for
bench/api/run.py to serve with granian:

    granian --interface asgi --workers 2 bench.api.serve:app
"""

from backend.api.routes import create_api
from backend.logging_setup import configure_logging
from backend.settings import get_settings
from backend.web.gateway import wrap

configure_logging()
app = wrap(create_api(), get_settings(), upload_path="/_upload")
