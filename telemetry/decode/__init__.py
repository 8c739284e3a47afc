"""Pure decoders for ingested telemetry: decompression, unit counting and conversion to samples."""
