"""A clean-room kaggle_evaluation for juliapack's test bed: the public surface of the package that Kaggle
code competitions ship (an InferenceServer template, a gRPC relay, a gateway), written from its
description, not from its code. The tiny-serve competition asks for one prediction per test row,
batch by batch, Jane Street style: predict(test, lags) with lags only on a day's first time step."""

__version__ = "0.1.0-testbed"
