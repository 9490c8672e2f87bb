"""Print the API's OpenAPI document, as ``api/scoria/schema/?format=json`` serves it.

CI lints it with Redocly. Uses the test settings; needs no database.
"""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from scoria_django.api.schema import SchemaView  # noqa: E402

request = APIRequestFactory().get("/api/scoria/schema/", {"format": "json"})
force_authenticate(request, user=SimpleNamespace(is_authenticated=True, pk=None))
response = SchemaView.as_view()(request)
response.render()
if response.status_code != 200:
    sys.exit(f"schema/ answered {response.status_code}: {response.content[:500]!r}")
sys.stdout.write(response.content.decode())
