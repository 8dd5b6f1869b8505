"""The offline test bed: images, a Julia mirror, a local registry, a fake Kaggle (see setup.sh)."""
