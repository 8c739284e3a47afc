"""Prometheus remote write 1.0: validate and count samples without decoding them.

The body goes to VictoriaMetrics unchanged, so this module only answers "how many samples".
Two trimmed schemas, built at import time, keep all the work in upb: the request is parsed with
each time series kept as bytes, and the series are then concatenated and parsed once as a single
`TimeSeries` (protobuf merges repeated fields of concatenated messages), whose `samples` field,
also kept as bytes, gives the count in one `len`. No Python object is made per sample.

Validation is that of a full parse, with one gap: a series whose last field is cut short may be
read on into the next series. VictoriaMetrics parses strictly and refuses such a body, so the
request fails as a whole and what was counted for it is refunded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, cast

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


class _TrimmedRequest(Protocol):
    timeseries: Sequence[bytes]
    v2_symbols: Sequence[bytes]
    v2_timeseries: Sequence[bytes]


class _TrimmedSeries(Protocol):
    samples: Sequence[bytes]
    histograms: Sequence[bytes]


def _trimmed_schema() -> tuple[type[message.Message], type[message.Message]]:
    """The WriteRequest and TimeSeries classes with every nested message kept as bytes."""
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
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tollgate.rwtrim.WriteRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("tollgate.rwtrim.TimeSeries")),
    )


_WriteRequest, _TimeSeries = _trimmed_schema()


def count_remote_write(body: bytes, *, max_decompressed: int) -> RemoteWriteInfo:
    """Decompress a snappy (block format) remote-write body, check it parses, count its samples."""
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
        merged = cast(_TrimmedSeries, _TimeSeries.FromString(b"".join(request.timeseries)))
    except message.DecodeError:
        raise DecodeError("remote write: the body is not a valid WriteRequest") from None
    return RemoteWriteInfo(
        samples=len(merged.samples),
        series=len(request.timeseries),
        histograms=len(merged.histograms),
        decompressed_size=len(raw),
    )
