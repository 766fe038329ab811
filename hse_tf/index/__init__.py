"""Text-to-video search over large galleries: `python -m hse_tf.index build|build-text|search`."""

from hse_tf.index.gallery_index import GalleryIndex, IndexFileError

__all__ = ["GalleryIndex", "IndexFileError"]
