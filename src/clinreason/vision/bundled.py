"""Real images with masks that install offline from PyPI: the five tumour cases of the pyradiomics
3.0.1 source package and the nuclei image of the stardist wheel.

Both files are fetched once from PyPI's file host (the registry is reachable where `pip install` is),
checked against the sha256 pinned here, and kept in `~/.cache/clinreason/data`. Where the download is
not possible, put the same file in that folder by hand; the error says which file and where.

| case | modality | anatomy | source |
|---|---|---|---|
| brain1, brain2 | MRI | brain | pyradiomics 3.0.1 `data/` (van Griethuysen et al., Cancer Res 2017) |
| breast1 | MRI | breast | same |
| lung1, lung2 | CT | lung | same |
| nuclei | fluorescence | nuclei | stardist 0.9.2 `data/images` (DSB2018, Caicedo et al., Nat Methods 2019) |
"""

from __future__ import annotations

import io
import logging
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clinreason.checksums import file_sha256
from clinreason.errors import DataError
from clinreason.paths import cache_home
from clinreason.vision.data import Slice2D, Volume, read_image, volume_slices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str


PYRADIOMICS = RemoteFile(
    "pyradiomics-3.0.1.tar.gz",
    "https://files.pythonhosted.org/packages/1b/35/c7f7fb7affd302fd8107dcee6b6e7aaf3708b75ad69d5f9a3dfcadb73eaa/"
    "pyradiomics-3.0.1.tar.gz",
    "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5",
)
STARDIST = RemoteFile(
    "stardist-0.9.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    "https://files.pythonhosted.org/packages/4a/41/1552e918b9c79d46f878f65fb7fd1594ade491cfa7782c2732ccd4a70209/"
    "stardist-0.9.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    "2316c0feb7bd5621e7a277cb3868df475c338943c591925c420ee3622c42f023",
)
CASES = {
    "brain1": ("MRI", "brain", "brain tumour"),
    "brain2": ("MRI", "brain", "brain tumour"),
    "breast1": ("MRI", "breast", "breast tumour"),
    "lung1": ("CT", "lung", "lung tumour"),
    "lung2": ("CT", "lung", "lung tumour"),
}


def data_home() -> Path:
    return cache_home() / "data"


def fetch(remote: RemoteFile, folder: Path | None = None) -> Path:
    """The file, downloaded once and verified; a mismatching file is refused, not used."""
    folder = folder or data_home()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / remote.name
    if not path.is_file():
        log.info("downloading %s", remote.url)
        partial = path.with_suffix(path.suffix + ".part")
        try:
            with urllib.request.urlopen(remote.url, timeout=120) as response, partial.open("wb") as out:
                out.write(response.read())
        except OSError as exc:
            raise DataError(
                f"cannot download {remote.url} ({exc}); download it by hand and put it here", file=path
            ) from exc
        partial.replace(path)
    actual = file_sha256(path)
    if actual != remote.sha256:
        raise DataError(f"sha256 {actual} does not match the pinned {remote.sha256}; delete the file", file=path)
    return path


def pyradiomics_volumes(folder: Path | None = None) -> list[Volume]:
    archive = fetch(PYRADIOMICS, folder)
    volumes = []
    with tarfile.open(archive) as tar:
        target = (folder or data_home()) / "pyradiomics-3.0.1"
        for case, (modality, anatomy, lesion) in CASES.items():
            paths = []
            for part in ("image", "label"):
                member = f"pyradiomics-3.0.1/data/{case}_{part}.nrrd"
                out = target / f"{case}_{part}.nrrd"
                if not out.is_file():
                    out.parent.mkdir(parents=True, exist_ok=True)
                    extracted = tar.extractfile(member)
                    if extracted is None:
                        raise DataError(f"{member} is missing from the archive", file=archive)
                    out.write_bytes(extracted.read())
                paths.append(out)
            image, spacing = read_image(paths[0])
            mask, _ = read_image(paths[1])
            volumes.append(Volume(case, image, mask > 0, spacing, modality, anatomy, lesion, str(paths[0])))
    return volumes


def nuclei_image(folder: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) of the stardist DSB2018 nuclei image, 512 x 512; the mask is every nucleus."""
    import tifffile

    wheel = fetch(STARDIST, folder)
    with zipfile.ZipFile(wheel) as archive:
        image = tifffile.imread(io.BytesIO(archive.read("stardist/data/images/img2d.tif")))
        labels = tifffile.imread(io.BytesIO(archive.read("stardist/data/images/mask2d.tif")))
    return np.asarray(image), np.asarray(labels) > 0


def tile_image(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    size: int,
    stride: int | None = None,
    region: int | None = None,
    name: str = "nuclei",
    modality: str = "fluorescence microscopy",
    anatomy: str = "cell nuclei",
    target: str = "nuclei",
) -> list[Slice2D]:
    """size x size tiles of one large image, overlapping by `size - stride`, each inside one disjoint
    `region` x `region` block whose id is the tiles' case: tiles that overlap share a region, so a
    split by case never puts overlapping pixels on both sides."""
    stride = stride or size
    region = region or size
    if not 0 < stride <= size <= region:
        raise ValueError(f"tiles need 0 < stride <= size <= region, got {stride}, {size}, {region}")
    tiles = []
    for top in range(0, image.shape[0] - region + 1, region):
        for left in range(0, image.shape[1] - region + 1, region):
            case = f"{name}-r{top:03d}c{left:03d}"
            for row in range(top, top + region - size + 1, stride):
                for col in range(left, left + region - size + 1, stride):
                    tiles.append(
                        Slice2D(
                            id=f"{name}-y{row:03d}x{col:03d}",
                            case_id=case,
                            image=image[row : row + size, col : col + size].astype(np.float32),
                            mask=mask[row : row + size, col : col + size],
                            spacing=(1.0, 1.0),
                            modality=modality,
                            anatomy=anatomy,
                            target=target,
                        )
                    )
    return tiles


def nuclei_tiles(size: int = 128, folder: Path | None = None, *, stride: int | None = None) -> list[Slice2D]:
    """The nuclei image (the image's own resolution, not resized) cut into size x size tiles that
    overlap by half (stride size / 2), inside 2 size x 2 size regions (the cases of the split): at size
    64, 16 regions of 9 tiles each."""
    from clinreason.vision.data import normalise

    image, mask = nuclei_image(folder)
    region = 2 * size if 2 * size <= min(image.shape) else size
    return tile_image(normalise(image), mask, size=size, stride=stride or max(1, size // 2), region=region)


def pyradiomics_slices(size: int = 128, context: int = 2, folder: Path | None = None) -> list[Slice2D]:
    """Every slice that shows a tumour, plus `context` slices on each side, resized to size x size."""
    return [s for volume in pyradiomics_volumes(folder) for s in volume_slices(volume, size=size, context=context)]
