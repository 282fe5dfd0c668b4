"""The test suite. Its folders mirror the code's (objstore, engine/<sub-package>, api,
cli), plus e2e (a served API and real processes) and repo (docs, benches, the floor plan).
Helpers shared across folders are the support_<area>.py modules here."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
