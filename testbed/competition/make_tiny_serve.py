"""Write the tiny-serve competition's data and its expected answers (deterministic; stdlib only).

    python3 testbed/competition/make_tiny_serve.py [FOLDER]   (default: testbed/competition/tiny-serve)

test.csv has 3 days x 4 time steps of up to 5 symbols, with nulls in x1 and venue and a multibyte venue
name; lags.csv holds each day's responder_lag per symbol (one symbol missing on day 1). Every number is a
multiple of 0.25, so Float32 inputs and Float64 sums are exact and the expected answer is exact too:

    prediction = 1.5 x1 - 0.75 x2 + 0.25 + lag(day, symbol) + VENUE_BONUS[venue]     (null x1: 0, no lag: 0)

(the weights and bias of the model that examples/train.jl writes). tests/unit checks that the committed
files are what this script writes.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEIGHTS, BIAS = (1.5, -0.75), 0.25
VENUE_BONUS = {"A": 1.0, "B": -1.0, "Zürich-Ost": 0.5, "": 0.0}
DAYS, TIME_STEPS, SYMBOLS = 3, 4, 5


def quarter(rng: random.Random) -> float:
    return rng.randint(-8, 8) / 4


def make_rows(rng: random.Random):
    tests, lags = [], []
    row_id = 0
    for day in range(DAYS):
        lags += [(day, symbol, quarter(rng)) for symbol in range(SYMBOLS) if (day, symbol) != (1, 3)]
        for step in range(TIME_STEPS):
            for symbol in range(SYMBOLS):
                if rng.random() < 0.15:  # this symbol does not trade at this step: batches vary in size
                    continue
                x1 = "" if rng.random() < 0.12 else quarter(rng)
                venue = rng.choice(["A", "B", "Zürich-Ost", "", "A"])
                tests.append((row_id, day, step, symbol, x1, quarter(rng), venue))
                row_id += 1
    return tests, lags


def expected(tests, lags):
    lag = {(day, symbol): value for day, symbol, value in lags}
    for row_id, day, _, symbol, x1, x2, venue in tests:
        score = WEIGHTS[0] * (x1 or 0.0) + WEIGHTS[1] * x2 + BIAS + lag.get((day, symbol), 0.0) + VENUE_BONUS[venue]
        yield row_id, score


def write_csv(path: Path, header: list, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main(folder: Path) -> None:
    tests, lags = make_rows(random.Random(20240))
    write_csv(folder / "test.csv", ["row_id", "date_id", "time_id", "symbol_id", "x1", "x2", "venue"], tests)
    write_csv(folder / "lags.csv", ["date_id", "symbol_id", "responder_lag"], lags)
    write_csv(folder / "expected_submission.csv", ["row_id", "prediction"], expected(tests, lags))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "tiny-serve")
