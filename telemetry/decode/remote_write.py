"""Prometheus remote write 1.0: validate and count samples without decoding them.

The body goes to VictoriaMetrics unchanged, so this module only answers "how many samples".
Two trimmed schemas, built at import time, keep all the work in upb: the request is parsed with
each time series kept as bytes, and the series are then concatenated and parsed once as a single
`TimeSeries` (protobuf merges repeated fields of concatenated messages), whose `samples` field,
also kept as bytes, gives the count in one `len`. No Python object is made per sample.

What VictoriaMetrics will not store is told apart the same way: the samples' bytes, joined, parse
as one message of two repeated fields (every value, every timestamp), so the window check is a
min and a max and the NaN check one sum; only a body that fails them is looked at per sample.

Validation is that of a full parse, with one gap: a series whose last field is cut short may be
read on into the next series. VictoriaMetrics parses strictly and refuses such a body, so the
request fails as a whole and what was counted for it is refunded.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Final, NamedTuple, Protocol, cast

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from telemetry.decode.errors import DecodeError, PayloadTooLarge, UnsupportedMediaType


class RemoteWriteInfo(NamedTuple):
    """What a remote-write body holds.

    `samples` is the billable unit. Native histograms (`histograms`) are counted apart because
    VictoriaMetrics 1.79 drops them on ingestion; the gateway decides whether to refuse them.
    """

    samples: int
    series: int
    histograms: int
    decompressed_size: int
    unstored: int = 0
    """Samples VictoriaMetrics drops: NaN (except staleness markers) or dated outside the
    window given to `count_remote_write` (counted only when one is given)."""


class _TrimmedRequest(Protocol):
    timeseries: Sequence[bytes]
    v2_symbols: Sequence[bytes]
    v2_timeseries: Sequence[bytes]


class _TrimmedSeries(Protocol):
    samples: Sequence[bytes]
    histograms: Sequence[bytes]


class _PointsView(Protocol):
    value: Sequence[float]
    timestamp: Sequence[int]


class _SeriesPointsView(Protocol):
    samples: _PointsView


def _trimmed_schema() -> tuple[type[message.Message], ...]:
    """The WriteRequest and TimeSeries classes with every nested message kept as bytes, and the
    Points class that reads concatenated samples."""
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="tollgate/remote_write_trimmed.proto", package="tollgate.rwtrim", syntax="proto3"
    )
    request = file.message_type.add(name="WriteRequest")
    # 1 = timeseries; 4 and 5 exist only in remote write 2.0 (symbols, timeseries).
    for name, number in (("timeseries", 1), ("v2_symbols", 4), ("v2_timeseries", 5)):
        request.field.add(
            name=name, number=number, type=field.TYPE_BYTES, label=field.LABEL_REPEATED
        )
    series = file.message_type.add(name="TimeSeries")
    for name, number in (("labels", 1), ("samples", 2), ("histograms", 4)):
        series.field.add(
            name=name, number=number, type=field.TYPE_BYTES, label=field.LABEL_REPEATED
        )
    # Samples (1 = double value, 2 = int64 timestamp) concatenated: every field repeats.
    points = file.message_type.add(name="Points")
    points.field.add(name="value", number=1, type=field.TYPE_DOUBLE, label=field.LABEL_REPEATED)
    points.field.add(name="timestamp", number=2, type=field.TYPE_INT64, label=field.LABEL_REPEATED)
    # The series concatenated, with `samples` as one (not repeated) Points: protobuf merges every
    # occurrence of a singular message field, so all values and timestamps land in one message.
    series_points = file.message_type.add(name="SeriesPoints")
    series_points.field.add(
        name="samples",
        number=2,
        type=field.TYPE_MESSAGE,
        type_name=".tollgate.rwtrim.Points",
        label=field.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tollgate.rwtrim.WriteRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tollgate.rwtrim.TimeSeries")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tollgate.rwtrim.Points")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tollgate.rwtrim.SeriesPoints")),
    )


_WriteRequest, _TimeSeries, _Points, _SeriesPoints = _trimmed_schema()
_STALE_NAN: Final = 0x7FF0000000000002
"""Prometheus' staleness marker: the one NaN VictoriaMetrics stores."""


def count_remote_write(
    body: bytes, *, max_decompressed: int, window: tuple[int, int] | None = None
) -> RemoteWriteInfo:
    """Decompress a snappy (block format) remote-write body, check it parses, count its samples
    (and, given a `[floor, ceiling)` window of Unix milliseconds, those that won't be stored)."""
    try:
        declared = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as exc:
        raise DecodeError(f"remote write: not a snappy block ({exc})") from None
    if declared > max_decompressed:
        raise PayloadTooLarge(f"body exceeds {max_decompressed} bytes once decompressed")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise DecodeError(f"remote write: corrupt snappy block ({exc})") from None
    try:
        request = cast(_TrimmedRequest, _WriteRequest.FromString(raw))
        if request.v2_symbols or request.v2_timeseries:
            raise UnsupportedMediaType(
                "remote write 2.0 (io.prometheus.write.v2.Request) is not supported; send 1.0"
            )
        joined = b"".join(request.timeseries)
        merged = cast(_TrimmedSeries, _TimeSeries.FromString(joined))
        unstored = 0 if window is None else _unstored(joined, merged.samples, *window)
    except message.DecodeError:
        raise DecodeError("remote write: the body is not a valid WriteRequest") from None
    return RemoteWriteInfo(
        samples=len(merged.samples),
        series=len(request.timeseries),
        histograms=len(merged.histograms),
        decompressed_size=len(raw),
        unstored=unstored,
    )


def _unstored(joined: bytes, samples: Sequence[bytes], floor_ms: int, ceiling_ms: int) -> int:
    """How many samples are NaN (not a staleness marker) or dated outside `[floor, ceiling)`."""
    if not samples:
        return 0
    points = cast(_SeriesPointsView, _SeriesPoints.FromString(joined)).samples
    stamps = list(points.timestamp)
    # proto3 leaves a zero timestamp out (1970: outside any window); the sum of the values is
    # NaN when one is (or when +Inf and -Inf meet), then each sample is looked at.
    if (
        len(stamps) == len(samples)
        and floor_ms <= min(stamps)
        and max(stamps) < ceiling_ms
        and not math.isnan(sum(points.value))
    ):
        return 0
    unstored = 0
    for sample in samples:
        point = cast(_PointsView, _Points.FromString(sample))
        stamp = point.timestamp[-1] if point.timestamp else 0
        value = point.value[-1] if point.value else 0.0
        stale = struct.pack("<d", value) == _STALE_BYTES
        unstored += not floor_ms <= stamp < ceiling_ms or (math.isnan(value) and not stale)
    return unstored


_STALE_BYTES: Final = struct.pack("<Q", _STALE_NAN)
