"""2-D slices with masks from NIfTI, NRRD or PNG files, in the nnU-Net / Medical Segmentation
Decathlon layout, and the labelled / unlabelled / test split of a semi-supervised run.

Layout read by `load_folder` (either a `dataset.json` that lists the pairs, or matching names):

    <root>/dataset.json    optional; "training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}]
    <root>/imagesTr/<case>[_0000].{nii.gz,nii,nrrd,png}
    <root>/labelsTr/<case>.{nii.gz,nii,nrrd,png}

Every image in imagesTr needs its mask (a missing one is an error naming the image); images meant to
stay unlabelled are simply left out of the labelled ratio by the split, not by missing files.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from clinreason.errors import DataError

SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".png")


@dataclass
class Volume:
    case_id: str
    image: np.ndarray  # (X, Y, Z) or (X, Y, 1) for 2-D files
    mask: np.ndarray | None
    spacing: tuple[float, float, float]
    modality: str = "unknown"
    anatomy: str = "unknown"
    target: str = "lesion"
    path: str = ""


@dataclass
class Slice2D:
    id: str
    case_id: str
    image: np.ndarray  # float32 (H, W), normalised to [0, 1]
    mask: np.ndarray  # bool (H, W); all False where the slice shows no lesion
    spacing: tuple[float, float]  # mm per pixel after resizing
    modality: str = "unknown"
    anatomy: str = "unknown"
    target: str = "lesion"
    extra: dict[str, object] = field(default_factory=dict)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_image(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A 3-D array (2-D files get a third axis of 1) and the voxel spacing in mm."""
    path = Path(path)
    if not path.is_file():
        raise DataError("image file not found", file=path)
    name = path.name.lower()
    try:
        if name.endswith(".nrrd"):
            import nrrd

            data, header = nrrd.read(str(path))
            if "space directions" in header and header["space directions"] is not None:
                directions = np.asarray(header["space directions"], dtype=float)
                spacing = tuple(float(np.linalg.norm(row)) for row in directions if np.all(np.isfinite(row)))
            else:
                spacing = tuple(float(s) for s in header.get("spacings", [1.0] * data.ndim))
        elif name.endswith((".nii", ".nii.gz")):
            import nibabel

            # nibabel.load is typed as returning the base FileBasedImage; a .nii / .nii.gz file is a
            # Nifti1Image (or its subclass Nifti2Image), which has a dataobj and a header with zooms.
            volume = cast(nibabel.Nifti1Image, nibabel.load(str(path)))
            data = np.asarray(volume.dataobj)
            spacing = tuple(float(s) for s in volume.header.get_zooms()[: data.ndim])
        elif name.endswith(".png"):
            from PIL import Image

            with Image.open(path) as picture:
                # 16-bit, 32-bit and float greyscale keep their values (convert("L") would clip them to 255)
                keep = picture.mode.startswith(("I", "F"))
                data = np.asarray(picture if keep else picture.convert("L")).T  # (X, Y) like the volumes
            spacing = (1.0, 1.0)
        else:
            raise DataError(f"unsupported image type (expected one of {', '.join(SUFFIXES)})", file=path)
    except DataError:
        raise
    except Exception as exc:  # corrupt or truncated files: name the file
        raise DataError(f"cannot read image: {exc}", file=path) from exc
    while data.ndim > 3 and data.shape[-1] == 1:  # (X, Y, Z, 1): one channel or one time point
        data = data[..., 0]
    if data.ndim == 2:
        data, spacing = data[:, :, None], (*spacing[:2], 1.0)
    if data.ndim != 3:
        raise DataError(f"expected a 2-D or 3-D image, got shape {data.shape}", file=path)
    return data, (float(spacing[0]), float(spacing[1]), float(spacing[2]))


def is_image(path: Path) -> bool:
    """Image files, not the '._name' resource forks that macOS leaves in Decathlon archives."""
    return path.name.endswith(SUFFIXES) and not path.name.startswith("._")


def _pairs(root: Path) -> list[tuple[Path, Path | None]]:
    manifest = root / "dataset.json"
    if manifest.is_file():
        try:
            listed = json.loads(manifest.read_text()).get("training", [])
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc}", file=manifest) from exc
        if listed:
            pairs = []
            for number, item in enumerate(listed, start=1):
                if not isinstance(item, dict) or "image" not in item:
                    raise DataError("each 'training' entry needs 'image' and 'label'", file=manifest, row=number)
                pairs.append((root / item["image"], root / item["label"] if item.get("label") else None))
            return pairs
    images = root / "imagesTr"
    if not images.is_dir():
        raise DataError("no imagesTr folder (nnU-Net / Decathlon layout expected)", file=root)
    labels = {_stem(p): p for p in (root / "labelsTr").glob("*") if is_image(p)}
    pairs = []
    for image in sorted(p for p in images.glob("*") if is_image(p)):
        stem = _stem(image)
        case = stem[:-5] if stem.endswith("_0000") else stem
        pairs.append((image, labels.get(case) or labels.get(stem)))
    return pairs


def load_folder(root: str | Path, *, modality: str = "unknown", anatomy: str = "unknown") -> list[Volume]:
    root = Path(root)
    if not root.is_dir():
        raise DataError("dataset folder not found", file=root)
    volumes = []
    for image_path, label_path in _pairs(root):
        if label_path is None or not label_path.is_file():
            raise DataError(
                f"image has no mask in labelsTr (expected {label_path or 'a file of the same case'})", file=image_path
            )
        image, spacing = read_image(image_path)
        mask, _ = read_image(label_path)
        if mask.shape != image.shape:
            raise DataError(f"mask shape {mask.shape} differs from the image's {image.shape}", file=label_path)
        case = _stem(image_path).removesuffix("_0000")
        volumes.append(Volume(case, image, mask > 0, spacing, modality, anatomy, path=str(image_path)))
    if not volumes:
        raise DataError("no images found in imagesTr", file=root)
    return volumes


def normalise(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Clip to the volume's percentiles and scale to [0, 1] (per volume, so slices stay comparable)."""
    lo, hi = np.percentile(image, [low, high])
    if hi <= lo:
        return np.zeros_like(image, dtype=np.float32)
    return ((np.clip(image, lo, hi) - lo) / (hi - lo)).astype(np.float32)


def _resize(array: np.ndarray, size: int, mode: str) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(tensor, size=(size, size), mode=mode, **kwargs)[0, 0].numpy()


def volume_slices(volume: Volume, *, size: int = 128, context: int = 2, empty_every: int = 0) -> list[Slice2D]:
    """Axial slices that show the lesion, plus `context` slices on each side (often lesion-free), resized
    to size x size. `empty_every` > 0 also keeps every n-th slice far from the lesion."""
    image = normalise(volume.image)
    mask = volume.mask if volume.mask is not None else np.zeros(volume.image.shape, bool)
    depth = image.shape[2]
    with_lesion = [z for z in range(depth) if mask[:, :, z].any()]
    keep = {z for centre in with_lesion for z in range(centre - context, centre + context + 1) if 0 <= z < depth}
    if empty_every:
        keep |= set(range(0, depth, empty_every))
    if not keep:  # no lesion anywhere: every slice (they are negatives)
        keep = set(range(depth))
    sx, sy = volume.spacing[0] * image.shape[0] / size, volume.spacing[1] * image.shape[1] / size
    out = []
    for z in sorted(keep):
        out.append(
            Slice2D(
                id=f"{volume.case_id}-z{z:03d}",
                case_id=volume.case_id,
                image=np.clip(_resize(image[:, :, z], size, "bilinear"), 0.0, 1.0),
                mask=_resize(mask[:, :, z].astype(np.float32), size, "nearest") > 0.5,
                spacing=(sx, sy),
                modality=volume.modality,
                anatomy=volume.anatomy,
                target=volume.target,
            )
        )
    return out


@dataclass(frozen=True)
class SliceSplit:
    """Which slices are labelled, unlabelled (mask hidden from training) and held out for testing."""

    seed: int
    label_ratio: float
    labelled: list[str]
    unlabelled: list[str]
    test: list[str]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SliceSplit:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"not a saved slice split: {exc}", file=path) from exc


def split_slices(
    slices: Sequence[Slice2D],
    label_ratio: float,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    by_case: bool = False,
    folds: int | None = None,
) -> SliceSplit:
    """Test slices first (stratified by lesion / no lesion), then `label_ratio` of the rest labelled.
    At least one slice with a lesion is labelled, or nothing could be learned. With `by_case` whole
    cases (a patient's volume, a region of one microscopy image) go to one split, so no patient's or
    region's slices are on both sides; the ratios then count cases (stratified by whether a case shows
    a lesion at all). With `folds` (cross-validation; whole cases), the cases are dealt into that many
    folds in one fixed order, stratified the same way, and seed k tests fold k mod `folds`: over
    `folds` seeds every case is tested exactly once (on 5 patients, leave one patient out), where
    shuffling per seed may hold out the same patient again."""
    if not 0 < label_ratio <= 1:
        raise ValueError(f"label_ratio must be in (0, 1], got {label_ratio}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    rng = random.Random(seed)
    groups: dict[str, list[str]] = {}
    lesion: dict[str, bool] = {}
    for s in slices:
        key = s.case_id if by_case or folds is not None else s.id
        groups.setdefault(key, []).append(s.id)
        lesion[key] = lesion.get(key, False) or bool(s.mask.any())
    positive = [g for g in groups if lesion[g]]
    negative = [g for g in groups if not lesion[g]]
    if folds is not None:
        if folds < 2 or len(positive) < folds:
            raise ValueError(f"{folds} folds need at least {max(folds, 2)} cases with a lesion, got {len(positive)}")
        dealer = random.Random(0)  # one order for every seed: fold k holds the same cases whatever the seed
        dealer.shuffle(positive)
        dealer.shuffle(negative)
        k = seed % folds
        test = positive[k::folds] + negative[k::folds]
        pos_rest = [g for g in positive if g not in test]
        neg_rest = [g for g in negative if g not in test]
        rng.shuffle(pos_rest)
        rng.shuffle(neg_rest)
    else:
        rng.shuffle(positive)
        rng.shuffle(negative)
        n_pos_test, n_neg_test = round(len(positive) * test_fraction), round(len(negative) * test_fraction)
        if by_case and test_fraction > 0 and len(positive) > 1:
            n_pos_test = max(1, n_pos_test)  # a held-out patient with a lesion, or Dice has nothing to measure
            n_pos_test = min(n_pos_test, len(positive) - 1)  # and one left to learn from
        test = positive[:n_pos_test] + negative[:n_neg_test]
        pos_rest, neg_rest = positive[n_pos_test:], negative[n_neg_test:]
    n_pos_lab = max(1, round(len(pos_rest) * label_ratio)) if pos_rest else 0
    n_neg_lab = round(len(neg_rest) * label_ratio)
    labelled = pos_rest[:n_pos_lab] + neg_rest[:n_neg_lab]
    unlabelled = pos_rest[n_pos_lab:] + neg_rest[n_neg_lab:]
    order = {s.id: i for i, s in enumerate(slices)}

    def members(keys: list[str]) -> list[str]:
        return sorted((i for key in keys for i in groups[key]), key=order.__getitem__)

    return SliceSplit(
        seed=seed,
        label_ratio=label_ratio,
        labelled=members(labelled),
        unlabelled=members(unlabelled),
        test=members(test),
    )
