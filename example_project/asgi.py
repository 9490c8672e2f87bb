"""The example project's ASGI application: what ``make demo`` serves with uvicorn.

ASGI because the run pages follow live event streams: under ASGI an open stream costs no
thread (see docs/deployment.md). In DEBUG (the demo) it serves its static files itself,
as ``runserver`` would: the admin's CSS and scoria's ``live.js``.
"""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
application = get_asgi_application()
if settings.DEBUG:
    application = ASGIStaticFilesHandler(application)
