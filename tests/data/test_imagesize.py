"""Image sizes from headers equal the decoded sizes."""
import cv2
import numpy as np
import pytest

from clothpose.data.imagesize import header_size, image_size


@pytest.mark.parametrize("ext,params", [(".jpg", []), (".png", []),
                                        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])])
def test_header_size_matches_decoded(tmp_path, ext, params):
    path = tmp_path / f"a{ext}"
    cv2.imwrite(str(path), np.zeros((37, 53, 3), np.uint8), params)
    assert header_size(path) == (53, 37) == image_size(path)


def test_unreadable(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8garbage")
    with pytest.raises(ValueError, match="x.jpg"):
        image_size(path)
    with pytest.raises(FileNotFoundError):
        image_size(tmp_path / "missing.jpg")
