"""Python values <-> the bridge's wire columns (juliapack_wire.Column), for polars, pandas and numpy.

Each library is imported only when a value of it is seen (or an answer is built for it).
"""

from __future__ import annotations

import datetime
import functools
import struct

from juliapack_wire import (
    BOOL, COLUMN, DATE, DATETIME, F32, F64, I8, I16, I32, I64, LIST, MATRIX, NOTHING, NULL, SCALAR, STRING, TABLE,
    U8, U16, U32, U64, COUNT, WIRE_DTYPES, Column, column_chunks, numpy_codes, plain_column_chunks,
)

EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1)
UNSUPPORTED = "the Julia bridge carries numbers, booleans, strings, dates and datetimes (with nulls)"


def library_of(value) -> str | None:
    """'polars' or 'pandas' when value (or a list item) is a frame or series of that library."""
    if isinstance(value, (list, tuple)):
        return next((lib for lib in map(library_of, value) if lib), None)
    module = type(value).__module__.split(".", 1)[0]
    return module if module in ("polars", "pandas") else None


# --- values -> wire -------------------------------------------------------------------------------


def value_chunks(value, out: list) -> None:
    """Append the wire form of one predict argument to out."""
    if value is None:
        out.append(bytes([NOTHING]))
    elif isinstance(value, (list, tuple)):
        out += [bytes([LIST]), COUNT.pack(len(value))]
        for item in value:
            value_chunks(item, out)
    elif (library := library_of(value)) is not None:
        library_chunks(library, value, out)
    elif type(value).__module__ == "numpy" and getattr(value, "ndim", 0) > 0:
        array_chunks(value, out)
    else:
        scalar_chunks(value, out)


def library_chunks(library: str, value, out: list) -> None:
    if library == "polars" and type(value).__name__ == "DataFrame":
        polars_frame_chunks(value, out)
        return
    columns = polars_columns(value) if library == "polars" else pandas_columns(value)
    if columns is None:  # a Series
        out.append(bytes([COLUMN]))
        column_chunks(polars_column(value) if library == "polars" else pandas_column(value.name, value), out)
        return
    rows = len(value)
    out += [bytes([TABLE]), struct.pack("<IQ", len(columns), rows)]
    for column in columns:
        column_chunks(column, out)


def array_chunks(array, out: list) -> None:
    import numpy as np

    if array.ndim == 1:
        out.append(bytes([COLUMN]))
        column_chunks(numpy_column("", array), out)
    elif array.ndim == 2 and array.dtype.newbyteorder("=") in numpy_codes():
        code = numpy_codes()[array.dtype.newbyteorder("=")]
        data = np.asfortranarray(array, dtype=WIRE_DTYPES[code])
        out += [struct.pack("<BBQQ", MATRIX, code, *array.shape), data.reshape(-1, order="F").data]
    else:
        raise TypeError(f"a numpy array of shape {array.shape} and dtype {array.dtype}: {UNSUPPORTED}, as 1-D arrays "
                        "or 2-D numeric arrays; convert it in a Python wrapper around predict")


def python_scalar(value) -> tuple[int, bytes] | None:
    """(wire type code, value bytes) of a Python bool, int, float, date or datetime; None for others."""
    if isinstance(value, bool):
        return BOOL, bytes([value])
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise TypeError(f"predict argument {value} does not fit Julia's Int64; pass it as a float or a string")
        return I64, struct.pack("<q", value)
    if isinstance(value, float):
        return F64, struct.pack("<d", value)
    if isinstance(value, datetime.datetime):
        return DATETIME, struct.pack("<q", milliseconds(value))
    if isinstance(value, datetime.date):
        return DATE, struct.pack("<i", (value - EPOCH_DATE).days)
    return None


def scalar_chunks(value, out: list) -> None:
    """A scalar argument; numpy is imported only for numpy scalars."""
    if isinstance(value, str):
        data = value.encode()
        out += [bytes([SCALAR, STRING]), struct.pack("<qq", 0, len(data)), data]
        return
    encoded = python_scalar(value)
    if encoded is None and type(value).__module__ == "numpy" and getattr(value, "dtype", None) is not None:
        code = numpy_codes().get(value.dtype.newbyteorder("="))
        encoded = None if code is None else (code, value.astype(WIRE_DTYPES[code]).tobytes())
    if encoded is None:
        raise TypeError(f"predict argument of type {type(value).__module__}.{type(value).__qualname__}: {UNSUPPORTED}; "
                        "convert it in a Python wrapper around predict")
    out += [bytes([SCALAR, encoded[0]]), encoded[1]]


def milliseconds(moment: datetime.datetime) -> int:
    """Milliseconds since 1970-01-01 UTC; a naive datetime counts as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return (moment - EPOCH) // datetime.timedelta(milliseconds=1)


def string_column(name: str, items) -> Column:
    """A String column from Python objects: str values, and None/NaN/NA as nulls."""
    import numpy as np

    encoded, valid = [], np.ones(len(items), dtype=np.bool_)
    for i, item in enumerate(items):
        if isinstance(item, str):
            encoded.append(item.encode())
        elif item is None or item != item or type(item).__name__ in ("NAType", "NaTType"):
            encoded.append(b"")
            valid[i] = False
        else:
            raise TypeError(f"column {name!r} holds a {type(item).__qualname__} among strings: {UNSUPPORTED}")
    offsets = np.zeros(len(items) + 1, dtype="<i8")
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return Column(name, STRING, len(items), valid=None if valid.all() else valid, offsets=offsets, data=b"".join(encoded))


def numpy_column(name: str, array) -> Column:
    """A 1-D numpy array as a column: numbers and booleans, strings (U or object), datetime64."""
    import numpy as np

    kind = array.dtype.kind
    if kind in "fiub" and array.dtype.newbyteorder("=") in numpy_codes():
        return Column(name, numpy_codes()[array.dtype.newbyteorder("=")], len(array), values=array)
    if kind in "UO":
        return string_column(name, array.tolist())
    if kind == "M":
        nat = np.isnat(array)
        unit = np.datetime_data(array.dtype)[0]
        code, target = (DATE, "datetime64[D]") if unit in ("D", "W", "M", "Y") else (DATETIME, "datetime64[ms]")
        values = array.astype(target).view("<i8")
        values = np.where(nat, 0, values).astype(WIRE_DTYPES[code])
        return Column(name, code, len(array), values=values, valid=~nat if nat.any() else None)
    raise TypeError(f"column {name!r} has numpy dtype {array.dtype}: {UNSUPPORTED}")


# --- polars ---------------------------------------------------------------------------------------


def polars_columns(value):
    """The columns of a polars DataFrame, or None for a Series."""
    import polars as pl

    if isinstance(value, pl.Series):
        return None
    if isinstance(value, pl.LazyFrame):
        value = value.collect()
    if not isinstance(value, pl.DataFrame):
        raise TypeError(f"predict argument of type polars {type(value).__name__}: {UNSUPPORTED}")
    return [polars_column(series) for series in value.get_columns()]


@functools.lru_cache(maxsize=None)
def polars_codes() -> dict:
    """polars dtype class name -> wire type code, for the types whose to_numpy() is the wire data. (Keyed by
    name: hashing polars' dtype classes runs Python code, a cost paid per column.)"""
    return {"Float64": F64, "Float32": F32, "Int64": I64, "Int32": I32, "Int16": I16, "Int8": I8,
            "UInt64": U64, "UInt32": U32, "UInt16": U16, "UInt8": U8, "Boolean": BOOL}


def polars_frame_chunks(frame, out: list) -> None:
    """A polars DataFrame as a TABLE; plain numeric columns without nulls (most of them, in most batches)
    go straight from their buffers, with no Column in between: this is the hot path of every call."""
    columns = frame.get_columns()
    out += [bytes([TABLE]), struct.pack("<IQ", len(columns), frame.height)]
    codes = polars_codes()
    for series in columns:
        code = codes.get(type(series.dtype).__name__)
        if code is not None and not series.null_count():
            plain_column_chunks(series.name, code, series.to_numpy(), out)
        else:
            column_chunks(polars_other_column(series, code), out)


def polars_column(series) -> Column:
    code = polars_codes().get(type(series.dtype).__name__)
    if code is not None and not series.null_count():  # the hot path: a plain numeric column
        return Column(series.name, code, series.len(), values=series.to_numpy())
    return polars_other_column(series, code)


def polars_other_column(series, code) -> Column:
    import polars as pl

    dtype, name, n = series.dtype, series.name, series.len()
    if dtype == pl.Null:
        return Column(name, NULL, n)
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        series, dtype = series.cast(pl.String), pl.String
    if dtype == pl.String:
        code = STRING
    elif dtype == pl.Date:
        code, series = DATE, series.to_physical()
    elif isinstance(dtype, pl.Datetime):
        code, series = DATETIME, series.dt.cast_time_unit("ms").to_physical()
    elif code is None:
        raise TypeError(f"column {name!r} has polars dtype {dtype}: {UNSUPPORTED}; convert it in a Python wrapper around predict")
    return arrow_column(series, code) or polars_buffers_column(series, code)


def arrow_column(series, code) -> Column | None:
    """The column straight from its Arrow buffers (a few microseconds, where polars' own way to fill nulls
    and join strings takes tens); None without pyarrow, for booleans (bit-packed) and empty columns."""
    try:
        import numpy as np
        import pyarrow as pa
    except ImportError:
        return None
    if code == BOOL or not len(series):
        return None
    array = series.to_arrow()
    if code == STRING and array.type != pa.large_string():
        array = array.cast(pa.large_string())
    buffers, offset, n = array.buffers(), array.offset, len(array)
    valid = None
    if array.null_count:
        bits = np.unpackbits(np.frombuffer(buffers[0], dtype=np.uint8), bitorder="little")
        valid = bits[offset : offset + n].view(np.bool_)
    if code != STRING:
        return Column(series.name, code, n, values=np.frombuffer(buffers[1], dtype=WIRE_DTYPES[code])[offset : offset + n], valid=valid)
    offsets = np.frombuffer(buffers[1], dtype="<i8")[offset : offset + n + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = memoryview(buffers[2])[start:end] if buffers[2] is not None else b""
    return Column(series.name, STRING, n, valid=valid, offsets=offsets - start, data=data)


def polars_buffers_column(series, code) -> Column:
    """The column through polars alone (no pyarrow)."""
    import numpy as np
    import polars as pl

    valid = series.is_not_null().to_numpy() if series.null_count() else None
    if code != STRING:
        values = series.fill_null(False if series.dtype == pl.Boolean else 0) if valid is not None else series
        return Column(series.name, code, series.len(), values=values.to_numpy(), valid=valid)
    lengths = series.str.len_bytes().fill_null(0).to_numpy()
    offsets = np.zeros(len(lengths) + 1, dtype="<i8")
    np.cumsum(lengths, out=offsets[1:])
    data = series.fill_null("").str.join("").item().encode() if len(series) else b""
    return Column(series.name, STRING, len(series), valid=valid, offsets=offsets, data=data)


# --- pandas ---------------------------------------------------------------------------------------


def pandas_columns(value):
    """The columns of a pandas DataFrame, or None for a Series."""
    import pandas as pd

    if isinstance(value, pd.Series):
        return None
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"predict argument of type pandas {type(value).__name__}: {UNSUPPORTED}")
    return [pandas_column(str(name), column) for name, column in value.items()]


def pandas_column(name, series) -> Column:
    import numpy as np
    import pandas as pd

    name, dtype = "" if name is None else str(name), series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiubM":
        return numpy_column(name, series.to_numpy())
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "fiub":  # pandas' nullable Int64, Float64, boolean
        missing = series.isna().to_numpy()
        values = series.to_numpy(dtype=numpy_dtype, na_value=False if numpy_dtype.kind == "b" else 0)
        column = numpy_column(name, values)
        column.valid = ~missing if missing.any() else None
        return column
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        return string_column(name, series.tolist())
    raise TypeError(f"column {name!r} has pandas dtype {dtype}: {UNSUPPORTED}; convert it in a Python wrapper around predict")


# --- wire -> answers ------------------------------------------------------------------------------


def python_strings(column: Column) -> list:
    data, offsets = column.data, column.offsets.tolist()
    strings = [data[offsets[i] : offsets[i + 1]].decode() for i in range(column.length)]
    if column.valid is not None:
        strings = [s if ok else None for s, ok in zip(strings, column.valid.tolist())]
    return strings


def series_of(library: str, column: Column):
    return polars_series(column) if library == "polars" else pandas_series(column)


def frame_of(library: str, columns: list):
    if library == "polars":
        import polars as pl

        return pl.DataFrame([polars_series(column) for column in columns])
    import pandas as pd

    return pd.DataFrame({column.name: pandas_series(column) for column in columns})


def polars_series(column: Column):
    import polars as pl

    name = column.name
    if column.code == NULL:
        return pl.Series(name, [None] * column.length, dtype=pl.Null)
    if column.code == STRING:
        return pl.Series(name, python_strings(column), dtype=pl.String)
    series = pl.Series(name, column.values)
    if column.code == DATE:
        series = series.cast(pl.Date)
    elif column.code == DATETIME:
        series = series.cast(pl.Datetime("ms"))
    if column.valid is None:
        return series
    return pl.select(pl.when(pl.Series(column.valid)).then(series).alias(name)).to_series()


def pandas_series(column: Column):
    import numpy as np
    import pandas as pd

    name, valid = column.name or None, column.valid
    if column.code == NULL:
        return pd.Series([None] * column.length, dtype=object, name=name)
    if column.code == STRING:  # pandas' own string type: object before pandas 3, str from 3 on
        return pd.Series(python_strings(column), dtype=object if column.length == 0 else None, name=name)
    if column.code in (DATE, DATETIME):
        values = column.values.astype("<i8").astype("datetime64[D]" if column.code == DATE else "datetime64[ms]")
        return pd.Series(np.where(valid, values, np.datetime64("NaT")) if valid is not None else values, name=name)
    if valid is None:
        return pd.Series(column.values, name=name)
    if column.values.dtype.kind == "f":  # pandas' own missing float is NaN
        return pd.Series(np.where(valid, column.values, np.nan), name=name)
    masked_type = pd.arrays.BooleanArray if column.code == BOOL else pd.arrays.IntegerArray
    return pd.Series(masked_type(column.values.copy(), ~valid), name=name)

