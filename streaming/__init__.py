"""Real-time listener events: the event schema, replay producers, the Spark Structured Streaming
job and its sinks. See streaming/README.md.

Other stages use: `streaming.schema` (Event, validate_event, InvalidEvent) and
`streaming.replay.PRODUCER_OPTIONS` to publish events; the feature update format (README) to read
the per-listener feature topic.
"""
