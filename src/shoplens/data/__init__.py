"""Datasets: Fashion-MNIST from IDX files, merchants' labelled folders and CSV manifests, splits."""

from shoplens.data.dataset import ImageDataset
from shoplens.data.fashion_mnist import CLASS_NAMES, find_fashion_mnist, load_fashion_mnist
from shoplens.data.folder import load_csv_manifest, load_image_folder
from shoplens.data.idx import read_idx, write_idx
from shoplens.data.split import stratified_split

__all__ = [
    "CLASS_NAMES",
    "ImageDataset",
    "find_fashion_mnist",
    "load_csv_manifest",
    "load_fashion_mnist",
    "load_image_folder",
    "read_idx",
    "stratified_split",
    "write_idx",
]
