"""``facelens bench identity --store milvus``: the same search measured on Milvus, beside FAISS.

Milvus Lite runs in a temporary file (a collection dropped afterwards); when FACELENS_MILVUS_URI
names a server, a temporary collection on that server is used and dropped.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facelens.tools import settings


def bench_milvus(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    """Insert ``vectors``, then search each query alone (the per-face path); recall@1 against ``truth``.

    Args:
        vectors: (N, 128) gallery vectors. queries: (Q, 128). truth: exact nearest position per query.
    """
    from facelens.tools.identity import DEFAULT_THRESHOLD, Entry
    from facelens.tools.identity_milvus import MilvusGallery, parse_uri

    configured = str(settings.value("milvus_uri"))
    with tempfile.TemporaryDirectory(prefix="facelens-bench-milvus-") as tmp:
        server = bool(configured) and not parse_uri(configured)[1]
        uri = configured if server else str(Path(tmp) / "bench.db")
        store = MilvusGallery(DEFAULT_THRESHOLD, uri=uri, collection=f"facelens_bench_{os.getpid()}")
        try:
            len(store)  # connect (and start Milvus Lite) before timing the inserts
            t = time.perf_counter()
            # enrolment times 0..N-1 keep the rows in gallery order when they are read back
            store.add_entries([Entry(0, f"p{i}", "bench", float(i)) for i in range(len(vectors))], vectors)
            insert_s = time.perf_counter() - t
            ids = np.asarray([e.id for e in store.export()[0]])
            position = {int(i): p for p, i in enumerate(ids)}
            print(f"inserted {len(vectors):,} vectors into the {store.describe()} in {insert_s:.1f} s", file=sys.stderr)
            store.search(queries[:1], 1)  # warm
            lat, found = [], []
            for i in range(len(queries)):
                t = time.perf_counter()
                _, hit, _ = store.search(queries[i : i + 1], 1)
                lat.append((time.perf_counter() - t) * 1000)
                found.append(position.get(int(hit[0, 0]), -1))
            recall = float(np.mean(np.asarray(found) == truth))
            return {
                "store": store.describe(),
                "index": "FLAT" if store.lite else "AUTOINDEX",
                "insert_s": round(insert_s, 2),
                "query_ms": {"p50": round(float(np.median(lat)), 4), "p95": round(float(np.percentile(lat, 95)), 4)},
                "recall_at_1": round(recall, 4),
            }
        finally:
            store.clear()
            store.close()
