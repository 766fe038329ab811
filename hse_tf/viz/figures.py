"""Fig. 5 (t-SNE of video embeddings by class) as a PNG, and an HTML page of retrieval examples
like the paper's Figs. 7-10."""

import html

import numpy as np

from hse_tf.data.atomic import atomic_path


def tsne_png(points, labels, path, title="t-SNE of video embeddings"):
    """Scatter of 2-D points coloured by label, with a legend; written atomically."""
    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    classes = sorted(set(labels))
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    for i, c in enumerate(classes):
        sel = np.asarray([lab == c for lab in labels])
        ax.scatter(points[sel, 0], points[sel, 1], s=10, color=cmap(i % cmap.N), label=c)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(classes) <= 20:
        ax.legend(fontsize=7, markerscale=1.5, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def retrieval_report(queries, video_ids, similarity, path, k=3, first_sentences=None,
                     title="Paragraph -> video retrieval"):
    """HTML table: each query paragraph, its ground-truth video, the top-k retrieved videos
    (with their first sentence), and whether the ground truth is at rank 1 / in the top k.
    similarity [Q, N]; query q's ground truth is video_ids[q]."""
    order = np.argsort(-similarity, axis=1, kind="stable")
    rows = []
    hits1 = hitsk = 0
    for q, text in enumerate(queries):
        top = order[q, :k]
        rank = int(np.where(order[q] == q)[0][0]) + 1
        hits1 += rank == 1
        hitsk += rank <= k
        cells = []
        for j in top:
            note = f"<br><small>{html.escape(first_sentences[j])}</small>" if (
                first_sentences) else ""
            mark = "ok" if j == q else "no"
            cells.append(f'<td class="{mark}">{html.escape(video_ids[j])} '
                         f"({similarity[q, j]:+.3f}){note}</td>")
        verdict = "correct" if rank == 1 else f"ground truth at rank {rank}"
        rows.append(f"<tr><td>{html.escape(text)}</td><td>{html.escape(video_ids[q])}</td>"
                    + "".join(cells) + f"<td>{verdict}</td></tr>")
    head = "".join(f"<th>top {i + 1}</th>" for i in range(k))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}
table{{border-collapse:collapse}} .ok{{background:#d9f2d9}} .no{{background:#f9dede}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(queries)} queries: ground truth at rank 1 for {hits1}, in the top {k} for {hitsk}.</p>
<table><tr><th>query paragraph</th><th>ground truth</th>{head}<th>result</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    return {"queries": len(queries), "top1": hits1, f"top{k}": hitsk}
