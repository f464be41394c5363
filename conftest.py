"""Repository-wide pytest settings."""

import os

from hypothesis import settings

# CI runs the property tests with a fixed example sequence, so a red CI is reproducible; a local
# run explores new examples each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
