"""Strategies: one class's stored maps clustered, to find the ways the model decides it (SpRAy).

Spectral relevance analysis (Lapuschkin et al., 2019, "Unmasking Clever Hans predictors and
assessing what machines really learn", Nat. Commun. 10:1096, Methods "Spectral relevance analysis"):

1. every audited photo of the class (by its true or its predicted class) brings its map, resized to
   a small fixed grid and normalised to unit mass;
2. the maps are the nodes of a symmetric k-nearest-neighbour affinity graph;
3. the eigenvalues 0 = λ₁ ≤ λ₂ ≤ … of its normalised Laplacian L = I − D^−½ A D^−½ give the number
   of clusters: the k before the largest gap λ_{k+1} − λ_k (the eigengap, von Luxburg 2007, Sec. 8.3);
4. spectral clustering (scikit-learn) groups the photos; a 2-D embedding (t-SNE, or the Laplacian's
   2nd and 3rd eigenvectors) places them on a page.

A cluster is *flagged* (a candidate Clever Hans strategy) when its mean map sits where the class's
other photos' maps do not (the two mass distributions overlap by at most :data:`OVERLAP_MAX`) and on
the photo's edge (at least :data:`EDGE_MIN` of its mass within :data:`EDGE` of a border: a watermark,
a frame, a corner), with at least :data:`MIN_FLAGGED` photos. A cluster of photos whose object is
merely on the left is apart from the rest, but not on the edge; a shortcut in the middle of the
photo is not flagged (its cluster is still shown). Each cluster's ``agreement`` (how much its maps
share with their mean) says how fixed the place is.

Everything here reads the audit's stored rows (vizcore.audit.store); the model is not needed.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import csgraph, csr_matrix, identity
from scipy.sparse.linalg import eigsh

from ..drawing import resized_map
from ..errors import RequestError
from . import store

SIDE = 16  # maps are compared on a SIDE × SIDE grid
NEIGHBOURS = 10  # k of the k-nearest-neighbour affinity graph
MAX_CLUSTERS = 8  # the eigengap looks for at most this many clusters
MIN_PHOTOS = 4  # a class needs at least this many photos to be clustered
DENSE_UP_TO = 1500  # photos up to which the Laplacian's spectrum is computed densely (else eigsh)
OVERLAP_MAX = 0.45  # a flagged cluster's mean map shares at most this mass with the rest of the class's
EDGE = 1 / 8  # the photo's edge: the outer ring of this share of its side, on each side (44 % of the area)
EDGE_MIN = 0.5  # ... and holds at least this share of its mass on the edge
MIN_FLAGGED = 3  # ... and has at least this many photos
EXEMPLARS = 6  # photos shown per cluster
BY = ("true", "predicted")  # a class's photos: those labelled it, or those the model calls it
EMBEDDINGS = ("auto", "tsne", "spectral")  # auto: t-SNE up to TSNE_UP_TO photos, spectral above
TSNE_UP_TO = 1000  # photos: t-SNE of more takes minutes on 2 CPU cores
THREADS = 1  # OpenMP/BLAS threads while clustering: t-SNE on a busy machine is 25× slower with more
COLUMNS = ["path", "error", "true_index", "pred_index", "confidence", "correct", "map_height", "map_width", "map",
           "true_map"]  # fmt: skip


class TooFewPhotos(RequestError):
    """A class with fewer than MIN_PHOTOS audited photos: nothing to cluster (not a mistake of the user's)."""


@dataclass(frozen=True)
class ClassMaps:
    """One class's audited photos and their maps (n, h, w), in path order."""

    paths: list[str]
    maps: np.ndarray
    correct: list[bool | None]
    confidence: list[float | None]


@dataclass
class Cluster:
    """One strategy: a group of photos whose maps look alike."""

    number: int  # 0 is the largest
    members: list[int]  # positions in Strategies.paths
    mean_map: np.ndarray  # (SIDE, SIDE), max 1
    accuracy: float | None  # share of its labelled photos called right
    mean_confidence: float | None
    centre: tuple[float, float]  # (row, column) of its mean map's mass, shares of height and width
    border_share: float  # its mean map's mass on the outer ring of cells
    edge_share: float  # its mean map's mass on the photo's edge (the outer EDGE of the side, each side)
    overlap: float  # mass its mean map shares with the mean map of the class's other photos (0: none)
    agreement: float  # mass its photos' maps share with its mean map, on average (1: all identical)
    exemplars: list[int]  # up to EXEMPLARS members whose maps are nearest its mean map, nearest first
    where: str  # the centre in words ("top-left corner", "centre", ...)
    flagged: bool  # a candidate shortcut: see the module docstring

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Strategies:
    """A class's maps clustered: its clusters, the Laplacian's spectrum and a 2-D embedding."""

    class_name: str
    by: str  # "true" or "predicted"
    paths: list[str]
    labels: np.ndarray  # cluster number of each photo
    eigenvalues: np.ndarray  # smallest eigenvalues of the normalised Laplacian, ascending
    chosen_by: str  # "eigengap" or "user"
    embedding: np.ndarray  # (n, 2)
    embedding_method: str  # "tsne" or "spectral"
    maps: np.ndarray  # the photos' maps as stored (n, h, w)
    clusters: list[Cluster] = field(default_factory=list)

    @property
    def flagged(self) -> list[Cluster]:
        return [cluster for cluster in self.clusters if cluster.flagged]

    def to_json(self) -> dict:
        """What `vizcore strategies --json` prints: each cluster's members and mean-map statistics."""
        return {
            "class": self.class_name,
            "by": self.by,
            "photos": len(self.paths),
            "clusters_chosen_by": self.chosen_by,
            "eigenvalues": [round(float(value), 6) for value in self.eigenvalues],
            "embedding": self.embedding_method,
            "clusters": [_cluster_json(cluster, self.paths) for cluster in self.clusters],
        }


def _cluster_json(cluster: Cluster, paths: list[str]) -> dict:
    return {
        "cluster": cluster.number,
        "size": cluster.size,
        "members": [paths[at] for at in cluster.members],
        "accuracy": cluster.accuracy,
        "mean_confidence": cluster.mean_confidence,
        "mean_map": {
            "centre_row": round(cluster.centre[0], 4),
            "centre_col": round(cluster.centre[1], 4),
            "border_share": round(cluster.border_share, 4),
            "edge_share": round(cluster.edge_share, 4),
            "overlap_with_rest": round(cluster.overlap, 4),
            "agreement": round(cluster.agreement, 4),
            "where": cluster.where,
        },
        "exemplars": [paths[at] for at in cluster.exemplars],
        "flagged": cluster.flagged,
    }


# --- the class's photos --------------------------------------------------------------------------


def class_index(manifest: dict, name: str | int) -> int:
    """The index of a class named ``name`` (ignoring case, spaces and underscores) or given by its number.

    Raises:
        RequestError: no such class in the audit.
    """
    classes = list(manifest["classes"])
    if isinstance(name, int) or str(name).strip().isdigit():
        index = int(name)
        if 0 <= index < len(classes):
            return index
        raise RequestError(f"Class {index} is out of range: the audit has classes 0 to {len(classes) - 1}.")
    wanted = _plain(str(name))
    for index, known in enumerate(classes):
        if _plain(known) == wanted:
            return index
    shown = ", ".join(classes[:8]) + (", ..." if len(classes) > 8 else "")
    raise RequestError(f"No class {name!r} in this audit (its classes: {shown}).")


def _plain(name: str) -> str:
    return re.sub(r"[\s_]+", "", name).lower()


def class_maps(table: pa.Table, class_number: int, by: str = "true") -> ClassMaps:
    """The audited photos of one class with their maps: for ``by="true"`` the photos labelled the class,
    with the true class's map (the stored ``true_map`` where the prediction is wrong); for
    ``by="predicted"`` the photos the model calls the class, with the predicted class's map."""
    if by not in BY:
        raise RequestError(f"by must be one of {', '.join(BY)}, got {by!r}.")
    column = "true_index" if by == "true" else "pred_index"
    chosen = table.filter(pc.and_(pc.equal(table[column], class_number), pc.is_null(table["error"])))
    chosen = chosen.filter(pc.is_valid(chosen["map"]))
    shapes = set(zip(chosen["map_height"].to_pylist(), chosen["map_width"].to_pylist()))
    if len(shapes) > 1:
        raise RequestError(f"The audit's maps have several sizes {sorted(shapes)}; audit again with one layer.")
    height, width = shapes.pop() if shapes else (0, 0)
    maps = _grids(chosen["map"], height, width)
    if by == "true" and len(chosen):
        own = pc.is_valid(chosen["true_map"]).to_numpy(zero_copy_only=False)
        if own.any():
            maps[own] = _grids(chosen.filter(own)["true_map"], height, width)
    return ClassMaps(chosen["path"].to_pylist(), maps, chosen["correct"].to_pylist(),
                     chosen["confidence"].to_pylist())  # fmt: skip


def _grids(column: pa.ChunkedArray, height: int, width: int) -> np.ndarray:
    flat = np.array(pc.list_flatten(column).to_numpy(zero_copy_only=False), np.float32)
    return flat.reshape(len(column), height, width)


# --- the method: normalise, graph, spectrum, clusters, embedding ---------------------------------


def normalised_maps(maps: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Maps (n, h, w) as points (n, side²): resized bilinearly, then of unit mass (Σ = 1); a map with no
    mass becomes uniform (it looks nowhere in particular)."""
    points = np.stack([resized_map(grid, (side, side)) for grid in maps]).reshape(len(maps), -1)
    points = np.clip(points.astype(np.float64), 0.0, None)
    mass = points.sum(axis=1, keepdims=True)
    return np.where(mass > 0, points / np.where(mass > 0, mass, 1.0), 1.0 / points.shape[1])


def affinity_graph(points: np.ndarray, neighbours: int = NEIGHBOURS) -> csr_matrix:
    """The symmetric k-nearest-neighbour graph (A + Aᵀ) / 2 of the points (Euclidean), as SpRAy builds it."""
    from sklearn.neighbors import kneighbors_graph

    connectivity = kneighbors_graph(points, n_neighbors=min(neighbours, len(points) - 1), include_self=False)
    return csr_matrix(0.5 * (connectivity + connectivity.T))


def laplacian_spectrum(affinity: csr_matrix, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` smallest eigenvalues (ascending) and eigenvectors of the normalised Laplacian
    L = I − D^−½ A D^−½ (von Luxburg 2007, Eq. "L_sym"); densely for small graphs, else by Lanczos."""
    laplacian = csgraph.laplacian(affinity, normed=True)
    nodes = affinity.shape[0]
    count = min(count, nodes)
    if nodes <= DENSE_UP_TO or count >= nodes - 1:
        values, vectors = np.linalg.eigh(laplacian.toarray())
        return values[:count], vectors[:, :count]
    start = np.random.default_rng(seed).uniform(size=nodes)
    # The largest eigenvalues μ of D^−½ A D^−½ = I − L are 1 − λ for the smallest λ of L; Lanczos finds
    # largest eigenvalues quickly.
    adjacency = identity(nodes, format="csr") - laplacian
    values, vectors = eigsh(adjacency, k=count, which="LA", v0=start)
    order = np.argsort(-values)
    return 1.0 - values[order], vectors[:, order]


def eigengap_clusters(eigenvalues: np.ndarray, most: int = MAX_CLUSTERS) -> int:
    """The number of clusters k ≤ ``most`` before the largest gap λ_{k+1} − λ_k of ascending eigenvalues."""
    values = np.asarray(eigenvalues, np.float64)[: most + 1]
    if len(values) < 2:
        return 1
    return int(np.argmax(np.diff(values))) + 1


def cluster_labels(affinity: csr_matrix, clusters: int, seed: int = 0) -> np.ndarray:
    """Spectral clustering of the graph into ``clusters`` groups (Ng, Jordan & Weiss 2001, via scikit-learn),
    numbered by size, largest first."""
    nodes = affinity.shape[0]
    if clusters <= 1:
        return np.zeros(nodes, np.int64)
    from sklearn.cluster import SpectralClustering

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "graph is not fully connected": the clusters are then its parts
        found = SpectralClustering(clusters, affinity="precomputed", random_state=seed).fit_predict(affinity)
    order = np.argsort(-np.bincount(found, minlength=clusters), kind="stable")
    renumber = np.empty(clusters, np.int64)
    renumber[order] = np.arange(clusters)
    return renumber[found]


def embedded(points: np.ndarray, vectors: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates of the maps: t-SNE (van der Maaten & Hinton 2008) of the points, or the Laplacian's
    2nd and 3rd eigenvectors (spectral coordinates). Fewer than 5 photos: spectral."""
    if method not in EMBEDDINGS[1:]:
        raise RequestError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {method!r}.")
    if method == "tsne" and len(points) >= 5:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(points) - 1) / 3))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
    coordinates = np.zeros((len(points), 2))
    usable = vectors[:, 1:3]
    coordinates[:, : usable.shape[1]] = usable
    return coordinates


# --- each cluster: its mean map, numbers and flag ------------------------------------------------


def overlap(mass: np.ndarray, other: np.ndarray) -> float:
    """Histogram intersection Σ min(p, q) of two mass distributions: 1 the same place, 0 disjoint."""
    return float(np.minimum(mass, other).sum())


def edge_share(mass: np.ndarray, edge: float = EDGE) -> float:
    """The share of a mass distribution (h, w) on the photo's edge: rows and columns within ``edge`` of the
    side from any border."""
    height, width = mass.shape
    rows, cols = max(1, round(height * edge)), max(1, round(width * edge))
    return float(1.0 - mass[rows : height - rows, cols : width - cols].sum() / max(mass.sum(), 1e-12))


def where_in_words(row: float, col: float, on_edge: float) -> str:
    """A mean map's centre of mass (shares of height and width) as a place on the photo; corners and edges
    only for a map with most of its mass on the edge (:func:`edge_share`)."""
    vertical = "top" if row < 1 / 3 else "bottom" if row > 2 / 3 else ""
    horizontal = "left" if col < 1 / 3 else "right" if col > 2 / 3 else ""
    if on_edge < EDGE_MIN:
        return f"towards the {'-'.join(filter(None, (vertical, horizontal)))}" if vertical or horizontal else "centre"
    if vertical and horizontal:
        return f"{vertical}-{horizontal} corner"
    return f"{vertical or horizontal} edge" if vertical or horizontal else "border"


def describe(number: int, members: np.ndarray, points: np.ndarray, found: ClassMaps) -> Cluster:
    """One cluster's mean map, accuracy, confidence, place, overlap with the rest, agreement and flag."""
    from .maps import map_stats

    inside = np.zeros(len(points), bool)
    inside[members] = True
    mass = points[inside].mean(axis=0)
    rest = points[~inside].mean(axis=0) if (~inside).any() else None
    shared = overlap(mass, rest) if rest is not None else 1.0
    shares = np.array([overlap(point, mass) for point in points[members]])
    agreement = float(shares.mean())
    stats = map_stats(mass.reshape(SIDE, SIDE))
    on_edge = edge_share(mass.reshape(SIDE, SIDE))
    labelled = [found.correct[at] for at in members if found.correct[at] is not None]
    confidences = [found.confidence[at] for at in members if found.confidence[at] is not None]
    return Cluster(
        number=number,
        members=[int(at) for at in members],
        mean_map=(mass / mass.max()).reshape(SIDE, SIDE).astype(np.float32),
        accuracy=float(np.mean(labelled)) if labelled else None,
        mean_confidence=float(np.mean(confidences)) if confidences else None,
        centre=(stats.centre_row, stats.centre_col),
        border_share=stats.border_share,
        edge_share=on_edge,
        overlap=shared,
        agreement=agreement,
        exemplars=[int(at) for at in np.asarray(members)[np.argsort(-shares, kind="stable")[:EXEMPLARS]]],
        where=where_in_words(stats.centre_row, stats.centre_col, on_edge),
        flagged=rest is not None and len(members) >= MIN_FLAGGED and shared <= OVERLAP_MAX and on_edge >= EDGE_MIN,
    )


def strategies(
    found: ClassMaps,
    class_name: str,
    by: str = "true",
    clusters: int | None = None,
    seed: int = 0,
    embedding: str = "auto",
) -> Strategies:
    """SpRAy on one class's maps (Lapuschkin et al., 2019, Methods): normalised maps, k-NN graph,
    eigengap (or ``clusters`` given), spectral clustering, per-cluster statistics, a 2-D embedding.

    Raises:
        RequestError: fewer than MIN_PHOTOS photos, or ``clusters`` out of 1..photos.
    """
    count = len(found.paths)
    if count < MIN_PHOTOS:
        raise TooFewPhotos(f"Class {class_name!r} has {count} audited photo(s) ({by} class); "
                           f"strategies need at least {MIN_PHOTOS}.")  # fmt: skip
    if clusters is not None and not 1 <= clusters <= min(MAX_CLUSTERS * 4, count):
        raise RequestError(f"clusters must be between 1 and {min(MAX_CLUSTERS * 4, count)}, got {clusters}.")
    if embedding not in EMBEDDINGS:
        raise RequestError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}.")
    if embedding == "auto":
        embedding = "tsne" if count <= TSNE_UP_TO else "spectral"
    method = embedding if count >= 5 else "spectral"
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=THREADS):
        points = normalised_maps(found.maps)
        affinity = affinity_graph(points)
        values, vectors = laplacian_spectrum(affinity, max(MAX_CLUSTERS, clusters or 0) + 1, seed)
        chosen = clusters if clusters is not None else eigengap_clusters(values)
        labels = cluster_labels(affinity, chosen, seed)
        described = [describe(number, np.flatnonzero(labels == number), points, found)
                     for number in range(int(labels.max()) + 1)]  # fmt: skip
        coordinates = embedded(points, vectors, method, seed)
    return Strategies(class_name, by, found.paths, labels, values, "user" if clusters else "eigengap",
                      coordinates, method, found.maps, described)  # fmt: skip


def audit_strategies(
    out: str | Path, class_name: str | int, by: str = "true", clusters: int | None = None, seed: int = 0,
    embedding: str = "auto",
) -> Strategies:  # fmt: skip
    """:func:`strategies` of a class of the audit folder ``out`` (its merged rows; only the columns needed).

    Raises:
        RequestError: not a merged audit folder, an unknown class, too few photos.
    """
    out = Path(out)
    manifest = store.read_manifest(out)
    assert manifest is not None
    number = class_index(manifest, class_name)
    found = class_maps(store.read_merged(out, COLUMNS), number, by)
    return strategies(found, manifest["classes"][number], by, clusters, seed, embedding)
