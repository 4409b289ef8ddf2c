"""Artist names as the join between sources sees them."""

from __future__ import annotations

import re
import unicodedata

# How each Spotify table joins several artists in one credit (see shared/data/README.md):
# the 2024 table with ", ", the hit-predictor table Billboard-style.
CREDIT_SEPARATORS = {
    "spotify-music-dataset-2024": re.compile(r", "),
    "hit-predictor-1960-2019": re.compile(r" featuring | feat\. | ft\. |, ", re.IGNORECASE),
}


def normalise(name: str) -> str:
    """NFKC (so full-width and composed forms compare equal), lower case, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def split_credit(credit: str, source: str) -> list[str]:
    """The artists of a credit, in credit order, as written."""
    parts = [p.strip() for p in CREDIT_SEPARATORS[source].split(credit)]
    return [p for p in parts if p]
