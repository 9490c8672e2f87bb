#!/usr/bin/env python
"""The example host project's manage.py: ``make demo`` migrates and serves it."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # The repository root, so ``example_project`` imports from a checkout.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
