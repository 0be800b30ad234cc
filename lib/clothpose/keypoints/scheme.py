"""Keypoint schemes: which channels a model predicts, how they flip, how they map across spaces.

A scheme is a set of K channels plus categories. Each category lists, for its local landmarks
(in the dataset's own numbering), the channel that holds each one (``slots``). Two schemes of the
same *family* number every category's landmarks the same way, so converting between them is a
copy through the slots: this is how 294 -> 81 aggregation, its inverse, and per-category subsets
work, with one function and no typed-twice tables.

Flip pairs are declared per category in local numbers and *derived* for the channels; the
derivation fails loudly if two categories disagree about a channel's mirror partner.
"""
from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputError
from . import deepfashion2 as df2
from . import fashionai as fai

logger = logging.getLogger(__name__)


class SchemeError(InputError):
    """A keypoint scheme definition is inconsistent."""


@dataclass(frozen=True)
class Category:
    """One garment category inside a scheme.

    Attributes:
        id: category id as used in annotations and results (DeepFashion2: 1..13).
        name: category name.
        slots: channel index (0-based, in the scheme) of each local landmark, local order.
        flip_pairs: mirror pairs of local landmarks (0-based).
        skeleton: drawing edges between local landmarks (0-based).
    """

    id: int
    name: str
    slots: tuple[int, ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()

    @property
    def num_keypoints(self) -> int:
        return len(self.slots)


@dataclass(frozen=True, eq=False)
class KeypointScheme:
    """Channels, sigmas, flips and categories of one keypoint layout. Build with ``make_scheme``."""

    name: str
    family: str
    keypoint_names: tuple[str, ...]
    sigmas: np.ndarray
    categories: tuple[Category, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    flip_index: np.ndarray = field(repr=False)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def category_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.categories)

    def category(self, category_id: int) -> Category:
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(f"scheme {self.name!r} has no category {category_id}; "
                       f"known: {list(self.category_ids)}")

    def category_mask(self, category_id: int) -> np.ndarray:
        """Boolean (K,) mask of the channels that belong to ``category_id``."""
        mask = np.zeros(self.num_keypoints, dtype=bool)
        mask[list(self.category(category_id).slots)] = True
        return mask

    def convert(self, keypoints: np.ndarray, category_ids: Sequence[int] | np.ndarray,
                target: "KeypointScheme") -> np.ndarray:
        """Move keypoints of instances into another scheme of the same family.

        Args:
            keypoints: (N, K_self, D) array (D = 2 or 3, e.g. x, y, visibility/score).
            category_ids: (N,) category of each instance; decides which slots are copied.
            target: destination scheme.

        Returns:
            (N, K_target, D) array; channels that are not the instance's category's are zero.
        """
        if target.family != self.family:
            raise SchemeError(f"cannot convert {self.name!r} ({self.family}) to {target.name!r} "
                              f"({target.family}): different families")
        kps = np.asarray(keypoints)
        if kps.ndim != 3 or kps.shape[1] != self.num_keypoints:
            raise ValueError(f"expected (N, {self.num_keypoints}, D) keypoints for scheme "
                             f"{self.name!r}, got shape {kps.shape}")
        cats = np.asarray(category_ids).reshape(-1)
        out = np.zeros((kps.shape[0], target.num_keypoints, kps.shape[2]), dtype=kps.dtype)
        for cid in np.unique(cats):
            rows = np.nonzero(cats == cid)[0]
            src = self.category(int(cid)).slots
            dst = target.category(int(cid)).slots
            out[rows[:, None], np.asarray(dst)[None, :]] = kps[rows[:, None], np.asarray(src)[None, :]]
        return out


def make_scheme(name: str, family: str, keypoint_names: Sequence[str], sigmas: Sequence[float],
                categories: Iterable[Category]) -> KeypointScheme:
    """Validate a scheme definition and derive its channel flip pairs."""
    names = tuple(str(n) for n in keypoint_names)
    k = len(names)
    if len(set(names)) != k:
        raise SchemeError(f"scheme {name!r}: keypoint names are not unique")
    sig = np.asarray(sigmas, dtype=np.float64)
    if sig.shape != (k,) or not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise SchemeError(f"scheme {name!r}: sigmas must be {k} positive numbers, got shape "
                          f"{sig.shape}")
    cats = tuple(categories)
    if not cats:
        raise SchemeError(f"scheme {name!r}: no categories")
    if len({c.id for c in cats}) != len(cats):
        raise SchemeError(f"scheme {name!r}: duplicate category ids")
    partner = np.full(k, -1, dtype=np.int64)
    for c in cats:
        _check_category(name, c, k)
        for a, b in c.flip_pairs:
            ca, cb = c.slots[a], c.slots[b]
            for x, y in ((ca, cb), (cb, ca)):
                if partner[x] not in (-1, y):
                    raise SchemeError(
                        f"scheme {name!r}: category {c.id} ({c.name}) mirrors channel {x} to {y}, "
                        f"but another category mirrors it to {partner[x]}")
                partner[x] = y
    for c in cats:  # a landmark on the symmetry axis must stay on a fixed channel
        paired = {i for p in c.flip_pairs for i in p}
        for j, ch in enumerate(c.slots):
            if j not in paired and partner[ch] != -1:
                raise SchemeError(
                    f"scheme {name!r}: category {c.id} ({c.name}) landmark {j + 1} is on the "
                    f"symmetry axis, but its channel {ch} is mirrored to {partner[ch]}")
    flip_index = np.where(partner >= 0, partner, np.arange(k))
    flip_index.setflags(write=False)
    sig.setflags(write=False)
    pairs = tuple((int(a), int(b)) for a, b in enumerate(partner) if b > a)
    return KeypointScheme(name=name, family=family, keypoint_names=names, sigmas=sig,
                          categories=cats, flip_pairs=pairs, flip_index=flip_index)


def _check_category(scheme: str, c: Category, k: int) -> None:
    where = f"scheme {scheme!r}, category {c.id} ({c.name})"
    if len(set(c.slots)) != len(c.slots):
        raise SchemeError(f"{where}: two landmarks share one channel")
    if any(not 0 <= s < k for s in c.slots):
        raise SchemeError(f"{where}: channel out of range 0..{k - 1}")
    n = len(c.slots)
    seen: set[int] = set()
    for a, b in c.flip_pairs:
        if not (0 <= a < n and 0 <= b < n) or a == b:
            raise SchemeError(f"{where}: bad flip pair ({a + 1}, {b + 1}) for {n} landmarks")
        if a in seen or b in seen:
            raise SchemeError(f"{where}: landmark used in two flip pairs ({a + 1}, {b + 1})")
        seen.update((a, b))
    for a, b in c.skeleton:
        if not (0 <= a < n and 0 <= b < n):
            raise SchemeError(f"{where}: skeleton edge ({a + 1}, {b + 1}) out of range")


def _edges(polylines: Iterable[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    """1-based polylines -> 0-based edges."""
    return tuple((a - 1, b - 1) for line in polylines for a, b in zip(line[:-1], line[1:]))


def _zero_based(pairs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((a - 1, b - 1) for a, b in pairs)


# --------------------------------------------------------------------------- DeepFashion2 family
def _df2_pairs(cid: int, variant: str) -> list[tuple[int, int]]:
    return df2.FIGURE_SSO_PAIRS if (cid == 3 and variant == "figure") else df2.FLIP_PAIRS[cid]


def _df2_agg_row(cid: int, variant: str) -> tuple[int, ...]:
    return df2.FIGURE_SSO_AGG81 if (cid == 3 and variant == "figure") else df2.AGG81[cid]


def _df2_full(variant: str) -> KeypointScheme:
    cats, names, offset = [], [], 0
    for cid, cname, _raw, n in df2.CATEGORIES:
        cats.append(Category(cid, cname, tuple(range(offset, offset + n)),
                             _zero_based(_df2_pairs(cid, variant)), _edges(df2.SKELETON[cid])))
        names += [f"{cname}_{j}" for j in range(1, n + 1)]
        offset += n
    sigmas = [s for cid, *_ in df2.CATEGORIES for s in df2.SIGMAS[cid]]
    suffix = "" if variant == "default" else f"-{variant}"
    return make_scheme(f"deepfashion2{suffix}", "deepfashion2", names, sigmas, cats)


def _df2_agg81(variant: str) -> KeypointScheme:
    cats = []
    members: list[list[float]] = [[] for _ in range(81)]
    for cid, cname, _raw, n in df2.CATEGORIES:
        row = _df2_agg_row(cid, variant)
        if len(row) != n:
            raise SchemeError(f"agg81 row of category {cid} has {len(row)} ids, expected {n}")
        for j, a in enumerate(row):
            members[a - 1].append(df2.SIGMAS[cid][j])
        cats.append(Category(cid, cname, tuple(a - 1 for a in row),
                             _zero_based(_df2_pairs(cid, variant)), _edges(df2.SKELETON[cid])))
    if any(not m for m in members):
        raise SchemeError("agg81: some aggregated ids have no member landmark")
    # An aggregated channel stands for several landmarks; its sigma (used only for OKS-NMS in
    # 81 space; evaluation is always in 294 space) is the mean of theirs.
    sigmas = [float(np.mean(m)) for m in members]
    suffix = "" if variant == "default" else f"-{variant}"
    return make_scheme(f"deepfashion2-agg81{suffix}", "deepfashion2",
                       [f"agg_{i}" for i in range(1, 82)], sigmas, cats)


def _df2_mmpose() -> KeypointScheme:
    """294 channels with mmpose's flip table (``deepfashion2.MMPOSE_ONE_WAY``): the figure's sso
    pairing, and one-way swaps that make the flip index deliberately not an involution."""
    base = _df2_full("figure")
    cats = []
    for c in base.categories:
        one_way = {j - 1 for pair in df2.MMPOSE_ONE_WAY.get(c.id, ()) for j in pair}
        cats.append(replace(c, flip_pairs=tuple(p for p in c.flip_pairs if not one_way & set(p))))
    s = make_scheme("deepfashion2-mmpose", "deepfashion2", base.keypoint_names, base.sigmas, cats)
    index = s.flip_index.copy()
    for cid, rows in df2.MMPOSE_ONE_WAY.items():
        slots = s.category(cid).slots
        for a, b in rows:
            index[slots[a - 1]] = slots[b - 1]
    index.setflags(write=False)
    return replace(s, flip_index=index)


# ------------------------------------------------------------------------------ FashionAI family
def _fashionai() -> KeypointScheme:
    names = fai.KEYPOINTS
    index = {n: i for i, n in enumerate(names)}
    cats = []
    for cid, cname, kp_names in fai.CATEGORIES:
        local = {n: j for j, n in enumerate(kp_names)}
        pairs = [(local[a], local[b]) for a, b in fai.flip_pairs_by_name() if a in local and b in local]
        edges = [(local[a], local[b]) for a, b in fai.SKELETON if a in local and b in local]
        cats.append(Category(cid, cname, tuple(index[n] for n in kp_names), tuple(pairs),
                             tuple(edges)))
    return make_scheme("fashionai", "fashionai", names, [fai.SIGMA] * len(names), cats)


# ----------------------------------------------------------------------------------- subsets
def subset_scheme(base: KeypointScheme, category_id: int) -> KeypointScheme:
    """Single-category scheme: K = that category's landmark count, channels in local order."""
    c = base.category(category_id)
    cat = Category(c.id, c.name, tuple(range(c.num_keypoints)), c.flip_pairs, c.skeleton)
    names = [base.keypoint_names[s] for s in c.slots] if base.family != "deepfashion2" else \
        [f"{c.name}_{j}" for j in range(1, c.num_keypoints + 1)]
    if base.name.startswith("deepfashion2-agg81"):
        # Per-category subsets are defined on landmarks, not aggregated channels: use 294 sigmas.
        sig = df2.SIGMAS[category_id]
    else:
        sig = base.sigmas[list(c.slots)]
    return make_scheme(f"{base.name}-cat{category_id}", base.family, names, sig, [cat])


# ------------------------------------------------------------------------------ user schemes
def load_scheme_file(path: str | Path) -> KeypointScheme:
    """Read a user scheme from YAML or JSON.

    Format (names refer to entries of ``keypoints``)::

        name: my_garments
        keypoints: [collar_l, collar_r, hem_l, hem_r, ...]
        sigmas: [0.025, 0.025, ...]               # one per keypoint
        flip_pairs: [[collar_l, collar_r], ...]   # mirror pairs
        skeleton: [[collar_l, hem_l], ...]        # optional drawing edges
        categories:                               # optional; default: one category with all
          - {id: 1, name: top, keypoints: [collar_l, collar_r, ...]}
    """
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix.lower() == ".json":
            spec = json.loads(text)
        else:
            import yaml
            spec = yaml.safe_load(text)
    except (OSError, ValueError) as e:
        raise SchemeError(f"{path}: cannot read keypoint scheme: {e}") from e
    try:
        return scheme_from_dict(spec, default_name=path.stem)
    except SchemeError as e:
        raise SchemeError(f"{path}: {e}") from e


def scheme_from_dict(spec: dict, default_name: str = "user") -> KeypointScheme:
    """Build a scheme from the dict form documented in ``load_scheme_file``."""
    if not isinstance(spec, dict):
        raise SchemeError("scheme file must hold a mapping")
    for key in ("keypoints", "sigmas"):
        if key not in spec:
            raise SchemeError(f"field {key!r} is missing")
    names = [str(n) for n in spec["keypoints"]]
    index = {n: i for i, n in enumerate(names)}

    def lookup(n: str, field_name: str) -> int:
        if str(n) not in index:
            raise SchemeError(f"field {field_name!r}: unknown keypoint {n!r}")
        return index[str(n)]

    pairs = [(lookup(a, "flip_pairs"), lookup(b, "flip_pairs")) for a, b in spec.get("flip_pairs", [])]
    edges = [(lookup(a, "skeleton"), lookup(b, "skeleton")) for a, b in spec.get("skeleton", [])]
    cat_specs = spec.get("categories") or [{"id": 1, "name": spec.get("name", default_name),
                                            "keypoints": names}]
    cats = []
    for cs in cat_specs:
        slots = [lookup(n, "categories.keypoints") for n in cs.get("keypoints", names)]
        local = {ch: j for j, ch in enumerate(slots)}
        cpairs = []
        for a, b in pairs:
            if (a in local) != (b in local):
                raise SchemeError(f"category {cs.get('id')}: flip pair ({names[a]}, {names[b]}) "
                                  "has only one member in the category")
            if a in local:
                cpairs.append((local[a], local[b]))
        cedges = [(local[a], local[b]) for a, b in edges if a in local and b in local]
        cats.append(Category(int(cs["id"]), str(cs.get("name", cs["id"])), tuple(slots),
                             tuple(cpairs), tuple(cedges)))
    name = str(spec.get("name", default_name))
    return make_scheme(name, name, names, spec["sigmas"], cats)


# ------------------------------------------------------------------------------------ registry
BUILTIN = ("deepfashion2", "deepfashion2-figure", "deepfashion2-agg81", "deepfashion2-agg81-figure",
           "deepfashion2-mmpose", "fashionai")
_SUBSET = re.compile(r"^(?P<base>.+)-cat(?P<cat>\d+)$")


@functools.lru_cache(maxsize=None)
def get_scheme(name: str) -> KeypointScheme:
    """Scheme by name: a built-in, ``<built-in>-cat<k>``, a FashionAI type name, or a file path."""
    builders = {
        "deepfashion2": lambda: _df2_full("default"),
        "deepfashion2-figure": lambda: _df2_full("figure"),
        "deepfashion2-agg81": lambda: _df2_agg81("default"),
        "deepfashion2-agg81-figure": lambda: _df2_agg81("figure"),
        "fashionai": _fashionai,
    }
    if name in builders:
        return builders[name]()
    if name == "deepfashion2-mmpose":  # no -cat<k> subsets: mmpose's models predict all 294
        return _df2_mmpose()
    m = _SUBSET.match(name)
    if m and m.group("base") in builders:
        return subset_scheme(get_scheme(m.group("base")), int(m.group("cat")))
    if name.startswith("fashionai-") and name[10:] in fai.CATEGORY_IDS:
        return subset_scheme(get_scheme("fashionai"), fai.CATEGORY_IDS[name[10:]])
    if name.endswith((".yaml", ".yml", ".json")):
        return load_scheme_file(name)
    raise KeyError(f"unknown keypoint scheme {name!r}; built-in: {', '.join(BUILTIN)}, "
                   "<name>-cat<k>, fashionai-<type>, or a .yaml/.json scheme file")
