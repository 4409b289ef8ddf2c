"""The shape every dataset in the catalog has, whatever its source.

Ids are int64 everywhere inside the platform (models want contiguous integers); a source's own
ids are kept beside them (for example `spotify_id` on tracks). Timestamps are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# The Spotify Web API audio features, in one fixed order used by every stage.
AUDIO_FEATURES = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
    "time_signature",
)

EVENT_TYPES = ("play", "skip", "like", "dislike", "rating")


@dataclass
class Dataset:
    """A loaded dataset in canonical frames.

    interactions: user_id int64, item_id int64, event_type (one of EVENT_TYPES),
        value float64 (the rating for `rating`, the play count or 1.0 otherwise),
        timestamp datetime64[ns, UTC]
    items: item_id int64 (unique), title, artist_id int64 (nullable Int64), artist_name,
        genre (str, may be empty), genres (list[str]), release_year (Int64),
        popularity (float, may be NaN), the AUDIO_FEATURES columns (float, NaN where unknown),
        and source-specific extras (spotify_id, ...)
    users: user_id int64 (unique) and source-specific extras
    artists: artist_id int64 (unique), name
    extras: other real tables of the source (tags, friends, ...), by name
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    artists: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["artist_id", "name"]))
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: dict[str, float | int | str] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        return {
            "interactions": len(self.interactions),
            "users": int(self.interactions["user_id"].nunique()) if len(self.interactions) else 0,
            "items": len(self.items),
            "artists": len(self.artists),
        }
