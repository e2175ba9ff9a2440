"""Preprocessing: letterbox geometry, box mapping, colour order, dtype, normalisation, layout."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform, letterbox, prepare, stretch


def contract(**overrides) -> ModelContract:
    values = {"task": "detect", "class_names": ["person"], "input_size": (32, 64)}
    values.update(overrides)
    return ModelContract(**values)


def solid(h: int, w: int, bgr=(10, 20, 30)) -> np.ndarray:
    image = np.empty((h, w, 3), np.uint8)
    image[:] = bgr
    return image


@pytest.mark.parametrize(
    ("source_hw", "target_hw", "content_hw", "pad_yx"),
    [
        ((576, 768), (384, 512), (384, 512), (0, 0)),  # same aspect: no padding
        ((480, 640), (320, 320), (240, 320), (40, 0)),  # wide: bars top and bottom
        ((640, 480), (320, 320), (320, 240), (0, 40)),  # tall: bars left and right
        ((100, 100), (64, 96), (64, 64), (0, 16)),
        ((10, 30), (32, 32), (11, 32), (10, 0)),  # upscaled, odd padding 21 -> 10 + 11
    ],
)
def test_letterbox_scales_to_fit_and_pads_centred(source_hw, target_hw, content_hw, pad_yx):
    image = solid(*source_hw)
    out, transform = letterbox(image, target_hw)
    assert out.shape == (*target_hw, 3) and out.dtype == np.uint8
    (top, left), (ch, cw) = pad_yx, content_hw
    assert (transform.pad_y, transform.pad_x) == pad_yx
    assert (out[top : top + ch, left : left + cw] == (10, 20, 30)).all()
    pad_mask = np.ones(target_hw, bool)
    pad_mask[top : top + ch, left : left + cw] = False
    assert (out[pad_mask] == 114).all()
    assert transform.scale_x == pytest.approx(cw / source_hw[1])
    assert transform.scale_y == pytest.approx(ch / source_hw[0])


def test_letterbox_uses_the_pad_value_and_keeps_the_caller_image():
    image = solid(20, 40)
    before = image.copy()
    out, _ = letterbox(image, (40, 40), pad_value=0)
    assert (out[0] == 0).all() and (out[-1] == 0).all()
    np.testing.assert_array_equal(image, before)


def test_an_image_of_the_input_size_is_passed_through_unchanged():
    image = solid(32, 64)
    out, transform = letterbox(image, (32, 64))
    assert out is image
    assert transform == Transform.identity((32, 64))


def test_boxes_map_back_to_the_source_and_are_clipped_to_it():
    _, transform = letterbox(solid(480, 640), (320, 320))  # scale 0.5, 40 px bars top/bottom
    in_input = np.array([[10, 50, 110, 150], [-20, 20, 400, 300]], np.float32)
    source = transform.boxes_to_source(in_input)
    np.testing.assert_allclose(source[0], [20, 20, 220, 220])
    np.testing.assert_allclose(source[1], [0, 0, 640, 480])  # clipped to the 640x480 frame
    np.testing.assert_allclose(transform.boxes_to_input(source[:1]), in_input[:1])


def test_stretch_ignores_the_aspect_ratio():
    out, transform = stretch(solid(100, 50), (20, 20))
    assert out.shape == (20, 20, 3)
    assert (transform.scale_x, transform.scale_y, transform.pad_x) == (0.4, 0.2, 0.0)
    np.testing.assert_allclose(
        transform.boxes_to_source(np.array([[2, 2, 4, 4]])), [[5, 10, 10, 20]]
    )


def test_prepare_gives_an_rgb_float_nhwc_batch_of_one():
    image = solid(16, 32, bgr=(10, 20, 30))
    tensor, transform = prepare(image, contract())
    assert tensor.shape == (1, 32, 64, 3) and tensor.dtype == np.float32
    assert tensor.flags["C_CONTIGUOUS"]
    assert tensor[0, 0, 0].tolist() == [30, 20, 10]  # RGB
    assert (transform.scale_x, transform.pad_y) == (2.0, 0.0)


def test_prepare_nchw_puts_channels_first_in_rgb_order():
    image = solid(32, 64, bgr=(10, 20, 30))
    tensor, _ = prepare(image, contract(layout="NCHW"))
    assert tensor.shape == (1, 3, 32, 64) and tensor.flags["C_CONTIGUOUS"]
    assert [tensor[0, c, 5, 5] for c in range(3)] == [30, 20, 10]


def test_prepare_keeps_bgr_when_the_model_wants_bgr():
    tensor, _ = prepare(solid(32, 64), contract(color_order="BGR"))
    assert tensor[0, 3, 3].tolist() == [10, 20, 30]


def test_prepare_normalises_with_mean_and_std_per_channel():
    tensor, _ = prepare(solid(32, 64), contract(mean=(30, 20, 10), std=(2, 4, 5)))
    np.testing.assert_allclose(tensor[0, 0, 0], [0, 0, 0])
    tensor, _ = prepare(solid(32, 64), contract(mean=(0, 0, 0), std=(3, 4, 5), layout="NCHW"))
    np.testing.assert_allclose(tensor[0, :, 0, 0], [10, 5, 2])


def test_prepare_gray_and_uint8():
    gray = contract(color_order="GRAY", channels=1, mean=(0,), std=(1,), input_dtype="uint8")
    tensor, _ = prepare(solid(32, 64, bgr=(255, 255, 255)), gray)
    assert tensor.shape == (1, 32, 64, 1) and tensor.dtype == np.uint8
    assert (tensor == 255).all()
    tensor, _ = prepare(np.full((32, 64), 7, np.uint8), contract())  # a gray frame, RGB model
    assert tensor.shape == (1, 32, 64, 3) and (tensor == 7).all()
    nchw = contract(color_order="GRAY", channels=1, mean=(0,), std=(1,), layout="NCHW")
    tensor, _ = prepare(solid(16, 32), nchw)
    assert tensor.shape == (1, 1, 32, 64)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 3), np.float32), "expected a uint8 image"),
        (np.zeros((8, 8, 4), np.uint8), r"expected an image of shape \(H, W, 3\)"),
        (np.zeros((0, 8, 3), np.uint8), "non-empty"),
        ([[1, 2]], "expected a uint8 image"),
    ],
)
def test_prepare_refuses_what_is_not_a_frame(image, message):
    with pytest.raises(EdgeimgError, match=message):
        prepare(image, contract())


def test_an_output_image_maps_back_through_the_letterbox_at_any_resolution():
    """A mask at the input's size and an x2 upscaled image both come back over the source."""
    source = np.zeros((60, 160, 3), np.uint8)  # letterboxed into 32x64: scale 0.4, 4 px bars
    _, transform = letterbox(source, (32, 64))
    mask = np.full((32, 64), 9, np.uint8)  # 9 in the padding
    mask[4:28, :32] = 1  # content rows 4..27: left half class 1, right half class 2
    mask[4:28, 32:] = 2
    back = transform.image_to_source(mask, nearest=True)
    assert back.shape == (60, 160) and set(np.unique(back)) == {1, 2}
    assert (back[:, :80] == 1).all() and (back[:, 80:] == 2).all()
    upscaled = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)[..., None].repeat(3, axis=2)
    big = transform.image_to_source(upscaled, nearest=True)
    assert big.shape == (120, 320, 3) and set(np.unique(big)) == {1, 2}


def test_an_odd_letterbox_padding_maps_back_to_the_exact_source_size():
    """The odd padding pixel goes right/bottom; the mask still comes back at the frame's size."""
    _, transform = letterbox(np.zeros((361, 480, 3), np.uint8), (64, 96))  # 85 wide + 11 pad
    assert transform.image_to_source(np.ones((64, 96), np.uint8), True).shape == (361, 480)
    _, tall = letterbox(np.zeros((480, 300, 3), np.uint8), (97, 64))  # 97 = 96 high + 1 pad
    assert tall.image_to_source(np.ones((97, 64), np.uint8), True).shape == (480, 300)
