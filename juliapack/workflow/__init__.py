"""The workflow record: what each command produced, and the names derived from it.

`build` writes the lock (dist/juliapack.lock.json), `upload` the datasets it made on Kaggle
(dist/juliapack.uploaded.json), `notebook` the notebook it wrote, `verify` the verdict of its
rehearsal; each later command reads what the earlier ones wrote. Every name juliapack uses on Kaggle
(datasets, their titles, the kernel) is derived here, in `names`, and nowhere else.
"""
