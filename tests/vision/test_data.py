"""Reading NIfTI / NRRD / PNG volumes, the nnU-Net and dataset.json layouts, 2-D slicing and the
labelled / unlabelled / test split. Every file is written by the test itself into tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import nrrd
import numpy as np
import pytest
from PIL import Image

from clinreason.errors import DataError
from clinreason.vision.data import (
    Slice2D,
    SliceSplit,
    Volume,
    load_folder,
    read_image,
    split_slices,
    volume_slices,
)


def _nifti(path: Path, array: np.ndarray, zooms: tuple[float, float, float] = (0.5, 0.7, 2.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(array, np.diag([*zooms, 1.0])), str(path))
    return path


def _nrrd(path: Path, array: np.ndarray, directions: list[list[float]] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"space directions": directions} if directions is not None else {}
    nrrd.write(str(path), array, header=header)
    return path


def _ramp(shape: tuple[int, ...], dtype: type = np.int16) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


# read_image


@pytest.mark.parametrize(
    ("directions", "spacing"),
    [
        ([[0.5, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 2.0]], (0.5, 0.8, 2.0)),
        # oblique axes: the spacing is the length of each direction, not its diagonal entry
        ([[0.3, 0.4, 0.0], [0.0, 0.6, 0.8], [2.0, 0.0, 0.0]], (0.5, 1.0, 2.0)),
        (None, (1.0, 1.0, 1.0)),  # no geometry at all: 1 mm
    ],
)
def test_read_nrrd_keeps_the_array_and_takes_spacing_from_the_direction_norms(
    tmp_path: Path, directions: list[list[float]] | None, spacing: tuple[float, float, float]
) -> None:
    array = _ramp((2, 3, 4))
    data, got = read_image(_nrrd(tmp_path / "scan.nrrd", array, directions))
    assert data.shape == (2, 3, 4)
    np.testing.assert_array_equal(data, array)
    assert got == pytest.approx(spacing)


def test_read_2d_nrrd_gets_a_third_axis_and_unit_depth(tmp_path: Path) -> None:
    array = _ramp((3, 5))
    data, spacing = read_image(_nrrd(tmp_path / "flat.nrrd", array, [[0.25, 0.0], [0.0, 0.75]]))
    assert data.shape == (3, 5, 1)
    np.testing.assert_array_equal(data[:, :, 0], array)
    assert spacing == pytest.approx((0.25, 0.75, 1.0))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
@pytest.mark.parametrize("zooms", [(0.5, 0.7, 2.0), (1.0, 1.0, 3.0)])
def test_read_nifti_keeps_the_array_and_takes_spacing_from_the_zooms(
    tmp_path: Path, suffix: str, zooms: tuple[float, float, float]
) -> None:
    array = _ramp((4, 5, 6))
    data, spacing = read_image(_nifti(tmp_path / f"scan{suffix}", array, zooms))
    assert data.shape == (4, 5, 6)
    np.testing.assert_array_equal(data, array)
    assert spacing == pytest.approx(zooms)


def test_read_png_is_x_by_y_with_a_unit_third_axis(tmp_path: Path) -> None:
    picture = Image.new("L", (5, 3), 0)  # width (x) 5, height (y) 3
    picture.putpixel((4, 0), 200)  # x=4 (last column), y=0 (top row)
    picture.putpixel((1, 2), 77)  # x=1, y=2 (bottom row)
    picture.save(tmp_path / "slice.png")
    data, spacing = read_image(tmp_path / "slice.png")
    assert data.shape == (5, 3, 1)
    assert spacing == (1.0, 1.0, 1.0)
    assert data[4, 0, 0] == 200
    assert data[1, 2, 0] == 77
    assert int(data.sum()) == 277  # nothing else set


def test_read_rgb_png_is_converted_to_grey(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2), (255, 255, 255)).save(tmp_path / "white.png")
    data, _ = read_image(tmp_path / "white.png")
    assert data.shape == (2, 2, 1)
    assert np.all(data == 255)


def test_read_16_bit_png_keeps_values_above_255(tmp_path: Path) -> None:
    rows = np.array([[0, 1000], [300, 60000]], dtype=np.uint16)  # (y, x)
    Image.fromarray(rows).save(tmp_path / "ct.png")
    data, _ = read_image(tmp_path / "ct.png")
    np.testing.assert_array_equal(data[:, :, 0], rows.T)


def test_read_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as missing:
        read_image(tmp_path / "absent.nii.gz")
    assert missing.value.file == str(tmp_path / "absent.nii.gz")

    (tmp_path / "scan.mha").write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported image type") as unsupported:
        read_image(tmp_path / "scan.mha")
    assert unsupported.value.file == str(tmp_path / "scan.mha")

    path = _nifti(tmp_path / "4d.nii.gz", np.zeros((2, 2, 2, 2), np.float32))
    with pytest.raises(DataError, match=r"2-D or 3-D image, got shape \(2, 2, 2, 2\)") as four_d:
        read_image(path)
    assert four_d.value.file == str(path)


def _truncated_nrrd(path: Path) -> None:
    _nrrd(path, _ramp((4, 4, 4)))
    path.write_bytes(path.read_bytes()[:-20])


def _truncated_raw_nrrd(path: Path) -> None:
    nrrd.write(str(path), _ramp((4, 4, 4)), header={"encoding": "raw"})
    path.write_bytes(path.read_bytes()[:-20])


def _garbage_nrrd(path: Path) -> None:
    path.write_bytes(b"\x00\x01not an nrrd file at all" * 8)


def _truncated_nifti(path: Path) -> None:
    _nifti(path, _ramp((8, 8, 8), np.float32))
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("gzip.nrrd", _truncated_nrrd),
        ("raw.nrrd", _truncated_raw_nrrd),
        ("garbage.nrrd", _garbage_nrrd),
        ("cut.nii.gz", _truncated_nifti),
    ],
)
def test_corrupt_file_is_a_data_error_naming_it(tmp_path: Path, name: str, damage) -> None:
    path = tmp_path / name
    damage(path)
    with pytest.raises(DataError, match="cannot read image") as caught:
        read_image(path)
    assert caught.value.file == str(path)
    assert name in str(caught.value)


# load_folder


def test_load_nnunet_layout_pairs_images_with_masks(tmp_path: Path) -> None:
    image_a, image_b = _ramp((4, 5, 3)), _ramp((4, 5, 3)) * 2
    label_a = np.zeros((4, 5, 3), np.uint8)
    label_a[1, 2, 1] = 1
    label_a[3, 4, 2] = 2  # a second label value is still lesion
    _nifti(tmp_path / "imagesTr" / "case_b_0000.nii.gz", image_b)
    _nifti(tmp_path / "imagesTr" / "case_a_0000.nii.gz", image_a, (0.8, 0.8, 5.0))
    _nifti(tmp_path / "labelsTr" / "case_a.nii.gz", label_a)
    _nifti(tmp_path / "labelsTr" / "case_b.nii.gz", np.zeros((4, 5, 3), np.uint8))

    volumes = load_folder(tmp_path, modality="CT", anatomy="liver")

    assert [v.case_id for v in volumes] == ["case_a", "case_b"]
    first = volumes[0]
    np.testing.assert_array_equal(first.image, image_a)
    assert first.mask.dtype == bool
    assert first.mask.sum() == 2
    assert first.mask[1, 2, 1] and first.mask[3, 4, 2]
    assert first.spacing == pytest.approx((0.8, 0.8, 5.0))
    assert (first.modality, first.anatomy) == ("CT", "liver")
    assert first.path == str(tmp_path / "imagesTr" / "case_a_0000.nii.gz")
    assert not volumes[1].mask.any()


def test_load_nnunet_layout_without_channel_suffix_and_with_png(tmp_path: Path) -> None:
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    Image.new("L", (6, 4), 100).save(tmp_path / "imagesTr" / "img7.png")
    label = Image.new("L", (6, 4), 0)
    label.putpixel((5, 1), 255)
    label.save(tmp_path / "labelsTr" / "img7.png")
    (volume,) = load_folder(tmp_path)
    assert volume.case_id == "img7"
    assert volume.image.shape == volume.mask.shape == (6, 4, 1)
    assert np.argwhere(volume.mask).tolist() == [[5, 1, 0]]


def test_load_dataset_json_layout_uses_the_listed_pairs(tmp_path: Path) -> None:
    # folders not named imagesTr / labelsTr: only the manifest can find them
    _nrrd(tmp_path / "scans" / "p01.nrrd", _ramp((3, 3, 2)), [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1.5]])
    mask = np.zeros((3, 3, 2), np.uint8)
    mask[0, 0, 1] = 1
    _nrrd(tmp_path / "masks" / "p01.nrrd", mask)
    _nrrd(tmp_path / "scans" / "unlisted.nrrd", _ramp((3, 3, 2)))
    manifest = {"training": [{"image": "./scans/p01.nrrd", "label": "./masks/p01.nrrd"}]}
    (tmp_path / "dataset.json").write_text(json.dumps(manifest))

    (volume,) = load_folder(tmp_path)

    assert volume.case_id == "p01"
    assert volume.spacing == pytest.approx((0.5, 0.5, 1.5))
    assert np.argwhere(volume.mask).tolist() == [[0, 0, 1]]


def test_missing_mask_is_an_error_naming_the_image(tmp_path: Path) -> None:
    _nifti(tmp_path / "imagesTr" / "ok_0000.nii.gz", _ramp((2, 2, 2)))
    _nifti(tmp_path / "labelsTr" / "ok.nii.gz", np.zeros((2, 2, 2), np.uint8))
    lonely = _nifti(tmp_path / "imagesTr" / "lonely_0000.nii.gz", _ramp((2, 2, 2)))
    with pytest.raises(DataError, match="no mask") as caught:
        load_folder(tmp_path)
    assert caught.value.file == str(lonely)
    assert "lonely_0000.nii.gz" in str(caught.value)


def test_dataset_json_entry_whose_label_file_is_missing_names_the_image(tmp_path: Path) -> None:
    image = _nifti(tmp_path / "imagesTr" / "x.nii.gz", _ramp((2, 2, 2)))
    manifest = {"training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}]}
    (tmp_path / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="no mask") as caught:
        load_folder(tmp_path)
    assert caught.value.file == str(image)


def test_mask_of_another_shape_is_an_error_naming_the_label(tmp_path: Path) -> None:
    _nifti(tmp_path / "imagesTr" / "case_0000.nii.gz", _ramp((4, 4, 3)))
    label = _nifti(tmp_path / "labelsTr" / "case.nii.gz", np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(DataError, match=r"mask shape \(4, 4, 2\) differs from the image's \(4, 4, 3\)") as caught:
        load_folder(tmp_path)
    assert caught.value.file == str(label)
    assert "case.nii.gz" in str(caught.value)


@pytest.mark.parametrize("broken", ["imagesTr/bad_0000.nrrd", "labelsTr/bad.nrrd"])
def test_corrupt_nrrd_in_a_folder_names_that_file(tmp_path: Path, broken: str) -> None:
    _nrrd(tmp_path / "imagesTr" / "bad_0000.nrrd", _ramp((2, 2, 2)))
    _nrrd(tmp_path / "labelsTr" / "bad.nrrd", np.zeros((2, 2, 2), np.uint8))
    (tmp_path / broken).write_bytes(b"NRRD0004\ntype: nonsense\n")
    with pytest.raises(DataError, match="cannot read image") as caught:
        load_folder(tmp_path)
    assert caught.value.file == str(tmp_path / broken)
    assert Path(broken).name in str(caught.value)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found"):
        load_folder(tmp_path / "absent")
    with pytest.raises(DataError, match="no imagesTr folder"):
        load_folder(tmp_path)
    (tmp_path / "imagesTr").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_folder(tmp_path)
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON") as caught:
        load_folder(tmp_path)
    assert caught.value.file == str(tmp_path / "dataset.json")


# volume_slices


def _layered_volume(lesion_slices: list[int], depth: int = 10) -> Volume:
    """Slice z is constant z * 10 (so after normalisation it is z / (depth - 1)); a 4 x 4 lesion block
    sits at x 2..5, y 4..7 on each lesion slice."""
    image = np.broadcast_to(np.arange(depth, dtype=np.float32) * 10, (8, 12, depth)).copy()
    mask = np.zeros((8, 12, depth), bool)
    for z in lesion_slices:
        mask[2:6, 4:8, z] = True
    return Volume("case", image, mask, (0.5, 0.7, 2.0), modality="MR", anatomy="brain", target="tumour")


def test_volume_slices_keep_the_lesion_and_its_context() -> None:
    slices = volume_slices(_layered_volume([5, 6]), size=16, context=1)

    assert [s.id for s in slices] == ["case-z004", "case-z005", "case-z006", "case-z007"]
    assert {s.case_id for s in slices} == {"case"}
    assert [bool(s.mask.any()) for s in slices] == [False, True, True, False]
    for s, z in zip(slices, [4, 5, 6, 7], strict=True):
        assert s.image.shape == s.mask.shape == (16, 16)
        assert s.image.dtype == np.float32
        assert s.mask.dtype == bool
        assert s.image.min() >= 0.0 and s.image.max() <= 1.0
        np.testing.assert_allclose(s.image, z / 9, atol=1e-6)  # constant slice z*10 over the range 0..90
        assert s.spacing == pytest.approx((0.5 * 8 / 16, 0.7 * 12 / 16))
        assert (s.modality, s.anatomy, s.target) == ("MR", "brain", "tumour")


def test_nearest_resize_keeps_the_mask_binary_and_in_place() -> None:
    (lesion,) = volume_slices(_layered_volume([5]), size=16, context=0)
    # nearest: output pixel i reads input floor(i * in / out); x: floor(i / 2) in 2..5 -> i in 4..11,
    # y: floor(j * 0.75) in 4..7 -> j in 6..10
    expected = np.zeros((16, 16), bool)
    expected[4:12, 6:11] = True
    np.testing.assert_array_equal(lesion.mask, expected)


def test_downsized_slices_stay_binary_and_in_range() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 40.0, (32, 32, 3)).astype(np.float32)
    mask = np.zeros((32, 32, 3), bool)
    mask[8:24, 8:24, 1] = True
    slices = volume_slices(Volume("r", image, mask, (1.0, 1.0, 1.0)), size=8, context=0)
    assert [s.id for s in slices] == ["r-z001"]
    (only,) = slices
    assert only.mask.dtype == bool
    assert only.mask.sum() == 16  # 16 x 16 block at stride 4 -> 4 x 4
    assert only.image.min() >= 0.0 and only.image.max() <= 1.0
    assert only.spacing == pytest.approx((4.0, 4.0))


@pytest.mark.parametrize(
    ("lesion", "context", "empty_every", "kept"),
    [
        ([5, 6], 1, 0, [4, 5, 6, 7]),
        ([5, 6], 0, 0, [5, 6]),
        ([0], 2, 0, [0, 1, 2]),  # clipped at the first slice
        ([9], 2, 0, [7, 8, 9]),  # clipped at the last slice
        ([2, 7], 1, 0, [1, 2, 3, 6, 7, 8]),
        ([5], 0, 4, [0, 4, 5, 8]),  # plus every 4th slice far from the lesion
        ([], 1, 0, list(range(10))),  # no lesion: every slice is a negative
    ],
)
def test_kept_slices(lesion: list[int], context: int, empty_every: int, kept: list[int]) -> None:
    slices = volume_slices(_layered_volume(lesion), size=4, context=context, empty_every=empty_every)
    assert [s.id for s in slices] == [f"case-z{z:03d}" for z in kept]
    assert [bool(s.mask.any()) for s in slices] == [z in lesion for z in kept]


def test_volume_without_mask_and_constant_image() -> None:
    volume = Volume("flat", np.full((4, 4, 3), 7.0, np.float32), None, (1.0, 1.0, 1.0))
    slices = volume_slices(volume, size=4)
    assert [s.id for s in slices] == ["flat-z000", "flat-z001", "flat-z002"]
    for s in slices:
        assert not s.mask.any()
        np.testing.assert_array_equal(s.image, 0.0)


# split_slices


def _slices(n_positive: int, n_negative: int) -> list[Slice2D]:
    empty, lesion = np.zeros((2, 2), bool), np.ones((2, 2), bool)
    out = []
    for i in range(n_positive + n_negative):
        mask = lesion if i < n_positive else empty
        out.append(Slice2D(f"s{i:03d}", f"c{i // 10}", np.zeros((2, 2), np.float32), mask, (1.0, 1.0)))
    return out


def _positives(ids: list[str], slices: list[Slice2D]) -> int:
    by_id = {s.id: s for s in slices}
    return sum(bool(by_id[i].mask.any()) for i in ids)


def test_split_is_deterministic_for_a_seed() -> None:
    slices = _slices(20, 60)
    assert split_slices(slices, 0.1, seed=3) == split_slices(slices, 0.1, seed=3)
    assert split_slices(slices, 0.1, seed=3).test != split_slices(slices, 0.1, seed=4).test


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_is_disjoint_complete_and_in_input_order(seed: int) -> None:
    slices = _slices(20, 60)
    split = split_slices(slices, 0.25, seed=seed)
    parts = [split.labelled, split.unlabelled, split.test]
    assert sum(len(p) for p in parts) == 80
    assert set().union(*parts) == {s.id for s in slices}
    assert not set(split.labelled) & set(split.unlabelled)
    assert not set(split.labelled) & set(split.test)
    assert not set(split.unlabelled) & set(split.test)
    for part in parts:
        assert part == sorted(part)  # ids s000.. sort like the input
    assert (split.seed, split.label_ratio) == (seed, 0.25)


@pytest.mark.parametrize(
    ("test_fraction", "n_test", "n_test_pos"),
    [(0.2, 16, 4), (0.5, 40, 10), (0.1, 8, 2), (0.0, 0, 0)],
)
def test_split_test_fraction_is_stratified(test_fraction: float, n_test: int, n_test_pos: int) -> None:
    slices = _slices(20, 60)
    split = split_slices(slices, 0.5, test_fraction=test_fraction, seed=0)
    assert len(split.test) == n_test
    assert _positives(split.test, slices) == n_test_pos


@pytest.mark.parametrize(
    ("ratio", "n_labelled", "n_labelled_pos"),
    [
        # 20 positive / 60 negative, 20 % test -> 16 / 48 left; labelled = round(16 r) + round(48 r)
        (0.05, 1 + 2, 1),  # round(0.8) = 1, round(2.4) = 2
        (0.1, 2 + 5, 2),  # round(1.6) = 2, round(4.8) = 5
        (0.25, 4 + 12, 4),
        (1.0, 16 + 48, 16),
        (0.01, 1 + 0, 1),  # round(0.16) = 0 but one lesion slice is always labelled
    ],
)
def test_split_labelled_ratio(ratio: float, n_labelled: int, n_labelled_pos: int) -> None:
    slices = _slices(20, 60)
    split = split_slices(slices, ratio, seed=5)
    assert len(split.test) == 16
    assert len(split.labelled) == n_labelled
    assert _positives(split.labelled, slices) == n_labelled_pos
    assert len(split.unlabelled) == 64 - n_labelled


def _patients(n: int) -> list[Slice2D]:
    """`n` patients of 4 slices each, every patient with a lesion on two of them."""
    empty, lesion = np.zeros((2, 2), bool), np.ones((2, 2), bool)
    return [
        Slice2D(f"p{p}-z{z}", f"p{p}", np.zeros((2, 2), np.float32), lesion if z < 2 else empty, (1.0, 1.0))
        for p in range(n)
        for z in range(4)
    ]


def test_folds_test_every_patient_once_over_as_many_seeds() -> None:
    slices = _patients(5)
    splits = [split_slices(slices, 0.25, seed=seed, folds=5) for seed in range(5)]
    tested = [sorted({i.split("-")[0] for i in split.test}) for split in splits]
    assert sorted(p for patients in tested for p in patients) == [f"p{i}" for i in range(5)]  # once each
    for split in splits:
        patients = [{i.split("-")[0] for i in part} for part in (split.labelled, split.unlabelled, split.test)]
        assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
        assert len(patients[2]) == 1 and len(patients[0]) == 1  # round(4 x 0.25) labelled patient
    assert split_slices(slices, 0.25, seed=5, folds=5).test == splits[0].test  # seed 5 is fold 0 again
    with pytest.raises(ValueError, match="6 folds need at least 6 cases with a lesion"):
        split_slices(slices, 0.25, folds=6)
    from clinreason.vision.config import SegmentConfig

    assert (SegmentConfig(split_by="fold").folds, SegmentConfig().folds) == (5, None)  # test_fraction 0.2


def test_split_without_any_lesion_labels_only_negatives() -> None:
    slices = _slices(0, 20)
    split = split_slices(slices, 0.25, seed=0)
    assert (len(split.test), len(split.labelled), len(split.unlabelled)) == (4, 4, 12)


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5])
def test_bad_label_ratio_is_a_value_error(ratio: float) -> None:
    with pytest.raises(ValueError, match="label_ratio must be in"):
        split_slices(_slices(2, 2), ratio)


def test_split_save_load_round_trip(tmp_path: Path) -> None:
    split = split_slices(_slices(20, 60), 0.1, seed=9)
    path = split.save(tmp_path / "nested" / "split.json")
    assert path.is_file()
    loaded = SliceSplit.load(path)
    assert loaded == split
    assert json.loads(path.read_text())["labelled"] == split.labelled


@pytest.mark.parametrize("text", ["{broken", json.dumps({"seed": 0})])
def test_loading_a_bad_split_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "split.json"
    path.write_text(text)
    with pytest.raises(DataError, match="not a saved slice split") as caught:
        SliceSplit.load(path)
    assert caught.value.file == str(path)


def _boxes(tiles: list) -> dict[str, tuple[int, int]]:
    return {t.id: (int(t.id.split("-y")[1][:3]), int(t.id.split("x")[-1])) for t in tiles}


def test_overlapping_tiles_share_a_region_and_never_straddle_a_split() -> None:
    from clinreason.vision.bundled import tile_image
    from clinreason.vision.data import split_slices

    rng = np.random.default_rng(0)
    image = rng.random((256, 256)).astype(np.float32)
    mask = image > 0.7
    tiles = tile_image(image, mask, size=32, stride=16, region=64)
    assert len(tiles) == 16 * 9 and len({t.case_id for t in tiles}) == 16
    corner = _boxes(tiles)
    split = split_slices(tiles, 0.1, test_fraction=0.2, seed=3, by_case=True)
    side = {i: name for name in ("labelled", "unlabelled", "test") for i in getattr(split, name)}
    assert len(side) == len(tiles)
    for a in tiles:  # any two tiles that share a pixel are on the same side
        for b in tiles:
            (ya, xa), (yb, xb) = corner[a.id], corner[b.id]
            if abs(ya - yb) < 32 and abs(xa - xb) < 32:
                assert side[a.id] == side[b.id], (a.id, b.id)
    regions = {name: {t.case_id for t in tiles if side[t.id] == name} for name in ("labelled", "unlabelled", "test")}
    assert [len(regions[n]) for n in ("labelled", "unlabelled", "test")] == [1, 12, 3]  # cases counted
    with pytest.raises(ValueError, match="stride <= size <= region"):
        tile_image(image, mask, size=64, stride=16, region=32)


def test_a_patients_slices_stay_in_one_split() -> None:
    from clinreason.vision.data import Slice2D, split_slices

    slices = []
    for patient in range(5):
        for z in range(6):
            lesion = np.zeros((8, 8), bool)
            lesion[2:4, 2:4] = z % 2 == 0
            slices.append(Slice2D(f"p{patient}-z{z}", f"p{patient}", np.zeros((8, 8), np.float32), lesion, (1.0, 1.0)))
    for seed in range(5):
        split = split_slices(slices, 0.25, test_fraction=0.2, seed=seed, by_case=True)
        cases = {name: {i.split("-")[0] for i in getattr(split, name)} for name in ("labelled", "unlabelled", "test")}
        assert not (cases["labelled"] & cases["test"]) and not (cases["unlabelled"] & cases["test"])
        assert not (cases["labelled"] & cases["unlabelled"])
        assert [len(cases[n]) for n in ("labelled", "unlabelled", "test")] == [1, 3, 1]
    by_slice = split_slices(slices, 0.25, test_fraction=0.2, seed=0)
    assert len({i.split("-")[0] for i in by_slice.test}) > 1  # by slice, patients straddle (the old way)
