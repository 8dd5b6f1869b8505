"""The bytes between juliapack's bridge (Python) and its Julia worker (worker.jl).

Frames, both ways: a 16-byte header -- magic b"JPB1", one kind byte (REQUEST, READY, RESULT, ERROR),
three zero bytes, the body length as a little-endian u64 -- then the body. Everything is little-endian.

    REQUEST  u64 batch, u32 argument count, that many values
    READY    u32 protocol version, the worker's Julia version (UTF-8)
    RESULT   u64 batch, one value
    ERROR    u64 batch, one line of UTF-8 (the Julia exception: "<type>: <message> (in <stage>)")

A value is a tag byte and its fields:

    NOTHING  -                                                         (None <-> nothing)
    SCALAR   u8 type, the value as a one-element column's data         (NULL type: missing)
    COLUMN   a column                                                  (a Series <-> a Vector)
    TABLE    u32 columns, u64 rows, the columns                        (a DataFrame <-> a NamedTuple)
    LIST     u32 count, the values                                     (a list <-> a Vector)
    MATRIX   u8 type, u64 rows, u64 columns, the data column-major     (a 2-D array -> a Matrix)

A column is u16 name length, the UTF-8 name, u8 type, u8 flags (bit 0: validity bytes follow), u64 n,
then n validity bytes (1 = value, 0 = null) when flagged, then the data: n fixed-width values; for
strings n + 1 i64 offsets starting at 0 followed by offsets[n] UTF-8 bytes; nothing for the NULL type.
Dates are i32 days since 1970-01-01, datetimes i64 milliseconds since 1970-01-01T00:00 (UTC).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

PROTOCOL = 1
MAGIC = b"JPB1"
HEADER = struct.Struct("<4sB3xQ")
REQUEST, READY, RESULT, ERROR = 1, 2, 3, 4
FRAME_KINDS = {REQUEST: "REQUEST", READY: "READY", RESULT: "RESULT", ERROR: "ERROR"}
MAX_BODY = 1 << 34  # a header claiming more than 16 GiB is garbled, not a big batch

NOTHING, SCALAR, COLUMN, TABLE, LIST, MATRIX = range(6)
NULL, F64, F32, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, STRING, DATE, DATETIME = range(15)
TYPE_NAMES = dict(enumerate(
    "Null Float64 Float32 Int64 Int32 Int16 Int8 UInt64 UInt32 UInt16 UInt8 Bool String Date DateTime".split()
))
# numpy dtype names of the fixed-width wire types (Date and DateTime travel as their integer values).
WIRE_DTYPES = {
    F64: "<f8", F32: "<f4", I64: "<i8", I32: "<i4", I16: "<i2", I8: "i1",
    U64: "<u8", U32: "<u4", U16: "<u2", U8: "u1", BOOL: "?", DATE: "<i4", DATETIME: "<i8",
}
COLUMN_HEAD = struct.Struct("<BBQ")
NAME_LENGTH, COUNT, BATCH = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


class WireError(RuntimeError):
    """The worker's bytes do not follow the format: a garbled header, a short frame, a bad value."""


@dataclass
class Column:
    """One column in wire form: numpy data of the wire dtype, or offsets + UTF-8 bytes for strings."""

    name: str
    code: int
    length: int
    values: Any = None  # numpy array of WIRE_DTYPES[code]
    valid: Any = None  # numpy bool array, None when the column has no nulls
    offsets: Any = None  # numpy int64 array of length + 1 (strings)
    data: bytes = b""  # UTF-8 bytes (strings)


@functools.lru_cache(maxsize=None)
def numpy_codes() -> dict:
    """numpy dtype -> wire type code, for the fixed-width types."""
    import numpy as np

    return {np.dtype(dtype).newbyteorder("="): code for code, dtype in WIRE_DTYPES.items() if code not in (DATE, DATETIME)}


@functools.lru_cache(maxsize=None)
def wire_dtypes() -> dict:
    """wire type code -> numpy dtype of its data."""
    import numpy as np

    return {code: np.dtype(dtype) for code, dtype in WIRE_DTYPES.items()}


# --- frames ---------------------------------------------------------------------------------------


def frame(kind: int, body_chunks: list) -> bytes:
    """One frame as bytes: the header, then the body chunks (bytes or contiguous buffers) joined."""
    body = b"".join(body_chunks)
    return HEADER.pack(MAGIC, kind, len(body)) + body


def parse_header(header: bytes) -> tuple[int, int]:
    """(kind, body length) of a frame header; WireError when it is not one of ours."""
    magic, kind, length = HEADER.unpack(header)
    if magic != MAGIC or kind not in FRAME_KINDS or length > MAX_BODY:
        raise WireError(f"garbled frame header {header.hex()} (magic {magic!r}, kind {kind}, length {length})")
    return kind, length


def request(batch: int, args: tuple) -> bytes:
    """The REQUEST frame for one predict call."""
    from juliapack_columns import value_chunks

    chunks = [BATCH.pack(batch), COUNT.pack(len(args))]
    for arg in args:
        value_chunks(arg, chunks)
    return frame(REQUEST, chunks)


# --- encoding columns -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def name_field(name: str) -> bytes:
    """A column name's wire field; the same names come with every batch."""
    data = name.encode()
    return NAME_LENGTH.pack(len(data)) + data


def plain_column_chunks(name: str, code: int, values, out: list) -> None:
    """Append a fixed-width column without nulls, straight from its numpy values."""
    dtype = wire_dtypes()[code]
    if values.dtype is not dtype and values.dtype != dtype or not values.flags.c_contiguous:
        import numpy as np

        values = np.ascontiguousarray(values, dtype=dtype)
    out += [name_field(name), COLUMN_HEAD.pack(code, 0, len(values)), values.data]


def column_chunks(column: Column, out: list) -> None:
    """Append the wire form of a column (without a tag) to out."""
    import numpy as np

    if column.valid is None and column.code not in (NULL, STRING):
        plain_column_chunks(column.name, column.code, column.values, out)
        return
    flags = 0 if column.valid is None else 1
    out += [name_field(column.name), COLUMN_HEAD.pack(column.code, flags, column.length)]
    if column.valid is not None:
        out.append(np.ascontiguousarray(column.valid, dtype=np.bool_).data)
    if column.code == STRING:
        out += [np.ascontiguousarray(column.offsets, dtype="<i8").data, column.data]
    elif column.code != NULL:
        out.append(np.ascontiguousarray(column.values, dtype=wire_dtypes()[column.code]).data)


# --- decoding -------------------------------------------------------------------------------------


class Reader:
    """Reads fields off a frame body; every read checks that the bytes are there."""

    def __init__(self, body) -> None:
        self.body = memoryview(body)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.body):
            raise WireError(f"frame body ends at byte {len(self.body)}, a field needs {self.pos + n}")
        chunk = self.body[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))

    def array(self, dtype: str, count: int):
        import numpy as np

        size = np.dtype(dtype).itemsize
        return np.frombuffer(self.take(size * count), dtype=dtype, count=count)

    def done(self) -> None:
        if self.pos != len(self.body):
            raise WireError(f"frame body has {len(self.body) - self.pos} bytes left over after its value")


def read_column(reader: Reader) -> Column:
    (name_length,) = reader.unpack(NAME_LENGTH)
    name = bytes(reader.take(name_length)).decode()
    code, flags, length = reader.unpack(COLUMN_HEAD)
    if code not in TYPE_NAMES:
        raise WireError(f"column {name!r} has unknown type code {code}")
    column = Column(name, code, length)
    if flags & 1:
        column.valid = reader.array("?", length)
    if code == STRING:
        column.offsets = reader.array("<i8", length + 1)
        column.data = bytes(reader.take(int(column.offsets[-1])))
    elif code != NULL:
        column.values = reader.array(WIRE_DTYPES[code], length)
    return column


SCALAR_FORMATS = {code: struct.Struct(fmt) for code, fmt in {
    F64: "<d", F32: "<f", I64: "<q", I32: "<i", I16: "<h", I8: "<b", U64: "<Q", U32: "<I", U16: "<H", U8: "<B",
    BOOL: "<?", DATE: "<i", DATETIME: "<q",
}.items()}


def read_scalar(reader: Reader):
    """A scalar answer as a Python value (no numpy needed)."""
    import datetime

    (code,) = reader.unpack(struct.Struct("<B"))
    if code == NULL:
        return None
    if code == STRING:
        start, end = reader.unpack(struct.Struct("<qq"))
        return bytes(reader.take(end - start)).decode()
    if code not in SCALAR_FORMATS:
        raise WireError(f"scalar of unknown type code {code}")
    (value,) = reader.unpack(SCALAR_FORMATS[code])
    if code == DATE:
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=value)
    if code == DATETIME:
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=value)
    return value


def read_answer(reader: Reader, library: str):
    """The value of a RESULT: None, a Python scalar, a Series or a DataFrame of `library`."""
    from juliapack_columns import frame_of, series_of

    (tag,) = reader.unpack(struct.Struct("<B"))
    if tag == NOTHING:
        return None
    if tag == SCALAR:
        return read_scalar(reader)
    if tag == COLUMN:
        return series_of(library, read_column(reader))
    if tag == TABLE:
        ncols, nrows = reader.unpack(struct.Struct("<IQ"))
        columns = [read_column(reader) for _ in range(ncols)]
        for column in columns:
            if column.length != nrows:
                raise WireError(f"answer column {column.name!r} has {column.length} rows, its table {nrows}")
        return frame_of(library, columns)
    raise WireError(f"answer has unknown value tag {tag}")


def parse_result(body, library: str) -> tuple[int, Any]:
    """(batch, answer) of a RESULT body."""
    reader = Reader(body)
    (batch,) = reader.unpack(BATCH)
    answer = read_answer(reader, library)
    reader.done()
    return batch, answer


def parse_error(body) -> tuple[int, str]:
    """(batch, one-line message) of an ERROR body."""
    reader = Reader(body)
    (batch,) = reader.unpack(BATCH)
    return batch, bytes(reader.take(len(reader.body) - reader.pos)).decode(errors="replace")


def parse_ready(body) -> tuple[int, str]:
    """(protocol, Julia version) of a READY body."""
    reader = Reader(body)
    (protocol,) = reader.unpack(COUNT)
    return protocol, bytes(reader.take(len(reader.body) - reader.pos)).decode(errors="replace")
